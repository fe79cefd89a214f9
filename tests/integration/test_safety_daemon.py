"""Faults of the daemon itself, injected on a disposable second daemon (tests/fault_daemon.py).

The shared daemon is never stopped. The private one is killed before a connect, in the middle
of a build and in the middle of a run's log stream, then started again; its data root is a small
tmpfs, so a build that writes more than fits meets "no space left on device" for real.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import docker
import pytest

from dashboard.engine.base import labels
from dashboard.engine.base.connection import DaemonUnavailable, connect
from dashboard.engine.offline import offline
from dashboard.engine.ops import builds, cleanup, runs
from dashboard.engine.ops.build_stream import StepOutput
from dashboard.engine.ops.builds import BuildFinished
from tests import fault_daemon

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
BASE = offline.BASE_IMAGE
DISK_MB = 640  # the base image takes ~185 MB of it
MB = 1 << 20
# A RUN / a container that stops at once on SIGTERM, so a daemon restart (which stops what
# was running) does not wait out a 10 s grace.
SLOW_RUN = "RUN trap 'exit 1' TERM; echo started; sleep 60 & wait"
TICKER = [
    "sh",
    "-c",
    "trap 'exit 0' TERM; i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done",
]


@pytest.fixture(scope="module")
def fault(docker_client):
    reason = fault_daemon.unavailable_reason()
    if reason:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason)
        pytest.skip(reason)
    daemon = fault_daemon.FaultDaemon(disk_mb=DISK_MB)
    try:
        started = time.monotonic()
        daemon.start()
        daemon.load_image(docker_client, BASE)
        daemon.serve_wheelhouse(offline.wheelhouse_dir(), offline.wheelhouse_port())
        print(f"\nfault daemon ready in {time.monotonic() - started:.1f} s at {daemon.host}")
        yield daemon
    finally:
        daemon.close()


@pytest.fixture
def on_fault(fault, monkeypatch):
    """DOCKER_HOST at the private daemon (running), and a client connected to it."""
    fault.start()
    monkeypatch.setenv("DOCKER_HOST", fault.host)
    client = connect()
    yield client
    client.close()


def context(tmp_path: Path, *lines: str) -> Path:
    (tmp_path / "Dockerfile").write_text("\n".join([f"FROM {BASE}", *lines]) + "\n")
    return tmp_path


def test_daemon_down_at_start_then_back(fault, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", fault.host)
    fault.kill()  # as after a crash: the socket file stays, nobody listens
    with pytest.raises(DaemonUnavailable) as caught:
        connect()
    down = caught.value
    assert down.reason == "refused" and down.endpoint == fault.host
    assert fault.host in down.message and "Start Docker" in down.hint

    fault.start()
    client = connect()
    result = builds.build(
        client, context(tmp_path, "RUN echo back > /back"), tag="safety-back:1", lab_name="s"
    )
    assert result.ok, result.error
    assert client.images.get("safety-back:1").id == result.image_id


def test_daemon_killed_mid_build_ends_the_stream_with_a_sentence(fault, on_fault, tmp_path):
    folder = context(tmp_path, SLOW_RUN)
    events = []
    started = time.monotonic()
    for event in builds.stream_build(on_fault, folder, tag="safety-midbuild:1", lab_name="s"):
        events.append(event)
        if isinstance(event, StepOutput) and event.line == "started":
            fault.kill()
    took = time.monotonic() - started
    final = events[-1]
    assert isinstance(final, BuildFinished)
    result = final.result
    assert not result.ok and result.image_id is None
    assert result.error.startswith("Lost the connection to the Docker daemon during the build")
    assert "Start Docker again" in result.error
    # Why, in the builder's words: the SDK's broken stream, or buildx's lost gRPC status (with
    # the matrix's DOCKER_CONFIG, buildx drives this 20.10 daemon's own BuildKit).
    if result.builder == "buildkit":  # gRPC's status for a server gone, in buildx's words
        assert "Unavailable" in result.error, result.error
    else:
        assert "(the connection broke off)" in result.error, result.error
    assert result.failed_step is not None and result.failed_step.instruction == SLOW_RUN
    assert result.failed_step.status == "failed"
    assert took < 15, took

    # Back again: a new connection builds, and the interrupted build left no tag behind.
    fault.start()
    client = connect()
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("safety-midbuild:1")
    again = builds.build(client, context(tmp_path, "RUN echo again > /a"), tag="safety-again:1")
    assert again.ok, again.error


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_daemon_stopped_mid_log_stream_gives_a_typed_end(fault, on_fault, sig):
    outcome: dict = {}

    def on_line(line: runs.RunLine) -> None:
        if line.number == 5:
            fault.kill(sig)

    def worker() -> None:
        try:
            outcome["result"] = runs.run_container(
                on_fault, BASE, lab="safety-fault", command=TICKER, timeout=60, on_line=on_line
            )
        except BaseException as exc:  # noqa: BLE001 - the test inspects whatever ends the run
            outcome["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    thread.join(timeout=45)
    took = time.monotonic() - started
    assert not thread.is_alive(), "run_container hung after the daemon went away"
    print(f"\n{sig.name}: the run ended {took:.1f} s after it started: {outcome}")
    if "error" in outcome:
        error = outcome["error"]
        assert isinstance(error, runs.DaemonLost), repr(error)
        assert str(error).startswith("Lost the connection to the Docker daemon while")
        assert "Start Docker again" in str(error) and "Connection aborted" not in str(error)
    else:  # a clean shutdown stopped the container first, and the daemon told us so
        assert sig == signal.SIGTERM
        assert outcome["result"].status in ("exited", "killed")

    fault.start()
    client = connect()
    record = runs.run_container(client, BASE, lab="safety-fault", command="echo works")
    assert record.ok and record.lines == ("works",)
    report = cleanup.reset(client, include_images=False)
    assert report.ok, report.removals


def test_disk_full_during_a_build_is_named_and_reset_frees_it(fault, on_fault, tmp_path):
    client = on_fault
    free = fault.disk_free_bytes()
    # Ours: a finished lab container that wrote all but ~60 MB of the disk into its layer.
    ballast = (free - 60 * MB) // MB
    hog = runs.run_container(
        client,
        BASE,
        lab="safety-disk",
        command=["sh", "-c", f"head -c {ballast}m /dev/zero > /ballast"],
        timeout=60,
    )
    assert hog.ok, hog.message
    # Not ours: a container and a volume made in a terminal.
    theirs = client.containers.create(BASE, ["true"], name="theirs-on-full-disk")
    client.volumes.create("theirs-on-full-disk")

    folder = context(tmp_path, "RUN head -c 120m /dev/zero > /big")
    full = builds.build(client, folder, tag="safety-full:1", lab_name="safety-disk")
    assert not full.ok
    print(f"\ndisk full: {full.error}")
    assert full.error.startswith("The Docker disk is full:")
    assert "no space left on device" in full.error.lower()
    assert "python -m dashboard reset" in full.error and "docker system df" in full.error
    assert full.failed_step is not None and "head -c 120m" in full.failed_step.instruction
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("safety-full:1")

    # The fix the message gives, from the command line: only ours goes, and the space is back.
    done = subprocess.run(
        [sys.executable, "-m", "dashboard", "--json", "reset"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DOCKER_HOST": fault.host},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    removed = [json.loads(line) for line in done.stdout.splitlines()]
    assert {(r["kind"], r["id"]) for r in removed if r["type"] == "removal"} >= {
        ("container", hog.container_id)
    }
    assert client.containers.get(theirs.id).name == "theirs-on-full-disk"
    assert client.volumes.get("theirs-on-full-disk").name == "theirs-on-full-disk"
    assert client.images.get(BASE)
    assert fault.disk_free_bytes() > free - 20 * MB

    retry = builds.build(client, folder, tag="safety-full:1", lab_name="safety-disk")
    assert retry.ok, retry.error
    assert labels.is_ours(client.images.get("safety-full:1").labels)
