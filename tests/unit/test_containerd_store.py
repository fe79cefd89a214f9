"""The containerd image store reader on a hand-made content store (no daemon): the same blobs
as a hand-made `docker save` give the same records; missing, absent and forged blobs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dashboard.engine.analysis.layerfiles import containerd
from dashboard.engine.analysis.layerfiles.docker_save import read_file
from dashboard.engine.analysis.layerfiles.filetree import stack_layers
from dashboard.engine.analysis.layerfiles.records import (
    CONTAINERD,
    ArchiveError,
    LayerFileMissing,
    NotAvailable,
)
from tests.unit.archives import (
    INDEX,
    MANIFEST,
    check_layers,
    content_store,
    oci_archive,
    oci_image,
)


def blobs_of(root: Path) -> Path:
    return root / "containerd/daemon/io.containerd.content.v1.content/blobs/sha256"


def read(inspect, root):
    manifest, entries_of = containerd.open_image(inspect, root)
    return manifest, stack_layers(manifest, entries_of)


@pytest.mark.parametrize("nested", [True, False], ids=["buildkit-index", "single-manifest"])
def test_content_store_gives_the_records_of_docker_save(tmp_path, nested):
    image = oci_image(tmp_path, ("tar", "zstd", "gzip"), nested=nested)
    root = tmp_path / "docker"
    inspect = content_store(root, image)
    manifest, layers = read(inspect, root)
    assert manifest.layout == CONTAINERD
    assert (manifest.image_id, manifest.config_digest) == (image.target, image.config_digest)
    assert manifest.repo_tags == ("demo:1",)
    assert all(layer.member.startswith(str(blobs_of(root))) for layer in manifest.layers)
    check_layers(layers)
    saved = read_file(oci_archive(tmp_path, image, with_manifest_json=False))
    assert saved.manifest.history == manifest.history
    for a, b in zip(saved.layers, layers, strict=True):
        assert (a.index, a.diff_id, a.history, a.entries, a.changes) == (
            b.index,
            b.diff_id,
            b.history,
            b.entries,
            b.changes,
        )


def test_an_absent_platform_and_attestations_are_skipped(tmp_path):
    """An index whose first manifest is another platform's, with no content here."""
    image = oci_image(tmp_path, ("gzip", "gzip", "gzip"), nested=True)
    root = tmp_path / "docker"
    inspect = content_store(root, image)
    inner = json.loads(image.json_blobs[image.target])
    inner["manifests"].insert(
        0,
        {
            "mediaType": MANIFEST,
            "digest": "sha256:" + "a" * 64,
            "platform": {"os": "linux", "architecture": "arm64"},
        },
    )
    data = json.dumps({**inner, "mediaType": INDEX}).encode()
    target = "sha256:" + hashlib.sha256(data).hexdigest()
    (blobs_of(root) / target.split(":")[1]).write_bytes(data)
    manifest, layers = read({**inspect, "Id": target, "Architecture": "arm64"}, root)
    assert manifest.image_id == target
    check_layers(layers)


def test_a_missing_layer_blob_says_so(tmp_path):
    image = oci_image(tmp_path)
    root = tmp_path / "docker"
    inspect = content_store(root, image)
    (blobs_of(root) / image.layer_digests[1].split(":")[1]).unlink()
    with pytest.raises(LayerFileMissing, match="not in the content store"):
        containerd.open_image(inspect, root)


def test_a_blob_that_is_not_its_digest_is_not_read(tmp_path):
    image = oci_image(tmp_path)
    root = tmp_path / "docker"
    inspect = content_store(root, image)
    (blobs_of(root) / image.config_digest.split(":")[1]).write_text('{"history": []}')
    with pytest.raises(NotAvailable, match="does not hold"):
        containerd.open_image(inspect, root)


def test_layers_of_another_image_are_not_taken(tmp_path):
    image = oci_image(tmp_path)
    root = tmp_path / "docker"
    inspect = content_store(root, image)
    other = {**inspect, "RootFS": {"Layers": image.diff_ids[:2]}}
    with pytest.raises(NotAvailable, match="has the image's layers"):
        containerd.open_image(other, root)


def test_no_content_store_here(tmp_path):
    image = oci_image(tmp_path)
    inspect = content_store(tmp_path / "elsewhere", image)
    with pytest.raises(NotAvailable, match="no containerd content store on this machine"):
        containerd.open_image(inspect, tmp_path / "docker")
    assert containerd.content_roots(tmp_path)[1] == (
        containerd.SYSTEM_ROOT / containerd.CONTENT_PLUGIN
    )


@pytest.mark.parametrize("workers", [2, 3])
def test_layers_listed_at_once_give_the_records_listed_in_turn(tmp_path, workers):
    """The dispatcher lists layers on several threads (gzip lets go of the GIL); the stacking
    stays in order, so the records are the same, and a bad layer's error still surfaces."""
    image = oci_image(tmp_path, ("gzip", "zstd", "gzip"))
    root = tmp_path / "docker"
    inspect = content_store(root, image)
    manifest, entries_of = containerd.open_image(inspect, root)
    in_turn = stack_layers(manifest, entries_of)
    at_once = stack_layers(manifest, entries_of, workers=workers)
    assert at_once == in_turn
    check_layers(at_once)
    (blobs_of(root) / image.layer_digests[1].split(":")[1]).write_bytes(b"\x28\xb5\x2f\xfd junk")
    with pytest.raises(ArchiveError, match="cannot read layer"):
        stack_layers(manifest, entries_of, workers=workers)
