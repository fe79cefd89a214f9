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
    entry_from_tarinfo,
    layer_entries,
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


def test_entry_from_tarinfo_names():
    def entry(name: str, kind=tarfile.REGTYPE, size=0):
        info = tarfile.TarInfo(name)
        info.type, info.size = kind, size
        return entry_from_tarinfo(info)

    assert entry("./", tarfile.DIRTYPE) is None
    assert entry("usr/.wh..wh.plnk") is None  # aufs bookkeeping
    assert entry("a/b/.wh..wh..opq") == TarEntry("/a/b", 0, is_dir=True, opaque=True)
    assert entry("./a/.wh.c") == TarEntry("/a/c", 0, whiteout=True)
    assert entry("a/file", size=12) == TarEntry("/a/file", 12)
    assert entry("//a//b/", tarfile.DIRTYPE) == TarEntry("/a/b", 0, is_dir=True)
    hardlink = tarfile.TarInfo("a/h")
    hardlink.type, hardlink.linkname, hardlink.size = tarfile.LNKTYPE, "a/file", 0
    assert entry_from_tarinfo(hardlink) == TarEntry("/a/h", 0, link="a/file")
