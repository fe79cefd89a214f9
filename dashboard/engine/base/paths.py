"""Where things live: the labs folder, the dashboard's data folder and its cache folder.

Data is what a user would miss: the history database, the lessons' working copies, classroom
students' folders. It lives in the platform's user data folder (platformdirs: XDG_DATA_HOME or
~/.local/share on Linux, ~/Library/Application Support on macOS, %LOCALAPPDATA% on Windows).
Everything the dashboard can make again (the offline wheelhouse, the stand-in's build files,
build-context snapshots, Compose override files) lives in the user cache folder, which users and
tools empty freely. `DASHBOARD_DATA_DIR` puts both in one folder of the user's choice (the
dashboard's own image, tests); `DASHBOARD_CACHE_DIR` moves the cache alone.

Before this split, everything lived in the cache folder; `move_old_data` moves what is data out
of it once (see there).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from dashboard import settings

REPO_ROOT = Path(__file__).resolve().parents[3]  # dashboard/engine/base/paths.py
APP_NAME = "docker-ml-dashboard"
MOVED_NOTE = "MOVED.txt"  # left in the old folder: where its data went
# What the old single folder held that is data; the rest there is cache and stays.
DATA_ENTRIES = (
    "history.sqlite3",
    "history.sqlite3-wal",
    "history.sqlite3-shm",
    "workspace",
    "students",
)

log = logging.getLogger(__name__)


def labs_dir() -> Path:
    return settings.labs_dir() or REPO_ROOT / "labs"


def _made(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_data_dir() -> Path:
    import platformdirs  # here: with DASHBOARD_DATA_DIR set (the dashboard's image) it is not used

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def old_data_dir() -> Path:
    """Where earlier versions kept history and working copies: XDG_CACHE_HOME, else ~/.cache."""
    return settings.cache_home() / APP_NAME


_move_lock = threading.Lock()
_move_checked = False
_moved: DataMove | None = None


def data_dir() -> Path:
    """History, working copies and students' folders: `DASHBOARD_DATA_DIR` or the user data
    folder (the first call in a process moves an earlier version's data there: `data_move`)."""
    chosen = settings.data_dir()
    if chosen is not None:
        return _made(chosen)
    global _move_checked, _moved
    with _move_lock:
        if not _move_checked:
            _move_checked = True
            _moved = move_old_data()
    return _made(default_data_dir())


def data_move() -> DataMove | None:
    """What this process moved from the old folder (the sidebar and the CLI say it once)."""
    return _moved


def cache_dir() -> Path:
    """Wheelhouse, stand-in build files, context snapshots, override files: what can be made
    again. `DASHBOARD_CACHE_DIR`, else `DASHBOARD_DATA_DIR`, else the user cache folder."""
    return _made(settings.cache_dir() or settings.data_dir() or default_cache_dir())


def owner_data_dir() -> Path:
    """The current owner's part of the data folder: all of it on a laptop, a folder of their
    own for a classroom student (their history and working copies)."""
    from dashboard.engine.base import owner

    return _made(owner.current().data_dir(data_dir()))


@dataclass(frozen=True)
class DataMove:
    """What `move_old_data` moved, for the one-time note."""

    source: Path
    target: Path
    entries: tuple[str, ...]

    @property
    def sentence(self) -> str:
        return (
            f"History and working copies moved from {self.source} (a cache folder, which "
            f"cleaning tools empty) to {self.target}: {', '.join(self.entries)}."
        )


def move_old_data(source: Path | None = None, target: Path | None = None) -> DataMove | None:
    """Move the history and working copies that an earlier version kept in the cache folder
    into the data folder, once; None when there is nothing to move.

    Only with the default folders (a DASHBOARD_DATA_DIR or DASHBOARD_HISTORY_DB of the user's own
    is left alone), only entries the data folder does not have yet (nothing is overwritten), and
    only when the two folders differ. The old folder gets a MOVED.txt saying where they went.
    """
    if source is None and (settings.data_dir() or settings.history_db()):
        return None
    source = source or old_data_dir()
    target = target or default_data_dir()
    if not source.is_dir() or source.resolve() == target.resolve():
        return None
    entries = [
        name for name in DATA_ENTRIES if (source / name).exists() and not (target / name).exists()
    ]
    if not entries:
        return None
    target.mkdir(parents=True, exist_ok=True)
    moved = []
    for name in entries:
        try:
            shutil.move(str(source / name), str(target / name))
        except OSError:
            log.warning("could not move %s to %s", source / name, target, exc_info=True)
            continue
        moved.append(name)
    if not moved:
        return None
    move = DataMove(source, target, tuple(moved))
    with contextlib.suppress(OSError):
        (source / MOVED_NOTE).write_text(move.sentence + "\n", encoding="utf-8")
    log.info(move.sentence)
    return move
