"""The job registry behind the dashboard's pages: dedup, bounded memory, errors as messages."""

from __future__ import annotations

import threading

import pytest

from dashboard.work.jobs import JobKey, JobRegistry, Status, describe_error

WAIT = 10  # seconds; every wait below normally ends in milliseconds


def wait_done(registry: JobRegistry, key) -> None:
    job = registry.get(key)
    assert job is not None
    assert job.wait(WAIT), f"job {key} did not finish"


def test_a_second_start_joins_the_running_job():
    registry = JobRegistry()
    release = threading.Event()
    calls = []

    def target(job):
        calls.append(job.number)
        release.wait(WAIT)
        return "built"

    first, started_first = registry.start(JobKey("build", "iris"), target)
    second, started_second = registry.start(JobKey("build", "iris"), target)
    assert started_first and not started_second
    assert second is first
    assert registry.snapshot(JobKey("build", "iris")).running
    release.set()
    wait_done(registry, JobKey("build", "iris"))
    assert calls == [first.number]
    snap = registry.snapshot(JobKey("build", "iris"))
    assert snap.status == Status.DONE and snap.ok and snap.result == "built"


def test_many_sessions_clicking_at_once_start_one_job():
    registry = JobRegistry()
    release = threading.Event()
    runs = []
    barrier = threading.Barrier(8)
    results = []

    def target(job):
        runs.append(job.number)
        release.wait(WAIT)

    def click():
        barrier.wait()
        results.append(registry.start(JobKey("run", "iris"), target))

    threads = [threading.Thread(target=click) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    release.set()
    wait_done(registry, JobKey("run", "iris"))
    assert len(runs) == 1
    assert sum(started for _, started in results) == 1
    assert len({id(job) for job, _ in results}) == 1


def test_a_finished_job_is_replaced_and_kept_as_previous():
    registry = JobRegistry()
    registry.start("k", lambda job: 1)
    wait_done(registry, "k")
    job, started = registry.start("k", lambda job: 2)
    assert started
    wait_done(registry, "k")
    assert registry.snapshot("k").result == 2
    assert registry.previous("k").result == 1
    assert registry.snapshot("k").number > registry.previous("k").number


def test_events_are_bounded_and_the_dropped_ones_counted():
    registry = JobRegistry(max_events=50)

    def target(job):
        for i in range(1000):
            job.emit("line", f"line {i}")

    registry.start("flood", target)
    wait_done(registry, "flood")
    snap = registry.snapshot("flood")
    assert len(snap.events) == 50
    assert snap.events_total == 1000 and snap.dropped == 950
    assert snap.lines()[-1] == "line 999" and snap.lines()[0] == "line 950"
    assert snap.events[-1].seq == 1000


def test_an_error_is_captured_as_the_engines_sentence():
    class DaemonUnavailable(Exception):  # the engine's shape: message + hint
        def __init__(self):
            super().__init__("long text")
            self.message = "No Docker daemon socket at unix:///nope."
            self.hint = "Start Docker."

    def target(job):
        job.emit("line", "before")
        raise DaemonUnavailable()

    registry = JobRegistry()
    registry.start("fails", target)
    wait_done(registry, "fails")
    snap = registry.snapshot("fails")
    assert snap.status == Status.FAILED and not snap.ok and snap.finished
    assert snap.error == "No Docker daemon socket at unix:///nope. Start Docker."
    assert snap.error_type == "DaemonUnavailable"
    assert "Traceback" not in snap.error
    assert snap.lines() == ["before"]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RuntimeError("debootstrap failed"), "debootstrap failed"),
        (KeyError("No lab named 'x'"), "No lab named 'x'"),
        (ValueError(), "ValueError"),
    ],
)
def test_describe_error(exc, expected):
    assert describe_error(exc) == expected


def test_describe_error_uses_docker_explanation():
    class APIError(Exception):
        explanation = b"conflict: unable to remove repository reference"

    assert describe_error(APIError("500 Server Error")) == (
        "conflict: unable to remove repository reference"
    )


def test_state_progress_and_cancel():
    registry = JobRegistry()
    stepped = threading.Event()

    def target(job):
        job.update(steps=("FROM",))
        job.progress(0.5, "step 1/2")
        stepped.set()
        while not job.cancelled:
            job.cancel_event.wait(0.01)
        return "stopped early"

    registry.start("c", target)
    assert stepped.wait(WAIT)
    snap = registry.snapshot("c")
    assert snap.state == {"steps": ("FROM",)} and snap.progress == 0.5 and snap.detail == "step 1/2"
    assert registry.cancel("c")
    wait_done(registry, "c")
    assert registry.snapshot("c").status == Status.CANCELLED
    assert not registry.cancel("c")  # nothing left to cancel


def test_snapshots_do_not_change_under_the_reader():
    registry = JobRegistry()
    go = threading.Event()

    def target(job):
        job.emit("line", "a")
        job.update(n=1)
        go.wait(WAIT)
        job.emit("line", "b")
        job.update(n=2)

    registry.start("s", target)
    while registry.snapshot("s").events_total < 1:
        pass
    early = registry.snapshot("s")
    go.set()
    wait_done(registry, "s")
    assert early.lines() == ["a"] and early.state == {"n": 1} and early.running
    assert registry.snapshot("s").lines() == ["a", "b"]


def test_finished_jobs_beyond_the_cap_are_forgotten_running_ones_kept():
    registry = JobRegistry(max_jobs=3)
    hold = threading.Event()
    registry.start("long", lambda job: hold.wait(WAIT))
    for i in range(6):
        registry.start(f"quick-{i}", lambda job: None)
        wait_done(registry, f"quick-{i}")
    assert len(registry) <= 3
    assert registry.get("long") is not None and registry.snapshot("long").running
    assert registry.get("quick-5") is not None
    assert registry.get("quick-0") is None
    hold.set()
    wait_done(registry, "long")
    assert [s.key for s in registry.running()] == []


def test_generation_counts_finished_jobs_before_they_show_as_finished():
    registry = JobRegistry()
    seen = []
    release = threading.Event()

    def target(job):
        release.wait(WAIT)

    assert registry.generation == 0
    registry.start("a", target)
    assert registry.generation == 0  # running jobs do not count
    release.set()
    wait_done(registry, "a")
    seen.append(registry.generation)
    registry.start("b", lambda job: 1 / 0)
    wait_done(registry, "b")
    assert seen == [1] and registry.generation == 2  # a failure counts too


def test_job_keys_are_records_and_a_kind_alone_is_a_key():
    key = JobKey("build", "iris")
    assert JobKey.of(JobKey("build", "iris")) == key == JobKey.of(key)
    assert JobKey.of("cleanup") == JobKey("cleanup")
    with pytest.raises(TypeError):
        JobKey.of(("build", "iris"))  # no tuples decoded anywhere
    ada = key.for_student("ada")
    assert (ada.kind, ada.subject, ada.student) == ("build", "iris", "ada")
    assert ada != key and ada.unscoped == key
    assert (str(ada), ada.slug, key.slug) == ("build iris", "ada-build-iris", "build-iris")

    registry = JobRegistry()
    job, _ = registry.start(JobKey("build", "iris"), lambda job: None)
    job.wait(5)
    assert job.key == key and job.label == "build iris"
    assert registry.snapshot(key).key == key
    assert registry.snapshot(ada) is None  # a student's job is another key
