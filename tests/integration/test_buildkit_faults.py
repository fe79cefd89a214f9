"""Faults of the daemon during a BuildKit build, on a private Engine 26 (tests/fault_daemon.py).

The same faults as test_safety_daemon.py, on the BuildKit path: the dashboard runs `docker
buildx build` against a private Engine 26 dockerd in its own network namespace (the matrix's
DOCKER_CONFIG gives the CLI its buildx plugin). The daemon is killed while a RUN step is
running, and its data root is a small tmpfs that a RUN fills up. Either way the build ends in
`BuildFinished(ok=False)` with the engine's sentence, never a traceback.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import docker
import pytest

from dashboard.engine.base.connection import connect
from dashboard.engine.offline import offline
from dashboard.engine.ops import builds
from dashboard.engine.ops.build_stream import StepOutput
from dashboard.engine.ops.builds import BuildFinished
from tests import engines, fault_daemon

pytestmark = pytest.mark.docker

BASE = offline.BASE_IMAGE
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DISK_MB = 640  # the base image takes ~185 MB of it, BuildKit's own state a little more
SLOW_RUN = "RUN trap 'exit 1' TERM; echo started; sleep 30 & wait"


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def e26(docker_client):
    """A private Engine 26 on a small tmpfs, with the base image and the wheelhouse."""
    reason = fault_daemon.unavailable_reason(dockerd=None)
    if reason:
        _unavailable(reason)
    try:
        dockerd = str(engines.fetch_packages() / "usr/sbin/dockerd")
        config = engines.prepare_docker_config()
    except Exception as exc:  # no mirror, no apt: say why rather than a traceback
        _unavailable(f"Engine 26's packages could not be fetched: {exc}")
    daemon = fault_daemon.FaultDaemon(disk_mb=DISK_MB, dockerd=dockerd)
    daemon.docker_config = config
    try:
        daemon.start()
        daemon.load_image(docker_client, BASE)
        yield daemon
    finally:
        daemon.close()


@pytest.fixture
def on_e26(e26, monkeypatch):
    """DOCKER_HOST and DOCKER_CONFIG at the private daemon (running), and a client for it."""
    e26.start()
    monkeypatch.setenv("DOCKER_HOST", e26.host)
    monkeypatch.setenv("DOCKER_CONFIG", str(e26.docker_config))
    builds.forget_builders()
    client = connect()
    assert builds.choose_builder(client).kind == "buildkit", builds.choose_builder(client)
    yield client
    client.close()
    builds.forget_builders()


def context(tmp_path: Path, *lines: str) -> Path:
    (tmp_path / "Dockerfile").write_text("\n".join([f"FROM {BASE}", *lines]) + "\n")
    return tmp_path


def test_daemon_killed_mid_buildkit_build_ends_with_the_lost_connection_sentence(
    e26, on_e26, tmp_path
):
    folder = context(tmp_path, SLOW_RUN)
    events = []
    started = time.monotonic()
    # Iterating to the end is the point: anything raised here would be a traceback on a page.
    for event in builds.stream_build(on_e26, folder, tag="bk-midbuild:1", lab_name="s"):
        events.append(event)
        if isinstance(event, StepOutput) and event.line == "started":
            e26.kill()
    took = time.monotonic() - started
    final = events[-1]
    assert isinstance(final, BuildFinished)
    result = final.result
    print(f"\nBuildKit, daemon killed: {result.error} ({took:.1f} s)")
    assert result.builder == "buildkit" and not result.ok and result.image_id is None
    assert not result.canceled
    assert result.error.startswith("Lost the connection to the Docker daemon during the build")
    assert "Start Docker again" in result.error
    assert result.failed_step is not None and result.failed_step.instruction == SLOW_RUN
    assert result.failed_step.status == "failed"
    assert took < 30, took

    e26.start()
    client = connect()
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("bk-midbuild:1")
    again = builds.build(client, context(tmp_path, "RUN echo again > /a"), tag="bk-again:1")
    assert again.ok and again.builder == "buildkit", again.error


def test_disk_full_during_a_buildkit_build_names_the_disk_and_its_fix(e26, on_e26, tmp_path):
    free = e26.disk_free_bytes()
    big = free // (1 << 20) + 50  # more than is left
    folder = context(tmp_path, f"RUN head -c {big}m /dev/zero > /big")
    result = builds.build(on_e26, folder, tag="bk-full:1", lab_name="s")
    print(f"\nBuildKit, disk full: {result.error}")
    assert result.builder == "buildkit" and not result.ok
    assert result.error.startswith("The Docker disk is full:")
    assert "no space left on device" in result.error.lower()
    assert "python -m dashboard reset" in result.error and "docker system df" in result.error
    assert result.failed_step is not None and f"head -c {big}m" in result.failed_step.instruction
    assert result.failed_step.status == "failed"
    with pytest.raises(docker.errors.ImageNotFound):
        on_e26.images.get("bk-full:1")
