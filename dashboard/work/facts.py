"""What the sidebar shows about this machine's Docker, read in one go.

`read_facts()` never raises for an unreachable daemon: it returns `DaemonFacts(ok=False, ...)`
with the engine's sentence and hint, so the app can show its "Docker is not reachable" page.
The app caches the answer for a few seconds (st.cache_data), so a plain rerun makes no call.
No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DaemonFacts:
    ok: bool
    endpoint: str
    source: str  # "DOCKER_HOST", "context NAME" or "default"
    reason: str = ""  # when not ok: DaemonUnavailable.reason (missing, refused, api-version...)
    message: str = ""
    hint: str = ""
    engine_version: str = ""
    api_version: str = ""
    os_arch: str = ""
    cpus: int = 0
    memory_bytes: int = 0
    images: int = 0
    containers: int = 0
    containers_running: int = 0
    compose_version: str | None = None
    compose_error: str | None = None
    gpu_available: bool = False
    gpu_reason: str = ""
    nvidia_runtime: bool = False
    runtimes: tuple[str, ...] = ()
    base_image: str = "python:3.11-slim"
    base_present: bool = False
    base_standin: bool = False
    base_summary: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def build_network(self) -> str | None:
        """The `--network` a lab build uses here (the stand-in needs the host's wheelhouse)."""
        return "host" if self.base_standin else None


def _unreachable(exc, source: str) -> DaemonFacts:
    return DaemonFacts(
        ok=False,
        endpoint=exc.endpoint,
        source=source,
        reason=exc.reason,
        message=exc.message,
        hint=exc.hint,
    )


def read_facts(cli_check: Callable[[str], object] | None = None) -> DaemonFacts:
    """Connect, then read version, info, the base image, Compose and GPU support.

    Also asks the `docker` CLI on PATH, where the lessons' commands are typed: a daemon that
    refuses its API version is a warning with the fix. `cli_check(endpoint)` stands in for
    `api_versions.check_docker_cli` (the app asks it once per connection, not on every read).
    """
    from dashboard.engine.base.connection import (
        DAEMON_ERRORS,
        DaemonUnavailable,
        connect,
        explain,
        resolve_endpoint,
    )
    from dashboard.engine.offline import offline
    from dashboard.engine.ops import gpu

    endpoint = resolve_endpoint()
    try:
        client = connect(timeout=10)
        try:
            version = client.version()
            info = client.info()
            base = offline.base_image_status(client)
        finally:
            client.close()
    except DAEMON_ERRORS as exc:  # it answered the ping, then went away
        exc = explain(exc, endpoint.base_url)
        return _unreachable(exc, endpoint.source)
    except DaemonUnavailable as exc:
        return _unreachable(exc, endpoint.source)
    verdict = gpu.decide(info)
    warnings: list[str] = []
    compose_version = compose_error = None
    try:
        from dashboard.engine.ops import compose

        compose_version = compose.default_cli().version
    except Exception as exc:  # ComposeUnavailable, or a CLI that hangs: say so, do not fail
        compose_error = str(exc)
    from dashboard.engine.base import api_versions

    cli = (cli_check or api_versions.check_docker_cli)(endpoint.base_url)
    if cli.status == "refused":
        warnings.append(f"{cli.message} {cli.hint}")
    if not base.present:
        warnings.append(
            f"{base.name} is missing: run `python -m dashboard prepare` before building the labs."
        )
    return DaemonFacts(
        ok=True,
        endpoint=endpoint.base_url,
        source=endpoint.source,
        engine_version=str(version.get("Version", "")),
        api_version=str(version.get("ApiVersion", "")),
        os_arch=f"{version.get('Os', '')}/{version.get('Arch', '')}",
        cpus=int(info.get("NCPU") or 0),
        memory_bytes=int(info.get("MemTotal") or 0),
        images=int(info.get("Images") or 0),
        containers=int(info.get("Containers") or 0),
        containers_running=int(info.get("ContainersRunning") or 0),
        compose_version=compose_version,
        compose_error=compose_error,
        gpu_available=verdict.available,
        gpu_reason=verdict.reason,
        nvidia_runtime=verdict.nvidia_runtime,
        runtimes=verdict.runtimes,
        base_image=base.name,
        base_present=base.present,
        base_standin=base.standin,
        base_summary=base.summary,
        warnings=tuple(warnings),
    )
