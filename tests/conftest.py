"""Shared fixtures: a real Docker daemon (never a double) and a per-run session label.

Tests marked `docker` need the daemon. Outside CI they skip with the reason when none answers;
in CI (CI=true) they fail, so a missing daemon can never pass as green.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

# Every object a test run creates carries this session label, so parallel runs never touch
# each other's containers, and cleanup can be checked per run.
os.environ.setdefault("DASHBOARD_SESSION", "test-" + uuid.uuid4().hex[:8])

# DASHBOARD_TEST_ENGINE picks the engine of the matrix the whole run talks to (tests/engines.py):
# set before anything connects, so the dashboard, the docker CLI and Compose all use it.
from tests import engines as _engines  # noqa: E402

ENGINE = _engines.current()
if ENGINE != _engines.HOST:
    if ENGINE not in _engines.ENGINES:
        choices = ", ".join(_engines.MATRIX)
        raise SystemExit(f"DASHBOARD_TEST_ENGINE={ENGINE}: pick one of {choices}")
    os.environ.update(_engines.env_for(ENGINE))

from dashboard.engine.base.connection import DaemonUnavailable, connect  # noqa: E402
from dashboard.engine.offline import offline  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def docker_client():
    try:
        client = connect()
    except DaemonUnavailable as exc:
        if IN_CI:
            pytest.fail(f"CI needs a Docker daemon: {exc}")
        pytest.skip(f"no Docker daemon: {exc}")
    status = offline.prepare_offline(client)
    if not status.present:
        pytest.fail("python:3.11-slim is missing: run `python -m dashboard prepare`")
    yield client
    client.close()


@pytest.fixture(scope="session")
def expected_builder(docker_client) -> str:
    """The builder the dashboard must pick on this engine, asked independently of it:
    "buildkit" where `docker buildx version` answers, "classic" elsewhere (the host's 20.10)."""
    try:
        done = subprocess.run(
            ["docker", "buildx", "version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return "classic"
    return "buildkit" if done.returncode == 0 and "buildx" in done.stdout else "classic"


@pytest.fixture(autouse=True)
def _history_of_the_test_run(request, tmp_path_factory, monkeypatch):
    """The CLI records its builds and runs in the history: the integration tests, which run it,
    write to a history file of this test run, never the user's."""
    if "integration" in request.node.path.parts and not os.environ.get("DASHBOARD_HISTORY_DB"):
        path = tmp_path_factory.getbasetemp() / "history.sqlite3"
        monkeypatch.setenv("DASHBOARD_HISTORY_DB", str(path))


@pytest.fixture(scope="session")
def session_id() -> str:
    return os.environ["DASHBOARD_SESSION"]


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through Playwright, one per test run.

    One for the whole run because Playwright's sync API keeps an event loop for as long as it is
    open: a second `sync_playwright()` in the same process refuses to start.
    """
    from playwright.sync_api import sync_playwright

    from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
