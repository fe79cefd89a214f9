"""The machine a benchmark ran on: CPUs, memory, Docker versions, base image, commit."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime

import docker

from dashboard.engine.base.paths import REPO_ROOT
from dashboard.engine.offline import offline


def _mem_total() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _out(args: list[str]) -> str | None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30, cwd=REPO_ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def describe(client: docker.DockerClient) -> dict:
    version = client.version()
    info = client.info()
    base = offline.base_image_status(client)
    commit = _out(["git", "rev-parse", "--short", "HEAD"])
    dirty = bool(_out(["git", "status", "--porcelain", "--untracked-files=no"]))
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "cpus": os.cpu_count(),
        "memory_bytes": _mem_total(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "docker_server": version.get("Version"),
        "docker_api": version.get("ApiVersion"),
        "docker_cli": _out(["docker", "version", "--format", "{{.Client.Version}}"]),
        "storage_driver": info.get("Driver"),
        "base_image": base.name,
        "base_image_standin": base.standin,
        "base_image_bytes": base.size_bytes,
        "commit": f"{commit}{'+local changes' if dirty else ''}" if commit else None,
    }
