"""Whom the dashboard works for right now: this dashboard process, or one classroom student.

On a laptop the owner is the process: one session id (`DASHBOARD_SESSION`, else random) labels
every container and volume it creates, and the lab images have the lecture's names
(`iris-model:1.0`). In classroom mode (`DASHBOARD_CLASSROOM=1`) many browsers share one server
and one daemon, and each student is an owner of their own: a session id made from their name
(`student-alice`), a student label on everything, images under their name (`alice/iris-model:1.0`),
a Compose project of their own (`wine-alice`), and a data folder of their own (history, working
copies). So one student's build, run or reset never lands on another's objects.

The current owner is a context variable: the page code sets it for its script run
(`acting_for`), and each job's worker thread sets it again before calling the engine (threads do
not inherit context variables). Engine code that labels or names things asks `current()`.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dashboard import settings

CLASSROOM_ENV = settings.CLASSROOM
STUDENT_PREFIX = "student-"
MAX_NAME = 24  # characters of a student's slug: image names and Compose projects stay short

# One id per process unless the caller pins one (tests, two dashboards side by side).
_PROCESS_SESSION = settings.session() or uuid.uuid4().hex[:12]


class BadStudentName(ValueError):
    """A name that gives no usable namespace; the message says what to type instead."""


@dataclass(frozen=True)
class Owner:
    session: str  # the value of the session label on containers, volumes and networks
    student: str | None = None  # classroom mode: the student's slug (also a label)

    def image(self, ref: str) -> str:
        """The tag this owner builds `ref` as: `alice/iris-model:1.0` for a student."""
        return f"{self.student}/{ref}" if self.student else ref

    def compose_project(self, project: str) -> str:
        """The Compose project name: `wine`, or `wine-alice` for a student."""
        return f"{project}-{self.student}" if self.student else project

    def data_dir(self, base: Path) -> Path:
        """Where this owner's history and working copies live below the data folder `base`."""
        return base / "students" / self.student if self.student else base


def process_owner() -> Owner:
    return Owner(_PROCESS_SESSION)


_current: contextvars.ContextVar[Owner | None] = contextvars.ContextVar("owner", default=None)


def current() -> Owner:
    """The owner set for this thread's work, else the dashboard process."""
    return _current.get() or process_owner()


@contextlib.contextmanager
def acting_for(owner: Owner | None) -> Iterator[Owner]:
    """Run the body as `owner` (None: the process). Restores the previous owner after."""
    token = _current.set(owner)
    try:
        yield current()
    finally:
        _current.reset(token)


def set_current(owner: Owner | None) -> None:
    """Set the owner for the rest of this thread's current task (a Streamlit script run)."""
    _current.set(owner)


def classroom_mode() -> bool:
    return settings.classroom()


def slug(name: str) -> str:
    """A student's name as a namespace: lowercase letters, digits and single dashes.

    Docker allows lowercase letters, digits and separators in a repository path component and
    Compose lowercase letters, digits, '-' and '_' in a project name; a slug fits both.
    Raises BadStudentName with a sentence for the page when nothing usable is left.
    """
    # Accents off first ("José" -> "jose", not "jos"): decompose, then drop the marks.
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if not text:
        raise BadStudentName(
            "Type a name with at least one letter or digit (a-z, 0-9), e.g. your first name."
        )
    if len(text) > MAX_NAME:
        raise BadStudentName(
            f"Keep it to {MAX_NAME} letters or digits: it becomes part of your image names "
            f"({text[:MAX_NAME]}/iris-model:1.0)."
        )
    return text


def for_student(name: str) -> Owner:
    """The owner of a classroom student (the name is slugged: 'Alice B.' -> alice-b)."""
    student = slug(name)
    return Owner(STUDENT_PREFIX + student, student)


def student_of_session(session: str | None) -> str | None:
    """The student a session label belongs to (None for a dashboard process's session)."""
    if session and session.startswith(STUDENT_PREFIX):
        return session.removeprefix(STUDENT_PREFIX) or None
    return None
