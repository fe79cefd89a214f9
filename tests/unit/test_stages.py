"""The stages of a multi-stage build, worked out from recorded steps
(dashboard/engine/analysis/stages.py).

`buildkit-multistage-nocache-steps.json` and `buildkit-onnx-nocache-steps.json` hold the steps of
real `--no-cache` BuildKit builds of labs/iris-multistage (as taught: both stages install the same
requirements) and labs/iris-onnx (the predictor installs its own) on Engine 26 (buildx 0.13.1),
as the dashboard parsed them (tests/recordings/builds/record_lesson3.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from dashboard.engine.analysis import stages
from dashboard.engine.base.validation import InvalidInput
from dashboard.engine.catalog import labs
from dashboard.engine.ops import builds
from dashboard.engine.ops.build_stream import BuildStep, ClassicStreamParser

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = ROOT / "tests/recordings/builds"
DOCKERFILE = (ROOT / "labs/iris-multistage/Dockerfile").read_text()
ONNX_DOCKERFILE = (ROOT / "labs/iris-onnx/Dockerfile").read_text()
PIP = "RUN pip install --no-cache-dir -r requirements.txt"


def recorded(name: str = "multistage") -> list[BuildStep]:
    path = RECORDINGS / f"buildkit-{name}-nocache-steps.json"
    return [BuildStep(**row) for row in json.loads(path.read_text())]


def test_as_taught_the_stages_share_everything_up_to_the_install_then_the_predictor_waits():
    report = stages.analyse(recorded(), DOCKERFILE)
    assert report.timed and report.stages == ["trainer", "predictor"]
    # The same FROM, WORKDIR, COPY requirements.txt and pip install: BuildKit solved them once.
    assert report.shared == [
        "FROM docker.io/library/python:3.11-slim",
        "WORKDIR /app",
        "COPY requirements.txt .",
        PIP,
    ]
    assert report.overlaps == [] and report.overlap_seconds == 0.0
    (wait,) = report.waits
    assert wait.stage == "predictor" and wait.source == "trainer" and wait.index == 5
    assert wait.until == "RUN python model.py" and round(wait.seconds, 1) == 1.5
    assert report.sentence == (
        f"The trainer and predictor stages went together up to `{PIP}` (step 4: the same "
        "steps, built once for both). Then they did not run at the same time. The predictor "
        "waited 1.5 s at `COPY --from=trainer /app/model_pipeline.joblib .` (step 5) until the "
        "trainer's `RUN python model.py` had finished."
    )


def test_onnx_went_together_side_by_side_and_waited_from_buildkits_times():
    report = stages.analyse(recorded("onnx"), ONNX_DOCKERFILE)
    assert report.timed and report.stages == ["trainer", "predictor"]
    assert report.shared == ["FROM docker.io/library/python:3.11-slim", "WORKDIR /app"]
    assert round(report.overlap_seconds, 2) == 8.85  # the two pip installs, then COPY model.py
    overlap = report.overlaps[0]
    assert "requirements.txt" in overlap.first and "requirements-predict.txt" in overlap.second
    (wait,) = report.waits
    assert wait.stage == "predictor" and wait.source == "trainer" and wait.index == 5
    assert wait.until == "RUN python model.py" and round(wait.seconds, 1) == 7.8
    assert report.sentence == (
        "The trainer and predictor stages went together up to `WORKDIR /app` (step 2: the same "
        "steps, built once for both). Then they ran at the same time for 8.9 s. The predictor "
        "waited 7.8 s at `COPY --from=trainer /app/model_pipeline.onnx .` (step 5) until the "
        "trainer's `RUN python model.py` had finished."
    )
    spans = {s.name: s for s in report.spans}
    assert spans["predictor"].end > spans["trainer"].end  # it finished after the trainer


def test_a_cached_rebuild_says_nothing_ran_side_by_side():
    cached = [
        replace(s, status="base" if s.keyword == "FROM" else "cached", seconds=0.0)
        for s in recorded("onnx")
    ]
    report = stages.analyse(cached, ONNX_DOCKERFILE)
    assert report.all_cached
    assert "went together up to `WORKDIR /app`" in report.sentence
    assert "Every step came from the cache" in report.sentence


def test_the_classic_builder_has_no_times_and_builds_one_stage_after_the_other():
    rows = [
        SimpleNamespace(
            index=i,
            total=14,
            instruction=text,
            stage=stage,
            stage_name=name,
            status="executed",
            seconds=2.0,
            started_at=None,
            finished_at=None,
        )  # fmt: skip
        for i, (stage, name, text) in enumerate(
            [(0, "trainer", "WORKDIR /app"), (1, "predictor", "WORKDIR /app")], start=1
        )
    ]
    report = stages.analyse(rows, DOCKERFILE)
    assert not report.timed and report.overlaps == [] and report.waits == []
    assert report.sentence.startswith(
        "The classic builder built the stages one after the other: the **trainer** (2.0 s), "
        "then the **predictor** (2.0 s)."
    )


def test_the_classic_builder_takes_the_predictors_install_from_the_trainers_cache():
    parser = ClassicStreamParser()  # a warm classic build of the lab as taught
    for line in (RECORDINGS / "multistage-warm.jsonl").read_text().splitlines():
        list(parser.feed(json.loads(line)))
    list(parser.finish())
    report = stages.analyse(parser.steps, DOCKERFILE)
    assert not report.timed
    assert (
        f"The predictor's steps up to `{PIP}` are the trainer's (the same instructions on the "
        "same base), so they came from the cache." in report.sentence
    )
    # On a cold build the trainer ran them a moment before.
    cold = [
        replace(s, status="executed") if s.stage == 0 and s.keyword != "FROM" else s
        for s in parser.steps
    ]
    assert (
        "from the cache the trainer had just filled." in stages.analyse(cold, DOCKERFILE).sentence
    )
    # A predictor with requirements of its own reuses nothing past WORKDIR.
    own = [
        replace(s, instruction="COPY requirements-predict.txt .")
        if s.stage == 1 and s.instruction == "COPY requirements.txt ."
        else s
        for s in parser.steps
    ]
    assert (
        "steps up to `WORKDIR /app` are the trainer's" in stages.analyse(own, DOCKERFILE).sentence
    )


def test_which_stages_a_target_needs():
    assert stages.needed_stages(DOCKERFILE) == ["trainer", "predictor"]
    assert stages.needed_stages(DOCKERFILE, "trainer") == ["trainer"]
    assert stages.skipped_stages(DOCKERFILE, "trainer", "buildkit") == ["predictor"]
    assert stages.skipped_stages(DOCKERFILE, "trainer", "classic") == ["predictor"]
    chain = (
        "FROM python:3.11-slim AS base\nRUN a\nFROM base AS test\nRUN b\n"
        "FROM base AS docs\nRUN c\nFROM python:3.11-slim AS final\nCOPY --from=test /x /x\n"
    )
    assert stages.needed_stages(chain) == ["base", "test", "final"]
    # BuildKit leaves out what the target does not need; the classic builder builds it anyway
    assert stages.skipped_stages(chain, None, "buildkit") == ["docs"]
    assert stages.skipped_stages(chain, None, "classic") == []
    assert stages.skipped_stages(chain, "test", "classic") == ["docs", "final"]
    only_trainer = [s for s in recorded() if s.stage_name == "trainer"]
    report = stages.analyse(only_trainer, DOCKERFILE, "trainer")
    assert report.skipped == ["predictor"]
    assert report.sentence == (
        "Built with `--target trainer`: only what **trainer** needs ran; the **predictor** stage "
        "was skipped."
    )


def test_the_target_in_the_command_and_a_bad_target_refused_before_any_call():
    lab = labs.get("iris-multistage")
    tag = builds.target_tag(lab.image, "trainer")
    assert tag == "iris-model:2.0-trainer"
    assert builds.build_command(
        lab.path, lab.dockerfile, tag, network="host", nocache=False, target="trainer"
    ) == (
        "docker build --network host --target trainer -t iris-model:2.0-trainer "
        "-f labs/iris-multistage/Dockerfile labs/iris-multistage"
    )
    with pytest.raises(InvalidInput, match="is not a stage name"):
        next(builds.stream_build(None, lab.path, target="trainer; rm -rf /"))
