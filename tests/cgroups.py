"""The machine owner's part of a classroom's build cap, as the classroom guide says it: a cgroup
with CPU and memory limits (cgroup v1: the cpu and memory hierarchies; v2: one tree), made and
removed by the tests that check builds run below it. Needs root."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def v2() -> bool:
    return (CGROUP / "cgroup.controllers").exists()


def unavailable_reason() -> str | None:
    if os.geteuid() != 0 or not os.access(CGROUP, os.W_OK):
        return "a build cap's cgroup needs root and a writable /sys/fs/cgroup"
    return None


def student_cgroup(name: str, student: str) -> Path:
    """Where runc makes STUDENT's cgroup below NAME (v1: in the memory hierarchy)."""
    return (CGROUP / name if v2() else CGROUP / "memory" / name) / student


@contextlib.contextmanager
def capped(memory_mb: int, cpus: float, prefix: str = "dml-test-builds") -> Iterator[str]:
    """A cgroup limited to `memory_mb` and `cpus`; its name (DASHBOARD_BUILD_CGROUP is /NAME).
    Removed after, with what runc made below it in every hierarchy."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    quota = int(cpus * 100000)
    if v2():
        root = CGROUP / name
        (CGROUP / "cgroup.subtree_control").write_text("+memory +cpu")
        root.mkdir()
        (root / "memory.max").write_text(str(memory_mb << 20))
        with contextlib.suppress(FileNotFoundError):  # no swap accounting on this kernel
            (root / "memory.swap.max").write_text("0")
        (root / "cpu.max").write_text(f"{quota} 100000")
        (root / "cgroup.subtree_control").write_text("+memory +cpu")
    else:
        memory, cpu = CGROUP / "memory" / name, CGROUP / "cpu" / name
        memory.mkdir()
        cpu.mkdir()
        (memory / "memory.limit_in_bytes").write_text(str(memory_mb << 20))
        (cpu / "cpu.cfs_period_us").write_text("100000")
        (cpu / "cpu.cfs_quota_us").write_text(str(quota))
    try:
        yield name
    finally:
        for folder in {CGROUP / name, *CGROUP.glob(f"*/{name}")}:
            _remove(folder)


def _remove(folder: Path) -> None:
    """Bottom up: a cgroup goes with rmdir once its children and processes are gone."""
    for _ in range(50):
        try:
            for child in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
                if child.is_dir():
                    child.rmdir()
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.2)
