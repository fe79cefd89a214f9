"""The reader of the daemon's overlay2 layer store: no `docker save`, no copy of the image.

`docker save` copies every byte of an image (2.5 GB take ~25 s here) only for us to read the
tar headers. When the daemon is on this machine, uses the overlay2 storage driver and its
folders are readable (root, usually), the daemon keeps each layer's original tar headers in
`<DockerRootDir>/image/overlay2/layerdb/sha256/<chain id>/tar-split.json.gz`, from which
`docker save` itself rebuilds the layer tar. Those headers are read with `tarfile` over a
virtual stream whose file contents are never read: exact even for layers made by `docker
import` (whose tar order and hard link names no folder walk can recover). The image config is
`<DockerRootDir>/image/overlay2/imagedb/content/sha256/<id>`.

A layer without tar-split is read from its `diff` folder (from `docker image inspect`:
`GraphDriver.Data.UpperDir` for the top layer, `LowerDir` for the others, colon-separated, top
first), walked the way the daemon's tar writer walks it (names in byte order, a directory
before its content) and mapped to the same records: an overlay whiteout (a character device
0:0) is a `.wh.<name>` entry; a directory with the xattr `trusted.overlay.opaque=y` is followed
by a `.wh..wh..opq` entry; the second and later names of a hard-linked file are links of size 0
to the first name.

`open_image` raises `NotAvailable` whenever this path does not apply (another driver,
permission denied), `LayerFileMissing` when a file it needs is gone (the dispatcher then asks
the daemon whether the image is gone); either way the dispatcher falls back to `docker save`.
"""

from __future__ import annotations

import base64
import bisect
import errno
import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

from isal import igzip

from dashboard.engine.analysis.layerfiles.layertar import header_entries
from dashboard.engine.analysis.layerfiles.records import (
    OVERLAY2,
    ImageManifest,
    LayerFileMissing,
    LayerRef,
    NotAvailable,
    TarEntry,
    history_entries,
)

OPAQUE_XATTR = "trusted.overlay.opaque"
TAR_SPLIT = "tar-split"  # LayerRef.media_type: read from the layer's tar-split metadata
DIFF_FOLDER = "diff folder"  # LayerRef.media_type: read by walking the layer's diff folder


def layer_folders(graph_driver: dict) -> list[str]:
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


def manifest(inspect: dict, root: Path) -> tuple[ImageManifest, list[str]]:
    """What `docker save`'s manifest would say, and each layer's folder (base first).

    `inspect` is the image's `docker image inspect`, `root` the daemon's DockerRootDir.
    """
    driver = inspect.get("GraphDriver") or {}
    if driver.get("Name") != OVERLAY2:
        raise NotAvailable(f"the storage driver is {driver.get('Name')!r}, not overlay2")
    dirs = layer_folders(driver)
    diff_ids = list((inspect.get("RootFS") or {}).get("Layers") or [])
    if len(dirs) != len(diff_ids):
        raise NotAvailable(f"{len(dirs)} layer folders for {len(diff_ids)} layers")
    image_id = inspect["Id"]
    store = root / "image" / OVERLAY2
    try:
        store.stat()
    except FileNotFoundError:
        # The dashboard in a container without the daemon's folders mounted, for one.
        raise NotAvailable(f"the daemon's layer store {store} is not on this filesystem") from None
    except OSError as exc:
        raise NotAvailable(f"cannot read the layer store: {exc}") from exc
    config_path = store / "imagedb" / "content" / image_id.replace(":", "/")
    try:
        config = json.loads(config_path.read_bytes())
        for folder in dirs:
            os.scandir(folder).close()  # readable? (the dashboard may run as a plain user)
    except FileNotFoundError as exc:
        raise LayerFileMissing(f"a layer file went missing: {exc}") from exc
    except (PermissionError, ValueError, OSError) as exc:
        raise NotAvailable(f"cannot read the layer folders: {exc}") from exc
    return (
        ImageManifest(
            layout=OVERLAY2,
            config_member=str(config_path),
            config_digest=image_id,  # a graph driver's image id is its config's digest
            image_id=image_id,
            repo_tags=tuple(inspect.get("RepoTags") or ()),
            layers=tuple(_layer_ref(root, i, folder, diff_ids) for i, folder in enumerate(dirs)),
            history=history_entries(config),
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
    with igzip.open(path, "rt") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    return list(header_entries(_SplitStream(records), seekable=True))


def read_entries(layer: LayerRef) -> list[TarEntry]:
    """Every entry of one layer (`LayerFileMissing` if one of its files is gone)."""
    try:
        if layer.media_type == TAR_SPLIT:
            return tar_split_entries(layer.member)
        return list(walk(layer.member))
    except FileNotFoundError as exc:
        raise LayerFileMissing(f"a layer file went missing: {exc}") from exc
    except (OSError, EOFError, ValueError, tarfile.TarError) as exc:
        raise NotAvailable(f"cannot read {layer.member}: {exc}") from exc


def open_image(
    inspect: dict, root: Path
) -> tuple[ImageManifest, Callable[[LayerRef], list[TarEntry]]]:
    """The manifest of the image `inspect` describes and a reader of its layers' entries."""
    found, _ = manifest(inspect, root)
    return found, read_entries
