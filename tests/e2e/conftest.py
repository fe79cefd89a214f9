"""A real `streamlit run` of the app on a free loopback port, and headless Debian Chromium.

Follows Streamlit's own end-to-end tests: start the server headless, poll /_stcore/health for
"ok", then drive the browser with Playwright, using /usr/bin/chromium (never a downloaded one).
The helpers live in tests/e2e/browser.py (a conftest is not importable under importlib mode).
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import docker
import pytest

from dashboard.engine.base import labels
from tests.e2e.browser import ARTIFACTS, VIEWPORT, app_env, serve, watched_page


def keep_log(log: Path, name: str) -> None:
    """The server's console (tracebacks the page hides are logged there), next to the shots."""
    if log.exists():
        ARTIFACTS.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, ARTIFACTS.parent / name)


@pytest.fixture(scope="session")
def app_url(docker_client, session_id, tmp_path_factory):
    """The dashboard against the real daemon. Containers it made for this session are removed."""
    wanted = {"label": [f"{labels.SESSION}={session_id}"]}
    before = {c.id for c in docker_client.containers.list(all=True, filters=wanted)}
    tmp = tmp_path_factory.mktemp("streamlit")
    try:
        with serve(tmp / "server.log", app_env(tmp, session_id)) as url:
            yield url
    except RuntimeError as exc:
        pytest.fail(str(exc))
    finally:
        keep_log(tmp / "server.log", "e2e-server.log")
        for container in docker_client.containers.list(all=True, filters=wanted):
            if container.id not in before:
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)


@pytest.fixture(scope="session")
def down_url(session_id, tmp_path_factory):
    """A second dashboard whose DOCKER_HOST points at a socket that does not exist."""
    tmp = tmp_path_factory.mktemp("streamlit-down")
    env = {**app_env(tmp, session_id), "DOCKER_HOST": "unix:///tmp/nonexistent.sock"}
    try:
        with serve(tmp / "server.log", env) as url:
            yield url
    except RuntimeError as exc:
        pytest.fail(str(exc))
    finally:
        keep_log(tmp / "server.log", "e2e-server-down.log")


@pytest.fixture(scope="session", autouse=True)
def fresh_artifacts():
    """Screenshots of this run only: a stage that did not happen leaves no stale picture."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)


@pytest.fixture
def page(browser):
    """A fresh browser context (a new Streamlit session) that records uncaught JS errors."""
    context = browser.new_context(viewport=VIEWPORT)
    yield watched_page(context)
    context.close()
