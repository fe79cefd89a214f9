"""BuildKit behind the dashboard's builds, on every engine of the matrix (tests/engines.py).

Where `docker buildx version` answers (Engine 26 with buildx) the dashboard builds with BuildKit
and shares its cache with the command the page shows; where it does not (the host's 20.10) it
falls back to the classic builder and says why. Each test asserts what must hold on the engine
it runs on, so none of them is a skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import docker
import pytest

from dashboard.engine.catalog import labs
from dashboard.engine.ops import builds
from dashboard.engine.ops.build_stream import StepOutput

pytestmark = [pytest.mark.docker, pytest.mark.engines]
BASE = "python:3.11-slim"


@pytest.fixture
def uid(session_id) -> str:
    return f"{session_id}-bk-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def made(docker_client):
    """Tags and image ids a test created, removed at the end."""
    refs: list[str] = []
    yield refs
    for ref in reversed(refs):
        with contextlib.suppress(docker.errors.APIError):
            docker_client.images.remove(ref, force=True)


@pytest.fixture
def fresh_builders():
    builds.forget_builders()
    yield
    builds.forget_builders()


def iris_copy(tmp_path: Path, uid: str) -> Path:
    """The iris lab with one extra step of its own, so its first build cannot be a cache hit."""
    folder = tmp_path / "iris"
    shutil.copytree(labs.LABS["iris"].path, folder)
    with (folder / "Dockerfile").open("a") as f:
        f.write(f"RUN echo {uid} > /stamp\n")
    return folder


def typed(command: str, *extra: str) -> subprocess.CompletedProcess:
    """The page's command as a student types it (from the repository root), plus `extra`."""
    words = command.split()
    argv = [*words[:2], *extra, *words[2:]]
    return subprocess.run(
        argv, cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=600
    )


def test_the_builder_is_buildkit_where_buildx_answers_else_classic_with_why(
    docker_client, expected_builder, fresh_builders
):
    builder = builds.choose_builder(docker_client)
    assert builder.kind == expected_builder, builder.reason
    if expected_builder == "buildkit":
        assert builder.reason.startswith("BuildKit (docker buildx ")
    else:
        assert builder.reason == f"classic builder: {builds.NO_BUILDX}"
    assert builds.choose_builder(docker_client) is builder  # detected once, then kept


def test_a_dashboard_build_then_the_pages_command_is_fully_cached(
    docker_client, tmp_path, uid, made, expected_builder
):
    folder = iris_copy(tmp_path, uid)
    tag = f"test-bk-{uid}:1"
    made.append(tag)
    first = builds.build(docker_client, folder, tag=tag, lab_name="test-bk")
    assert first.ok, first.error
    assert first.builder == expected_builder
    assert first.command.startswith("docker build ") and f"-t {tag}" in first.command
    if expected_builder == "classic":
        # The CLI would use BuildKit's cache where buildx is installed; here it cannot be asked.
        assert first.argv == [] and builds.NO_BUILDX in first.builder_reason
        return
    assert first.argv[:3][1:] == ["buildx", "build"] and "--progress=rawjson" in first.argv
    assert any(w.startswith("io.dockerml.dashboard.managed=") for w in first.argv)
    assert docker_client.images.get(tag).labels["io.dockerml.dashboard.lab"] == "test-bk"
    done = typed(first.command, "--progress=plain")
    assert done.returncode == 0, done.stderr[-2000:]
    for step in first.real_steps[1:]:  # every step but FROM: "#N [k/6] ...", then "#N CACHED"
        name = f"[{step.index}/{step.total}] {step.instruction}"
        assert name in done.stderr, (name, done.stderr[-3000:])
    names = [line for line in done.stderr.splitlines() if "] " in line and line.startswith("#")]
    ids = {line.split()[0] for line in names if "/6] " in line and "FROM" not in line}
    cached = {line.split()[0] for line in done.stderr.splitlines() if line.endswith(" CACHED")}
    assert len(ids) == 5 and ids <= cached, done.stderr[-3000:]


def test_the_pages_command_then_a_dashboard_build_is_fully_cached(
    docker_client, tmp_path, uid, made, expected_builder
):
    folder = iris_copy(tmp_path, uid)
    tag = f"test-bk-{uid}:2"
    made.append(tag)
    command = builds.build_command(folder, "Dockerfile", tag, network="host", nocache=False)
    done = typed(command)
    if expected_builder == "classic":
        # Docker 28's CLI without buildx: `docker build` is the legacy builder, the same as ours.
        assert done.returncode == 0, done.stderr[-2000:]
    else:
        assert done.returncode == 0, done.stderr[-2000:]
    second = builds.build(docker_client, folder, tag=tag, lab_name="test-bk")
    assert second.ok, second.error
    assert second.builder == expected_builder
    assert second.steps_cached == second.steps_total, [
        (s.index, s.instruction, s.status) for s in second.real_steps
    ]


def _sleepers(marker: str) -> list[str]:
    done = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True)
    return [line for line in done.stdout.splitlines() if "pgrep" not in line]


def test_cancel_stops_the_running_step_and_the_tag_keeps_its_image(
    docker_client, tmp_path, uid, made, expected_builder
):
    tag = f"test-bk-cancel-{uid}:1"
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo kept-{uid} > /kept\n")
    good = builds.build(docker_client, tmp_path, tag=tag, lab_name="test-bk")
    assert good.ok, good.error
    made.extend([tag, good.image_id])

    marker = f"tick-{uuid.uuid4().hex[:8]}"
    (tmp_path / "Dockerfile").write_text(
        f"FROM {BASE}\nRUN echo kept-{uid} > /kept\n"
        f"RUN for i in $(seq 1 120); do echo {marker} $i; sleep 1; done\n"
    )
    cancel = threading.Event()
    seen: list[str] = []

    def on_event(event) -> None:
        if isinstance(event, StepOutput) and marker in event.line:
            seen.append(event.line)
            if len(seen) == 2:
                cancel.set()

    started = time.monotonic()
    result = builds.build(
        docker_client, tmp_path, tag=tag, lab_name="test-bk", cancel=cancel, on_event=on_event
    )
    took = time.monotonic() - started
    assert result.canceled and not result.ok, result.error
    assert result.builder == expected_builder
    assert took < 60, took
    assert result.error.startswith("Canceled: the build was stopped")
    assert result.failed_step is not None and result.failed_step.status == "canceled"
    assert result.failed_step.instruction.startswith("RUN for i in")
    deadline = time.monotonic() + 20
    while _sleepers(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _sleepers(marker) == []  # the step is not running on in the daemon
    assert docker_client.images.get(tag).id == good.image_id


def test_the_cache_miss_reasons_on_a_real_rebuild(docker_client, tmp_path, uid, made):
    """Content, not mtime; an edited file; a changed build arg: each named, on either builder."""
    (tmp_path / "data.txt").write_text("one\n")
    (tmp_path / "notes.txt").write_text("unchanged\n")
    (tmp_path / "Dockerfile").write_text(
        f"FROM {BASE}\nRUN echo {uid} > /stamp\nCOPY notes.txt /n/\nARG FLAVOR=plain\n"
        "RUN echo $FLAVOR > /flavor\nCOPY data.txt /d/\n"
    )
    tag = f"test-bk-why-{uid}:1"
    made.append(tag)
    kw = dict(tag=tag, lab_name="test-bk")
    assert builds.build(docker_client, tmp_path, buildargs={"FLAVOR": "a"}, **kw).ok

    os.utime(tmp_path / "notes.txt", (time.time() + 100, time.time() + 100))  # mtime only
    (tmp_path / "data.txt").write_text("two\n")
    edited = builds.build(docker_client, tmp_path, buildargs={"FLAVOR": "a"}, **kw)
    assert edited.ok, edited.error
    (miss,) = edited.cache_misses
    assert miss.instruction == "COPY data.txt /d/" and miss.changed_files == ["data.txt"]
    notes = next(s for s in edited.real_steps if s.instruction == "COPY notes.txt /n/")
    assert notes.status == "cached"  # touching a file changes nothing

    flavored = builds.build(docker_client, tmp_path, buildargs={"FLAVOR": "b"}, **kw)
    assert flavored.ok, flavored.error
    first = flavored.cache_misses[0]
    # BuildKit names the step with the value filled in, the classic builder as written
    assert first.instruction in ("RUN echo b > /flavor", "RUN echo $FLAVOR > /flavor")
    assert first.reason == "build args changed since the last build: FLAVOR=a -> b"
    after = next(s for s in flavored.real_steps if s.instruction == "COPY data.txt /d/")
    assert after.status == "executed" and after.miss_reason.startswith("step ")


# A plugin the CLI accepts (it answers the metadata call) but that fails when asked anything.
BROKEN = """#!/bin/sh
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion": "0.1.0", "Vendor": "test", "Version": "v0.0.0"}'
  exit 0
fi
echo 'buildx: segmentation fault' >&2
exit 2
"""


def _config_with(tmp_path: Path, plugin: str | None) -> Path:
    config = tmp_path / "docker-config"
    (config / "cli-plugins").mkdir(parents=True)
    if plugin is not None:
        script = config / "cli-plugins" / "docker-buildx"
        script.write_text(plugin)
        script.chmod(0o755)
    return config


@pytest.mark.parametrize(
    ("plugin", "said"),
    [
        (None, f"classic builder: {builds.NO_BUILDX}"),
        (BROKEN, "classic builder: the buildx plugin is broken (docker buildx version: "),
    ],
    ids=["missing", "broken"],
)
def test_without_a_working_buildx_the_classic_builder_builds_and_says_why(
    docker_client, tmp_path, uid, made, monkeypatch, fresh_builders, plugin, said
):
    monkeypatch.setenv("DOCKER_CONFIG", str(_config_with(tmp_path, plugin)))
    folder = tmp_path / "ctx"
    folder.mkdir()
    (folder / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo {uid} > /f\n")
    tag = f"test-bk-fallback-{uid}:1"
    made.append(tag)
    result = builds.build(docker_client, folder, tag=tag, lab_name="test-bk")
    assert result.ok, result.error
    assert result.builder == "classic" and result.argv == []
    assert result.builder_reason.startswith(said), result.builder_reason
    assert docker_client.images.get(tag).labels["io.dockerml.dashboard.managed"] == "true"
