"""Lesson 4 on the real daemon: the wine pair through `docker compose`, under its own project.

The trainer waits TRAIN_DELAY_SECONDS=3 before fitting and the predictor polls every
POLL_SECONDS=1, so the predictor must be seen waiting, then predicting after the model was
saved. Times measured are printed (run with -s to see them).
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from dashboard.engine.base import labels
from dashboard.engine.ops import compose
from dashboard.engine.ops.compose import EventKind

pytestmark = pytest.mark.docker


@pytest.fixture
def wine(docker_client, session_id):
    session = f"{session_id}-compose-{uuid.uuid4().hex[:6]}"
    project = compose.ComposeProject(
        docker_client,
        f"wine-{session}".lower(),
        session=session,
        env={"POLL_SECONDS": "1", "TRAIN_DELAY_SECONDS": "3"},
        max_log_lines=3,  # bounded: the timeline must not depend on the kept lines
    )
    yield project
    project.down(volumes=True, remove_images=True)


def project_objects(client, name: str):
    selector = {"label": [f"{compose.PROJECT_LABEL}={name}"]}
    return (
        client.containers.list(all=True, filters=selector),
        client.volumes.list(filters=selector),
        client.networks.list(filters=selector),
    )


def test_wine_pair_trains_then_predicts(docker_client, wine):
    client = docker_client
    times: dict[str, float] = {}

    start = time.monotonic()
    output = list(wine.build())
    times["build"] = time.monotonic() - start
    assert any("predictor" in line and "Built" in line for line in output), output[-10:]
    assert any("trainer" in line and "Built" in line for line in output), output[-10:]

    start = time.monotonic()
    up = wine.up()
    times["up -d"] = time.monotonic() - start
    assert up.command.display == (
        f"POLL_SECONDS=1 TRAIN_DELAY_SECONDS=3 docker compose -p {wine.project} "
        "-f labs/wine/compose.yaml up -d"
    )

    # Follow both services live until they end (a guard stops it after two minutes).
    guard = threading.Event()
    timer = threading.Timer(120, guard.set)
    timer.start()
    try:
        lines = list(wine.follow_logs(stop=guard))
    finally:
        timer.cancel()
    assert not guard.is_set(), "the pair did not finish within 120 s"
    times["up -> logs ended"] = time.monotonic() - start

    result = wine.wait(timeout=30)
    assert result.succeeded, result.states
    assert set(result.states) == {"trainer", "predictor"}
    assert {s.exit_code for s in result.states.values()} == {0}

    predictor = [line for line in lines if line.service == "predictor"]
    trainer = [line for line in lines if line.service == "trainer"]
    saved = [line for line in trainer if line.text.startswith("Model saved to")]
    waits = [line for line in predictor if line.text.startswith("Model not found")]
    predictions = [line for line in predictor if ": predicted " in line.text]
    assert len(saved) == 1 and len(waits) >= 1 and len(predictions) == 3
    assert waits[0].at < saved[0].at < predictions[0].at
    assert [p.text.split(":")[0] for p in predictions] == ["Wine #0", "Wine #70", "Wine #140"]

    # Bounded memory: only the last 3 lines per service are kept ...
    assert len(wine.logs("predictor")) == 3
    assert wine.logs("predictor")[-1].text == predictions[-1].text
    # ... while the timeline still knows the first wait.
    files = wine.volume_files()
    assert [f.path for f in files] == ["model_pipeline.joblib"]
    assert files[0].size_bytes > 10_000
    events = {(e.service, e.kind): e for e in wine.timeline.events()}
    assert events[("predictor", EventKind.WAITING)].at == waits[0].at
    assert events[("predictor", EventKind.WAITING)].count == len(waits)
    appeared = events[("trainer", EventKind.MODEL_FILE)].at
    assert waits[0].at < appeared <= saved[0].at < predictions[0].at
    assert events[("trainer", EventKind.EXITED)].detail == "exit code 0"
    assert events[("predictor", EventKind.EXITED)].at >= predictions[-1].at

    # Our labels are on both containers and on the volume; the helper container is gone.
    ours = labels.for_lab("wine", wine.session)
    for state in result.states.values():
        assert ours.items() <= state.labels.items(), state.service
    volume = client.volumes.get(wine.volume_name())
    assert ours.items() <= volume.attrs["Labels"].items()
    helpers = client.containers.list(all=True, filters=labels.filters("wine", wine.session))
    assert sorted(c.labels[compose.SERVICE_LABEL] for c in helpers) == ["predictor", "trainer"]

    trainer_state, predictor_state = result.states["trainer"], result.states["predictor"]
    times["trainer ran"] = (trainer_state.finished_at - trainer_state.started_at).total_seconds()
    times["predictor ran"] = (
        predictor_state.finished_at - predictor_state.started_at
    ).total_seconds()
    times["predictor waits"] = len(waits)
    times["model saved -> first prediction"] = (predictions[0].at - saved[0].at).total_seconds()

    start = time.monotonic()
    down = wine.down(volumes=True)
    times["down -v"] = time.monotonic() - start
    assert down.command.display == (
        f"docker compose -p {wine.project} -f labs/wine/compose.yaml down --remove-orphans -v"
    )
    containers, volumes, networks = project_objects(client, wine.project)
    assert (containers, volumes, networks) == ([], [], [])
    print("\nwine pair timings:", {k: round(v, 2) for k, v in times.items()})


def test_follow_logs_stops_when_asked(docker_client, wine):
    for _ in wine.build():
        pass
    wine.env["POLL_SECONDS"] = "0.2"
    wine.env["TRAIN_DELAY_SECONDS"] = "60"  # the pair would run for a minute
    wine.up()
    stop = threading.Event()
    start = time.monotonic()
    seen = []
    for line in wine.follow_logs(stop=stop):
        seen.append(line)
        if len([s for s in seen if s.service == "predictor"]) >= 3:
            stop.set()
    stopped_after = time.monotonic() - start
    assert stopped_after < 20
    assert {s.service for s in seen} >= {"predictor"}

    result = wine.wait(timeout=1, poll=0.2, stop_grace=1)
    assert result.timed_out and not result.succeeded
    # The deadline stopped the pair (python as PID 1 ignores SIGTERM: killed after the grace).
    assert {s.status for s in result.states.values()} == {"exited"}
    assert result.states["trainer"].exit_code == 137
    assert wine.volume_files() == []  # stopped before the model was saved
    print(f"\nfollow stopped after {stopped_after:.2f} s, wait+stop {result.seconds:.2f} s")
