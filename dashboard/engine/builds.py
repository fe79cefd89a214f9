"""Builds, streamed live: per-step events, a final result, and why the cache missed.

Uses the low-level API with `decode=True` (the classic builder), because the SDK's
`images.build()` returns only at the end. The image is tagged only after the build succeeded,
so a failing step never takes the tag away from the previous good image.

Whatever goes wrong ends the stream with `BuildFinished(result)` where `result.ok` is False and
`result.error` is a sentence: a failing step, a Dockerfile Docker refused, a daemon that went
away mid-build, a full Docker disk. Only `InvalidInput` (a bad tag) is raised, before any call.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import requests
import urllib3.exceptions

from dashboard.engine import build_context, labels, offline, validation
from dashboard.engine.build_stream import (
    BuildStep,
    ClassicStreamParser,
    StepFinished,
    StepOutput,
    StepStarted,
    StreamEnded,
)
from dashboard.engine.connection import short_reason
from dashboard.engine.images import ImageGone, ImageSize, image_size
from dashboard.engine.labs import Lab
from dashboard.engine.paths import REPO_ROOT


@dataclass(frozen=True)
class CacheMiss:
    """The first step of a stage that rebuilt after earlier steps came from the cache."""

    step_index: int
    instruction: str
    reason: str
    changed_files: list[str] = field(default_factory=list)


@dataclass
class BuildResult:
    lab: str
    ok: bool
    command: str
    image_id: str | None = None
    tags: list[str] = field(default_factory=list)
    size_bytes: int = 0  # the unpacked layers (images.ImageSize.layers_bytes)
    size: ImageSize | None = None
    steps: list[BuildStep] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    failed_step: BuildStep | None = None
    log_tail: list[str] = field(default_factory=list)
    cache_misses: list[CacheMiss] = field(default_factory=list)
    network: str | None = None

    @property
    def real_steps(self) -> list[BuildStep]:
        """The Dockerfile's own steps, without the LABEL step added for our labels."""
        return [s for s in self.steps if not s.synthetic]

    @property
    def steps_total(self) -> int:
        return len(self.real_steps)

    @property
    def steps_cached(self) -> int:
        return sum(1 for s in self.real_steps if s.cached)


@dataclass(frozen=True)
class BuildFinished:
    result: BuildResult


BuildEvent = StepStarted | StepOutput | StepFinished | BuildFinished

# What a daemon that stops mid-stream raises: docker-py reads the raw response, so urllib3's
# ProtocolError ("Connection broken: IncompleteRead") arrives unwrapped.
CONNECTION_ERRORS = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
)
LOST_CONNECTION = (
    "Lost the connection to the Docker daemon during the build ({detail}). Start Docker again "
    "and rebuild: the steps that finished before are reused from the cache."
)
DISK_FULL = (
    "The Docker disk is full: {detail}. Free space with `python -m dashboard reset` (removes only "
    "what the dashboard made) and see what uses it with `docker system df` (`docker image prune` "
    "removes dangling images)."
)


def explain_error(error: str | None, output: list[str] | None = None) -> str | None:
    """A build error as the student should read it: a full disk is named and its fix given."""
    texts = [error or "", *(output or [])]
    for text in texts:
        if "no space left on device" in text.lower():
            return DISK_FULL.format(detail=text.strip().rstrip("."))
    return error


def _daemon_answers(client: docker.DockerClient) -> bool:
    try:
        return bool(client.ping())
    except (docker.errors.DockerException, *CONNECTION_ERRORS):
        return False


def build_command(
    folder: Path, dockerfile: str, tag: str | None, *, network: str | None, nocache: bool
) -> str:
    """The `docker build` command line a student would type for the same build."""
    try:
        shown = folder.resolve().relative_to(REPO_ROOT)
    except ValueError:
        shown = folder
    parts = ["docker", "build"]
    if network:
        parts += ["--network", network]
    if nocache:
        parts.append("--no-cache")
    if tag:
        parts += ["-t", tag]
    parts += ["-f", str(Path(shown) / dockerfile), str(shown)]
    return " ".join(shlex.quote(p) for p in parts)


def explain_misses(
    steps: list[BuildStep], previous: build_context.ContextSnapshot | None, changes
) -> list[CacheMiss]:
    """Name the first invalidated step of each stage and say why; mark the steps after it."""
    misses: list[CacheMiss] = []
    first_miss: BuildStep | None = None
    stage = -1
    for step in steps:
        if step.stage != stage:
            stage, first_miss = step.stage, None
        if step.status != "executed" or step.synthetic:
            continue
        if first_miss is not None:
            step.miss_reason = (
                f"step {first_miss.index} before it rebuilt, so its cache key changed"
            )
            continue
        first_miss = step
        earlier = [s for s in steps if s.stage == stage and s.index < step.index]
        if not any(s.status == "cached" for s in earlier):
            step.miss_reason = (
                "nothing in this stage came from the cache: a first build, --no-cache, "
                "or an emptied cache (docker builder prune / docker system prune)"
            )
            continue
        miss = _why(step, previous, changes)
        step.miss_reason = miss.reason
        misses.append(miss)
    return misses


def _why(step: BuildStep, previous, changes) -> CacheMiss:
    sources = build_context.copy_sources(step.instruction)
    if sources is None:
        return CacheMiss(step.index, step.instruction, "it copies from another stage that rebuilt")
    if previous is None:
        reason = "no earlier build of this lab was recorded, so the changed files are unknown"
        return CacheMiss(step.index, step.instruction, reason)
    if sources:
        changed = [p for p in changes.all if build_context.matches(p, sources)]
        if changed:
            reason = "files it copies changed since the last build: " + ", ".join(changed)
            return CacheMiss(step.index, step.instruction, reason, changed)
    old_lines = {" ".join(line.split()) for line in previous.dockerfile_text.splitlines()}
    if " ".join(step.instruction.split()) not in old_lines:
        reason = "this instruction is new or was edited in the Dockerfile"
        return CacheMiss(step.index, step.instruction, reason)
    reason = (
        "its inputs look unchanged, so its cache entry was gone (pruned, or the last build "
        "ran with BuildKit, which keeps a separate cache)"
    )
    return CacheMiss(step.index, step.instruction, reason)


def stream_build(
    client: docker.DockerClient,
    folder: Path,
    *,
    dockerfile: str = "Dockerfile",
    tag: str | None = None,
    lab_name: str = "custom",
    nocache: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[BuildEvent]:
    """Build `folder`: an event per step start, output line and step end, then the result."""
    folder = Path(folder)
    if tag:
        tag = str(validation.parse_image_ref(tag))  # InvalidInput before any Docker call
    started = clock()
    try:
        network = offline.build_network(client)
    except (docker.errors.DockerException, *CONNECTION_ERRORS) as exc:
        command = build_command(folder, dockerfile, tag, network=None, nocache=nocache)
        result = BuildResult(lab=lab_name, ok=False, command=command)
        result.error = (
            f"Cannot reach the Docker daemon to start the build ({short_reason(exc)}). Start "
            "Docker, then build again."
        )
        result.seconds = clock() - started
        yield BuildFinished(result)
        return
    command = build_command(folder, dockerfile, tag, network=network, nocache=nocache)
    key = build_context.context_key(folder, dockerfile)
    previous = build_context.load_previous(key)
    current = build_context.snapshot(folder, dockerfile)
    changes = build_context.diff(previous, current) if previous else None

    build_labels = labels.for_image(lab_name)
    parser = ClassicStreamParser(clock, appended_steps=len(build_labels))
    result = BuildResult(lab=lab_name, ok=False, command=command, network=network)
    try:
        stream = client.api.build(
            path=str(folder),
            dockerfile=dockerfile,
            decode=True,
            rm=True,
            forcerm=True,
            nocache=nocache,
            network_mode=network,
            labels=build_labels,
        )
        for chunk in stream:
            yield from parser.feed(chunk)
        if parser.error is None and parser.image_id is None and not _daemon_answers(client):
            # The stream ended quietly, without an image or an error: the daemon went away.
            parser.error = LOST_CONNECTION.format(detail="the build stream ended early")
        events = list(parser.finish())
    except docker.errors.APIError as exc:  # e.g. a Dockerfile parse error answers 400 at once
        parser.error = f"Docker refused the build: {exc.explanation or exc}"
        events = list(parser.finish())
    except (docker.errors.DockerException, *CONNECTION_ERRORS) as exc:
        parser.error = LOST_CONNECTION.format(detail=short_reason(exc))
        events = list(parser.finish())
    ended = next(e for e in events if isinstance(e, StreamEnded))
    yield from (e for e in events if not isinstance(e, StreamEnded))

    result.steps = parser.steps
    result.log_tail = list(parser.tail)
    result.cache_misses = explain_misses(parser.steps, previous, changes)
    if ended.image_id:
        try:
            if tag:
                ref = validation.parse_image_ref(tag)
                client.api.tag(ended.image_id, ref.name, ref.tag)
            image = client.images.get(ended.image_id)
            result.ok = True
            result.image_id = image.id
            result.tags = list(image.tags)
            result.size = image_size(client, image.id, inspect=image.attrs)
            result.size_bytes = result.size.layers_bytes
            build_context.save(key, current)
        except (docker.errors.DockerException, ImageGone, *CONNECTION_ERRORS) as exc:
            result.error = explain_error(
                f"The image was built but could not be tagged or read: {exc}"
            )
    else:
        result.failed_step = next((s for s in parser.steps if s.status == "failed"), None)
        output = result.failed_step.output[-10:] if result.failed_step else result.log_tail[-10:]
        result.error = explain_error(ended.error, output)
    result.seconds = clock() - started
    yield BuildFinished(result)


def stream_lab_build(client: docker.DockerClient, lab: Lab, **kwargs) -> Iterator[BuildEvent]:
    return stream_build(
        client, lab.path, dockerfile=lab.dockerfile, tag=lab.image, lab_name=lab.name, **kwargs
    )


def build(
    client: docker.DockerClient,
    folder: Path,
    *,
    on_event: Callable[[BuildEvent], None] | None = None,
    **kwargs,
) -> BuildResult:
    """Run `stream_build` to the end; `on_event` sees every event on the way."""
    for event in stream_build(client, folder, **kwargs):
        if on_event:
            on_event(event)
        if isinstance(event, BuildFinished):
            return event.result
    raise AssertionError("stream_build always ends with BuildFinished")


def build_lab(client: docker.DockerClient, lab: Lab, **kwargs) -> BuildResult:
    return build(
        client, lab.path, dockerfile=lab.dockerfile, tag=lab.image, lab_name=lab.name, **kwargs
    )
