"""Build and run history, and lesson progress, in an embedded SQLite database.

Every build (its Dockerfile text and hash, timings, size, per-step cache use) and every run (exit
code, status, the predictions and accuracy it printed) is kept, so a page can compare over time:
image size per tag, cold against warm build times, the cache hit rate, and a diff of the
Dockerfiles of any two builds. The guided checks (checks.py) keep their ticks here too.

The file is `DASHBOARD_HISTORY_DB`, else `history.sqlite3` in the data folder; it is created on
first use. Its schema is versioned with `PRAGMA user_version`, and `MIGRATIONS` bring an older
file forward in place. WAL mode and a busy timeout let the app and the CLI share it; a lock makes
one `History` safe to use from the worker threads that run builds.

History must never stop the dashboard: `History.open()` does not raise. A damaged, locked or
newer-than-known file gives a disabled `History` whose `disabled_reason` says why (and `error`
holds the typed `HistoryError`); its writes do nothing and its queries answer empty. A write
that fails later (the file locked for longer than the busy timeout) is dropped, returns None and
is described in `last_error`; a file found damaged later disables the history.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shlex
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from dashboard import settings
from dashboard.engine.base import labels, owner
from dashboard.engine.base.paths import data_dir
from dashboard.engine.catalog import labs as lab_catalog
from dashboard.engine.ops.build_stream import StepKeyword

if TYPE_CHECKING:
    from dashboard.engine.catalog.lab_output import LabOutput
    from dashboard.engine.ops.build_stream import BuildStep
    from dashboard.engine.ops.builds import BuildResult
    from dashboard.engine.ops.compose import ServiceState
    from dashboard.engine.ops.gpu import DeviceRun
    from dashboard.engine.ops.runs import ExecResult, RunResult

log = logging.getLogger(__name__)

ENV_VAR = settings.HISTORY_DB
FILE_NAME = "history.sqlite3"
DEFAULT_BUSY_TIMEOUT = 5.0  # seconds a statement waits for another writer before giving up

# Build kinds, from how many cacheable steps (every step but FROM) came from the cache.
COLD = "cold"  # none: a first build, --no-cache, or an emptied cache
PARTIAL = "partial"  # some: an edit invalidated the steps from some point on
CACHED = "cached"  # all of them
FAILED = "failed"

# Run kinds (the runs table's `kind`).
RUN = "run"  # `docker run` of a lab image
SERVICE = "service"  # a Compose service's container
GPU = "gpu"  # the GPU lesson's run (on the GPU, or the CPU it fell back to)
EXEC = "exec"  # `docker exec` in a running lab container

# Each entry brings a file from version i to i + 1. Never edit a shipped entry: append one.
MIGRATIONS: tuple[str, ...] = (
    # 1: builds, their steps, runs
    """
    CREATE TABLE builds (
        id INTEGER PRIMARY KEY,
        lab TEXT NOT NULL,
        tag TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        command TEXT,
        dockerfile_path TEXT,
        dockerfile_sha256 TEXT,
        dockerfile_text TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        seconds REAL NOT NULL,
        ok INTEGER NOT NULL,
        image_id TEXT,
        size_bytes INTEGER,
        steps_total INTEGER NOT NULL,
        steps_cacheable INTEGER NOT NULL,
        steps_cached INTEGER NOT NULL,
        cache_hit_rate REAL,
        error TEXT,
        session TEXT
    );
    CREATE INDEX builds_by_lab ON builds (lab, finished_at);
    CREATE INDEX builds_by_tag ON builds (tag, finished_at);
    CREATE TABLE build_steps (
        build_id INTEGER NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        stage INTEGER NOT NULL,
        stage_name TEXT,
        instruction TEXT NOT NULL,
        status TEXT NOT NULL,
        cached INTEGER NOT NULL,
        seconds REAL NOT NULL,
        layer_id TEXT,
        miss_reason TEXT,
        PRIMARY KEY (build_id, idx)
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        lab TEXT NOT NULL,
        image TEXT,
        container_id TEXT,
        container_name TEXT,
        service TEXT,
        status TEXT NOT NULL,
        exit_code INTEGER,
        ok INTEGER NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        recorded_at TEXT NOT NULL,
        duration_s REAL,
        lines_total INTEGER,
        predictions TEXT NOT NULL DEFAULT '[]',
        accuracy REAL,
        parsed TEXT,
        session TEXT
    );
    CREATE INDEX runs_by_lab ON runs (lab, recorded_at);
    """,
    # 2: guided-check progress
    """
    CREATE TABLE check_progress (
        check_id TEXT PRIMARY KEY,
        lesson TEXT NOT NULL,
        first_done_at TEXT NOT NULL,
        last_true_at TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    """,
    # 3: what kind of run (a `docker run`, a Compose service, the GPU lesson's run, a
    # `docker exec`) and, for exec, the command
    """
    ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'run';
    ALTER TABLE runs ADD COLUMN command TEXT;
    UPDATE runs SET kind = 'service' WHERE service IS NOT NULL;
    UPDATE runs SET kind = 'gpu' WHERE lab = 'gpu' AND service IS NULL;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


# ---------------------------------------------------------------- errors


class HistoryError(Exception):
    """The history database cannot be used; `str()` is a sentence for the student."""

    def __init__(self, message: str, path: Path | None = None):
        super().__init__(message)
        self.message = message
        self.path = path


class HistoryCorrupt(HistoryError):
    """The file is not a SQLite database, or a damaged one."""


class HistoryLocked(HistoryError):
    """Another program held the database longer than the busy timeout."""


class HistoryTooNew(HistoryError):
    """The file was written by a newer dashboard (a schema version this one does not know)."""


class HistoryUnavailable(HistoryError):
    """The file or its folder cannot be created or written (permissions, a full disk...)."""


def _classify(exc: sqlite3.Error, path: Path) -> HistoryError:
    text = str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return HistoryLocked(
            f"The history database {path} is locked by another program ({text}); the dashboard "
            "runs without history for now. Close the other program and reload.",
            path,
        )
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in low or "malformed" in low or "corrupt" in low
    ):
        return HistoryCorrupt(
            f"The history database {path} is damaged ({text}); the dashboard runs without "
            f"history. Move the file away (for example to {path.name}.broken) to start a new one.",
            path,
        )
    return HistoryUnavailable(
        f"The history database {path} cannot be used ({text}); the dashboard runs without history.",
        path,
    )


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class StepRecord(StepKeyword):
    index: int
    stage: int
    stage_name: str | None
    instruction: str
    status: str  # base, cached, executed, failed (as build_stream.BuildStep)
    cached: bool
    seconds: float
    layer_id: str | None = None
    miss_reason: str | None = None


@dataclass(frozen=True)
class BuildRecord:
    id: int
    lab: str
    tag: str | None  # the tag the build was for (the lab's, or the first the image has)
    tags: tuple[str, ...]  # every tag the image had right after the build
    command: str
    dockerfile_path: str | None
    dockerfile_sha256: str | None
    dockerfile_text: str | None
    started_at: datetime
    finished_at: datetime
    seconds: float
    ok: bool
    image_id: str | None
    size_bytes: int | None
    steps_total: int  # the Dockerfile's own steps (not the LABEL step our labels add)
    steps_cacheable: int  # the steps but FROM, which the cache could serve
    steps_cached: int  # of those, the ones that came from the cache
    cache_hit_rate: float | None  # steps_cached / steps_cacheable; None without such steps
    error: str | None
    session: str | None
    steps: tuple[StepRecord, ...] = ()  # only when asked for (with_steps=True)

    @property
    def kind(self) -> str:
        """cold, partial, cached or failed (see the module constants)."""
        if not self.ok:
            return FAILED
        return build_kind(self.steps_cached, self.steps_cacheable)


@dataclass(frozen=True)
class RunRecord:
    id: int
    lab: str
    image: str | None
    container_id: str | None
    container_name: str | None
    service: str | None  # the Compose service, for runs recorded from Compose
    status: str
    exit_code: int | None
    ok: bool
    started_at: datetime | None
    finished_at: datetime | None
    recorded_at: datetime
    duration_s: float | None
    lines_total: int | None
    predictions: tuple[dict, ...]  # lab_output.Prediction fields, as dicts
    accuracy: float | None
    session: str | None
    kind: str = RUN  # RUN, SERVICE, GPU or EXEC
    command: str | None = None  # an exec's command


@dataclass(frozen=True)
class SizePoint:
    build_id: int
    tag: str
    lab: str
    finished_at: datetime
    size_bytes: int
    image_id: str | None


@dataclass(frozen=True)
class BuildPoint:
    """One build on the time axis: how long it took and how much the cache served."""

    build_id: int
    lab: str
    tag: str | None
    finished_at: datetime
    seconds: float
    ok: bool
    kind: str  # cold, partial, cached, failed
    steps_cached: int
    steps_cacheable: int
    cache_hit_rate: float | None


@dataclass(frozen=True)
class ColdWarm:
    """Median build time of one lab's cold builds against its builds that used the cache."""

    lab: str
    cold_count: int
    cold_median_s: float | None
    warm_count: int  # partial and fully cached builds
    warm_median_s: float | None

    @property
    def speedup(self) -> float | None:
        if not self.cold_median_s or not self.warm_median_s:
            return None
        return self.cold_median_s / self.warm_median_s


@dataclass(frozen=True)
class CheckProgress:
    check_id: str
    lesson: str
    first_done_at: datetime
    last_true_at: datetime
    detail: str


# ---------------------------------------------------------------- pure helpers


def default_path() -> Path:
    """DASHBOARD_HISTORY_DB, else the data folder's file; a classroom student has their own."""
    path = settings.history_db() or data_dir() / FILE_NAME
    student = owner.current().student
    return path.parent / "students" / student / path.name if student else path


def build_kind(steps_cached: int, steps_cacheable: int) -> str:
    if steps_cacheable == 0 or steps_cached == steps_cacheable:
        return CACHED
    return COLD if steps_cached == 0 else PARTIAL


def cache_counts(steps: Iterable[BuildStep]) -> tuple[int, int, int]:
    """(total, cacheable, cached) over the Dockerfile's own steps; FROM is not cacheable."""
    real = [s for s in steps if not s.synthetic]
    cacheable = [s for s in real if s.keyword != "FROM"]
    return len(real), len(cacheable), sum(1 for s in cacheable if s.status == "cached")


def unified_diff(
    old: str | None, new: str | None, old_label: str = "before", new_label: str = "after"
) -> str:
    """A unified diff of two texts ("" when they are the same)."""
    import difflib

    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        (new or "").splitlines(keepends=True),
        fromfile=old_label,
        tofile=new_label,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.astimezone()  # a naive time is the machine's local time
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _json_safe(value: Any) -> Any:
    """NaN (a report of an empty class) is not JSON: store it as null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _parsed(lines: Iterable[str]) -> LabOutput:
    """What a run printed, read as the labs print it (engine/catalog/lab_output.py: only runs need
    it, so recording a build does not import it)."""
    from dashboard.engine.catalog.lab_output import parse_lab_output

    return parse_lab_output(lines)


def _lab_tag(lab: str, tags: list[str]) -> str | None:
    known = lab_catalog.find(lab)
    if known and known.image in tags:
        return known.image
    return tags[0] if tags else (known.image if known else None)


T = TypeVar("T")


# ---------------------------------------------------------------- the database


class History:
    """One history database. Use `History.open()`; every method is safe from any thread."""

    def __init__(
        self,
        path: Path,
        conn: sqlite3.Connection | None,
        *,
        disabled_reason: str | None = None,
        error: HistoryError | None = None,
        clock: Callable[[], datetime] = _now,
    ):
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()
        self.disabled_reason = disabled_reason
        self.error = error
        self.last_error: str | None = None
        self._clock = clock

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path | str | None = None,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        clock: Callable[[], datetime] = _now,
    ) -> History:
        """The history at `path` (default: `default_path()`), or a disabled one. Never raises."""
        target = Path(path) if path is not None else None
        try:
            return cls.connect(target, busy_timeout=busy_timeout, clock=clock)
        except HistoryError as exc:
            log.warning("history disabled: %s", exc)
            where = exc.path or target or Path(FILE_NAME)
            return cls(where, None, disabled_reason=str(exc), error=exc, clock=clock)

    @classmethod
    def connect(
        cls,
        path: Path | str | None = None,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        clock: Callable[[], datetime] = _now,
    ) -> History:
        """Like `open`, but raises the typed `HistoryError` instead of disabling.

        (The same parameters as `open` on purpose: `open` is this call plus the disabling.)
        """
        try:
            target = Path(path) if path is not None else default_path()
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            where = path or settings.history_db() or "the data folder"
            raise HistoryUnavailable(
                f"Cannot create the history database at {where} ({exc}); the dashboard runs "
                "without history.",
                Path(path) if path else None,
            ) from exc
        conn = None
        try:
            conn = sqlite3.connect(
                target, timeout=busy_timeout, check_same_thread=False, isolation_level=None
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.info("history: journal mode stays %s", mode)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed: {check}")
            _migrate(conn, target)
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise _classify(exc, target) from exc
        except HistoryError:
            if conn is not None:
                conn.close()
            raise
        return cls(target, conn, clock=clock)

    @classmethod
    def disabled(cls, reason: str) -> History:
        """A history that records nothing (e.g. switched off by the user)."""
        return cls(Path(FILE_NAME), None, disabled_reason=reason)

    @property
    def enabled(self) -> bool:
        return self._conn is not None

    @property
    def schema_version(self) -> int | None:
        return self._read(lambda c: c.execute("PRAGMA user_version").fetchone()[0], None)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self.disabled_reason = self.disabled_reason or "The history was closed."

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- guarded access --------------------------------------------------------------------

    def _fail(self, exc: sqlite3.Error) -> None:
        error = _classify(exc, self.path)
        self.last_error = str(error)
        log.warning("history: %s", error)
        if not isinstance(error, HistoryLocked):  # damaged or unwritable: stop trying
            self.error = error
            self.disabled_reason = str(error)
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _read(self, fn: Callable[[sqlite3.Connection], T], default: T) -> T:
        with self._lock:
            if self._conn is None:
                return default
            try:
                return fn(self._conn)
            except sqlite3.Error as exc:
                self._fail(exc)
                return default

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T | None:
        with self._lock:
            if self._conn is None:
                return None
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    value = fn(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._fail(exc)
                return None
            self.last_error = None
            return value

    # -- recording -------------------------------------------------------------------------

    def record_build(
        self,
        result: BuildResult,
        dockerfile_path: Path | str | None = None,
        *,
        dockerfile_text: str | None = None,
        tag: str | None = None,
        finished_at: datetime | None = None,
    ) -> int | None:
        """Keep one build; its id, or None when the history is off or the write failed.

        The Dockerfile is read from `dockerfile_path` unless its text is given (pass the text
        that was built when the file may have been edited since). `tag` defaults to the lab's
        catalog tag when the image has it, else the image's first tag.
        """
        if not self.enabled:
            return None
        if dockerfile_text is None and dockerfile_path is not None:
            try:
                dockerfile_text = Path(dockerfile_path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                dockerfile_text = None
        digest = (
            hashlib.sha256(dockerfile_text.encode("utf-8")).hexdigest()
            if dockerfile_text is not None
            else None
        )
        finished = finished_at or self._clock()
        started = datetime.fromtimestamp(finished.timestamp() - result.seconds, tz=UTC)
        total, cacheable, cached = cache_counts(result.steps)
        rate = cached / cacheable if cacheable else None
        tags = list(result.tags)
        row = (
            result.lab,
            tag or _lab_tag(result.lab, tags),
            json.dumps(tags),
            result.command,
            str(dockerfile_path) if dockerfile_path is not None else None,
            digest,
            dockerfile_text,
            _iso(started),
            _iso(finished),
            float(result.seconds),
            int(result.ok),
            result.image_id,
            int(result.size_bytes) if result.ok else None,
            total,
            cacheable,
            cached,
            rate,
            result.error,
            labels.current_session(),
        )
        steps = [
            (
                s.index,
                s.stage,
                s.stage_name,
                s.instruction,
                s.status,
                int(s.cached),
                float(s.seconds),
                s.layer_id,
                s.miss_reason,
            )
            for s in result.steps
            if not s.synthetic
        ]

        def insert(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO builds (lab, tag, tags, command, dockerfile_path, dockerfile_sha256,"
                " dockerfile_text, started_at, finished_at, seconds, ok, image_id, size_bytes,"
                " steps_total, steps_cacheable, steps_cached, cache_hit_rate, error, session)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            build_id = int(cur.lastrowid)
            conn.executemany(
                "INSERT OR REPLACE INTO build_steps (build_id, idx, stage, stage_name,"
                " instruction, status, cached, seconds, layer_id, miss_reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(build_id, *step) for step in steps],
            )
            return build_id

        return self._write(insert)

    def record_run(
        self, result: RunResult, parsed: LabOutput | None = None, *, service: str | None = None
    ) -> int | None:
        """Keep one finished run (parsing its output when `parsed` is not given)."""
        if not self.enabled:
            return None
        parsed = parsed if parsed is not None else _parsed(result.lines)
        return self._insert_run(
            lab=result.lab,
            image=result.image,
            container_id=result.container_id,
            container_name=result.name,
            service=service,
            status=result.status,
            exit_code=result.exit_code,
            ok=result.ok,
            started_at=result.started_at,
            finished_at=result.finished_at,
            duration_s=result.duration_s,
            lines_total=result.lines_total,
            parsed=parsed,
            kind=SERVICE if service else RUN,
        )

    def record_exec(self, result: ExecResult, parsed: LabOutput | None = None) -> int | None:
        """Keep one `docker exec` (`runs.ExecResult`): its command, exit code and output."""
        if not self.enabled:
            return None
        lines = result.lines
        return self._insert_run(
            lab=result.lab or "custom",
            image=result.image,
            container_id=result.container_id or None,
            container_name=result.container_name or None,
            service=None,
            status="exited",  # runs.EXITED: exec waits for the command to end
            exit_code=result.exit_code,
            ok=result.exit_code == 0,
            started_at=result.started_at,
            finished_at=result.finished_at,
            duration_s=result.duration_s,
            lines_total=len(lines),
            parsed=parsed if parsed is not None else _parsed(lines),
            kind=EXEC,
            command=shlex.join(result.command) if result.command else result.cli,
        )

    def record_service_run(
        self,
        state: ServiceState,
        lines: Iterable[str],
        *,
        lab: str = "wine",
        image: str | None = None,
    ) -> int | None:
        """Keep one Compose service's finished container (`compose.ServiceState`) and its logs."""
        if not self.enabled:
            return None
        text = list(lines)
        duration = (
            (state.finished_at - state.started_at).total_seconds()
            if state.started_at and state.finished_at
            else None
        )
        return self._insert_run(
            lab=lab,
            image=image,
            container_id=state.container_id,
            container_name=state.container_name,
            service=state.service,
            status=state.status,
            exit_code=state.exit_code,
            ok=state.exited and state.exit_code == 0,
            started_at=state.started_at,
            finished_at=state.finished_at,
            duration_s=duration,
            lines_total=len(text),
            parsed=_parsed(text),
            kind=SERVICE,
        )

    def record_gpu_run(self, run: DeviceRun, image: str, *, lab: str = "gpu") -> int | None:
        """Keep one GPU lesson run (`gpu.DeviceRun`: on the GPU, or on the CPU it fell back to)."""
        if not self.enabled:
            return None
        lines = run.logs.splitlines()
        status = "timed_out" if run.timed_out else "exited"  # runs.TIMED_OUT, runs.EXITED
        return self._insert_run(
            lab=lab,
            image=image,
            container_id=None,
            container_name=run.container_name,
            service=None,
            status=status,
            exit_code=run.exit_code,
            ok=not run.timed_out and run.exit_code == 0,
            started_at=None,
            finished_at=None,
            duration_s=run.seconds,
            lines_total=len(lines),
            parsed=_parsed(lines),
            kind=GPU,
        )

    def _insert_run(self, *, parsed: LabOutput, **values: Any) -> int | None:
        summary = asdict(parsed)
        summary.pop("other", None)  # lines it did not understand: not history
        row = (
            values["lab"],
            values["image"],
            values["container_id"],
            values["container_name"],
            values["service"],
            values["status"],
            values["exit_code"],
            int(bool(values["ok"])),
            _iso(values["started_at"]),
            _iso(values["finished_at"]),
            _iso(self._clock()),
            values["duration_s"],
            values["lines_total"],
            json.dumps([_json_safe(asdict(p)) for p in parsed.predictions]),
            None if parsed.best_accuracy is None else _json_safe(parsed.best_accuracy),
            json.dumps(_json_safe(summary)),
            labels.current_session(),
            values.get("kind", RUN),
            values.get("command"),
        )
        return self._write(
            lambda conn: int(
                conn.execute(
                    "INSERT INTO runs (lab, image, container_id, container_name, service, status,"
                    " exit_code, ok, started_at, finished_at, recorded_at, duration_s,"
                    " lines_total, predictions, accuracy, parsed, session, kind, command)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                ).lastrowid
            )
        )

    # -- builds ----------------------------------------------------------------------------

    def builds(
        self,
        lab: str | None = None,
        *,
        ok_only: bool = False,
        with_steps: bool = False,
        limit: int = 500,
    ) -> list[BuildRecord]:
        """Builds, oldest first (the most recent `limit` of them)."""
        where, args = _where(lab=lab, ok=1 if ok_only else None)

        def query(conn: sqlite3.Connection) -> list[BuildRecord]:
            rows = conn.execute(
                f"SELECT * FROM (SELECT * FROM builds {where} ORDER BY finished_at DESC, id DESC"
                " LIMIT ?) ORDER BY finished_at, id",
                (*args, limit),
            ).fetchall()
            return [_build(conn, row, with_steps) for row in rows]

        return self._read(query, [])

    def build(self, build_id: int, *, with_steps: bool = True) -> BuildRecord | None:
        def query(conn: sqlite3.Connection) -> BuildRecord | None:
            row = conn.execute("SELECT * FROM builds WHERE id = ?", (build_id,)).fetchone()
            return _build(conn, row, with_steps) if row else None

        return self._read(query, None)

    def latest_build(
        self, lab: str, *, ok_only: bool = True, with_steps: bool = False
    ) -> BuildRecord | None:
        found = self.builds(lab, ok_only=ok_only, with_steps=with_steps, limit=1)
        return found[-1] if found else None

    def build_points(
        self, lab: str | None = None, *, ok_only: bool = False, limit: int = 500
    ) -> list[BuildPoint]:
        """Build time and cache use per build, oldest first: for time and hit-rate charts."""
        return [
            BuildPoint(
                b.id,
                b.lab,
                b.tag,
                b.finished_at,
                b.seconds,
                b.ok,
                b.kind,
                b.steps_cached,
                b.steps_cacheable,
                b.cache_hit_rate,
            )
            for b in self.builds(lab, ok_only=ok_only, limit=limit)
        ]

    def image_sizes(
        self, tag: str | None = None, lab: str | None = None, *, limit: int = 500
    ) -> list[SizePoint]:
        """The image size of every successful build, oldest first (one series per tag)."""
        return [
            SizePoint(b.id, b.tag, b.lab, b.finished_at, b.size_bytes, b.image_id)
            for b in self.builds(lab, ok_only=True, limit=limit)
            if b.tag and b.size_bytes is not None and (tag is None or b.tag == tag)
        ]

    def cold_vs_warm(self, lab: str | None = None, *, limit: int = 500) -> list[ColdWarm]:
        """Per lab: the median time of cold builds and of builds that used the cache."""
        import statistics

        by_lab: dict[str, list[BuildRecord]] = {}
        for b in self.builds(lab, ok_only=True, limit=limit):
            by_lab.setdefault(b.lab, []).append(b)
        out = []
        for name, found in sorted(by_lab.items()):
            cold = [b.seconds for b in found if b.kind == COLD]
            warm = [b.seconds for b in found if b.kind in (PARTIAL, CACHED)]
            out.append(
                ColdWarm(
                    name,
                    len(cold),
                    statistics.median(cold) if cold else None,
                    len(warm),
                    statistics.median(warm) if warm else None,
                )
            )
        return out

    def dockerfile_texts(self, build_a: int, build_b: int) -> tuple[str | None, str | None]:
        a, b = self.build(build_a, with_steps=False), self.build(build_b, with_steps=False)
        return (a.dockerfile_text if a else None, b.dockerfile_text if b else None)

    def dockerfile_diff(self, build_a: int, build_b: int) -> str:
        """The unified diff from build A's Dockerfile to build B's ("" when identical)."""
        a, b = self.build(build_a, with_steps=False), self.build(build_b, with_steps=False)
        if a is None or b is None:
            return ""
        return unified_diff(a.dockerfile_text, b.dockerfile_text, _label(a), _label(b))

    # -- runs ------------------------------------------------------------------------------

    def runs(
        self,
        lab: str | None = None,
        *,
        ok_only: bool = False,
        service: str | None = None,
        kind: str | None = None,
        limit: int = 500,
    ) -> list[RunRecord]:
        """Runs, oldest first (the most recent `limit` of them); `kind` picks RUN, SERVICE,
        GPU or EXEC rows only."""
        where, args = _where(lab=lab, ok=1 if ok_only else None, service=service, kind=kind)

        def query(conn: sqlite3.Connection) -> list[RunRecord]:
            rows = conn.execute(
                f"SELECT * FROM (SELECT * FROM runs {where} ORDER BY recorded_at DESC, id DESC"
                " LIMIT ?) ORDER BY recorded_at, id",
                (*args, limit),
            ).fetchall()
            return [_run(row) for row in rows]

        return self._read(query, [])

    # -- check progress --------------------------------------------------------------------

    def mark_check(
        self, check_id: str, lesson: str, detail: str = "", at: datetime | None = None
    ) -> datetime | None:
        """Note that a check holds now; the time it first held (None when history is off)."""
        when = _iso(at or self._clock())

        def upsert(conn: sqlite3.Connection) -> datetime | None:
            conn.execute(
                "INSERT INTO check_progress (check_id, lesson, first_done_at, last_true_at, detail)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (check_id) DO UPDATE SET"
                " last_true_at = excluded.last_true_at, detail = excluded.detail",
                (check_id, lesson, when, when, detail),
            )
            row = conn.execute(
                "SELECT first_done_at FROM check_progress WHERE check_id = ?", (check_id,)
            ).fetchone()
            return _dt(row[0])

        return self._write(upsert)

    def check_progress(self) -> dict[str, CheckProgress]:
        def query(conn: sqlite3.Connection) -> dict[str, CheckProgress]:
            rows = conn.execute("SELECT * FROM check_progress").fetchall()
            return {
                r["check_id"]: CheckProgress(
                    r["check_id"],
                    r["lesson"],
                    _dt(r["first_done_at"]),
                    _dt(r["last_true_at"]),
                    r["detail"],
                )
                for r in rows
            }

        return self._read(query, {})

    def reset_checks(self, lesson: str | None = None) -> int:
        """Forget ticks (of one lesson, or all); how many were forgotten."""
        where, args = _where(lesson=lesson)
        done = self._write(
            lambda conn: conn.execute(f"DELETE FROM check_progress {where}", args).rowcount
        )
        return done or 0

    def counts(self) -> dict[str, int]:
        """Rows per table, for a status line."""

        def query(conn: sqlite3.Connection) -> dict[str, int]:
            return {
                t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("builds", "runs", "check_progress")
            }

        return self._read(query, {})


# ---------------------------------------------------------------- internals


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise HistoryTooNew(
            f"The history database {path} comes from a newer dashboard (schema {version}, this "
            f"one knows up to {SCHEMA_VERSION}); the dashboard runs without history rather than "
            "change it.",
            path,
        )
    if version == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have migrated while we waited for the lock.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number in range(version, SCHEMA_VERSION):
            for statement in _statements(MIGRATIONS[number]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our transaction first; run one statement at a time instead.
    return [s.strip() for s in script.split(";") if s.strip()]


def _where(**conditions: Any) -> tuple[str, tuple]:
    used = {k: v for k, v in conditions.items() if v is not None}
    if not used:
        return "", ()
    return "WHERE " + " AND ".join(f"{k} = ?" for k in used), tuple(used.values())


def _label(b: BuildRecord) -> str:
    return f"build #{b.id} ({b.lab}, {b.finished_at.astimezone():%Y-%m-%d %H:%M:%S})"


def _build(conn: sqlite3.Connection, row: sqlite3.Row, with_steps: bool) -> BuildRecord:
    steps: tuple[StepRecord, ...] = ()
    if with_steps:
        found = conn.execute(
            "SELECT * FROM build_steps WHERE build_id = ? ORDER BY idx", (row["id"],)
        ).fetchall()
        steps = tuple(
            StepRecord(
                s["idx"],
                s["stage"],
                s["stage_name"],
                s["instruction"],
                s["status"],
                bool(s["cached"]),
                s["seconds"],
                s["layer_id"],
                s["miss_reason"],
            )
            for s in found
        )
    return BuildRecord(
        id=row["id"],
        lab=row["lab"],
        tag=row["tag"],
        tags=tuple(json.loads(row["tags"] or "[]")),
        command=row["command"] or "",
        dockerfile_path=row["dockerfile_path"],
        dockerfile_sha256=row["dockerfile_sha256"],
        dockerfile_text=row["dockerfile_text"],
        started_at=_dt(row["started_at"]),
        finished_at=_dt(row["finished_at"]),
        seconds=row["seconds"],
        ok=bool(row["ok"]),
        image_id=row["image_id"],
        size_bytes=row["size_bytes"],
        steps_total=row["steps_total"],
        steps_cacheable=row["steps_cacheable"],
        steps_cached=row["steps_cached"],
        cache_hit_rate=row["cache_hit_rate"],
        error=row["error"],
        session=row["session"],
        steps=steps,
    )


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=row["id"],
        lab=row["lab"],
        image=row["image"],
        container_id=row["container_id"],
        container_name=row["container_name"],
        service=row["service"],
        status=row["status"],
        exit_code=row["exit_code"],
        ok=bool(row["ok"]),
        started_at=_dt(row["started_at"]),
        finished_at=_dt(row["finished_at"]),
        recorded_at=_dt(row["recorded_at"]),
        duration_s=row["duration_s"],
        lines_total=row["lines_total"],
        predictions=tuple(json.loads(row["predictions"] or "[]")),
        accuracy=row["accuracy"],
        session=row["session"],
        kind=row["kind"],
        command=row["command"],
    )


def move_aside(path: Path | str) -> Path:
    """Rename a damaged database (and its WAL files) to `<name>.broken-<time>`; the new name.

    For a "start a new history" button after `HistoryCorrupt`: the old file is kept, not lost.
    """
    source = Path(path)
    stamp = _now().strftime("%Y%m%dT%H%M%S")
    target = source.with_name(f"{source.name}.broken-{stamp}")
    source.rename(target)
    for suffix in ("-wal", "-shm"):
        extra = source.with_name(source.name + suffix)
        if extra.exists():
            extra.rename(target.with_name(target.name + suffix))
    return target
