"""The files in each layer of an image, read from `docker save`.

`ImageArchive.save` streams `client.api.get_image(...)` to a temporary file, so memory stays
bounded whatever the image size, then reads it with random access. Two layouts are read:

- legacy (Engine < 25, this machine's 20.10): `manifest.json`, `<config id>.json`,
  `<layer id>/layer.tar`;
- OCI (Engine 25+): `index.json` and `blobs/sha256/<hex>`, usually with a `manifest.json` whose
  `Layers` point into `blobs/`. Layer blobs may be gzip-compressed or plain tar.

Only tar headers are read, never file contents. Each filesystem layer becomes a `LayerFiles`
with its raw entries (what efficiency.py needs) and the changes it makes to the layers below:
files added, modified (present in an earlier layer) and removed (whiteouts `.wh.<name>` and
opaque directories `.wh..wh..opq`). Layers are matched to the config's history entries that are
not `empty_layer`, in order, as dive does.

`image_files` reads the same records without `docker save` when the daemon is local and uses
overlay2 (layer_dirs: the layer store's tar headers, or the layer folders); `source` says which
way was used, `docker save` being the fallback.
"""

from __future__ import annotations

import gzip
import json
import os
import posixpath
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO

import docker

from dashboard.engine.images import ImageGone, clean_created_by

LEGACY = "docker-legacy"
OCI = "oci"

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
SOURCE_SAVE = "docker save"
SOURCE_OVERLAY2 = "overlay2 layer store"

_AUFS_META_PREFIX = ".wh..wh."  # aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not files

_OCI_INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}


class ArchiveError(Exception):
    """The archive is not a `docker save` output we can read (truncated, unknown layout...)."""


class ChangeKind(StrEnum):
    ADDED = "added"
    MODIFIED = "modified"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class TarEntry:
    """One header of a layer tar. Whiteouts carry the path they remove, not the marker's name."""

    path: str  # absolute and normalised: "/etc/passwd"
    size: int
    is_dir: bool = False
    whiteout: bool = False  # `.wh.<name>`: `path` is removed from the layers below
    opaque: bool = False  # `.wh..wh..opq`: everything below the directory `path` is hidden
    link: str = ""  # symlink or hardlink target


@dataclass(frozen=True, slots=True)
class FileChange:
    """What a layer does to one path.

    `size` is what the layer stores for it (added, modified) or what it hides (removed).
    """

    path: str
    size: int
    kind: ChangeKind
    is_dir: bool = False
    previous_size: int | None = None  # size in the layers below (None when added)


@dataclass(frozen=True)
class HistoryEntry:
    index: int  # position in the config history, oldest first (same as images.HistoryLayer)
    created_by: str  # cleaned as in images.clean_created_by
    created: str
    comment: str
    empty_layer: bool


@dataclass(frozen=True)
class LayerRef:
    index: int  # position among the filesystem layers, 0 = base
    member: str  # path inside the archive: "<id>/layer.tar" or "blobs/sha256/<hex>"
    diff_id: str  # sha256 of the uncompressed layer tar, from the config's rootfs
    media_type: str = ""


@dataclass(frozen=True)
class ArchiveManifest:
    layout: str  # LEGACY or OCI
    config_member: str
    image_id: str  # "sha256:<config digest>"
    repo_tags: tuple[str, ...]
    layers: tuple[LayerRef, ...]
    history: tuple[HistoryEntry, ...]

    def history_for_layers(self) -> list[HistoryEntry | None]:
        """The history entry of each filesystem layer: the non-empty entries, in order."""
        producing = [h for h in self.history if not h.empty_layer]
        return [producing[i] if i < len(producing) else None for i in range(len(self.layers))]


@dataclass(frozen=True)
class LayerFiles:
    index: int  # 0 = base
    diff_id: str
    member: str
    history: HistoryEntry | None
    entries: tuple[TarEntry, ...]
    changes: tuple[FileChange, ...]

    @property
    def created_by(self) -> str:
        if self.history is None:
            return ""
        return self.history.created_by or self.history.comment

    @property
    def size_bytes(self) -> int:
        """Sum of the entry sizes, as dive counts a layer."""
        return sum(e.size for e in self.entries)

    def of_kind(self, kind: ChangeKind, dirs: bool = True) -> tuple[FileChange, ...]:
        return tuple(c for c in self.changes if c.kind == kind and (dirs or not c.is_dir))

    @property
    def added(self) -> tuple[FileChange, ...]:
        return self.of_kind(ChangeKind.ADDED)

    @property
    def modified(self) -> tuple[FileChange, ...]:
        return self.of_kind(ChangeKind.MODIFIED)

    @property
    def removed(self) -> tuple[FileChange, ...]:
        return self.of_kind(ChangeKind.REMOVED)


@dataclass(frozen=True)
class ImageFiles:
    ref: str
    layout: str
    image_id: str
    repo_tags: tuple[str, ...]
    layers: tuple[LayerFiles, ...]
    archive_bytes: int  # size of the `docker save` stream (0 when read from the layer folders)
    save_seconds: float
    read_seconds: float
    source: str = SOURCE_SAVE  # how the layers were read: SOURCE_SAVE or SOURCE_OVERLAY2
    fallback_reason: str = ""  # why the overlay2 folders were not read, when they were not


def normalise(name: str) -> str:
    """A tar member name as an absolute path: "./etc/" -> "/etc", "." -> "/"."""
    # normpath keeps a leading "//", so strip the caller's slashes before adding one.
    return posixpath.normpath("/" + name.lstrip("/"))


def entry_from_tarinfo(info: tarfile.TarInfo) -> TarEntry | None:
    """The `TarEntry` of one layer header, or None for aufs bookkeeping and the root."""
    path = normalise(info.name)
    if path == "/" and info.isdir():
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
    link = info.linkname if (info.issym() or info.islnk()) else ""
    return TarEntry(
        path=path, size=int(info.size) if info.isreg() else 0, is_dir=info.isdir(), link=link
    )


class FileTree:
    """Paths stacked layer over layer: sizes and whether each node is a directory.

    A directory only implied by a deeper path is created as a node that is not a directory, as
    dive's `AddPath` does; real layer tars list every parent directory, so this only matters
    for hand-made archives.
    """

    __slots__ = ("root",)

    class Node:
        __slots__ = ("size", "is_dir", "children")

        def __init__(self, size: int = 0, is_dir: bool = False):
            self.size = size
            self.is_dir = is_dir
            self.children: dict[str, FileTree.Node] = {}

    def __init__(self) -> None:
        self.root = FileTree.Node(is_dir=True)

    @staticmethod
    def _parts(path: str) -> list[str]:
        return [p for p in path.split("/") if p]

    def get(self, path: str) -> FileTree.Node | None:
        node = self.root
        for part in self._parts(path):
            node = node.children.get(part)
            if node is None:
                return None
        return node

    def add(self, path: str, size: int, is_dir: bool) -> FileTree.Node:
        node = self.root
        for part in self._parts(path):
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = FileTree.Node()
            node = child
        node.size, node.is_dir = size, is_dir
        if not is_dir:
            node.children.clear()  # a file (or link) replacing a directory hides its content
        return node

    def remove(self, path: str) -> FileTree.Node | None:
        *parents, name = self._parts(path) or [""]
        parent = self.get("/".join(parents))
        if parent is None:
            return None
        return parent.children.pop(name, None)

    @staticmethod
    def total_size(node: FileTree.Node) -> int:
        """Size of the node and everything below it (iterative: trees can be deep)."""
        total, todo = 0, [node]
        while todo:
            current = todo.pop()
            total += current.size
            todo.extend(current.children.values())
        return total


def layer_changes(lower: FileTree, entries: list[TarEntry]) -> list[FileChange]:
    """What one layer changes relative to the `lower` stack; then stacks the layer onto it."""
    changes: list[FileChange] = []
    own_paths = {e.path for e in entries if not (e.whiteout or e.opaque)}
    opaque_dirs = [e.path for e in entries if e.opaque]
    for directory in opaque_dirs:
        node = lower.get(directory)
        for name, child in sorted(node.children.items()) if node else ():
            path = posixpath.join(directory, name)
            if path not in own_paths:
                size = FileTree.total_size(child)
                changes.append(FileChange(path, size, ChangeKind.REMOVED, child.is_dir, size))
    for entry in entries:
        if entry.opaque:
            continue
        node = lower.get(entry.path)
        if entry.whiteout:
            size = FileTree.total_size(node) if node else 0
            is_dir = bool(node and node.is_dir)
            changes.append(FileChange(entry.path, size, ChangeKind.REMOVED, is_dir, size))
        elif node is not None:
            changes.append(
                FileChange(entry.path, entry.size, ChangeKind.MODIFIED, entry.is_dir, node.size)
            )
        else:
            changes.append(FileChange(entry.path, entry.size, ChangeKind.ADDED, entry.is_dir))
    # Stack: opaque directories lose their lower content first, then whiteouts, then additions.
    for directory in opaque_dirs:
        node = lower.get(directory)
        if node is not None:
            node.children.clear()
    for entry in entries:
        if entry.whiteout:
            lower.remove(entry.path)
    for entry in entries:
        if not (entry.whiteout or entry.opaque):
            lower.add(entry.path, entry.size, entry.is_dir)
    return changes


def _read_json(archive: tarfile.TarFile, member: str) -> object:
    try:
        handle = archive.extractfile(member)
    except KeyError:
        raise ArchiveError(f"{member} is missing from the archive") from None
    if handle is None:
        raise ArchiveError(f"{member} is not a file in the archive")
    with handle:
        return json.load(handle)


def _blob_member(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def _has(archive: tarfile.TarFile, member: str) -> bool:
    try:
        archive.getmember(member)
    except KeyError:
        return False
    return True


class ImageArchive:
    """A `docker save` tar on disk, read with random access. Use as a context manager."""

    def __init__(self, path: str | os.PathLike, *, delete: bool = False, ref: str | None = None):
        self.path = Path(path)
        self.ref = ref
        self._delete = delete
        try:
            self._tar = tarfile.open(self.path, mode="r:")  # noqa: SIM115 (closed by close())
        except (tarfile.TarError, OSError) as exc:
            self._cleanup()
            raise ArchiveError(f"{self.path} is not a readable tar archive: {exc}") from exc
        self._manifest: ArchiveManifest | None = None
        self.save_seconds = 0.0

    @classmethod
    def save(
        cls,
        client: docker.DockerClient,
        ref: str,
        *,
        chunk_size: int = 1 << 20,
        tmp_dir: str | os.PathLike | None = None,
    ) -> ImageArchive:
        """Stream `docker save ref` into a temporary file (deleted on close), or `ImageGone`."""
        started = time.monotonic()
        fd, name = tempfile.mkstemp(prefix="dashboard-save-", suffix=".tar", dir=tmp_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in client.api.get_image(ref, chunk_size=chunk_size):
                    out.write(chunk)
        except docker.errors.NotFound as exc:
            os.unlink(name)
            raise ImageGone(ref) from exc
        except BaseException:
            os.unlink(name)
            raise
        archive = cls(name, delete=True, ref=ref)
        archive.save_seconds = time.monotonic() - started
        return archive

    def close(self) -> None:
        self._tar.close()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._delete:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> ImageArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def manifest(self) -> ArchiveManifest:
        if self._manifest is None:
            self._manifest = self._read_manifest()
        return self._manifest

    def _read_manifest(self) -> ArchiveManifest:
        if _has(self._tar, "manifest.json"):
            entries = _read_json(self._tar, "manifest.json")
            if not isinstance(entries, list) or not entries:
                raise ArchiveError("manifest.json lists no image")
            entry = next((e for e in entries if self.ref in (e.get("RepoTags") or ())), entries[0])
            config_member = entry["Config"]
            members = list(entry["Layers"])
            media_types = [""] * len(members)
            tags = tuple(entry.get("RepoTags") or ())
        elif _has(self._tar, "index.json"):
            config_member, members, media_types, tags = self._read_oci_index()
        else:
            raise ArchiveError("neither manifest.json nor index.json: not a `docker save` archive")
        config = _read_json(self._tar, config_member)
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        if len(diff_ids) != len(members):
            raise ArchiveError(f"{len(members)} layer tars but {len(diff_ids)} diff ids in config")
        layout = OCI if any(m.startswith("blobs/") for m in [config_member, *members]) else LEGACY
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
        digest = posixpath.basename(config_member).removesuffix(".json")
        return ArchiveManifest(
            layout=layout,
            config_member=config_member,
            image_id=f"sha256:{digest}",
            repo_tags=tags,
            layers=tuple(
                LayerRef(i, member, diff_ids[i], media_types[i]) for i, member in enumerate(members)
            ),
            history=history,
        )

    def _read_oci_index(self) -> tuple[str, list[str], list[str], tuple[str, ...]]:
        """An OCI layout without manifest.json: index.json -> (nested index) -> manifest."""
        document = _read_json(self._tar, "index.json")
        tags: tuple[str, ...] = ()
        for _ in range(4):  # an index may point to an index (multi-platform)
            manifests = [
                m
                for m in document.get("manifests") or []
                if (m.get("annotations") or {}).get("vnd.docker.reference.type")
                != "attestation-manifest"
            ]
            if not manifests:
                raise ArchiveError("index.json lists no manifest")
            chosen = manifests[0]
            name = (chosen.get("annotations") or {}).get("io.containerd.image.name")
            tags = tags or ((name,) if name else ())
            document = _read_json(self._tar, _blob_member(chosen["digest"]))
            if chosen.get("mediaType") not in _OCI_INDEX_TYPES and "layers" in document:
                break
        else:
            raise ArchiveError("index.json nests too deeply")
        layers = document["layers"]
        return (
            _blob_member(document["config"]["digest"]),
            [_blob_member(layer["digest"]) for layer in layers],
            [layer.get("mediaType", "") for layer in layers],
            tags,
        )

    def iter_entries(self, layer: LayerRef) -> Iterator[TarEntry]:
        """The headers of one layer tar (plain or gzip), without reading file contents."""
        try:
            handle: IO[bytes] | None = self._tar.extractfile(layer.member)
        except KeyError:
            raise ArchiveError(f"{layer.member} is missing from the archive") from None
        if handle is None:
            raise ArchiveError(f"{layer.member} is not a file in the archive")
        with handle:
            try:
                with tarfile.open(fileobj=handle, mode="r:*") as inner:
                    while True:
                        info = inner.next()
                        if info is None:
                            break
                        # TarFile remembers every header it read; we need none of them later.
                        inner.members.clear()
                        entry = entry_from_tarinfo(info)
                        if entry is not None:
                            yield entry
            except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
                kind = layer.media_type or "unknown media type"
                raise ArchiveError(f"cannot read layer {layer.member} ({kind}): {exc}") from exc

    def layer_files(self) -> list[LayerFiles]:
        """Every filesystem layer with its entries and changes, base first."""
        return stack_layers(self.manifest, self.iter_entries)


def image_files(
    client: docker.DockerClient,
    ref: str,
    *,
    tmp_dir: str | os.PathLike | None = None,
    method: str = "auto",
) -> ImageFiles:
    """Every layer's files of image `ref`; `ImageGone` if missing.

    `method` "auto" reads the daemon's overlay2 layer folders when it can (local daemon,
    overlay2, readable: see layer_dirs) and falls back to `docker save` otherwise; "save" and
    "overlay2" force one way (the latter raises `layer_dirs.NotAvailable`). `source` says which.
    """
    from dashboard.engine import layer_dirs

    if method not in ("auto", "save", "overlay2"):
        raise ValueError(f"unknown method {method!r}")
    reason = ""
    if method != "save":
        try:
            return _image_files_from_dirs(client, ref)
        except layer_dirs.NotAvailable as exc:
            if method == "overlay2":
                raise
            reason = str(exc)
    with ImageArchive.save(client, ref, tmp_dir=tmp_dir) as archive:
        started = time.monotonic()
        layers = archive.layer_files()
        read_seconds = time.monotonic() - started
        manifest = archive.manifest
        return ImageFiles(
            ref=ref,
            layout=manifest.layout,
            image_id=manifest.image_id,
            repo_tags=manifest.repo_tags,
            layers=tuple(layers),
            archive_bytes=archive.path.stat().st_size,
            save_seconds=archive.save_seconds,
            read_seconds=read_seconds,
            source=SOURCE_SAVE,
            fallback_reason=reason,
        )


def stack_layers(manifest: ArchiveManifest, entries_of) -> list[LayerFiles]:
    """`LayerFiles` of every layer of `manifest`, base first; `entries_of(LayerRef)` lists one."""
    stack = FileTree()
    result = []
    for ref, history in zip(manifest.layers, manifest.history_for_layers(), strict=True):
        entries = list(entries_of(ref))
        changes = layer_changes(stack, entries)
        result.append(
            LayerFiles(
                index=ref.index,
                diff_id=ref.diff_id,
                member=ref.member,
                history=history,
                entries=tuple(entries),
                changes=tuple(changes),
            )
        )
    return result


def _image_files_from_dirs(client: docker.DockerClient, ref: str) -> ImageFiles:
    from dashboard.engine import layer_dirs

    started = time.monotonic()
    manifest, _ = layer_dirs.manifest(client, ref)
    layers = stack_layers(manifest, lambda layer: layer_dirs.read_entries(client, ref, layer))
    return ImageFiles(
        ref=ref,
        layout=manifest.layout,
        image_id=manifest.image_id,
        repo_tags=manifest.repo_tags,
        layers=tuple(layers),
        archive_bytes=0,
        save_seconds=0.0,
        read_seconds=time.monotonic() - started,
        source=SOURCE_OVERLAY2,
    )
