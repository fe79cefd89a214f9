"""A daemon that refuses old API versions, as Engine 29 refuses everything below 1.44.

The daemon is a private Engine 26 (tests/fault_daemon.py) started with
DOCKER_MIN_API_VERSION=1.44, in a network namespace of its own. The clients are the real ones a
student's machine may have: the dashboard's docker SDK, which negotiates; the same with
DOCKER_API_VERSION=1.41 set, as a stale shell profile would (the docker CLI honours it, and so
does the dashboard); Debian 12's docker CLI 20.10 (API 1.41 at most) first on PATH; and Compose
and buildx asking for 1.41 (through a wrapper that pins only them), standing in for a Compose
or a buildx whose own API client is too old for the daemon.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.engine.base import api_versions
from dashboard.engine.base.connection import API_VERSION, DaemonUnavailable, connect
from dashboard.engine.ops import compose
from tests import engines, fault_daemon

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DEBIAN_CLI = Path("/usr/bin/docker")  # Debian 12's docker.io client: 20.10, API 1.41 at most
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
def at_refusing(refusing, monkeypatch, tmp_path):
    """DOCKER_HOST at the refusing daemon, no pin, and a data folder of this test's own."""
    monkeypatch.setenv("DOCKER_HOST", refusing.host)
    monkeypatch.delenv("DOCKER_API_VERSION", raising=False)
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path / "data"))
    return refusing


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dashboard", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_the_dashboard_negotiates_a_version_the_daemon_takes(at_refusing):
    client = connect()
    try:
        version = client.version()
        assert version["MinAPIVersion"] == "1.44" and version["Version"].startswith("26.")
        assert client.api.api_version == version["ApiVersion"] == "1.45"
    finally:
        client.close()


def test_a_pinned_old_version_is_one_sentence_with_its_fix(at_refusing, monkeypatch):
    monkeypatch.setenv("DOCKER_API_VERSION", "1.41")
    with pytest.raises(DaemonUnavailable) as caught:
        connect()
    down = caught.value
    assert down.reason == API_VERSION and down.endpoint == at_refusing.host
    assert down.message == (
        "The dashboard asks for Docker API 1.41 because DOCKER_API_VERSION=1.41 is set, and the "
        f"Docker daemon at {at_refusing.host} needs 1.44 or newer: Docker said "
        f'"{TOO_OLD}".'
    )
    assert down.hint == api_versions.unpin_hint(api_versions.parse_refusal(TOO_OLD))
    assert "`unset DOCKER_API_VERSION`" in down.hint and "1.44 or newer" in down.hint


def test_the_cli_says_the_same_and_exits_2(at_refusing):
    env = {"DOCKER_HOST": at_refusing.host, "DOCKER_API_VERSION": "1.41"}
    done = cli("layers", "python:3.11-slim", env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr and "400 Client Error" not in done.stdout
    first, fix = done.stdout.splitlines()[:2]
    assert first.startswith("error: The dashboard asks for Docker API 1.41 because")
    assert TOO_OLD in first and fix.strip().startswith("Unset DOCKER_API_VERSION")

    done = cli("build", "iris", "--json", env=env)
    (error,) = records(done.stdout)
    assert done.returncode == 2 and error["type"] == "error"
    assert error["reason"] == "api-version" and TOO_OLD in error["message"]
    assert "unset DOCKER_API_VERSION" in error["hint"]


def test_doctor_names_the_pin(at_refusing):
    env = {"DOCKER_HOST": at_refusing.host, "DOCKER_API_VERSION": "1.41"}
    done = cli("doctor", "--json", env=env)
    checks = {r["name"]: r for r in records(done.stdout)}
    assert done.returncode == 1
    daemon = checks["daemon"]
    assert not daemon["ok"] and "because DOCKER_API_VERSION=1.41 is set" in daemon["detail"]
    assert daemon["fix"].startswith("Unset DOCKER_API_VERSION")

    text = cli("doctor", env=env).stdout
    assert "!! daemon: The dashboard asks for Docker API 1.41" in text
    assert "    fix: Unset DOCKER_API_VERSION" in text


def test_doctor_and_the_sidebar_facts_name_a_docker_cli_too_old_for_the_daemon(
    at_refusing, tmp_path, monkeypatch
):
    if not DEBIAN_CLI.exists():
        unavailable(f"{DEBIAN_CLI} (Debian's docker.io client) is not installed")
    first = tmp_path / "bin"
    first.mkdir()
    (first / "docker").symlink_to(DEBIAN_CLI)
    path = f"{first}{os.pathsep}{os.environ['PATH']}"
    done = cli("doctor", "--json", env={"DOCKER_HOST": at_refusing.host, "PATH": path})
    checks = {r["name"]: r for r in records(done.stdout)}
    assert checks["daemon"]["ok"], checks["daemon"]  # the dashboard itself negotiates 1.45
    assert "takes 1.44 and newer" in checks["daemon"]["detail"]
    docker_cli = checks["docker CLI"]
    assert not docker_cli["ok"] and not docker_cli["optional"]
    assert docker_cli["detail"].startswith(f"The docker CLI at {first / 'docker'} (20.10.24"), (
        docker_cli
    )
    assert "speaks Docker API 1.41 and the Docker daemon" in docker_cli["detail"]
    assert "needs 1.44 or newer" in docker_cli["detail"] and TOO_OLD in docker_cli["detail"]
    assert docker_cli["fix"] == api_versions.CLI_HINT
    assert done.returncode == 1

    # What the sidebar warns with (the AppTest of it is in tests/app/test_api_versions_ui.py).
    from dashboard.work.facts import read_facts

    monkeypatch.setenv("PATH", path)
    facts = read_facts()
    assert facts.ok
    assert any(w.startswith(docker_cli["detail"]) for w in facts.warnings), facts.warnings


def test_a_current_docker_cli_is_fine(at_refusing):
    current = str(engines.packages_root() / "usr/bin/docker")  # Debian 13's docker-cli 26.1
    found = api_versions.check_docker_cli(at_refusing.host, which=lambda name: current)
    assert found.ok, found
    assert (found.api_version, found.max_api_version) == ("1.45", "1.45")
    assert found.message == (
        f"Docker CLI {found.version} at {current} (API 1.45 with this daemon, up to 1.45)"
    )
    assert found.version.startswith("26.1")


def test_compose_refused_by_the_daemon_says_why_and_how_to_fix_it(at_refusing):
    # Compose alone asks for 1.41 (through its own environment): what a Compose too old for
    # the daemon meets. The dashboard, not pinned, cannot blame a pin and names Compose.
    project = compose.ComposeProject(
        connect(), "apiversions", lab="wine", env={"DOCKER_API_VERSION": "1.41"}
    )
    with pytest.raises(compose.ComposeFailed) as caught:
        for _ in project.build():
            pass
    failed = caught.value
    assert failed.message.startswith(
        f"Docker Compose speaks Docker API 1.41 and the Docker daemon at {at_refusing.host} "
        "needs 1.44 or newer"
    )
    assert TOO_OLD in failed.message and failed.hint == api_versions.COMPOSE_HINT
    assert str(failed).startswith(f"`{project.build_command().display}` failed: Docker Compose")


@pytest.fixture
def old_plugins(at_refusing, tmp_path):
    """A DOCKER_CONFIG whose compose and buildx plugins are the real ones, run with
    DOCKER_API_VERSION=1.41 in their own environment only: plugins too old for the daemon."""
    real = engines.prepare_docker_config() / "cli-plugins"
    plugins = tmp_path / "docker-config" / "cli-plugins"
    plugins.mkdir(parents=True)
    for name in ("docker-compose", "docker-buildx"):
        wrapper = plugins / name
        wrapper.write_text(
            f'#!/bin/sh\nDOCKER_API_VERSION=1.41 exec {(real / name).resolve()} "$@"\n'
        )
        wrapper.chmod(0o755)
    (plugins.parent / "config.json").write_text("{}\n")
    return {"DOCKER_HOST": at_refusing.host, "DOCKER_CONFIG": str(plugins.parent)}


def test_doctor_names_compose_and_buildx_too_old_for_the_daemon(old_plugins):
    done = cli("doctor", "--json", env=old_plugins)
    checks = {r["name"]: r for r in records(done.stdout)}
    assert checks["daemon"]["ok"] and checks["docker CLI"]["ok"], checks
    host = old_plugins["DOCKER_HOST"]
    for name, hint in (
        ("compose", api_versions.COMPOSE_HINT),
        ("buildx", api_versions.BUILDX_HINT),
    ):
        check = checks[name]
        assert not check["ok"] and not check["optional"], check
        assert (
            f"speaks Docker API 1.41 and the Docker daemon at {host} needs 1.44"
            in (check["detail"])
        )
        assert TOO_OLD in check["detail"] and check["fix"] == hint
    assert checks["compose"]["detail"].startswith("Docker Compose 2.")
    assert checks["buildx"]["detail"].startswith("docker buildx 0.")
    assert done.returncode == 1


def test_the_cli_build_of_the_compose_lab_says_why(old_plugins):
    done = cli("build", "wine", env=old_plugins)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "failed: Docker Compose speaks Docker API 1.41" in done.stdout
    assert api_versions.COMPOSE_HINT in done.stdout
    done = cli("build", "wine", "--json", env=old_plugins)
    (result,) = [r for r in records(done.stdout) if r["type"] == "result"]
    assert not result["ok"] and TOO_OLD in result["error"]
