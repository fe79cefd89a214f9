"""Lesson 1 driven through the page: build iris-model:1.0, run it, manage its containers.

The build of iris-model:1.0 reuses the lab tag other tests use; its steps come from the cache
when they already built it, and the image content stays the same either way.
"""

from __future__ import annotations

import pytest

from dashboard.engine.catalog import labs
from dashboard.engine.offline.offline import BASE_IMAGE as BASE
from dashboard.engine.progress.history import EXEC, History
from dashboard.engine.progress.history import default_path as history_path
from dashboard.ui import theme
from tests.app.helpers import (
    assert_clean,
    metrics,
    new_app,
    open_page,
    start_detached,
    succeeded,
    unpacked_layers,
    wait_for,
)
from tests.lab_images import iris_image

pytestmark = pytest.mark.docker

IRIS = labs.get("iris")


def build_done(at) -> bool:
    return "Image size" in metrics(at) and "Build time" in metrics(at)


def test_build_button_streams_then_shows_steps_and_size(docker_client, app, expected_builder):
    at = open_page(app, "lesson1.py")
    at.button(key="build-iris").click().run()
    assert_clean(at)
    wait_for(at, build_done, timeout=600, what="the iris build to finish")
    assert_clean(at)

    shown = metrics(at)
    image = docker_client.images.get(IRIS.image)
    assert shown["Image size"] == theme.fmt_bytes(unpacked_layers(docker_client, IRIS.image))
    cached, total = (int(x) for x in shown["Steps from cache"].split(" / "))
    # BuildKit counts [1/5] to [5/5], as the lecture does (ENV and CMD are no steps); the classic
    # builder FROM, WORKDIR, ENV, COPY, RUN, COPY, CMD (not our LABEL steps).
    expected_total = 5 if expected_builder == "buildkit" else 7
    assert total == expected_total
    assert 0 <= cached <= total

    steps = at.dataframe[0].value
    assert list(steps["Step"]) == [f"{i}/{total}" for i in range(1, total + 1)]
    # BuildKit on the containerd store names the base by digest: FROM docker.io/library/...@sha256
    assert steps["Instruction"][0].startswith("FROM ") and BASE in steps["Instruction"][0]
    assert set(steps["Result"]) <= {"base image", "from cache", "executed"}
    assert steps["Result"][0] == "base image"
    assert sum(steps["Result"] == "from cache") == cached - 1  # FROM counts as cached
    # The command the button stands for, as the build ran it.
    assert any(c.value.startswith("docker build") and IRIS.image in c.value for c in at.code)
    success = " ".join(s.value for s in at.success)
    assert f"`{IRIS.image}`" in success and image.short_id.split(":")[1] in success

    # Another browser session sees the same job (one registry per process), without clicking.
    other = open_page(new_app(), "lesson1.py")
    assert_clean(other)
    assert metrics(other)["Steps from cache"] == shown["Steps from cache"]


def test_run_shows_report_accuracy_and_class_then_remove(docker_client, app, new_containers):
    at = open_page(app, "lesson1.py")
    at.button(key="run-iris").click().run()
    wait_for(at, lambda a: "Predicted class" in metrics(a), timeout=180, what="the iris run")
    assert_clean(at)
    shown = metrics(at)
    assert shown["Accuracy"] == "1.00"
    assert shown["Predicted class"] == "setosa"
    assert shown["Exit code"] == "0"
    report = next(d.value for d in at.dataframe if "precision" in d.value.columns)
    assert list(report["class"]) == [
        "setosa",
        "versicolor",
        "virginica",
        "macro avg",
        "weighted avg",
    ]
    made = new_containers()
    assert len(made) == 1
    container = made[0]
    assert container.status == "exited" and container.attrs["State"]["ExitCode"] == 0

    # docker ps -a on the page lists it; remove it with the button.
    ps = next(d.value for d in at.dataframe if "exit code" in d.value.columns)
    row = ps[ps["name"] == container.name]
    assert list(row["status"]) == ["exited"] and list(row["exit code"]) == ["0"]
    at.selectbox(key="iris-container").set_value(container.name).run()
    at.button(key="remove-container").click().run()
    wait_for(
        at,
        lambda a: any(f"{container.name} removed" in s.value for s in a.success),
        timeout=60,
        what="the container to be removed",
    )
    assert new_containers() == []
    assert any(c.value == f"docker rm {container.name}" for c in at.code)


def test_detached_container_exec_then_stop(docker_client, app, new_containers, session_id):
    name = f"iris-shell-{session_id}"
    at = open_page(app, "lesson1.py")
    at.text_input(key="detach-name").input(name).run()
    command = f"docker run -d -it --name {name} {IRIS.image} /bin/bash"
    assert any(c.value == command for c in at.code)
    at.button(key="start-detached").click().run()
    wait_for(
        at,
        lambda a: any(f"Container {name} is running" in s.value for s in a.success),
        timeout=60,
        what="the detached container",
    )
    assert docker_client.containers.get(name).status == "running"

    at.selectbox(key="exec-container").set_value(name).run()
    at.button(key="run-exec").click().run()
    wait_for(at, lambda a: "Predicted class" in metrics(a), timeout=120, what="docker exec")
    assert_clean(at)
    assert metrics(at)["Predicted class"] == "setosa"
    assert any(c.value == f"docker exec {name} python main.py" for c in at.code)
    with History.open(history_path()) as history:  # the page's exec is kept, as an exec
        (kept,) = history.runs("iris", kind=EXEC)
    assert (kept.container_name, kept.command, kept.exit_code) == (name, "python main.py", 0)
    assert kept.image == IRIS.image and kept.accuracy == 1.0

    at.selectbox(key="iris-container").set_value(name).run()
    at.button(key="stop-container").click().run()
    wait_for(
        at,
        lambda a: any(f"{name} stopped" in s.value for s in a.success),
        timeout=60,
        what="docker stop",
    )
    container = docker_client.containers.get(name)
    assert container.status == "exited"
    assert container.attrs["State"]["ExitCode"] == 137  # bash ignores SIGTERM: killed


def test_run_by_name_shows_the_command_and_makes_that_container(
    docker_client, app, new_containers, session_id
):
    iris_image(docker_client)
    name = f"test1-{session_id}"
    at = open_page(app, "lesson1.py")
    assert any(c.value == f"docker run {IRIS.image}" for c in at.code)  # no name: Docker's own
    at.text_input(key="run-name").input("-bad name").run()
    assert any("is not a valid container name" in e.value for e in at.error)
    assert at.button(key="run-iris").disabled
    at.text_input(key="run-name").input(name).run()
    assert_clean(at)
    assert any(c.value == f"docker run --name {name} {IRIS.image}" for c in at.code)
    at.button(key="run-iris").click().run()
    wait_for(at, lambda a: "Predicted class" in metrics(a), timeout=180, what="the named run")
    assert_clean(at)
    assert [c.name for c in new_containers()] == [name]
    assert docker_client.containers.get(name).attrs["State"]["ExitCode"] == 0
    success = " ".join(s.value for s in at.success)
    assert f"container `{name}`" in success


def test_follow_logs_of_a_detached_counter_until_it_stops(
    docker_client, app, new_containers, session_id
):
    iris_image(docker_client)
    name = f"iris-count-{session_id}"
    at = open_page(app, "lesson1.py")
    at.selectbox(key="detach-preset").set_value("a counter: a line a second for 30 s").run()
    assert at.text_input(key="detach-cmd").value.startswith("sh -c 'for i in $(seq 1 30)")
    # A shorter count for the test: the student's own edit of the preset.
    start_detached(at, name, "sh -c 'for i in 1 2 3 4; do echo \"step $i of 4\"; sleep 1; done'")
    at.selectbox(key="logs-container").set_value(name).run()
    assert any(c.value == f"docker logs -f {name}" for c in at.code)
    at.button(key="follow-logs").click().run()

    def shown(a) -> str:
        return " ".join(c.value for c in a.code)

    # Lines arrive while the container runs (the page's fragment polls; AppTest reruns).
    wait_for(at, lambda a: "step 1 of 4" in shown(a), timeout=30, what="the first line")
    assert docker_client.containers.get(name).status == "running"
    wait_for(
        at,
        lambda a: succeeded(a, f"Container {name} stopped (exit code 0)"),
        timeout=60,
        what="the follow to end with the container",
    )
    assert_clean(at)
    assert all(f"step {i} of 4" in shown(at) for i in range(1, 5))
    assert docker_client.containers.get(name).status == "exited"


def test_stop_following_leaves_the_container_running(
    docker_client, app, new_containers, session_id
):
    iris_image(docker_client)
    name = f"iris-tick-{session_id}"
    at = open_page(app, "lesson1.py")
    start_detached(at, name, "sh -c 'while true; do echo tick; sleep 0.5; done'")
    at.selectbox(key="logs-container").set_value(name).run()
    at.button(key="follow-logs").click().run()
    wait_for(
        at,
        lambda a: any("tick" in c.value for c in a.code) and bool(a.button),
        timeout=30,
        what="the first tick",
    )
    stop = next(b for b in at.button if b.label == "Stop following")
    stop.click().run()
    wait_for(
        at,
        lambda a: any("You stopped following" in i.value for i in a.info),
        timeout=30,
        what="following to stop",
    )
    assert_clean(at)
    assert docker_client.containers.get(name).status == "running"
