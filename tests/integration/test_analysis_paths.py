"""Every reader of the layer analysis gives the records of `docker save`, on every engine.

Marked `engines`: run it with DASHBOARD_TEST_ENGINE=host, e26-overlay2 and e26-containerd
(tests/engines.py). On each engine the dispatcher's records from every path that applies
(the overlay2 layer store on graph-driver engines, containerd's content store on the containerd
image store) are compared with the `docker save` path: entries in tar order, changes, history,
ids and dive's efficiency. A path that does not apply must say so, and `auto` must fall back to
`docker save` where no fast path can be read: here a daemon reached over TCP (tests/tcp_forward).

Images: a small labelled one FROM python:3.11-slim that adds files, overwrites one, deletes one
(a whiteout), replaces a directory's content (an opaque directory) and hard-links, built with
the classic builder (docker-py) on every engine; iris-model:1.0 (its base layer came from
`docker import`, whose tar order no folder walk recovers); and, on the containerd image store,
one BuildKit writes with zstd layers.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import tarfile
from pathlib import Path

import docker
import pytest

from dashboard.engine.analysis import layerfiles
from dashboard.engine.analysis.images import ImageGone
from dashboard.engine.analysis.layerfiles import dispatch, overlay2
from dashboard.engine.analysis.layerfiles.docker_save import read_file
from dashboard.engine.analysis.layerfiles.efficiency import efficiency
from dashboard.engine.analysis.layerfiles.layertar import Compression, compression_of
from dashboard.engine.analysis.layerfiles.records import CONTAINERD, OVERLAY2, TarEntry
from dashboard.engine.base import labels
from dashboard.engine.offline import offline
from tests.lab_images import iris_image
from tests.tcp_forward import TcpForward

pytestmark = [pytest.mark.docker, pytest.mark.engines]

SOURCES = {OVERLAY2: layerfiles.SOURCE_OVERLAY2, CONTAINERD: layerfiles.SOURCE_CONTAINERD}
NO_PATH = {OVERLAY2: "no overlay2 layer store to read", CONTAINERD: "no containerd image store"}

DOCKERFILE = """\
FROM python:3.11-slim
RUN mkdir -p /demo/keep /demo/swap && echo {marker} > /demo/keep/a \\
 && head -c 30000 /dev/urandom > /demo/gone.bin && echo old > /demo/swap/old \\
 && ln /demo/keep/a /demo/keep/a-link && ln -s keep/a /demo/sym
RUN head -c 50000 /dev/urandom > /demo/keep/a
RUN rm /demo/gone.bin && rm -rf /demo/swap && mkdir /demo/swap && echo new > /demo/swap/new
"""


def remove(client, ref: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.api.remove_image(ref)


@pytest.fixture(scope="module")
def whiteout_image(docker_client, session_id, tmp_path_factory):
    context = tmp_path_factory.mktemp("analysis-paths")
    (context / "Dockerfile").write_text(DOCKERFILE.format(marker=session_id))
    tag = f"dashboard-analysis-paths:{session_id}"
    errors, image_id = [], None
    for chunk in docker_client.api.build(
        path=str(context),
        tag=tag,
        decode=True,
        rm=True,
        forcerm=True,
        labels=labels.for_lab("test", session_id),
    ):
        errors += [chunk["error"]] if "error" in chunk else []
        image_id = (chunk.get("aux") or {}).get("ID", image_id)
    assert not errors and image_id, errors
    yield tag
    remove(docker_client, tag)


@pytest.fixture(scope="module")
def lab_image(docker_client):
    return iris_image(docker_client)


@pytest.fixture(scope="module")
def fast(docker_client) -> str:
    """The fast path of this engine: every engine of the matrix has one."""
    method = dispatch.fast_method(docker_client, docker_client.api.info())
    assert method in (OVERLAY2, CONTAINERD)
    return method


def assert_same(saved: layerfiles.ImageFiles, other: layerfiles.ImageFiles) -> None:
    assert saved.source == layerfiles.SOURCE_SAVE and saved.archive_bytes > 0
    assert (other.image_id, other.config_digest, other.repo_tags) == (
        saved.image_id,
        saved.config_digest,
        saved.repo_tags,
    )
    assert len(other.layers) == len(saved.layers)
    for a, b in zip(saved.layers, other.layers, strict=True):
        assert (a.index, a.diff_id, a.history) == (b.index, b.diff_id, b.history)
        assert a.entries == b.entries  # same records, same order
        assert a.changes == b.changes
    assert efficiency(saved.layers) == efficiency(other.layers)


@pytest.mark.parametrize("image", ["whiteout_image", "lab_image"])
def test_every_path_gives_the_records_of_docker_save(request, docker_client, fast, image):
    ref = request.getfixturevalue(image)
    saved = layerfiles.image_files(docker_client, ref, method="save")
    assert saved.image_id == docker_client.api.inspect_image(ref)["Id"]
    assert saved.fallback_reason == ""
    for method in (OVERLAY2, CONTAINERD):
        if method == fast:
            files = layerfiles.image_files(docker_client, ref, method=method)
            assert files.source == SOURCES[method] and files.archive_bytes == 0
            assert_same(saved, files)
        else:
            with pytest.raises(layerfiles.NotAvailable, match=NO_PATH[method]):
                layerfiles.image_files(docker_client, ref, method=method)
    auto = layerfiles.image_files(docker_client, ref)
    assert auto.source == SOURCES[fast] and auto.fallback_reason == ""
    assert_same(saved, auto)


def test_the_streamed_save_reads_what_docker_save_o_writes(docker_client, whiteout_image, tmp_path):
    """The dashboard reads the daemon's answer as it arrives; the student's `docker save -o`
    writes the same bytes to a file: both give the same records, and the same byte count."""
    archive = tmp_path / "whiteout.tar"
    subprocess.run(["docker", "save", "-o", str(archive), whiteout_image], check=True, timeout=300)
    on_disk = read_file(archive, ref=whiteout_image)
    streamed = layerfiles.image_files(docker_client, whiteout_image, method="save")
    assert streamed.archive_bytes == archive.stat().st_size == on_disk.archive_bytes
    assert streamed.config_digest == on_disk.manifest.config_digest
    assert [(x.member, x.entries, x.changes) for x in streamed.layers] == [
        (x.member, x.entries, x.changes) for x in on_disk.layers
    ]


def test_the_whiteout_image_has_what_its_dockerfile_did(docker_client, whiteout_image, fast):
    files = layerfiles.image_files(docker_client, whiteout_image)
    top = files.layers[-1]
    assert {c.path for c in top.removed} == {"/demo/gone.bin", "/demo/swap/old"}
    # The re-made directory: overlay2's differ marks it opaque, containerd's whites out what
    # was in it, file by file.
    if fast == OVERLAY2:
        assert any(e.opaque and e.path == "/demo/swap" for e in top.entries)
    else:
        assert TarEntry("/demo/swap/old", 0, whiteout=True) in top.entries
    assert TarEntry("/demo/gone.bin", 0, whiteout=True) in top.entries
    hard = [e for e in files.layers[-3].entries if e.path == "/demo/keep/a-link"]
    assert hard == [TarEntry("/demo/keep/a-link", 0, link="demo/keep/a")]
    report = efficiency(files.layers)
    assert report.removed_files == (1 if fast == OVERLAY2 else 2) and report.score < 1.0
    assert report.wasted_bytes >= 30_000 + 50_000


def test_overlay2_reads_tar_split_and_its_folder_walk_agrees(docker_client, whiteout_image, fast):
    """overlay2: every layer from tar-split, and the diff folders of the layers the daemon
    built walk to the same records. Containerd image store: there is no overlay2 store."""
    inspect = docker_client.api.inspect_image(whiteout_image)
    root = Path(docker_client.api.info()["DockerRootDir"])
    if fast == CONTAINERD:
        assert (inspect.get("GraphDriver") or {}).get("Name") != OVERLAY2
        assert not (root / "image" / OVERLAY2).exists()
        with pytest.raises(layerfiles.NotAvailable, match="not overlay2"):
            overlay2.manifest(inspect, root)
        return
    manifest, folders = overlay2.manifest(inspect, root)
    assert {layer.media_type for layer in manifest.layers} == {overlay2.TAR_SPLIT}
    saved = layerfiles.image_files(docker_client, whiteout_image, method="save")
    base = len(docker_client.api.inspect_image(offline.BASE_IMAGE)["RootFS"]["Layers"])
    ours = list(zip(saved.layers, folders, strict=True))[base:]
    assert len(ours) == 3
    for layer, folder in ours:
        assert list(overlay2.walk(folder)) == list(layer.entries)


def test_a_missing_image_is_gone_on_every_path(docker_client, whiteout_image, fast):
    for method in ("auto", "save", fast):
        with pytest.raises(ImageGone):
            layerfiles.image_files(docker_client, whiteout_image + "-missing", method=method)


def test_a_daemon_over_tcp_falls_back_to_docker_save(docker_client, whiteout_image, fast):
    """Not on this machine as far as the dashboard can tell: its folders are not read."""
    saved = layerfiles.image_files(docker_client, whiteout_image, method="save")
    with TcpForward() as forward:
        remote = docker.DockerClient(base_url=forward.url, version="auto", timeout=120)
        try:
            files = layerfiles.image_files(remote, whiteout_image)
            with pytest.raises(layerfiles.NotAvailable, match="not on this machine"):
                layerfiles.image_files(remote, whiteout_image, method=fast)
        finally:
            remote.close()
    assert files.source == layerfiles.SOURCE_SAVE
    assert files.fallback_reason == "the daemon is not on this machine"
    assert_same(saved, files)


ZSTD_DOCKERFILE = """\
FROM python:3.11-slim
RUN mkdir /z && head -c 40000 /dev/urandom > /z/a.bin && echo {marker} > /z/marker
RUN head -c 20000 /dev/urandom > /z/a.bin
"""


@pytest.fixture
def zstd_image(docker_client, session_id, tmp_path):
    """An image whose layers BuildKit compresses with zstd (the containerd image store keeps
    the blobs as written)."""
    if dispatch.fast_method(docker_client, docker_client.api.info()) != CONTAINERD:
        pytest.skip("only the containerd image store keeps zstd layer blobs (graph drivers unpack)")
    (tmp_path / "Dockerfile").write_text(ZSTD_DOCKERFILE.format(marker=session_id))
    tag = f"dashboard-zstd:{session_id}"
    done = subprocess.run(
        ["docker", "buildx", "build", "--network", "host", "--progress", "plain"]
        + ["--label", f"{labels.MANAGED}=true", "--label", f"{labels.SESSION}={session_id}"]
        + ["--output", f"type=image,name={tag},compression=zstd,force-compression=true"]
        + [str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    yield tag
    remove(docker_client, tag)


def test_zstd_layers_read_the_same_from_the_content_store_and_docker_save(
    docker_client, zstd_image, tmp_path
):
    archive = tmp_path / "zstd.tar"  # what the student's `docker save -o` writes
    subprocess.run(["docker", "save", "-o", str(archive), zstd_image], check=True, timeout=300)
    on_disk = read_file(archive)
    layers = on_disk.manifest.layers
    with tarfile.open(archive) as tar:
        kinds = []
        for layer in layers:
            with tar.extractfile(layer.member) as blob:
                kinds.append(compression_of(blob.read(6)))
        index = json.load(tar.extractfile("index.json"))
    assert set(kinds) == {Compression.ZSTD}, kinds  # force-compression: the base layer too
    assert all(layer.media_type.endswith("+zstd") for layer in layers)
    assert index["manifests"]
    saved = layerfiles.image_files(docker_client, zstd_image, method="save")
    assert [layer.entries for layer in saved.layers] == [layer.entries for layer in on_disk.layers]
    files = layerfiles.image_files(docker_client, zstd_image)
    assert files.source == layerfiles.SOURCE_CONTAINERD
    assert_same(saved, files)
    for layer in files.layers:
        with open(layer.member, "rb") as blob:
            assert compression_of(blob.read(6)) is Compression.ZSTD
    top = files.layers[-1]
    assert [(c.path, c.size, c.previous_size) for c in top.modified if not c.is_dir] == [
        ("/z/a.bin", 20_000, 40_000)
    ]
