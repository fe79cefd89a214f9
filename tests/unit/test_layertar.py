"""One layer tar as records: compression by magic bytes, header names, bad blobs."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile

import pytest
import zstandard

from dashboard.engine.analysis.layerfiles.layertar import (
    Compression,
    compression_of,
    layer_entries,
    tar_headers,
)
from dashboard.engine.analysis.layerfiles.records import ArchiveError, TarEntry


def small_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("app/")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        info = tarfile.TarInfo("app/model.bin")
        info.size = 3000
        tar.addfile(info, io.BytesIO(b"m" * 3000))
        tar.addfile(tarfile.TarInfo("app/.wh.old.bin"), io.BytesIO())
    return buffer.getvalue()


EXPECTED = [
    TarEntry("/app", 0, is_dir=True),
    TarEntry("/app/model.bin", 3000),
    TarEntry("/app/old.bin", 0, whiteout=True),
]

COMPRESSORS = {
    Compression.NONE: lambda b: b,
    Compression.GZIP: gzip.compress,
    Compression.ZSTD: lambda b: zstandard.ZstdCompressor().compress(b),
    Compression.BZIP2: bz2.compress,
    Compression.XZ: lzma.compress,
}


@pytest.mark.parametrize("kind", list(Compression), ids=str)
def test_every_compression_is_told_by_its_magic_and_read(kind):
    blob = COMPRESSORS[kind](small_tar())
    assert compression_of(blob[:6]) is kind
    assert list(layer_entries(io.BytesIO(blob), "blob")) == EXPECTED


def test_a_zstd_blob_of_several_frames_is_read_whole():
    raw = small_tar()
    half = len(raw) // 2
    frames = zstandard.ZstdCompressor().compress(raw[:half])
    frames += zstandard.ZstdCompressor().compress(raw[half:])
    assert list(layer_entries(io.BytesIO(frames), "blob")) == EXPECTED


def test_the_error_names_the_layer_its_compression_and_its_claimed_type():
    blob = zstandard.ZstdCompressor().compress(small_tar())[:40]
    with pytest.raises(ArchiveError, match=r"cannot read layer blobs/x \(zstd, said to be .*gzip"):
        list(layer_entries(io.BytesIO(blob), "blobs/x", "application/x+gzip"))


def one_member(info: tarfile.TarInfo, fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return buffer.getvalue()


def test_header_names_become_entries():
    def entry(name: str, kind=tarfile.REGTYPE, size=0, link=""):
        info = tarfile.TarInfo(name)
        info.type, info.size, info.linkname = kind, size, link
        listed = list(layer_entries(io.BytesIO(one_member(info)), "blob"))
        return listed[0] if listed else None

    assert entry("./", tarfile.DIRTYPE) is None
    assert entry("usr/.wh..wh.plnk") is None  # aufs bookkeeping
    assert entry("a/b/.wh..wh..opq") == TarEntry("/a/b", 0, is_dir=True, opaque=True)
    assert entry("./a/.wh.c") == TarEntry("/a/c", 0, whiteout=True)
    assert entry("a/file", size=12) == TarEntry("/a/file", 12)
    assert entry("//a//b/", tarfile.DIRTYPE) == TarEntry("/a/b", 0, is_dir=True)
    assert entry("a/h", tarfile.LNKTYPE, link="a/file") == TarEntry("/a/h", 0, link="a/file")
    assert entry("a/s", tarfile.SYMTYPE, link="../x") == TarEntry("/a/s", 0, link="../x")
    assert entry("a/fifo", tarfile.FIFOTYPE) == TarEntry("/a/fifo", 0)


# -- the headers as tarfile reads them ---------------------------------------------------------


def by_tarfile(blob: bytes) -> list[tuple[str, int, int, str]]:
    """What `tarfile` reads from `blob` (the reference tar_headers follows), or its error."""
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as archive:
        return [(i.name, i.type[0], i.size, i.linkname) for i in archive]


def by_us(blob: bytes, seekable: bool) -> list[tuple[str, int, int, str]]:
    # tarfile drops a directory's trailing slash after reading; normalise() does it for us
    return [
        (name.rstrip("/") if kind == tarfile.DIRTYPE[0] else name, kind, size, link)
        for name, kind, size, link in tar_headers(io.BytesIO(blob), seekable=seekable)
    ]


def tricky(fmt: int) -> bytes:
    """Names over 100 characters (ustar prefix, GNU long names, pax), a long link, non-ASCII
    and undecodable names, every member type, a size over 8 GiB's octal field's range in pax."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt, encoding="utf-8") as tar:
        for name, kind, size, link in [
            ("usr/", tarfile.DIRTYPE, 0, ""),
            ("usr/" + "d" * 120 + "/f.txt", tarfile.REGTYPE, 700, ""),
            ("x" * 150, tarfile.REGTYPE, 5, ""),
            ("usr/lib/l", tarfile.SYMTYPE, 0, "/" + "t" * 130),
            ("usr/h", tarfile.LNKTYPE, 0, "usr/lib/l"),
            ("dev/c", tarfile.CHRTYPE, 0, ""),
            ("dev/p", tarfile.FIFOTYPE, 0, ""),
            ("café/ü.py", tarfile.REGTYPE, 3, ""),
            ("empty", tarfile.REGTYPE, 0, ""),
            ("usr/.wh.gone", tarfile.REGTYPE, 0, ""),
        ]:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.linkname = kind, size, link
            tar.addfile(info, io.BytesIO(b"y" * size) if info.isreg() else None)
    return buffer.getvalue()


@pytest.mark.parametrize("seekable", [True, False], ids=["seek", "stream"])
@pytest.mark.parametrize(
    "fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT], ids=str
)
def test_tar_headers_read_what_tarfile_reads(fmt, seekable):
    if fmt == tarfile.USTAR_FORMAT:  # ustar has no long names: the prefix field only
        blob = one_member(tarfile.TarInfo("usr/" + "d" * 120 + "/f.txt"), fmt)
    else:
        blob = tricky(fmt)
    assert by_us(blob, seekable) == by_tarfile(blob)


def test_global_pax_records_apply_to_every_member_after_them():
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "git"}
    ) as tar:
        for name in ("a", "b" * 120):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"zz"))
    blob = buffer.getvalue()
    assert blob[156:157] == tarfile.XGLTYPE
    assert by_us(blob, True) == by_tarfile(blob)


def test_a_v7_directory_is_a_regular_type_with_a_slash():
    info = tarfile.TarInfo("olddir/")
    info.type = tarfile.AREGTYPE
    blob = one_member(info, tarfile.GNU_FORMAT)
    assert by_us(blob, True) == by_tarfile(blob) == [("olddir", tarfile.DIRTYPE[0], 0, "")]


def test_where_tarfile_stops_or_fails_so_does_tar_headers():
    good = small_tar()
    end = len(good) - 2 * tarfile.BLOCKSIZE  # without the end-of-archive blocks
    first = bytearray(good)
    first[148:156] = b"0000000\0"  # the first header's checksum is wrong
    later = bytearray(good)
    later[512 + 148 : 512 + 156] = b"0000000\0"  # the second's (after a directory: no data)
    cases = {
        "no end blocks": good[:end],
        "empty": b"",
        "half a header": good[:300],
        "bad first header": bytes(first),
        "bad later header": bytes(later),
        "contents cut short": good[: 2 * 512 + 1000],
        "a long name and nothing after it": tricky(tarfile.GNU_FORMAT)[:1024],
    }
    for case, blob in cases.items():
        for seekable in (True, False):
            try:
                expected: object = by_tarfile(blob)
            except tarfile.ReadError as exc:
                expected = type(exc)
            try:
                got: object = by_us(blob, seekable)
            except tarfile.ReadError as exc:
                got = type(exc)
            assert got == expected, (case, seekable)
