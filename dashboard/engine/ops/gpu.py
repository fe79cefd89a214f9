"""GPU support: does this daemon give containers a GPU, and run on one if it can, else on CPU.

`docker info` lists the runtimes the daemon knows; a GPU needs NVIDIA's (`nvidia`), and only a
container that actually asks for one proves it works, so when the runtime is there a tiny probe
container runs `nvidia-smi -L` with a GPU request. Without the NVIDIA toolkit, a container
that asks for a GPU (`docker run --gpus all`) is created and then fails to start with
`could not select device driver "" with capabilities: [[gpu]]`, leaving the created container
behind: `start_preferring_gpu` removes it and starts the same container on the CPU.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Literal

import docker
from docker.types import DeviceRequest, LogConfig

from dashboard.engine.base import labels
from dashboard.engine.offline import offline

PROBE_IMAGE = offline.BASE_IMAGE
NVIDIA = "nvidia"
# Errors a GPU request gives at start when the daemon cannot hand out a GPU.
GPU_START_ERRORS = (
    "could not select device driver",  # no NVIDIA toolkit: `--gpus` has no driver
    "unknown or invalid runtime name: nvidia",
    "nvidia-container-cli",  # toolkit present, driver or device missing
    "nvidia-container-runtime",
)
LOG_CONFIG = LogConfig(type="json-file", config={"max-size": "10m", "max-file": "2"})

Device = Literal["gpu", "cpu"]


def gpu_request() -> list[DeviceRequest]:
    """What `docker run --gpus all` sends: every GPU, by capability."""
    return [DeviceRequest(count=-1, capabilities=[["gpu"]])]


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    output: str = ""
    error: str | None = None


@dataclass(frozen=True)
class GpuStatus:
    available: bool
    runtimes: tuple[str, ...]
    reason: str
    default_runtime: str = "runc"
    nvidia_runtime: bool = False
    probed: bool = False
    devices: tuple[str, ...] = ()  # `nvidia-smi -L` lines when the probe ran

    @property
    def cli_hint(self) -> str:
        return "docker run --gpus all ..." if self.available else "docker run ... (CPU only)"


def runtimes_from_info(info: dict) -> tuple[str, ...]:
    return tuple(sorted((info.get("Runtimes") or {}).keys()))


def decide(info: dict, probe: ProbeResult | None = None) -> GpuStatus:
    """The verdict from `docker info` and, when one ran, the probe container's result."""
    runtimes = runtimes_from_info(info)
    default = info.get("DefaultRuntime") or "runc"
    has_nvidia = NVIDIA in runtimes or default == NVIDIA
    common = {"runtimes": runtimes, "default_runtime": default, "nvidia_runtime": has_nvidia}
    if probe is not None and probe.ok:
        devices = tuple(
            line.strip() for line in probe.output.splitlines() if line.strip().startswith("GPU ")
        )
        n = len(devices)
        return GpuStatus(
            True,
            reason=f"A test container saw {n} GPU{'s' if n != 1 else ''}.",
            probed=True,
            devices=devices,
            **common,
        )
    if probe is not None:
        return GpuStatus(
            False,
            reason=f"A container that asked for a GPU failed: {probe.error or probe.output}",
            probed=True,
            **common,
        )
    if not has_nvidia:
        listed = ", ".join(runtimes) or "none"
        return GpuStatus(
            False,
            reason=(
                f"The Docker daemon has no NVIDIA runtime (its runtimes: {listed}), so containers "
                "run on the CPU. To use a GPU: an NVIDIA driver on the host, the NVIDIA Container "
                "Toolkit (`nvidia-ctk runtime configure --runtime=docker`), then restart Docker."
            ),
            **common,
        )
    return GpuStatus(
        False,
        reason="The daemon has the NVIDIA runtime, but no container has tried a GPU yet.",
        **common,
    )


def is_gpu_start_error(exc: BaseException) -> bool:
    """True for the errors a GPU request gives at start on a daemon that cannot provide one."""
    if not isinstance(exc, docker.errors.APIError):
        return False
    text = f"{exc.explanation or ''} {exc}".lower()
    return any(marker in text for marker in GPU_START_ERRORS)


def _remove(container) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        container.remove(force=True)


def probe_gpu(
    client: docker.DockerClient, image: str = PROBE_IMAGE, timeout: float = 60
) -> ProbeResult:
    """Run `nvidia-smi -L` in a labelled throwaway container that asks for every GPU."""
    container = client.containers.create(
        image,
        ["nvidia-smi", "-L"],
        device_requests=gpu_request(),
        labels=labels.for_lab("gpu-probe"),
        name=f"gpu-probe-{uuid.uuid4().hex[:8]}",
        network_disabled=True,
        log_config=LOG_CONFIG,
    )
    try:
        try:
            container.start()
        except docker.errors.APIError as exc:
            return ProbeResult(False, error=str(exc.explanation or exc))
        code = container.wait(timeout=timeout).get("StatusCode")
        out = container.logs().decode(errors="replace")
        if code != 0:
            return ProbeResult(False, out, f"nvidia-smi exited with {code}: {out.strip()[-300:]}")
        return ProbeResult(True, out)
    finally:
        _remove(container)


def gpu_status(client: docker.DockerClient, probe: bool = True) -> GpuStatus:
    """Whether containers here can have a GPU: `docker info`, then a probe if NVIDIA is there."""
    info = client.info()
    status = decide(info)
    if probe and status.nvidia_runtime:
        return decide(info, probe_gpu(client))
    return status


@dataclass(frozen=True)
class DeviceChoice:
    device: Device  # what the container runs on
    gpu_error: str | None  # why the GPU request failed, when it did

    @property
    def fell_back(self) -> bool:
        return self.device == "cpu" and self.gpu_error is not None


@dataclass(frozen=True)
class DeviceRun:
    device: Device
    gpu_error: str | None
    container_name: str
    exit_code: int | None
    logs: str
    seconds: float
    timed_out: bool = False

    @property
    def fell_back(self) -> bool:
        return self.device == "cpu" and self.gpu_error is not None


def start_preferring_gpu(
    client: docker.DockerClient,
    image: str,
    command=None,
    *,
    labels: dict[str, str],
    name: str | None = None,
    want_gpu: bool = True,
    **create_kwargs,
):
    """Create and start a container asking for every GPU; on the GPU error, start it on CPU.

    Returns (container, DeviceChoice). The container the failed GPU start left behind is
    removed first. Any other error is raised as it is.
    """
    create_kwargs.setdefault("log_config", LOG_CONFIG)
    gpu_error = None
    if want_gpu:
        container = client.containers.create(
            image, command, labels=labels, name=name, device_requests=gpu_request(), **create_kwargs
        )
        try:
            container.start()
            return container, DeviceChoice("gpu", None)
        except docker.errors.APIError as exc:
            _remove(container)
            if not is_gpu_start_error(exc):
                raise
            gpu_error = str(exc.explanation or exc)
    container = client.containers.create(image, command, labels=labels, name=name, **create_kwargs)
    try:
        container.start()
    except docker.errors.APIError:
        _remove(container)
        raise
    return container, DeviceChoice("cpu", gpu_error)


def run_preferring_gpu(
    client: docker.DockerClient,
    image: str,
    command=None,
    *,
    labels: dict[str, str],
    name: str | None = None,
    timeout: float = 120,
    want_gpu: bool = True,
    **create_kwargs,
) -> DeviceRun:
    """`start_preferring_gpu`, then wait (stopping it after `timeout` s), collect logs, remove."""
    name = name or f"gpu-run-{uuid.uuid4().hex[:8]}"
    start = time.monotonic()
    container, choice = start_preferring_gpu(
        client, image, command, labels=labels, name=name, want_gpu=want_gpu, **create_kwargs
    )
    timed_out = False
    try:
        # container.wait(timeout=) is an HTTP timeout: keep our own deadline.
        while True:
            container.reload()
            if container.status in {"exited", "dead"}:
                break
            if time.monotonic() - start > timeout:
                timed_out = True
                container.stop(timeout=5)
                container.reload()
                break
            time.sleep(0.2)
        exit_code = (container.attrs.get("State") or {}).get("ExitCode")
        logs = container.logs().decode(errors="replace")
    finally:
        _remove(container)
    return DeviceRun(
        choice.device, choice.gpu_error, name, exit_code, logs, time.monotonic() - start, timed_out
    )
