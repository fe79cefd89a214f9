"""Long work off the page: a thread-safe registry of jobs that run in worker threads.

A Streamlit click reruns the script and abandons whatever the script was doing, so a build or a
run must not happen on the script thread. `JobRegistry.start(key, target)` runs `target(job)` in
a worker thread that never touches Streamlit; the target reports through `job.emit(...)`,
`job.update(...)` and `job.progress(...)`, and its return value becomes the job's result. Pages
read an immutable `JobSnapshot` under the lock and render it.

One registry per process (the app keeps it in `st.cache_resource`), keyed by a `JobKey` such
as JobKey("build", "iris"): a second click, or a second browser session, joins the running job
instead of starting a duplicate. Memory stays bounded: each job keeps its last `max_events`
events (and counts the ones it dropped), and the registry keeps at most `max_jobs` finished jobs.

No Streamlit import here, so the module is tested on its own (tests/unit/test_jobs.py).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_MAX_EVENTS = 2000
DEFAULT_MAX_JOBS = 64


class Status(StrEnum):
    RUNNING = "running"
    DONE = "done"  # the target returned
    FAILED = "failed"  # the target raised: `error` says why
    CANCELLED = "cancelled"  # cancel() was asked and the target stopped


@dataclass(frozen=True)
class JobKey:
    """What a job is about: its kind ("build", "run", "compose-up", ...), the lab, image or
    container it works on, and in classroom mode the student whose job it is.

    The registry, the classroom queue and the pages all read these fields; nobody decodes
    positions of a tuple.
    """

    kind: str
    subject: str = ""
    student: str | None = None

    @classmethod
    def of(cls, key: JobKey | str) -> JobKey:
        """A key as given: a JobKey, or a kind alone ("cleanup")."""
        if isinstance(key, JobKey):
            return key
        if isinstance(key, str):
            return cls(key)
        raise TypeError(f"a job key is a JobKey or a kind, not {key!r}")

    def for_student(self, student: str | None) -> JobKey:
        return replace(self, student=student or None)

    @property
    def unscoped(self) -> JobKey:
        """The key as a page wrote it, without the student."""
        return replace(self, student=None)

    @property
    def slug(self) -> str:
        """A widget key: unique per job key, no spaces."""
        parts = (self.student or "", self.kind, self.subject)
        return "-".join(p for p in parts if p).replace(" ", "-")

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}".strip()


AnyKey = JobKey | str


@dataclass(frozen=True)
class JobEvent:
    seq: int  # 1-based, counting dropped events too
    at: float  # seconds since the job started
    kind: str  # "line", "step", "phase", ... whatever the target chose
    data: Any = None


@dataclass(frozen=True)
class JobSnapshot:
    """What a page renders: a consistent copy of a job's state at one moment."""

    key: JobKey
    label: str
    number: int  # the registry's running count: a new run of the same key has a new number
    status: Status
    started_at: float  # wall clock (time.time())
    finished_at: float | None
    elapsed: float  # seconds, to now while running
    events: tuple[JobEvent, ...]  # the last `max_events`
    events_total: int
    progress: float | None  # 0..1 when the target reports it
    detail: str  # a short "what is happening now" line
    state: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error: str | None = None
    error_type: str | None = None

    @property
    def running(self) -> bool:
        return self.status == Status.RUNNING

    @property
    def finished(self) -> bool:
        return self.status != Status.RUNNING

    @property
    def ok(self) -> bool:
        return self.status == Status.DONE

    @property
    def dropped(self) -> int:
        return self.events_total - len(self.events)

    def of_kind(self, kind: str) -> list[JobEvent]:
        return [e for e in self.events if e.kind == kind]

    def lines(self, kind: str = "line") -> list[str]:
        return [str(e.data) for e in self.events if e.kind == kind]


def describe_error(exc: BaseException) -> str:
    """A sentence for the page: the engine's message, never a traceback.

    Knows the shapes of the engine's errors without importing them: `DaemonUnavailable` has
    `message` and `hint`, docker's `APIError` has `explanation`.
    """
    message = getattr(exc, "message", None)
    hint = getattr(exc, "hint", None)
    if isinstance(message, str) and message:
        return f"{message} {hint}".strip() if isinstance(hint, str) else message
    explanation = getattr(exc, "explanation", None)
    if explanation:
        if isinstance(explanation, bytes):
            explanation = explanation.decode("utf-8", "replace")
        return str(explanation).strip()
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    text = str(exc).strip()
    return text or type(exc).__name__


class Job:
    """One unit of work. The target gets this object; the page only sees snapshots."""

    def __init__(self, key: JobKey, label: str, number: int, max_events: int):
        self.key = key
        self.label = label
        self.number = number
        self.cancel_event = threading.Event()
        self._lock = threading.Lock()
        self._events: deque[JobEvent] = deque(maxlen=max_events)
        self._total = 0
        self._status = Status.RUNNING
        self._started_wall = time.time()
        self._started = time.monotonic()
        self._finished_wall: float | None = None
        self._finished: float | None = None
        self._progress: float | None = None
        self._detail = ""
        self._state: dict[str, Any] = {}
        self._result: Any = None
        self._error: str | None = None
        self._error_type: str | None = None
        self._done = threading.Event()
        self.thread: threading.Thread | None = None

    # -- called by the target (worker thread) ----------------------------------------------

    def emit(self, kind: str, data: Any = None) -> None:
        with self._lock:
            self._total += 1
            self._events.append(JobEvent(self._total, time.monotonic() - self._started, kind, data))

    def update(self, **state: Any) -> None:
        """Set named values the page shows (keep them small and immutable: they are shared)."""
        with self._lock:
            self._state.update(state)

    def progress(self, fraction: float | None, detail: str | None = None) -> None:
        with self._lock:
            self._progress = None if fraction is None else min(1.0, max(0.0, float(fraction)))
            if detail is not None:
                self._detail = detail

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    # -- registry side ---------------------------------------------------------------------

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def _finish(self, status: Status, result: Any = None, error: BaseException | None = None):
        with self._lock:
            self._status = status
            self._result = result
            if error is not None:
                self._error = describe_error(error)
                self._error_type = type(error).__name__
            self._finished = time.monotonic()
            self._finished_wall = time.time()
            if status == Status.DONE:
                self._progress = 1.0
        self._done.set()

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            end = self._finished if self._finished is not None else time.monotonic()
            return JobSnapshot(
                key=self.key,
                label=self.label,
                number=self.number,
                status=self._status,
                started_at=self._started_wall,
                finished_at=self._finished_wall,
                elapsed=end - self._started,
                events=tuple(self._events),
                events_total=self._total,
                progress=self._progress,
                detail=self._detail,
                state=dict(self._state),
                result=self._result,
                error=self._error,
                error_type=self._error_type,
            )


Target = Callable[[Job], Any]


class JobRegistry:
    """Jobs by key; at most one running job per key. Safe to share between threads."""

    def __init__(self, max_events: int = DEFAULT_MAX_EVENTS, max_jobs: int = DEFAULT_MAX_JOBS):
        self.max_events = max_events
        self.max_jobs = max_jobs
        self._lock = threading.Lock()
        self._jobs: OrderedDict[JobKey, Job] = OrderedDict()
        self._previous: dict[JobKey, Job] = {}
        self._numbers = itertools.count(1)
        self._generation = 0

    @property
    def generation(self) -> int:
        """How many jobs have finished: a key for caches of what jobs change (container lists)."""
        with self._lock:
            return self._generation

    def _finished(self) -> None:
        with self._lock:
            self._generation += 1

    def start(
        self,
        key: AnyKey,
        target: Target,
        *,
        label: str = "",
        max_events: int | None = None,
    ) -> tuple[Job, bool]:
        """Start `target(job)` in a worker thread, or join the job already running for `key`.

        Returns (job, started): `started` is False when a running job was joined.
        """
        key = JobKey.of(key)
        with self._lock:
            current = self._jobs.get(key)
            if current is not None and not current.done:
                return current, False
            job = Job(key, label or str(key), next(self._numbers), self._cap(max_events))
            if current is not None:
                self._previous[key] = current
                del self._jobs[key]
            self._jobs[key] = job
            self._evict()
            job.thread = threading.Thread(
                target=self._run, args=(job, target), name=f"job-{job.label}", daemon=True
            )
            job.thread.start()
        return job, True

    def _cap(self, max_events: int | None) -> int:
        return max(1, max_events if max_events is not None else self.max_events)

    def _evict(self) -> None:
        """Forget the oldest finished jobs beyond `max_jobs` (running ones are always kept)."""
        finished = [k for k, j in self._jobs.items() if j.done]
        while len(self._jobs) > self.max_jobs and finished:
            key = finished.pop(0)
            del self._jobs[key]
            self._previous.pop(key, None)

    def _run(self, job: Job, target: Target) -> None:
        try:
            result = target(job)
        except BaseException as exc:  # the page shows the message; the log keeps the traceback
            if getattr(exc, "refusal", False):  # expected (a taken name, not ours): no traceback
                log.info("job %s refused: %s", job.label, describe_error(exc))
            else:
                log.warning("job %s failed", job.label, exc_info=True)
            self._finished()
            job._finish(Status.FAILED, error=exc)
            if not isinstance(exc, Exception):
                raise
            return
        self._finished()
        job._finish(Status.CANCELLED if job.cancelled else Status.DONE, result=result)

    def get(self, key: AnyKey) -> Job | None:
        key = JobKey.of(key)
        with self._lock:
            return self._jobs.get(key)

    def snapshot(self, key: AnyKey) -> JobSnapshot | None:
        job = self.get(key)
        return job.snapshot() if job is not None else None

    def previous(self, key: AnyKey) -> JobSnapshot | None:
        """The run of `key` before the current one, if any (e.g. the build before an edit)."""
        key = JobKey.of(key)
        with self._lock:
            job = self._previous.get(key)
        return job.snapshot() if job is not None else None

    def running(self) -> list[JobSnapshot]:
        with self._lock:
            jobs = [j for j in self._jobs.values() if not j.done]
        return [j.snapshot() for j in jobs]

    def cancel(self, key: AnyKey) -> bool:
        job = self.get(key)
        if job is None or job.done:
            return False
        job.cancel()
        return True

    def forget(self, key: AnyKey) -> None:
        """Drop a finished job (a running one is left alone)."""
        key = JobKey.of(key)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.done:
                del self._jobs[key]
                self._previous.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)
