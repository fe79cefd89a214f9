"""Every page renders on the real daemon, with the sidebar, and no exception or error message."""

from __future__ import annotations

import re
import time

import pytest

from dashboard.engine.base import labels
from dashboard.ui import state
from dashboard.ui import text as T
from dashboard.work import facts as facts_module
from tests.app.helpers import assert_clean, open_page

PAGES = {
    "why_docker.py": T.TITLE_WHY,
    "lesson1.py": T.TITLE_LESSON1,
    "cache.py": T.TITLE_CACHE,
    "multistage.py": T.TITLE_MULTISTAGE,
    "compose.py": T.TITLE_COMPOSE,
    "registry.py": T.TITLE_REGISTRY,
    "gpu.py": T.TITLE_GPU,
    "sizes.py": T.TITLE_SIZES,
    "cicd.py": T.TITLE_CICD,
}


@pytest.mark.docker
@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders(docker_client, app, page):
    at = open_page(app, page)
    assert_clean(at)
    assert [t.value for t in at.title] == [PAGES[page]]
    sidebar = " ".join(s.value for s in at.sidebar.success)
    version = docker_client.version()["Version"]
    assert f"Docker daemon: running ({version})" in sidebar
    # Every page shows at least one `docker ...` command a student can copy.
    assert any("docker" in c.value for c in at.code), page


@pytest.mark.docker
def test_the_first_page_is_why_docker_and_lists_the_lessons(docker_client, app):
    at = app.run()
    assert_clean(at)
    assert at.title[0].value == T.TITLE_WHY
    sidebar = "\n".join(m.value for m in at.sidebar.markdown)
    assert "**Compose** v" in sidebar
    assert "**GPU**" in sidebar


@pytest.mark.docker
def test_a_plain_rerun_asks_the_daemon_nothing_for_the_sidebar(docker_client, app, monkeypatch):
    calls = []

    def counting(**kwargs):
        calls.append(1)
        return facts_module.read_facts(**kwargs)

    monkeypatch.setattr(state, "read_facts", counting)
    app.run()
    assert len(calls) == 1
    app.run()
    app.run()
    assert len(calls) == 1, "the sidebar's facts were read again on a plain rerun"


@pytest.mark.docker
def test_presentation_mode_keeps_the_page_and_drops_the_extras(docker_client, app):
    at = open_page(app, "lesson1.py")
    assert at.checkbox(key="iris-nocache") is not None
    at.toggle(key="presentation").set_value(True).run()
    assert_clean(at)
    assert at.title[0].value == T.TITLE_LESSON1
    assert [c for c in at.checkbox if c.key == "iris-nocache"] == []
    assert at.button(key="build-iris").label == T.BUILD_IRIS
    # The bigger type is CSS injected into the page.
    assert any("font-size: 20px" in h.value for h in at.get("html"))


@pytest.mark.docker
def test_a_container_made_outside_the_dashboard_shows_at_the_next_rerun(
    docker_client, app, session_id
):
    """The sidebar's counts come from a cache renewed by the daemon's event stream: a
    `docker create` typed in a terminal is seen at once, not after a time limit."""

    def containers_in_sidebar(at) -> int:
        text = "\n".join(m.value for m in at.sidebar.markdown)
        return int(re.search(r"(\d+) containers \(", text)[1])

    at = app.run()
    before = containers_in_sidebar(at)
    watch = state._watch(state.endpoint())
    assert watch.connected, "the dashboard does not watch the daemon's events"
    seen = watch.events
    at.run()
    assert containers_in_sidebar(at) == before  # nothing changed: the same cached answer
    container = docker_client.containers.create(
        "python:3.11-slim", "true", labels={labels.SESSION: session_id}
    )
    try:
        deadline = time.monotonic() + 10
        while watch.events == seen and time.monotonic() < deadline:
            time.sleep(0.05)  # the event reaches the watcher thread
        at.run()
        assert containers_in_sidebar(at) == before + 1
    finally:
        container.remove(force=True)
