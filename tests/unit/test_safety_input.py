"""Safety rules that need no daemon: input checked before any call, one ownership rule, messages.

The "client" here is a real docker-py client pointed at a socket that does not exist: any call it
made would fail with a connection error, so an `InvalidInput` proves nothing was sent.
"""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from dashboard.engine.base import labels
from dashboard.engine.base.validation import InvalidInput
from dashboard.engine.ops import builds, cleanup, runs

BASE = "python:3.11-slim"


@pytest.fixture
def dead_client(tmp_path):
    # A named API version (the SDK's default), not "auto": constructing the client then contacts
    # nothing. No daemon ever answers it, so no version is ever negotiated or refused.
    client = docker.DockerClient(
        base_url=f"unix://{tmp_path}/missing.sock",
        version=docker.constants.DEFAULT_DOCKER_API_VERSION,
    )
    yield client
    client.close()


def test_the_dead_client_really_cannot_reach_a_daemon(dead_client):
    with pytest.raises(runs.DaemonLost, match="Lost the connection to the Docker daemon"):
        runs.run_container(dead_client, BASE, lab="iris", command="true")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"image": "Iris-Model:1.0"},  # uppercase
        {"image": "iris model"},
        {"image": "iris-model:bad tag"},
        {"image": ""},
        {"name": "bad name!"},
        {"name": "-starts-with-dash"},
        {"name": "x"},  # one character
        {"command": "echo 'unclosed"},
        {"command": ["echo", 3]},
        {"mem_limit": "lots"},
        {"mem_limit": "64m; rm -rf /"},
        {"mem_limit": -1},
        {"environment": {"A=B": "c"}},
        {"device_requests": [{"Driver": "", "Count": -1, "Capabilities": [["compute"]]}]},
    ],
)
def test_run_container_refuses_bad_input_before_any_call(dead_client, kwargs):
    args = {"image": BASE, "lab": "iris", "command": "true", **kwargs}
    image = args.pop("image")
    with pytest.raises(InvalidInput):
        runs.run_container(dead_client, image, **args)


def test_start_detached_refuses_bad_input_before_any_call(dead_client):
    with pytest.raises(InvalidInput, match="container name"):
        runs.start_detached(dead_client, BASE, lab="iris", name="no spaces allowed")
    with pytest.raises(InvalidInput, match="image reference"):
        runs.start_detached(dead_client, "UPPER:1", lab="iris")


def test_build_refuses_an_invalid_tag_before_any_call(dead_client, tmp_path: Path):
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE}\n")
    for tag in ("Iris:1.0", "iris:-bad", "iris@sha256:abc", "a" * 300):
        with pytest.raises(InvalidInput):
            builds.build(dead_client, tmp_path, tag=tag)


def test_a_build_without_a_daemon_is_a_result_not_an_exception(dead_client, tmp_path: Path):
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE}\n")
    result = builds.build(dead_client, tmp_path, tag="iris-safety:ok")
    assert not result.ok
    assert result.error.startswith("Cannot reach the Docker daemon")


def test_options_outside_the_allowlist_never_reach_the_daemon(dead_client):
    # The public functions take no **kwargs at all ...
    with pytest.raises(TypeError):
        runs.run_container(dead_client, BASE, lab="iris", privileged=True)
    with pytest.raises(TypeError):
        runs.start_detached(dead_client, BASE, lab="iris", volumes={"/": {"bind": "/host"}})
    # ... and the one place that calls containers.create refuses anything not listed.
    for option in ("privileged", "volumes", "pid_mode", "network_mode", "cap_add", "devices"):
        assert option not in runs.ALLOWED_CREATE_OPTIONS
        with pytest.raises(InvalidInput, match=option):
            runs._create(dead_client, BASE, "iris", **{option: True})


def test_a_string_command_becomes_argv_not_a_shell_line():
    name, argv = runs.check_run_inputs(BASE, command="echo $HOME; rm -rf / && `id`")
    assert name is None
    assert argv == ["echo", "$HOME;", "rm", "-rf", "/", "&&", "`id`"]
    assert runs.check_run_inputs(BASE, name="/lab-1", command=None) == ("lab-1", None)


def test_user_text_is_only_ever_a_label_value():
    lab = "x=y,io.dockerml.dashboard.managed=false evil.key=1"
    made = labels.for_lab(lab, "s1")
    assert set(made) == {labels.MANAGED, labels.LAB, labels.SESSION}
    assert made[labels.LAB] == lab and made[labels.MANAGED] == "true"


def test_a_container_is_ours_with_our_labels_and_a_session_it_did_not_inherit():
    ours = labels.for_lab("iris", "s1")
    lab_image = labels.for_image("iris")
    cases = [
        (ours, lab_image, True),
        (ours, None, True),
        (dict(lab_image), lab_image, False),  # `docker run iris-model:1.0` from a terminal
        (dict(ours), dict(ours), False),  # the session came from the image
        ({labels.SESSION: "s1"}, {}, False),
        ({}, {}, False),
        (None, None, False),
    ]
    for container, image, expected in cases:
        assert labels.container_is_ours(container, image) is expected, (container, image)


def test_an_image_built_from_ours_is_not_ours():
    ours = labels.for_image("iris")
    our_last = "/bin/sh -c #(nop)  LABEL io.dockerml.dashboard.managed=true"
    assert labels.image_is_ours(ours, our_last)
    assert labels.image_is_ours(ours, None)  # BuildKit / Compose: no parent, no LABEL step
    assert not labels.image_is_ours(ours, '/bin/sh -c #(nop)  CMD ["python" "serve.py"]')
    assert not labels.image_is_ours(ours, "/bin/sh -c #(nop)  LABEL maintainer=student")
    assert not labels.image_is_ours({labels.STANDIN: "true"}, None)


def test_a_full_disk_is_named_with_its_fix():
    tail = ["Collecting numpy", "head: error writing 'standard output': No space left on device"]
    error = "The command '/bin/sh -c head -c 1G /dev/zero > /big' returned a non-zero code: 1"
    text = builds.explain_error(error, tail)
    assert text.startswith("The Docker disk is full: head: error writing")
    assert "python -m dashboard reset" in text and "docker system df" in text
    daemon = "failed to register layer: write /var/lib/docker/x: no space left on device"
    assert builds.explain_error(daemon).startswith("The Docker disk is full: failed to register")
    assert builds.explain_error(error, ["ok"]) == error
    assert builds.explain_error(None) is None


def _result(status, exit_code=0, **extra):
    base = dict(
        container_id="c" * 64,
        name="n",
        image=BASE,
        lab="iris",
        status=status,
        exit_code=exit_code,
        started_at=None,
        finished_at=None,
        duration_s=3.0,
        lines=(),
        lines_total=0,
        truncated=False,
        cli="",
    )
    return runs.RunResult(**{**base, **extra})


def test_run_messages_say_what_happened():
    timed = _result("timed_out", 137, timeout_s=120.0, grace_s=5, duration_s=125.2)
    assert timed.message.startswith("Timed out after 120 s")
    assert "SIGTERM" in timed.message and "5 s later, SIGKILL" in timed.message
    assert _result("oom_killed", 137, oom_killed=True).message.startswith("Out of memory")
    killed = _result("killed", 137).message
    assert killed.startswith("Killed") and "not report it as out of memory" in killed
    assert _result("exited", 0).message == "Finished (exit code 0) in 3 s."
    assert _result("exited", 2).message == "Failed with exit code 2 after 3 s."
    assert _result("stopped", 143).message == "Stopped by you after 3 s."


def test_an_inventory_can_be_cut_to_one_session():
    def obj(kind, session):
        return cleanup.OwnedObject(kind, f"{kind}-{session}", kind, labels.for_lab("x", session))

    inv = cleanup.Inventory(
        containers=(obj("container", "a"), obj("container", "b")),
        volumes=(obj("volume", "a"),),
        networks=(obj("network", "b"),),
    )
    assert inv.sessions == {"a", "b"}
    only = inv.only_session("a")
    assert [o.id for o in only.all] == ["container-a", "volume-a"]
