"""Shared fixtures: a real Docker daemon (never a double) and a per-run session label.

Tests marked `docker` need the daemon. Outside CI they skip with the reason when none answers;
in CI (CI=true) they fail, so a missing daemon can never pass as green.
"""

from __future__ import annotations

import os
import uuid

import pytest

# Every object a test run creates carries this session label, so parallel runs never touch
# each other's containers, and cleanup can be checked per run.
os.environ.setdefault("DASHBOARD_SESSION", "test-" + uuid.uuid4().hex[:8])

from dashboard.engine import offline  # noqa: E402
from dashboard.engine.connection import DaemonUnavailable, connect  # noqa: E402

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
def session_id() -> str:
    return os.environ["DASHBOARD_SESSION"]
