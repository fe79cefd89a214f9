"""Connection failures become one typed error with a sentence a student can act on."""

import docker
import pytest
import requests

from dashboard.engine.base import connection


def wrapped(cause: BaseException) -> docker.errors.DockerException:
    """What docker.from_env() raises: a DockerException whose cause is the OS error."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise docker.errors.DockerException(
                f"Error while fetching server API version: {exc}"
            ) from exc
    except docker.errors.DockerException as outer:
        return outer


@pytest.mark.parametrize(
    "exc, reason, words",
    [
        (wrapped(FileNotFoundError(2, "No such file or directory")), "missing", "DOCKER_HOST"),
        (wrapped(ConnectionRefusedError(111, "Connection refused")), "refused", "Start Docker"),
        (wrapped(PermissionError(13, "Permission denied")), "permission", "docker group"),
        (requests.exceptions.ConnectionError("Connection refused"), "refused", "Docker Desktop"),
        (requests.exceptions.ReadTimeout("Read timed out."), "timeout", "Start Docker"),
    ],
)
def test_failures_are_explained(exc, reason, words):
    err = connection.explain(exc, "unix:///var/run/docker.sock")
    assert err.reason == reason
    assert words in err.hint
    assert "unix:///var/run/docker.sock" in err.message


def test_docker_host_wins_over_contexts(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    endpoint = connection.resolve_endpoint()
    assert endpoint.base_url == "tcp://127.0.0.1:2375" and endpoint.source == "DOCKER_HOST"


def test_current_context_is_used_without_docker_host(monkeypatch, tmp_path):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    from docker.context import ContextAPI

    # config.json first: docker-py looks for contexts beside it, and only when it exists.
    (tmp_path / "config.json").write_text('{"currentContext": "classroom"}')
    ContextAPI.create_context("classroom", host="unix:///tmp/classroom.sock")
    assert (tmp_path / "contexts").is_dir()
    try:
        endpoint = connection.resolve_endpoint()
        assert endpoint.base_url == "unix:///tmp/classroom.sock"
        assert endpoint.source == "context classroom"
    finally:
        ContextAPI.remove_context("classroom")
