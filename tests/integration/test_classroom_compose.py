"""Classroom mode, Lesson 4 on the real daemon: two students run the wine Compose lab at once.

Goes through the dashboard's job targets (dashboard/work/tasks.py) in one JobRegistry, each job's
worker acting for its student as `state.start` arranges it (`state._as_owner`; the builds wait
in one build queue), without a Streamlit page. Each student gets a Compose project of their own
(`<DASHBOARD_COMPOSE_PROJECT>-<slug>`) whose containers, volume, network and images carry their
student label; one student's reset, or `docker compose down`, leaves the other's alone.

The trainer waits TRAIN_DELAY_SECONDS=2 and the predictor polls every POLL_SECONDS=1, as in
tests/integration/test_compose.py.
"""

from __future__ import annotations

import os

import docker
import pytest

from dashboard.engine.base import labels, owner
from dashboard.engine.ops import cleanup, compose
from dashboard.ui.state import _as_owner
from dashboard.work import tasks
from dashboard.work.jobs import JobKey, JobRegistry, JobSnapshot
from dashboard.work.slots import SlotQueue

pytestmark = pytest.mark.docker

ENV = {"POLL_SECONDS": "1", "TRAIN_DELAY_SECONDS": "2"}
SERVICES = ("predictor", "trainer")
JOB_GUARD = 900  # seconds: a hung job fails the test instead of hanging it


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory):
    """One data folder for this module's tests (the Compose override files go there)."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def classroom(monkeypatch, data_folder, session_id, docker_client):
    """Two students of this run (ada-<suffix>, bob-<suffix>) with their owners; whatever
    carries either student's label is removed at the end."""
    monkeypatch.setenv("DASHBOARD_CLASSROOM", "1")
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(data_folder))
    monkeypatch.setenv("DASHBOARD_COMPOSE_PROJECT", f"wine-{session_id}".lower())
    suffix = session_id.lower().removeprefix("test-")
    students = {name: owner.for_student(f"{name}-{suffix}") for name in ("ada", "bob")}
    yield students
    for who in students.values():
        cleanup.reset(docker_client, student=who.student)


def finish(job) -> JobSnapshot:
    assert job.wait(JOB_GUARD), f"{job.label} did not finish"
    snap = job.snapshot()
    assert snap.ok, f"{snap.label}: {snap.error_type}: {snap.error}"
    return snap


def project_of(client, who: owner.Owner) -> str:
    """The Compose project the dashboard gives `who` (checked against what it should be)."""
    with owner.acting_for(who):
        name = tasks.compose_project(client).project
    base = os.environ["DASHBOARD_COMPOSE_PROJECT"]
    assert name == f"{base}-{who.student}"
    return name


def run_lab(registry: JobRegistry, students: dict[str, owner.Owner]) -> dict:
    """Both students build (one at a time, through the build queue) and then run the pair at
    the same time; returns each student's ComposeOutcome."""
    queue = SlotQueue(1)
    builds = {
        name: registry.start(
            JobKey("compose-build", "wine", who.student),
            _as_owner(tasks.compose_build(ENV), who, queue),
        )
        for name, who in students.items()
    }
    assert all(started for _, started in builds.values())
    for job, _ in builds.values():
        build = finish(job)
        assert build.state["queue_position"] == 0  # it went through the queue and was admitted
        assert build.result.build.ok, build.result.build.error
    assert queue.entries() == []

    ups = {
        name: registry.start(
            JobKey("compose-up", "wine", who.student),
            _as_owner(tasks.compose_up(ENV, timeout=300), who, None),
        )
        for name, who in students.items()
    }
    assert all(started for _, started in ups.values())
    # Both run at once: neither key joined the other's job.
    assert ups["ada"][0] is not ups["bob"][0]
    return {name: finish(job).result for name, (job, _) in ups.items()}


def daemon_objects(client: docker.DockerClient, project: str) -> dict[str, dict[str, dict]]:
    """What the daemon has of one Compose project, asked by Compose's own labels and image
    names (not through the code under test): kind -> id -> labels."""
    selector = {"label": [f"{compose.PROJECT_LABEL}={project}"]}
    found: dict[str, dict[str, dict]] = {
        "container": {
            c.id: dict(c.labels) for c in client.containers.list(all=True, filters=selector)
        },
        "volume": {
            v.id: dict(v.attrs["Labels"] or {}) for v in client.volumes.list(filters=selector)
        },
        "network": {
            n.id: dict(n.attrs["Labels"] or {}) for n in client.networks.list(filters=selector)
        },
        "image": {},
    }
    for service in SERVICES:
        try:
            image = client.images.get(f"{project}-{service}")
        except docker.errors.ImageNotFound:
            continue
        found["image"][image.id] = dict(image.labels or {})
    return found


def assert_owned(found: dict[str, dict[str, dict]], who: owner.Owner) -> None:
    """Two containers, one volume, one network and two images, all with the student's label;
    everything but the images also with the student's session."""
    counts = {kind: len(objs) for kind, objs in found.items()}
    assert counts == {"container": 2, "volume": 1, "network": 1, "image": 2}, counts
    for kind, objs in found.items():
        for ident, lbls in objs.items():
            assert lbls.get(labels.MANAGED) == "true", (kind, ident)
            assert lbls.get(labels.STUDENT) == who.student, (kind, ident, lbls)
            if kind != "image":
                assert lbls.get(labels.SESSION) == who.session, (kind, ident, lbls)


def ids(found: dict[str, dict[str, dict]]) -> set[tuple[str, str]]:
    return {(kind, ident) for kind, objs in found.items() for ident in objs}


def volume_files(client, who: owner.Owner) -> list[str]:
    with owner.acting_for(who):
        project = tasks.compose_project(client)
    return [f.path for f in project.volume_files()]


def assert_predicted(outcome, project: str) -> None:
    assert not outcome.timed_out
    assert {s: (st.status, st.exit_code) for s, st in outcome.states.items()} == {
        "predictor": ("exited", 0),
        "trainer": ("exited", 0),
    }
    assert [p.index for p in outcome.parsed.predictions] == [0, 70, 140]
    assert all(p.correct for p in outcome.parsed.predictions)
    assert outcome.parsed.model_loaded_from == f"/shared/{compose.MODEL_FILE}"
    assert any("Wine #0: predicted" in line.text for line in outcome.logs["predictor"])
    assert [f.path for f in outcome.files] == [compose.MODEL_FILE]
    assert f" -p {project} " in outcome.command


def test_two_students_run_the_lab_at_once_and_one_reset_spares_the_other(docker_client, classroom):
    client = docker_client
    ada, bob = classroom["ada"], classroom["bob"]
    projects = {name: project_of(client, who) for name, who in classroom.items()}
    assert projects["ada"] != projects["bob"]
    for name, who in classroom.items():
        assert projects[name].endswith(f"-{who.student}")

    outcomes = run_lab(JobRegistry(), classroom)
    found = {}
    for name, who in classroom.items():
        assert_predicted(outcomes[name], projects[name])
        found[name] = daemon_objects(client, projects[name])
        assert_owned(found[name], who)
        volume = client.volumes.get(f"{projects[name]}_shared")
        assert ("volume", volume.id) in ids(found[name])
        # The containers ran the images of their own project.
        for c in client.containers.list(
            all=True, filters={"label": [f"{compose.PROJECT_LABEL}={projects[name]}"]}
        ):
            assert c.image.id in found[name]["image"], c.name
    assert not ids(found["ada"]) & ids(found["bob"])

    # Ada's own "remove everything" (a student's reset): the job acts for her. The guard keeps
    # an owner lost on the way to the worker thread from resetting everyone's objects.
    reset = tasks.reset(None, include_images=True)

    def ada_reset(job):
        assert owner.current() == ada, owner.current()
        return reset(job)

    job, _ = JobRegistry().start(
        JobKey("cleanup", student=ada.student), _as_owner(ada_reset, ada, None)
    )
    report = finish(job).result
    assert report.ok, report.summary
    assert {(r.kind, r.id) for r in report.removed} == ids(found["ada"])

    gone = daemon_objects(client, projects["ada"])
    assert ids(gone) == set(), gone
    assert cleanup.list_ours(client, student=ada.student).all == ()
    assert volume_files(client, ada) == []

    # Bob's project is exactly what it was, and his volume still holds his model.
    assert daemon_objects(client, projects["bob"]) == found["bob"]
    assert volume_files(client, bob) == [compose.MODEL_FILE]


def test_compose_down_of_one_student_leaves_the_others_lab(docker_client, classroom):
    client = docker_client
    ada, bob = classroom["ada"], classroom["bob"]
    projects = {name: project_of(client, who) for name, who in classroom.items()}
    registry = JobRegistry()
    outcomes = run_lab(registry, classroom)
    before = {}
    for name, who in classroom.items():
        assert_predicted(outcomes[name], projects[name])
        before[name] = daemon_objects(client, projects[name])
        assert_owned(before[name], who)

    job, _ = registry.start(
        JobKey("compose-down", "wine", bob.student), _as_owner(tasks.compose_down(), bob, None)
    )
    result = finish(job).result
    assert result.returncode == 0
    assert f"-p {projects['bob']} " in result.command.display

    after = daemon_objects(client, projects["bob"])
    # `down -v` removes the containers, the volume and the network; images stay (no --rmi).
    assert {kind: list(objs) for kind, objs in after.items() if kind != "image"} == {
        "container": [],
        "volume": [],
        "network": [],
    }
    assert after["image"] == before["bob"]["image"]
    assert daemon_objects(client, projects["ada"]) == before["ada"]
    assert volume_files(client, ada) == [compose.MODEL_FILE]
    assert volume_files(client, bob) == []
