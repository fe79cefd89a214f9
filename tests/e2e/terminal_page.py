"""Helpers of the browser terminal's end-to-end tests: lesson 1's terminal panel, its frame
(xterm.js, `window.__terminal`), and the lab containers the tests open it into.

A plain module, as tests/e2e/browser.py is: the tests import the fixture and the helpers.
"""

from __future__ import annotations

import contextlib
import uuid

import docker
import pytest

from dashboard.engine.ops import runs
from tests.e2e.browser import PAGE_MS, button, open_url, wait_idle
from tests.lab_images import iris_image

FRAME = "iframe[title='dashboard.ui.terminal.terminal']"
KEY = "iris-terminal"
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]


@pytest.fixture
def containers(docker_client, session_id):
    """(ours, foreign): a running iris container of the dashboard's, and one it did not make."""
    uid = uuid.uuid4().hex[:6]
    image = iris_image(docker_client)
    ours = runs.start_detached(
        docker_client, image, lab="iris", command="/bin/bash", name=f"{session_id}-term-{uid}"
    )
    foreign = docker_client.containers.run(
        "python:3.11-slim", SLEEPER, detach=True, name=f"{session_id}-foreign-{uid}"
    )
    try:
        yield ours.name, foreign.name
    finally:
        for cid in (ours.id, foreign.id):
            with contextlib.suppress(docker.errors.NotFound):
                docker_client.containers.get(cid).remove(force=True)


def choose(page, name: str) -> None:
    box = page.locator(".st-key-terminal-container input")
    box.fill(name)
    box.press("Enter")
    wait_idle(page)


def terminal_frame(page):
    handle = page.locator(FRAME).element_handle(timeout=PAGE_MS)
    frame = handle.content_frame()
    frame.wait_for_function("() => window.__terminal !== undefined", timeout=PAGE_MS)
    return frame


def open_terminal(page, lesson_url: str, container: str):
    """Lesson 1 (at `lesson_url`), the container chosen, "Open a terminal": the terminal's frame
    at bash's prompt."""
    open_url(page, lesson_url)
    choose(page, container)
    button(page, f"{KEY}-button").click()
    wait_idle(page)
    frame = terminal_frame(page)
    wait_text(frame, r"root@\w+:/app# $")
    return frame


def wait_text(frame, pattern: str, timeout_ms: int = 30_000) -> None:
    """Until the terminal's buffer (scrollback and screen) matches the regex `pattern`; when it
    does not, what the terminal shows and what its connection said, in the error."""
    try:
        frame.wait_for_function(
            "p => new RegExp(p, 'm').test(window.__terminal.text())",
            arg=pattern,
            timeout=timeout_ms,
        )
    except Exception as error:
        shown = frame.evaluate("window.__terminal.text()")[-800:]
        raise AssertionError(
            f"the terminal never showed {pattern!r}; it shows {shown!r}"
        ) from error
