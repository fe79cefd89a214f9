"""Image and layer facts from the daemon: what `docker history` and `docker images` show.

`image_layers` turns an image's history (docker-py `client.api.history`) into typed layers,
oldest first as dive lists them: index 0 is the base. `list_images` lists the dashboard's own
images (and the base image) for a size comparison. A missing image raises `ImageGone`.

The history API says nothing about which entries produced a filesystem layer; `empty` follows
what students see (no bytes, or a metadata-only instruction) and `has_layer` is worked out by
matching the entries against the image's RootFS layer list (None when they cannot be matched).

Sizes mean different things on the two image stores (`ImageSize`). On a graph driver (overlay2)
the daemon reports one number, the unpacked layers, and `docker history` adds up to it. On the
containerd image store (Docker Desktop, new Engine 29 installs) `docker image inspect` reports
the content size (compressed layer blobs, what a push or pull moves), `docker images` the disk
usage (unpacked snapshots plus those blobs), and `docker history` the unpacked layers, which add
up to neither. Everything here compares `layers_bytes`, the unpacked layers, the same on both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import docker

from dashboard.engine.base import labels
from dashboard.engine.catalog.lessons import BASE_IMAGE

# Instructions that only change the image config: the classic builder commits no layer for them.
METADATA_INSTRUCTIONS = frozenset(
    {
        "ARG",
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)

_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s*")
_SHELL = re.compile(r"^(?:\|\d+ (?P<args>.*?) )?/bin/sh -c (?P<cmd>.*)$", re.DOTALL)
_BUILDKIT_SUFFIX = " # buildkit"


class ImageGone(Exception):
    """The image does not exist (never built, or removed while we looked at it)."""

    def __init__(self, ref: str):
        super().__init__(
            f"The image {ref!r} is gone: it was never built here, or it was removed outside the "
            "dashboard (e.g. `docker rmi`). Build it again."
        )
        self.ref = ref


GRAPH_DRIVER = "graph driver"
CONTAINERD = "containerd image store"


@dataclass(frozen=True)
class ImageSize:
    """An image's sizes, each named as Docker names it on the daemon's image store."""

    store: str  # GRAPH_DRIVER or CONTAINERD
    layers_bytes: int  # the unpacked layers (`docker history` adds up to it): compared everywhere
    disk_bytes: int | None = None  # `docker images` SIZE / DISK USAGE (None: not asked)
    content_bytes: int | None = None  # containerd: compressed blobs, `docker images` CONTENT SIZE

    @property
    def containerd(self) -> bool:
        return self.store == CONTAINERD

    def sentence(self, fmt=None) -> str:
        """`444 MB unpacked layers` plus, on containerd, what `docker images` shows beside it."""
        fmt = fmt or (lambda n: f"{n / 1e6:,.1f} MB")
        text = f"{fmt(self.layers_bytes)} unpacked layers"
        extra = []
        if self.disk_bytes is not None and self.disk_bytes != self.layers_bytes:
            extra.append(f"disk usage {fmt(self.disk_bytes)}")
        if self.content_bytes is not None:
            extra.append(f"content size {fmt(self.content_bytes)} (compressed)")
        return text + (f" ({', '.join(extra)})" if extra else "")

    def as_dict(self) -> dict:
        return {
            "store": self.store,
            "layers_bytes": self.layers_bytes,
            "disk_bytes": self.disk_bytes,
            "content_bytes": self.content_bytes,
        }


SIZE_MEANING = (
    "Sizes are the unpacked layers, the sum of `docker history`, the same on every engine. On the "
    "containerd image store `docker images` shows more (DISK USAGE: the unpacked layers plus the "
    "compressed blobs it keeps) and `docker image inspect` less (CONTENT SIZE: the compressed "
    "layers, what a push or pull moves)."
)

_stores: dict[tuple[str, str | None], str] = {}


def image_store(client: docker.DockerClient) -> str:
    """GRAPH_DRIVER or CONTAINERD, from `docker info` (asked once per daemon)."""
    # Every unix socket's base_url is "http+docker://localhost": the socket names the daemon.
    adapter = getattr(client.api, "_custom_adapter", None)
    key = (client.api.base_url, getattr(adapter, "socket_path", None))
    if key not in _stores:
        info = client.api.info()
        status = dict(tuple(pair) for pair in info.get("DriverStatus") or [] if len(pair) == 2)
        snapshotter = "snapshotter" in status.get("driver-type", "")
        _stores[key] = CONTAINERD if snapshotter else GRAPH_DRIVER
    return _stores[key]


def size_from_api(store: str, inspect: dict, history: list[dict], listed: dict | None = None):
    """`ImageSize` from the answers of `inspect_image`, `history` and (optional) `images`."""
    layers = sum(max(int(e.get("Size") or 0), 0) for e in history)
    reported = int(inspect.get("Size") or 0)
    if store == CONTAINERD:
        disk = int(listed["Size"]) if listed and listed.get("Size") is not None else None
        return ImageSize(store, layers, disk, reported)
    return ImageSize(store, layers or reported, reported, None)


def _listed_entry(client: docker.DockerClient, inspect: dict) -> dict | None:
    """The image's entry of `docker images` (its disk usage on the containerd store). Listed by
    one of its names where it has one: the containerd store works out every listed image's
    disk usage, so listing them all costs a quarter of a second or more per call."""
    tags = [t for t in inspect.get("RepoTags") or [] if t != "<none>:<none>"]
    entries = (
        client.api.images(filters={"reference": tags[:1]}) if tags else client.api.images(all=True)
    )
    return next((i for i in entries if i.get("Id") == inspect["Id"]), None)


def image_size(client: docker.DockerClient, ref: str, inspect: dict | None = None) -> ImageSize:
    """The sizes of image `ref`, or `ImageGone`."""
    try:
        inspect = inspect or client.api.inspect_image(ref)
        history = client.api.history(inspect["Id"])
        store = image_store(client)
        listed = None
        if store == CONTAINERD:
            listed = _listed_entry(client, inspect)
    except docker.errors.NotFound as exc:
        raise ImageGone(ref) from exc
    return size_from_api(store, inspect, history, listed)


@dataclass(frozen=True)
class HistoryLayer:
    index: int  # 0 = the oldest entry (the base image's first layer)
    id: str | None  # "sha256:..." of the image at that step; None for "<missing>" (pulled bases)
    created_by: str  # the instruction, "/bin/sh -c #(nop) " removed; RUN shown as "RUN ..."
    instruction: str  # "RUN", "COPY", "ENV", ... or "" (an imported base, unknown)
    size_bytes: int
    empty: bool  # no bytes added, or a metadata-only instruction
    created: datetime
    comment: str = ""
    tags: tuple[str, ...] = ()
    has_layer: bool | None = None  # produced a RootFS layer (None: could not be matched)

    @property
    def title(self) -> str:
        """What to show: the instruction, or the comment of an imported base ("Imported from -")."""
        return self.created_by or self.comment


@dataclass(frozen=True)
class ImageReport:
    ref: str
    id: str
    tags: tuple[str, ...]
    size_bytes: int
    labels: dict[str, str]
    created: datetime | None
    layers: tuple[HistoryLayer, ...]  # oldest first
    rootfs_layers: tuple[str, ...]  # diff ids of the filesystem layers, oldest first
    size: ImageSize | None = None  # None only for reports made without knowing the store

    @property
    def layers_size_bytes(self) -> int:
        return sum(layer.size_bytes for layer in self.layers)

    @property
    def largest_layer(self) -> HistoryLayer | None:
        return max(self.layers, key=lambda layer: layer.size_bytes, default=None)

    @property
    def non_empty_layers(self) -> tuple[HistoryLayer, ...]:
        return tuple(layer for layer in self.layers if not layer.empty)


@dataclass(frozen=True)
class ImageSummary:
    id: str
    tags: tuple[str, ...]
    size_bytes: int  # the unpacked layers (ImageSize.layers_bytes)
    created: datetime | None
    labels: dict[str, str]
    lab: str | None  # the io.dockerml.dashboard.lab label
    managed: bool  # carries io.dockerml.dashboard.managed=true
    base: bool  # the python:3.11-slim base image
    standin: bool  # the offline stand-in base (the label is inherited by images built on it)
    size: ImageSize | None = None

    @property
    def name(self) -> str:
        return self.tags[0] if self.tags else self.id.removeprefix("sha256:")[:12]


def clean_created_by(created_by: str) -> str:
    """`/bin/sh -c #(nop)  ENV A=1` -> `ENV A=1`; `/bin/sh -c pip install` -> `RUN pip install`."""
    text = (created_by or "").strip()
    if text.endswith(_BUILDKIT_SUFFIX):
        text = text[: -len(_BUILDKIT_SUFFIX)].rstrip()
    if _NOP.match(text):
        return _NOP.sub("", text).strip()
    if text.startswith("RUN "):  # BuildKit: "RUN /bin/sh -c cmd"
        inner = _SHELL.match(text[4:])
        return "RUN " + inner.group("cmd").strip() if inner else text
    shell = _SHELL.match(text)
    if shell:
        args = shell.group("args")
        return ("RUN " + (f"{args} " if args else "") + shell.group("cmd")).strip()
    return text


def instruction_of(created_by: str) -> str:
    """The Dockerfile keyword of a cleaned `created_by`, or "" when there is none."""
    word = created_by.split(" ", 1)[0] if created_by else ""
    return word if word.isupper() and word.isalpha() else ""


def _timestamp(value: object) -> datetime | None:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str) and value:
        # Docker writes nanoseconds ("2026-11-28T14:05:38.267053001Z"); Python takes microseconds.
        m = re.match(r"^(.*?T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", value)
        if m:
            frac = (m.group(2) or "")[:7]
            tz = m.group(3) or "Z"
            return datetime.fromisoformat(m.group(1) + frac + ("+00:00" if tz == "Z" else tz))
    return None


def _match_layers(entries: list[dict], rootfs_count: int) -> list[bool | None]:
    """Which history entries (oldest first) produced a RootFS layer."""
    cleaned = [clean_created_by(e.get("CreatedBy", "")) for e in entries]
    candidates = [instruction_of(c) not in METADATA_INSTRUCTIONS - {"WORKDIR"} for c in cleaned]
    if sum(candidates) == rootfs_count:
        return list(candidates)
    sized = [int(e.get("Size") or 0) > 0 for e in entries]
    if sum(sized) == rootfs_count:
        return sized
    return [None] * len(entries)


def report_from_api(
    ref: str, inspect: dict, history: list[dict], size: ImageSize | None = None
) -> ImageReport:
    """Build an `ImageReport` from `inspect_image` and `history` answers (newest first).

    `size_bytes` is the unpacked layers, so the layers add up to the total they are shown with.
    """
    entries = list(reversed(history))
    rootfs = tuple((inspect.get("RootFS") or {}).get("Layers") or ())
    has_layer = _match_layers(entries, len(rootfs))
    layers = []
    for index, entry in enumerate(entries):
        created_by = clean_created_by(entry.get("CreatedBy", ""))
        instruction = instruction_of(created_by)
        entry_size = int(entry.get("Size") or 0)
        entry_id = entry.get("Id")
        layers.append(
            HistoryLayer(
                index=index,
                id=None if not entry_id or entry_id == "<missing>" else entry_id,
                created_by=created_by,
                instruction=instruction,
                size_bytes=entry_size,
                empty=entry_size == 0 or instruction in METADATA_INSTRUCTIONS,
                created=_timestamp(entry.get("Created")) or datetime.fromtimestamp(0, tz=UTC),
                comment=entry.get("Comment") or "",
                tags=tuple(entry.get("Tags") or ()),
                has_layer=has_layer[index],
            )
        )
    return ImageReport(
        ref=ref,
        id=inspect["Id"],
        tags=tuple(inspect.get("RepoTags") or ()),
        size_bytes=size.layers_bytes if size else sum(layer.size_bytes for layer in layers),
        labels=dict((inspect.get("Config") or {}).get("Labels") or {}),
        created=_timestamp(inspect.get("Created")),
        layers=tuple(layers),
        rootfs_layers=rootfs,
        size=size,
    )


def image_layers(client: docker.DockerClient, ref: str) -> ImageReport:
    """The layers of image `ref` (tag or id), oldest first, or `ImageGone`."""
    try:
        inspect = client.api.inspect_image(ref)
        history = client.api.history(inspect["Id"])
        store = image_store(client)
        listed = None
        if store == CONTAINERD:
            listed = next((i for i in client.api.images() if i.get("Id") == inspect["Id"]), None)
    except docker.errors.NotFound as exc:  # also between the calls: removed meanwhile
        raise ImageGone(ref) from exc
    return report_from_api(ref, inspect, history, size_from_api(store, inspect, history, listed))


@dataclass(frozen=True)
class SizeFloor:
    """An image against its floor: the base image plus what the final stage installs.

    The floor is the smallest image that can run the same program: the base image's layers and
    the layers the final stage's RUN steps wrote (the `pip install` of what the program imports).
    Above it is only what the stage copied in: the model, the code, the work folder. Measured in
    the image's own `docker history`, so every number is the same measure as `ImageSize`'s
    unpacked layers: an image FROM the same base that only ran the same install holds the same
    install layer.
    """

    ref: str
    size_bytes: int  # the image's unpacked layers
    base_bytes: int  # its base image's layers
    installed_bytes: int  # the final stage's RUN layers

    @property
    def floor_bytes(self) -> int:
        return self.base_bytes + self.installed_bytes

    @property
    def above_floor_bytes(self) -> int:
        return self.size_bytes - self.floor_bytes


class NotOnBase(ValueError):
    """The image's oldest layers are not the base image's."""


def size_floor(report: ImageReport, base: ImageReport) -> SizeFloor:
    """`report`'s image against its floor; `base`: the image its final stage starts FROM."""
    count = len(base.layers)
    prefix = report.layers[:count]
    same = [(x.created_by, x.size_bytes) for x in prefix] == [
        (x.created_by, x.size_bytes) for x in base.layers
    ]
    if count == 0 or not same:
        raise NotOnBase(f"{report.ref} is not built on {base.ref}: its oldest layers differ")
    installed = sum(x.size_bytes for x in report.layers[count:] if x.instruction == "RUN")
    return SizeFloor(report.ref, report.size_bytes, sum(x.size_bytes for x in prefix), installed)


def _summary(attrs: dict, size: ImageSize | None = None) -> ImageSummary:
    lbls = dict((attrs.get("Config") or {}).get("Labels") or attrs.get("Labels") or {})
    tags = tuple(t for t in attrs.get("RepoTags") or () if t != "<none>:<none>")
    return ImageSummary(
        id=attrs["Id"],
        tags=tags,
        size_bytes=size.layers_bytes if size else int(attrs.get("Size") or 0),
        created=_timestamp(attrs.get("Created")),
        labels=lbls,
        lab=lbls.get(labels.LAB),
        managed=labels.is_ours(lbls),
        base=BASE_IMAGE in tags,
        standin=lbls.get(labels.STANDIN) == "true",
        size=size,
    )


def _listed_size(client: docker.DockerClient, store: str, attrs: dict) -> ImageSize | None:
    """The `ImageSize` of one listed image: its history (one call) on the containerd store,
    where the listed size is disk usage; the listed size itself on a graph driver."""
    if store == GRAPH_DRIVER:
        size = int(attrs.get("Size") or 0)
        return ImageSize(store, size, size, None)
    try:
        history = client.api.history(attrs["Id"])
        inspect = client.api.inspect_image(attrs["Id"])
    except docker.errors.NotFound:
        return None
    return size_from_api(store, inspect, history, attrs)


def list_images(
    client: docker.DockerClient,
    lab_only: bool = True,
    include_untagged: bool = False,
    student: str | None = None,
) -> list[ImageSummary]:
    """The dashboard's images plus the base image (all images if not `lab_only`), by name.

    Untagged images (an unnamed multi-stage build stage, a replaced tag) are left out unless
    `include_untagged`: they are not what a student built by name. `student`: only a classroom
    student's images (and the base).
    """
    ours = labels.filters(student=student)
    store = image_store(client)
    wanted = client.api.images(filters=ours) if lab_only else client.api.images()
    listed = {attrs["Id"]: attrs for attrs in wanted}
    if lab_only:
        try:
            base = client.api.inspect_image(BASE_IMAGE)
        except docker.errors.ImageNotFound:
            base = None
        if base is not None and base["Id"] not in listed:
            found_base = next(
                (i for i in client.api.images(name=BASE_IMAGE) if i["Id"] == base["Id"]), base
            )
            listed[base["Id"]] = found_base
    images = []
    for attrs in listed.values():
        if include_untagged or _summary(attrs).tags:
            images.append(_summary(attrs, _listed_size(client, store, attrs)))
    return sorted(images, key=lambda img: (not img.base, img.name))
