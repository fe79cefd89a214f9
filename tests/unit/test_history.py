"""The history database: recording, the compare-over-time queries, migrations and bad files.

Build results come from classic-builder streams recorded on this machine's daemon
(tests/recordings/builds) run through the real stream parser; run results from recorded lab
output (tests/recordings/runs). Every test uses its own database file under tmp_path.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dashboard.engine.base.paths import labs_dir
from dashboard.engine.catalog.lab_output import parse_lab_output
from dashboard.engine.ops.build_stream import BuildStep, ClassicStreamParser
from dashboard.engine.ops.builds import BuildResult
from dashboard.engine.ops.compose import ServiceState
from dashboard.engine.ops.runs import RunResult
from dashboard.engine.progress import history as hist
from dashboard.engine.progress.history import History

RECORDINGS = Path(__file__).parents[1] / "recordings"
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def recorded_build(name: str, *, lab: str = "iris", seconds: float = 1.0, size: int = 444_000_000):
    """A BuildResult made from a recorded stream, as builds.stream_build makes it."""
    parser = ClassicStreamParser(clock=iter(range(100_000)).__next__)
    for line in (RECORDINGS / "builds" / f"{name}.jsonl").read_text().splitlines():
        list(parser.feed(json.loads(line)))
    list(parser.finish())
    ok = parser.error is None
    return BuildResult(
        lab=lab,
        ok=ok,
        command="docker build -t iris-model:1.0 -f labs/iris/Dockerfile labs/iris",
        image_id=parser.image_id if ok else None,
        tags=["iris-model:1.0"] if ok else [],
        size_bytes=size if ok else 0,
        steps=parser.steps,
        seconds=seconds,
        error=parser.error,
        dockerfile=labs_dir() / "iris" / "Dockerfile",
        dockerfile_text=(labs_dir() / "iris" / "Dockerfile").read_text(),
    )


def recorded_run(name: str, *, lab: str, image: str, exit_code: int = 0) -> RunResult:
    lines = tuple((RECORDINGS / "runs" / name).read_text().splitlines())
    return RunResult(
        container_id="c" * 64,
        name=f"{lab}-run",
        image=image,
        lab=lab,
        status="exited",
        exit_code=exit_code,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=2.5),
        duration_s=2.5,
        lines=lines,
        lines_total=len(lines),
        truncated=False,
        cli=f"docker run {image}",
    )


class Clock:
    """A clock the test moves: one minute per reading."""

    def __init__(self):
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def db(tmp_path):
    with History.open(tmp_path / "history.sqlite3", clock=Clock()) as h:
        assert h.enabled, h.disabled_reason
        yield h


IRIS_DOCKERFILE = labs_dir() / "iris" / "Dockerfile"


# ---------------------------------------------------------------- recording builds


def test_a_new_file_is_created_in_wal_mode_at_the_latest_schema(tmp_path):
    path = tmp_path / "sub" / "history.sqlite3"
    with History.open(path) as h:
        assert h.enabled and h.disabled_reason is None
        assert h.schema_version == hist.SCHEMA_VERSION == len(hist.MIGRATIONS)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == hist.SCHEMA_VERSION


def test_builds_keep_steps_cache_use_and_the_dockerfile(db):
    cold = db.record_build(recorded_build("iris-cold", seconds=13.2), IRIS_DOCKERFILE)
    warm = db.record_build(recorded_build("iris-warm", seconds=0.3), IRIS_DOCKERFILE)
    edited = db.record_build(recorded_build("iris-edited", seconds=0.9), IRIS_DOCKERFILE)
    assert [cold, warm, edited] == [1, 2, 3]

    builds = db.builds("iris", with_steps=True)
    assert [b.kind for b in builds] == [hist.COLD, hist.CACHED, hist.PARTIAL]
    # iris has 7 steps; FROM is not counted as cacheable, so 6 could come from the cache.
    assert [(b.steps_total, b.steps_cacheable, b.steps_cached) for b in builds] == [
        (7, 6, 0),
        (7, 6, 6),
        (7, 6, 4),
    ]
    assert [b.cache_hit_rate for b in builds] == [0.0, 1.0, pytest.approx(4 / 6)]
    edited_steps = builds[2].steps
    assert [s.cached for s in edited_steps] == [True] * 5 + [False] * 2
    assert edited_steps[5].instruction == "COPY main.py ."
    assert edited_steps[5].status == "executed"
    assert all(s.layer_id for s in edited_steps)

    text = IRIS_DOCKERFILE.read_text()
    b = builds[0]
    assert b.dockerfile_text == text
    assert b.dockerfile_sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert b.dockerfile_path == str(IRIS_DOCKERFILE)
    assert b.tag == "iris-model:1.0" and b.tags == ("iris-model:1.0",)
    assert b.image_id.startswith("sha256:") and b.size_bytes == 444_000_000
    assert b.finished_at - b.started_at == timedelta(seconds=13.2)
    assert b.session  # the process's session label


def test_the_label_step_our_labels_add_is_not_counted(db):
    result = recorded_build("iris-warm")
    result.steps.append(
        BuildStep(8, 7, "LABEL io.dockerml.dashboard.lab=iris", status="executed", synthetic=True)
    )
    build = db.build(db.record_build(result, IRIS_DOCKERFILE))
    assert (build.steps_total, build.steps_cached, build.kind) == (7, 6, hist.CACHED)
    assert len(build.steps) == 7


def test_a_failed_build_is_kept_with_its_error(db):
    build_id = db.record_build(recorded_build("failing-run"), dockerfile_text="FROM x\nRUN false\n")
    b = db.build(build_id)
    assert not b.ok and b.kind == hist.FAILED
    assert b.size_bytes is None and b.image_id is None
    assert "returned a non-zero code" in b.error
    assert any(s.status == "failed" for s in b.steps)
    assert db.builds(ok_only=True) == []
    assert db.image_sizes() == []


def test_a_missing_dockerfile_is_recorded_without_text(db, tmp_path):
    b = db.build(db.record_build(recorded_build("iris-warm"), tmp_path / "gone" / "Dockerfile"))
    assert b.dockerfile_text is None and b.dockerfile_sha256 is None


def test_compare_over_time_queries(db):
    multi = recorded_build("multistage-warm", lab="iris-multistage", size=247_000_000)
    multi.tags = ["iris-model:2.0"]
    db.record_build(recorded_build("iris-cold", seconds=13.0, size=444_000_000), IRIS_DOCKERFILE)
    db.record_build(recorded_build("iris-cold", seconds=15.0, size=445_000_000), IRIS_DOCKERFILE)
    db.record_build(recorded_build("iris-warm", seconds=0.2), IRIS_DOCKERFILE)
    db.record_build(recorded_build("iris-edited", seconds=0.6), IRIS_DOCKERFILE)
    db.record_build(multi, dockerfile_text="FROM a AS b\n")
    db.record_build(recorded_build("failing-run", seconds=3.0), dockerfile_text="FROM x\n")

    sizes = db.image_sizes(tag="iris-model:1.0")
    assert [p.size_bytes for p in sizes] == [444_000_000, 445_000_000, 444_000_000, 444_000_000]
    assert [p.finished_at for p in sizes] == sorted(p.finished_at for p in sizes)
    assert {p.tag for p in db.image_sizes()} == {"iris-model:1.0", "iris-model:2.0"}

    points = db.build_points("iris")
    assert [(p.kind, p.seconds) for p in points] == [
        (hist.COLD, 13.0),
        (hist.COLD, 15.0),
        (hist.CACHED, 0.2),
        (hist.PARTIAL, 0.6),
        (hist.FAILED, 3.0),  # the failing recording is filed under iris too
    ]
    assert len(db.build_points("iris", ok_only=True)) == 4

    (iris,) = db.cold_vs_warm("iris")
    assert (iris.cold_count, iris.cold_median_s) == (2, 14.0)
    assert (iris.warm_count, iris.warm_median_s) == (2, pytest.approx(0.4))
    assert iris.speedup == pytest.approx(35.0)
    assert [c.lab for c in db.cold_vs_warm()] == ["iris", "iris-multistage"]


def test_dockerfile_diff_between_two_builds(db, tmp_path):
    before = IRIS_DOCKERFILE.read_text()
    after = before.replace("COPY main.py .", "COPY . .")
    a = db.record_build(recorded_build("iris-cold"), IRIS_DOCKERFILE)
    b = db.record_build(recorded_build("iris-edited"), dockerfile_text=after)
    assert db.dockerfile_texts(a, b) == (before, after)
    diff = db.dockerfile_diff(a, b)
    assert f"--- build #{a} (iris, " in diff and f"+++ build #{b} (iris, " in diff
    assert "-COPY main.py .\n" in diff and "+COPY . .\n" in diff
    assert db.dockerfile_diff(a, a) == ""
    assert db.dockerfile_diff(a, 999) == ""


def test_unified_diff_helper_ends_every_line():
    diff = hist.unified_diff("FROM a\nRUN x", "FROM a\nRUN y", "old", "new")
    assert diff.splitlines()[:2] == ["--- old", "+++ new"]
    assert "-RUN x\n" in diff and "+RUN y\n" in diff
    assert hist.unified_diff("same\n", "same\n") == ""


def test_latest_build_and_limits(db):
    for _ in range(5):
        db.record_build(recorded_build("iris-warm"), IRIS_DOCKERFILE)
    db.record_build(recorded_build("failing-run"), IRIS_DOCKERFILE)
    assert db.latest_build("iris").id == 5
    assert db.latest_build("iris", ok_only=False).id == 6
    assert [b.id for b in db.builds("iris", limit=2)] == [5, 6]  # the most recent, oldest first
    assert db.latest_build("wine") is None


# ---------------------------------------------------------------- recording runs


def test_runs_keep_predictions_and_accuracy(db):
    iris = recorded_run("iris.txt", lab="iris", image="iris-model:1.0")
    run_id = db.record_run(iris, parse_lab_output(iris.lines))
    (r,) = db.runs("iris")
    assert r.id == run_id and r.ok and r.exit_code == 0 and r.status == "exited"
    assert r.accuracy == 1.0
    assert r.predictions == ({"label": "setosa", "actual": None, "sample": None, "index": None},)
    assert r.duration_s == 2.5 and r.started_at == T0
    assert r.container_name == "iris-run" and r.image == "iris-model:1.0"

    # Without `parsed`, the output is parsed for us.
    wine = recorded_run("wine-predict.txt", lab="wine", image="wine-predictor", exit_code=1)
    db.record_run(wine)
    (w,) = db.runs("wine")
    assert not w.ok
    assert [p["label"] for p in w.predictions] == ["class_0", "class_1", "class_2"]
    assert w.predictions[0]["actual"] == "class_0" and w.predictions[0]["index"] == 0
    assert db.runs(ok_only=True) == [r]


def test_a_compose_service_run_is_recorded_from_its_state_and_logs(db):
    lines = (RECORDINGS / "runs" / "wine-predict.txt").read_text().splitlines()
    state = ServiceState(
        service="predictor",
        container_id="p" * 64,
        container_name="wine-predictor-1",
        status="exited",
        exit_code=0,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=31),
    )
    db.record_service_run(state, [f"predictor-1  | {line}" for line in lines])
    (r,) = db.runs("wine", service="predictor")
    assert r.ok and r.duration_s == 31 and len(r.predictions) == 3


# ---------------------------------------------------------------- check progress


def test_a_ticked_check_keeps_its_first_time(db):
    first = db.mark_check("iris-image", "lesson1", "iris-model:1.0 exists (444 MB)")
    again = db.mark_check("iris-image", "lesson1", "iris-model:1.0 exists (445 MB)")
    assert first == again
    progress = db.check_progress()["iris-image"]
    assert progress.first_done_at == first and progress.last_true_at > first
    assert progress.detail == "iris-model:1.0 exists (445 MB)"
    db.mark_check("wine-predicted", "compose")
    assert db.reset_checks("lesson1") == 1
    assert set(db.check_progress()) == {"wine-predicted"}
    assert db.counts() == {"builds": 0, "runs": 0, "check_progress": 1}


# ---------------------------------------------------------------- schema versions


def test_an_older_file_is_upgraded_in_place(tmp_path):
    path = tmp_path / "history.sqlite3"
    old = sqlite3.connect(path)
    for statement in hist._statements(hist.MIGRATIONS[0]):
        old.execute(statement)
    old.execute(
        "INSERT INTO builds (lab, started_at, finished_at, seconds, ok, steps_total,"
        " steps_cacheable, steps_cached) VALUES ('iris', '2026-01-01T00:00:00+00:00',"
        " '2026-01-01T00:00:13+00:00', 13.0, 1, 7, 6, 0)"
    )
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()

    with History.open(path) as h:
        assert h.enabled, h.disabled_reason
        assert h.schema_version == hist.SCHEMA_VERSION
        (kept,) = h.builds()
        assert kept.lab == "iris" and kept.seconds == 13.0 and kept.kind == hist.COLD
        assert h.mark_check("iris-image", "lesson1") is not None  # the table of version 2


def test_runs_of_a_version_2_file_get_their_kind(tmp_path):
    path = tmp_path / "history.sqlite3"
    old = sqlite3.connect(path)
    for script in hist.MIGRATIONS[:2]:
        for statement in hist._statements(script):
            old.execute(statement)
    for lab, service in (("iris", None), ("wine", "trainer"), ("gpu", None)):
        old.execute(
            "INSERT INTO runs (lab, service, status, ok, recorded_at) VALUES (?, ?, 'exited', 1,"
            " '2026-01-01T00:00:00+00:00')",
            (lab, service),
        )
    old.execute("PRAGMA user_version = 2")
    old.commit()
    old.close()

    with History.open(path) as h:
        assert h.schema_version == hist.SCHEMA_VERSION
        assert [(r.lab, r.kind, r.command) for r in h.runs()] == [
            ("iris", hist.RUN, None),
            ("wine", hist.SERVICE, None),
            ("gpu", hist.GPU, None),
        ]


def test_a_file_from_a_newer_dashboard_is_left_alone(tmp_path):
    path = tmp_path / "history.sqlite3"
    newer = sqlite3.connect(path)
    newer.execute(f"PRAGMA user_version = {hist.SCHEMA_VERSION + 1}")
    newer.close()
    h = History.open(path)
    assert not h.enabled and isinstance(h.error, hist.HistoryTooNew)
    assert "newer dashboard" in h.disabled_reason
    assert h.record_build(recorded_build("iris-warm"), IRIS_DOCKERFILE) is None
    with pytest.raises(hist.HistoryTooNew):
        History.connect(path)


# ---------------------------------------------------------------- damaged, locked, unwritable


def test_a_damaged_file_disables_history_with_a_clear_reason(tmp_path):
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"this is not a database, just some bytes " * 200)
    h = History.open(path)
    assert not h.enabled
    assert isinstance(h.error, hist.HistoryCorrupt)
    assert str(path) in h.disabled_reason and "damaged" in h.disabled_reason
    # Writes are no-ops, queries answer empty.
    assert h.record_build(recorded_build("iris-warm"), IRIS_DOCKERFILE) is None
    assert h.record_run(recorded_run("iris.txt", lab="iris", image="i")) is None
    assert h.mark_check("iris-image", "lesson1") is None
    assert h.builds() == [] and h.runs() == [] and h.check_progress() == {}
    assert h.dockerfile_diff(1, 2) == "" and h.schema_version is None
    with pytest.raises(hist.HistoryCorrupt):
        History.connect(path)

    # "Start a new history": the damaged file is kept under another name.
    moved = hist.move_aside(path)
    assert moved.exists() and not path.exists() and moved.name.startswith("history.sqlite3.broken")
    assert History.open(path).enabled


def test_a_file_locked_by_another_program_disables_history_at_open(tmp_path):
    path = tmp_path / "history.sqlite3"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN EXCLUSIVE")  # a rollback-journal file, held exclusively
    try:
        h = History.open(path, busy_timeout=0.2)
        assert not h.enabled and isinstance(h.error, hist.HistoryLocked)
        assert "locked" in h.disabled_reason
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert History.open(path).enabled


def test_a_write_that_meets_a_lock_is_dropped_and_history_stays_on(tmp_path):
    path = tmp_path / "history.sqlite3"
    h = History.open(path, busy_timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the WAL write lock
    try:
        assert h.record_build(recorded_build("iris-warm"), IRIS_DOCKERFILE) is None
        assert "locked" in h.last_error
        assert h.enabled  # a lock is passing: history stays on
        assert h.builds() == []  # readers are not blocked in WAL mode
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert h.record_build(recorded_build("iris-warm"), IRIS_DOCKERFILE) == 1
    assert h.last_error is None
    h.close()


def test_an_unwritable_location_disables_history(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    h = History.open(blocker / "history.sqlite3")
    assert not h.enabled and isinstance(h.error, hist.HistoryUnavailable)
    assert "without history" in h.disabled_reason


def test_the_path_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(hist.ENV_VAR, str(tmp_path / "elsewhere.db"))
    assert hist.default_path() == tmp_path / "elsewhere.db"
    with History.open() as h:
        assert h.path == tmp_path / "elsewhere.db" and h.enabled
    monkeypatch.delenv(hist.ENV_VAR)
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path / "data"))
    assert hist.default_path() == tmp_path / "data" / hist.FILE_NAME


def test_a_switched_off_history_records_nothing():
    h = History.disabled("History is switched off.")
    assert not h.enabled and h.disabled_reason == "History is switched off."
    assert h.record_build(recorded_build("iris-warm")) is None
    assert h.build_points() == [] and h.cold_vs_warm() == [] and h.reset_checks() == 0


# ---------------------------------------------------------------- threads


def test_builds_recorded_from_many_threads_are_all_kept(tmp_path):
    h = History.open(tmp_path / "history.sqlite3")
    result = recorded_build("iris-edited")
    ids: list[int | None] = []
    errors: list[BaseException] = []

    def worker():
        try:
            for _ in range(25):
                ids.append(h.record_build(result, IRIS_DOCKERFILE))
                h.builds("iris", limit=3)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and h.last_error is None
    assert len(ids) == 200 and None not in ids and len(set(ids)) == 200
    assert h.counts()["builds"] == 200
    assert all(len(b.steps) == 7 for b in h.builds(with_steps=True, limit=1000))
    h.close()


def test_two_processes_worth_of_connections_share_the_file(tmp_path):
    path = tmp_path / "history.sqlite3"
    app, cli = History.open(path), History.open(path)
    app.record_build(recorded_build("iris-cold"), IRIS_DOCKERFILE)
    cli.record_build(recorded_build("iris-warm"), IRIS_DOCKERFILE)
    assert [b.kind for b in app.builds()] == [hist.COLD, hist.CACHED]
    app.close()
    cli.close()
