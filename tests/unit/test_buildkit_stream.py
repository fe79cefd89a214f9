"""BuildKit's rawjson stream, parsed from real recordings (tests/recordings/builds/buildkit/).

Recorded with `docker buildx build --progress=rawjson` (buildx 0.13.1) on Engine 26.1
(e26-overlay2): the iris lab cold (--no-cache), warm, after a main.py edit, the two multi-stage
labs cold (tests/recordings/builds/record_lesson3.py), a failing RUN, a Dockerfile BuildKit
cannot parse, and a build canceled with SIGINT.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from dashboard.engine.ops.build_stream import StepFinished, StepOutput, StepStarted
from dashboard.engine.ops.buildkit_stream import (
    BuildKitStreamParser,
    RawJsonDecoder,
    epoch,
    stage_names,
)

RECORDINGS = Path(__file__).parents[1] / "recordings" / "builds" / "buildkit"
MULTISTAGE = Path(__file__).parents[2] / "labs" / "iris-multistage" / "Dockerfile"
ONNX = Path(__file__).parents[2] / "labs" / "iris-onnx" / "Dockerfile"


def parse(name: str, *, chunk: int = 513, canceled: bool = False, stages=()):
    """Feed a recording in odd-sized chunks, as the pipe delivers it."""
    parser = BuildKitStreamParser(stages)
    text = (RECORDINGS / name).read_text()
    events = []
    for start in range(0, len(text), chunk):
        events += parser.feed_text(text[start : start + chunk])
    events += parser.finish(canceled=canceled)
    return parser, events


def table(parser) -> list[tuple[str, str]]:
    return [
        (f"{s.stage_name + ' ' if s.stage_name else ''}{s.index}/{s.total}", s.status)
        for s in parser.steps
    ]


def test_decoder_reads_pretty_printed_objects_split_anywhere_and_the_text_after():
    text = '{\n  "a": {\n    "b": "}{"\n  }\n}\n{"c": 1}\nDockerfile:3\nERROR: failed to solve: x\n'
    for size in (1, 2, 7, len(text)):
        decoder = RawJsonDecoder()
        items = []
        for start in range(0, len(text), size):
            items += decoder.feed(text[start : start + size])
        items += decoder.finish()
        assert items == [{"a": {"b": "}{"}}, {"c": 1}, "Dockerfile:3", "ERROR: failed to solve: x"]


def test_decoder_keeps_a_truncated_object_as_text_at_the_end():
    decoder = RawJsonDecoder()
    assert list(decoder.feed('{"vertexes": [')) == []
    assert list(decoder.finish()) == ['{"vertexes": [']


def test_cold_build_names_the_five_steps_as_buildkit_numbers_them():
    parser, events = parse("iris-cold.rawjson")
    assert table(parser) == [
        ("1/5", "base"),
        ("2/5", "executed"),
        ("3/5", "executed"),
        ("4/5", "executed"),
        ("5/5", "executed"),
    ]
    assert [s.instruction for s in parser.steps][1:] == [
        "WORKDIR /app",
        "COPY requirements.txt .",
        "RUN pip install --no-cache-dir -r requirements.txt",
        "COPY main.py .",
    ]
    # internal vertexes ("[internal] load ...", "exporting to image") are not steps
    assert not any("internal" in s.instruction or "export" in s.instruction for s in parser.steps)
    pip = parser.steps[3]
    assert pip.seconds > 5 and pip.started_at and pip.finished_at > pip.started_at
    assert any("Successfully installed" in line for line in pip.output)
    assert all("\n" not in line for line in pip.output)
    assert parser.error is None
    started = [e.step.index for e in events if isinstance(e, StepStarted)]
    finished = [e.step.index for e in events if isinstance(e, StepFinished)]
    assert sorted(started) == sorted(finished) == [1, 2, 3, 4, 5]
    outputs = [e for e in events if isinstance(e, StepOutput)]
    assert outputs and {e.key for e in outputs} == {(0, 4)}


def test_the_parse_does_not_depend_on_how_the_pipe_splits_the_text():
    whole, _ = parse("iris-cold.rawjson", chunk=10**9)
    tiny, _ = parse("iris-cold.rawjson", chunk=3)
    assert [(s.key, s.status, s.output) for s in whole.steps] == [
        (s.key, s.status, s.output) for s in tiny.steps
    ]


def test_warm_rebuild_is_all_cached_and_an_edit_reruns_only_the_last_copy():
    warm, _ = parse("iris-warm.rawjson")
    assert [s.status for s in warm.steps] == ["base", "cached", "cached", "cached", "cached"]
    edited, _ = parse("iris-edited.rawjson")
    assert [s.status for s in edited.steps] == ["base", "cached", "cached", "cached", "executed"]


def test_multistage_as_taught_solves_the_shared_steps_once_and_the_predictor_waits():
    parser, _ = parse("multistage-cold.rawjson", stages=stage_names(MULTISTAGE.read_text()))
    # Both stages run the same FROM, WORKDIR, COPY requirements.txt and pip install: BuildKit
    # solves them once, announced under the trainer's name; the predictor starts at step 5.
    assert table(parser) == [
        ("trainer 1/6", "base"),
        ("trainer 2/6", "cached"),
        ("trainer 3/6", "executed"),
        ("trainer 4/6", "executed"),
        ("trainer 5/6", "executed"),
        ("trainer 6/6", "executed"),
        ("predictor 5/6", "executed"),
        ("predictor 6/6", "executed"),
    ]
    steps = {(s.stage_name, s.index): s for s in parser.steps}
    assert {s.stage for s in parser.steps if s.stage_name == "predictor"} == {1}
    assert steps["predictor", 5].instruction.startswith("COPY --from=trainer")
    assert steps["predictor", 5].started_at >= steps["trainer", 6].finished_at


def test_onnx_steps_carry_their_stage_and_the_stages_overlap_in_time():
    parser, _ = parse("onnx-cold.rawjson", stages=stage_names(ONNX.read_text()))
    assert sorted(table(parser)) == [
        ("predictor 3/6", "executed"),
        ("predictor 4/6", "executed"),
        ("predictor 5/6", "executed"),
        ("predictor 6/6", "executed"),
        ("trainer 1/6", "base"),
        ("trainer 2/6", "cached"),  # shared with the predictor: BuildKit runs it once
        ("trainer 3/6", "executed"),
        ("trainer 4/6", "executed"),
        ("trainer 5/6", "executed"),
        ("trainer 6/6", "executed"),
    ]
    steps = {(s.stage_name, s.index): s for s in parser.steps}
    assert {s.stage for s in parser.steps if s.stage_name == "predictor"} == {1}
    trainer_pip, predictor_pip = steps["trainer", 4], steps["predictor", 4]
    # the two installs ran at the same time ...
    assert predictor_pip.started_at < trainer_pip.finished_at
    assert trainer_pip.started_at < predictor_pip.finished_at
    # ... and the predictor's COPY --from waited for the trainer's last step
    assert steps["predictor", 5].started_at >= steps["trainer", 6].finished_at


def test_a_failing_run_is_failed_with_its_output_and_error_and_later_steps_skipped():
    parser, _ = parse("failing-run.rawjson")
    assert [s.status for s in parser.steps] == ["base", "cached", "failed", "skipped"]
    failed = parser.steps[2]
    assert failed.output == ["before", "to-stderr"]
    assert failed.error.endswith("did not complete successfully: exit code: 3")
    assert parser.error == failed.error
    assert any(line.startswith("ERROR: failed to solve") for line in parser.text)


def test_a_dockerfile_buildkit_cannot_parse_has_no_steps_and_says_why():
    parser, events = parse("parse-error.rawjson")
    assert parser.steps == [] and events == []
    assert parser.error == (
        "dockerfile parse error on line 3: unknown instruction: RUNN (did you mean RUN?)"
    )


def test_a_canceled_build_marks_the_running_step_canceled():
    parser, _ = parse("cancel.rawjson", canceled=True)
    assert [s.status for s in parser.steps] == ["base", "canceled"]
    assert parser.canceled
    assert parser.steps[1].output[-1].startswith("tick ")


def test_a_step_still_running_when_the_process_ends_is_closed():
    parser = BuildKitStreamParser()
    vertex = {"digest": "sha256:1", "name": "[2/3] RUN sleep 9", "started": "2026-01-01T00:00:00Z"}
    assert [type(e) for e in parser.feed({"vertexes": [vertex]})] == [StepStarted]
    vertex2 = {"digest": "sha256:2", "name": "[3/3] COPY . ."}
    list(parser.feed({"vertexes": [vertex2]}))
    finished = list(parser.finish())
    assert [type(e) for e in finished] == [StepFinished]
    assert [s.status for s in parser.steps] == ["failed", "skipped"]


def test_logs_are_split_into_lines_across_chunks_and_progress_redraws_collapse():
    parser = BuildKitStreamParser()
    list(parser.feed({"vertexes": [{"digest": "d", "name": "[2/2] RUN x", "started": None}]}))

    def log(data: bytes, stream: int = 1) -> dict:

        return {
            "logs": [{"vertex": "d", "stream": stream, "data": base64.b64encode(data).decode()}]
        }

    out = list(parser.feed(log(b"hel"))) + list(
        parser.feed(log(b"lo\n10%\r50%\r100%\n\x1b[31mred"))
    )
    out += parser.finish()
    assert [e.line for e in out if isinstance(e, StepOutput)] == ["hello", "100%", "red"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2026-12-01T07:34:32.4814071Z", 1796110472.4814071),
        ("2026-12-01T07:34:32Z", 1796110472.0),
        ("2026-12-01T08:34:32.5+01:00", 1796110472.5),
    ],
)
def test_epoch_reads_nanosecond_timestamps(text, seconds):
    assert epoch(text) == pytest.approx(seconds, abs=1e-6)
    assert epoch(None) is None and epoch("soon") is None


def test_stage_names_follow_the_from_lines():
    assert stage_names(MULTISTAGE.read_text()) == ["trainer", "predictor"]
    assert stage_names("FROM a\nRUN x\nfrom b as Final\n") == [None, "final"]
