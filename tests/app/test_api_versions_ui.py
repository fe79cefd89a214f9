"""The pages when the daemon refuses an API version, as Engine 29 refuses everything below 1.44.

The daemon is a private Engine 26 with DOCKER_MIN_API_VERSION=1.44 (tests/fault_daemon.py, in
a network namespace of its own). With DOCKER_API_VERSION=1.41 set the dashboard asks for that
version (as the docker CLI does) and shows the "Docker is not reachable" page with the reason
and the fix; with Debian 12's docker CLI 20.10 first on PATH, the dashboard works and the
sidebar warns that the commands it shows fail in a terminal.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dashboard.engine.base import api_versions
from dashboard.ui import text as T
from tests import fault_daemon

pytestmark = pytest.mark.docker

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DEBIAN_CLI = Path("/usr/bin/docker")
TOO_OLD = "client version 1.41 is too old. Minimum supported API version is 1.44"


def unavailable(reason: str):
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def refusing():
    try:
        daemon = fault_daemon.refusing_old_clients()
    except RuntimeError as exc:
        unavailable(str(exc))
    try:
        yield daemon
    finally:
        daemon.close()


@pytest.fixture
def at_refusing(refusing, isolated, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", refusing.host)
    monkeypatch.delenv("DOCKER_API_VERSION", raising=False)
    return refusing


def test_a_pinned_old_version_shows_why_and_the_fix(app, at_refusing, monkeypatch):
    monkeypatch.setenv("DOCKER_API_VERSION", "1.41")
    at = app.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == T.TITLE_DOWN
    error = at.error[0].value
    assert error.startswith(
        "The dashboard asks for Docker API 1.41 because DOCKER_API_VERSION=1.41 is set, and the "
        f"Docker daemon at {at_refusing.host} needs 1.44 or newer"
    )
    assert TOO_OLD in error
    hint = at.info[0].value
    assert hint.startswith("Unset DOCKER_API_VERSION (`unset DOCKER_API_VERSION`)")
    assert "1.44 or newer" in hint
    assert [s.value for s in at.subheader] == ["Check the API versions"]
    assert not at.tabs  # not "How to start Docker": it runs
    assert "unset DOCKER_API_VERSION" in at.code[0].value
    assert at.sidebar.error[0].value == "Docker daemon: refuses our API version"
    assert at.button(key="retry-daemon").label == T.RETRY


def test_a_docker_cli_too_old_for_the_daemon_is_a_sidebar_warning(
    app, at_refusing, monkeypatch, tmp_path
):
    if not DEBIAN_CLI.exists():
        unavailable(f"{DEBIAN_CLI} (Debian's docker.io client) is not installed")
    first = tmp_path / "bin"
    first.mkdir()
    (first / "docker").symlink_to(DEBIAN_CLI)
    monkeypatch.setenv("PATH", f"{first}{os.pathsep}{os.environ['PATH']}")
    at = app.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value != T.TITLE_DOWN
    assert at.sidebar.success[0].value.startswith("Docker daemon: running (26.")
    (warning,) = [w.value for w in at.sidebar.warning if "docker CLI" in w.value]
    assert warning.startswith(
        f"The docker CLI at {first / 'docker'} (20.10.24+dfsg1) speaks Docker API 1.41 and the "
        f"Docker daemon at {at_refusing.host} needs 1.44 or newer"
    )
    assert TOO_OLD in warning and "fail in a terminal" in warning
    assert warning.endswith(api_versions.CLI_HINT)
