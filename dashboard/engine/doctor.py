"""`doctor`: is this machine ready for class? One check per piece, each with its fix."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from dashboard.engine.base import api_versions
from dashboard.engine.base.connection import DaemonUnavailable, connect, resolve_endpoint
from dashboard.engine.base.paths import data_dir
from dashboard.engine.offline import offline


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False  # a missing optional piece (a GPU) does not fail the doctor


def _compose_check(reachable: bool = True) -> Check:
    """`docker compose`, or a standalone Compose v2 (the dashboard's image has only that).

    With the daemon reachable, `compose ls` asks it something: `compose version` alone never
    talks to the daemon, so it cannot tell whether the daemon takes Compose's API version.
    """
    from dashboard.engine.ops import compose

    try:
        cli = compose.find_compose()
    except compose.ComposeUnavailable as exc:
        return Check("compose", False, exc.message, exc.hint)
    found = f"Docker Compose {cli.version} ({' '.join(cli.argv)})"
    refusal = (
        api_versions.command_refusal([*cli.argv, "ls", "--all", "--format", "json"])
        if reachable
        else None
    )
    if refusal is not None:
        return _refused("compose", refusal, found, api_versions.COMPOSE_HINT)
    return Check("compose", True, found)


def _refused(name: str, refusal, found: str, upgrade_hint: str) -> Check:
    """A tool whose API version the daemon refused: the failed check with its fix."""
    message, hint = api_versions.explain(
        refusal, who=found, endpoint=resolve_endpoint().base_url, upgrade_hint=upgrade_hint
    )
    return Check(name, False, message, hint)


def _buildx_check() -> Check:
    """`docker buildx`, when installed: Compose builds through it (bake) when it is new enough.

    `buildx inspect` asks the daemon through buildx's own API client, which can be older than
    the docker CLI's.
    """
    docker_bin = shutil.which("docker")
    done = None
    if docker_bin is not None:
        try:
            done = subprocess.run(
                [docker_bin, "buildx", "version"], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            done = None
    if docker_bin is None or done is None or done.returncode != 0:
        return Check("buildx", False, "not installed: Compose builds without it", optional=True)
    words = done.stdout.split()
    found = f"docker buildx {words[1] if len(words) > 1 else done.stdout.strip()}"
    refusal = api_versions.command_refusal([docker_bin, "buildx", "inspect"])
    if refusal is not None:
        return _refused("buildx", refusal, found, api_versions.BUILDX_HINT)
    return Check("buildx", True, found, optional=True)


def _docker_cli_check() -> Check:
    """The first `docker` on PATH: the commands the lessons show are typed into it."""
    cli = api_versions.check_docker_cli(resolve_endpoint().base_url)
    if cli.status == "missing":
        return Check(
            "docker CLI",
            False,
            "no `docker` on PATH: the dashboard works without it, but the commands it shows "
            "need it",
            api_versions.CLI_HINT,
            optional=True,
        )
    if cli.status == "unknown":
        return Check("docker CLI", False, cli.message, optional=True)
    return Check("docker CLI", cli.ok, cli.message, cli.hint)


def run_checks() -> list[Check]:
    checks: list[Check] = []
    try:
        client = connect(timeout=15)
    except DaemonUnavailable as exc:
        checks.append(Check("daemon", False, exc.message, exc.hint))
        checks.append(_compose_check(reachable=False))
        return checks
    version = client.version()
    checks.append(
        Check(
            "daemon",
            True,
            f"Docker Engine {version.get('Version')} (API {version.get('ApiVersion')}, "
            f"takes {version.get('MinAPIVersion') or '?'} and newer) "
            f"at {resolve_endpoint().base_url}",
        )
    )
    checks.append(_docker_cli_check())
    checks.append(_buildx_check())
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
        found = offline.build_wheelhouse_check(client, status)
        checks.append(Check("wheelhouse", found.ok, found.detail, found.fix))
        url = offline.build_index(client, status)
        if status.index and not offline.in_container():
            points = status.index == url
            checks.append(
                Check(
                    "stand-in pip",
                    points,
                    f"{status.name}'s /etc/pip.conf sends pip to {status.index}"
                    + ("" if points else f", not to the wheelhouse at {url}"),
                    ""
                    if points
                    else "Run `python -m dashboard prepare --no-build`: it points the stand-in "
                    f"at {url}.",
                )
            )
    else:
        checks.append(Check("wheelhouse", True, "not needed: the base image is the real one"))

    try:
        from dashboard.engine.ops import gpu

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

    from dashboard.engine.analysis import hadolint

    linter = hadolint.version()
    checks.append(
        Check(
            "hints",
            linter is not None,
            f"hadolint {linter} checks the Dockerfile hints"
            if linter
            else "hadolint is missing: the Dockerfile hints use the dashboard's own rules only",
            "" if linter else "Install the pinned requirements: `./dev setup`.",
            optional=True,
        )
    )

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
