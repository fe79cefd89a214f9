"""Reading `docker save` archives: hand-made legacy and OCI layouts, plus recordings.

OCI archives get layer blobs that are plain tar, gzip or zstd, in every mix, with true media
types, lying ones and none (manifest.json names no type): the reader goes by the magic bytes.
The recordings in tests/recordings/images/ are real answers of this machine's Engine 20.10 for
iris-model:1.0 (`inspect_image`, `history`, and the manifest.json and config of `docker save`).
The history parsing of images.py is tested here too, since the archive maps layers onto it.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import urllib3
import zstandard

from dashboard.engine.analysis.images import clean_created_by, report_from_api
from dashboard.engine.analysis.layerfiles import docker_save
from dashboard.engine.analysis.layerfiles.docker_save import read_file
from dashboard.engine.analysis.layerfiles.layertar import Compression, compression_of
from dashboard.engine.analysis.layerfiles.records import LEGACY, OCI, ArchiveError
from tests.unit.archives import (
    LAYERS,
    MEDIA_TYPES,
    F,
    add_bytes,
    add_file,
    by_path,
    check_layers,
    compress,
    layer_tar,
    legacy_archive,
    oci_archive,
    oci_image,
)

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings" / "images"


def test_legacy_layout(tmp_path):
    saved = read_file(legacy_archive(tmp_path))
    manifest = saved.manifest
    assert manifest.layout == LEGACY
    assert manifest.repo_tags == ("demo:1",)
    assert manifest.image_id == "sha256:cafe"
    assert manifest.config_digest.startswith("sha256:") and len(manifest.config_digest) == 71
    assert manifest.layers[1].member.endswith("/layer.tar")
    check_layers(list(saved.layers))


MIXES = [("tar", "gzip", "tar"), ("zstd", "zstd", "zstd"), ("gzip", "zstd", "tar")]


@pytest.mark.parametrize("compressions", MIXES, ids="-".join)
@pytest.mark.parametrize("with_manifest_json", [True, False], ids=["manifest.json", "index.json"])
def test_oci_layout_with_plain_gzip_and_zstd_layers(tmp_path, compressions, with_manifest_json):
    image = oci_image(tmp_path, compressions)
    path = oci_archive(tmp_path, image, with_manifest_json)
    saved = read_file(path)
    manifest = saved.manifest
    assert manifest.layout == OCI
    assert manifest.config_digest == image.config_digest
    assert all(layer.member.startswith("blobs/sha256/") for layer in manifest.layers)
    # manifest.json without LayerSources (the containerd store's): types from the OCI one
    assert [layer.media_type for layer in manifest.layers] == [
        MEDIA_TYPES[kind] for kind in compressions
    ]
    if not with_manifest_json:
        assert manifest.repo_tags == ("docker.io/library/demo:1",)
    with tarfile.open(path) as tar:
        for layer, kind in zip(manifest.layers, compressions, strict=True):
            with tar.extractfile(layer.member) as blob:
                assert compression_of(blob.read(6)) == Compression(kind)  # really compressed
    check_layers(list(saved.layers))


def test_media_types_that_lie_are_not_believed(tmp_path):
    """gzip said to be zstd, zstd said to be a plain tar, a plain tar said to be gzip."""
    lies = (MEDIA_TYPES["zstd"], MEDIA_TYPES["tar"], MEDIA_TYPES["gzip"])
    image = oci_image(tmp_path, ("gzip", "zstd", "tar"), media_types=lies)
    saved = read_file(oci_archive(tmp_path, image, with_manifest_json=False))
    assert [layer.media_type for layer in saved.manifest.layers] == list(lies)
    check_layers(list(saved.layers))


def test_engine_25_manifest_json_names_the_media_types(tmp_path):
    """Engine 25+ adds LayerSources (by diff id) to manifest.json; the types are kept."""
    image = oci_image(tmp_path, ("tar", "zstd", "gzip"))
    path = oci_archive(tmp_path, image)
    entry = {
        "Config": "blobs/sha256/" + image.config_digest.split(":")[1],
        "RepoTags": ["demo:1"],
        "Layers": ["blobs/sha256/" + d.split(":")[1] for d in image.layer_digests],
        "LayerSources": {
            diff_id: {"mediaType": MEDIA_TYPES[kind], "digest": digest}
            for diff_id, digest, kind in zip(
                image.diff_ids, image.layer_digests, ("tar", "zstd", "gzip"), strict=True
            )
        },
    }
    with tarfile.open(path, "a") as tar:  # a second manifest.json wins over the first
        add_bytes(tar, "manifest.json", json.dumps([entry]).encode())
    saved = read_file(path)
    assert [layer.media_type for layer in saved.manifest.layers] == [
        MEDIA_TYPES[k] for k in ("tar", "zstd", "gzip")
    ]
    check_layers(list(saved.layers))


def test_oci_nested_index_skips_attestations(tmp_path):
    image = oci_image(tmp_path, ("zstd", "gzip", "tar"), nested=True)
    check_layers(list(read_file(oci_archive(tmp_path, image, with_manifest_json=False)).layers))


def test_not_an_archive(tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ArchiveError):
        read_file(junk)
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w") as tar:
        add_bytes(tar, "hello.txt", b"hi")
    with pytest.raises(ArchiveError, match="manifest"):
        read_file(empty)


def _replace_layer(path: Path, suffix: str, data: Path | bytes, out: Path) -> Path:
    """`path` with the member ending in `suffix` replaced by `data`."""
    with tarfile.open(path) as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            if not member.name.endswith(suffix):
                dst.addfile(member, src.extractfile(member))
            elif isinstance(data, bytes):
                add_bytes(dst, member.name, data)
            else:
                add_file(dst, member.name, data)
    return out


@pytest.mark.parametrize("damage", ["garbage", "truncated-gzip", "truncated-zstd"])
def test_unreadable_layer_is_an_archive_error(tmp_path, damage):
    path = legacy_archive(tmp_path)
    if damage == "garbage":
        bad = b"not a tar" * 300
    else:
        big = layer_tar([F("a.bin", 1 << 20), F("b.bin", 1 << 20)], tmp_path / "big.tar")
        if damage == "truncated-gzip":
            whole = gzip.compress(big.read_bytes(), compresslevel=0)
        else:
            whole = zstandard.ZstdCompressor(level=1).compress(big.read_bytes())
        bad = whole[: len(whole) // 2]
    repacked = _replace_layer(path, "2/layer.tar", bad, tmp_path / "bad.tar")
    with pytest.raises(ArchiveError, match="cannot read"):
        read_file(repacked)


def test_layer_count_must_match_config(tmp_path):
    path = legacy_archive(tmp_path, layers=LAYERS[:2])
    with tarfile.open(path, "a") as tar:  # a second manifest.json wins over the first
        add_bytes(
            tar, "manifest.json", json.dumps([{"Config": "cafe.json", "Layers": []}]).encode()
        )
    with pytest.raises(ArchiveError, match="diff ids"):
        read_file(path)


# --- the daemon's stream: read as it arrives ---------------------------------------------------


def chunks_of(path: Path, size: int) -> Iterator[bytes]:
    """The file at `path` as the daemon's answer arrives: chunks of `size` bytes."""
    with path.open("rb") as f:
        while block := f.read(size):
            yield block


def records(layers) -> list[tuple]:
    return [(x.index, x.diff_id, x.member, x.history, x.entries, x.changes) for x in layers]


@pytest.mark.parametrize("size", [7, 512, 4097], ids=lambda n: f"{n}B-chunks")
@pytest.mark.parametrize("layout", ["legacy", "oci-gzip-zstd-tar"])
def test_a_stream_in_any_chunks_gives_the_records_of_the_file(tmp_path, layout, size):
    """Chunks that cut headers, blobs and JSON anywhere: the records are those of the archive
    read from disk, and every byte is counted."""
    if layout == "legacy":
        path = legacy_archive(tmp_path)
    else:
        path = oci_archive(tmp_path, oci_image(tmp_path, ("gzip", "zstd", "tar")), False)
    on_disk = read_file(path)
    reader = docker_save.ChunkReader(chunks_of(path, size))
    manifest, layers = docker_save.read_stream(reader)
    assert reader.bytes_read == path.stat().st_size == on_disk.archive_bytes
    assert manifest == on_disk.manifest
    assert records(layers) == records(on_disk.layers)
    check_layers(layers)


def test_the_stream_is_read_front_to_back_only():
    reader = docker_save.ChunkReader([b"abc", b"defg", b"h"])
    assert reader.read(2) == b"ab" and reader.read(4) == b"cdef"  # across chunks, in full
    assert reader.seek(7) == 7 and reader.tell() == 7
    with pytest.raises(io.UnsupportedOperation):
        reader.seek(3)
    assert reader.read() == b"h" and reader.read(5) == b"" and reader.bytes_read == 8


def test_a_stream_that_breaks_off_or_is_no_tar_says_so():
    """A daemon's answer that fails halfway: the error reaches the caller; junk is no archive."""

    def breaks_off():
        yield b"\0" * 100
        raise ConnectionResetError("the daemon went away")

    with pytest.raises(ConnectionResetError):
        docker_save.read_stream(docker_save.ChunkReader(breaks_off()))

    def endless_junk():
        while True:
            yield b"not a tar " * 1000

    with pytest.raises(ArchiveError):
        docker_save.read_stream(docker_save.ChunkReader(endless_junk()))


def test_save_says_when_the_daemons_answer_breaks_off(tmp_path):
    """`save` over a stand-in API whose answer stops halfway (urllib3's error, as docker-py's
    raw stream raises it): an ArchiveError naming the command, not a socket error."""
    whole = legacy_archive(tmp_path).read_bytes()

    def get_image(ref, chunk_size):
        yield whole[: len(whole) // 2]
        raise urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead")

    client = SimpleNamespace(api=SimpleNamespace(get_image=get_image))
    with pytest.raises(ArchiveError, match=r"`docker save demo:1` broke off: .*IncompleteRead"):
        docker_save.save(client, "demo:1")


@pytest.mark.parametrize("kind", ["tar", "gzip", "zstd"])
@pytest.mark.parametrize("streamed", [False, True], ids=["file", "stream"])
def test_file_contents_are_never_held_in_memory(tmp_path, kind, streamed):
    big = 48 << 20
    layers = [[F("data/", kind="dir"), F("data/big.bin", big)], [F("data/.wh.big.bin")]]
    history = [{"created_by": "/bin/sh -c #(nop) ADD big"}, {"created_by": "/bin/sh -c rm big"}]
    path = legacy_archive(tmp_path, layers=layers, history=history)
    if kind != "tar":  # rewrite layer 0 compressed: the reader must decompress it as a stream
        blob = compress(layer_tar(layers[0], tmp_path / "c.tar"), kind)
        path = _replace_layer(path, "1/layer.tar", blob, tmp_path / f"{kind}.tar")
    tracemalloc.start()
    try:
        if streamed:  # 256 KiB chunks
            _, files = docker_save.read_stream(docker_save.ChunkReader(chunks_of(path, 1 << 18)))
        else:
            files = read_file(path).layers
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert files[0].size_bytes == big
    assert by_path(files[1].removed)["/data/big.bin"].size == big
    assert peak < 4 << 20, f"peak Python memory {peak} bytes for a {big}-byte layer"


# --- recordings of this daemon ---------------------------------------------------------------


def recording(name: str):
    return json.loads((RECORDINGS / name).read_text())


def test_recorded_save_maps_layers_to_history(tmp_path):
    """The real manifest.json and config of `docker save iris-model:1.0`, with tiny layers."""
    manifest = recording("iris-save-manifest.json")
    config = recording("iris-save-config.json")
    entry = manifest[0]
    out = tmp_path / "iris.tar"
    with tarfile.open(out, "w") as tar:
        for i, member in enumerate(entry["Layers"]):
            add_file(tar, member, layer_tar([F(f"layer{i}.txt", i + 1)], tmp_path / f"{i}.tar"))
        add_bytes(tar, entry["Config"], json.dumps(config).encode())
        add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    saved = read_file(out, ref="iris-model:1.0")
    assert saved.manifest.layout == LEGACY
    assert saved.manifest.image_id == "sha256:" + entry["Config"].removesuffix(".json")
    commands = [layer.created_by for layer in saved.layers]
    assert commands[0] == "Imported from -"
    assert commands[1] == "WORKDIR /app"  # a real (empty) layer on the classic builder
    assert commands[2].startswith("COPY file:")
    assert commands[3] == "RUN pip install --no-cache-dir -r requirements.txt"
    assert commands[4].startswith("COPY file:")
    assert len(commands) == 5


def test_recorded_history_report():
    inspect = recording("iris-inspect.json")
    report = report_from_api("iris-model:1.0", inspect, recording("iris-history.json"))
    assert report.id == inspect["Id"]
    assert report.tags == ("iris-model:1.0",)
    assert report.labels["io.dockerml.dashboard.lab"] == "iris"
    assert report.layers_size_bytes == report.size_bytes == inspect["Size"]
    assert [layer.index for layer in report.layers] == list(range(len(report.layers)))
    assert report.layers[0].comment == "Imported from -"  # oldest first
    assert report.largest_layer.created_by.startswith("RUN pip install")
    by_instruction = {layer.instruction: layer for layer in report.layers}
    assert by_instruction["ENV"].empty and by_instruction["ENV"].has_layer is False
    assert by_instruction["WORKDIR"].empty and by_instruction["WORKDIR"].has_layer is True
    assert not by_instruction["RUN"].empty and by_instruction["RUN"].has_layer is True
    assert sum(bool(layer.has_layer) for layer in report.layers) == len(report.rootfs_layers)
    assert all("#(nop)" not in layer.created_by for layer in report.layers)
    assert report.layers[-1].tags == ("iris-model:1.0",)
    assert report.created is not None and report.created.year == 2026


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("/bin/sh -c #(nop)  ENV PYTHONUNBUFFERED=1", "ENV PYTHONUNBUFFERED=1"),
        ("/bin/sh -c #(nop) COPY file:16fa in . ", "COPY file:16fa in ."),
        ("/bin/sh -c pip install -r requirements.txt", "RUN pip install -r requirements.txt"),
        ("|1 PIP=24 /bin/sh -c pip install x", "RUN PIP=24 pip install x"),
        ("RUN /bin/sh -c apt-get update # buildkit", "RUN apt-get update"),
        ("COPY . /app # buildkit", "COPY . /app"),
        ("", ""),
    ],
)
def test_clean_created_by(raw, clean):
    assert clean_created_by(raw) == clean
