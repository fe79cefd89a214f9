"""`image_files`: every layer's files of an image, by the fastest reader that applies here.

The readers give the same records (tests/integration/test_analysis_paths.py holds them to it on
every engine of the matrix):

- `overlay2`: the daemon's overlay2 layer store (graph-driver engines: 20.10, Engine 26 with
  overlay2), read in place;
- `containerd`: containerd's content store (the containerd image store), read in place;
- `save`: `docker save`, read as the daemon sends it: any engine, local or remote.

"auto" picks the fast path of the daemon's image store when the daemon is on this machine (a
unix socket) and falls back to `docker save` when that path does not apply or cannot be read
(the reason is kept in `fallback_reason`); a named method forces one reader (a fast one raises
`NotAvailable` where it does not apply). An image that does not exist, or is removed meanwhile,
raises `images.ImageGone` on every path.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import docker

from dashboard.engine.analysis import images
from dashboard.engine.analysis.layerfiles import containerd, docker_save, overlay2
from dashboard.engine.analysis.layerfiles.filetree import stack_layers
from dashboard.engine.analysis.layerfiles.records import (
    CONTAINERD,
    OVERLAY2,
    SOURCE_CONTAINERD,
    SOURCE_OVERLAY2,
    SOURCE_SAVE,
    ArchiveError,
    ImageFiles,
    ImageManifest,
    LayerFileMissing,
    LayerRef,
    NotAvailable,
    TarEntry,
)

# The methods: AUTO, SAVE, and the fast readers, named as their layouts (records.OVERLAY2...).
AUTO, SAVE = "auto", "save"
METHODS = (AUTO, SAVE, OVERLAY2, CONTAINERD)
_STORES = {OVERLAY2: "overlay2 layer store", CONTAINERD: "containerd image store"}
_LOCAL_SCHEMES = ("http+unix://", "unix://", "http+docker://")

Opener = Callable[[dict, Path], tuple[ImageManifest, Callable[[LayerRef], Iterable[TarEntry]]]]


def is_local(client: docker.DockerClient) -> bool:
    """Whether the client talks to a daemon on this machine (a unix socket)."""
    return str(getattr(client.api, "base_url", "")).startswith(_LOCAL_SCHEMES)


def fast_method(client: docker.DockerClient, info: dict) -> str:
    """The fast reader for the daemon's image store: OVERLAY2, CONTAINERD, or "" for none.

    `info` is the daemon's `docker info`.
    """
    if images.image_store(client) == images.CONTAINERD:
        return CONTAINERD
    return OVERLAY2 if info.get("Driver") == OVERLAY2 else ""


def _inspect(client: docker.DockerClient, ref: str) -> dict:
    try:
        return client.api.inspect_image(ref)
    except docker.errors.NotFound as exc:
        raise images.ImageGone(ref) from exc


def image_files(
    client: docker.DockerClient,
    ref: str,
    *,
    method: str = AUTO,
) -> ImageFiles:
    """Every layer's files of image `ref`; `ImageGone` if it is missing (see the module doc)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: one of {', '.join(METHODS)}")
    reason = ""
    if method != SAVE:
        try:
            return _fast(client, ref, method)
        except NotAvailable as exc:
            if method != AUTO:
                raise
            reason = str(exc)
    return _saved(client, ref, reason)


def _fast(client: docker.DockerClient, ref: str, method: str) -> ImageFiles:
    started = time.monotonic()
    if not is_local(client):
        raise NotAvailable("the daemon is not on this machine")
    info = client.api.info()
    applies = fast_method(client, info)
    if method == AUTO and not applies:
        raise NotAvailable(f"no fast path for the storage driver {info.get('Driver')!r}")
    if method != AUTO and method != applies:
        have = _STORES.get(applies) or f"the storage driver {info.get('Driver')!r}"
        raise NotAvailable(f"this daemon keeps its images in {have}: no {_STORES[method]} to read")
    inspect = _inspect(client, ref)
    root = Path(info.get("DockerRootDir") or "/var/lib/docker")
    opener: Opener = containerd.open_image if applies == CONTAINERD else overlay2.open_image
    try:
        manifest, entries_of = opener(inspect, root)
        layers = stack_layers(manifest, entries_of, workers=os.cpu_count() or 1)
    except LayerFileMissing as exc:
        _inspect(client, ref)  # ImageGone if that is why
        raise NotAvailable(str(exc)) from exc
    return _files(
        ref,
        inspect,
        manifest,
        layers,
        archive_bytes=0,
        save_seconds=0.0,
        read_seconds=time.monotonic() - started,
        source=SOURCE_CONTAINERD if applies == CONTAINERD else SOURCE_OVERLAY2,
    )


def _files(ref: str, inspect: dict, manifest, layers, **how) -> ImageFiles:
    """The records of one read; ids and tags are the daemon's, whichever path read the layers."""
    return ImageFiles(
        ref=ref,
        layout=manifest.layout,
        image_id=inspect["Id"],
        config_digest=manifest.config_digest,
        repo_tags=tuple(inspect.get("RepoTags") or ()),
        layers=tuple(layers),
        **how,
    )


def _saved(client: docker.DockerClient, ref: str, reason: str) -> ImageFiles:
    inspect = _inspect(client, ref)
    diff_ids = list((inspect.get("RootFS") or {}).get("Layers") or [])
    saved = docker_save.save(client, ref)
    # The ids and tags are the daemon's: they must describe the image that was saved.
    if [layer.diff_id for layer in saved.manifest.layers] != diff_ids:
        raise ArchiveError(f"{ref} changed while it was saved: analyse it again")
    return _files(
        ref,
        inspect,
        saved.manifest,
        saved.layers,
        archive_bytes=saved.archive_bytes,
        save_seconds=saved.seconds,
        read_seconds=0.0,
        source=SOURCE_SAVE,
        fallback_reason=reason,
    )
