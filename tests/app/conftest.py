"""AppTest fixtures: the dashboard script run in-process against the real daemon.

AppTest does not fire `run_every` timers, so a test waits for a job by calling `run()` again
until the page shows the result (`wait_for`, bounded). Jobs run in worker threads, so the script
thread never blocks on Docker. Everything a test makes is named or tagged with the session id
and removed at the end.
"""

from __future__ import annotations

import contextlib

import docker
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.engine.base import labels
from tests.app.helpers import new_app


@pytest.fixture
def isolated(monkeypatch, tmp_path, session_id):
    """Data folder, Compose project and working-copy tags of this test run only; fresh caches."""
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DASHBOARD_COMPOSE_PROJECT", f"wine-{session_id}".lower())
    monkeypatch.setenv("DASHBOARD_TAG_SUFFIX", session_id.lower())
    st.cache_data.clear()
    st.cache_resource.clear()  # a new job registry: no job of an earlier test shows
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def app(isolated) -> AppTest:
    return new_app()


@pytest.fixture
def new_containers(docker_client, session_id):
    """Containers of this session made during the test: removed at the end."""
    wanted = {"label": [f"{labels.SESSION}={session_id}"]}
    before = {c.id for c in docker_client.containers.list(all=True, filters=wanted)}

    def made() -> list:
        now = docker_client.containers.list(all=True, filters=wanted)
        return [c for c in now if c.id not in before]

    yield made
    for container in made():
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


@pytest.fixture
def working_tag(docker_client, isolated):
    """The iris working copy's tag of this test run; its image is removed at the end."""
    from dashboard.work import workspace

    tag = workspace.working_tag("iris", "Dockerfile")
    yield tag
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(tag)
