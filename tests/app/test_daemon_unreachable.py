"""With no daemon at DOCKER_HOST the app shows what is wrong and how to fix it, never a traceback.

Needs no daemon: DOCKER_HOST points at a socket that does not exist.
"""

from __future__ import annotations

import pytest

from dashboard.ui import text as T
from tests.app.helpers import open_page


@pytest.fixture
def no_daemon(isolated, monkeypatch, tmp_path):
    socket = tmp_path / "no-docker.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
    return socket


def assert_down_page(at, socket) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == T.TITLE_DOWN
    assert at.error[0].value == f"No Docker daemon socket at unix://{socket}."
    hints = " ".join(i.value for i in at.info)
    assert "systemctl start docker" in hints and "Docker Desktop" in hints
    assert [t.label for t in at.tabs] == ["Linux", "macOS", "Windows (WSL 2)", "Another daemon"]
    assert at.button(key="retry-daemon").label == T.RETRY
    assert "Docker daemon: not reachable" in at.sidebar.error[0].value


def test_the_unreachable_page_replaces_the_lessons(app, no_daemon):
    at = app.run()
    assert_down_page(at, no_daemon)


def test_a_lesson_url_shows_the_fix_too(app, no_daemon):
    at = open_page(app, "lesson1.py")
    assert_down_page(at, no_daemon)


def test_retry_asks_again_and_still_explains(app, no_daemon):
    at = app.run()
    at.button(key="retry-daemon").click().run()
    assert_down_page(at, no_daemon)


def test_the_theory_pages_stay_readable(app, no_daemon):
    at = open_page(app, "why_docker.py")
    assert not at.exception
    assert at.title[0].value == T.TITLE_WHY
    assert any("not reachable" in w.value for w in at.warning)
    at = open_page(app, "cicd.py")
    assert not at.exception
    assert at.title[0].value == T.TITLE_CICD
