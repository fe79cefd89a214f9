"""The cache page's `docker builder prune` section: the command shown and never run, and what
a rebuild from zero costs, measured with a real `--no-cache` build next to a cached rebuild."""

from __future__ import annotations

import pytest

from dashboard.ui import state
from dashboard.work.jobs import JobKey
from tests.app.helpers import assert_clean, metrics, open_page, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.engines]


def test_prune_is_shown_not_run_and_a_rebuild_from_zero_is_measured(
    docker_client, app, working_tag, expected_builder
):
    at = open_page(app, "cache.py")
    assert_clean(at)
    shown = "\n".join(c.value for c in at.code)
    assert "docker builder prune" in shown and "docker buildx du --verbose" in shown
    assert "docker build --network host --no-cache -t iris-model:1.0" in shown
    assert any("**never runs them**" in m.value for m in at.markdown)

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


def test_rmi_then_rebuild_and_a_prune_from_zero_side_by_side(
    docker_client, app, session_id, expected_builder
):
    from dashboard.engine.catalog import labs
    from dashboard.engine.ops import builds

    iris = labs.get("iris")
    assert builds.build_lab(docker_client, iris).ok
    for c in docker_client.containers.list(all=True, filters={"ancestor": iris.image}):
        if c.labels.get("io.dockerml.dashboard.session") == session_id:
            c.remove(force=True)  # an earlier test's: rmi would (rightly) be refused
    users = docker_client.containers.list(all=True, filters={"ancestor": iris.image})
    assert not users, f"containers of other sessions use {iris.image}: {[c.name for c in users]}"

    at = open_page(app, "cache.py")
    shown = "\n".join(c.value for c in at.code)
    assert f"docker rmi {iris.image}\ndocker build" in shown
    at.button(key="rmi-rebuild").click().run()
    wait_for(at, lambda a: "Build after docker rmi" in metrics(a), timeout=600, what="rmi")
    assert_clean(at)
    assert any(c.value.startswith(f"$ docker rmi {iris.image}\nUntagged: {iris.image}")
               for c in at.code)  # fmt: skip
    cached, total = (int(n) for n in metrics(at)["Steps from the cache"].split(" / "))
    result = state.snapshot(JobKey("rmi-rebuild", "iris")).result.build
    assert (cached, total) == (result.steps_cached, result.steps_total)
    if expected_builder == "buildkit":
        assert {s.status for s in result.real_steps} <= {"cached", "base"}  # nothing ran
        assert any("Every step came from the cache" in s.value for s in at.success)
    elif any(s.status == "executed" for s in result.real_steps):
        assert any("classic builder" in i.value for i in at.info)

    at.button(key="rebuild-from-zero").click().run()
    wait_for(at, lambda a: "Rebuild from zero" in metrics(a), timeout=600, what="--no-cache")
    assert_clean(at)
    shown = metrics(at)
    assert shown["After docker rmi"] == metrics(at)["Build after docker rmi"]
    assert shown["After a prune (from zero)"] == shown["Rebuild from zero"]

    at.button(key="prune-preview").click().run()
    wait_for(at, lambda a: any(d.value is not None and "What" in d.value.columns
                               for d in a.dataframe), timeout=120, what="the preview")  # fmt: skip
    table = next(d.value for d in at.dataframe if "What" in d.value.columns)
    assert list(table["What"]) == [
        "Stopped containers",
        "Unused networks",
        "Images no running container uses",
        "Build cache records",
    ]
    assert docker_client.images.get(iris.image)  # nothing was pruned
