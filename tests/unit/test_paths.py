"""Where the dashboard keeps things: data (history, working copies) in the user data folder,
what it can make again in the cache folder, and the one-time move out of the old single folder.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dashboard import settings
from dashboard.engine.base import paths
from dashboard.engine.progress.history import History
from tests.unit.test_history import recorded_build

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def homes(tmp_path, monkeypatch):
    """XDG folders of the test's own, no DASHBOARD_* folder set, and a fresh process state."""
    for name in (settings.DATA_DIR, settings.CACHE_DIR, settings.HISTORY_DB):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(paths, "_move_checked", False)
    monkeypatch.setattr(paths, "_moved", None)
    return tmp_path


def _old_folder(root: Path) -> Path:
    """What an earlier version left in ~/.cache/docker-ml-dashboard: data and cache mixed."""
    old = root / "cache" / paths.APP_NAME
    with History.open(old / "history.sqlite3") as h:
        assert h.record_build(recorded_build("iris-cold")) is not None
    (old / "workspace" / "iris").mkdir(parents=True)
    (old / "workspace" / "iris" / "main.py").write_text("print('my edit')\n")
    (old / "wheelhouse").mkdir()
    (old / "wheelhouse" / "joblib-1.6.0-py3-none-any.whl").write_bytes(b"wheel")
    return old


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG folders are Linux's")
def test_data_and_cache_follow_xdg_on_linux(homes):
    assert paths.data_dir() == homes / "share" / paths.APP_NAME
    assert paths.cache_dir() == homes / "cache" / paths.APP_NAME
    assert paths.old_data_dir() == paths.cache_dir()  # on Linux the old folder is the cache


def test_one_folder_of_the_users_choice_holds_both(homes, monkeypatch):
    monkeypatch.setenv(settings.DATA_DIR, str(homes / "mine"))
    assert paths.data_dir() == paths.cache_dir() == homes / "mine"
    monkeypatch.setenv(settings.CACHE_DIR, str(homes / "scratch"))
    assert paths.cache_dir() == homes / "scratch" and paths.data_dir() == homes / "mine"


def test_history_and_working_copies_move_once_and_the_cache_stays(homes):
    old = _old_folder(homes)
    new = paths.data_dir()  # the first call in a process moves
    moved = paths.data_move()
    assert moved is not None and moved.target == new
    assert set(moved.entries) >= {"history.sqlite3", "workspace"}
    with History.open(new / "history.sqlite3") as h:
        (build,) = h.builds()
    assert build.lab == "iris"
    assert (new / "workspace" / "iris" / "main.py").read_text() == "print('my edit')\n"
    assert not (old / "history.sqlite3").exists() and not (new / "wheelhouse").exists()
    assert (old / "wheelhouse" / "joblib-1.6.0-py3-none-any.whl").exists()
    assert str(new) in (old / paths.MOVED_NOTE).read_text()
    assert paths.move_old_data() is None  # nothing left to move


def test_nothing_at_the_new_place_is_overwritten(homes):
    old = _old_folder(homes)
    new = paths.default_data_dir()
    new.mkdir(parents=True)
    (new / "history.sqlite3").write_bytes(b"the newer history")
    moved = paths.move_old_data()
    assert moved is not None and "history.sqlite3" not in moved.entries
    assert (new / "history.sqlite3").read_bytes() == b"the newer history"
    assert (old / "history.sqlite3").exists()


def test_a_data_folder_of_the_users_choice_moves_nothing(homes, monkeypatch):
    old = _old_folder(homes)
    monkeypatch.setenv(settings.DATA_DIR, str(homes / "mine"))
    paths.data_dir()
    assert paths.data_move() is None and (old / "history.sqlite3").exists()


def test_the_cli_says_where_the_history_went(homes):
    _old_folder(homes)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(homes),
        "XDG_DATA_HOME": str(homes / "share"),
        "XDG_CACHE_HOME": str(homes / "cache"),
        "DOCKER_HOST": f"unix://{homes}/no-daemon.sock",
    }

    def layers():  # a verb that fails at once, before any Docker call
        return subprocess.run(
            [sys.executable, "-m", "dashboard", "layers", "BAD IMAGE!!"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    done = layers()
    assert "History and working copies moved from" in done.stderr, done.stderr
    assert str(homes / "share" / paths.APP_NAME) in done.stderr
    assert "moved" not in layers().stderr
