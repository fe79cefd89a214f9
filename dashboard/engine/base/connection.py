"""Connecting to the Docker daemon: DOCKER_HOST, Docker contexts, and one typed error.

Whatever goes wrong (no socket, refused, permission denied, timeout, an API version the daemon
refuses), callers get `DaemonUnavailable` with a sentence a student can act on, never a raw
traceback. The API version is negotiated, unless DOCKER_API_VERSION pins one (api_versions.py).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import docker
import requests
import urllib3
from docker.context import ContextAPI

from dashboard.engine.base import api_versions


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    source: str  # "DOCKER_HOST", "context NAME" or "default"
    tls: object = None


API_VERSION = "api-version"  # DaemonUnavailable.reason: the daemon refuses the version we speak


class DaemonUnavailable(Exception):
    """The Docker daemon cannot be reached; `message` says why and `hint` what to do."""

    def __init__(self, reason: str, message: str, hint: str, endpoint: str):
        super().__init__(f"{message} {hint}")
        self.reason = reason
        self.message = message
        self.hint = hint
        self.endpoint = endpoint


def resolve_endpoint() -> Endpoint:
    """DOCKER_HOST wins, as for the CLI; otherwise the current Docker context."""
    host = os.environ.get("DOCKER_HOST")
    if host:
        return Endpoint(host, "DOCKER_HOST")
    try:
        ctx = ContextAPI.get_current_context()
    except Exception:  # a broken ~/.docker/config.json must not hide the default socket
        ctx = None
    if ctx is not None and ctx.Host:
        tls = ctx.TLSConfig if getattr(ctx, "TLSConfig", None) else None
        name = ctx.Name or "default"
        host = ctx.Host.removeprefix("http+") if ctx.Host.startswith("http+unix") else ctx.Host
        return Endpoint(host, "default" if name == "default" else f"context {name}", tls)
    return Endpoint(default_socket(), "default")


def default_socket() -> str:
    if sys.platform == "win32":
        return "npipe:////./pipe/docker_engine"
    return "unix:///var/run/docker.sock"


def _root_cause(exc: BaseException) -> BaseException:
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or exc.__context__
        if nxt is None and exc.args and isinstance(exc.args[0], BaseException):
            nxt = exc.args[0]
        if nxt is None:
            break
        exc = nxt
    return exc


def short_reason(exc: BaseException) -> str:
    """A few words on why a connection to the daemon failed, for "Lost the connection (...)"."""
    root = _root_cause(exc)
    text = f"{exc!r} {exc}"
    if isinstance(root, ConnectionRefusedError) or "Connection refused" in text:
        return "the daemon refused the connection"
    if isinstance(root, FileNotFoundError) or "No such file" in text:
        return "its socket is gone"
    if isinstance(root, TimeoutError) or "timed out" in text.lower():
        return "it stopped answering"
    if isinstance(root, ConnectionError) or any(
        word in text for word in ("IncompleteRead", "Connection broken", "RemoteDisconnected")
    ):
        return "the connection broke off"
    return str(root) or type(root).__name__


def explain(exc: BaseException, endpoint: str) -> DaemonUnavailable:
    """Turn any connection failure into a `DaemonUnavailable` with an actionable hint."""
    text = f"{exc!r} {exc}"
    root = _root_cause(exc)
    refusal = api_versions.refusal_of(exc)
    if refusal is not None:
        message, hint = api_versions.explain(
            refusal,
            who="The dashboard",
            endpoint=endpoint,
            upgrade_hint="Upgrade the dashboard's docker SDK (`pip install -U docker`).",
        )
        return DaemonUnavailable(API_VERSION, message, hint, endpoint)
    if isinstance(exc, docker.errors.InvalidVersion) and api_versions.pinned():
        return DaemonUnavailable(
            API_VERSION,
            f"{api_versions.ENV}={api_versions.pinned()} is set, and the docker SDK cannot "
            f"speak that version: {exc}",
            api_versions.unpin_hint(),
            endpoint,
        )
    start = (
        "Start Docker: on Linux `sudo systemctl start docker` (or run `dockerd`); "
        "on macOS or Windows, open Docker Desktop (on Windows, inside WSL 2 enable "
        "Settings > Resources > WSL integration)."
    )
    if isinstance(root, PermissionError) or "Permission denied" in text:
        return DaemonUnavailable(
            "permission",
            f"Permission denied on the Docker socket ({endpoint}).",
            "Add yourself to the docker group (`sudo usermod -aG docker $USER`, then log in "
            "again) or run as a user that may use Docker.",
            endpoint,
        )
    if isinstance(root, FileNotFoundError) or "No such file" in text:
        return DaemonUnavailable(
            "missing",
            f"No Docker daemon socket at {endpoint}.",
            start + " If Docker runs elsewhere, set DOCKER_HOST or `docker context use`.",
            endpoint,
        )
    if isinstance(root, ConnectionRefusedError) or "Connection refused" in text:
        return DaemonUnavailable(
            "refused", f"The Docker daemon at {endpoint} refused the connection.", start, endpoint
        )
    if isinstance(root, TimeoutError) or "timed out" in text.lower():
        return DaemonUnavailable(
            "timeout", f"The Docker daemon at {endpoint} did not answer in time.", start, endpoint
        )
    return DaemonUnavailable(
        "error", f"Cannot talk to the Docker daemon at {endpoint}: {root}", start, endpoint
    )


# The one home of what a call to the daemon raises (every engine module catches these):
# the way to the daemon failed or broke mid-call (refused, reset, timed out, a stream cut) ...
TRANSPORT_ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError)
# ... or that, or the daemon's own refusal (the SDK's errors: APIError and the rest).
DAEMON_ERRORS = (docker.errors.DockerException, *TRANSPORT_ERRORS)


def connect(timeout: int = 60) -> docker.DockerClient:
    """A high-level client that has answered a ping, or `DaemonUnavailable`.

    The API version is the daemon's own ("auto"), or DOCKER_API_VERSION as for the docker CLI;
    a daemon that refuses a pinned version answers the ping with HTTP 400, explained here.
    """
    endpoint = resolve_endpoint()
    bad_pin = api_versions.bad_pin()
    if bad_pin is not None:
        raise DaemonUnavailable(API_VERSION, *bad_pin, endpoint.base_url)
    try:
        client = docker.DockerClient(
            base_url=endpoint.base_url,
            version=api_versions.sdk_version(),
            timeout=timeout,
            tls=endpoint.tls or False,
        )
        client.ping()
    except DAEMON_ERRORS as exc:
        raise explain(exc, endpoint.base_url) from exc
    return client
