"""The instructor's roster in classroom mode: every student, their progress and their resources.

A student is known by the student label on what the dashboard made for them (containers,
images, volumes, networks) and by their folder below the data folder (history and working
copies, see owner.py). Progress is what their own history database ticked (checks.py writes
it when the student's pages evaluate the checks); resources are what the daemon lists now.
No Streamlit here.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import docker

from dashboard.engine.base import owner
from dashboard.engine.ops import cleanup
from dashboard.engine.progress import checks
from dashboard.engine.progress.history import History, default_path


@dataclass(frozen=True)
class StudentRecord:
    student: str
    containers: int
    running: int
    images: int
    volumes: int
    networks: int
    checks_done: int
    checks_total: int
    builds: int
    runs: int
    last_activity: datetime | None
    image_names: tuple[str, ...] = ()

    @property
    def resources(self) -> int:
        return self.containers + self.images + self.volumes + self.networks


def students_on_disk(base: Path) -> set[str]:
    """Students that have a folder below the data folder `base` (they chose a name once)."""
    folder = base / "students"
    if not folder.is_dir():
        return set()
    return {p.name for p in folder.iterdir() if p.is_dir() and _valid(p.name)}


def _valid(name: str) -> bool:
    try:
        return owner.slug(name) == name
    except owner.BadStudentName:
        return False


def _history_of(student: str) -> tuple[int, int, int, datetime | None]:
    """(checks done, builds, runs, last activity) from the student's own history database."""
    with owner.acting_for(owner.for_student(student)):
        path = default_path()
    if not path.exists():
        return 0, 0, 0, None
    history = History.open(path)
    try:
        # only today's checks: a check that was renamed or removed keeps its old row
        done = len(history.check_progress().keys() & checks.CHECKS_BY_ID.keys())
        counts = history.counts()
        latest = history.builds(limit=1) + history.runs(limit=1)  # the newest of each
    finally:
        with contextlib.suppress(Exception):
            history.close()
    times = [getattr(r, "finished_at", None) or getattr(r, "recorded_at", None) for r in latest]
    times = [t for t in times if t is not None]
    last = max(times) if times else None
    return done, counts.get("builds", 0), counts.get("runs", 0), last


def roster(client: docker.DockerClient | None, base: Path) -> list[StudentRecord]:
    """Every student seen on the daemon or on disk, by name. `client=None`: history only."""
    inventory = cleanup.list_ours(client) if client is not None else cleanup.Inventory()
    by_student: dict[str, list[cleanup.OwnedObject]] = {}
    for obj in inventory.all:
        if obj.student:
            by_student.setdefault(obj.student, []).append(obj)
    names = sorted(set(by_student) | students_on_disk(base))
    return [_record(name, by_student.get(name, [])) for name in names]


def student_record(client: docker.DockerClient, student: str) -> StudentRecord:
    """One student's record, all zeros when they have nothing yet (a classroom hub's seat)."""
    return _record(student, list(cleanup.list_ours(client, student=student).all))


def _record(name: str, objs: list[cleanup.OwnedObject]) -> StudentRecord:
    total = len(checks.CHECKS)
    kinds = [o.kind for o in objs]
    done, builds, runs, last = _history_of(name)
    return StudentRecord(
        student=name,
        containers=kinds.count("container"),
        running=sum(1 for o in objs if o.kind == "container" and o.status == "running"),
        images=kinds.count("image"),
        volumes=kinds.count("volume"),
        networks=kinds.count("network"),
        checks_done=min(done, total),
        checks_total=total,
        builds=builds,
        runs=runs,
        last_activity=last,
        image_names=tuple(sorted(o.name for o in objs if o.kind == "image")),
    )
