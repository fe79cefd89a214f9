"""The cache page's `docker builder prune` section: the command shown and never run, and what
a rebuild from zero costs, measured with a real `--no-cache` build next to a cached rebuild."""

from __future__ import annotations

import contextlib

import docker
import pytest

from dashboard.ui import state
from dashboard.work import workspace
from dashboard.work.jobs import JobKey
from tests.app.helpers import assert_clean, metrics, open_page, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.engines]


@pytest.fixture
def working_tag(docker_client, isolated):
    tag = workspace.working_tag("iris", "Dockerfile")
    yield tag
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(tag)


def test_prune_is_shown_not_run_and_a_rebuild_from_zero_is_measured(
    docker_client, app, working_tag, expected_builder
):
    at = open_page(app, "cache.py")
    assert_clean(at)
    shown = "\n".join(c.value for c in at.code)
    assert "docker builder prune" in shown and "docker buildx du --verbose" in shown
    assert "docker build --network host --no-cache -t iris-model:1.0" in shown
    assert any("**never runs it**" in m.value for m in at.markdown)

    at.button(key="rebuild-copy").click().run()
    wait_for(at, lambda a: "Build time" in metrics(a), timeout=600, what="the cached rebuild")
    at.button(key="rebuild-from-zero").click().run()
    wait_for(at, lambda a: "Rebuild from zero" in metrics(a), timeout=600, what="--no-cache")
    assert_clean(at)
    shown = metrics(at)
    ran, total = (int(n) for n in shown["Steps that ran again"].split(" / "))
    rows = state.snapshot(JobKey("build", "iris from-zero")).state["steps"]
    assert ran == sum(r.status == "executed" for r in rows) and total == len(rows)
    # Every COPY and RUN ran again (BuildKit still calls a WORKDIR it has seen cached).
    assert {r.status for r in rows if r.keyword in ("COPY", "RUN")} == {"executed"}
    assert "Cached rebuild (section 1)" in shown
    said = next(i.value for i in at.info if "After `docker builder prune`" in i.value)
    print(f"\n{expected_builder}: {said}")
    assert f"takes about **{shown['Rebuild from zero']}** instead of" in said
    classic_note = any("`docker image prune`" in c.value for c in at.caption)
    assert classic_note == (expected_builder == "classic")
