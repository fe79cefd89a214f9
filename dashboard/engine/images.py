"""Image and layer facts from the daemon: what `docker history` and `docker images` show.

`image_layers` turns an image's history (docker-py `client.api.history`) into typed layers,
oldest first as dive lists them: index 0 is the base. `list_images` lists the dashboard's own
images (and the base image) for a size comparison. A missing image raises `ImageGone`.

The history API says nothing about which entries produced a filesystem layer; `empty` follows
what students see (no bytes, or a metadata-only instruction) and `has_layer` is worked out by
matching the entries against the image's RootFS layer list (None when they cannot be matched).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import docker

from dashboard.engine import labels
from dashboard.engine.offline import BASE_IMAGE

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
    size_bytes: int
    created: datetime | None
    labels: dict[str, str]
    lab: str | None  # the io.dockerml.dashboard.lab label
    managed: bool  # carries io.dockerml.dashboard.managed=true
    base: bool  # the python:3.11-slim base image
    standin: bool  # the offline stand-in base (the label is inherited by images built on it)

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


def report_from_api(ref: str, inspect: dict, history: list[dict]) -> ImageReport:
    """Build an `ImageReport` from `inspect_image` and `history` answers (newest first)."""
    entries = list(reversed(history))
    rootfs = tuple((inspect.get("RootFS") or {}).get("Layers") or ())
    has_layer = _match_layers(entries, len(rootfs))
    layers = []
    for index, entry in enumerate(entries):
        created_by = clean_created_by(entry.get("CreatedBy", ""))
        instruction = instruction_of(created_by)
        size = int(entry.get("Size") or 0)
        entry_id = entry.get("Id")
        layers.append(
            HistoryLayer(
                index=index,
                id=None if not entry_id or entry_id == "<missing>" else entry_id,
                created_by=created_by,
                instruction=instruction,
                size_bytes=size,
                empty=size == 0 or instruction in METADATA_INSTRUCTIONS,
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
        size_bytes=int(inspect.get("Size") or 0),
        labels=dict((inspect.get("Config") or {}).get("Labels") or {}),
        created=_timestamp(inspect.get("Created")),
        layers=tuple(layers),
        rootfs_layers=rootfs,
    )


def image_layers(client: docker.DockerClient, ref: str) -> ImageReport:
    """The layers of image `ref` (tag or id), oldest first, or `ImageGone`."""
    try:
        inspect = client.api.inspect_image(ref)
        history = client.api.history(inspect["Id"])
    except docker.errors.NotFound as exc:  # also between the two calls: removed meanwhile
        raise ImageGone(ref) from exc
    return report_from_api(ref, inspect, history)


def _summary(attrs: dict) -> ImageSummary:
    lbls = dict((attrs.get("Config") or {}).get("Labels") or attrs.get("Labels") or {})
    tags = tuple(t for t in attrs.get("RepoTags") or () if t != "<none>:<none>")
    return ImageSummary(
        id=attrs["Id"],
        tags=tags,
        size_bytes=int(attrs.get("Size") or 0),
        created=_timestamp(attrs.get("Created")),
        labels=lbls,
        lab=lbls.get(labels.LAB),
        managed=labels.is_ours(lbls),
        base=BASE_IMAGE in tags,
        standin=lbls.get(labels.STANDIN) == "true",
    )


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
    wanted = client.api.images(filters=ours) if lab_only else client.api.images()
    found = {attrs["Id"]: _summary(attrs) for attrs in wanted}
    if lab_only:
        try:
            base = client.api.inspect_image(BASE_IMAGE)
        except docker.errors.ImageNotFound:
            base = None
        if base is not None:
            found[base["Id"]] = _summary(base)
    images = [img for img in found.values() if include_untagged or img.tags]
    return sorted(images, key=lambda img: (not img.base, img.name))
