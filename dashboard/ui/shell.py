"""The frame around every page: page config, navigation, theme, sidebar, the error boundary.

`main()` is the whole of app.py. Each page file ends with `run_page(render, __file__)`.

Why pages also know the frame: the page files live in dashboard/pages/, which Streamlit also
reads as a legacy "pages" folder. Until the server process's first st.navigation call (and on
every AppTest run), a script run that starts for a URL naming a page file runs that file
directly, without app.py. The page files are named after their URL paths so that this finds them
(instead of showing a "Page not found" dialog that blocks the page), and `run_page` then builds
the frame itself and runs the page through st.navigation, so it renders inside the same frame
and error boundary, with the same widget ids, and for the same owner, as in every later run.

Whether this run went through the frame is known per script run (a thread-local that `main`
sets), not from Streamlit's process-wide flag: on a fresh server two sessions start at once (a
hub's seat: the page the login lands on, and the lesson the student opens), and the first one's
st.navigation turns the flag off while the other is still in its direct run, which then
rendered its lesson with no owner bound (a student's seat showed and built `iris-model:1.0`,
not `ada/iris-model:1.0`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from dashboard import settings
from dashboard.engine.base import owner
from dashboard.engine.catalog import lessons
from dashboard.ui import errors, leftovers, sidebar, state, theme
from dashboard.ui import text as T

PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"


@dataclass(frozen=True)
class PageSpec:
    file: str  # in dashboard/pages/; its stem is the URL path (see the module docstring)
    title: str  # in the navigation
    icon: str
    section: str

    @property
    def url_path(self) -> str:
        return Path(self.file).stem


lessons.check_catalog(PAGES_DIR)  # a lesson without its page or lab folder stops the app here
WHY = PageSpec("why_docker.py", T.TITLE_WHY, ":material/help:", "Start here")
PAGES = (
    WHY,
    *(PageSpec(lesson.page, lesson.nav, lesson.icon, "Lessons") for lesson in lessons.LESSONS),
    PageSpec("gpu.py", "GPUs", ":material/memory:", "More"),
    PageSpec("sizes.py", "Sizes and clean-up", ":material/straighten:", "More"),
    PageSpec("cicd.py", "CI/CD", ":material/sync:", "More"),
    PageSpec("history.py", "Progress & history", ":material/timeline:", "More"),
)
CLASSROOM = PageSpec("classroom.py", "Classroom", ":material/groups:", "Instructor")
DOWN = PageSpec("docker_unreachable.py", T.TITLE_DOWN, ":material/error:", "Docker")
# Readable while the daemon is down: theory, and what the history database kept.
OFFLINE_READING = ("why_docker.py", "cicd.py", "history.py")
# For the benchmarks (bench/responsive.py) only: DASHBOARD_BENCH_FLOOR=1 adds a hidden page at
# /bench-floor that is one st.write and nothing of the frame after st.navigation (Streamlit's own
# cost in this server: the floor every page is compared with); DASHBOARD_SCRIPT_TIMES=FILE
# appends each script run's page and duration to FILE (script time vs what the browser waits).
FLOOR_PATH = "bench-floor"


def _page(spec: PageSpec, default: bool = False, hidden: bool = False):
    return st.Page(
        PAGES_DIR / spec.file,
        title=spec.title,
        icon=spec.icon,
        # The default page is served at "/" but still reserves its url_path: give it another
        # one, so a hidden twin can answer at the file's name (/why_docker) too.
        url_path="home" if default else spec.url_path,
        default=default,
        visibility="hidden" if hidden else "visible",
    )


def frame():
    """Everything around the page; returns the page st.navigation picked."""
    st.set_page_config(
        page_title="Docker for ML engineers",
        page_icon="🐳",
        layout="wide",
        initial_sidebar_state="expanded",
    )
    state.bind_owner()  # classroom mode: act for this browser's student
    facts = state.facts()
    sections: dict[str, list] = {}
    if facts.ok:
        for spec in PAGES:
            sections.setdefault(spec.section, []).append(_page(spec, default=spec is WHY))
        # The default page lives at "/"; its hidden twin answers at /why_docker.
        sections[WHY.section].append(_page(WHY, hidden=True))
        if state.classroom() and not settings.seat_student():
            # A hub's seat is one student's: the instructor's roster is the hub's service.
            sections[CLASSROOM.section] = [_page(CLASSROOM)]
    else:
        sections[DOWN.section] = [_page(DOWN, default=True)]
        # The lessons stay registered (hidden), so their URLs still answer: with the fix.
        sections["Read meanwhile"] = [
            _page(spec, hidden=spec.file not in OFFLINE_READING) for spec in PAGES
        ]
    if settings.bench_floor():
        sections.setdefault("Bench", []).append(
            st.Page(_floor, title="Floor", url_path=FLOOR_PATH, visibility="hidden")
        )
    page = st.navigation(sections)
    if page.url_path == FLOOR_PATH:
        return page
    theme.apply_css(state.presenting())
    with errors.boundary():
        sidebar.render(facts)
    if facts.ok and not state.classroom() and not state.presenting():
        # What a crashed dashboard left behind, once per session. Not in classroom mode: there
        # the other sessions are the other students, and the instructor's page lists them.
        # Not while presenting either: it would take the top of the shared screen.
        with errors.boundary():
            leftovers.banner()
    return page


def _floor() -> None:
    st.write("# Floor")  # a heading: the bench waits for the page's h1


def run(page) -> None:
    """Run the page st.navigation picked; in classroom mode, first ask for the student's name
    (the instructor's page needs none)."""
    with errors.boundary():
        needs_name = state.classroom() and owner.current().student is None
        if needs_name and page.url_path != CLASSROOM.url_path:
            from dashboard.ui import classroom

            classroom.welcome()
        else:
            page.run()


_FRAMED = threading.local()  # `on` while this thread's script run is inside frame() and run()


@contextlib.contextmanager
def _framing() -> Iterator[None]:
    before = getattr(_FRAMED, "on", False)
    _FRAMED.on = True
    try:
        yield
    finally:
        _FRAMED.on = before


def _framed() -> bool:
    """This script run went through the frame (app.py, or run_page's own direct-run branch)."""
    return getattr(_FRAMED, "on", False)


def main() -> None:
    """app.py: the frame, then the page."""
    with _framing():
        _main()


def _main() -> None:
    times = settings.script_times()
    if times is None:
        run(frame())
        return
    started, page = time.perf_counter(), None
    try:
        page = frame()
        run(page)
    finally:  # also when Streamlit stops the script (a rerun, st.stop)
        with times.open("a") as out:
            name = page.url_path if page is not None else "?"
            out.write(f"{name}\t{(time.perf_counter() - started) * 1000:.1f}\n")


def run_page(render: Callable[[], None], file: str) -> None:
    """The last line of every page file: render inside the frame and the error boundary."""
    if not _framed():
        # Streamlit ran this file without app.py. Build the frame, then run the page the way
        # app.py would (page.run() executes this file again, now under st.navigation): its
        # widgets get the same ids as in every later run, so the first click is not lost, and
        # it runs for this browser's student (frame() binds the owner first).
        with _framing():
            run(frame())
        return
    name = Path(file).name
    if name != DOWN.file and name not in OFFLINE_READING and not state.facts().ok:
        from dashboard.ui import down

        render = down.render  # a lesson without a daemon: say why, and how to fix it
    with errors.boundary():
        render()
