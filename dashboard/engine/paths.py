"""Where things live: the labs folder and the dashboard's own data folder."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def labs_dir() -> Path:
    return Path(os.environ.get("DASHBOARD_LABS_DIR", REPO_ROOT / "labs"))


def data_dir() -> Path:
    """Wheelhouse, stand-in build files and history: `DASHBOARD_DATA_DIR` or the user cache."""
    explicit = os.environ.get("DASHBOARD_DATA_DIR")
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "docker-ml-dashboard"
    path.mkdir(parents=True, exist_ok=True)
    return path


def owner_data_dir() -> Path:
    """The current owner's part of the data folder: all of it on a laptop, a folder of their
    own for a classroom student (their history and working copies)."""
    from dashboard.engine import owner

    path = owner.current().data_dir(data_dir())
    path.mkdir(parents=True, exist_ok=True)
    return path
