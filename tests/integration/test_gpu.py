"""GPU detection and the CPU fallback on the real daemon (this machine has no GPU)."""

from __future__ import annotations

import uuid

import pytest

from dashboard.engine.base import labels
from dashboard.engine.ops import gpu

pytestmark = pytest.mark.docker


def leftovers(client, session: str) -> list:
    return client.containers.list(
        all=True, filters=labels.filters(lab="gpu-check", session=session)
    )


def test_status_reads_the_daemons_runtimes(docker_client):
    status = gpu.gpu_status(docker_client)
    runtimes = tuple(sorted(docker_client.info()["Runtimes"]))
    assert status.runtimes == runtimes
    if "nvidia" not in runtimes:
        assert not status.available and not status.probed
        assert "NVIDIA" in status.reason


def test_gpu_request_falls_back_to_cpu_and_leaves_nothing(docker_client, session_id):
    if gpu.gpu_status(docker_client).available:
        pytest.skip("this daemon has a GPU: the fallback cannot be shown here")
    session = f"{session_id}-gpu-{uuid.uuid4().hex[:6]}"
    name = f"gpu-check-{session}"
    try:
        run = gpu.run_preferring_gpu(
            docker_client,
            "python:3.11-slim",
            ["python", "-c", "import os; print('trained on', os.cpu_count(), 'CPUs')"],
            labels=labels.for_lab("gpu-check", session),
            name=name,
            timeout=60,
        )
        assert run.device == "cpu" and run.fell_back
        # The daemon's own words for a GPU request it cannot serve.
        assert 'could not select device driver "" with capabilities: [[gpu]]' in run.gpu_error
        assert run.exit_code == 0 and not run.timed_out
        assert "trained on" in run.logs
        assert run.container_name == name
        assert leftovers(docker_client, session) == []
    finally:
        for c in leftovers(docker_client, session):
            c.remove(force=True)


def test_the_failed_gpu_container_is_removed_even_when_kept_running(docker_client, session_id):
    session = f"{session_id}-gpu-{uuid.uuid4().hex[:6]}"
    try:
        container, choice = gpu.start_preferring_gpu(
            docker_client,
            "python:3.11-slim",
            ["sleep", "30"],
            labels=labels.for_lab("gpu-check", session),
            name=f"gpu-check-{session}",
        )
        if choice.device == "gpu":
            pytest.skip("this daemon has a GPU")
        # Exactly one container is left: the running CPU one (the failed GPU one is gone).
        found = leftovers(docker_client, session)
        assert [c.id for c in found] == [container.id]
        assert found[0].status == "running"
        assert not found[0].attrs["HostConfig"].get("DeviceRequests")
    finally:
        for c in leftovers(docker_client, session):
            c.remove(force=True)
    assert leftovers(docker_client, session) == []
