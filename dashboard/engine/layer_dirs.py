"""The files in each layer of an image, read straight from the daemon's overlay2 layer folders.

`docker save` copies every byte of an image (2.5 GB take ~25 s here) only for us to read the
tar headers. When the daemon is on this machine, uses the overlay2 storage driver and its
folders are readable (root, usually), each layer's `diff` folder (from `docker image inspect`:
`GraphDriver.Data.UpperDir` for the top layer, `LowerDir` for the others, colon-separated, top
first) holds exactly what the layer tar holds, and the image config is in
`<DockerRootDir>/image/overlay2/imagedb/content/sha256/<id>`.

The folders are walked the way the daemon's tar writer walks them (names in byte order, a
directory before its content) and mapped to the `TarEntry` records `image_archive` reads from a
tar: an overlay whiteout (a character device 0:0) is a `.wh.<name>` entry; a directory with the
xattr `trusted.overlay.opaque=y` is followed by a `.wh..wh..opq` entry; the second and later
names of a hard-linked file are links of size 0 to the first name.

Faster still, and exact even for layers made by `docker import` (whose tar order and hard
link names no folder walk can recover): the daemon keeps each layer's original tar headers in
`<DockerRootDir>/image/overlay2/layerdb/sha256/<chain id>/tar-split.json.gz`, from which
`docker save` itself rebuilds the layer tar. Those headers are read with `tarfile` over a
virtual stream whose file contents are never read; a layer without that file is walked.

`manifest` and `read_entries` raise `NotAvailable` whenever this path does not apply (remote
daemon, another driver, permission denied, a layer folder missing); `image_archive.image_files`
then falls back to `docker save`. An image removed while it is read raises `ImageGone`.
"""

from __future__ import annotations

import base64
import bisect
import errno
import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker

from dashboard.engine.image_archive import (
    ArchiveManifest,
    HistoryEntry,
    LayerRef,
    TarEntry,
    entry_from_tarinfo,
)
from dashboard.engine.images import ImageGone, clean_created_by

OVERLAY2 = "overlay2"
OPAQUE_XATTR = "trusted.overlay.opaque"
TAR_SPLIT = "tar-split"  # LayerRef.media_type: read from the layer's tar-split metadata
DIFF_FOLDER = "diff folder"  # LayerRef.media_type: read by walking the layer's diff folder
_LOCAL_SCHEMES = ("http+unix://", "unix://", "http+docker://")


class NotAvailable(Exception):
    """The layer folders cannot be read here: use `docker save` instead. The reason is str()."""


def is_local(client: docker.DockerClient) -> bool:
    """Whether the client talks to a daemon on this machine (a unix socket)."""
    return str(getattr(client.api, "base_url", "")).startswith(_LOCAL_SCHEMES)


def layer_dirs(graph_driver: dict) -> list[str]:
    """The `diff` folders of an image from its GraphDriver, base layer first."""
    data = graph_driver.get("Data") or {}
    upper = data.get("UpperDir")
    if not upper:
        raise NotAvailable("the image inspect names no UpperDir")
    lower = [d for d in (data.get("LowerDir") or "").split(":") if d]
    return list(reversed([upper, *lower]))


def opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP):
            return False
        raise


def walk(root: str) -> Iterator[TarEntry]:
    """The tar entries of one overlay2 `diff` folder, in the daemon's tar order."""
    seen: dict[tuple[int, int], str] = {}  # inode -> first name, for hard links
    # A stack of iterators over sorted folders: depth first like Go's filepath.Walk.
    stack = [iter(_sorted(root))]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        rel = entry.path[len(root) :]  # "/usr/bin/x"
        st = entry.stat(follow_symlinks=False)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            yield TarEntry(path=rel, size=0, is_dir=True)
            if opaque(entry.path):
                yield TarEntry(path=rel, size=0, is_dir=True, opaque=True)
            stack.append(iter(_sorted(entry.path)))
        elif stat.S_ISCHR(mode) and st.st_rdev == 0:
            yield TarEntry(path=rel, size=0, whiteout=True)
        elif stat.S_ISLNK(mode):
            yield TarEntry(path=rel, size=0, link=os.readlink(entry.path))
        elif stat.S_ISREG(mode):
            if st.st_nlink > 1:
                first = seen.setdefault((st.st_dev, st.st_ino), rel)
                if first != rel:
                    yield TarEntry(path=rel, size=0, link=first.lstrip("/"))
                    continue
            yield TarEntry(path=rel, size=st.st_size)
        elif stat.S_ISSOCK(mode):
            continue  # the daemon's tar writer skips sockets too
        else:  # fifos, devices
            yield TarEntry(path=rel, size=0)


def _sorted(folder: str) -> list[os.DirEntry]:
    with os.scandir(folder) as entries:
        return sorted(entries, key=lambda e: os.fsencode(e.name))


def manifest(client: docker.DockerClient, ref: str) -> tuple[ArchiveManifest, list[str]]:
    """What `docker save`'s manifest would say, and each layer's folder (base first)."""
    if not is_local(client):
        raise NotAvailable("the daemon is not on this machine")
    try:
        inspect = client.api.inspect_image(ref)
    except docker.errors.NotFound as exc:
        raise ImageGone(ref) from exc
    driver = inspect.get("GraphDriver") or {}
    if driver.get("Name") != OVERLAY2:
        raise NotAvailable(f"the storage driver is {driver.get('Name')!r}, not overlay2")
    dirs = layer_dirs(driver)
    diff_ids = list((inspect.get("RootFS") or {}).get("Layers") or [])
    if len(dirs) != len(diff_ids):
        raise NotAvailable(f"{len(dirs)} layer folders for {len(diff_ids)} layers")
    root = Path(client.info().get("DockerRootDir") or "/var/lib/docker")
    image_id = inspect["Id"]
    config_path = root / "image" / OVERLAY2 / "imagedb" / "content" / image_id.replace(":", "/")
    try:
        config = json.loads(config_path.read_bytes())
        for folder in dirs:
            os.scandir(folder).close()  # readable? (the dashboard may run as a plain user)
    except FileNotFoundError as exc:
        _gone_or_unavailable(client, ref, exc)
    except (PermissionError, ValueError, OSError) as exc:
        raise NotAvailable(f"cannot read the layer folders: {exc}") from exc
    history = tuple(
        HistoryEntry(
            index=i,
            created_by=clean_created_by(h.get("created_by", "")),
            created=h.get("created", ""),
            comment=h.get("comment", ""),
            empty_layer=bool(h.get("empty_layer")),
        )
        for i, h in enumerate(config.get("history") or [])
    )
    return (
        ArchiveManifest(
            layout=OVERLAY2,
            config_member=str(config_path),
            image_id=image_id,
            repo_tags=tuple(inspect.get("RepoTags") or ()),
            layers=tuple(_layer_ref(root, i, folder, diff_ids) for i, folder in enumerate(dirs)),
            history=history,
        ),
        dirs,
    )


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The layer chain ids (the layerdb folder names) of a stack of diff ids, base first."""
    chain: list[str] = []
    for diff_id in diff_ids:
        if not chain:
            chain.append(diff_id)
        else:
            digest = hashlib.sha256(f"{chain[-1]} {diff_id}".encode()).hexdigest()
            chain.append(f"sha256:{digest}")
    return chain


def _layer_ref(root: Path, index: int, folder: str, diff_ids: list[str]) -> LayerRef:
    chain = chain_ids(diff_ids[: index + 1])[-1]
    split = root / "image" / OVERLAY2 / "layerdb" / chain.replace(":", "/") / "tar-split.json.gz"
    if split.is_file():
        return LayerRef(index, str(split), diff_ids[index], TAR_SPLIT)
    return LayerRef(index, folder, diff_ids[index], DIFF_FOLDER)


class _SplitStream(io.RawIOBase):
    """The layer tar that tar-split describes, seekable, with every file's content as zeros.

    `tarfile` in random-access mode seeks over contents, so they are never materialised.
    """

    def __init__(self, records: list[dict]):
        self._starts: list[int] = []
        self._chunks: list[bytes | int] = []  # raw header bytes, or a content length
        offset = 0
        for record in records:
            if record.get("type") == 2:  # a segment: raw tar bytes (headers, padding)
                chunk: bytes | int = base64.b64decode(record.get("payload") or "")
                length = len(chunk)
            else:  # type 1: a file's content, `size` bytes
                chunk = length = int(record.get("size") or 0)
            if length:
                self._starts.append(offset)
                self._chunks.append(chunk)
                offset += length
        self._size = offset
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        wanted, done = len(view), 0
        while done < wanted and self._pos < self._size:
            i = bisect.bisect_right(self._starts, self._pos) - 1
            chunk, within = self._chunks[i], self._pos - self._starts[i]
            length = chunk if isinstance(chunk, int) else len(chunk)
            n = min(wanted - done, length - within)
            if isinstance(chunk, int):
                view[done : done + n] = bytes(n)
            else:
                view[done : done + n] = chunk[within : within + n]
            done += n
            self._pos += n
        return done


def tar_split_entries(path: str) -> list[TarEntry]:
    """The entries of one layer from its tar-split.json.gz, exactly as `docker save` has them."""
    with gzip.open(path, "rt") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    entries = []
    with tarfile.open(fileobj=_SplitStream(records), mode="r:") as archive:
        while (info := archive.next()) is not None:
            archive.members.clear()
            entry = entry_from_tarinfo(info)
            if entry is not None:
                entries.append(entry)
    return entries


def read_entries(client: docker.DockerClient, ref: str, layer: LayerRef) -> list[TarEntry]:
    """Every entry of one layer; `ImageGone` if the image went away meanwhile."""
    try:
        if layer.media_type == TAR_SPLIT:
            return tar_split_entries(layer.member)
        return list(walk(layer.member))
    except FileNotFoundError as exc:
        _gone_or_unavailable(client, ref, exc)
    except (OSError, EOFError, ValueError, tarfile.TarError) as exc:
        raise NotAvailable(f"cannot read {layer.member}: {exc}") from exc


def _gone_or_unavailable(client: docker.DockerClient, ref: str, exc: OSError):
    try:
        client.api.inspect_image(ref)
    except docker.errors.NotFound:
        raise ImageGone(ref) from exc
    raise NotAvailable(f"a layer file went missing: {exc}") from exc
