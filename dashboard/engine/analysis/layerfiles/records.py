"""The records of a layer analysis, the same whichever reader produced them.

A reader (docker_save, overlay2, containerd) turns an image into an `ImageManifest` (its
layers, base first, and the config's history) and each layer into `TarEntry` records, one per
tar header; filetree.stack_layers adds the `FileChange`s; the dispatcher wraps the result in an
`ImageFiles` that says which reader ran (`source`) and why a faster one did not
(`fallback_reason`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dashboard.engine.analysis.images import clean_created_by

# ImageManifest.layout: where the layers were found.
LEGACY = "docker-legacy"  # `docker save` of Engine < 25: <id>/layer.tar
OCI = "oci"  # `docker save` of Engine 25+: blobs/sha256/<hex>
OVERLAY2 = "overlay2"  # the daemon's overlay2 layer store
CONTAINERD = "containerd"  # the containerd content store of the containerd image store

# ImageFiles.source: which reader ran.
SOURCE_SAVE = "docker save"
SOURCE_OVERLAY2 = "overlay2 layer store"
SOURCE_CONTAINERD = "containerd content store"


class ArchiveError(Exception):
    """A `docker save` archive or a layer tar we cannot read (truncated, unknown layout...)."""


class NotAvailable(Exception):
    """A fast path does not apply here (remote daemon, another store, no permission): use
    `docker save` instead. str() is the reason, shown as `ImageFiles.fallback_reason`."""


class LayerFileMissing(NotAvailable):
    """A file a fast path needs is gone: the image was removed meanwhile (the dispatcher asks
    the daemon and raises images.ImageGone), or the files are not this daemon's."""


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


def history_entries(config: dict) -> tuple[HistoryEntry, ...]:
    """The history of an image config (its JSON), oldest first."""
    return tuple(
        HistoryEntry(
            index=i,
            created_by=clean_created_by(h.get("created_by", "")),
            created=h.get("created", ""),
            comment=h.get("comment", ""),
            empty_layer=bool(h.get("empty_layer")),
        )
        for i, h in enumerate(config.get("history") or [])
    )


@dataclass(frozen=True)
class LayerRef:
    """Where one layer is read from, by the reader that made it."""

    index: int  # position among the filesystem layers, 0 = base
    member: str  # archive member "<id>/layer.tar" or "blobs/sha256/<hex>", or a file's path
    diff_id: str  # sha256 of the uncompressed layer tar, from the config's rootfs
    media_type: str = ""  # as the manifest says (may lie: layertar reads the magic bytes), or
    # how overlay2 reads the layer (overlay2.TAR_SPLIT, DIFF_FOLDER)


@dataclass(frozen=True)
class ImageManifest:
    """What a reader found: the layers (base first) and the config's history."""

    layout: str  # LEGACY, OCI, OVERLAY2 or CONTAINERD
    config_member: str  # where the config was read
    config_digest: str  # "sha256:<hex>" of the config JSON
    image_id: str  # the daemon's id when the reader knows it, else the config digest
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
    """Every layer's files of one image, and how they were read."""

    ref: str
    layout: str
    image_id: str  # the daemon's id (`docker image inspect`), whichever reader ran
    config_digest: str
    repo_tags: tuple[str, ...]  # the daemon's tags of the image
    layers: tuple[LayerFiles, ...]
    archive_bytes: int  # size of the `docker save` stream (0 when not saved)
    save_seconds: float  # `docker save` read and listed as it arrives (0 when not saved)
    read_seconds: float  # the layers read in place (0 when saved)
    source: str = SOURCE_SAVE  # SOURCE_SAVE, SOURCE_OVERLAY2 or SOURCE_CONTAINERD
    fallback_reason: str = ""  # why no fast path was read, when `docker save` was
