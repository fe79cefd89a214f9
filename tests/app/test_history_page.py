"""Progress & history, guided checks and Dockerfile hints, driven through the pages.

Each test has a data folder of its own (the `isolated` fixture sets DASHBOARD_DATA_DIR), so its
history database starts empty or holds what the test put there. The CSV of a chart is read back
from the in-memory media store AppTest gives each run.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.media_file_storage import MediaFileStorageError
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import app_test

from dashboard.engine.analysis import hadolint
from dashboard.engine.base.paths import labs_dir
from dashboard.engine.catalog import labs
from dashboard.engine.progress import history as hist
from dashboard.engine.progress.history import History
from dashboard.ui import guide
from tests.app.helpers import assert_clean, metrics, new_app, open_page, wait_for
from tests.unit.test_history import recorded_build, recorded_run

IRIS = labs.get("iris")


@pytest.fixture
def db_path(isolated, tmp_path) -> Path:
    from dashboard.engine.progress.history import default_path

    path = default_path()
    assert path.is_relative_to(tmp_path)  # the test's own data folder, not the user's
    return path


@pytest.fixture
def media(monkeypatch):
    """What a download button of the AppTest runs serves: its bytes (a media file), or what its
    callable makes when clicked (a deferred file, as the charts' CSV, PNG and SVG are)."""
    stores: list[MemoryMediaFileStorage] = []
    managers: list[MediaFileManager] = []

    class Recording(MemoryMediaFileStorage):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            stores.append(self)

    class Managers(MediaFileManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            managers.append(self)

    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", Recording)
    monkeypatch.setattr(app_test, "MediaFileManager", Managers)

    def read_url(url: str) -> bytes:
        name = url.rsplit("/", 1)[-1]
        for store in reversed(stores):
            try:
                return store.get_file(name).content
            except Exception:  # another run's store
                continue
        raise AssertionError(f"no media file {url}")

    def read(button) -> bytes:
        if not button.proto.deferred_file_id:
            return read_url(button.proto.url)
        for manager in reversed(managers):
            try:
                return read_url(manager.execute_deferred(button.proto.deferred_file_id))
            except MediaFileStorageError:  # another run's manager
                continue
        raise AssertionError(f"no deferred file {button.proto.deferred_file_id}")

    return read


def download(at, key: str):
    """The download button whose widget key is `key` (the key ends the element id)."""
    found = [d for d in at.get("download_button") if d.proto.id.endswith(f"-{key}")]
    assert found, [d.proto.id for d in at.get("download_button")]
    return found[0]


def code_blocks(at, language: str) -> list[str]:
    return [c.value for c in at.code if c.language == language]


def marks(at, title: str) -> list[str]:
    """ "done" or "todo" for each place a check's title is shown with its tick."""
    found = []
    for m in at.markdown:
        if title in m.value and m.value.startswith((guide.DONE, guide.TODO)):
            found.append("done" if m.value.startswith(guide.DONE) else "todo")
    return found


# ---------------------------------------------------------------- the history page


def seed(path: Path) -> list[int]:
    """A cold build, a cached rebuild, an edited Dockerfile, and a run, as the jobs record them."""
    dockerfile = (labs_dir() / "iris" / "Dockerfile").read_text()
    edited = dockerfile.replace("COPY main.py .", "COPY main.py .\nENV EDITED=1")
    with History.open(path) as h:
        ids = [
            h.record_build(recorded_build("iris-cold", seconds=13.0), dockerfile_text=dockerfile),
            h.record_build(recorded_build("iris-warm", seconds=0.3), dockerfile_text=dockerfile),
            h.record_build(recorded_build("iris-edited", seconds=0.9), dockerfile_text=edited),
        ]
        h.record_run(recorded_run("iris.txt", lab="iris", image=IRIS.image))
    return ids


def test_history_page_compares_builds_and_exports_their_data(db_path, media):
    cold, warm, edited = seed(db_path)
    at = open_page(new_app(), "history.py")
    assert_clean(at)
    assert len(at.get("plotly_chart")) == 4  # sizes, times, cold vs warm, hit rate

    # The build-time chart's CSV is the builds, as recorded.
    times = download(at, "history-times-csv")
    # Made when clicked, like the PNG: no media file the browser checks before a click.
    assert times.proto.deferred_file_id and not times.proto.url
    frame = pd.read_csv(pd.io.common.BytesIO(media(times)))
    assert list(frame["build"]) == [cold, warm, edited]
    assert list(frame["kind"]) == ["cold", "cached", "partial"]
    assert list(frame["seconds"]) == [13.0, 0.3, 0.9]
    assert list(frame["steps_cached"]) == [0, 6, 4]
    # Every chart has its PNG and SVG button next to the CSV (drawn only when clicked).
    for chart in ("history-sizes", "history-times", "history-cold-warm", "history-hit-rate"):
        for ext in ("csv", "png", "svg"):
            assert not download(at, f"{chart}-{ext}").proto.disabled
    assert download(at, "history-sizes-png").proto.deferred_file_id

    # The Dockerfile diff: the newest build against the one before it.
    (diff,) = code_blocks(at, "diff")
    assert "+ENV EDITED=1" in diff.splitlines()
    assert f"build #{warm} (iris" in diff and f"build #{edited} (iris" in diff
    at.selectbox(key="diff-a").select(at.selectbox(key="diff-a").options[2]).run()
    assert_clean(at)
    assert f"build #{cold} (iris" in code_blocks(at, "diff")[0]
    # Same Dockerfile: no diff, and the page says why the builds differed anyway.
    options = at.selectbox(key="diff-a").options
    at.selectbox(key="diff-a").select(options[2])
    at.selectbox(key="diff-b").select(options[1]).run()
    assert code_blocks(at, "diff") == []
    assert any("same Dockerfile" in i.value for i in at.info)

    runs = next(d.value for d in at.dataframe if "exit_code" in d.value.columns)
    assert list(runs["lab"]) == ["iris"] and list(runs["exit_code"]) == [0]


def test_history_survives_a_restart_and_a_schema_upgrade(db_path):
    seed(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TABLE check_progress")  # as a dashboard of schema 1 left the file
    conn.execute("ALTER TABLE runs DROP COLUMN kind")  # (schema 3 added these)
    conn.execute("ALTER TABLE runs DROP COLUMN command")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    st.cache_resource.clear()  # a new server process

    at = open_page(new_app(), "history.py")
    assert_clean(at)
    status = " ".join(c.value for c in at.caption)
    assert f"(schema {hist.SCHEMA_VERSION}): 3 builds, 1 runs" in status
    assert len(at.get("plotly_chart")) == 4
    with History.open(db_path) as h:
        assert h.schema_version == hist.SCHEMA_VERSION and len(h.builds()) == 3


def test_a_damaged_database_turns_history_off_and_the_dashboard_runs_on(db_path):
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db_path.write_bytes(b"this is not a database\n" * 200)

    at = open_page(new_app(), "lesson1.py")
    assert not at.exception
    notice = [w.value for w in at.sidebar.warning if w.value.startswith("History is off")]
    assert notice == [
        "History is off: its file is damaged (kept as it is). Everything else works; builds "
        "and runs are not kept."
    ]
    assert any(e.label.startswith("Your progress") for e in at.expander)

    at.switch_page("pages/history.py").run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert "is damaged" in error and str(db_path) in error
    at.button(key="history-move-aside").click().run()
    assert_clean(at)
    moved = list(db_path.parent.glob(f"{db_path.name}.broken-*"))
    assert len(moved) == 1 and moved[0].read_bytes().startswith(b"this is not a database")
    assert not [w for w in at.sidebar.warning if w.value.startswith("History is off")]
    assert any("(schema" in c.value for c in at.caption)


def test_a_locked_database_says_so(db_path):
    """Another program holds the file: after the busy timeout (5 s) the history is off."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        at = open_page(new_app(), "history.py")
        assert not at.exception
        (error,) = [e.value for e in at.error]
        assert "locked by another program" in error
        assert at.button(key="history-retry")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# ---------------------------------------------------------------- hints


def test_hints_fire_on_the_code_first_dockerfile_and_not_on_deps_first(isolated):
    at = open_page(new_app(), "cache.py")
    assert_clean(at)
    panels = {e.label: e for e in at.expander if e.label.startswith("Dockerfile hints for")}
    bad = panels["Dockerfile hints for Dockerfile.code-first: 1 warning, 1 note"]
    good = panels["Dockerfile hints for Dockerfile.deps-first: 1 note"]
    said = " ".join(m.value for m in bad.markdown)
    assert "Code copied before the dependency install" in said and "COPY . ." in said
    assert "Code copied before" not in " ".join(m.value for m in good.markdown)
    # Each hint links to the lesson that explains it: the cache lesson for this one.
    links = [link.proto for link in bad.get("page_link")]
    assert "Explained in Layer order and the cache" in [p.label for p in links]
    assert any(p.page.endswith("pages/cache.py") or "cache" in p.page for p in links)


# ---------------------------------------------------------------- checks on the real daemon


@pytest.mark.docker
def test_lesson1_progress_ticks_after_the_real_build_and_run(
    docker_client, isolated, new_containers
):
    run_title = f"Run a container from {IRIS.image} that exits with code 0"
    build_title = f"Build the image {IRIS.image}"
    at = open_page(new_app(), "lesson1.py")
    assert_clean(at)
    assert marks(at, run_title) == ["todo"]  # no container of this test's session yet
    image_there = bool(docker_client.images.list(name=IRIS.image))
    assert marks(at, build_title) == ["done" if image_there else "todo"]

    at.button(key="build-iris").click().run()
    wait_for(at, lambda a: "Build time" in metrics(a), timeout=600, what="the iris build")
    at.run()
    assert marks(at, build_title) == ["done"]
    assert marks(at, run_title) == ["todo"]  # building is not running

    at.button(key="run-iris").click().run()
    wait_for(at, lambda a: "Predicted class" in metrics(a), timeout=180, what="the iris run")
    at.run()
    assert_clean(at)
    assert marks(at, run_title) == ["done"]

    # Recorded once each, however many times the page reran meanwhile; kept across a restart.
    st.cache_resource.clear()
    at = open_page(new_app(), "history.py")
    assert_clean(at)
    with History.open() as h:
        (build,) = h.builds()
        (run,) = h.runs()
    assert build.lab == "iris" and build.ok and build.steps_total in (5, 7)  # BuildKit, classic
    assert build.dockerfile_text == (IRIS.path / IRIS.dockerfile).read_text()
    assert run.ok and run.exit_code == 0 and run.accuracy == 1.0
    assert marks(at, run_title) == ["done"]
    assert metrics(at)["Lesson 1: a single-stage image"] == "2 / 2"


def pasted_hints():
    """The hints panel for a Dockerfile pasted on the history page (a lesson's bad example)."""
    at = open_page(new_app(), "history.py")
    text = "FROM python\nCOPY . .\nRUN pip install -r requirements.txt\nCMD python main.py\n"
    at.text_area(key="own-dockerfile").input(text).run()
    assert_clean(at)
    (panel,) = [e for e in at.expander if e.label.startswith("Dockerfile hints for your")]
    return panel


def test_a_pasted_dockerfile_gets_hints_linked_to_lessons(isolated):
    panel = pasted_hints()
    said = " ".join(m.value for m in panel.markdown)
    for title in ("Unpinned base image", "Code copied before", "CMD in shell form"):
        assert title in said
    labels = {link.proto.label for link in panel.get("page_link")}
    assert labels == {
        "Explained in Lesson 1: a single-stage image",
        "Explained in Layer order and the cache",
    }
    # hadolint's hints also link to its page on the rule.
    captions = " ".join(c.value for c in panel.caption)
    assert "[DL3006](https://github.com/hadolint/hadolint/wiki/DL3006)" in captions


def test_an_earlier_versions_history_is_moved_and_the_sidebar_says_so(
    isolated, tmp_path, monkeypatch
):
    from dashboard import settings
    from dashboard.engine.base import paths

    monkeypatch.delenv(settings.DATA_DIR)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(paths, "_move_checked", False)
    monkeypatch.setattr(paths, "_moved", None)
    old = tmp_path / "cache" / paths.APP_NAME / hist.FILE_NAME
    with History.open(old) as h:
        assert h.record_build(recorded_build("iris-cold")) is not None

    at = open_page(new_app(), "history.py")
    assert_clean(at)
    (note,) = [i.value for i in at.sidebar.info if "moved from" in i.value]
    assert str(tmp_path / "share" / paths.APP_NAME) in note
    assert any("1 builds" in c.value for c in at.caption)  # read from the new place
    assert not old.exists() and (tmp_path / "share" / paths.APP_NAME / hist.FILE_NAME).exists()
    at.run()  # once per session
    assert not [i for i in at.sidebar.info if "moved from" in i.value]


def test_without_hadolint_a_pasted_dockerfile_gets_our_hints_and_a_note(isolated, monkeypatch):
    monkeypatch.setattr(hadolint, "find_binary", lambda: None)
    panel = pasted_hints()
    said = " ".join(m.value for m in panel.markdown)
    assert "Code copied before" in said and "Unpinned base image" not in said
    assert "hadolint is not installed" in " ".join(c.value for c in panel.caption)
