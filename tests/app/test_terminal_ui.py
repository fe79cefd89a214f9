"""Lesson 1's terminal panel through AppTest (no JavaScript: the terminal itself is tested in
Chromium, tests/e2e/test_terminal.py): the equivalent command, the refusals the page shows
before any terminal is drawn, and the container field following the running containers.
"""

from __future__ import annotations

import contextlib
import uuid

import docker
import pytest

from dashboard.engine.offline.offline import BASE_IMAGE
from dashboard.engine.ops import runs
from tests.app.helpers import open_page, start_detached, wait_for
from tests.lab_images import iris_image

pytestmark = pytest.mark.docker

SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]


@pytest.fixture
def two(docker_client, session_id):
    uid = uuid.uuid4().hex[:6]
    ours = runs.start_detached(
        docker_client, BASE_IMAGE, lab="iris", command=SLEEPER, name=f"{session_id}-tui-{uid}"
    )
    foreign = docker_client.containers.run(
        BASE_IMAGE, SLEEPER, detach=True, name=f"{session_id}-tuiforeign-{uid}"
    )
    yield ours, foreign
    for cid in (ours.id, foreign.id):
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(cid).remove(force=True)


def open_for(at, name: str):
    at.text_input(key="terminal-container").set_value(name).run()
    codes = [c.value for c in at.code]
    assert f"docker exec -it {name} bash" in codes
    at.button(key="iris-terminal-button").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return [e.value for e in at.error]


def test_the_page_refuses_a_foreign_container_and_a_stopped_one(app, two, docker_client):
    ours, foreign = two
    at = open_page(app, "lesson1.py")
    errors = open_for(at, foreign.name)
    assert any(
        f"No terminal into {foreign.name}: it was not made by the dashboard" in e for e in errors
    )

    # Ours and running: the container passes; AppTest is no browser, so nothing binds the token.
    errors = open_for(at, ours.name)
    assert errors == ["No terminal: the page's origin is unknown (is this a browser?)."]

    runs.stop_container(docker_client, ours.id, grace=1)
    errors = open_for(at, ours.name)
    assert any("it is exited; a shell needs a running container" in e for e in errors)


def test_the_terminal_offers_a_container_started_after_the_page_was_drawn(
    docker_client, app, new_containers, session_id
):
    iris_image(docker_client)
    uid = uuid.uuid4().hex[:6]
    first, second = f"iris-sh-{session_id}-{uid}", f"iris-sh2-{session_id}-{uid}"
    at = open_page(app, "lesson1.py")
    assert at.text_input(key="terminal-container").value == ""
    assert "Start a container above, then open a shell in it here." in captions(at)

    start_detached(at, first)  # "Start detached container", then the page's own reruns
    assert at.text_input(key="terminal-container").value == first
    assert f"docker exec -it {first} bash" in [c.value for c in at.code]

    # Another container chosen above: the field follows the choice.
    start_detached(at, second)
    at.selectbox(key="exec-container").set_value(second).run()
    assert at.text_input(key="terminal-container").value == second

    # A name the student typed stays, whatever runs.
    at.text_input(key="terminal-container").set_value("my-own").run()
    at.selectbox(key="exec-container").set_value(first).run()
    assert at.text_input(key="terminal-container").value == "my-own"

    # Given back to the page, the field follows again; when nothing runs, it is empty.
    at.text_input(key="terminal-container").set_value("").run()
    assert at.text_input(key="terminal-container").value == first
    for name in (first, second):
        docker_client.containers.get(name).stop(timeout=1)
    wait_for(
        at,
        lambda a: a.text_input(key="terminal-container").value == "",
        timeout=30,
        what="the field to empty once no container runs",
    )
    assert "Start a container above, then open a shell in it here." in captions(at)


def captions(at) -> list[str]:
    return [c.value for c in at.caption]
