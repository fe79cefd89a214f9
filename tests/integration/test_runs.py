"""Running lab containers on the real daemon: output, deadlines, tails, failures, ownership.

Every container a test makes has a name starting with `runs-<session>-` and the session's
labels; the module fixture removes them all at the end and checks none is left.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid

import docker
import pytest

from dashboard.engine.base import labels
from dashboard.engine.base.paths import labs_dir
from dashboard.engine.catalog.lab_output import ReportRow, parse_lab_output
from dashboard.engine.offline import offline
from dashboard.engine.ops import runs

pytestmark = pytest.mark.docker

BASE = "python:3.11-slim"
IRIS = "iris-model:1.0"


@pytest.fixture(scope="module")
def prefix(session_id):
    return f"runs-{session_id}-{uuid.uuid4().hex[:4]}"


@pytest.fixture(scope="module")
def made(docker_client, prefix):
    """Container ids (ours or not) this module created; all removed at the end."""
    ids: list[str] = []
    yield ids
    for container_id in ids:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(container_id).remove(force=True)
    left = docker_client.containers.list(all=True, filters={"name": prefix})
    assert left == [], f"left behind: {[c.name for c in left]}"


@pytest.fixture(scope="module")
def iris_image(docker_client, prefix):
    """iris-model:1.0 when another run built it; otherwise labs/iris under a tag of our own."""
    try:
        docker_client.images.get(IRIS)
        yield IRIS
        return
    except docker.errors.ImageNotFound:
        pass
    tag = f"{prefix}-iris:test"
    events = list(
        docker_client.api.build(
            path=str(labs_dir() / "iris"),
            tag=tag,
            decode=True,
            rm=True,
            forcerm=True,
            network_mode=offline.build_network(client=docker_client),
            labels=labels.for_image("iris"),
        )
    )
    errors = [e["error"] for e in events if "error" in e]
    assert not errors, errors
    yield tag
    # `made` goes after this fixture (set up first, torn down last): this module's containers of
    # the image go now, or the image cannot be removed.
    mine = {"ancestor": tag, "name": prefix}
    for container in docker_client.containers.list(all=True, filters=mine):
        container.remove(force=True)
    docker_client.images.remove(tag)


@pytest.fixture
def name(prefix, made):
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def run(docker_client, made, image, **kwargs):
    """run_container that remembers what it made, even when the test fails afterwards."""
    result = runs.run_container(docker_client, image, **kwargs)
    made.append(result.container_id)
    return result


def test_iris_run_reports_the_model(docker_client, made, iris_image, name, session_id):
    seen: list[runs.RunLine] = []
    result = run(docker_client, made, iris_image, lab="iris", name=name, on_line=seen.append)

    assert (result.status, result.exit_code, result.ok) == ("exited", 0, True)
    assert result.name == name
    assert result.cli == f"docker run --name {name} {iris_image}"
    assert [line.text for line in seen] == list(result.lines)
    assert [line.number for line in seen] == list(range(1, len(seen) + 1))
    assert result.lines_total == len(result.lines) and not result.truncated
    assert result.started_at <= result.finished_at
    assert 0 < result.duration_s < 60

    out = parse_lab_output(result.lines)
    assert out.report.accuracy == 1.0
    assert out.accuracy == 1.0
    assert out.report.row("setosa") == ReportRow("setosa", 1.0, 1.0, 1.0, 10)
    assert out.predicted_class == "setosa"

    # Kept, like `docker run` without --rm, with our labels and a capped log.
    attrs = docker_client.api.inspect_container(result.container_id)
    assert attrs["State"]["Status"] == "exited"
    assert attrs["Config"]["Labels"][labels.MANAGED] == "true"
    assert attrs["Config"]["Labels"][labels.LAB] == "iris"
    assert attrs["Config"]["Labels"][labels.SESSION] == session_id
    assert attrs["HostConfig"]["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-size": "1m", "max-file": "2"},
    }
    listed = {r.id: r for r in runs.list_lab_containers(docker_client, "iris", session_id)}
    record = listed[result.container_id]
    assert (record.name, record.status, record.exit_code) == (name, "exited", 0)
    assert record.image == iris_image


def test_a_container_that_never_exits_is_stopped_at_the_deadline(docker_client, made, name):
    started = time.monotonic()
    result = run(
        docker_client, made, BASE, lab="iris", name=name, command="sleep 600", timeout=3, grace=1
    )
    took = time.monotonic() - started

    assert result.status == "timed_out"
    assert result.exit_code == 137  # `sleep` as PID 1 ignores SIGTERM: SIGKILL after the grace
    assert 3 <= took < 10, took
    assert 3 <= result.duration_s < 6
    state = docker_client.api.inspect_container(result.container_id)["State"]
    assert state["Running"] is False


def test_output_before_the_deadline_is_kept(docker_client, made, name):
    script = (
        "import time\nfor i in range(600):\n    print('tick', i, flush=True)\n    time.sleep(0.5)"
    )
    result = run(
        docker_client,
        made,
        BASE,
        lab="iris",
        name=name,
        command=["python", "-c", script],
        timeout=2,
        grace=1,
    )
    assert result.status == "timed_out"
    # Python as PID 1 ignores SIGTERM, so it ticks on through the 1 s grace: ~2.5 + 2 lines.
    assert result.lines == tuple(f"tick {i}" for i in range(result.lines_total))
    assert 4 <= result.lines_total <= 8


def test_fast_output_keeps_a_bounded_tail(docker_client, made, name):
    seen = []
    result = run(
        docker_client,
        made,
        BASE,
        lab="iris",
        name=name,
        command=["python", "-c", "for i in range(20000): print('line', i)"],
        tail_lines=500,
        on_line=lambda line: seen.append(line.number),
        timeout=60,
    )
    assert result.ok
    assert result.lines_total == 20000
    assert len(result.lines) == 500 and result.truncated
    assert result.lines[0] == "line 19500" and result.lines[-1] == "line 19999"
    assert seen == list(range(1, 20001))  # every line reached the callback, none lost


def test_partial_lines_stderr_and_colours(docker_client, made, name):
    script = "printf 'abc'; sleep 0.3; printf 'def\\n'; printf '\\033[31mred\\033[0m\\n'; "
    script += "echo oops >&2; printf 'no newline'; exit 3"
    seen: list[runs.RunLine] = []
    result = run(
        docker_client,
        made,
        BASE,
        lab="iris",
        name=name,
        command=["sh", "-c", script],
        on_line=seen.append,
    )
    assert (result.status, result.exit_code, result.ok) == ("exited", 3, False)
    # stdout and stderr are two pipes: their relative order is not fixed, each one's is.
    assert [x.text for x in seen if x.stream == "stdout"] == ["abcdef", "red", "no newline"]
    assert [x.text for x in seen if x.stream == "stderr"] == ["oops"]
    assert sorted(result.lines) == sorted(x.text for x in seen)


def test_out_of_memory_is_reported(docker_client, made, name):
    result = run(
        docker_client,
        made,
        BASE,
        lab="iris",
        name=name,
        command=["python", "-c", "x = bytearray(300 * 2**20)"],
        mem_limit="64m",
        timeout=30,
    )
    assert (result.status, result.exit_code, result.oom_killed) == ("oom_killed", 137, True)


def test_cancel_stops_the_run(docker_client, made, name):
    cancel = threading.Event()
    started = time.monotonic()
    result = run(
        docker_client,
        made,
        BASE,
        lab="iris",
        name=name,
        command=["sh", "-c", "echo ready; sleep 600"],
        on_line=lambda line: cancel.set(),
        cancel=cancel,
        grace=1,
        timeout=60,
    )
    assert result.status == "stopped"
    assert result.lines == ("ready",)
    assert time.monotonic() - started < 8


def test_a_failing_callback_does_not_leave_the_container_running(docker_client, made, name):
    def explode(line: runs.RunLine) -> None:
        raise ValueError(f"callback broke on {line.text!r}")

    started = time.monotonic()
    with pytest.raises(ValueError, match="'ready'"):
        runs.run_container(
            docker_client,
            BASE,
            lab="iris",
            name=name,
            command=["sh", "-c", "echo ready; sleep 600"],
            on_line=explode,
            timeout=60,
        )
    container = docker_client.containers.get(name)
    made.append(container.id)
    assert container.status == "exited"
    assert time.monotonic() - started < 10


def test_remove_true_leaves_nothing(docker_client, name):
    result = runs.run_container(
        docker_client, BASE, lab="iris", name=name, command=["true"], remove=True
    )
    assert result.ok and result.removed
    assert result.cli == f"docker run --rm --name {name} python:3.11-slim true"
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(result.container_id)


def test_failed_gpu_start_raises_and_leaves_no_container(docker_client, made, name):
    lab = f"runs-gpu-{uuid.uuid4().hex[:6]}"  # a lab label only this test uses
    gpu = docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])
    with pytest.raises(runs.RunFailed) as caught:
        runs.run_container(
            docker_client, BASE, lab=lab, name=name, command="true", device_requests=[gpu]
        )
    failure = caught.value
    assert "could not select device driver" in str(failure)
    assert "no GPU runtime" in str(failure)
    assert failure.result.status == "failed_to_start"
    assert failure.result.removed
    assert failure.result.cli.endswith(f"--gpus all {BASE} true")
    made.append(failure.result.container_id)  # only matters if the removal failed
    assert docker_client.containers.list(all=True, filters=labels.filters(lab=lab)) == []
    assert docker_client.containers.list(all=True, filters={"name": name}) == []


def test_missing_image_is_a_run_failure(docker_client, name):
    with pytest.raises(runs.RunFailed, match="no image"):
        runs.run_container(docker_client, f"{name}:nope", lab="iris", command="true")


def test_detached_container_exec_stop_remove(docker_client, made, iris_image, name, session_id):
    record = runs.start_detached(
        docker_client, iris_image, lab="iris", command="/bin/bash", name=name
    )
    made.append(record.id)
    assert record.status == "running"
    assert record.cli == f"docker run -d -it --name {name} {iris_image} /bin/bash"
    assert record.session == session_id and record.lab == "iris"
    assert docker_client.api.inspect_container(record.id)["Config"]["Tty"] is True

    done = runs.exec_in(docker_client, record.id, "python main.py")
    assert done.exit_code == 0
    assert done.cli == f"docker exec {name} python main.py"
    assert "Predicted class: setosa" in done.lines
    assert parse_lab_output(done.lines).report.row("setosa").support == 10

    failed = runs.exec_in(docker_client, name, ["python", "-c", "raise SystemExit(4)"])
    assert failed.exit_code == 4

    stopped = runs.stop_container(docker_client, name, grace=1)
    assert (stopped.already_gone, stopped.cli) == (False, f"docker stop -t 1 {name}")
    assert docker_client.api.inspect_container(record.id)["State"]["Running"] is False
    with pytest.raises(runs.RunError, match="not running"):
        runs.exec_in(docker_client, name, "true")

    removed = runs.remove_container(docker_client, record.id)
    assert (removed.already_gone, removed.cli) == (False, f"docker rm {name}")
    assert runs.remove_container(docker_client, record.id).already_gone
    assert runs.stop_container(docker_client, record.id).already_gone
    with pytest.raises(runs.ContainerNotFound):
        runs.exec_in(docker_client, record.id, "true")


def test_name_taken_by_one_of_ours(docker_client, made, name):
    first = run(docker_client, made, BASE, lab="iris", name=name, command="true")
    with pytest.raises(runs.RunFailed, match="already used"):
        runs.run_container(docker_client, BASE, lab="iris", name=name, command="true")
    assert [c.id for c in docker_client.containers.list(all=True, filters={"name": name})] == [
        first.container_id
    ]


def test_containers_not_ours_are_refused_and_left_alone(
    docker_client, made, iris_image, name, session_id
):
    # Made like a student would in a terminal: `docker run -d --name NAME iris-model:1.0 ...`.
    # It inherits the image's managed/lab labels, but has no session label.
    theirs = docker_client.containers.run(iris_image, ["sleep", "600"], name=name, detach=True)
    made.append(theirs.id)
    assert labels.is_ours(theirs.labels)  # the image's labels alone would say "ours"

    with pytest.raises(runs.NotOurs):
        runs.stop_container(docker_client, name)
    with pytest.raises(runs.NotOurs):
        runs.remove_container(docker_client, theirs.id, force=True)
    with pytest.raises(runs.NotOurs):
        runs.exec_in(docker_client, name, "true")
    with pytest.raises(runs.NotOurs):
        runs.start_detached(docker_client, iris_image, lab="iris", name=name)
    assert theirs.id not in {r.id for r in runs.list_lab_containers(docker_client, "iris")}

    theirs.reload()
    assert theirs.status == "running"
    assert (
        theirs.attrs["State"]["StartedAt"]
        == docker_client.api.inspect_container(name)["State"]["StartedAt"]
    )


def test_follow_logs_streams_while_it_runs_and_ends_with_the_exit(docker_client, made, name):
    # The lesson's detached container, with a command that prints over time (`-d -it`: a TTY).
    counter = "for i in 1 2 3 4 5; do echo line $i; sleep 0.5; done"
    record = runs.start_detached(
        docker_client, BASE, lab="iris", command=["sh", "-c", counter], name=name
    )
    made.append(record.id)
    seen: list[tuple[runs.RunLine, str]] = []

    def on_line(line: runs.RunLine) -> None:
        status = docker_client.api.inspect_container(record.id)["State"]["Status"]
        seen.append((line, status))

    follow = runs.follow_logs(docker_client, name, on_line=on_line)

    assert [line.text for line, _ in seen] == [f"line {i}" for i in range(1, 6)]
    assert seen[0][1] == "running"  # the first line arrived while the container still ran
    assert seen[-1][0].elapsed - seen[0][0].elapsed > 1.0  # one by one, as printed
    assert (follow.ended, follow.exit_code, follow.status) == (runs.FOLLOW_EXITED, 0, "exited")
    assert follow.lines_total == 5 and follow.cli == f"docker logs -f {name}"
    assert f"Container {name} stopped (exit code 0)" in follow.message


def test_stop_following_leaves_the_container_running(docker_client, made, name):
    ticker = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"
    record = runs.start_detached(
        docker_client, BASE, lab="iris", command=["sh", "-c", ticker], name=name
    )
    made.append(record.id)
    cancel = threading.Event()
    lines: list[str] = []
    outcome: list[runs.LogFollow] = []

    def on_line(line: runs.RunLine) -> None:
        lines.append(line.text)
        if len(lines) == 3:
            cancel.set()

    follower = threading.Thread(
        target=lambda: outcome.append(
            runs.follow_logs(docker_client, record.id, on_line=on_line, cancel=cancel)
        )
    )
    follower.start()
    follower.join(timeout=20)
    assert not follower.is_alive() and outcome, "following did not stop"
    (follow,) = outcome
    assert lines[:3] == ["tick 0", "tick 1", "tick 2"]
    assert (follow.ended, follow.status, follow.exit_code) == (runs.FOLLOW_STOPPED, "running", None)
    assert f"container {name} is running" in follow.message
    assert docker_client.api.inspect_container(record.id)["State"]["Running"] is True
    runs.stop_container(docker_client, record.id, grace=1)


def test_follow_logs_refuses_a_container_not_ours(docker_client, made, name):
    theirs = docker_client.containers.create(BASE, ["true"], name=name)
    made.append(theirs.id)
    with pytest.raises(runs.NotOurs):
        runs.follow_logs(docker_client, name)
