"""The stages of a multi-stage build, worked out from recorded steps (dashboard/engine/stages.py).

`buildkit-multistage-nocache-steps.json` holds the steps of a real `--no-cache` BuildKit build of
labs/iris-multistage on Engine 26 (buildx 0.13.1), as the dashboard parsed them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from dashboard.engine import builds, labs, stages
from dashboard.engine.build_stream import BuildStep
from dashboard.engine.validation import InvalidInput

ROOT = Path(__file__).resolve().parents[2]
RECORDING = ROOT / "tests/recordings/builds/buildkit-multistage-nocache-steps.json"
DOCKERFILE = (ROOT / "labs/iris-multistage/Dockerfile").read_text()


def recorded() -> list[BuildStep]:
    return [BuildStep(**row) for row in json.loads(RECORDING.read_text())]


def test_went_together_side_by_side_and_waited_from_buildkits_times():
    report = stages.analyse(recorded(), DOCKERFILE)
    assert report.timed and report.stages == ["trainer", "predictor"]
    # BuildKit named the shared FROM and WORKDIR after the predictor this time
    assert report.shared == ["FROM docker.io/library/python:3.11-slim", "WORKDIR /app"]
    assert round(report.overlap_seconds, 2) == 6.97  # the two pip installs
    (overlap,) = report.overlaps
    assert "requirements.txt" in overlap.first and "requirements-predict.txt" in overlap.second
    (wait,) = report.waits
    assert wait.stage == "predictor" and wait.source == "trainer" and wait.index == 5
    assert wait.until == "RUN python model.py" and round(wait.seconds, 1) == 6.7
    assert report.sentence == (
        "The trainer and predictor stages went together up to `WORKDIR /app` (step 2: the same "
        "steps, built once for both). Then they ran at the same time for 7.0 s. The predictor "
        "waited 6.7 s at `COPY --from=trainer /app/model_pipeline.joblib .` (step 5) until the "
        "trainer's `RUN python model.py` had finished."
    )
    spans = {s.name: s for s in report.spans}
    assert spans["predictor"].end > spans["trainer"].end  # it finished after the trainer


def test_a_cached_rebuild_says_nothing_ran_side_by_side():
    cached = [
        replace(s, status="base" if s.keyword == "FROM" else "cached", seconds=0.0)
        for s in recorded()
    ]
    report = stages.analyse(cached, DOCKERFILE)
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
