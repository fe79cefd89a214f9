"""`python -m dashboard VERB` as an instructor runs it: real processes, the real daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict | None = None, timeout: int = 600):
    done = subprocess.run(
        [sys.executable, "-m", "dashboard", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return done


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.docker
@pytest.mark.engines
def test_build_json_lines_have_the_documented_fields(docker_client, expected_builder):
    done = cli("--json", "build", "iris")
    assert done.returncode == 0, done.stdout + done.stderr
    records = json_lines(done.stdout)
    steps = [r for r in records if r["type"] == "step"]
    total = 5 if expected_builder == "buildkit" else 7  # BuildKit: [1/5]..[5/5], no ENV/CMD
    assert [s["index"] for s in steps] == list(range(1, total + 1))
    for s in steps:
        assert {"index", "total", "instruction", "cached", "seconds"} <= set(s)
        assert s["total"] == total and isinstance(s["cached"], bool)
    (result,) = [r for r in records if r["type"] == "result"]
    assert result["image"] == "iris-model:1.0" and result["steps_total"] == total
    assert 0 <= result["steps_cached"] <= total
    inspected = docker_client.images.get("iris-model:1.0")
    history = docker_client.api.history(inspected.id)
    # The unpacked layers, `docker history`'s sum, on every image store; and what each is.
    assert result["size_bytes"] == sum(e["Size"] for e in history)
    assert result["size"]["layers_bytes"] == result["size_bytes"]
    containerd = result["size"]["store"] == "containerd image store"
    assert result["size"]["content_bytes"] == (inspected.attrs["Size"] if containerd else None)
    assert result["image_id"] == inspected.id


@pytest.mark.docker
def test_run_parses_the_report_into_data(docker_client):
    assert cli("build", "iris").returncode == 0
    done = cli("--json", "run", "iris")
    assert done.returncode == 0, done.stderr
    (result,) = [r for r in json_lines(done.stdout) if r["type"] == "result"]
    assert result["exit_code"] == 0 and result["status"] == "exited"
    assert result["parsed"]["accuracy"] == 1.0
    assert result["parsed"]["predictions"][-1]["label"] == "setosa"
    docker_client.containers.get(result["container"]).remove()


@pytest.mark.docker
def test_cli_builds_and_runs_are_kept_in_the_history_the_app_shows(docker_client, tmp_path):
    from dashboard.engine.progress.history import History

    db = tmp_path / "history.sqlite3"
    env = {"DASHBOARD_HISTORY_DB": str(db)}
    done = cli("--json", "build", "iris", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = [r for r in json_lines(done.stdout) if r["type"] == "result"]
    done = cli("--json", "run", "iris", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    (ran,) = [r for r in json_lines(done.stdout) if r["type"] == "result"]
    docker_client.containers.get(ran["container"]).remove()

    with History.open(db) as history:
        (build,) = history.builds(lab="iris", with_steps=True)
        (run,) = history.runs(lab="iris")
    assert build.ok and build.image_id == built["image_id"] and build.tag == "iris-model:1.0"
    assert build.steps_total == built["steps_total"] and len(build.steps) == build.steps_total
    assert "FROM python:3.11-slim" in (build.dockerfile_text or "")
    assert (run.container_name, run.exit_code, run.accuracy) == (ran["container"], 0, 1.0)


@pytest.mark.docker
def test_layers_add_up_to_the_image_size(docker_client):
    assert cli("build", "iris").returncode == 0
    records = json_lines(cli("--json", "layers", "iris-model:1.0").stdout)
    layers = [r for r in records if r["type"] == "layer"]
    (image,) = [r for r in records if r["type"] == "image"]
    assert sum(layer["size_bytes"] for layer in layers) == image["size_bytes"]
    assert max(layers, key=lambda r: r["size_bytes"])["created_by"].startswith("RUN pip install")


@pytest.mark.docker
def test_reset_of_a_session_leaves_other_containers_alone(docker_client):
    session = "cli-test-" + uuid.uuid4().hex[:8]
    theirs = docker_client.containers.create("python:3.11-slim", "true", name=f"theirs-{session}")
    ours = docker_client.containers.create(
        "python:3.11-slim",
        "true",
        labels={
            "io.dockerml.dashboard.managed": "true",
            "io.dockerml.dashboard.lab": "test",
            "io.dockerml.dashboard.session": session,
        },
    )
    try:
        done = cli("--json", "reset", "--session", session)
        assert done.returncode == 0, done.stdout + done.stderr
        ids = {c.id for c in docker_client.containers.list(all=True)}
        assert theirs.id in ids and ours.id not in ids
        assert cli("reset", "--session", session).returncode == 0  # twice is fine
    finally:
        theirs.remove(force=True)


@pytest.mark.docker
def test_doctor_reports_every_piece(docker_client):
    done = cli("--json", "doctor")
    checks = {r["name"]: r for r in json_lines(done.stdout)}
    assert {"daemon", "compose", "base image", "wheelhouse", "gpu", "hints", "disk"} <= set(checks)
    assert checks["daemon"]["ok"] and checks["base image"]["ok"]
    assert checks["hints"]["ok"] and "hadolint 2." in checks["hints"]["detail"], checks["hints"]
    assert done.returncode == 0


def test_missing_daemon_is_one_sentence_and_exit_2(tmp_path):
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"}
    done = cli("build", "iris", env=env, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr
    assert "No Docker daemon socket" in done.stdout and "Start Docker" in done.stdout
    records = json_lines(cli("--json", "doctor", env=env, timeout=60).stdout)
    daemon = next(r for r in records if r["name"] == "daemon")
    assert daemon["ok"] is False and "DOCKER_HOST" in daemon["fix"]


def test_refused_socket(tmp_path):
    import socket

    refused = tmp_path / "refused.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(refused))
    s.close()  # a socket file with nobody listening: connection refused
    done = cli("--json", "build", "iris", env={"DOCKER_HOST": f"unix://{refused}"}, timeout=60)
    (err,) = json_lines(done.stdout)
    assert done.returncode == 2 and err["reason"] == "refused", err


@pytest.mark.docker
def test_json_after_the_verb_on_the_real_daemon(docker_client):
    records = json_lines(cli("layers", "python:3.11-slim", "--json").stdout)
    (image,) = [r for r in records if r["type"] == "image"]
    assert image["image"] == "python:3.11-slim" and image["size_bytes"] > 0
    checks = json_lines(cli("doctor", "--json").stdout)
    assert {"daemon", "docker CLI", "compose"} <= {c["name"] for c in checks}
    assert all(c["type"] == "check" for c in checks)


@pytest.mark.docker
def test_an_invalid_image_reference_is_the_pages_sentence_not_dockers_400(docker_client):
    from dashboard.engine.base import validation

    with pytest.raises(validation.InvalidInput) as caught:
        validation.parse_image_ref("BAD IMAGE!!")
    sentence = str(caught.value)
    done = cli("layers", "BAD IMAGE!!")
    assert done.returncode == 1
    assert done.stdout == f"error: {sentence}\n" and "400 Client Error" not in done.stdout
    done = cli("layers", "BAD IMAGE!!", "--json")
    assert done.returncode == 1
    assert json_lines(done.stdout) == [
        {"type": "error", "kind": "InvalidInput", "message": sentence}
    ]


@pytest.mark.docker
def test_cli_compose_build_and_run_are_kept_per_service(docker_client, tmp_path):
    """`build wine` and `run wine`: one history row per image and per service's container."""
    from dashboard.engine.ops import compose
    from dashboard.engine.progress.history import SERVICE, History

    db = tmp_path / "history.sqlite3"
    name = f"wine-cli-{uuid.uuid4().hex[:6]}"
    env = {"DASHBOARD_HISTORY_DB": str(db), "DASHBOARD_COMPOSE_PROJECT": name}
    env |= {"POLL_SECONDS": "1", "TRAIN_DELAY_SECONDS": "0"}
    try:
        done = cli("--json", "build", "wine", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        records = json_lines(done.stdout)
        (built,) = [r for r in records if r["type"] == "result"]
        steps = [r for r in records if r["type"] == "step"]
        assert {s["stage_name"] for s in steps} == {"predictor", "trainer"}
        assert built["images"] == {"predictor": f"{name}-predictor", "trainer": f"{name}-trainer"}
        done = cli("--json", "run", "wine", env=env)
        assert done.returncode == 0, done.stdout + done.stderr

        with History.open(db) as history:
            images = history.builds(lab="wine", with_steps=True)
            ran = history.runs(lab="wine", kind=SERVICE)
        assert sorted(b.tag for b in images) == [f"{name}-predictor", f"{name}-trainer"]
        for build in images:
            assert build.ok and build.image_id == docker_client.images.get(build.tag).id
            assert build.steps and {s.stage_name for s in build.steps} == {build.tag.split("-")[-1]}
        trainer = next(b for b in images if b.tag.endswith("trainer"))
        assert "train.py" in (trainer.dockerfile_text or "")
        assert sorted(r.service for r in ran) == ["predictor", "trainer"]
        assert all(r.exit_code == 0 for r in ran)
        assert next(r for r in ran if r.service == "predictor").predictions
    finally:
        compose.ComposeProject(docker_client, name, lab="wine").down(remove_images=True)
