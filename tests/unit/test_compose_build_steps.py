"""`docker compose --progress json build`, recorded from Compose 2.40.3 on Engine 26 (a build of
labs/wine whose `pip install` ran), parsed into one BuildStep per service and step."""

from __future__ import annotations

import json
from pathlib import Path

from dashboard.engine.ops import compose
from dashboard.engine.ops.buildkit_stream import BuildKitStreamParser

RECORDING = (
    Path(__file__).resolve().parents[1] / "recordings/compose/wine-build-progress-json.jsonl"
)


def parsed() -> BuildKitStreamParser:
    parser = BuildKitStreamParser(["predictor", "trainer"], per_stage=True)
    list(parser.feed_text(RECORDING.read_text()))
    list(parser.finish())
    return parser


def test_every_service_gets_its_five_steps_with_buildkits_times():
    steps = parsed().steps
    by_service = {
        name: [s for s in steps if s.stage_name == name] for name in ("predictor", "trainer")
    }
    for name, own in by_service.items():
        assert [s.index for s in own] == [1, 2, 3, 4, 5], name
        assert all(s.started_at is not None and s.finished_at is not None for s in own)
        assert [s.status for s in own] == ["base", "cached", "executed", "executed", "executed"]
    assert by_service["trainer"][4].instruction == "COPY train.py ."
    assert by_service["predictor"][4].instruction == "COPY predict.py ."


def test_a_step_both_services_share_ran_once_and_is_not_stretched_by_the_later_cache_hit():
    steps = {(s.stage_name, s.index): s for s in parsed().steps}
    # The same requirements.txt: BuildKit ran one `pip install` for both services ...
    pip_t, pip_p = steps[("trainer", 4)], steps[("predictor", 4)]
    assert abs(pip_t.started_at - pip_p.started_at) < 0.1 and abs(pip_t.seconds - 20.24) < 0.01
    # ... and the trainer's own copy of step 3, a cache hit 20 s later, does not count as time
    assert steps[("trainer", 3)].seconds < 1
    # the install's output went to both services' step
    assert any("Successfully installed" in line for line in pip_t.output)
    assert pip_t.output == pip_p.output


def test_composes_own_messages_on_stderr_read_as_text():
    warning = json.dumps({"level": "warning", "msg": "COMPOSE_BAKE=false is deprecated"})
    assert compose._compose_message(warning) == "warning: COMPOSE_BAKE=false is deprecated"
    assert compose._compose_message('{"id":"trainer","status":"Built"}') == "trainer: Built"
    assert compose._compose_message("plain text") == "plain text"
