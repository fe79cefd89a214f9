"""What a seat loads before it says it is ready: the modules its pages import, but for the
dashboard's own Streamlit side.

A fresh Streamlit server imports nothing of the dashboard until its first page run, which then
imports pandas, Plotly, the Docker SDK and the dashboard's own modules: seconds of CPU, paid by
the student's first page (up to 9 s on a quiet machine, minutes when a class of fresh seats
opens at once). A classroom hub's seat pays it while the hub's spawn page still says "starting":
its proxy's readiness check asks `.../_dashboard/seat/ready` (dashboard/work/seat_routes.py),
which loads these modules into the server's process (page runs share its `sys.modules`) and
answers once they are in.

No Streamlit commands run here: page files are read, not run. The dashboard's own Streamlit
modules (dashboard.ui, dashboard.pages) are left to the first page run: Streamlit registers a
component (the terminal's) only when `declare_component` runs inside a page run, so the terminal
of a seat that imported dashboard.ui.terminal here never loaded. What they import is loaded.
"""

from __future__ import annotations

import ast
import importlib
import threading
import time
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[1]
SOURCES = (*sorted((DASHBOARD / "ui").glob("*.py")), *sorted((DASHBOARD / "pages").glob("*.py")))
STREAMLIT_SIDE = ("dashboard.ui", "dashboard.pages")  # imported by page runs only (see above)


def page_modules(sources=SOURCES) -> list[str]:
    """Every module the page files and the dashboard's Streamlit side import, as import
    statements name them (`from a.b import c` gives a.b and, when c is a module, a.b.c), less
    that side itself."""
    found: set[str] = set()
    for source in sources:
        for node in ast.walk(ast.parse(Path(source).read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return sorted(n for n in found if not n.startswith(STREAMLIT_SIDE) and n != "dashboard")


def load(names: list[str]) -> int:
    """Import each of `names` that is a module; how many were."""
    loaded = 0
    for name in names:
        try:
            importlib.import_module(name)
            loaded += 1
        except ImportError:  # `from a import f`: f is no module
            continue
    return loaded


class Warming:
    """Loads the page modules once, in a thread of its own; `wait` until they are in."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.seconds: float | None = None
        self.modules = 0

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="seat-warm-up", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        began = time.perf_counter()
        try:
            self.modules = load(page_modules())
        finally:
            self.seconds = time.perf_counter() - began
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()


WARMING = Warming()
