"""The classic-builder stream parser, on output recorded from the real daemon."""

import json
from pathlib import Path

from dashboard.engine.ops.build_stream import (
    ClassicStreamParser,
    StepFinished,
    StepOutput,
    StepStarted,
    StreamEnded,
)

RECORDINGS = Path(__file__).parents[1] / "recordings" / "builds"


def parse(name: str, chunks=None):
    parser = ClassicStreamParser(clock=iter(range(10_000)).__next__)
    events = []
    if chunks is None:
        lines = RECORDINGS.joinpath(f"{name}.jsonl").read_text().splitlines()
        chunks = [json.loads(line) for line in lines]
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.finish()
    return parser, events


def test_cold_build_executes_every_step_after_from():
    parser, events = parse("iris-cold")
    assert [s.status for s in parser.steps] == ["base"] + ["executed"] * 6
    assert [s.index for s in parser.steps] == list(range(1, 8))
    assert all(s.total == 7 for s in parser.steps)
    pip = parser.steps[4]
    assert pip.instruction.startswith("RUN pip install")
    assert any("Successfully installed" in line for line in pip.output)
    assert all(s.layer_id and len(s.layer_id) == 12 for s in parser.steps)
    assert isinstance(events[-1], StreamEnded) and events[-1].image_id.startswith("sha256:")


def test_edit_of_main_py_rebuilds_from_the_copy():
    parser, _ = parse("iris-edited")
    statuses = {
        s.instruction.split()[0] + " " + s.instruction.split()[1]: s.status for s in parser.steps
    }
    assert statuses["COPY requirements.txt"] == "cached"
    assert statuses["RUN pip"] == "cached"
    assert statuses["COPY main.py"] == "executed"
    assert all(s.layer_id for s in parser.steps), "cached steps carry their layer id too"


def test_every_step_start_has_a_matching_finish():
    _, events = parse("multistage-warm")
    started = [e.step.index for e in events if isinstance(e, StepStarted)]
    finished = [e.step.index for e in events if isinstance(e, StepFinished)]
    assert started == finished == list(range(1, 16))  # 13 steps and our two LABEL steps


def test_stages_are_numbered_and_named():
    parser, _ = parse("multistage-warm")
    stages = {(s.stage, s.stage_name) for s in parser.steps}
    assert stages == {(0, "trainer"), (1, "predictor")}
    copy_from = next(s for s in parser.steps if "--from=trainer" in s.instruction)
    assert copy_from.stage == 1


def test_failing_run_step_reports_its_output_and_error():
    parser, events = parse("failing-run")
    failed = parser.steps[-1]
    assert failed.status == "failed"
    assert failed.output == ["about to fail"]
    end = events[-1]
    assert end.image_id is None and "non-zero code: 3" in end.error
    assert "about to fail" in parser.tail


def test_chunks_split_mid_line_and_ansi_colours():
    chunks = [
        {"stream": "Step 1/2 : FROM python:3.11-slim"},
        {"stream": "\n ---> 4802a77"},
        {"stream": "56263\nStep 2/2 : RUN pip install x"},
        {"stream": "\n ---> Running in 0123456789ab\n\x1b[91mWARNING: red\x1b[0m\nhal"},
        {"stream": "f a line\n ---> abcdefabcdef\n"},
        {"aux": {"ID": "sha256:" + "a" * 64}},
    ]
    parser, events = parse("", chunks)
    assert parser.steps[0].layer_id == "4802a7756263"
    assert parser.steps[1].output == ["WARNING: red", "half a line"]
    assert [e.line for e in events if isinstance(e, StepOutput)] == ["WARNING: red", "half a line"]


def test_stream_that_ends_without_image_id_is_a_failure():
    chunks = [{"stream": "Step 1/2 : FROM python:3.11-slim\n"}, {"stream": " ---> 4802a7756263\n"}]
    _, events = parse("", chunks)
    assert events[-1].image_id is None and "without reporting an image id" in events[-1].error


def test_output_of_a_flooding_step_is_bounded():
    chunks = [{"stream": "Step 1/1 : RUN yes\n ---> Running in 0123456789ab\n"}]
    chunks += [{"stream": "y\n" * 1000}]
    parser, _ = parse("", chunks)
    step = parser.steps[0]
    assert len(step.output) == 200 and step.output_dropped == 800
