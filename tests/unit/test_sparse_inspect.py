"""Inspect answers with empty fields left out, as Engine 29 sends them.

Engine 29 omits empty fields from inspect answers (`Config.Cmd`, `Config.Env`, `Config.Labels`,
`Config.WorkingDir`, ...) and dropped the deprecated ones (`Container`, `ContainerConfig`,
`VirtualSize`, `Config.Hostname`, ...). These are the recorded Engine 20.10 answers of
tests/recordings/ with those fields removed (and, harsher than any engine, without `Config` at
all): every parser the pages and the command line use must read them without a KeyError.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import docker
import pytest

from dashboard.engine.analysis import images
from dashboard.engine.base import labels
from dashboard.engine.offline import offline
from dashboard.engine.ops import runs

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
IMAGE = json.loads((RECORDINGS / "images" / "iris-inspect.json").read_text())
HISTORY = json.loads((RECORDINGS / "images" / "iris-history.json").read_text())
CONTAINERS = json.loads((RECORDINGS / "runs" / "inspect.json").read_text())

EMPTY_IN_CONFIG = ("Cmd", "Env", "Labels", "WorkingDir", "Entrypoint", "Volumes", "OnBuild")
# Gone from image inspect in newer API versions, or left out when empty.
IMAGE_EXTRAS = ("Parent", "Comment", "Container", "ContainerConfig", "DockerVersion", "Author")
IMAGE_EXTRAS += ("VirtualSize", "Metadata", "RepoDigests", "GraphDriver")
DEPRECATED_IN_CONFIG = ("Hostname", "Domainname", "User", "AttachStdin", "AttachStdout")
DEPRECATED_IN_CONFIG += ("AttachStderr", "Tty", "OpenStdin", "StdinOnce")


def without(attrs: dict, config_keys=(), top_keys=(), *, config: bool = True) -> dict:
    """A copy of `attrs` without those keys (without `Config` at all when not `config`)."""
    sparse = copy.deepcopy(attrs)
    for key in top_keys:
        sparse.pop(key, None)
    if not config:
        sparse.pop("Config", None)
        return sparse
    for key in config_keys:
        sparse["Config"].pop(key, None)
    return sparse


def engine29_image(config: bool = True) -> dict:
    return without(IMAGE, EMPTY_IN_CONFIG + DEPRECATED_IN_CONFIG, IMAGE_EXTRAS, config=config)


SHAPES = {
    "empty fields left out": lambda attrs, extras=(): without(
        attrs, EMPTY_IN_CONFIG + DEPRECATED_IN_CONFIG, extras
    ),
    "no Config": lambda attrs, extras=(): without(attrs, top_keys=extras, config=False),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_image_labels_read_as_empty(shape):
    sparse = SHAPES[shape](IMAGE, IMAGE_EXTRAS)
    assert labels.of_inspect(sparse) == {}
    assert labels.of_inspect(IMAGE)[labels.LAB] == "iris"
    assert labels.of_inspect(None) == {}


def test_the_sdk_image_model_breaks_without_config_which_is_why_we_do_not_use_it():
    sparse = engine29_image(config=False)
    with pytest.raises(KeyError):
        docker.models.images.Image(attrs=sparse).labels  # noqa: B018
    assert docker.models.images.Image(attrs=engine29_image()).labels == {}


@pytest.mark.parametrize("shape", SHAPES)
def test_the_layers_report_of_a_sparse_image(shape):
    full = images.report_from_api("iris-model:1.0", IMAGE, HISTORY)
    sparse = images.report_from_api("iris-model:1.0", SHAPES[shape](IMAGE, IMAGE_EXTRAS), HISTORY)
    assert sparse.labels == {}
    assert sparse.layers == full.layers and sparse.size_bytes == full.size_bytes
    assert sparse.rootfs_layers == full.rootfs_layers and sparse.tags == full.tags


@pytest.mark.parametrize("shape", SHAPES)
def test_the_image_sizes_of_a_sparse_image(shape):
    sparse = SHAPES[shape](IMAGE, IMAGE_EXTRAS)
    for store in (images.GRAPH_DRIVER, images.CONTAINERD):
        full = images.size_from_api(store, IMAGE, HISTORY, None)
        assert images.size_from_api(store, sparse, HISTORY, None) == full


@pytest.mark.parametrize("shape", SHAPES)
def test_the_image_summary_of_a_sparse_image(shape):
    summary = images._summary(SHAPES[shape](IMAGE, IMAGE_EXTRAS))
    assert summary.labels == {} and summary.lab is None
    assert not summary.managed and not summary.standin
    assert summary.tags == ("iris-model:1.0",)
    # Labels that are there are still read when everything else empty is left out.
    kept = without(IMAGE, ("Cmd", "Env", "WorkingDir", *DEPRECATED_IN_CONFIG), IMAGE_EXTRAS)
    assert images._summary(kept).lab == "iris" and images._summary(kept).managed


@pytest.mark.parametrize("shape", SHAPES)
def test_the_base_image_status_of_a_sparse_image(shape):
    status = offline.base_status_of(SHAPES[shape](IMAGE, IMAGE_EXTRAS))
    assert status.present and not status.standin and status.python is None
    assert status.image_id == IMAGE["Id"] and status.size_bytes == IMAGE["Size"]
    assert "present (pulled image" in status.summary
    full = offline.base_status_of(IMAGE)
    assert full.standin and full.python == "3.11.2"


@pytest.mark.parametrize("which", ["running", "exited"])
@pytest.mark.parametrize("shape", SHAPES)
def test_the_record_of_a_sparse_container(shape, which):
    attrs = CONTAINERS[which]
    record = runs._record(SHAPES[shape](attrs))
    full = runs._record(attrs)
    assert record.command == () and record.labels == {} and record.lab == ""
    assert (record.id, record.name, record.status, record.exit_code, record.created) == (
        full.id,
        full.name,
        full.status,
        full.exit_code,
        full.created,
    )
    assert record.image in (full.image, attrs["Image"])  # Config.Image, or the image id
    assert not labels.container_is_ours(record.labels)
