"""Image analysis on the real daemon: history layers, `docker save` file lists, wasted space.

A tiny image is built FROM python:3.11-slim whose layers add two files, overwrite one and
delete the other; what the engine reports is checked against what the Dockerfile did.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import docker
import pytest

from dashboard.engine.analysis import images, layerfiles
from dashboard.engine.analysis.layerfiles.efficiency import efficiency
from dashboard.engine.analysis.layerfiles.records import LEGACY, OCI, ImageFiles, LayerFiles
from dashboard.engine.base import labels
from dashboard.engine.catalog import labs
from dashboard.engine.offline import offline

pytestmark = pytest.mark.docker

PAYLOAD, SCRATCH, OVERWRITE = 40_000, 25_000, 70_000

DOCKERFILE = f"""\
FROM python:3.11-slim
COPY payload.bin scratch.bin /demo/
RUN head -c {OVERWRITE} /dev/urandom > /demo/payload.bin
RUN rm /demo/scratch.bin
"""


def build(client, context: Path, tag: str, lab: str, session: str) -> str:
    """Classic build through the low-level API; the image id, or the stream's error."""
    image_id, errors = None, []
    stream = client.api.build(
        path=str(context),
        tag=tag,
        decode=True,
        rm=True,
        forcerm=True,
        network_mode=offline.build_network(client),
        labels=labels.for_lab(lab, session),
    )
    for chunk in stream:
        if "error" in chunk:
            errors.append(chunk["error"])
        image_id = (chunk.get("aux") or {}).get("ID", image_id)
    assert not errors and image_id, f"build of {tag} failed: {errors}"
    return image_id


def remove(client, tag: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.api.remove_image(tag)
    with pytest.raises(docker.errors.ImageNotFound):
        client.api.inspect_image(tag)


@pytest.fixture(scope="module")
def demo_image(docker_client, session_id, tmp_path_factory):
    context = tmp_path_factory.mktemp("demo-image")
    (context / "Dockerfile").write_text(DOCKERFILE)
    # The session id in the content keeps the build cache from sharing layers between runs.
    marker = session_id.encode()
    (context / "payload.bin").write_bytes(marker + b"p" * (PAYLOAD - len(marker)))
    (context / "scratch.bin").write_bytes(marker + b"s" * (SCRATCH - len(marker)))
    tag = f"dashboard-image-analysis:{session_id}"
    build(docker_client, context, tag, "test", session_id)
    yield tag
    remove(docker_client, tag)


@pytest.fixture(scope="module")
def demo_files(docker_client, demo_image):
    return layerfiles.image_files(docker_client, demo_image, method="save")


def layer_running(files: ImageFiles, text: str) -> LayerFiles:
    (layer,) = [layer for layer in files.layers if text in layer.created_by]
    return layer


def sizes(changes) -> dict[str, int]:
    return {c.path: c.size for c in changes if not c.is_dir}


def on_disk(reported: int, content: int, containerd: bool) -> bool:
    """A layer's `docker history` size against the bytes it adds: exact on a graph driver; on
    the containerd image store it is the snapshot's disk usage, in whole file-system blocks."""
    return content <= reported <= content + 64 * 1024 if containerd else reported == content


@pytest.mark.engines
def test_history_layers_add_up_to_the_image_size(docker_client, demo_image, session_id):
    containerd = images.image_store(docker_client) == images.CONTAINERD
    report = images.image_layers(docker_client, demo_image)
    assert report.tags == (demo_image,)
    assert report.labels[labels.SESSION] == session_id
    assert report.layers_size_bytes == report.size_bytes
    base = images.image_layers(docker_client, offline.BASE_IMAGE)
    ours = report.layers[len(base.layers) :]
    assert [layer.instruction for layer in ours][:3] == ["COPY", "RUN", "RUN"]
    copy, overwrite, rm = ours[:3]
    assert on_disk(copy.size_bytes, PAYLOAD + SCRATCH, containerd), copy.size_bytes
    assert on_disk(overwrite.size_bytes, OVERWRITE, containerd), overwrite.size_bytes
    assert overwrite.created_by == f"RUN head -c {OVERWRITE} /dev/urandom > /demo/payload.bin"
    assert on_disk(rm.size_bytes, 0, containerd) and rm.has_layer  # a whiteout is a real layer
    assert all(layer.empty and not layer.has_layer for layer in ours[3:])  # the LABEL steps
    assert {layer.instruction for layer in ours[3:]} == {"LABEL"}
    assert sum(bool(layer.has_layer) for layer in report.layers) == len(report.rootfs_layers)


def test_missing_image_is_a_typed_error(docker_client, demo_image):
    with pytest.raises(images.ImageGone):
        images.image_layers(docker_client, demo_image + "-missing")
    with pytest.raises(images.ImageGone):
        layerfiles.image_files(docker_client, demo_image + "-missing")


def test_saved_layers_match_the_daemons_layers(docker_client, demo_image, demo_files):
    inspect = docker_client.api.inspect_image(demo_image)
    engine = int(docker_client.version()["Version"].split(".")[0])
    assert demo_files.layout == (OCI if engine >= 25 else LEGACY)
    assert demo_files.image_id == inspect["Id"]
    assert [layer.diff_id for layer in demo_files.layers] == inspect["RootFS"]["Layers"]
    history = images.image_layers(docker_client, demo_image)
    for layer in demo_files.layers:
        assert layer.history is not None
        assert history.layers[layer.history.index].created_by == layer.history.created_by
        assert history.layers[layer.history.index].title == layer.created_by


def test_file_lists_show_added_modified_and_removed(demo_files):
    copy = layer_running(demo_files, "COPY ")
    assert sizes(copy.added) == {"/demo/payload.bin": PAYLOAD, "/demo/scratch.bin": SCRATCH}
    assert not sizes(copy.modified) and not copy.removed

    overwrite = layer_running(demo_files, "head -c")
    (changed,) = [c for c in overwrite.modified if c.path == "/demo/payload.bin"]
    assert (changed.size, changed.previous_size) == (OVERWRITE, PAYLOAD)
    assert "/demo/payload.bin" not in sizes(overwrite.added)

    rm = layer_running(demo_files, "rm /demo/scratch.bin")
    assert [(c.path, c.size) for c in rm.removed] == [("/demo/scratch.bin", SCRATCH)]
    assert any(e.whiteout and e.path == "/demo/scratch.bin" for e in rm.entries)
    assert not sizes(rm.added)


def test_wasted_space_names_the_overwritten_and_removed_files(demo_files):
    report = efficiency(demo_files.layers)
    wasted = {w.path: w for w in report.top}
    assert wasted["/demo/payload.bin"].cumulative_size == PAYLOAD + OVERWRITE
    assert wasted["/demo/payload.bin"].minimum_size == PAYLOAD
    assert wasted["/demo/scratch.bin"].removed
    assert wasted["/demo/scratch.bin"].minimum_size == 0
    assert report.wasted_bytes >= PAYLOAD + OVERWRITE + SCRATCH
    assert report.removed_files >= 1 and report.removed_bytes >= SCRATCH
    assert report.score < 1.0


@pytest.fixture(scope="module")
def iris_image(docker_client, session_id, tmp_path_factory):
    """iris-model:1.0 when another test or a student built it; otherwise our own build."""
    lab = labs.get("iris")
    try:
        docker_client.api.inspect_image(lab.image)
        yield lab.image
        return
    except docker.errors.ImageNotFound:
        pass
    context = tmp_path_factory.mktemp("iris") / "iris"
    shutil.copytree(lab.path, context)
    tag = f"iris-model:test-{session_id}"
    build(docker_client, context, tag, "iris", session_id)
    yield tag
    remove(docker_client, tag)


def test_iris_pip_install_is_the_largest_layer(docker_client, iris_image):
    report = images.image_layers(docker_client, iris_image)
    assert report.layers_size_bytes == report.size_bytes
    assert report.largest_layer.created_by.startswith("RUN pip install")
    assert report.largest_layer.size_bytes > 100_000_000  # scikit-learn, numpy, scipy


def test_list_images_shows_ours_and_the_base(docker_client, demo_image):
    listed = {img.name: img for img in images.list_images(docker_client)}
    assert listed[offline.BASE_IMAGE].base
    assert listed[demo_image].managed and listed[demo_image].lab == "test"
    assert all(img.managed or img.base for img in listed.values())
    history = docker_client.api.history(demo_image)
    assert listed[demo_image].size_bytes == sum(e["Size"] for e in history)
