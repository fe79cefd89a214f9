"""The reader of the containerd image store: the layer blobs in containerd's content store.

With the containerd image store (`"features": {"containerd-snapshotter": true}`, Docker Desktop,
new Engine 29 installs) there is no overlay2 layer store, and `docker save` does nothing but copy
blobs out of containerd's content store: `<root>/io.containerd.content.v1.content/blobs/sha256/
<hex>`, where root is `<DockerRootDir>/containerd/daemon` for the containerd that dockerd
starts itself, or `/var/lib/containerd` for the system's. This reader opens the same blobs in
place, so its records are those of `docker save` byte for byte, without the copy through the
API (the dispatcher lists several layers at once: a gzip layer inflates on one core while
another layer's headers are parsed on the other):

- the image's id (`docker image inspect`) is the digest of its target: an OCI index (BuildKit:
  one manifest per platform plus attestations) or a single manifest;
- the manifest chosen is the one whose config has the image's `RootFS.Layers` as diff ids
  (the host platform's first; attestations and absent platforms are skipped);
- layer blobs are gzip, zstd or plain tar, whatever the media type says (layertar).

Content is addressed by digest, so a blob found under its digest is that blob; the small JSON
blobs (index, manifest, config) are checked against their digests anyway.

Why not the snapshotter's folders (`io.containerd.snapshotter.v1.overlayfs/snapshots/<n>/fs`,
found from the chain ids through containerd's bolt databases)? They hold each layer unpacked,
but not its tar: containerd keeps no tar-split, so the tar order and which name of a hard link
comes first are lost. Walking them gives different records from `docker save` for any layer the
daemon did not write itself (checked on the `docker import`ed base image: the order differs and
three hard links are named the other way round).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dashboard.engine.analysis.layerfiles.docker_save import OCI_INDEX_TYPES, image_manifests
from dashboard.engine.analysis.layerfiles.layertar import layer_entries
from dashboard.engine.analysis.layerfiles.records import (
    CONTAINERD,
    ImageManifest,
    LayerFileMissing,
    LayerRef,
    NotAvailable,
    TarEntry,
    history_entries,
)

CONTENT_PLUGIN = "io.containerd.content.v1.content"
SYSTEM_ROOT = Path("/var/lib/containerd")
_MAX_DEPTH = 4  # an index may point to an index


def content_roots(docker_root: Path) -> list[Path]:
    """Where the content store can be: dockerd's own containerd first, then the system's."""
    return [docker_root / "containerd" / "daemon" / CONTENT_PLUGIN, SYSTEM_ROOT / CONTENT_PLUGIN]


@dataclass(frozen=True)
class ContentStore:
    root: Path  # .../io.containerd.content.v1.content

    def blob(self, digest: str) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        return self.root / "blobs" / algorithm / hexdigest

    def read_json(self, digest: str) -> dict:
        """A JSON blob, checked against its digest; `LayerFileMissing` if absent."""
        path = self.blob(digest)
        try:
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise LayerFileMissing(f"{digest} is not in the content store {self.root}") from exc
        except OSError as exc:
            raise NotAvailable(f"cannot read the containerd content store: {exc}") from exc
        if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
            raise NotAvailable(f"{path} does not hold {digest}")
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise NotAvailable(f"{digest} in the content store is not JSON: {exc}") from exc


def locate(docker_root: Path, digest: str) -> ContentStore:
    """The content store holding blob `digest` (the image's target), or `NotAvailable`."""
    roots = content_roots(docker_root)
    for root in roots:
        store = ContentStore(root)
        try:
            if store.blob(digest).is_file():
                return store
        except PermissionError as exc:
            raise NotAvailable(f"cannot read the containerd content store: {exc}") from exc
    looked = ", ".join(str(r) for r in roots)
    raise NotAvailable(f"no containerd content store on this machine holds {digest} ({looked})")


def _platform_first(descriptors: list[dict], os_name: str, arch: str) -> list[dict]:
    def mismatch(d: dict) -> bool:
        platform = d.get("platform") or {}
        return (platform.get("os"), platform.get("architecture")) != (os_name, arch)

    return sorted(descriptors, key=mismatch)  # stable: the index's order otherwise


def _manifests(store: ContentStore, digest: str, inspect: dict) -> Iterator[tuple[dict, str]]:
    """(image manifest, its digest) reachable from `digest`, the host platform's first."""
    todo: list[tuple[str, int]] = [(digest, 0)]
    while todo:
        current, depth = todo.pop(0)
        try:
            document = store.read_json(current)
        except LayerFileMissing:
            if current == digest:
                raise
            continue  # a platform the store has no content for
        if "manifests" in document or document.get("mediaType") in OCI_INDEX_TYPES:
            if depth < _MAX_DEPTH:
                os_name, arch = inspect.get("Os", ""), inspect.get("Architecture", "")
                children = _platform_first(image_manifests(document), os_name, arch)
                todo[:0] = [(c["digest"], depth + 1) for c in children if c.get("digest")]
        elif "layers" in document and "config" in document:
            yield document, current


def manifest(inspect: dict, docker_root: Path) -> ImageManifest:
    """What `docker save` of the image `inspect` describes would hold, from the content store."""
    target = inspect["Id"]
    diff_ids = list((inspect.get("RootFS") or {}).get("Layers") or [])
    store = locate(docker_root, target)
    for document, _ in _manifests(store, target, inspect):
        config_digest = document["config"]["digest"]
        try:
            config = store.read_json(config_digest)
        except LayerFileMissing:
            continue
        if list((config.get("rootfs") or {}).get("diff_ids") or []) != diff_ids:
            continue
        layers = document["layers"]
        if len(layers) != len(diff_ids):
            raise NotAvailable(f"{len(layers)} layer blobs for {len(diff_ids)} layers")
        refs = []
        for i, layer in enumerate(layers):
            path = store.blob(layer["digest"])
            if not path.is_file():
                raise LayerFileMissing(f"layer {layer['digest']} is not in the content store")
            refs.append(LayerRef(i, str(path), diff_ids[i], layer.get("mediaType", "")))
        return ImageManifest(
            layout=CONTAINERD,
            config_member=str(store.blob(config_digest)),
            config_digest=config_digest,
            image_id=target,
            repo_tags=tuple(inspect.get("RepoTags") or ()),
            layers=tuple(refs),
            history=history_entries(config),
        )
    raise NotAvailable(f"no manifest of {target} in the content store has the image's layers")


def read_entries(layer: LayerRef) -> Iterator[TarEntry]:
    """Every entry of one layer blob, read in place."""
    try:
        handle = open(layer.member, "rb")  # noqa: SIM115 (closed below, also on errors)
    except FileNotFoundError as exc:
        raise LayerFileMissing(f"layer blob {layer.member} went missing") from exc
    except OSError as exc:
        raise NotAvailable(f"cannot read {layer.member}: {exc}") from exc
    with handle:
        yield from layer_entries(handle, layer.member, layer.media_type)


def open_image(
    inspect: dict, docker_root: Path
) -> tuple[ImageManifest, Callable[[LayerRef], Iterator[TarEntry]]]:
    """The manifest of the image `inspect` describes and a reader of its layers' entries."""
    return manifest(inspect, docker_root), read_entries
