"""Lesson 3's question answered on the page from real builds: which steps the trainer and
predictor stages went through together (as taught: everything up to the shared install; the ONNX
lab: WORKDIR, then two installs side by side), where the predictor waited; and a `--target
trainer` build that skips the predictor. BuildKit's own step times where buildx answers; the
classic builder's one-stage-after-the-other elsewhere."""

from __future__ import annotations

import contextlib

import docker
import pytest

from dashboard.engine.base import labels
from dashboard.engine.catalog import labs
from dashboard.ui import state
from dashboard.work.jobs import JobKey
from tests.app.helpers import assert_clean, open_page, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.engines]

LAB = labs.get("iris-multistage")
BUILD = JobKey("build", LAB.name)
SLIM_BUILD = JobKey("build", "iris-onnx")
COPY_FROM = "COPY --from=trainer /app/model_pipeline.joblib ."
SLIM_COPY_FROM = "COPY --from=trainer /app/model_pipeline.onnx ."
PIP = "RUN pip install --no-cache-dir -r requirements.txt"


def answer(at, key: JobKey | None = None) -> str:
    """The page's "How the stages ran" sentence: of the build `key` once it has finished (the
    page shows one per build), else the last one shown."""
    if key is not None:
        snap = state.snapshot(key)
        if snap is None or not snap.finished:
            return ""
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


def built_without_cache(at, button: str, key: JobKey, expected_builder: str):
    """Check `--no-cache`, press `button`, wait for the sentence; (sentence, rows by step)."""
    at.checkbox(key="multistage-nocache").check().run()
    assert any("--no-cache" in c.value for c in at.code)
    at.button(key=button).click().run()
    wait_for(at, lambda a: answer(a, key) != "", timeout=600, what="the no-cache build")
    assert_clean(at)
    sentence = answer(at, key)
    print(f"\n{expected_builder}: {sentence}")
    rows = state.snapshot(key).state["steps"]
    assert {r.stage_name for r in rows} == {"trainer", "predictor"}
    return sentence, rows


def waited_sentence(rows, copy_from: str) -> tuple[object, str]:
    """The COPY --from step and the page's words for its wait, worked out from the rows."""
    step = {(r.stage_name, r.instruction): r for r in rows}
    copy = step[("predictor", copy_from)]
    model = step[("trainer", "RUN python model.py")]
    assert copy.started_at >= model.finished_at - 0.05
    waited = copy.started_at - max(
        r.finished_at
        for r in rows
        if r.finished_at is not None and r.index < copy.index and r.key not in own_keys(rows)
    )
    return copy, (
        f"The predictor waited {waited:.1f} s at `{copy_from}` (step {copy.index}) until the "
        "trainer's `RUN python model.py` had finished."
    )


def own_keys(rows):
    """The trainer's steps after the ones both stages share (they do not hold the predictor)."""
    shared_until = min(r.index for r in rows if r.stage_name == "predictor")
    return {r.key for r in rows if r.stage_name == "trainer" and r.index >= shared_until}


def test_as_taught_the_stages_go_together_up_to_the_install_and_the_predictor_waits(
    docker_client, app, expected_builder
):
    at = open_page(app, "multistage.py")
    sentence, rows = built_without_cache(at, "build-multistage", BUILD, expected_builder)
    if expected_builder == "classic":
        assert "one after the other" in sentence and "the **trainer**" in sentence
        # --no-cache: the predictor ran its install again instead of taking the trainer's
        install = [r for r in rows if r.instruction == PIP]
        assert [r.status for r in install] == ["executed", "executed"]
        assert "are the trainer's" not in sentence
        assert all(r.started_at is None for r in rows)
        return

    # BuildKit: the steps both stages share are built once, announced under one stage's name:
    # here all of them up to the install, so nothing of the two stages ran side by side.
    assert f"went together up to `{PIP}` (step 4" in sentence
    assert "Then they did not run at the same time." in sentence
    assert not [d for d in at.dataframe if "seconds at the same time" in d.value.columns]
    _, said = waited_sentence(rows, COPY_FROM)
    assert said in sentence


def test_onnx_the_two_installs_run_at_the_same_time_then_the_predictor_waits(
    docker_client, app, expected_builder
):
    at = open_page(app, "multistage.py")
    sentence, rows = built_without_cache(at, "build-onnx", SLIM_BUILD, expected_builder)
    if expected_builder == "classic":
        assert "one after the other" in sentence and "are the trainer's" not in sentence
        return

    step = {(r.stage_name, r.instruction): r for r in rows}
    assert "went together up to `WORKDIR /app` (step 2" in sentence
    # What ran at the same time, from BuildKit's own times: the two pip installs.
    pip_t = step[("trainer", PIP)]
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
    assert pip_t.instruction in " ".join(overlaps["trainer step"])
    assert pip_p.instruction in " ".join(overlaps["predictor step"])
    copy, said = waited_sentence(rows, SLIM_COPY_FROM)
    assert copy.started_at > pip_p.finished_at
    assert said in sentence


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
