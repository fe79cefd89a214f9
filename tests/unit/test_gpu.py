"""GPU decisions on this machine's recorded `docker info` and its recorded GPU start error.

The GPU request itself can only be tested here: the machine has no GPU. The fake client below
stands in for a daemon that does (or does not) start a container asking for one.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import docker
import pytest
import requests

from dashboard.engine.ops import gpu

REC = Path(__file__).resolve().parents[1] / "recordings" / "gpu"
INFO = json.loads((REC / "docker-info.json").read_text())
START_ERROR = json.loads((REC / "start-error.json").read_text())


def api_error(status: int, explanation: str) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    return docker.errors.APIError(f"{status} Server Error", response, explanation)


def recorded_start_error() -> docker.errors.APIError:
    return api_error(START_ERROR["status_code"], START_ERROR["explanation"])


def info_with_nvidia(default: str | None = None) -> dict:
    info = copy.deepcopy(INFO)
    info["Runtimes"]["nvidia"] = {"path": "nvidia-container-runtime"}
    if default:
        info["DefaultRuntime"] = default
    return info


# -- the verdict ---------------------------------------------------------------------------


def test_this_machine_has_no_gpu_runtime():
    status = gpu.decide(INFO)
    assert not status.available
    assert not status.nvidia_runtime
    assert status.runtimes == tuple(sorted(INFO["Runtimes"]))
    assert "runc" in status.runtimes
    assert "NVIDIA Container Toolkit" in status.reason
    assert "runc" in status.reason
    assert not status.probed


def test_nvidia_runtime_alone_is_not_proof():
    status = gpu.decide(info_with_nvidia())
    assert status.nvidia_runtime
    assert not status.available
    assert "no container has tried" in status.reason


def test_nvidia_as_default_runtime_counts():
    info = copy.deepcopy(INFO)
    info["DefaultRuntime"] = "nvidia"
    assert gpu.decide(info).nvidia_runtime


def test_a_probe_that_saw_gpus_makes_it_available():
    out = (
        "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-1111)\n"
        "GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-2222)\n"
    )
    status = gpu.decide(info_with_nvidia(), gpu.ProbeResult(True, out))
    assert status.available and status.probed
    assert len(status.devices) == 2
    assert status.reason == "A test container saw 2 GPUs."
    assert status.cli_hint.startswith("docker run --gpus all")


def test_a_failed_probe_says_why():
    probe = gpu.ProbeResult(False, error="nvidia-container-cli: initialization error: nvml error")
    status = gpu.decide(info_with_nvidia(), probe)
    assert not status.available and status.probed
    assert "nvml error" in status.reason


# -- which errors mean "no GPU here" -------------------------------------------------------


def test_the_recorded_start_error_is_a_gpu_error():
    assert START_ERROR["container_status_after_failed_start"] == "created"
    assert gpu.is_gpu_start_error(recorded_start_error())


@pytest.mark.parametrize(
    "exc",
    [
        api_error(404, "No such image: nope:latest"),
        api_error(500, "OCI runtime create failed: executable file not found in $PATH"),
        RuntimeError("could not select device driver"),  # not from the daemon
    ],
)
def test_other_errors_are_not_gpu_errors(exc):
    assert not gpu.is_gpu_start_error(exc)


# -- start with a GPU, fall back to CPU ----------------------------------------------------


class FakeContainer:
    def __init__(self, daemon: FakeDaemon, kwargs: dict):
        self.daemon = daemon
        self.kwargs = kwargs
        self.name = kwargs.get("name")
        self.removed = False
        self.started = False

    def start(self):
        error = self.daemon.start_error(self.kwargs)
        if error:
            raise error
        self.started = True

    def remove(self, force=False):
        self.removed = True


class FakeDaemon:
    """containers.create/start like the engine: start fails for a GPU request without GPUs."""

    def __init__(self, has_gpu: bool, other_error=None, info=None):
        self.has_gpu = has_gpu
        self.other_error = other_error
        self.created: list[FakeContainer] = []
        self.containers = self
        self._info = info or INFO

    def create(self, image, command=None, **kwargs):
        container = FakeContainer(self, kwargs)
        self.created.append(container)
        return container

    def start_error(self, kwargs):
        if self.other_error:
            return self.other_error
        if kwargs.get("device_requests") and not self.has_gpu:
            return recorded_start_error()
        return None

    def info(self):
        return self._info


LABELS = {"io.dockerml.dashboard.managed": "true"}


def test_without_gpu_the_failed_container_is_removed_and_cpu_used():
    daemon = FakeDaemon(has_gpu=False)
    container, choice = gpu.start_preferring_gpu(daemon, "img", ["python"], labels=LABELS, name="n")
    first, second = daemon.created
    assert first.kwargs["device_requests"][0]["Capabilities"] == [["gpu"]]
    assert first.kwargs["device_requests"][0]["Count"] == -1
    assert first.removed and not first.started
    assert "device_requests" not in second.kwargs
    assert second.name == "n" and second.kwargs["labels"] == LABELS
    assert container is second and second.started and not second.removed
    assert choice.device == "cpu" and choice.fell_back
    assert "could not select device driver" in choice.gpu_error


def test_with_a_gpu_the_first_container_runs():
    daemon = FakeDaemon(has_gpu=True)
    container, choice = gpu.start_preferring_gpu(daemon, "img", labels=LABELS)
    assert len(daemon.created) == 1 and container.started
    assert choice == gpu.DeviceChoice("gpu", None)


def test_other_start_errors_are_raised_and_cleaned_up():
    error = api_error(500, "OCI runtime create failed: executable file not found in $PATH")
    daemon = FakeDaemon(has_gpu=True, other_error=error)
    with pytest.raises(docker.errors.APIError):
        gpu.start_preferring_gpu(daemon, "img", labels=LABELS)
    assert len(daemon.created) == 1 and daemon.created[0].removed


def test_cpu_only_when_asked():
    daemon = FakeDaemon(has_gpu=True)
    _, choice = gpu.start_preferring_gpu(daemon, "img", labels=LABELS, want_gpu=False)
    assert "device_requests" not in daemon.created[0].kwargs
    assert choice == gpu.DeviceChoice("cpu", None) and not choice.fell_back


def test_gpu_status_probes_only_when_the_runtime_is_there(monkeypatch):
    probes = []
    monkeypatch.setattr(
        gpu, "probe_gpu", lambda client: probes.append(client) or gpu.ProbeResult(True, "GPU 0: X")
    )
    assert not gpu.gpu_status(FakeDaemon(False)).available
    assert probes == []
    status = gpu.gpu_status(FakeDaemon(True, info=info_with_nvidia()))
    assert status.available and len(probes) == 1
    assert not gpu.gpu_status(FakeDaemon(True, info=info_with_nvidia()), probe=False).available
