"""Hand-made images for the layer analysis tests: layer tars, `docker save` archives (legacy and
OCI, with plain, gzip or zstd layer blobs) and a containerd content store holding the same blobs.

`LAYERS` and `HISTORY` describe one small image whose layers add, overwrite, link, remove by
whiteout and hide by an opaque directory; `check_layers` asserts what a reader must make of it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from dashboard.engine.analysis.layerfiles.records import ChangeKind, FileChange, LayerFiles

TAR = "application/vnd.oci.image.layer.v1.tar"
MEDIA_TYPES = {"tar": TAR, "gzip": TAR + "+gzip", "zstd": TAR + "+zstd"}
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"


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


def compress(src: Path, kind: str) -> Path:
    """`src` as a blob compressed with `kind` ("tar": as is, "gzip", "zstd"), streamed."""
    if kind == "tar":
        return src
    dst = src.with_suffix(f".{kind}")
    with src.open("rb") as f, dst.open("wb") as raw:
        out = gzip.GzipFile(fileobj=raw, mode="wb") if kind == "gzip" else None
        if out is None:
            out = zstandard.ZstdCompressor().stream_writer(raw, closefd=False)
        with out:
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


def by_path(changes) -> dict[str, FileChange]:
    return {c.path: c for c in changes}


def check_layers(layers: list[LayerFiles]) -> None:
    """What every reader must make of LAYERS and HISTORY."""
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


def _json_blob(blobs: dict[str, bytes], document: dict) -> str:
    data = json.dumps(document).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return digest


@dataclass
class OciImage:
    """The blobs of one OCI image, as Engine 25+ writes them into `docker save`."""

    json_blobs: dict[str, bytes]  # digest -> bytes: index, manifest, config
    layer_blobs: dict[str, Path]  # digest -> file
    layer_digests: list[str]
    config_digest: str
    target: str  # the digest index.json points at: the image's id on the containerd store
    top: dict  # index.json's descriptor of `target`
    diff_ids: list[str]


def oci_image(
    tmp_path: Path,
    compressions: tuple[str, ...] = ("tar", "gzip", "tar"),
    media_types: tuple[str, ...] | None = None,
    nested: bool = False,
    layers=LAYERS,
    history=HISTORY,
) -> OciImage:
    """Layer i compressed with compressions[i], described as media_types[i] (default: the
    true type; pass another to make the manifest lie). `nested`: an index with a BuildKit
    attestation in front of the image manifest, as BuildKit writes it."""
    plain = [layer_tar(m, tmp_path / f"o{i}.tar") for i, m in enumerate(layers)]
    blobs = [compress(p, kind) for p, kind in zip(plain, compressions, strict=True)]
    media = list(media_types or [MEDIA_TYPES[kind] for kind in compressions])
    json_blobs: dict[str, bytes] = {}
    diff_ids = [sha256_file(p) for p in plain]
    config_digest = _json_blob(json_blobs, {"history": history, "rootfs": {"diff_ids": diff_ids}})
    layer_digests = [sha256_file(b) for b in blobs]
    manifest_digest = _json_blob(
        json_blobs,
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": config_digest},
            "layers": [
                {"mediaType": m, "digest": d, "size": b.stat().st_size}
                for m, d, b in zip(media, layer_digests, blobs, strict=True)
            ],
        },
    )
    name = {"io.containerd.image.name": "docker.io/library/demo:1"}
    top = {"mediaType": MANIFEST, "digest": manifest_digest, "annotations": name}
    if nested:
        attestation = _json_blob(json_blobs, {"schemaVersion": 2, "layers": [], "config": {}})
        inner = _json_blob(
            json_blobs,
            {
                "schemaVersion": 2,
                "mediaType": INDEX,
                "manifests": [
                    {
                        "mediaType": MANIFEST,
                        "digest": attestation,
                        "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
                        "platform": {"os": "unknown", "architecture": "unknown"},
                    },
                    {
                        "mediaType": MANIFEST,
                        "digest": manifest_digest,
                        "platform": {"os": "linux", "architecture": "amd64"},
                    },
                ],
            },
        )
        top = {"mediaType": INDEX, "digest": inner, "annotations": name}
    return OciImage(
        json_blobs=json_blobs,
        layer_blobs=dict(zip(layer_digests, blobs, strict=True)),
        layer_digests=layer_digests,
        config_digest=config_digest,
        target=top["digest"],
        top=top,
        diff_ids=diff_ids,
    )


def oci_archive(tmp_path: Path, image: OciImage, with_manifest_json: bool = True) -> Path:
    """`docker save` of Engine 25+: blobs/sha256/..., index.json, usually manifest.json."""
    out = tmp_path / "oci.tar"
    with tarfile.open(out, "w") as tar:
        add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for digest, data in image.json_blobs.items():
            add_bytes(tar, "blobs/sha256/" + digest.split(":")[1], data)
        for digest, blob in image.layer_blobs.items():
            add_file(tar, "blobs/sha256/" + digest.split(":")[1], blob)
        index = {"schemaVersion": 2, "manifests": [image.top]}
        add_bytes(tar, "index.json", json.dumps(index).encode())
        if with_manifest_json:
            manifest = [
                {
                    "Config": "blobs/sha256/" + image.config_digest.split(":")[1],
                    "RepoTags": ["demo:1"],
                    "Layers": ["blobs/sha256/" + d.split(":")[1] for d in image.layer_digests],
                }
            ]
            add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    return out


def content_store(docker_root: Path, image: OciImage) -> dict:
    """The image's blobs in a containerd content store under `docker_root` (dockerd's own
    containerd), and the `docker image inspect` the containerd image store gives for it."""
    blobs = docker_root / "containerd/daemon/io.containerd.content.v1.content/blobs/sha256"
    blobs.mkdir(parents=True)
    for digest, data in image.json_blobs.items():
        (blobs / digest.split(":")[1]).write_bytes(data)
    for digest, path in image.layer_blobs.items():
        (blobs / digest.split(":")[1]).write_bytes(path.read_bytes())
    return {
        "Id": image.target,
        "RepoTags": ["demo:1"],
        "Os": "linux",
        "Architecture": "amd64",
        "GraphDriver": {"Name": "overlayfs", "Data": None},
        "RootFS": {"Type": "layers", "Layers": image.diff_ids},
    }
