"""A hub seat's own routes on the real server and daemon: its student's progress and clean-up
(dashboard/work/seat_routes.py), what the instructor's roster reads through the hub.

The real `streamlit run dashboard/app.py` as a seat runs it (DASHBOARD_SEAT), two students'
containers on one engine: the seat reports and removes only its own student's; a dashboard that
is not a seat has no such route.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request

import docker.errors
import pytest

from bench.st_client import Client
from dashboard.engine.base import labels, owner
from dashboard.engine.offline import offline
from tests.e2e.browser import app_env, serve


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.headers.get("content-type", ""), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read().decode()


def _post(url: str, content_type: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=b"{}", method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:  # Streamlit's own answer to a route it does not have
            return exc.code, {"body": body.decode(errors="replace")}


@pytest.fixture
def two_students(docker_client, session_id):
    """A stopped container each for ada and bob, labelled as the dashboard labels a run."""
    made = {}
    for name in ("ada", "bob"):
        student = owner.slug(f"{name}-{session_id}")
        with owner.acting_for(owner.for_student(student)):
            container = docker_client.containers.create(
                offline.BASE_IMAGE, ["true"], labels=labels.for_lab("iris")
            )
        made[student] = container
    yield made
    for container in made.values():
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def test_a_seat_reports_and_cleans_only_its_students_things(
    tmp_path, session_id, two_students, docker_client
):
    ada, bob = list(two_students)
    env = app_env(tmp_path, session_id) | {"DASHBOARD_SEAT": ada, "DASHBOARD_CLASSROOM": "1"}
    with serve(tmp_path / "seat.log", env, base="/user/ada/") as url:
        status, kind, body = _get(f"{url}/_dashboard/seat/progress")
        assert status == 200 and kind.startswith("application/json"), (status, body[:300])
        record = json.loads(body)
        assert record["student"] == ada
        assert record["containers"] == 1 and record["running"] == 0
        assert record["node"] == docker_client.info()["Name"]
        assert record["checks_total"] > 0 and record["builds"] == 0

        # No form of another site can ask for the clean-up: a JSON body only.
        status, answer = _post(f"{url}/_dashboard/seat/clean", "application/x-www-form-urlencoded")
        assert status == 415, answer
        assert docker_client.containers.get(two_students[ada].id)

        status, answer = _post(f"{url}/_dashboard/seat/clean", "application/json")
        assert status == 200 and answer["ok"], answer
        assert answer["removed"] == [f"container {two_students[ada].name}"], answer
        assert not docker_client.containers.list(all=True, filters={"id": two_students[ada].id})
        assert docker_client.containers.get(two_students[bob].id)  # bob's stays

        record = json.loads(_get(f"{url}/_dashboard/seat/progress")[2])
        assert record["containers"] == 0


def test_a_seat_is_ready_once_its_pages_modules_are_loaded(tmp_path, session_id):
    """The seat's proxy asks the ready route; it answers once the modules the pages import are
    in the server's process, so the student's first page is a warm one."""
    env = app_env(tmp_path, session_id) | {"DASHBOARD_SEAT": "ada", "DASHBOARD_CLASSROOM": "1"}
    with serve(tmp_path / "seat.log", env) as url:
        status, kind, body = _get(f"{url}/_dashboard/seat/ready")
        assert status == 200 and kind.startswith("application/json"), (status, body[:300])
        ready = json.loads(body)
        assert ready["warm"] and ready["modules"] > 20, ready
        again = json.loads(_get(f"{url}/_dashboard/seat/ready")[2])
        assert again == ready  # loaded once
        # What the warm-up leaves to the page run still works: the terminal's component, which
        # Streamlit registers only when a page run declares it.
        tab = Client(url)
        try:
            tab.open("lesson1", timeout=120)
        finally:
            tab.close()
        status, kind, body = _get(f"{url}/component/dashboard.ui.terminal.terminal/index.html")
        assert status == 200 and "<html" in body.lower(), (status, body[:200])


def test_a_dashboard_that_is_not_a_seat_has_no_seat_routes(tmp_path, session_id, two_students):
    env = app_env(tmp_path, session_id) | {"DASHBOARD_CLASSROOM": "1"}
    with serve(tmp_path / "server.log", env) as url:
        for route in ("progress", "ready"):
            status, kind, _ = _get(f"{url}/_dashboard/seat/{route}")
            assert not kind.startswith("application/json"), (route, status, kind)
        status, _ = _post(f"{url}/_dashboard/seat/clean", "application/json")
        assert status in {404, 405}, status
