"""Lesson 3's question answered on the page from a real build: which steps the trainer and
predictor stages went through together, what ran at the same time, where the predictor waited;
and a `--target trainer` build that skips the predictor. BuildKit's own step times where buildx
answers; the classic builder's one-stage-after-the-other elsewhere."""

from __future__ import annotations

import contextlib

import docker
import pytest

from dashboard.engine import labels, labs
from dashboard.ui import state
from dashboard.work.jobs import JobKey
from tests.app.helpers import assert_clean, open_page, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.engines]

LAB = labs.get("iris-multistage")
COPY_FROM = "COPY --from=trainer /app/model_pipeline.joblib ."


def answer(at) -> str:
    said = [i.value for i in at.info if i.value.startswith("**How the stages ran:**")]
    return said[-1] if said else ""


def _union(intervals):
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def test_the_page_says_where_the_stages_went_together_and_where_the_predictor_waited(
    docker_client, app, expected_builder
):
    at = open_page(app, "multistage.py")
    at.checkbox(key="multistage-nocache").check().run()
    assert any("--no-cache" in c.value for c in at.code)
    at.button(key="build-multistage").click().run()
    wait_for(at, lambda a: answer(a) != "", timeout=600, what="the no-cache build")
    assert_clean(at)
    sentence = answer(at)
    print(f"\n{expected_builder}: {sentence}")
    rows = state.snapshot(JobKey("build", LAB.name)).state["steps"]
    assert {r.stage_name for r in rows} == {"trainer", "predictor"}
    if expected_builder == "classic":
        assert "one after the other" in sentence and "the **trainer**" in sentence
        assert all(r.started_at is None for r in rows)
        return

    # BuildKit: the steps both stages share are built once, announced under one stage's name.
    step = {(r.stage_name, r.instruction): r for r in rows}
    assert "went together up to `WORKDIR /app` (step 2" in sentence
    # What ran at the same time, from BuildKit's own times: the two pip installs.
    pip_t = step[("trainer", "RUN pip install --no-cache-dir -r requirements.txt")]
    pip_p = step[("predictor", "RUN pip install --no-cache-dir -r requirements-predict.txt")]
    assert pip_t.status == pip_p.status == "executed"
    both = min(pip_t.finished_at, pip_p.finished_at) - max(pip_t.started_at, pip_p.started_at)
    assert both > 1.0, (pip_t, pip_p)
    shared = {r.key for r in rows if r.index <= 2}

    def own(name):
        return _union(
            [
                (r.started_at, r.finished_at)
                for r in rows
                if r.stage_name == name and r.key not in shared
            ]
        )

    overlap = sum(
        max(0.0, min(a1, b1) - max(a0, b0))
        for a0, a1 in own("trainer")
        for b0, b1 in own("predictor")
    )
    assert overlap >= both - 0.01
    assert f"Then they ran at the same time for {overlap:.1f} s." in sentence
    overlaps = next(d.value for d in at.dataframe if "seconds at the same time" in d.value.columns)
    assert pip_t.instruction in overlaps.iloc[0]["trainer step"]
    assert pip_p.instruction in overlaps.iloc[0]["predictor step"]
    # Where the predictor waited: COPY --from started only once the trainer's last step ended.
    copy = step[("predictor", COPY_FROM)]
    model = step[("trainer", "RUN python model.py")]
    assert copy.started_at >= model.finished_at - 0.05
    assert copy.started_at > pip_p.finished_at
    waited = copy.started_at - max(
        r.finished_at for r in rows if r.stage_name == "predictor" and r.index < copy.index
    )
    assert (
        f"The predictor waited {waited:.1f} s at `{COPY_FROM}` (step {copy.index}) until the "
        "trainer's `RUN python model.py` had finished." in sentence
    )


def test_a_target_build_skips_the_predictor_and_shows_the_command(docker_client, app):
    tag = "iris-model:2.0-trainer"
    at = open_page(app, "multistage.py")
    command = " ".join(c.value for c in at.code)
    assert f"--target trainer -t {tag} -f labs/iris-multistage/Dockerfile" in command
    try:
        at.button(key="build-trainer").click().run()
        wait_for(at, lambda a: "--target trainer" in answer(a), timeout=600, what="the build")
        assert_clean(at)
        sentence = answer(at)
        assert "the **predictor** stage was skipped" in sentence, sentence
        table = next(d.value for d in at.dataframe if "this build" in d.value.columns)
        assert dict(zip(table["stage"], table["this build"], strict=True)) == {
            "trainer": "built",
            "predictor": "skipped",
        }
        rows = state.snapshot(JobKey("build", f"{LAB.name} trainer")).state["steps"]
        assert {r.stage_name for r in rows} == {"trainer"}
        image = docker_client.images.get(tag)
        assert labels.is_ours(image.labels)
        with contextlib.suppress(docker.errors.ImageNotFound):  # the lab's tag is untouched
            assert docker_client.images.get(LAB.image).id != image.id
    finally:
        with contextlib.suppress(docker.errors.APIError):
            docker_client.images.remove(tag)
