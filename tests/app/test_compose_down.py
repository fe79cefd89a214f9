"""Issue 24, items 4 and 7 on Lesson 4: after "Stop and remove the pair" the page says the
services were removed (not "exited (exit 0)" as if they still stood), and the host-folder
variant's `down -v` also removes the `shared` volume an earlier named-volume run left, names the
folder as a folder, and its terminal hint carries the override file.

Runs under a Compose project named after the session (DASHBOARD_COMPOSE_PROJECT), never "wine".
"""

from __future__ import annotations

import contextlib

import docker
import pytest

from dashboard.engine.ops import compose
from dashboard.work import workspace
from tests.app.helpers import assert_clean, metrics, open_page, wait_for

pytestmark = pytest.mark.docker

FOLDER = "Host folder, as in the lecture (+ compose.bind.yaml)"


@pytest.fixture
def project(docker_client, isolated, session_id):
    name = f"wine-{session_id}".lower()
    yield name
    compose.ComposeProject(docker_client, name, lab="wine").down(volumes=True, remove_images=True)
    for volume in docker_client.volumes.list(filters={"label": f"{compose.PROJECT_LABEL}={name}"}):
        with contextlib.suppress(docker.errors.APIError):
            volume.remove()


def _volumes(client, project: str) -> list[str]:
    found = client.volumes.list(filters={"label": f"{compose.PROJECT_LABEL}={project}"})
    return sorted(v.name for v in found)


def _fast(at):
    at.slider(key="train-delay").set_value(0).run()
    at.slider(key="poll-seconds").set_value(1).run()
    return at


def _up(at):
    at.button(key="compose-up").click().run()
    return wait_for(at, lambda a: "Predictions" in metrics(a), timeout=900, what="the wine pair")


def _down(at):
    at.button(key="compose-down").click().run()
    wait_for(
        at,
        lambda a: any("Removed the containers" in s.value for s in a.success),
        timeout=180,
        what="docker compose down",
    )
    return at.run()  # the page as drawn after the stop


def test_after_down_the_services_show_removed(docker_client, app, project):
    at = _up(_fast(open_page(app, "compose.py")))
    assert_clean(at)
    assert metrics(at)["trainer"] == "exited (exit 0)"

    at = _down(at)
    assert_clean(at)
    shown = metrics(at)
    assert shown["trainer"] == "removed" and shown["predictor"] == "removed", shown
    said = " ".join(c.value for c in at.caption)
    assert "exited (exit 0), then removed by `docker compose down`" in said, said


def test_the_host_folder_down_removes_the_earlier_volume_and_says_folder(
    docker_client, app, project
):
    # The named-volume run first: it leaves the project's `shared` volume.
    at = _up(_fast(open_page(app, "compose.py")))
    assert_clean(at)
    assert _volumes(docker_client, project) == [f"{project}_shared"]

    at.segmented_control(key="wine-mount").set_value(FOLDER).run()
    assert_clean(at)
    copy = workspace.copy_path("wine")
    hint = next(c.value for c in at.code if "logs -f" in c.value)
    assert f"-f {copy}/compose.yaml -f {copy}/compose.bind.yaml logs -f" in hint, hint
    stop = next(c.value for c in at.code if "down --remove-orphans -v" in c.value)
    assert "docker volume rm" in stop, stop  # the sweep the button runs is shown

    at = _up(at)
    assert_clean(at)
    captions = [c.value for c in at.caption]
    assert "Look inside the folder yourself:" in captions, captions
    assert "Look inside the volume yourself:" not in captions

    at = _down(at)
    assert_clean(at)
    assert _volumes(docker_client, project) == []  # `down -v` as the button says
    said = " ".join(s.value for s in at.success)
    assert f"{project}_shared" in said and "host folder" in said, said
    assert (copy / "shared" / "model_pipeline.joblib").exists()  # Docker never deletes a folder
