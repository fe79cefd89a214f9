"""Disk use, as `docker system df` shows it, plus the share the dashboard's own objects take.

The numbers come from one `client.df()` call and are summed the way the docker CLI sums
them: images by their layers (shared layers once), containers by their writable layers,
local volumes by their contents, the build cache without its shared records. "Ours" is what
carries the dashboard's label (for containers, not merely inherited from their image, see
labels.container_is_ours); an image's own share is its size less the layers it shares with
other images (so the base image under every lab is not counted again for each of them).

The Build Cache line is BuildKit's: every `docker buildx build` the lessons run (and every
`docker build` a student types where buildx is installed) adds records there. Its records carry
no labels, and one record serves every build that needs the same step (that is the point of one
cache), so none of them is "ours": the dashboard lists them (`cache_records`) but never prunes
them. The classic builder keeps its cache as intermediate images, counted under Images.
"""

from __future__ import annotations

from dataclasses import dataclass

import docker

from dashboard.engine.base import labels


@dataclass(frozen=True)
class OwnedUsage:
    kind: str  # image, container, volume
    id: str
    name: str
    size_bytes: int  # images: the bytes only this image holds; containers: writable layer


@dataclass(frozen=True)
class UsageRow:
    kind: str  # "Images", "Containers", "Local Volumes", "Build Cache" (the CLI's TYPE column)
    count: int
    active: int
    size_bytes: int
    reclaimable_bytes: int
    ours_count: int | None  # None where nothing carries labels (the build cache)
    ours_bytes: int | None

    @property
    def reclaimable_share(self) -> float:
        return self.reclaimable_bytes / self.size_bytes if self.size_bytes else 0.0


@dataclass(frozen=True)
class DiskUsage:
    images: UsageRow
    containers: UsageRow
    volumes: UsageRow
    build_cache: UsageRow
    ours: tuple[OwnedUsage, ...]

    @property
    def rows(self) -> tuple[UsageRow, ...]:
        return (self.images, self.containers, self.volumes, self.build_cache)

    @property
    def total_bytes(self) -> int:
        return sum(r.size_bytes for r in self.rows)

    @property
    def ours_bytes(self) -> int:
        return sum(r.ours_bytes or 0 for r in self.rows)


@dataclass(frozen=True)
class CacheRecord:
    """One BuildKit build cache record, as `docker buildx du --verbose` lists it."""

    id: str
    description: str  # e.g. "mount / from exec /bin/sh -c pip install ..."
    kind: str  # "regular", "source.local", "exec.cachemount", ...
    size_bytes: int
    in_use: bool
    shared: bool
    created_at: str
    last_used_at: str | None
    usage_count: int


def cache_records(df: dict) -> list[CacheRecord]:
    """The build cache records of `client.df()`'s answer, newest first."""
    records = [
        CacheRecord(
            id=r.get("ID", ""),
            description=r.get("Description") or "",
            kind=r.get("Type") or "",
            size_bytes=_size(r.get("Size")),
            in_use=bool(r.get("InUse")),
            shared=bool(r.get("Shared")),
            created_at=r.get("CreatedAt") or "",
            last_used_at=r.get("LastUsedAt"),
            usage_count=int(r.get("UsageCount") or 0),
        )
        for r in df.get("BuildCache") or []
    ]
    return sorted(records, key=lambda r: r.created_at, reverse=True)


def _size(value) -> int:
    """Docker reports -1 for "not computed"."""
    return value if isinstance(value, int) and value > 0 else 0


def _image_name(image: dict) -> str:
    tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
    return tags[0] if tags else image["Id"].removeprefix("sha256:")[:12]


def summarize(df: dict) -> DiskUsage:
    """The four rows of `docker system df` (same sums as the CLI) from `client.df()`'s answer."""
    ours: list[OwnedUsage] = []

    images = df.get("Images") or []
    layers = _size(df.get("LayersSize"))
    in_use = 0
    for image in images:
        if image.get("Containers", 0) > 0 and image.get("Size", -1) >= 0:
            in_use += _size(image.get("Size")) - _size(image.get("SharedSize"))
        if labels.is_ours(image.get("Labels")):
            own = max(0, _size(image.get("Size")) - _size(image.get("SharedSize")))
            ours.append(OwnedUsage("image", image["Id"], _image_name(image), own))
    ours_images = [o for o in ours if o.kind == "image"]
    images_row = UsageRow(
        "Images",
        count=len(images),
        active=sum(1 for i in images if i.get("Containers", 0) > 0),
        size_bytes=layers,
        reclaimable_bytes=max(0, layers - in_use),
        ours_count=len(ours_images),
        # At most the total: on the containerd image store Docker counts a base's compressed
        # blobs as the own size of every image built on it, so five lab images on one base
        # would sum to more than the disk holds.
        ours_bytes=min(layers, sum(o.size_bytes for o in ours_images)),
    )

    containers = df.get("Containers") or []
    running = [c for c in containers if c.get("State") == "running"]
    image_labels = {i["Id"]: i.get("Labels") or {} for i in images}
    our_containers = [
        c
        for c in containers
        if labels.container_is_ours(c.get("Labels"), image_labels.get(c.get("ImageID", "")))
    ]
    for c in our_containers:
        name = (c.get("Names") or ["/" + c["Id"][:12]])[0].lstrip("/")
        ours.append(OwnedUsage("container", c["Id"], name, _size(c.get("SizeRw"))))
    containers_row = UsageRow(
        "Containers",
        count=len(containers),
        active=len(running),
        size_bytes=sum(_size(c.get("SizeRw")) for c in containers),
        reclaimable_bytes=sum(_size(c.get("SizeRw")) for c in containers if c not in running),
        ours_count=len(our_containers),
        ours_bytes=sum(_size(c.get("SizeRw")) for c in our_containers),
    )

    volumes = df.get("Volumes") or []

    def vsize(v: dict) -> int:
        return _size((v.get("UsageData") or {}).get("Size"))

    def vrefs(v: dict) -> int:
        return (v.get("UsageData") or {}).get("RefCount", 0)

    our_volumes = [v for v in volumes if labels.is_ours(v.get("Labels"))]
    for v in our_volumes:
        ours.append(OwnedUsage("volume", v["Name"], v["Name"], vsize(v)))
    volumes_row = UsageRow(
        "Local Volumes",
        count=len(volumes),
        active=sum(1 for v in volumes if vrefs(v) > 0),
        size_bytes=sum(vsize(v) for v in volumes),
        reclaimable_bytes=sum(vsize(v) for v in volumes if vrefs(v) == 0),
        ours_count=len(our_volumes),
        ours_bytes=sum(vsize(v) for v in our_volumes),
    )

    cache = df.get("BuildCache") or []
    cache_size = sum(_size(r.get("Size")) for r in cache if not r.get("Shared"))
    cache_in_use = sum(
        _size(r.get("Size")) for r in cache if r.get("InUse") and not r.get("Shared")
    )
    cache_row = UsageRow(
        "Build Cache",
        count=len(cache),
        active=sum(1 for r in cache if r.get("InUse")),
        size_bytes=cache_size,
        reclaimable_bytes=max(0, cache_size - cache_in_use),
        ours_count=None,
        ours_bytes=None,
    )
    return DiskUsage(images_row, containers_row, volumes_row, cache_row, tuple(ours))


def disk_usage(client: docker.DockerClient) -> DiskUsage:
    """`docker system df` for this daemon, with our share."""
    return summarize(client.df())
