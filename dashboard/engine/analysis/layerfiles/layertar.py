"""One layer tar read as `TarEntry` records: its headers only, never its file contents.

A layer blob is a plain tar or a compressed one: gzip (Docker's default), zstd (BuildKit's
`compression=zstd`, the containerd image store keeps it as is), and, for `docker load` input,
bzip2 or xz. The compression is decided by the blob's magic bytes, not by its media type, which
can be wrong (a `+zstd` type on a gzip blob, or none at all in `manifest.json`). A plain tar in
a file is read with random access (contents are skipped by seeking); a compressed one, or any
blob passing by in a `docker save` stream, front to back, once, in bounded memory.

gzip is decompressed by ISA-L (`isal`'s igzip, 2.5x zlib's speed here on a 275 MB layer: the
decompression is most of the time a gzip layer costs).

The headers are read by `tar_headers`, not `tarfile`: a layer has one header per file (15,716 in
iris-model:1.0) and `tarfile` builds a whole `TarInfo` for each (every field parsed, 29 us a
header here), which was most of what the `docker save` path spent after the daemon's last byte.
`tar_headers` parses the four fields a listing needs, with `tarfile`'s rules for what it reads
(ustar prefixes, GNU long names and links, pax and global pax records, GNU sparse sizes, V7
directories) and for where it stops or fails; tests/unit/test_layertar.py compares the two.
"""

from __future__ import annotations

import bz2
import lzma
import os
import posixpath
import re
import tarfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from enum import StrEnum
from typing import IO

import zstandard
from isal import igzip, isal_zlib

from dashboard.engine.analysis.layerfiles.records import ArchiveError, TarEntry

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_AUFS_META_PREFIX = ".wh..wh."  # aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not files


class Compression(StrEnum):
    NONE = "tar"
    GZIP = "gzip"
    ZSTD = "zstd"
    BZIP2 = "bzip2"
    XZ = "xz"


_MAGIC = (
    (b"\x1f\x8b", Compression.GZIP),
    (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
    (b"BZh", Compression.BZIP2),
    (b"\xfd7zXZ\x00", Compression.XZ),
)


def compression_of(head: bytes) -> Compression:
    """The compression of a blob that starts with `head` (6 bytes are enough)."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return Compression.NONE


def normalise(name: str) -> str:
    """A tar member name as an absolute path: "./etc/" -> "/etc", "." -> "/"."""
    # normpath keeps a leading "//", so strip the caller's slashes before adding one.
    return posixpath.normpath("/" + name.lstrip("/"))


def _entry(name: str, kind: int, size: int, link: str) -> TarEntry | None:
    """The `TarEntry` of one header, or None for aufs bookkeeping and the root."""
    path = normalise(name)
    is_dir = kind == _DIRTYPE
    if path == "/" and is_dir:
        return None
    parent, base = posixpath.split(path)
    if base == OPAQUE_MARKER:
        return TarEntry(path=parent, size=0, is_dir=True, opaque=True)
    if base.startswith(_AUFS_META_PREFIX):
        return None
    if base.startswith(WHITEOUT_PREFIX):
        return TarEntry(
            path=posixpath.join(parent, base[len(WHITEOUT_PREFIX) :]), size=0, whiteout=True
        )
    return TarEntry(
        path=path,
        size=size if kind in _REGULAR else 0,
        is_dir=is_dir,
        link=link if kind in _LINKS else "",
    )


# ------------------------------------------------------------ the headers, as tarfile reads them

_BLOCK = tarfile.BLOCKSIZE
_ZEROS = bytes(_BLOCK)
_DIRTYPE = tarfile.DIRTYPE[0]
_AREGTYPE = tarfile.AREGTYPE[0]
_SPARSE = tarfile.GNUTYPE_SPARSE[0]
_REGULAR = frozenset(t[0] for t in tarfile.REGULAR_TYPES)
_SUPPORTED = frozenset(t[0] for t in tarfile.SUPPORTED_TYPES)
_GNU = frozenset(t[0] for t in tarfile.GNU_TYPES)
_LINKS = frozenset((tarfile.SYMTYPE[0], tarfile.LNKTYPE[0]))
_LONGNAME, _LONGLINK = tarfile.GNUTYPE_LONGNAME[0], tarfile.GNUTYPE_LONGLINK[0]
_PAX_LOCAL = frozenset((tarfile.XHDTYPE[0], tarfile.SOLARIS_XHDTYPE[0]))
_PAX_GLOBAL = tarfile.XGLTYPE[0]
_PAX_RECORD = re.compile(rb"(\d+) ([^=]+)=")
_SKIP_CHUNK = 1 << 20


def _text(raw: bytes) -> str:
    end = raw.find(b"\0")
    return (raw if end == -1 else raw[:end]).decode("utf-8", "surrogateescape")


def _number(raw: bytes) -> int:
    """tarfile's nti: octal text, or base-256 (GNU) when the first byte says so."""
    if raw[0] in (0o200, 0o377):
        n = int.from_bytes(raw[1:], "big")
        return n - 256 ** (len(raw) - 1) if raw[0] == 0o377 else n
    end = raw.find(b"\0")
    try:
        return int((raw if end == -1 else raw[:end]).decode("ascii").strip() or "0", 8)
    except (UnicodeDecodeError, ValueError):
        raise tarfile.HeaderError("invalid header") from None


def _checksum_ok(block: bytes) -> bool:
    """tarfile's check: the stored sum is the block's, unsigned or signed, the field as spaces."""
    stored = _number(block[148:156])
    unsigned = 256 + sum(block) - sum(block[148:156])
    if stored == unsigned:
        return True
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:])
    return stored == 256 + signed


def _pax_records(data: bytes, into: dict[str, str]) -> None:
    pos = 0
    while match := _PAX_RECORD.match(data, pos):
        length = int(match.group(1))
        if length == 0:
            raise tarfile.ReadError("invalid header")
        value = data[match.end(2) + 1 : match.start(1) + length - 1]
        into[match.group(2).decode("utf-8", "surrogateescape")] = value.decode(
            "utf-8", "surrogateescape"
        )
        pos += length


def tar_headers(stream: IO[bytes], *, seekable: bool) -> Iterator[tuple[str, int, int, str]]:
    """(name, type byte, size, link name) of every member of the tar in `stream`, in order.

    Contents are skipped: by seeking forward where `seekable`, else read and dropped. Where
    tarfile ("r:" and "r|") stops, this stops: at a block of zeros, at the end of the data, or at
    a damaged header after the first; where it fails, this raises its `tarfile.ReadError`.
    """
    read: Callable[[int], bytes] = stream.read
    first = True
    longname = longlink = None
    local: dict[str, str] = {}
    global_: dict[str, str] = {}
    while True:
        block = read(_BLOCK)
        extended = longname is not None or longlink is not None or bool(local)
        if len(block) != _BLOCK or block == _ZEROS:
            if extended:  # a long name or pax record with no member after it
                raise tarfile.ReadError("unexpected end of data")
            if first and not block:
                raise tarfile.ReadError("empty file")
            if first and len(block) != _BLOCK:
                raise tarfile.ReadError("truncated header")
            return
        try:
            if not _checksum_ok(block):
                raise tarfile.HeaderError("bad checksum")
            size = _number(block[124:136])
        except tarfile.HeaderError as exc:
            if first or extended:
                raise tarfile.ReadError(str(exc)) from None
            return
        first = False
        kind = block[156]
        if kind in (_LONGNAME, _LONGLINK) or kind in _PAX_LOCAL or kind == _PAX_GLOBAL:
            data = read(size + (-size % _BLOCK))[:size]
            if len(data) < size:
                raise tarfile.ReadError("unexpected end of data")
            if kind == _LONGNAME:
                longname = _text(data)
            elif kind == _LONGLINK:
                longlink = _text(data)
            else:
                _pax_records(data, local if kind in _PAX_LOCAL else global_)
            continue
        name = _text(block[0:100])
        link = _text(block[157:257])
        if kind == _AREGTYPE and name.endswith("/"):
            kind = _DIRTYPE
        prefix = _text(block[345:500])
        if prefix and kind not in _GNU:
            name = prefix + "/" + name
        stored = size
        if kind == _SPARSE:
            size = _number(block[483:495])
            more = block[482]
            while more:  # the extended sparse headers, before the data
                extra = read(_BLOCK)
                if len(extra) != _BLOCK:
                    raise tarfile.ReadError("unexpected end of data")
                more = extra[504]
        if longname is not None:
            name, longname = longname, None
        if longlink is not None:
            link, longlink = longlink, None
        if local or global_:
            pax = {**global_, **local}
            name = pax.get("path", name)
            link = pax.get("linkpath", link)
            if "size" in pax:
                try:
                    size = int(pax["size"])
                except ValueError:
                    size = 0
                if "size" in local:
                    stored = size
            local = {}
        yield name, kind, size, link
        if kind in _REGULAR or kind not in _SUPPORTED:
            _skip(stream, stored + (-stored % _BLOCK), seekable)


def _skip(stream: IO[bytes], n: int, seekable: bool) -> None:
    """Past `n` bytes of contents; `tarfile.ReadError` if the data ends first."""
    if not n:
        return
    if seekable:
        stream.seek(n - 1, os.SEEK_CUR)
        if not stream.read(1):
            raise tarfile.ReadError("unexpected end of data")
        return
    while n:
        got = len(stream.read(min(n, _SKIP_CHUNK)))
        if not got:
            raise tarfile.ReadError("unexpected end of data")
        n -= got


def header_entries(stream: IO[bytes], *, seekable: bool) -> Iterator[TarEntry]:
    """The entries of the layer tar in `stream`, in tar order (`tar_headers`)."""
    for name, kind, size, link in tar_headers(stream, seekable=seekable):
        entry = _entry(name, kind, size, link)
        if entry is not None:
            yield entry


def _decompressed(handle: IO[bytes], kind: Compression) -> AbstractContextManager[IO[bytes]]:
    if kind is Compression.NONE:
        return nullcontext(handle)  # the caller's to close
    if kind is Compression.GZIP:
        return igzip.GzipFile(fileobj=handle, mode="rb")
    if kind is Compression.ZSTD:
        # BuildKit and containerd write one frame, but a blob may hold several.
        return zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True)
    if kind is Compression.BZIP2:
        return bz2.BZ2File(handle)
    return lzma.LZMAFile(handle)


_READ_ERRORS = (
    tarfile.TarError,
    EOFError,
    OSError,
    zlib.error,
    isal_zlib.error,
    zstandard.ZstdError,
    lzma.LZMAError,
)


def _head(handle: IO[bytes]) -> bytes:
    peek = getattr(handle, "peek", None)
    if peek is not None:  # a buffered reader (a member of a `docker save` stream): no going back
        head = peek(6)[:6]
        if len(head) == 6:
            return head
    head = handle.read(6)
    handle.seek(0)
    return head


def layer_entries(handle: IO[bytes], name: str, media_type: str = "") -> Iterator[TarEntry]:
    """The entries of the layer blob `handle` (at its start; it may seek forward only);
    `ArchiveError` if it is not a readable tar. `name` and `media_type` only go into the error
    message."""
    kind = Compression.NONE
    try:
        kind = compression_of(_head(handle))
        with _decompressed(handle, kind) as stream:
            yield from header_entries(stream, seekable=kind is Compression.NONE)
    except _READ_ERRORS as exc:
        said = f", said to be {media_type}" if media_type else ""
        raise ArchiveError(f"cannot read layer {name} ({kind}{said}): {exc}") from exc
