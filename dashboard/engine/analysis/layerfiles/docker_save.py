"""The reader of `docker save` archives: works with every engine, local or remote.

`ImageArchive.save` streams `client.api.get_image(...)` to a temporary file, so memory stays
bounded whatever the image size, then reads it with random access. Two layouts are read:

- legacy (Engine < 25, this machine's 20.10): `manifest.json`, `<config id>.json`,
  `<layer id>/layer.tar`;
- OCI (Engine 25+): `index.json` and `blobs/sha256/<hex>`, usually with a `manifest.json` whose
  `Layers` point into `blobs/`. Layer blobs are plain tar, gzip or zstd (layertar decides by the
  magic bytes).

Layers are matched to the config's history entries that are not `empty_layer`, in order, as
dive does.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import docker

from dashboard.engine.analysis.images import ImageGone
from dashboard.engine.analysis.layerfiles.filetree import stack_layers
from dashboard.engine.analysis.layerfiles.layertar import layer_entries
from dashboard.engine.analysis.layerfiles.records import (
    LEGACY,
    OCI,
    ArchiveError,
    ImageManifest,
    LayerFiles,
    LayerRef,
    TarEntry,
    history_entries,
)

OCI_INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
ATTESTATION = "attestation-manifest"  # vnd.docker.reference.type of BuildKit's provenance


def _read_json(archive: tarfile.TarFile, member: str) -> tuple[object, bytes]:
    try:
        handle = archive.extractfile(member)
    except KeyError:
        raise ArchiveError(f"{member} is missing from the archive") from None
    if handle is None:
        raise ArchiveError(f"{member} is not a file in the archive")
    with handle:
        raw = handle.read()
    try:
        return json.loads(raw), raw
    except ValueError as exc:
        raise ArchiveError(f"{member} is not JSON: {exc}") from exc


def blob_member(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def _has(archive: tarfile.TarFile, member: str) -> bool:
    try:
        archive.getmember(member)
    except KeyError:
        return False
    return True


def image_manifests(index: dict) -> list[dict]:
    """The image (or nested index) descriptors of an OCI index, attestations left out."""
    return [
        m
        for m in index.get("manifests") or []
        if (m.get("annotations") or {}).get("vnd.docker.reference.type") != ATTESTATION
    ]


class ImageArchive:
    """A `docker save` tar on disk, read with random access. Use as a context manager."""

    def __init__(self, path: str | os.PathLike, *, delete: bool = False, ref: str | None = None):
        self.path = Path(path)
        self.ref = ref
        self._delete = delete
        try:
            self._tar = tarfile.open(self.path, mode="r:")  # noqa: SIM115 (closed by close())
        except (tarfile.TarError, OSError) as exc:
            self._cleanup()
            raise ArchiveError(f"{self.path} is not a readable tar archive: {exc}") from exc
        self._manifest: ImageManifest | None = None
        self.save_seconds = 0.0

    @classmethod
    def save(
        cls,
        client: docker.DockerClient,
        ref: str,
        *,
        chunk_size: int = 1 << 20,
        tmp_dir: str | os.PathLike | None = None,
    ) -> ImageArchive:
        """Stream `docker save ref` into a temporary file (deleted on close), or `ImageGone`."""
        started = time.monotonic()
        fd, name = tempfile.mkstemp(prefix="dashboard-save-", suffix=".tar", dir=tmp_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in client.api.get_image(ref, chunk_size=chunk_size):
                    out.write(chunk)
        except docker.errors.NotFound as exc:
            os.unlink(name)
            raise ImageGone(ref) from exc
        except BaseException:
            os.unlink(name)
            raise
        archive = cls(name, delete=True, ref=ref)
        archive.save_seconds = time.monotonic() - started
        return archive

    def close(self) -> None:
        self._tar.close()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._delete:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> ImageArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def manifest(self) -> ImageManifest:
        if self._manifest is None:
            self._manifest = self._read_manifest()
        return self._manifest

    def _read_manifest(self) -> ImageManifest:
        if _has(self._tar, "manifest.json"):
            entries, _ = _read_json(self._tar, "manifest.json")
            if not isinstance(entries, list) or not entries:
                raise ArchiveError("manifest.json lists no image")
            entry = next((e for e in entries if self.ref in (e.get("RepoTags") or ())), entries[0])
            config_member = entry["Config"]
            members = list(entry["Layers"])
            # Engine 25+ names each layer's media type here, by diff id (read below).
            sources = entry.get("LayerSources") or {}
            media_types: list[str] | None = None
            tags = tuple(entry.get("RepoTags") or ())
        elif _has(self._tar, "index.json"):
            config_member, members, media_types, tags = self._read_oci_index()
            sources = {}
        else:
            raise ArchiveError("neither manifest.json nor index.json: not a `docker save` archive")
        config, raw = _read_json(self._tar, config_member)
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        if len(diff_ids) != len(members):
            raise ArchiveError(f"{len(members)} layer tars but {len(diff_ids)} diff ids in config")
        if media_types is None:
            media_types = [(sources.get(d) or {}).get("mediaType", "") for d in diff_ids]
            if not any(media_types) and _has(self._tar, "index.json"):
                media_types = self._oci_media_types(members) or media_types
        layout = OCI if any(m.startswith("blobs/") for m in [config_member, *members]) else LEGACY
        config_digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        named = posixpath.basename(config_member).removesuffix(".json")
        return ImageManifest(
            layout=layout,
            config_member=config_member,
            config_digest=config_digest,
            # What the engine calls the image: the config's name in the archive (its digest on
            # a real engine; the dispatcher replaces it with the daemon's id anyway).
            image_id=f"sha256:{named}",
            repo_tags=tags,
            layers=tuple(
                LayerRef(i, member, diff_ids[i], media_types[i]) for i, member in enumerate(members)
            ),
            history=history_entries(config),
        )

    def _read_oci_index(self) -> tuple[str, list[str], list[str], tuple[str, ...]]:
        """An OCI layout without manifest.json: index.json -> (nested index) -> manifest."""
        document, _ = _read_json(self._tar, "index.json")
        tags: tuple[str, ...] = ()
        for _ in range(4):  # an index may point to an index (multi-platform)
            manifests = image_manifests(document)
            if not manifests:
                raise ArchiveError("index.json lists no manifest")
            chosen = manifests[0]
            name = (chosen.get("annotations") or {}).get("io.containerd.image.name")
            tags = tags or ((name,) if name else ())
            document, _ = _read_json(self._tar, blob_member(chosen["digest"]))
            if chosen.get("mediaType") not in OCI_INDEX_TYPES and "layers" in document:
                break
        else:
            raise ArchiveError("index.json nests too deeply")
        layers = document["layers"]
        return (
            blob_member(document["config"]["digest"]),
            [blob_member(layer["digest"]) for layer in layers],
            [layer.get("mediaType", "") for layer in layers],
            tags,
        )

    def _oci_media_types(self, members: list[str]) -> list[str] | None:
        """The layers' media types from the OCI manifest, when manifest.json names none (the
        containerd image store writes no LayerSources) and both list the same blobs."""
        try:
            _, oci_members, media_types, _ = self._read_oci_index()
        except (ArchiveError, KeyError, TypeError):
            return None
        return media_types if oci_members == members else None

    def iter_entries(self, layer: LayerRef) -> Iterator[TarEntry]:
        """The headers of one layer blob (plain tar, gzip or zstd), without file contents."""
        try:
            handle: IO[bytes] | None = self._tar.extractfile(layer.member)
        except KeyError:
            raise ArchiveError(f"{layer.member} is missing from the archive") from None
        if handle is None:
            raise ArchiveError(f"{layer.member} is not a file in the archive")
        with handle:
            yield from layer_entries(handle, layer.member, layer.media_type)

    def layer_files(self) -> list[LayerFiles]:
        """Every filesystem layer with its entries and changes, base first."""
        return stack_layers(self.manifest, self.iter_entries)
