"""Every `DASHBOARD_*` setting the dashboard reads from its environment, with its default.

Each is a function that reads the environment when called, never at import, so a test that sets
a variable (monkeypatch.setenv) sees it at once. `SETTINGS` is the table of them in
docs/configuration.md, generated at every build of the docs (docs/hooks/generated.py). Docker's
own variables (DOCKER_HOST, DOCKER_CONFIG, DOCKER_API_VERSION) keep their meaning and are read
where the engine talks to Docker (engine/base/connection.py, engine/base/api_versions.py,
engine/ops/builds.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = "DASHBOARD_DATA_DIR"
CACHE_DIR = "DASHBOARD_CACHE_DIR"
HISTORY_DB = "DASHBOARD_HISTORY_DB"
LABS_DIR = "DASHBOARD_LABS_DIR"
SESSION = "DASHBOARD_SESSION"
TAG_SUFFIX = "DASHBOARD_TAG_SUFFIX"
COMPOSE_PROJECT = "DASHBOARD_COMPOSE_PROJECT"
CLASSROOM = "DASHBOARD_CLASSROOM"
SEAT = "DASHBOARD_SEAT"
INSTRUCTOR_KEY = "DASHBOARD_INSTRUCTOR_KEY"
BUILD_SLOTS = "DASHBOARD_BUILD_SLOTS"
BUILD_CGROUP = "DASHBOARD_BUILD_CGROUP"
OFFLINE = "DASHBOARD_OFFLINE"
WHEELHOUSE_PORT = "DASHBOARD_WHEELHOUSE_PORT"
IN_CONTAINER = "DASHBOARD_IN_CONTAINER"
DEBUG = "DASHBOARD_DEBUG"
TERMINAL_IDLE = "DASHBOARD_TERMINAL_IDLE"
BENCH_FLOOR = "DASHBOARD_BENCH_FLOOR"
SCRIPT_TIMES = "DASHBOARD_SCRIPT_TIMES"

TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    what: str


# One row per variable, all of the same shape: docs/configuration.md's table is made from these.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        DATA_DIR,
        "the user data folder (~/.local/share/docker-ml-dashboard on Linux)",
        "the data folder: history, working copies, classroom students' folders (and the cache, "
        "unless DASHBOARD_CACHE_DIR is set)",
    ),
    Setting(
        CACHE_DIR,
        "DATA_DIR when set, else the user cache folder (~/.cache/docker-ml-dashboard on Linux)",
        "what can be made again: the offline wheelhouse, the stand-in's build files, snapshots",
    ),
    Setting(HISTORY_DB, "DATA_DIR/history.sqlite3", "another history database file"),
    Setting(LABS_DIR, "labs/ of the repository", "where the lab folders are"),
    Setting(
        SESSION,
        "a random id per process",
        "the session label of what this process creates (tests, two dashboards side by side)",
    ),
    Setting(
        TAG_SUFFIX,
        "none",
        "appended to the working copies' image tags and the Makefile's TAG and NAME (tests)",
    ),
    Setting(COMPOSE_PROJECT, "wine", "the Compose project name of the wine pair"),
    Setting(CLASSROOM, "off", "1/true/yes/on: classroom mode (one namespace per student)"),
    Setting(
        SEAT,
        "none",
        "a classroom hub's seat: the one student this dashboard works for (classroom mode, no "
        "name to pick; set by the hub's spawner)",
    ),
    Setting(INSTRUCTOR_KEY, "none", "the key the instructor's Classroom page asks for"),
    Setting(BUILD_SLOTS, "one per CPU", "how many builds run at once in classroom mode"),
    Setting(
        BUILD_CGROUP,
        "none",
        "the cgroup that a build's steps run under, one per student below it (`docker buildx "
        "build --cgroup-parent`): a cgroupfs path, /dml-builds -> /dml-builds/NAME, or a systemd "
        "slice, dml-builds.slice -> dml-builds-NAME.slice; the machine's owner gives it its CPU "
        "and memory limits (the classroom guide says how)",
    ),
    Setting(OFFLINE, "off", "1: never try to pull the base image, build the stand-in"),
    Setting(
        WHEELHOUSE_PORT,
        "3141, or the port `prepare` moved to",
        "the port of the local wheelhouse server (offline builds); when set, `prepare` never "
        "moves it",
    ),
    Setting(IN_CONTAINER, "off", "1: running in the dashboard's own image (docker/Dockerfile)"),
    Setting(DEBUG, "off", "1: raise errors with their traceback instead of a sentence"),
    Setting(
        TERMINAL_IDLE,
        "600",
        "seconds without a key pressed after which a browser terminal closes",
    ),
    Setting(
        BENCH_FLOOR,
        "off",
        "1: a hidden page at /bench-floor, one st.write (the benchmarks' floor for reruns)",
    ),
    Setting(SCRIPT_TIMES, "none", "a file: each script run's page and time are appended (bench)"),
)


def _get(name: str) -> str:
    return os.environ.get(name, "").strip()


def _flag(name: str) -> bool:
    return _get(name).lower() in TRUE


def _path(name: str) -> Path | None:
    value = _get(name)
    return Path(value) if value else None


def data_dir() -> Path | None:
    """DASHBOARD_DATA_DIR, or None for the default (engine/base/paths.py)."""
    return _path(DATA_DIR)


def cache_dir() -> Path | None:
    """DASHBOARD_CACHE_DIR, or None for the default (engine/base/paths.py)."""
    return _path(CACHE_DIR)


def history_db() -> Path | None:
    return _path(HISTORY_DB)


def labs_dir() -> Path | None:
    return _path(LABS_DIR)


def cache_home() -> Path:
    """XDG_CACHE_HOME, else ~/.cache."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def session() -> str | None:
    return _get(SESSION) or None


def bench_floor() -> bool:
    return _flag(BENCH_FLOOR)


def script_times() -> Path | None:
    return _path(SCRIPT_TIMES)


def tag_suffix() -> str:
    return _get(TAG_SUFFIX)


def compose_project() -> str | None:
    return _get(COMPOSE_PROJECT) or None


def classroom() -> bool:
    return _flag(CLASSROOM) or bool(seat_student())


def seat_student() -> str | None:
    """DASHBOARD_SEAT: the student a classroom hub's seat works for (None elsewhere)."""
    return _get(SEAT) or None


def instructor_key() -> str:
    return os.environ.get(INSTRUCTOR_KEY, "")


def build_slots() -> int | None:
    """DASHBOARD_BUILD_SLOTS as a number of at least 1; None when unset or not a number."""
    try:
        return max(1, int(_get(BUILD_SLOTS)))
    except ValueError:
        return None


def build_cgroup() -> str | None:
    """DASHBOARD_BUILD_CGROUP: the cgroup (path or systemd slice) builds run below; None when
    unset."""
    return _get(BUILD_CGROUP) or None


def offline() -> bool:
    return _get(OFFLINE) == "1"


def wheelhouse_port() -> int | None:
    """DASHBOARD_WHEELHOUSE_PORT, or None when unset (engine/offline/offline.py: the recorded port,
    or 3141)."""
    value = _get(WHEELHOUSE_PORT)
    return int(value) if value else None


def in_container() -> bool:
    return _get(IN_CONTAINER) == "1"


def debug() -> bool:
    return bool(_get(DEBUG))


def terminal_idle() -> float:
    """DASHBOARD_TERMINAL_IDLE in seconds (at least 1), 600 when unset or not a number."""
    try:
        return max(1.0, float(_get(TERMINAL_IDLE)))
    except ValueError:
        return 600.0
