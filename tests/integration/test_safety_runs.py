"""Lab containers on the real daemon: what reaches their options, how runs end, a log flood.

Containers are named `safety-<session>-...`; the module fixture removes them and checks none is
left behind.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from pathlib import Path

import docker
import pytest

from dashboard.engine.base import docker_text, labels
from dashboard.engine.ops import runs

pytestmark = pytest.mark.docker

BASE = "python:3.11-slim"
MB = 1 << 20


@pytest.fixture(scope="module")
def prefix(session_id):
    return f"safety-{session_id}-{uuid.uuid4().hex[:4]}"


@pytest.fixture(scope="module")
def made(docker_client, prefix):
    ids: list[str] = []
    yield ids
    for container_id in ids:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(container_id).remove(force=True)
    left = docker_client.containers.list(all=True, filters={"name": prefix})
    assert left == [], f"left behind: {[c.name for c in left]}"


@pytest.fixture
def name(prefix, made):
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def run(client, made, **kwargs):
    result = runs.run_container(client, BASE, lab=kwargs.pop("lab", "safety"), **kwargs)
    made.append(result.container_id)
    return result


def test_user_text_reaches_only_the_allowed_options(docker_client, made, name, tmp_path):
    marker = tmp_path / "pwned"
    lab = "x=y io.evil.key=1"
    # Shell syntax in a command string: split into words, never run by a shell (here or inside).
    result = run(
        docker_client, made, lab=lab, name=name, command=f"echo $HOME; touch {marker} && id"
    )
    assert result.ok
    assert result.lines == (f"$HOME; touch {marker} && id",)
    assert not marker.exists()

    attrs = docker_client.api.inspect_container(result.container_id)
    assert attrs["Config"]["Cmd"] == ["echo", "$HOME;", "touch", str(marker), "&&", "id"]
    host = attrs["HostConfig"]
    assert host["Privileged"] is False
    assert not host.get("Binds") and not attrs.get("Mounts")
    assert not host.get("CapAdd") and not host.get("Devices")
    assert not host.get("SecurityOpt") and not host.get("DeviceRequests")
    # The default bridge network: "default" up to Engine 25, named "bridge" since Engine 26.
    assert host["NetworkMode"] in ("default", "bridge")
    assert host["PidMode"] == "" and host["IpcMode"] in ("private", "shareable")
    assert host["UsernsMode"] == "" and host["UTSMode"] == ""
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}
    # Our label keys, plus what the image itself carries; the user's text is a value only.
    image_keys = set(docker_client.images.get(BASE).labels or {})
    ours = {labels.MANAGED, labels.LAB, labels.SESSION}
    assert set(attrs["Config"]["Labels"]) == ours | image_keys
    assert attrs["Config"]["Labels"][labels.LAB] == lab


def test_a_container_that_never_exits_is_timed_out_with_a_sentence(docker_client, made, name):
    started = time.monotonic()
    result = run(docker_client, made, name=name, command="sleep 600", timeout=2, grace=1)
    took = time.monotonic() - started
    assert result.status == "timed_out" and result.exit_code == 137
    assert (result.timeout_s, result.grace_s) == (2.0, 1)
    assert result.message.startswith("Timed out after 2 s:")
    assert "SIGTERM" in result.message and "1 s later, SIGKILL" in result.message
    assert 2 <= took < 8, took


def test_killed_is_not_called_out_of_memory(docker_client, made, name):
    def kill_it(line: runs.RunLine) -> None:
        if line.text == "ready":  # `docker kill` from a terminal, while it runs
            threading.Thread(target=docker_client.containers.get(name).kill).start()

    killed = run(
        docker_client,
        made,
        name=name,
        command=["sh", "-c", "echo ready; sleep 600"],
        on_line=kill_it,
        timeout=30,
    )
    assert (killed.status, killed.exit_code, killed.oom_killed) == ("killed", 137, False)
    assert killed.message.startswith("Killed (exit code 137")
    assert "out of memory" not in killed.message.split(";")[0].lower()

    oom = run(
        docker_client,
        made,
        name=f"{name}-oom",
        command=["python", "-c", "x = bytearray(300 * 2**20)"],
        mem_limit="64m",
        timeout=30,
    )
    assert (oom.status, oom.exit_code, oom.oom_killed) == ("oom_killed", 137, True)
    assert oom.message.startswith("Out of memory")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


FLOOD = """
import sys
line = ("x" * 9999 + "\\n").encode()
out = sys.stdout.buffer
for _ in range(20000):  # 200 MB of 10,000-character lines, as fast as it can
    out.write(line)
out.write(b"y" * (8 * 2**20))  # and an 8 MB line that never ends
"""


def test_a_log_flood_keeps_memory_and_disk_bounded(docker_client, made, name):
    peak = [_rss()]
    before = peak[0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], _rss())

    sampler = threading.Thread(target=sample, daemon=True)
    seen = [0, 0]

    def on_line(line: runs.RunLine) -> None:  # what a UI does: count, keep the latest
        seen[0] += 1
        seen[1] = max(seen[1], len(line.text))

    sampler.start()
    started = time.monotonic()
    try:
        result = run(
            docker_client, made, name=name, command=["python", "-c", FLOOD], on_line=on_line
        )
    finally:
        done.set()
        sampler.join()
    took = time.monotonic() - started
    growth = (max(peak[0], _rss()) - before) / MB
    print(f"\nlog flood: 208 MB in {took:.1f} s, RSS growth {growth:.1f} MB")

    assert result.ok, result.message
    cut = 8 * MB // docker_text.MAX_LINE_CHARS  # the endless line arrives in 64 KiB pieces
    assert result.lines_total == seen[0] == 20000 + cut
    assert len(result.lines) == runs.DEFAULT_TAIL and result.truncated
    assert seen[1] == docker_text.MAX_LINE_CHARS
    assert growth < 100, f"RSS grew by {growth:.0f} MB"

    attrs = docker_client.api.inspect_container(result.container_id)
    assert attrs["HostConfig"]["LogConfig"]["Config"] == {"max-size": "1m", "max-file": "2"}
    log = Path(attrs["LogPath"])
    with contextlib.suppress(PermissionError):  # the log files are root's
        files = [p for p in log.parent.glob(log.name + "*") if p.is_file()]
        on_disk = sum(p.stat().st_size for p in files)
        print(f"json-file logs on disk: {len(files)} files, {on_disk / MB:.1f} MB")
        assert 0 < len(files) <= 2
        assert on_disk < 3 * MB  # 2 x 1 MB, plus the entry that crossed the limit
