"""Where things live: the labs folder and the dashboard's own data folder."""

from __future__ import annotations

from pathlib import Path

from dashboard import settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def labs_dir() -> Path:
    return settings.labs_dir() or REPO_ROOT / "labs"


def data_dir() -> Path:
    """Wheelhouse, stand-in build files and history: `DASHBOARD_DATA_DIR` or the user cache."""
    path = settings.data_dir() or settings.cache_home() / "docker-ml-dashboard"
    path.mkdir(parents=True, exist_ok=True)
    return path


def owner_data_dir() -> Path:
    """The current owner's part of the data folder: all of it on a laptop, a folder of their
    own for a classroom student (their history and working copies)."""
    from dashboard.engine import owner

    path = owner.current().data_dir(data_dir())
    path.mkdir(parents=True, exist_ok=True)
    return path
