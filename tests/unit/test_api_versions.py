"""API version refusals on recorded answers: the daemon's words, the SDK's error, the CLI's output.

tests/recordings/api/ holds what a real Engine 26 daemon with DOCKER_MIN_API_VERSION=1.44 and
this machine's Engine 20.10 answered (re-record with tests/recordings/api/record.py); the same
refusal against live daemons is tested in tests/integration/test_api_versions.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import docker
import pytest
import requests

from dashboard.engine.base import api_versions, connection

HERE = Path(__file__).resolve().parents[1] / "recordings" / "api"
REFUSALS = json.loads((HERE / "refusals.json").read_text())
CLI_RUNS = json.loads((HERE / "cli-version.json").read_text())
ENGINE_29 = (
    "Error response from daemon: client version 1.41 is too old. Minimum supported API version "
    "is 1.44, please upgrade your client to a newer version"
)
SOCK = "unix:///var/run/docker.sock"


def api_error(name: str) -> docker.errors.APIError:
    """The SDK's error for a recorded refusal, made as the SDK makes it from the response."""
    recorded = REFUSALS[name]
    response = requests.Response()
    response.status_code = recorded["status"]
    response.reason = recorded["reason"]
    response.url = recorded["url"]
    response.headers.update(recorded["headers"])
    response._content = recorded["body"].encode()
    try:
        try:
            response.raise_for_status()
        except requests.exceptions.HTTPError as exc:
            docker.errors.create_api_error_from_http_exception(exc)
    except docker.errors.APIError as exc:
        return exc
    raise AssertionError("a refusal is an HTTP error")


def test_the_words_of_engine_29_26_and_20_10_are_recognised():
    old = api_versions.parse_refusal(ENGINE_29)
    assert old == api_versions.Refusal("1.41", "1.44", True, old.words)
    assert old.needs == "1.44 or newer"
    body = json.loads(REFUSALS["too-old"]["body"])["message"]
    assert api_versions.parse_refusal(body).limit == "1.44"
    new = api_versions.parse_refusal(json.loads(REFUSALS["too-new"]["body"])["message"])
    assert (new.client_version, new.limit, new.too_old) == ("1.45", "1.41", False)
    assert new.needs == "1.41 or older"
    assert api_versions.parse_refusal(b"no such image: iris-model:1.0") is None


def test_the_sdk_error_of_a_refusal_is_named_with_its_fix(monkeypatch):
    monkeypatch.setenv("DOCKER_API_VERSION", "1.41")
    exc = api_error("too-old")
    assert isinstance(exc, docker.errors.APIError) and exc.status_code == 400
    down = connection.explain(exc, SOCK)
    assert down.reason == connection.API_VERSION == "api-version"
    assert down.message.startswith(
        f"The dashboard asks for Docker API 1.41 because DOCKER_API_VERSION=1.41 is set, and the "
        f'Docker daemon at {SOCK} needs 1.44 or newer: Docker said "client version 1.41 is too old'
    )
    assert "unset DOCKER_API_VERSION" in down.hint and "1.44 or newer" in down.hint


def test_a_pin_newer_than_the_daemon_is_named_too(monkeypatch):
    monkeypatch.setenv("DOCKER_API_VERSION", "1.45")
    down = connection.explain(api_error("too-new"), SOCK)
    assert down.reason == "api-version"
    assert "speaks 1.41 or older" in down.message
    assert "set it to 1.41 or older" in down.hint


def test_without_a_pin_the_client_is_too_old(monkeypatch):
    monkeypatch.delenv("DOCKER_API_VERSION", raising=False)
    down = connection.explain(api_error("too-old"), SOCK)
    assert down.message.startswith("The dashboard speaks Docker API 1.41 and the Docker daemon")
    assert "pip install -U docker" in down.hint


@pytest.mark.parametrize("value, expected", [("", "auto"), ("  ", "auto"), ("1.44", "1.44")])
def test_the_sdk_honours_docker_api_version_as_the_cli_does(value, expected):
    assert api_versions.sdk_version({"DOCKER_API_VERSION": value}) == expected
    assert api_versions.sdk_version({}) == "auto"


def test_a_pin_that_is_no_version_is_refused_before_any_call(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nobody.sock")
    monkeypatch.setenv("DOCKER_API_VERSION", "latest")
    with pytest.raises(connection.DaemonUnavailable) as caught:
        connection.connect()
    # "missing" would mean it dialled the socket; this is decided before.
    assert caught.value.reason == "api-version"
    assert "DOCKER_API_VERSION='latest' is not a Docker API version" in caught.value.message


def test_a_pin_the_sdk_cannot_speak(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nobody.sock")
    monkeypatch.setenv("DOCKER_API_VERSION", "1.12")
    with pytest.raises(connection.DaemonUnavailable) as caught:
        connection.connect()
    assert caught.value.reason == "api-version"
    assert "cannot speak that version" in caught.value.message
    assert "unset DOCKER_API_VERSION" in caught.value.hint


def recorded_cli(cli: str, pin: str | None):
    run = next(r for r in CLI_RUNS if r["cli"] == cli and r["DOCKER_API_VERSION"] == pin)

    def replay(argv, **kwargs):
        assert argv[1:] == ["version", "--format", "{{json .}}"]
        return subprocess.CompletedProcess(argv, run["returncode"], run["stdout"], run["stderr"])

    env = {"DOCKER_API_VERSION": pin} if pin else {}
    return {"which": lambda name: cli, "run": replay, "environ": env}


def test_debians_20_10_cli_is_too_old_for_engine_29():
    found = api_versions.check_docker_cli("unix:///DAEMON", **recorded_cli("/usr/bin/docker", None))
    assert found.status == "refused" and not found.ok
    assert (found.version, found.api_version, found.max_api_version) == (
        "20.10.24+dfsg1",
        "1.41",
        "1.41",
    )
    assert found.message.startswith(
        "The docker CLI at /usr/bin/docker (20.10.24+dfsg1) speaks Docker API 1.41 and the "
        "Docker daemon at unix:///DAEMON needs 1.44 or newer"
    )
    assert "fail in a terminal" in found.message
    assert found.hint == api_versions.CLI_HINT


def test_a_current_cli_with_a_stale_pin_is_told_to_unset_it():
    found = api_versions.check_docker_cli(
        "unix:///DAEMON", **recorded_cli("/usr/local/bin/docker", "1.41")
    )
    assert found.status == "refused" and found.max_api_version == "1.50"
    assert "because DOCKER_API_VERSION=1.41 is set" in found.message
    assert found.hint.startswith("Unset DOCKER_API_VERSION")


def test_an_old_cli_with_a_pin_needs_both_fixes():
    found = api_versions.check_docker_cli(
        "unix:///DAEMON", **recorded_cli("/usr/bin/docker", "1.41")
    )
    assert "It speaks 1.41 at most, so unsetting DOCKER_API_VERSION alone" in found.message
    assert found.hint.startswith(api_versions.CLI_HINT) and "Then unset" in found.hint


def test_a_cli_the_daemon_takes():
    found = api_versions.check_docker_cli(
        "unix:///DAEMON", **recorded_cli("/usr/local/bin/docker", None)
    )
    assert found.ok
    assert found.message == (
        "Docker CLI 28.2.2 at /usr/local/bin/docker (API 1.45 with this daemon, up to 1.50)"
    )


def test_no_cli_on_path():
    found = api_versions.check_docker_cli("unix:///DAEMON", which=lambda name: None)
    assert found.status == "missing"
