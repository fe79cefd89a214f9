"""Lesson 4's `docker compose build` step by step: Compose's own `--progress json` output read
into the same steps table and timeline as a lab build, one stage per service. Compose builds
with the daemon's BuildKit on every engine (buildx or not), so the view is the same everywhere.
"""

from __future__ import annotations

import pytest

from dashboard.engine.ops import compose
from dashboard.engine.progress.history import History
from dashboard.engine.progress.history import default_path as history_path
from dashboard.ui import state
from dashboard.work.jobs import JobKey
from tests.app.helpers import assert_clean, open_page, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.engines]


@pytest.fixture
def project(docker_client, isolated, session_id):
    name = f"wine-{session_id}".lower()
    yield name
    compose.ComposeProject(docker_client, name, lab="wine").down(volumes=True, remove_images=True)


def built(at) -> bool:
    return any("Compose built both images" in s.value for s in at.success)


def test_compose_build_shows_each_services_steps(docker_client, app, project):
    at = open_page(app, "compose.py")
    assert any(c.value.endswith(f"-p {project} -f labs/wine/compose.yaml --progress plain build")
               for c in at.code)  # fmt: skip
    at.button(key="compose-build").click().run()
    wait_for(at, built, timeout=600, what="docker compose build")
    assert_clean(at)
    table = next(d.value for d in at.dataframe if "Stage" in d.value.columns)
    assert sorted(set(table["Stage"])) == ["predictor", "trainer"]
    for service, instruction in (
        ("trainer", "COPY train.py ."),
        ("predictor", "COPY predict.py ."),
    ):
        own = table[table["Stage"] == service]
        assert list(own["Step"]) == [f"{service} {i}/5" for i in range(1, 6)]
        assert list(own["Instruction"])[-1] == instruction
    snap = state.snapshot(JobKey("compose-build", "wine"))
    rows = snap.state["steps"]
    assert all(r.started_at is not None for r in rows)  # BuildKit's own times, for the chart
    result = snap.state["build"]
    assert result.ok and result.builder_reason.startswith("Compose 2.")
    assert result.argv[-3:] == ["--progress", "json", "build"]
    assert sorted(result.tags) == [f"{project}-predictor", f"{project}-trainer"]
    for tag in result.tags:
        assert docker_client.images.get(tag).labels["io.dockerml.dashboard.managed"] == "true"
    said = next(s.value for s in at.success if "Compose built both images" in s.value)
    cached = sum(1 for r in rows if r.status in ("cached", "base"))
    assert f"10 steps over both services, {cached} from the cache" in said
    # and the history keeps one build per image, with that service's steps and Dockerfile
    with History.open(history_path()) as history:
        images = {b.tag: b for b in history.builds(lab="wine", with_steps=True)}
    assert sorted(images) == sorted(result.tags)
    for tag, build in images.items():
        service = tag.rsplit("-", 1)[1]
        assert build.image_id == docker_client.images.get(tag).id
        assert [s.stage_name for s in build.steps] == [service] * 5
        script = "train.py" if service == "trainer" else "predict.py"
        assert f"COPY {script} ." in (build.dockerfile_text or "")
