"""The build cap's naming and sentence: each student's cgroup below the classroom's, as a
cgroupfs path or a systemd slice, and what a step killed there is said as."""

from __future__ import annotations

from dashboard import settings
from dashboard.engine.base import owner
from dashboard.engine.ops import builds

KILLED = 'process "/bin/sh -c pip install -r requirements.txt" did not complete: exit code: 137'


def test_each_student_gets_a_cgroup_of_their_own_below_the_classrooms():
    assert builds.build_cgroup("/dml-builds", "ada") == "/dml-builds/ada"
    assert builds.build_cgroup("/dml-builds/", None) == "/dml-builds/dashboard"
    # systemd nests slices by dashes: a dash in a name would nest one student below another
    assert builds.build_cgroup("dml-builds.slice", "alice-b") == "dml-builds-alice_b.slice"
    assert builds.build_cgroup(None, "ada") is None


def test_a_step_killed_under_the_cap_is_said_with_the_cgroup(monkeypatch):
    monkeypatch.setenv(settings.BUILD_CGROUP, "/dml-builds")
    with owner.acting_for(owner.for_student("ada")):
        said = builds.explain_error(KILLED)
    assert "memory limit of this classroom's builds" in said and "/dml-builds/ada" in said
    assert KILLED in said


def test_without_a_cap_exit_137_is_left_as_docker_said_it(monkeypatch):
    monkeypatch.delenv(settings.BUILD_CGROUP, raising=False)
    assert builds.explain_error(KILLED) == KILLED
