"""Reading `docker save` archives: synthetic legacy and OCI layouts made here, plus recordings.

The recordings in tests/recordings/images/ are real answers of this machine's Engine 20.10 for
iris-model:1.0 (`inspect_image`, `history`, and the manifest.json and config of `docker save`).
The history parsing of images.py is tested here too, since the archive maps layers onto it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dashboard.engine import image_archive as ia
from dashboard.engine.image_archive import ChangeKind, ImageArchive, TarEntry
from dashboard.engine.images import clean_created_by, report_from_api

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings" / "images"


# --- building synthetic archives -------------------------------------------------------------


@dataclass
class F:
    """One member of a synthetic layer: a file (size bytes of zeros), dir, symlink or marker."""

    name: str
    size: int = 0
    kind: str = "file"  # file | dir | symlink
    target: str = ""


@dataclass
class Zeros:
    """A file object of `size` zero bytes that never exists in memory as a whole."""

    size: int
    pos: int = field(default=0)

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.pos if n < 0 else min(n, self.size - self.pos)
        self.pos += n
        return b"\0" * n


def layer_tar(members: list[F], path: Path) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            info = tarfile.TarInfo(m.name)
            if m.kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif m.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, m.target
                tar.addfile(info)
            else:
                info.size = m.size
                tar.addfile(info, Zeros(m.size))
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def gzip_file(src: Path, dst: Path) -> Path:
    with src.open("rb") as f, gzip.open(dst, "wb") as out:
        for block in iter(lambda: f.read(1 << 20), b""):
            out.write(block)
    return dst


HISTORY = [
    {"created": "2026-11-28T14:01:11.953304185Z", "comment": "Imported from -"},
    {"created_by": "/bin/sh -c #(nop)  ENV A=1", "empty_layer": True},
    {"created_by": "/bin/sh -c #(nop) COPY dir:abc in /data "},
    {"created_by": '/bin/sh -c #(nop)  CMD ["python"]', "empty_layer": True},
    {"created_by": "/bin/sh -c rm /etc/conf && rm -rf /cache/* && touch /cache/fresh"},
]

LAYERS = [
    [
        F("./", kind="dir"),
        F("./etc/", kind="dir"),
        F("./etc/conf", 100),
        F("./.bashrc", 7),
        F("./data/", kind="dir"),
        F("./data/old.bin", 500),
        F("./data/keep.txt", 10),
        F("./cache/", kind="dir"),
        F("./cache/a", 50),
        F("./cache/sub/", kind="dir"),
        F("./cache/sub/b", 70),
        F("./cache/old/", kind="dir"),
        F("./cache/old/x", 30),
    ],
    [
        F("data/", kind="dir"),
        F("data/old.bin", 800),
        F("data/new.txt", 5),
        F("data/link", kind="symlink", target="new.txt"),
    ],
    [
        F("etc/", kind="dir"),
        F("etc/.wh.conf"),
        F("cache/", kind="dir"),
        F("cache/.wh..wh..opq"),
        F("cache/fresh", 3),
        F("cache/sub/", kind="dir"),  # kept: re-created by this layer under the opaque dir
    ],
]


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def add_file(tar: tarfile.TarFile, name: str, path: Path) -> None:
    info = tarfile.TarInfo(name)
    info.size = path.stat().st_size
    with path.open("rb") as f:
        tar.addfile(info, f)


def legacy_archive(tmp_path: Path, layers=LAYERS, history=HISTORY) -> Path:
    tars = [layer_tar(m, tmp_path / f"l{i}.tar") for i, m in enumerate(layers)]
    config = {"history": history, "rootfs": {"type": "layers", "diff_ids": []}}
    config["rootfs"]["diff_ids"] = [sha256_file(t) for t in tars]
    ids = [f"{i:064x}" for i in range(1, len(tars) + 1)]
    out = tmp_path / "legacy.tar"
    with tarfile.open(out, "w") as tar:
        for layer_id, path in zip(ids, tars, strict=True):
            add_bytes(tar, f"{layer_id}/VERSION", b"1.0")
            add_file(tar, f"{layer_id}/layer.tar", path)
        add_bytes(tar, "cafe.json", json.dumps(config).encode())
        manifest = [
            {
                "Config": "cafe.json",
                "RepoTags": ["demo:1"],
                "Layers": [f"{i}/layer.tar" for i in ids],
            }
        ]
        add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    return out


def oci_archive(tmp_path: Path, with_manifest_json: bool = True, nested: bool = False) -> Path:
    """Engine 25+ style: blobs/sha256/..., layer 1 gzip-compressed, the others plain."""
    plain = [layer_tar(m, tmp_path / f"o{i}.tar") for i, m in enumerate(LAYERS)]
    blobs = [gzip_file(p, tmp_path / "o1.tar.gz") if i == 1 else p for i, p in enumerate(plain)]
    media = [
        "application/vnd.oci.image.layer.v1.tar+gzip"
        if i == 1
        else "application/vnd.oci.image.layer.v1.tar"
        for i in range(len(blobs))
    ]
    config = {"history": HISTORY, "rootfs": {"type": "layers"}}
    config["rootfs"]["diff_ids"] = [sha256_file(p) for p in plain]
    config_bytes = json.dumps(config).encode()
    config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    layer_digests = [sha256_file(b) for b in blobs]
    image_manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
        },
        "layers": [
            {"mediaType": m, "digest": d, "size": b.stat().st_size}
            for m, d, b in zip(media, layer_digests, blobs, strict=True)
        ],
    }
    manifest_bytes = json.dumps(image_manifest).encode()
    manifest_digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
    top = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest,
        "annotations": {"io.containerd.image.name": "docker.io/library/demo:1"},
    }
    blobs_json = {config_digest: config_bytes, manifest_digest: manifest_bytes}
    if nested:
        inner_index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": "sha256:" + "0" * 64,
                    "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
                },
                {k: v for k, v in top.items() if k != "annotations"},
            ],
        }
        inner_bytes = json.dumps(inner_index).encode()
        inner_digest = "sha256:" + hashlib.sha256(inner_bytes).hexdigest()
        blobs_json[inner_digest] = inner_bytes
        top = {
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": inner_digest,
            "annotations": {"io.containerd.image.name": "docker.io/library/demo:1"},
        }
    out = tmp_path / "oci.tar"
    with tarfile.open(out, "w") as tar:
        add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for digest, data in blobs_json.items():
            add_bytes(tar, "blobs/sha256/" + digest.split(":")[1], data)
        for digest, blob in zip(layer_digests, blobs, strict=True):
            add_file(tar, "blobs/sha256/" + digest.split(":")[1], blob)
        add_bytes(tar, "index.json", json.dumps({"schemaVersion": 2, "manifests": [top]}).encode())
        if with_manifest_json:
            manifest = [
                {
                    "Config": "blobs/sha256/" + config_digest.split(":")[1],
                    "RepoTags": ["demo:1"],
                    "Layers": ["blobs/sha256/" + d.split(":")[1] for d in layer_digests],
                }
            ]
            add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    return out


# --- the layer file lists --------------------------------------------------------------------


def by_path(changes) -> dict[str, ia.FileChange]:
    return {c.path: c for c in changes}


def check_layers(layers: list[ia.LayerFiles]) -> None:
    assert [layer.index for layer in layers] == [0, 1, 2]
    base, copy, cleanup = layers

    assert base.created_by == "Imported from -"
    assert {c.kind for c in base.changes} == {ChangeKind.ADDED}
    assert by_path(base.added)["/.bashrc"].size == 7  # a leading dot is not a "./" prefix
    assert by_path(base.added)["/cache/sub/b"].size == 70
    assert "/" not in by_path(base.changes)
    assert base.size_bytes == 100 + 7 + 500 + 10 + 50 + 70 + 30

    assert copy.history is not None and copy.history.index == 2
    assert copy.created_by == "COPY dir:abc in /data"
    assert set(by_path(copy.added)) == {"/data/new.txt", "/data/link"}
    assert by_path(copy.added)["/data/link"].size == 0
    modified = by_path(copy.modified)
    assert set(modified) == {"/data", "/data/old.bin"}
    assert (modified["/data/old.bin"].size, modified["/data/old.bin"].previous_size) == (800, 500)
    assert not copy.removed

    assert cleanup.history is not None and cleanup.history.index == 4
    assert cleanup.created_by.startswith("RUN rm /etc/conf")
    removed = by_path(cleanup.removed)
    assert set(removed) == {"/etc/conf", "/cache/a", "/cache/old"}  # whiteout + opaque dir
    assert removed["/etc/conf"].size == 100 and not removed["/etc/conf"].is_dir
    assert removed["/cache/old"].size == 30 and removed["/cache/old"].is_dir
    assert set(by_path(cleanup.added)) == {"/cache/fresh"}
    assert {"/cache", "/cache/sub"} <= set(by_path(cleanup.modified))
    assert {e.path for e in cleanup.entries if e.whiteout} == {"/etc/conf"}
    assert {e.path for e in cleanup.entries if e.opaque} == {"/cache"}


def test_legacy_layout(tmp_path):
    with ImageArchive(legacy_archive(tmp_path)) as archive:
        manifest = archive.manifest
        assert manifest.layout == ia.LEGACY
        assert manifest.repo_tags == ("demo:1",)
        assert manifest.image_id == "sha256:cafe"
        assert manifest.layers[1].member.endswith("/layer.tar")
        check_layers(archive.layer_files())


@pytest.mark.parametrize("with_manifest_json", [True, False], ids=["manifest.json", "index.json"])
def test_oci_layout_with_a_gzip_layer(tmp_path, with_manifest_json):
    with ImageArchive(oci_archive(tmp_path, with_manifest_json)) as archive:
        manifest = archive.manifest
        assert manifest.layout == ia.OCI
        assert all(layer.member.startswith("blobs/sha256/") for layer in manifest.layers)
        if not with_manifest_json:
            assert manifest.layers[1].media_type.endswith("+gzip")
            assert manifest.repo_tags == ("docker.io/library/demo:1",)
        with archive._tar.extractfile(manifest.layers[1].member) as blob:
            assert blob.read(2) == b"\x1f\x8b"  # really compressed
        check_layers(archive.layer_files())


def test_oci_nested_index_skips_attestations(tmp_path):
    with ImageArchive(oci_archive(tmp_path, with_manifest_json=False, nested=True)) as archive:
        check_layers(archive.layer_files())


def test_temporary_archive_is_deleted_on_close(tmp_path):
    path = legacy_archive(tmp_path)
    with ImageArchive(path, delete=True) as archive:
        archive.layer_files()
    assert not path.exists()


def test_not_an_archive(tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ia.ArchiveError):
        ImageArchive(junk)
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w") as tar:
        add_bytes(tar, "hello.txt", b"hi")
    with ImageArchive(empty) as archive, pytest.raises(ia.ArchiveError, match="manifest"):
        _ = archive.manifest


@pytest.mark.parametrize("damage", ["garbage", "truncated-gzip"])
def test_unreadable_layer_is_an_archive_error(tmp_path, damage):
    path = legacy_archive(tmp_path)
    if damage == "garbage":
        bad = b"not a tar" * 300
    else:
        big = layer_tar([F("a.bin", 1 << 20)], tmp_path / "big.tar")
        whole = gzip.compress(big.read_bytes(), compresslevel=0)
        bad = whole[: len(whole) // 2]
    repacked = tmp_path / "bad.tar"
    with tarfile.open(path) as src, tarfile.open(repacked, "w") as dst:
        for member in src.getmembers():
            if member.name.endswith("2/layer.tar"):
                add_bytes(dst, member.name, bad)
            else:
                dst.addfile(member, src.extractfile(member))
    with ImageArchive(repacked) as archive, pytest.raises(ia.ArchiveError, match="cannot read"):
        archive.layer_files()


def test_layer_count_must_match_config(tmp_path):
    path = legacy_archive(tmp_path, layers=LAYERS[:2])
    with tarfile.open(path, "a") as tar:  # a second manifest.json wins over the first
        add_bytes(
            tar, "manifest.json", json.dumps([{"Config": "cafe.json", "Layers": []}]).encode()
        )
    with ImageArchive(path) as archive, pytest.raises(ia.ArchiveError, match="diff ids"):
        _ = archive.manifest


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_file_contents_are_never_held_in_memory(tmp_path, compress):
    big = 48 << 20
    layers = [[F("data/", kind="dir"), F("data/big.bin", big)], [F("data/.wh.big.bin")]]
    history = [{"created_by": "/bin/sh -c #(nop) ADD big"}, {"created_by": "/bin/sh -c rm big"}]
    path = legacy_archive(tmp_path, layers=layers, history=history)
    if compress:  # rewrite layer 0 gzipped: the reader must decompress it as a stream
        repacked = tmp_path / "gz.tar"
        with tarfile.open(path) as src, tarfile.open(repacked, "w") as dst:
            for member in src.getmembers():
                handle = src.extractfile(member)
                if member.name.endswith("1/layer.tar"):
                    gz = gzip_file(layer_tar(layers[0], tmp_path / "g.tar"), tmp_path / "g.gz")
                    add_file(dst, member.name, gz)
                else:
                    dst.addfile(member, handle)
        path = repacked
    tracemalloc.start()
    try:
        with ImageArchive(path) as archive:
            files = archive.layer_files()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert files[0].size_bytes == big
    assert by_path(files[1].removed)["/data/big.bin"].size == big
    assert peak < 4 << 20, f"peak Python memory {peak} bytes for a {big}-byte layer"


def test_entry_from_tarinfo_names():
    def entry(name: str, kind=tarfile.REGTYPE, size=0):
        info = tarfile.TarInfo(name)
        info.type, info.size = kind, size
        return ia.entry_from_tarinfo(info)

    assert entry("./", tarfile.DIRTYPE) is None
    assert entry("usr/.wh..wh.plnk") is None  # aufs bookkeeping
    assert entry("a/b/.wh..wh..opq") == TarEntry("/a/b", 0, is_dir=True, opaque=True)
    assert entry("./a/.wh.c") == TarEntry("/a/c", 0, whiteout=True)
    assert entry("a/file", size=12) == TarEntry("/a/file", 12)
    hardlink = tarfile.TarInfo("a/h")
    hardlink.type, hardlink.linkname, hardlink.size = tarfile.LNKTYPE, "a/file", 0
    assert ia.entry_from_tarinfo(hardlink) == TarEntry("/a/h", 0, link="a/file")


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
    with ImageArchive(out, ref="iris-model:1.0") as archive:
        assert archive.manifest.layout == ia.LEGACY
        assert archive.manifest.image_id == "sha256:" + entry["Config"].removesuffix(".json")
        commands = [layer.created_by for layer in archive.layer_files()]
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
