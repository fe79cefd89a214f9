"""`doctor`: is this machine ready for class? One check per piece, each with its fix."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from dashboard.engine import offline
from dashboard.engine.connection import DaemonUnavailable, connect, resolve_endpoint
from dashboard.engine.paths import data_dir


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False  # a missing optional piece (a GPU) does not fail the doctor


def _compose_check() -> Check:
    """`docker compose`, or a standalone Compose v2 (the dashboard's image has only that)."""
    from dashboard.engine import compose

    try:
        cli = compose.find_compose()
    except compose.ComposeUnavailable as exc:
        return Check("compose", False, exc.message, exc.hint)
    return Check("compose", True, f"Docker Compose {cli.version} ({' '.join(cli.argv)})")


def run_checks() -> list[Check]:
    checks: list[Check] = []
    try:
        client = connect(timeout=15)
    except DaemonUnavailable as exc:
        checks.append(Check("daemon", False, exc.message, exc.hint))
        checks.append(_compose_check())
        return checks
    version = client.version()
    checks.append(
        Check(
            "daemon",
            True,
            f"Docker Engine {version.get('Version')} (API {version.get('ApiVersion')}) "
            f"at {resolve_endpoint().base_url}",
        )
    )
    checks.append(_compose_check())

    status = offline.base_image_status(client)
    if status.present:
        checks.append(Check("base image", True, status.summary))
    else:
        fix = "Run `python -m dashboard prepare` (pulls it, or builds an offline stand-in)."
        if shutil.which("debootstrap") is None:
            fix += " Offline, that needs debootstrap: `apt-get install debootstrap`."
        checks.append(Check("base image", False, status.summary, fix))

    if status.standin:
        serving = offline.wheelhouse_ready(client)
        where = "the Docker host's " if offline.in_container() else ""
        checks.append(
            Check(
                "wheelhouse",
                serving,
                f"{where}{offline.wheelhouse_url()} serves the wheels"
                if serving
                else f"nothing answers at {where}{offline.wheelhouse_url()}",
                ""
                if serving
                else "Run `python -m dashboard prepare --no-build` (on the host) to serve it.",
            )
        )
    else:
        checks.append(Check("wheelhouse", True, "not needed: the base image is the real one"))

    try:
        from dashboard.engine import gpu

        g = gpu.gpu_status(client)
        checks.append(
            Check(
                "gpu",
                g.available,
                g.reason,
                ""
                if g.available
                else "Optional: install the NVIDIA driver and the NVIDIA "
                "Container Toolkit, then restart Docker. The labs run on the CPU without it.",
                optional=True,
            )
        )
    except Exception as exc:  # GPU detection must never fail the doctor
        checks.append(Check("gpu", False, f"could not check: {exc}", optional=True))

    root = client.info().get("DockerRootDir", "/var/lib/docker")
    try:
        usage = shutil.disk_usage(root)
        where = root
    except OSError:  # a remote daemon: its disk is not ours to read
        usage, where = shutil.disk_usage(data_dir()), str(data_dir())
    free_gb = usage.free / 1e9
    checks.append(
        Check(
            "disk",
            free_gb >= 3,
            f"{free_gb:.1f} GB free at {where}",
            ""
            if free_gb >= 3
            else "The labs need about 3 GB: free space, or "
            "`python -m dashboard reset` to remove what the dashboard built.",
        )
    )
    return checks
