"""Builds, streamed live: per-step events, a final result, and why the cache missed.

Two builders, the same events (StepStarted, StepOutput, StepFinished, then BuildFinished):

- BuildKit, the builder behind a student's own `docker build` since Engine 23, wherever the
  docker CLI has a working buildx plugin: `docker buildx build --progress=rawjson
  --metadata-file F ...` as a subprocess, parsed by buildkit_stream.py. Building through the
  CLI means one build cache: the page's command, typed in a terminal, reuses every step.
- The classic builder (the SDK's low-level `POST /build`, parsed by build_stream.py) as the
  fallback where there is no buildx, e.g. Debian 12's Engine 20.10; the result says why.

`choose_builder` decides once per DOCKER_HOST/DOCKER_CONFIG/CLI. Either way a failing build
never takes the tag away from the previous good image: BuildKit tags only on success, and the
classic path tags only after the build succeeded.

Whatever goes wrong ends the stream with `BuildFinished(result)` where `result.ok` is False and
`result.error` is a sentence: a failing step, a Dockerfile Docker refused, a daemon that went
away mid-build, a full Docker disk, a cancel. Only `InvalidInput` (a bad tag) is raised, before
any call. A build is canceled through `cancel` (a `threading.Event` set from another thread, a
job's cancel button) or Ctrl-C: BuildKit gets SIGINT, stops the running step and exits.
"""

from __future__ import annotations

import codecs
import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker

from dashboard import settings
from dashboard.engine.analysis import pip_errors, stages
from dashboard.engine.analysis.images import ImageGone, ImageSize, image_size
from dashboard.engine.base import child_process, labels, owner, validation
from dashboard.engine.base.connection import DAEMON_ERRORS, short_reason
from dashboard.engine.base.paths import REPO_ROOT
from dashboard.engine.catalog.labs import LABS, Lab
from dashboard.engine.offline import offline
from dashboard.engine.ops import build_context
from dashboard.engine.ops.build_stream import (
    BuildStep,
    ClassicStreamParser,
    StepFinished,
    StepOutput,
    StepStarted,
    StreamEnded,
)
from dashboard.engine.ops.buildkit_stream import BuildKitStreamParser, stage_names


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
    builder: str = "classic"  # "buildkit" or "classic"
    builder_reason: str = ""  # why that builder: "BuildKit (docker buildx 0.13.1)", ...
    argv: list[str] = field(default_factory=list)  # what ran exactly (BuildKit: the CLI call)
    canceled: bool = False
    target: str | None = None  # `--target STAGE`: build up to that stage only
    skipped_stages: list[str] = field(default_factory=list)  # stages this build left out
    note: str | None = None  # something the student should know about a good build
    dockerfile: Path | None = None  # the file built, and its text as it was at build time
    dockerfile_text: str | None = None

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
LOST_CONNECTION = (
    "Lost the connection to the Docker daemon during the build ({detail}). Start Docker again "
    "and rebuild: the steps that finished before are reused from the cache."
)
DISK_FULL = (
    "The Docker disk is full: {detail}. Free space with `python -m dashboard reset` (removes only "
    "what the dashboard made) and see what uses it with `docker system df` (`docker image prune` "
    "removes dangling images)."
)

KILLED_RE = re.compile(r"exit code: 137\b")
BUILD_CAPPED = (
    "A build step was killed (exit code 137, SIGKILL), most likely by the memory limit of this "
    "classroom's builds: your steps run in cgroup {cgroup}, and the machine's owner caps its "
    "memory. Ask your instructor, or make the step need less. Docker said: {detail}."
)


def explain_error(
    error: str | None, output: list[str] | None = None, log: list[str] | None = None
) -> str | None:
    """A build error as the student should read it: a full disk is named and its fix given, and
    so is a package pip found in no index (which package, which index:
    engine/analysis/pip_errors.py).

    `output`: the failed step's last lines; `log`: more of the build's output to read for pip's
    words (the failed step's first lines say which index pip looked in, its last the error).
    """
    texts = [error or "", *(output or [])]
    for text in texts:
        if "no space left on device" in text.lower():
            return DISK_FULL.format(detail=text.strip().rstrip("."))
    missing = pip_errors.find_no_distribution([*(log or []), *texts])
    if missing is not None:
        return pip_errors.sentence(missing, error, wheelhouse_holds=offline.wheelhouse_holds)
    cgroup = build_cgroup(settings.build_cgroup(), owner.current().student)
    if cgroup and error and KILLED_RE.search(error):
        return BUILD_CAPPED.format(cgroup=cgroup, detail=error.strip().rstrip("."))
    return error


def _failure_log(step: BuildStep | None, tail) -> list[str]:
    return [*(step.output if step else []), *tail]


def _daemon_answers(client: docker.DockerClient) -> bool:
    try:
        return bool(client.ping())
    except DAEMON_ERRORS:
        return False


def _shown_folder(folder: Path) -> Path:
    """A folder inside the repository relative to its root (what a student types there)."""
    try:
        return folder.resolve().relative_to(REPO_ROOT)
    except ValueError:
        return folder


def build_args(
    folder: Path,
    dockerfile: str,
    tag: str | None,
    *,
    network: str | None,
    nocache: bool,
    buildargs: dict[str, str] | None = None,
    target: str | None = None,
) -> list[str]:
    """The `docker build` words a student would type for the same build (from REPO_ROOT)."""
    shown = _shown_folder(folder)
    parts = ["docker", "build"]
    if network:
        parts += ["--network", network]
    if nocache:
        parts.append("--no-cache")
    if target:
        parts += ["--target", target]
    for name, value in (buildargs or {}).items():
        parts += ["--build-arg", f"{name}={value}"]
    if tag:
        parts += ["-t", tag]
    parts += ["-f", str(Path(shown) / dockerfile), str(shown)]
    return parts


def build_command(
    folder: Path,
    dockerfile: str,
    tag: str | None,
    *,
    network: str | None,
    nocache: bool,
    buildargs: dict[str, str] | None = None,
    target: str | None = None,
) -> str:
    """The `docker build` command line a student would type for the same build.

    `build_args`' parameters, spelled out again so that both keep their types and keywords.
    """
    words = build_args(
        folder,
        dockerfile,
        tag,
        network=network,
        nocache=nocache,
        buildargs=buildargs,
        target=target,
    )
    return " ".join(shlex.quote(p) for p in words)


# ---------------------------------------------------------------- which builder


@dataclass(frozen=True)
class Builder:
    kind: str  # "buildkit" or "classic"
    reason: str
    docker: str | None = None  # the docker CLI that runs BuildKit builds


_builders: dict[tuple, Builder] = {}
_builders_lock = threading.Lock()


def docker_host_of(client: docker.DockerClient) -> str | None:
    """The DOCKER_HOST that points the docker CLI at the daemon `client` talks to."""
    adapter = getattr(client.api, "_custom_adapter", None)
    socket_path = getattr(adapter, "socket_path", None)
    if socket_path:
        return "unix://" + socket_path
    base = str(client.api.base_url)
    for scheme in ("http://", "https://"):
        if base.startswith(scheme):
            return "tcp://" + base.removeprefix(scheme)
    return os.environ.get("DOCKER_HOST")


def cli_env(client: docker.DockerClient) -> dict[str, str]:
    env = dict(os.environ)
    host = docker_host_of(client)
    if host:
        env["DOCKER_HOST"] = host
    return env


def choose_builder(client: docker.DockerClient) -> Builder:
    """BuildKit if `docker buildx version` answers for this daemon and config, else classic.

    Asked once per (docker CLI, DOCKER_HOST, DOCKER_CONFIG) and kept for the process.
    """
    env = cli_env(client)
    cli = shutil.which("docker", path=env.get("PATH"))
    key = (cli, env.get("DOCKER_HOST"), env.get("DOCKER_CONFIG"))
    with _builders_lock:
        known = _builders.get(key)
    if known is not None:
        return known
    builder = _detect(cli, env)
    with _builders_lock:
        _builders[key] = builder
    return builder


def forget_builders() -> None:
    """Ask again on the next build (after installing buildx, or in tests)."""
    with _builders_lock:
        _builders.clear()


NO_BUILDX = (
    "the buildx plugin, which runs BuildKit (what `docker build` uses today), is not installed here"
)


def _detect(cli: str | None, env: dict[str, str]) -> Builder:
    if cli is None:
        return Builder("classic", "classic builder: no docker CLI on PATH to run BuildKit with")
    try:
        done = subprocess.run(
            [cli, "buildx", "version"],
            env=env,
            capture_output=True,
            text=True,
            timeout=20,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        said = f"{type(exc).__name__}: {exc}"
        return Builder("classic", f"classic builder: the buildx plugin did not answer ({said})")
    said = " ".join((done.stdout.strip() or done.stderr.strip() or "no output").split())[:200]
    if done.returncode == 0 and "buildx" in done.stdout:
        version = done.stdout.split()[1] if len(done.stdout.split()) > 1 else "?"
        return Builder("buildkit", f"BuildKit (docker buildx {version})", cli)
    if "unknown command" in said or "is not a docker command" in said:
        return Builder(
            "classic",
            f"classic builder: {NO_BUILDX}",
        )
    return Builder(
        "classic", f"classic builder: the buildx plugin is broken (docker buildx version: {said})"
    )


# ---------------------------------------------------------------- why the cache missed


def _normalized(text: str) -> str:
    return " ".join(text.split())


def instructions(dockerfile_text: str) -> set[str]:
    """The Dockerfile's instructions, continuation lines joined, whitespace normalized."""
    found, pending = set(), ""
    for raw in dockerfile_text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        found.add(_normalized(pending + line))
        pending = ""
    if pending:
        found.add(_normalized(pending))
    return found


ARG_RE = re.compile(r"^ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?", re.IGNORECASE)


def arg_values(dockerfile_text: str, build_args: dict[str, str]) -> dict[str, str]:
    """Each ARG's value for a build: its default, overridden by `--build-arg`."""
    values: dict[str, str] = {}
    for line in dockerfile_text.splitlines():
        m = ARG_RE.match(line.strip())
        if m:
            values[m.group(1)] = build_args.get(m.group(1), m.group(2) or "")
    return values


def substitute(text: str, values: dict[str, str]) -> str:
    """`$NAME` and `${NAME}` replaced by their values (other variables left as they are)."""

    def value(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        return values.get(name, m.group(0))

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", value, text)


def _lab_previous(
    lab_name: str, folder: Path, dockerfile: str
) -> build_context.ContextSnapshot | None:
    """A working copy's first build compares with the last build of the lab it was copied from:
    to a student they are one lab (a lesson's builds of labs/iris, then the cache page's copy)."""
    lab = LABS.get(lab_name)
    if lab is None or lab.dockerfile != dockerfile:
        return None
    if lab.path.resolve() == Path(folder).resolve():
        return None
    return build_context.load_previous(build_context.context_key(lab.path, lab.dockerfile))


def _changed_base(previous, current) -> str | None:
    if previous is None or current is None:
        return None
    for ref, image_id in current.base_images.items():
        before = previous.base_images.get(ref)
        if before and before != image_id:
            old, new = before.removeprefix("sha256:")[:12], image_id.removeprefix("sha256:")[:12]
            return f"the base image {ref} changed since the last build ({old} -> {new})"
    return None


def _changed_args(previous, current) -> list[str]:
    if previous is None or current is None:
        return []
    names = sorted(set(previous.build_args) | set(current.build_args))
    return [
        f"{n}={previous.build_args.get(n, '(unset)')} -> {current.build_args.get(n, '(unset)')}"
        for n in names
        if previous.build_args.get(n) != current.build_args.get(n)
    ]


NOCACHE_REASON = "--no-cache: the build was told not to use the cache, so every step runs again"


def explain_misses(
    steps: list[BuildStep],
    previous: build_context.ContextSnapshot | None,
    changes,
    current: build_context.ContextSnapshot | None = None,
    *,
    nocache: bool = False,
) -> list[CacheMiss]:
    """Name the first invalidated step of each stage and say why; mark the steps after it.

    `nocache`: the build ran with `--no-cache`, which is the reason for every step that ran.

    Neither builder says why it missed, so this works it out against the snapshot of the
    previous successful build of the same Dockerfile: the base image's id, the files a COPY or
    ADD reads (by content), the instruction text, the build args; and one miss reruns every
    later step of its stage.
    """
    misses: list[CacheMiss] = []
    if nocache:
        ran = [s for s in sorted(steps, key=lambda s: s.key) if s.status == "executed"]
        for step in ran:
            if not step.synthetic:
                step.miss_reason = NOCACHE_REASON
        first = next((s for s in ran if not s.synthetic), None)
        return [CacheMiss(first.index, first.instruction, NOCACHE_REASON)] if first else []
    first_miss: BuildStep | None = None
    stage = -1
    for step in sorted(steps, key=lambda s: s.key):
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
        if not earlier and step.index > 1:
            # BuildKit runs a step shared by two stages once, under the first stage's name.
            earlier = [s for s in steps if s.stage < stage and s.index < step.index]
        if not any(s.status == "cached" for s in earlier):
            base = _changed_base(previous, current)
            if base:
                step.miss_reason = base
                misses.append(CacheMiss(step.index, step.instruction, base))
                continue
            step.miss_reason = (
                "nothing in this stage came from the cache: a first build, --no-cache, "
                "or an emptied cache (docker builder prune / docker system prune)"
            )
            continue
        miss = _why(step, previous, changes, current)
        step.miss_reason = miss.reason
        misses.append(miss)
    return misses


def _why(step: BuildStep, previous, changes, current=None) -> CacheMiss:
    sources = build_context.copy_sources(step.instruction)
    if sources is None:
        return CacheMiss(step.index, step.instruction, "it copies from another stage that rebuilt")
    if previous is None:
        reason = "no earlier build of this lab was recorded, so the changed files are unknown"
        return CacheMiss(step.index, step.instruction, reason)
    if sources and changes is not None:
        changed = [p for p in changes.all if build_context.matches(p, sources)]
        if changed:
            reason = "files it copies changed since the last build: " + ", ".join(changed)
            return CacheMiss(step.index, step.instruction, reason, changed)
    args = arg_values(previous.dockerfile_text, current.build_args if current else {})
    known = instructions(previous.dockerfile_text)
    # BuildKit names a step with the build args filled in ("RUN echo b"), the classic builder
    # as written ("RUN echo $FLAVOR"): either matches an unedited instruction.
    known |= {_normalized(substitute(i, args)) for i in known}
    if _normalized(step.instruction) not in known:
        reason = "this instruction is new or was edited in the Dockerfile"
        return CacheMiss(step.index, step.instruction, reason)
    args = _changed_args(previous, current)
    if args:
        reason = "build args changed since the last build: " + ", ".join(args)
        return CacheMiss(step.index, step.instruction, reason)
    reason = (
        "its inputs look unchanged, so its cache entry was gone (pruned, or the last build "
        "ran with the other builder: the classic builder and BuildKit keep separate caches)"
    )
    return CacheMiss(step.index, step.instruction, reason)


# ---------------------------------------------------------------- the build


@dataclass
class _Outcome:
    """What a builder's run left for the common ending of `stream_build`."""

    steps: list[BuildStep]
    tail: list[str]
    image_id: str | None = None
    error: str | None = None
    canceled: bool = False
    tagged: bool = False  # BuildKit tags the image itself
    image: docker.models.images.Image | None = None  # already inspected (BuildKit's metadata)
    note: str | None = None


STAGE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
CANCELED = "Canceled: the build was stopped before it finished{where}. {tag}"


def stream_build(
    client: docker.DockerClient,
    folder: Path,
    *,
    dockerfile: str = "Dockerfile",
    tag: str | None = None,
    lab_name: str = "custom",
    nocache: bool = False,
    buildargs: dict[str, str] | None = None,
    target: str | None = None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[BuildEvent]:
    """Build `folder`: an event per step start, output line and step end, then the result.

    `target`: a stage name, as `docker build --target STAGE`: only that stage (and what it
    needs) is built, and it becomes the image.
    """
    folder = Path(folder)
    if tag:
        tag = str(validation.parse_image_ref(tag))  # InvalidInput before any Docker call
    if target is not None and not STAGE_NAME_RE.match(target):
        raise validation.InvalidInput(
            f"{target!r} is not a stage name: use the name after AS in a FROM line, e.g. trainer."
        )
    buildargs = dict(buildargs or {})
    started = clock()
    words = dict(
        dockerfile=dockerfile, tag=tag, nocache=nocache, buildargs=buildargs, target=target
    )
    try:
        network = offline.build_network(client)
    except offline.WheelhouseUnusable as exc:
        result = BuildResult(
            lab=lab_name, ok=False, command=build_command(folder, network="host", **words)
        )
        result.error = str(exc)
        result.seconds = clock() - started
        yield BuildFinished(result)
        return
    except DAEMON_ERRORS as exc:
        command = build_command(folder, network=None, **words)
        result = BuildResult(lab=lab_name, ok=False, command=command)
        result.error = (
            f"Cannot reach the Docker daemon to start the build ({short_reason(exc)}). Start "
            "Docker, then build again."
        )
        result.seconds = clock() - started
        yield BuildFinished(result)
        return
    builder = choose_builder(client)
    command = build_command(folder, network=network, **words)
    key = build_context.context_key(folder, dockerfile)
    previous = build_context.load_previous(key) or _lab_previous(lab_name, folder, dockerfile)
    text = (folder / dockerfile).read_text() if (folder / dockerfile).is_file() else ""
    current = (
        build_context.snapshot(folder, dockerfile, buildargs, _base_image_ids(client, text))
        if text
        else None
    )
    changes = build_context.diff(previous, current) if previous and current else None

    result = BuildResult(
        lab=lab_name,
        ok=False,
        command=command,
        network=network,
        builder=builder.kind,
        builder_reason=builder.reason,
        target=target,
        dockerfile=folder / dockerfile,
        dockerfile_text=text or None,
    )
    build_labels = labels.for_image(lab_name)
    if builder.kind == "buildkit":
        argv = _buildkit_argv(
            builder,
            folder,
            network=network,
            labels=build_labels,
            cgroup_parent=build_cgroup(settings.build_cgroup(), owner.current().student),
            **words,
        )
        result.argv = argv
        outcome = yield from _run_buildkit(client, argv, stage_names(text), cancel)
        if outcome.error and SNAPSHOT_GONE_RE.search(outcome.error):
            # Every step ran or came from the cache, then unpacking the result into the image
            # store failed: once more, it comes from the cache and unpacks what is missing.
            outcome = yield from _run_buildkit(client, argv, stage_names(text), cancel)
            if not outcome.error:
                outcome.note = SNAPSHOT_RETRIED
    else:
        outcome = yield from _run_classic(
            client,
            folder,
            dockerfile,
            nocache,
            network,
            buildargs,
            build_labels,
            cancel,
            clock,
            target,
        )

    result.steps = outcome.steps
    result.log_tail = list(outcome.tail)
    result.canceled = outcome.canceled
    result.cache_misses = explain_misses(outcome.steps, previous, changes, current, nocache=nocache)
    if outcome.image_id and not outcome.canceled:
        try:
            if tag and not outcome.tagged:
                ref = validation.parse_image_ref(tag)
                client.api.tag(outcome.image_id, ref.name, ref.tag)
            # BuildKit's image was inspected to read its metadata: no second inspect for it.
            image = outcome.image or client.images.get(outcome.image_id)
            result.ok = True
            result.note = outcome.note
            result.image_id = image.id
            result.tags = list(image.tags)
            result.size = image_size(client, image.id, inspect=image.attrs)
            result.size_bytes = result.size.layers_bytes
            announced = {(s.stage_name or "").lower() for s in outcome.steps}
            result.skipped_stages = [
                name
                for name in stages.skipped_stages(text, target, builder.kind)
                if name not in announced
            ]
            if current is not None:
                build_context.save(key, current)
        except (ImageGone, *DAEMON_ERRORS) as exc:
            result.error = explain_error(
                f"The image was built but could not be tagged or read: {exc}"
            )
    else:
        stopped = [s for s in outcome.steps if s.status in ("failed", "canceled")]
        result.failed_step = stopped[0] if stopped else None
        output = result.failed_step.output[-10:] if result.failed_step else result.log_tail[-10:]
        if outcome.canceled:
            step = result.failed_step
            where = f" (at step {step.index}: {step.instruction})" if step else ""
            kept = f"`{tag}` still names the image it named before." if tag else ""
            result.error = CANCELED.format(where=where, tag=kept).strip()
        else:
            log = _failure_log(result.failed_step, result.log_tail)
            result.error = explain_error(outcome.error, output, log)
    result.seconds = clock() - started
    yield BuildFinished(result)


def _base_image_ids(client: docker.DockerClient, dockerfile_text: str) -> dict[str, str]:
    found = {}
    for ref in build_context.base_refs(dockerfile_text):
        try:
            found[ref] = client.images.get(ref).id
        except DAEMON_ERRORS:
            continue  # not here yet (the build pulls it) or unreadable: no claim about it
    return found


def _run_classic(
    client, folder, dockerfile, nocache, network, buildargs, build_labels, cancel, clock, target
) -> Iterator[BuildEvent]:
    parser = ClassicStreamParser(clock, appended_steps=len(build_labels))
    canceled = False
    try:
        stream = client.api.build(
            path=str(folder),
            dockerfile=dockerfile,
            decode=True,
            rm=True,
            forcerm=True,
            nocache=nocache,
            network_mode=network,
            buildargs=buildargs or None,
            labels=build_labels,
            target=target,
        )
        for chunk in stream:
            if cancel is not None and cancel.is_set():
                # Closing the response makes the classic builder stop the build.
                canceled = True
                stream.close()
                parser.error = "canceled"
                break
            yield from parser.feed(chunk)
        if parser.error is None and parser.image_id is None and not _daemon_answers(client):
            # The stream ended quietly, without an image or an error: the daemon went away.
            parser.error = LOST_CONNECTION.format(detail="the build stream ended early")
        events = list(parser.finish())
    except docker.errors.APIError as exc:  # e.g. a Dockerfile parse error answers 400 at once
        parser.error = f"Docker refused the build: {exc.explanation or exc}"
        events = list(parser.finish())
    except DAEMON_ERRORS as exc:
        parser.error = LOST_CONNECTION.format(detail=short_reason(exc))
        events = list(parser.finish())
    ended = next(e for e in events if isinstance(e, StreamEnded))
    if canceled:
        for step in parser.steps:
            if step.status == "failed":
                step.status = "canceled"
    yield from (e for e in events if not isinstance(e, StreamEnded))
    return _Outcome(parser.steps, list(parser.tail), ended.image_id, ended.error, canceled)


def _buildkit_argv(
    builder: Builder,
    folder: Path,
    *,
    dockerfile: str,
    tag: str | None,
    nocache: bool,
    buildargs: dict[str, str],
    network: str | None,
    labels: dict[str, str],
    target: str | None = None,
    cgroup_parent: str | None = None,
) -> list[str]:
    """`docker buildx build` with the student's words, our labels (and the classroom's cgroup),
    rawjson and the metadata."""
    words = build_args(
        folder,
        dockerfile,
        tag,
        network=network,
        nocache=nocache,
        buildargs=buildargs,
        target=target,
    )
    *options, dash_f, path, context = words[2:]
    handle, metadata = tempfile.mkstemp(prefix="dashboard-build-", suffix=".json")
    os.close(handle)
    ours = [w for name, value in labels.items() for w in ("--label", f"{name}={value}")]
    if cgroup_parent:
        ours += ["--cgroup-parent", cgroup_parent]
    return [
        builder.docker or "docker",
        "buildx",
        "build",
        *options,
        *ours,
        "--progress=rawjson",
        dash_f,
        path,
        context,
        "--metadata-file",
        metadata,
    ]


def build_cgroup(parent: str | None, student: str | None) -> str | None:
    """The cgroup a build's steps run under (`--cgroup-parent`), one per student below the
    classroom's `parent` (DASHBOARD_BUILD_CGROUP), whose limits the machine's owner set: a
    cgroupfs path, /dml-builds -> /dml-builds/ada, or a systemd slice, where a dash nests,
    dml-builds.slice -> dml-builds-ada.slice (a dash in a student's name becomes `_`). A build
    of the dashboard's own process (no student) runs under PARENT/dashboard."""
    if not parent:
        return None
    who = student or "dashboard"
    if parent.endswith(".slice"):
        return f"{parent.removesuffix('.slice')}-{who.replace('-', '_')}.slice"
    return f"{parent.rstrip('/')}/{who}"


def _reader(stream, chunks: queue.Queue) -> None:
    try:
        while True:
            data = os.read(stream.fileno(), 65536)
            if not data:
                break
            chunks.put(data)
    except OSError:
        pass
    finally:
        chunks.put(None)


def _stop(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGINT (BuildKit cancels the solve and its running steps), SIGKILL after `grace`."""
    child_process.stop(proc, grace=grace, first=signal.SIGINT)


def _run_buildkit(
    client, argv: list[str], stages: list[str | None], cancel: threading.Event | None
) -> Iterator[BuildEvent]:
    metadata_file = Path(argv[-1])
    parser = BuildKitStreamParser(stages)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    canceled = False
    try:
        proc = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=cli_env(client),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # our SIGINT only: a terminal's Ctrl-C comes through us
        )
    except OSError as exc:
        metadata_file.unlink(missing_ok=True)
        return _Outcome([], [], error=f"Could not start `docker buildx build`: {exc}")
    chunks: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_reader, args=(proc.stderr, chunks), daemon=True)
    reader.start()
    try:
        while True:
            try:
                data = chunks.get(timeout=0.2)
            except queue.Empty:
                data = b""
            except KeyboardInterrupt:
                data = b""
                canceled = True
                threading.Thread(target=_stop, args=(proc,), daemon=True).start()
            if data is None:
                break
            if cancel is not None and cancel.is_set() and not canceled:
                canceled = True
                threading.Thread(target=_stop, args=(proc,), daemon=True).start()
            if data:
                yield from parser.feed_text(decoder.decode(data))
        yield from parser.feed_text(decoder.decode(b"", final=True))
        code = proc.wait()
        yield from parser.finish(canceled=canceled)
    finally:
        _stop(proc)  # also when the consumer closed this generator
        proc.stderr.close()
    outcome = _Outcome(parser.steps, list(parser.tail), canceled=canceled, tagged=True)
    try:
        metadata = json.loads(metadata_file.read_text() or "{}") if code == 0 else {}
    except (OSError, ValueError):
        metadata = {}
    finally:
        metadata_file.unlink(missing_ok=True)
    if code == 0 and not canceled:
        outcome.image = _image_from_metadata(client, metadata)
        if outcome.image is None:
            outcome.image, outcome.note = _image_named_instead(client, metadata)
        outcome.image_id = outcome.image.id if outcome.image is not None else None
        if outcome.image_id is None:
            outcome.error = "BuildKit finished but reported no image (docker buildx metadata)."
        return outcome
    if canceled:
        return outcome
    if not _daemon_answers(client):
        outcome.error = LOST_CONNECTION.format(detail=parser.error or "the build ended early")
    elif not parser.steps and parser.error:
        outcome.error = f"Docker refused the build: {parser.error}"
    else:
        outcome.error = parser.error or f"docker buildx build exited with code {code}"
        if NAME_TAKEN_RE.search(outcome.error):
            outcome.error = NAME_TAKEN.format(detail=outcome.error.strip().rstrip("."))
    return outcome


def _image_from_metadata(
    client: docker.DockerClient, metadata: dict
) -> docker.models.images.Image | None:
    """The image the metadata names: the manifest digest on the containerd image store, the
    config digest (the image id) on overlay2."""
    for field_name in ("containerimage.digest", "containerimage.config.digest"):
        digest = metadata.get(field_name)
        if not digest:
            continue
        try:
            return client.images.get(digest)
        except DAEMON_ERRORS:
            continue
    return None


# Engine 26, containerd image store: the snapshot under a cached step was garbage-collected with
# an image that lost its name (a rebuild of the same tag), and the export cannot unpack onto it.
SNAPSHOT_GONE_RE = re.compile(r"parent snapshot \S+ does not exist|failed to prepare extraction")
SNAPSHOT_RETRIED = (
    "Docker's first try ended unpacking the image (the containerd image store had removed a "
    "layer the build cache still pointed to), so the dashboard ran the same build once more: "
    "it came from the cache."
)
NAME_TAKEN_RE = re.compile(r'image ".*": already exists')
NAME_TAKEN = (
    "Another build of the same tag finished at the same moment and named its image first: the "
    "containerd image store refused the name to this one ({detail}). The tag names the other "
    "build's image; build again to tag this build's (every step comes from the cache)."
)
REPLACED = (
    "Another build of {tag} finished at the same time and took the name: the containerd image "
    "store keeps no image without a name, so this build's own image is gone and {tag} names "
    "the other one ({short})."
)


def _image_named_instead(
    client: docker.DockerClient, metadata: dict
) -> tuple[docker.models.images.Image | None, str | None]:
    """When the digest BuildKit reported is gone: the image its name points to now, and why.

    Two builds of one tag at once (two students, two terminals) each export an image index of
    their own (provenance differs); on the containerd image store the one that names the tag
    last wins and the other index is removed with its name.
    """
    for name in filter(None, (metadata.get("image.name") or "").split(",")):
        try:
            image = client.images.get(name)
        except DAEMON_ERRORS:
            continue
        tag = name.removeprefix("docker.io/library/")
        return image, REPLACED.format(tag=tag, short=image.id.removeprefix("sha256:")[:12])
    return None, None


def target_tag(image: str, target: str | None) -> str:
    """The tag of a `--target` build of a lab: `iris-model:2.0-trainer`, never the lab's own."""
    if not target:
        return image
    ref = validation.parse_image_ref(image)
    return f"{ref.name}:{ref.tag}-{target}"


def stream_lab_build(client: docker.DockerClient, lab: Lab, **kwargs) -> Iterator[BuildEvent]:
    tag = target_tag(lab.image, kwargs.get("target"))
    return stream_build(
        client, lab.path, dockerfile=lab.dockerfile, tag=tag, lab_name=lab.name, **kwargs
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
    tag = target_tag(lab.image, kwargs.get("target"))
    return build(client, lab.path, dockerfile=lab.dockerfile, tag=tag, lab_name=lab.name, **kwargs)
