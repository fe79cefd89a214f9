"""Lesson 4 through the page: start the wine pair, watch it, read the predictions, take it down.

Runs under a Compose project named after the session (DASHBOARD_COMPOSE_PROJECT), never "wine";
its containers, volume, network and images are removed at the end.
"""

from __future__ import annotations

import pytest

from dashboard.engine.catalog import labs
from dashboard.engine.ops import compose
from dashboard.work import workspace
from tests.app.helpers import assert_clean, metrics, open_page, wait_for

pytestmark = pytest.mark.docker


@pytest.fixture
def project(docker_client, isolated, session_id):
    name = f"wine-{session_id}".lower()
    yield name
    compose.ComposeProject(docker_client, name, lab="wine").down(volumes=True, remove_images=True)
    left = docker_client.containers.list(
        all=True, filters={"label": f"{compose.PROJECT_LABEL}={name}"}
    )
    assert left == []


def compose_down(at) -> None:
    at.button(key="compose-down").click().run()
    wait_for(
        at,
        lambda a: any("Removed the containers" in s.value for s in a.success),
        timeout=180,
        what="docker compose down",
    )


def test_the_pair_trains_waits_predicts_and_goes_away(docker_client, app, project):
    at = open_page(app, "compose.py")
    assert_clean(at)
    at.slider(key="train-delay").set_value(2).run()
    at.slider(key="poll-seconds").set_value(1).run()
    up = f"POLL_SECONDS=1 TRAIN_DELAY_SECONDS=2 docker compose -p {project} "
    assert any(c.value.startswith(up) and c.value.endswith("up -d") for c in at.code)

    at.button(key="compose-up").click().run()
    wait_for(at, lambda a: "Predictions" in metrics(a), timeout=600, what="the wine pair")
    assert_clean(at)
    shown = metrics(at)
    assert shown["trainer"] == "exited (exit 0)" and shown["predictor"] == "exited (exit 0)"
    assert shown["Predictions"] == "3" and shown["Correct"] == "3 / 3"

    tables = {tuple(d.value.columns): d.value for d in at.dataframe}
    predictions = tables[("sample", "predicted", "actual", "correct")]
    assert list(predictions["predicted"]) == list(predictions["actual"])
    volume = tables[("file", "size", "modified")]
    assert list(volume["file"]) == ["model_pipeline.joblib"]
    events = tables[("at (s)", "service", "what", "detail")]
    happened = list(zip(events["service"], events["what"], strict=True))
    waited = next(i for i, (s, w) in enumerate(happened) if w.startswith("waiting"))
    saved = happened.index(("trainer", "model saved"))
    loaded = happened.index(("predictor", "model loaded"))
    assert waited < saved < loaded  # the predictor waited, then found the trainer's model
    assert ("trainer", "model file appeared") in happened
    # Both logs, side by side.
    logs = " ".join(c.value for c in at.code)
    assert "Model saved to /shared/model_pipeline.joblib" in logs
    assert "Wine #0: predicted class_0" in logs

    compose_down(at)
    left = docker_client.containers.list(
        all=True, filters={"label": f"{compose.PROJECT_LABEL}={project}"}
    )
    assert left == []


def test_the_lectures_host_folder_gets_the_model_file_on_this_machine(docker_client, app, project):
    at = open_page(app, "compose.py")
    at.segmented_control(key="wine-mount").set_value(
        "Host folder, as in the lecture (+ compose.bind.yaml)"
    ).run()
    assert_clean(at)
    at.button(key="lecture-timings").click().run()
    assert (at.slider(key="train-delay").value, at.slider(key="poll-seconds").value) == (20, 15)
    at.slider(key="train-delay").set_value(1).run()
    at.slider(key="poll-seconds").set_value(1).run()
    copy = workspace.copy_path("wine")
    up = next(c.value for c in at.code if c.value.endswith("up -d"))
    assert f"-f {copy}/compose.yaml -f {copy}/compose.bind.yaml up -d" in up

    at.button(key="compose-up").click().run()
    wait_for(at, lambda a: "Predictions" in metrics(a), timeout=600, what="the wine pair")
    assert_clean(at)
    assert metrics(at)["Correct"] == "3 / 3"
    assert any(h.value == "The shared folder on this machine" for h in at.subheader)
    folder = next(d.value for d in at.dataframe if "owner uid" in d.value.columns)
    model = copy / "shared" / "model_pipeline.joblib"
    assert list(folder["file"]) == ["model_pipeline.joblib"] and model.stat().st_size > 0
    assert list(folder["owner uid"]) == [model.stat().st_uid]
    assert any(c.value == f"ls -ln {copy}/shared" for c in at.code)

    compose_down(at)
    assert model.exists()  # `down -v` removes volumes, never a host folder
    assert not (labs.get("wine").path / "shared").exists()  # the lab itself is untouched
