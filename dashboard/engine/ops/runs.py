"""Running lab containers: `docker run`, `run -d -it`, `exec`, `ps -a`, `stop` and `rm`.

`run_container` creates a labelled container with a capped json-file log, attaches to it before
starting it (as `docker run` does, so no line is lost), hands each line of stdout and stderr to a
callback while keeping only a bounded tail in memory, and enforces its own deadline (the SDK's
`wait(timeout=...)` is only an HTTP timeout): at the deadline the container gets SIGTERM, a
grace period, then SIGKILL. A container that cannot start (a GPU request on a daemon without
one) is removed, never left behind, and `RunFailed` says why.

Everything that touches an existing container first checks it is ours
(`labels.container_is_ours`: the managed label and a session label it did not inherit from its
image) and refuses with `NotOurs` otherwise. Each operation also gives the equivalent `docker`
CLI command, so the UI can show what a student would type.

User input is checked before any Docker call (`InvalidInput`): the image reference, the container
name, the memory limit and the command, which always reaches Docker as an argv list (it is never
run by a shell on the host). Only the options named in `ALLOWED_CREATE_OPTIONS` ever reach
`containers.create`: no binds, privileges, host namespaces, devices or capabilities. A daemon that
goes away mid-run gives `DaemonLost`, never a raw connection error or a hang.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import shlex
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import docker
import docker.errors
from docker.models.containers import Container

from dashboard.engine.base import labels, validation
from dashboard.engine.base.connection import DAEMON_ERRORS, TRANSPORT_ERRORS, short_reason
from dashboard.engine.base.docker_text import LineSplitter, clean_line, parse_docker_time
from dashboard.engine.base.validation import InvalidInput
from dashboard.engine.catalog import labs as lab_catalog

DEFAULT_TIMEOUT = 120  # seconds, for a lab the catalog does not know
DEFAULT_GRACE = 5  # seconds between SIGTERM and SIGKILL at the deadline
DEFAULT_TAIL = 2000  # lines of output kept in memory
LOG_CONFIG = {"type": "json-file", "config": {"max-size": "1m", "max-file": "2"}}

# Statuses of a finished run.
EXITED = "exited"
TIMED_OUT = "timed_out"
OOM_KILLED = "oom_killed"
KILLED = "killed"
STOPPED = "stopped"  # cancelled by the caller (`cancel` event) before it finished
FAILED_TO_START = "failed_to_start"

Command = str | Sequence[str] | None
# A daemon that dies mid-stream surfaces as any of these (urllib3's ProtocolError is not wrapped
# by requests when docker-py reads the raw response).

# The only `containers.create` options this module ever passes. User text reaches none but
# `command`, `name`, `environment` and `mem_limit`, and those are checked first.
ALLOWED_CREATE_OPTIONS = frozenset(
    {
        "command",
        "name",
        "labels",
        "log_config",
        "detach",
        "mem_limit",
        "environment",
        "device_requests",
        "tty",
        "stdin_open",
    }
)
_MEMORY_RE = re.compile(r"^[0-9]+(?:[bkmg]b?)?$", re.IGNORECASE)
_ENV_KEY_RE = re.compile(r"^[^=\x00]+$")


# ---------------------------------------------------------------- errors


class RunError(Exception):
    """Anything this module refuses or cannot do; `str()` is a sentence for the student."""


class RunFailed(RunError):
    """The container could not be created or started; nothing was left behind.

    `result` is the `RunResult` with status "failed_to_start" when a container had been
    created (and then removed), otherwise None.
    """

    def __init__(self, message: str, *, image: str = "", result: RunResult | None = None):
        super().__init__(message)
        self.message = message
        self.image = image
        self.result = result


class NameTaken(RunFailed):
    """`--name NAME` is taken by a container of ours: an expected refusal, with the fix that
    works for its state (a running container needs `docker rm -f`, or a stop first)."""

    refusal = True  # the job log says it in a line, no traceback (work/jobs.py)

    def __init__(self, message: str, *, name: str, container_id: str, running: bool):
        super().__init__(message)
        self.name = name
        self.container_id = container_id
        self.running = running


class NotOurs(RunError):
    """The container exists but was not made by the dashboard: it is left alone."""

    refusal = True

    def __init__(self, container_id: str, name: str):
        super().__init__(
            f"Container {name or container_id[:12]} was not made by the dashboard "
            f"(it lacks the {labels.MANAGED} and {labels.SESSION} labels), "
            "so the dashboard leaves it alone."
        )
        self.container_id = container_id
        self.name = name


class ContainerNotFound(RunError):
    """No container with that id or name (someone may have removed it)."""


class DaemonLost(RunError):
    """The Docker daemon stopped answering (stopped, crashed, restarted) during the operation."""

    def __init__(self, message: str, *, container_id: str = "", name: str = ""):
        super().__init__(message)
        self.message = message
        self.container_id = container_id
        self.name = name


def _lost(exc: BaseException, during: str, container_id: str = "", name: str = "") -> DaemonLost:
    return DaemonLost(
        f"Lost the connection to the Docker daemon {during} ({short_reason(exc)}). Start Docker "
        "again (`sudo systemctl start docker`, or Docker Desktop), then retry; `docker ps -a` "
        "shows what became of the container.",
        container_id=container_id,
        name=name,
    )


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class RunLine:
    """One line of a running container's output, as it arrives."""

    number: int  # 1-based, counting every line, also those that fell out of the tail
    text: str  # without the line break and ANSI codes
    elapsed: float  # seconds since the container started
    stream: str = "stdout"  # or "stderr"


@dataclass(frozen=True)
class RunResult:
    container_id: str
    name: str
    image: str
    lab: str
    status: str  # exited, timed_out, oom_killed, killed, stopped, failed_to_start
    exit_code: int | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float
    lines: tuple[str, ...]  # the last `tail_lines` lines of output
    lines_total: int
    truncated: bool  # True when earlier lines were dropped from `lines`
    cli: str  # the equivalent `docker run ...`
    oom_killed: bool = False
    error: str = ""  # the daemon's State.Error, or why the run failed
    removed: bool = False  # removed after the run (remove=True, or a failed start)
    timeout_s: float | None = None  # the deadline the run had
    grace_s: float | None = None  # seconds between SIGTERM and SIGKILL at the deadline

    @property
    def short_id(self) -> str:
        return self.container_id[:12]

    @property
    def ok(self) -> bool:
        return self.status == EXITED and self.exit_code == 0

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def message(self) -> str:
        """One sentence for the student: how the run ended."""
        return describe(self)


@dataclass(frozen=True)
class ContainerRecord:
    """A container of ours, as `docker ps -a` shows it."""

    id: str
    name: str
    image: str
    status: str  # created, running, paused, restarting, removing, exited, dead
    exit_code: int | None  # None unless it has exited
    created: datetime | None
    labels: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    cli: str = ""  # the `docker run ...` that made it, when this process made it

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def lab(self) -> str:
        return self.labels.get(labels.LAB, "")

    @property
    def session(self) -> str:
        return self.labels.get(labels.SESSION, "")

    @property
    def running(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True)
class ExecResult:
    exit_code: int | None
    output: str  # stdout and stderr together, ANSI codes stripped
    cli: str  # the equivalent `docker exec ...`
    duration_s: float = 0.0
    container_id: str = ""
    container_name: str = ""
    image: str | None = None  # the container's image, as it was started
    lab: str | None = None  # the container's lab label
    command: tuple[str, ...] = ()
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def lines(self) -> list[str]:
        return self.output.splitlines()


@dataclass(frozen=True)
class ContainerAction:
    """What `stop_container` / `remove_container` did."""

    container_id: str
    name: str
    action: str  # "stop" or "rm"
    already_gone: bool  # 404: nothing to do, counts as done
    cli: str


# ---------------------------------------------------------------- pure helpers


def classify_exit(exit_code: int | None, oom_killed: bool, timed_out: bool, cancelled: bool) -> str:
    """The run's status from the daemon's State and what the runner did to it."""
    if timed_out:
        return TIMED_OUT
    if cancelled:
        return STOPPED
    if oom_killed:
        return OOM_KILLED
    if exit_code == 137:  # SIGKILL without OOMKilled (some kernels do not report OOM kills)
        return KILLED
    return EXITED


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 or float(value).is_integer() else f"{value:.1f} s"


def describe(result: RunResult) -> str:
    """How a run ended, as the UI and the CLI say it ("timed out after 120 s ...")."""
    status = result.status
    if status == TIMED_OUT:
        limit = result.timeout_s if result.timeout_s is not None else result.duration_s
        grace = f"{result.grace_s:g} s" if result.grace_s is not None else "a grace period"
        return (
            f"Timed out after {_seconds(limit)}: the container was still running at the lab's "
            f"time limit, so it got SIGTERM and, {grace} later, SIGKILL."
        )
    if status == OOM_KILLED:
        return (
            "Out of memory: the container went over its memory limit and the kernel killed it "
            "(Docker reports OOMKilled, exit code 137). Give it more memory or use less."
        )
    if status == KILLED:
        return (
            f"Killed (exit code {result.exit_code}, SIGKILL) by something outside the program; "
            "Docker does not report it as out of memory."
        )
    if status == STOPPED:
        return f"Stopped by you after {_seconds(result.duration_s)}."
    if status == FAILED_TO_START:
        return f"Could not start: {result.error}."
    if result.exit_code is None:
        return f"Ended without an exit code: {result.error or 'the container disappeared'}."
    if result.exit_code == 0:
        return f"Finished (exit code 0) in {_seconds(result.duration_s)}."
    return f"Failed with exit code {result.exit_code} after {_seconds(result.duration_s)}."


def _command_parts(command: Command) -> list[str]:
    """The argv of a command: a string is split as a shell would, but never run by a shell."""
    if command is None:
        return []
    if isinstance(command, str):
        try:
            return shlex.split(command)
        except ValueError as exc:  # "No closing quotation"
            raise InvalidInput(
                f"The command {command!r} cannot be split into words: {exc}."
            ) from None
    parts = list(command)
    if not all(isinstance(part, str) for part in parts):
        raise InvalidInput("A command is a string or a list of strings.")
    return parts


def _valid_memory(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0
    return isinstance(value, str) and bool(_MEMORY_RE.match(value))


def check_run_inputs(
    image: str,
    *,
    name: str | None = None,
    command: Command = None,
    mem_limit: str | int | None = None,
    environment: Mapping[str, str] | Sequence[str] | None = None,
    device_requests: Sequence[Mapping] | None = None,
) -> tuple[str | None, list[str] | None]:
    """Check what the user gave before any Docker call: InvalidInput says what is wrong.

    Returns the container name (without a leading "/") and the command as an argv list (None:
    the image's CMD).
    """
    validation.parse_image_ref(image)
    if name is not None:
        name = validation.check_container_name(name)
    argv = _command_parts(command) if command is not None else None
    if mem_limit is not None and not _valid_memory(mem_limit):
        raise InvalidInput(
            f"{mem_limit!r} is not a memory limit: use a number of bytes or a number with "
            "b, k, m or g, e.g. 512m."
        )
    if isinstance(environment, Mapping):
        keys = [str(k) for k in environment]
    else:
        keys = [str(item).split("=", 1)[0] for item in environment or ()]
    bad = [k for k in keys if not _ENV_KEY_RE.match(k)]
    if bad:
        raise InvalidInput(f"{bad[0]!r} is not an environment variable name.")
    for request in device_requests or ():
        capabilities = request.get("Capabilities") if isinstance(request, Mapping) else None
        if not capabilities or not all("gpu" in group for group in capabilities):
            raise InvalidInput("Only GPU device requests (--gpus) can be given to a lab container.")
    return name, (argv or None)


def _env_items(environment: Mapping[str, str] | Sequence[str] | None) -> list[str]:
    if not environment:
        return []
    if isinstance(environment, Mapping):
        return [f"{k}={v}" for k, v in environment.items()]
    return list(environment)


def _gpus_flag(request: Mapping) -> str:
    count = request.get("Count", 0)
    ids = request.get("DeviceIDs") or []
    if ids:
        return "device=" + ",".join(ids)
    return "all" if count == -1 else str(count)


def docker_run_command(
    image: str,
    *,
    command: Command = None,
    name: str | None = None,
    detach: bool = False,
    interactive: bool = False,
    tty: bool = False,
    remove: bool = False,
    mem_limit: str | int | None = None,
    environment: Mapping[str, str] | Sequence[str] | None = None,
    device_requests: Sequence[Mapping] | None = None,
    labels: Mapping[str, str] | None = None,
    log_opts: Mapping[str, str] | None = None,
) -> str:
    """The `docker run` a student would type. Labels and log options only when given."""
    parts = ["docker", "run"]
    if remove:
        parts.append("--rm")
    if detach:
        parts.append("-d")
    flags = ("i" if interactive else "") + ("t" if tty else "")
    if flags:
        parts.append("-" + flags)
    if name:
        parts += ["--name", name]
    if mem_limit is not None:
        parts += ["--memory", str(mem_limit)]
    for item in _env_items(environment):
        parts += ["-e", item]
    for request in device_requests or []:
        parts += ["--gpus", _gpus_flag(request)]
    for key, value in (labels or {}).items():
        parts += ["--label", f"{key}={value}"]
    for key, value in (log_opts or {}).items():
        parts += ["--log-opt", f"{key}={value}"]
    parts.append(image)
    parts += _command_parts(command)
    return shlex.join(parts)


def docker_logs_command(container: str, follow: bool = False) -> str:
    return shlex.join(["docker", "logs", *(["-f"] if follow else []), container])


def docker_exec_command(container: str, command: Command) -> str:
    return shlex.join(["docker", "exec", container, *_command_parts(command)])


def docker_stop_command(container: str, grace: int | None = None) -> str:
    extra = ["-t", str(grace)] if grace is not None and grace != 10 else []
    return shlex.join(["docker", "stop", *extra, container])


def docker_rm_command(container: str, force: bool = False) -> str:
    return shlex.join(["docker", "rm", *(["-f"] if force else []), container])


def docker_ps_command(lab: str | None = None, session: str | None = None) -> str:
    parts = ["docker", "ps", "-a"]
    for wanted in labels.filters(lab, session)["label"]:
        parts += ["--filter", f"label={wanted}"]
    return shlex.join(parts)


def run_timeout_for(lab: str, timeout: float | None) -> float:
    """The deadline of a run: the caller's, else the lab's `run_timeout`, else the default."""
    if timeout is not None:
        return float(timeout)
    known = lab_catalog.LABS.get(lab)
    return float(known.run_timeout if known else DEFAULT_TIMEOUT)


# ---------------------------------------------------------------- daemon helpers


def _explain(exc: Exception) -> str:
    if isinstance(exc, docker.errors.APIError):
        text = exc.explanation or str(exc)
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return str(text).strip()
    return str(exc).strip() or type(exc).__name__


def _start_hint(explanation: str) -> str:
    low = explanation.lower()
    if "capabilities" in low and "gpu" in low:
        return (
            " This Docker daemon has no GPU runtime (NVIDIA Container Toolkit), so a GPU cannot "
            "be given to the container; run without --gpus to use the CPU."
        )
    if "executable file not found" in low or "no such file or directory" in low:
        return " The command does not exist inside the image."
    return ""


def _container_name(attrs: Mapping) -> str:
    return (attrs.get("Name") or "").lstrip("/")


def _image_labels(client: docker.DockerClient, image_id: str) -> dict[str, str]:
    if not image_id:
        return {}
    try:
        return labels.of_inspect(client.api.inspect_image(image_id))
    except docker.errors.NotFound:
        return {}


def _container_is_ours(client: docker.DockerClient, container) -> bool:
    """`labels.container_is_ours` with the image's labels, read only when the container's own
    labels could pass."""
    if not labels.container_is_ours(container.labels):
        return False
    image_labels = _image_labels(client, container.attrs.get("Image"))
    return labels.container_is_ours(container.labels, image_labels)


def _get_ours(client: docker.DockerClient, container_id: str):
    """The container, if it exists and is ours; NotOurs / ContainerNotFound otherwise."""
    try:
        container = client.containers.get(container_id)
    except docker.errors.NotFound:
        raise ContainerNotFound(f"No container {container_id!r} (was it removed?).") from None
    except TRANSPORT_ERRORS as exc:
        raise _lost(exc, "while looking for the container", container_id) from exc
    if not _container_is_ours(client, container):
        raise NotOurs(container.id, container.name)
    return container


def _refuse_taken_name(client: docker.DockerClient, name: str, exc: Exception) -> RunError:
    try:
        other = client.containers.get(name)
    except docker.errors.NotFound:
        return RunFailed(f"Could not create container {name}: {_explain(exc)}")
    if not _container_is_ours(client, other):
        return NotOurs(other.id, other.name)
    running = other.status in ("running", "restarting", "paused")
    fix = (
        f"it is still running, so stop and remove it first (`{docker_rm_command(name, force=True)}`"
        ", or the button below)"
        if running
        else f"remove it first (`{docker_rm_command(name)}`, or the button below)"
    )
    return NameTaken(
        f"The name {name} is already used by container {other.short_id} ({other.status}): "
        f"{fix}, or pick another name.",
        name=name,
        container_id=other.id,
        running=running,
    )


def _create(client: docker.DockerClient, image: str, lab: str, **kwargs):
    """`docker create` of one of ours: our labels for `lab`, the capped log, detached."""
    kwargs = {"labels": labels.for_lab(lab), "log_config": LOG_CONFIG, "detach": True, **kwargs}
    unknown = sorted(set(kwargs) - ALLOWED_CREATE_OPTIONS)
    if unknown:  # a guard against future edits: nothing else may reach the daemon
        raise InvalidInput(f"Container options not allowed here: {', '.join(unknown)}.")
    name = kwargs.get("name")
    try:
        return client.containers.create(image, **kwargs)
    except docker.errors.ImageNotFound:
        raise RunFailed(
            f"There is no image {image} on this machine (never built, or removed outside the "
            "dashboard): build it again.",
            image=image,
        ) from None
    except docker.errors.APIError as exc:
        if name and exc.status_code == 409:
            raise _refuse_taken_name(client, name, exc) from exc
        raise RunFailed(
            f"Could not create a container from {image}: {_explain(exc)}", image=image
        ) from exc
    except TRANSPORT_ERRORS as exc:
        raise _lost(exc, "before the container was created", name=name or "") from exc
    except docker.errors.DockerException as exc:  # the SDK refusing an option value
        raise RunFailed(f"Could not create a container from {image}: {exc}", image=image) from exc


def _start(container, image: str, lab: str, cli: str) -> None:
    """start; if it fails the created container is removed, then RunFailed."""
    try:
        container.start()
    except DAEMON_ERRORS as exc:
        explanation = _explain(exc).rstrip(".")
        removed = _remove_quietly(container)
        result = RunResult(
            container_id=container.id,
            name=container.name,
            image=image,
            lab=lab,
            status=FAILED_TO_START,
            exit_code=None,
            started_at=None,
            finished_at=datetime.now().astimezone(),
            duration_s=0.0,
            lines=(),
            lines_total=0,
            truncated=False,
            cli=cli,
            error=explanation,
            removed=removed,
        )
        raise RunFailed(
            f"The container from {image} could not start: {explanation}.{_start_hint(explanation)}",
            image=image,
            result=result,
        ) from exc


def _remove_quietly(container) -> bool:
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        return True
    except DAEMON_ERRORS:
        return False
    return True


def _kill_quietly(container) -> None:
    with contextlib.suppress(*DAEMON_ERRORS):
        container.kill()


class _Watchdog(threading.Thread):
    """Stops the container at the deadline (or on cancel) and unblocks the log stream."""

    def __init__(self, container, deadline: float, grace: int, cancel: threading.Event | None):
        super().__init__(daemon=True, name=f"run-watchdog-{container.short_id}")
        self.container = container
        self.deadline = deadline
        self.grace = grace
        self.cancel = cancel
        self.stream = None
        self.done = threading.Event()  # set by the runner when the output has ended
        self.timed_out = False
        self.cancelled = False

    def run(self) -> None:
        while not self.done.wait(min(0.1, max(0.0, self.deadline - time.monotonic()))):
            if self.cancel is not None and self.cancel.is_set():
                self.cancelled = True
            elif time.monotonic() >= self.deadline:
                self.timed_out = True
            else:
                continue
            self._halt()
            return

    def _halt(self) -> None:
        try:
            state = self.container.client.api.inspect_container(self.container.id)["State"]
            if state.get("Running"):
                self.container.stop(timeout=self.grace)  # SIGTERM, grace, then SIGKILL
            else:  # it finished on its own just now: not a timeout
                self.timed_out = self.cancelled = False
        except docker.errors.NotFound:
            pass
        except DAEMON_ERRORS:
            _kill_quietly(self.container)
        # The stream normally ends by itself once the container is gone; if not, cut it.
        if not self.done.wait(3) and self.stream is not None:
            self.stream.close()


def _final_state(container, give_up_at: float) -> dict | None:
    """The State once the container is no longer running (None if it was removed)."""
    api = container.client.api
    while True:
        try:
            state = api.inspect_container(container.id)["State"]
        except docker.errors.NotFound:
            return None
        if not state.get("Running") and state.get("Status") != "created":
            return state
        if time.monotonic() > give_up_at:
            _kill_quietly(container)
            give_up_at = time.monotonic() + 10
        time.sleep(0.1)


# ---------------------------------------------------------------- public operations


def run_container(
    client: docker.DockerClient,
    image: str,
    *,
    lab: str,
    command: Command = None,
    name: str | None = None,
    timeout: float | None = None,
    mem_limit: str | int | None = None,
    environment: Mapping[str, str] | Sequence[str] | None = None,
    device_requests: Sequence[Mapping] | None = None,
    on_line: Callable[[RunLine], None] | None = None,
    grace: int = DEFAULT_GRACE,
    tail_lines: int = DEFAULT_TAIL,
    remove: bool = False,
    cancel: threading.Event | None = None,
) -> RunResult:
    """`docker run IMAGE [COMMAND]`: run to the end (or the deadline) and report.

    `timeout` defaults to the lab's `run_timeout`. `on_line` runs in the calling thread as
    each line arrives (a slow callback slows the container's writes, as a slow terminal would).
    `cancel`, when set from another thread, stops the run (status "stopped"). The container is
    kept, as `docker run` without `--rm` keeps it, unless `remove=True`. Raises `InvalidInput`
    (before any Docker call) for a bad image, name, command or memory limit, `RunFailed` if it
    cannot be created or started, `NotOurs` if the name belongs to someone else's container, and
    `DaemonLost` if the daemon goes away; an exception from `on_line` kills the container first.
    """
    name, argv = check_run_inputs(
        image,
        name=name,
        command=command,
        mem_limit=mem_limit,
        environment=environment,
        device_requests=device_requests,
    )
    limit = run_timeout_for(lab, timeout)
    cli = docker_run_command(
        image,
        command=argv,
        name=name,
        remove=remove,
        mem_limit=mem_limit,
        environment=environment,
        device_requests=device_requests,
    )
    container = _create(
        client,
        image,
        lab,
        command=argv,
        name=name,
        mem_limit=mem_limit,
        environment=environment,
        device_requests=list(device_requests) if device_requests else None,
    )
    # Attach before start, as `docker run` does: the output comes straight from the container.
    # A `logs(follow=True)` reader lags behind and, with the capped json-file log, loses lines
    # when the file rotates under it (seen here: 39,684 of 100,000 fast lines).
    try:
        stream = container.attach(stdout=True, stderr=True, stream=True, demux=True)
    except DAEMON_ERRORS as exc:
        _remove_quietly(container)
        raise RunFailed(f"Could not attach to the container: {_explain(exc)}", image=image) from exc
    try:
        _start(container, image, lab, cli)
    except RunFailed:
        stream.close()
        raise
    started = time.monotonic()
    watchdog = _Watchdog(container, started + limit, grace, cancel)
    watchdog.stream = stream
    tail: deque[str] = deque(maxlen=tail_lines)
    total = 0

    def emit(texts: Iterable[str], source: str) -> None:
        nonlocal total
        for text in texts:
            total += 1
            tail.append(text)
            if on_line is not None:
                on_line(RunLine(total, text, time.monotonic() - started, source))

    try:
        watchdog.start()
        # One splitter per stream: a partial stdout line must not swallow a stderr line.
        out, err = LineSplitter(), LineSplitter()
        try:
            for stdout_chunk, stderr_chunk in stream:
                if stdout_chunk:
                    emit(out.feed(stdout_chunk), "stdout")
                if stderr_chunk:
                    emit(err.feed(stderr_chunk), "stderr")
            emit(out.flush(), "stdout")
            emit(err.flush(), "stderr")
            state = _final_state(container, started + limit + grace + 30)
        except TRANSPORT_ERRORS as exc:
            raise _lost(exc, f"while {container.name} ran", container.id, container.name) from exc
    except BaseException:
        # A failing callback or an interrupt must not leave a runaway container.
        watchdog.done.set()
        with contextlib.suppress(Exception):
            stream.close()
        if remove:
            _remove_quietly(container)
        else:
            _kill_quietly(container)
        raise
    watchdog.done.set()
    watchdog.join(timeout=5)
    elapsed = time.monotonic() - started

    state = state or {}
    exit_code = state.get("ExitCode")
    oom = bool(state.get("OOMKilled"))
    status = classify_exit(exit_code, oom, watchdog.timed_out, watchdog.cancelled)
    started_at = parse_docker_time(state.get("StartedAt"))
    finished_at = parse_docker_time(state.get("FinishedAt"))
    duration = (finished_at - started_at).total_seconds() if started_at and finished_at else elapsed
    error = state.get("Error") or ("" if state else "the container was removed while it ran")
    try:
        removed = _remove_quietly(container) if remove else not state
    except TRANSPORT_ERRORS:
        removed = False
    return RunResult(
        container_id=container.id,
        name=container.name,
        image=image,
        lab=lab,
        status=status,
        exit_code=exit_code if state else None,
        started_at=started_at,
        finished_at=finished_at,
        duration_s=max(0.0, duration),
        lines=tuple(tail),
        lines_total=total,
        truncated=total > len(tail),
        cli=cli,
        oom_killed=oom,
        error=error,
        removed=removed,
        timeout_s=limit,
        grace_s=grace,
    )


def start_detached(
    client: docker.DockerClient,
    image: str,
    *,
    lab: str,
    command: Command = "/bin/bash",
    name: str | None = None,
) -> ContainerRecord:
    """`docker run -d -it --name NAME IMAGE /bin/bash`: a container that keeps running.

    A name already used by a container that is not ours raises `NotOurs`; by one of ours,
    `RunFailed`. A failed start removes the created container and raises `RunFailed`. Bad input
    raises `InvalidInput` before any Docker call.
    """
    name, argv = check_run_inputs(image, name=name, command=command)
    cli = docker_run_command(
        image, command=argv, name=name, detach=True, interactive=True, tty=True
    )
    container = _create(client, image, lab, command=argv, name=name, tty=True, stdin_open=True)
    _start(container, image, lab, cli)
    container.reload()
    return _record(container.attrs, cli)


def exec_in(client: docker.DockerClient, container_id: str, command: Command) -> ExecResult:
    """`docker exec CONTAINER COMMAND` in a running container of ours; waits for it to end."""
    argv = _command_parts(command)  # InvalidInput before any call
    container = _get_ours(client, container_id)
    cli = docker_exec_command(container.name, argv)
    started, began = time.monotonic(), datetime.now(UTC)
    try:
        exit_code, output = container.exec_run(argv, stdout=True, stderr=True)
    except docker.errors.APIError as exc:
        raise RunError(f"Could not run `{cli}`: {_explain(exc)}") from exc
    except TRANSPORT_ERRORS as exc:
        raise _lost(exc, f"during `{cli}`", container.id, container.name) from exc
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else str(output or "")
    clean = "\n".join(clean_line(line) for line in text.split("\n"))
    config = container.attrs.get("Config") or {}
    return ExecResult(
        exit_code,
        clean,
        cli,
        time.monotonic() - started,
        container_id=container.id,
        container_name=container.name,
        image=config.get("Image"),
        lab=(config.get("Labels") or {}).get(labels.LAB),
        command=tuple(argv),
        started_at=began,
        finished_at=datetime.now(UTC),
    )


# How following a container's log ended.
FOLLOW_EXITED = "exited"  # the container stopped: `docker logs -f` ends with it
FOLLOW_STOPPED = "stopped_following"  # the caller stopped following; the container goes on
FOLLOW_GONE = "gone"  # the container was removed meanwhile
FOLLOW_ENDED = "ended"  # the stream ended while the container still runs


@dataclass(frozen=True)
class LogFollow:
    """What `docker logs -f NAME` showed, and how following ended."""

    container_id: str
    name: str
    cli: str
    lines_total: int
    ended: str  # FOLLOW_EXITED, FOLLOW_STOPPED, FOLLOW_GONE or FOLLOW_ENDED
    exit_code: int | None  # once the container has exited
    status: str  # the container's status at the end: running, exited, ... ("" when gone)
    seconds: float

    @property
    def message(self) -> str:
        if self.ended == FOLLOW_STOPPED:
            return (
                f"You stopped following after {_seconds(self.seconds)}; container {self.name} "
                f"is {self.status or 'gone'}: `docker logs -f` only reads its output."
            )
        if self.ended == FOLLOW_GONE:
            return f"Container {self.name} was removed while its logs were followed."
        if self.ended == FOLLOW_ENDED:
            return f"The log stream ended while container {self.name} is still {self.status}."
        return (
            f"Container {self.name} stopped (exit code {self.exit_code}) after "
            f"{_seconds(self.seconds)} of following: `docker logs -f` ends when the container "
            "does."
        )


def follow_logs(
    client: docker.DockerClient,
    container_id: str,
    *,
    on_line: Callable[[RunLine], None] | None = None,
    cancel: threading.Event | None = None,
) -> LogFollow:
    """`docker logs -f NAME` of a container of ours: every line it printed so far, then each new
    one as it comes (`on_line`, in this thread), until the container stops or `cancel` is set
    (the stream is closed from a watcher thread; the container keeps running).

    Raises NotOurs / ContainerNotFound before reading anything, DaemonLost if the daemon goes.
    """
    container = _get_ours(client, container_id)
    cli = docker_logs_command(container.name, follow=True)
    started = time.monotonic()

    def asked() -> bool:
        return cancel is not None and cancel.is_set()

    def ending(ended: str, state: Mapping | None, total: int) -> LogFollow:
        state = state or {}
        status = state.get("Status", "")
        exit_code = state.get("ExitCode") if status in ("exited", "dead") else None
        return LogFollow(
            container.id,
            container.name,
            cli,
            total,
            ended,
            exit_code,
            status,
            time.monotonic() - started,
        )

    try:
        stream = container.logs(stream=True, follow=True, stdout=True, stderr=True)
    except docker.errors.NotFound:
        return ending(FOLLOW_GONE, None, 0)
    except TRANSPORT_ERRORS as exc:
        raise _lost(exc, f"while reading the logs of {container.name}", container.id) from exc
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            if asked():
                with contextlib.suppress(Exception):
                    stream.close()
                return

    threading.Thread(target=watch, daemon=True, name=f"logs-{container.short_id}").start()
    # With a TTY the SDK yields a byte at a time: the splitter makes lines of them.
    splitter = LineSplitter()
    seen = itertools.count(1)
    total = 0

    def lines_of(chunks: Iterable[bytes]) -> Iterable[str]:
        for chunk in chunks:
            yield from splitter.feed(chunk)
        yield from splitter.flush()

    try:
        for text in lines_of(stream):
            total = next(seen)
            if on_line is not None:
                on_line(RunLine(total, text, time.monotonic() - started))
    except Exception as exc:  # closing the stream under the reader raises whatever it hits
        if not asked():
            if isinstance(exc, TRANSPORT_ERRORS):
                raise _lost(
                    exc, f"while following the logs of {container.name}", container.id
                ) from exc
            raise
    finally:
        done.set()
        with contextlib.suppress(Exception):
            stream.close()
    # The stream ends a moment before the daemon reports the container as stopped.
    give_up = time.monotonic() + 3
    while True:
        try:
            state = client.api.inspect_container(container.id)["State"]
        except docker.errors.NotFound:
            return ending(FOLLOW_GONE, None, total)
        except TRANSPORT_ERRORS as exc:
            raise _lost(exc, f"while following the logs of {container.name}", container.id) from exc
        if asked():
            return ending(FOLLOW_STOPPED, state, total)
        if not state.get("Running"):
            return ending(FOLLOW_EXITED, state, total)
        if time.monotonic() > give_up:
            return ending(FOLLOW_ENDED, state, total)
        time.sleep(0.1)


def owned_container(client: docker.DockerClient, container: str) -> ContainerRecord | None:
    """The container with this id or name, when it is ours; None when there is none.

    Raises NotOurs when it exists but the dashboard did not make it.
    """
    try:
        return _record(_get_ours(client, container).attrs)
    except ContainerNotFound:
        return None


def _record(attrs: Mapping, cli: str = "") -> ContainerRecord:
    state = attrs.get("State") or {}
    config = attrs.get("Config") or {}
    status = state.get("Status", "")
    return ContainerRecord(
        id=attrs.get("Id", ""),
        name=_container_name(attrs),
        image=config.get("Image") or attrs.get("Image", ""),
        status=status,
        exit_code=state.get("ExitCode") if status in ("exited", "dead") else None,
        created=parse_docker_time(attrs.get("Created")),
        labels=dict(config.get("Labels") or {}),
        command=tuple((config.get("Entrypoint") or []) + (config.get("Cmd") or [])),
        cli=cli,
    )


def list_lab_containers(
    client: docker.DockerClient, lab: str | None = None, session: str | None = None
) -> list[ContainerRecord]:
    """`docker ps -a`, ours only (optionally one lab or session), newest first."""
    wanted = labels.filters(lab, session)
    wanted["label"].append(labels.SESSION)  # a key alone: containers we made, not our images'
    containers = client.containers.list(all=True, filters=wanted, ignore_removed=True)
    image_labels: dict[str, dict[str, str]] = {}
    records = []
    for c in containers:
        image_id = c.attrs.get("Image", "")
        if image_id not in image_labels:
            image_labels[image_id] = _image_labels(client, image_id)
        if labels.container_is_ours(c.labels, image_labels[image_id]):
            records.append(_record(c.attrs))
    never = datetime.min.replace(tzinfo=UTC)
    return sorted(records, key=lambda r: r.created or never, reverse=True)


def _act_on_ours(
    client: docker.DockerClient,
    container_id: str,
    verb: str,
    cli: Callable[[str | None], str],
    act: Callable[[Container], None],
    failed: Callable[[Container, docker.errors.APIError], str],
) -> ContainerAction:
    """`act(container)` on one of ours; a container missing before or during it is done.

    `cli(name)` is the command a student would type; `cli(None)`, the one for a container
    that was not found (by the id or name given).
    """
    try:
        container = _get_ours(client, container_id)
    except ContainerNotFound:
        return ContainerAction(container_id, "", verb, True, cli(None))
    command = cli(container.name)
    try:
        act(container)
    except docker.errors.NotFound:
        return ContainerAction(container.id, container.name, verb, True, command)
    except docker.errors.APIError as exc:
        raise RunError(failed(container, exc)) from exc
    except TRANSPORT_ERRORS as exc:
        doing = {"stop": "stopping", "rm": "removing"}.get(verb, verb)
        raise _lost(exc, f"while {doing} {container.name}", container.id, container.name) from exc
    return ContainerAction(container.id, container.name, verb, False, command)


def stop_container(
    client: docker.DockerClient, container_id: str, grace: int = DEFAULT_GRACE
) -> ContainerAction:
    """`docker stop`: SIGTERM, `grace` seconds, SIGKILL. Ours only; a missing one is done."""
    return _act_on_ours(
        client,
        container_id,
        "stop",
        lambda name: (
            docker_stop_command(container_id) if name is None else docker_stop_command(name, grace)
        ),
        lambda container: container.stop(timeout=grace),
        lambda container, exc: f"Could not stop {container.name}: {_explain(exc)}",
    )


def remove_container(
    client: docker.DockerClient, container_id: str, force: bool = False
) -> ContainerAction:
    """`docker rm` (`-f` with force). Ours only; a missing one is done."""

    def failed(container, exc: docker.errors.APIError) -> str:
        hint = " Stop it first, or remove it with force." if exc.status_code == 409 else ""
        return f"Could not remove {container.name}: {_explain(exc)}.{hint}"

    return _act_on_ours(
        client,
        container_id,
        "rm",
        lambda name: (
            docker_rm_command(container_id) if name is None else docker_rm_command(name, force)
        ),
        lambda container: container.remove(force=force),
        failed,
    )
