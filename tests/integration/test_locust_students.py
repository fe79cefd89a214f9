"""The load section's small form: 10 Locust students (bench/locustfile.py, Streamlit's protocol
without a browser) on one classroom server against the real daemon, the idle scenario: each
signs in, runs lesson 1's image, visits two lessons, starts a container and follows its logs,
then the class idles 15 s with the live panels open while one student at a time moves to
"Sizes and clean-up" and back. It fails when a simulated student breaks: a failed step (a
missing button, a timeout, an exception or error box in the page), a lost WebSocket, a server
traceback, a live panel that never asked for its fragment, or a student who never got through.
The full run, with timings, is `python -m bench --only load`.
"""

from __future__ import annotations

import pytest

from bench import locust_run
from dashboard.engine.base import owner
from tests.lab_images import iris_image

pytestmark = pytest.mark.docker

STUDENTS = 10


def test_ten_locust_students_get_through_and_idle_without_errors(
    docker_client, session_id, tmp_path
):
    iris_image(docker_client)
    prefix = owner.slug("lc" + session_id.removeprefix("test-")[:6])
    got = locust_run.one_class(
        docker_client,
        students=STUDENTS,
        scenario="idle",
        out_dir=tmp_path / "locust",
        prefix=prefix,
        rate=1.0,
        idle_s=15.0,
        limit_s=240.0,
    )
    summary = {
        k: got[k]
        for k in ("failed_steps", "problems", "not_ready", "server_traceback_ends", "not_started")
    }
    assert got["errors"] == 0, summary
    assert got["ready"] == STUDENTS, summary
    names = set(got["by_name"])
    for step in (
        "page: open lesson1",
        "page: sign in",
        "action: click: run",
        "wait: run: done",
        "page: cache",
        "page: multistage",
        "action: click: docker run -d",
        "wait: docker logs -f: done",
        "page: sizes",
        "page: lesson1 (back)",
    ):
        assert step in names, f"{step} never timed: {sorted(names)}"
    assert got["by_name"]["page: sign in"]["n"] == STUDENTS
    # The live panels asked for their fragment the way the browser's timer does (0.25 s), and
    # the server answered: each student saw fragment runs.
    sends = got["timer_sends_per_student_s"]
    assert sends and sends["minimum"] > 0.5, sends
    assert got["runs_per_student_min"]["minimum"] > 10, got["runs_per_student_min"]
    # Nothing of the students' is left on the daemon.
    for name in locust_run.names_for(prefix, STUDENTS):
        assert not docker_client.api.images(name=f"{name}/iris-model")
