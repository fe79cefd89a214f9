"""The overlay2 fast path of the layer analysis gives what `docker save` gives.

A small labelled image FROM python:3.11-slim adds files, overwrites one, deletes one (a
whiteout) and replaces a directory's content (an opaque directory); its file lists, changes
and efficiency are compared between `docker save` and the daemon's layer metadata (tar-split)
and, for the layers the daemon built, the overlay2 `diff` folders walked directly. The same on
iris-model:1.0, whose base layer came from `docker import`.
"""

from __future__ import annotations

import contextlib

import docker
import pytest

from dashboard.engine import image_archive, labels, labs, layer_dirs, offline
from dashboard.engine.efficiency import efficiency

pytestmark = pytest.mark.docker

DOCKERFILE = """\
FROM python:3.11-slim
RUN mkdir -p /demo/keep /demo/swap && echo {marker} > /demo/keep/a \\
 && head -c 30000 /dev/urandom > /demo/gone.bin && echo old > /demo/swap/old \\
 && ln /demo/keep/a /demo/keep/a-link && ln -s keep/a /demo/sym
RUN head -c 50000 /dev/urandom > /demo/keep/a
RUN rm /demo/gone.bin && rm -rf /demo/swap && mkdir /demo/swap && echo new > /demo/swap/new
"""


@pytest.fixture(scope="module")
def whiteout_image(docker_client, session_id, tmp_path_factory):
    context = tmp_path_factory.mktemp("layer-dirs")
    (context / "Dockerfile").write_text(DOCKERFILE.format(marker=session_id))
    tag = f"dashboard-layer-dirs:{session_id}"
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
    with contextlib.suppress(docker.errors.NotFound):
        docker_client.api.remove_image(tag)


def both(client, ref):
    saved = image_archive.image_files(client, ref, method="save")
    fast = image_archive.image_files(client, ref, method="overlay2")
    return saved, fast


def assert_same(saved, fast):
    assert saved.source == image_archive.SOURCE_SAVE
    assert fast.source == image_archive.SOURCE_OVERLAY2
    assert fast.image_id == saved.image_id and fast.repo_tags == saved.repo_tags
    assert len(fast.layers) == len(saved.layers)
    for a, b in zip(saved.layers, fast.layers, strict=True):
        assert (a.index, a.diff_id, a.history) == (b.index, b.diff_id, b.history)
        assert a.entries == b.entries  # same records, same order
        assert a.changes == b.changes
    assert efficiency(saved.layers) == efficiency(fast.layers)


def test_both_paths_agree_on_an_image_with_whiteouts(docker_client, whiteout_image):
    saved, fast = both(docker_client, whiteout_image)
    assert_same(saved, fast)
    assert {layer.member.rsplit("/", 1)[-1] for layer in fast.layers} == {"tar-split.json.gz"}
    top = fast.layers[-1]
    assert {c.path for c in top.removed} == {"/demo/gone.bin", "/demo/swap/old"}
    assert any(e.opaque and e.path == "/demo/swap" for e in top.entries)
    report = efficiency(fast.layers)
    assert report.removed_files == 1 and report.score < 1.0


def test_walking_the_diff_folders_gives_the_same_records(docker_client, whiteout_image):
    """The folder walk (used when a layer has no tar-split) matches for daemon-built layers."""
    saved = image_archive.image_files(docker_client, whiteout_image, method="save")
    _, folders = layer_dirs.manifest(docker_client, whiteout_image)
    base_layers = len(docker_client.api.inspect_image(offline.BASE_IMAGE)["RootFS"]["Layers"])
    ours = list(zip(saved.layers, folders, strict=True))[base_layers:]
    assert len(ours) == 3
    for layer, folder in ours:
        assert list(layer_dirs.walk(folder)) == list(layer.entries)
    # the whiteout is a 0:0 character device on disk and a `.wh.` record in the tar
    top = ours[-1][1]
    assert [e for e in layer_dirs.walk(top) if e.whiteout] == [
        image_archive.TarEntry("/demo/gone.bin", 0, whiteout=True)
    ]


def test_both_paths_agree_on_a_lab_image(docker_client):
    ref = labs.get("iris").image
    try:
        docker_client.api.inspect_image(ref)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{ref} is missing: run `python -m dashboard prepare`")
    saved, fast = both(docker_client, ref)
    assert_same(saved, fast)
    assert fast.read_seconds < saved.save_seconds + saved.read_seconds


def test_auto_reads_the_folders_here_and_says_so(docker_client, whiteout_image):
    files = image_archive.image_files(docker_client, whiteout_image)
    assert files.source == image_archive.SOURCE_OVERLAY2 and files.fallback_reason == ""
    with pytest.raises(image_archive.ImageGone):
        image_archive.image_files(docker_client, whiteout_image + "-missing")


def test_a_remote_daemon_is_not_read_from_folders(whiteout_image):
    # Never dialled: a named version (the SDK's default) only so that constructing it asks
    # nothing; "auto" would ask the address for its version.
    never_dialled = docker.constants.DEFAULT_DOCKER_API_VERSION
    remote = docker.DockerClient(base_url="tcp://192.0.2.1:2376", version=never_dialled)
    assert not layer_dirs.is_local(remote)
    with pytest.raises(layer_dirs.NotAvailable, match="not on this machine"):
        layer_dirs.manifest(remote, whiteout_image)


def test_when_the_folders_are_unreadable_docker_save_is_used(
    docker_client, whiteout_image, monkeypatch
):
    def denied(client, ref):
        raise layer_dirs.NotAvailable("cannot read the layer folders: Permission denied")

    monkeypatch.setattr(layer_dirs, "manifest", denied)
    files = image_archive.image_files(docker_client, whiteout_image)
    assert files.source == image_archive.SOURCE_SAVE
    assert "Permission denied" in files.fallback_reason
    assert files.archive_bytes > 0 and files.layers[-1].removed
