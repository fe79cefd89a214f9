"""`python -m dashboard layers IMAGE`: the layers, then the efficiency and wasted bytes the Sizes
page shows, on every engine of the matrix; real processes, the real daemon.

The fallback is made real too: the command runs in a mount namespace of its own where the
daemon's data root (and the system containerd's) is an empty tmpfs, as for a dashboard in a
container that has the socket but not the daemon's folders.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from dashboard.engine.analysis import layerfiles
from dashboard.engine.analysis.layerfiles import containerd, dispatch
from dashboard.engine.analysis.layerfiles.efficiency import efficiency
from tests.lab_images import iris_image

pytestmark = [pytest.mark.docker, pytest.mark.engines]

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"overlay2": layerfiles.SOURCE_OVERLAY2, "containerd": layerfiles.SOURCE_CONTAINERD}


def cli(*args: str, hide: Sequence[str] = (), timeout: int = 600) -> subprocess.CompletedProcess:
    """The CLI; with `hide`, in a private mount namespace where those folders are empty."""
    command = [sys.executable, "-m", "dashboard", *args]
    if hide:
        mounts = " && ".join(f"mount -t tmpfs tmpfs {folder}" for folder in hide)
        command = ["unshare", "--mount", "--propagation", "private", "--"]
        command += ["sh", "-c", f'{mounts} && exec "$@"', "sh", sys.executable, "-m", "dashboard"]
        command += list(args)
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=dict(os.environ)
    )


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def image(docker_client) -> str:
    return iris_image(docker_client)


@pytest.fixture(scope="module")
def expected(docker_client, image):
    saved = layerfiles.image_files(docker_client, image, method="save")
    return efficiency(saved.layers)


def efficiency_record(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stdout + done.stderr
    records = json_lines(done.stdout)
    assert [r["type"] for r in records][-2:] == ["image", "efficiency"]
    return records[-1]


def test_layers_json_ends_with_the_efficiency_record(docker_client, image, expected):
    record = efficiency_record(cli("--json", "layers", image))
    fast = dispatch.fast_method(docker_client, docker_client.api.info())
    assert record == {
        "type": "efficiency",
        "image": image,
        "score": expected.score,
        "wasted_bytes": expected.wasted_bytes,
        "inefficient_paths": expected.inefficient_paths,
        "removed_files": expected.removed_files,
        "source": SOURCES[fast],
        "fallback_reason": "",
    }


def test_layers_text_says_efficiency_wasted_bytes_and_the_path(docker_client, image, expected):
    done = cli("layers", image)
    assert done.returncode == 0, done.stderr
    last = done.stdout.splitlines()[-1]
    assert f"{expected.score:.1%}  efficiency" in last
    assert " wasted, files in 2+ layers: " in last
    fast = dispatch.fast_method(docker_client, docker_client.api.info())
    assert last.endswith(f"(read from {SOURCES[fast]})")


def test_without_the_daemons_folders_it_falls_back_to_docker_save(docker_client, image, expected):
    data_root = docker_client.api.info()["DockerRootDir"]
    hide = [data_root] + [str(p) for p in [containerd.SYSTEM_ROOT] if p.is_dir()]
    record = efficiency_record(cli("--json", "layers", image, hide=hide))
    assert record["source"] == layerfiles.SOURCE_SAVE
    assert data_root in record["fallback_reason"] or "content store" in record["fallback_reason"]
    assert (record["score"], record["wasted_bytes"]) == (expected.score, expected.wasted_bytes)
    text = cli("layers", image, hide=hide).stdout.splitlines()[-1]
    assert "(read from docker save: no fast path, " in text
