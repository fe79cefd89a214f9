"""Layer file analysis, in dive's shape: which files each layer adds, changes and removes, and
how much space the image wastes.

- `records`: the typed records every reader produces (`TarEntry`, `FileChange`, `LayerFiles`,
  `ImageFiles`, ...);
- `layertar`: one layer tar (plain, gzip or zstd, by its magic bytes) as records;
- `filetree`: the layers stacked into one tree, and each layer's changes;
- readers: `docker_save` (any engine, local or remote: the daemon's answer read as it arrives,
  or a saved file), `overlay2` (the daemon's layer store), `containerd` (the containerd image
  store's content store);
- `efficiency`: dive's efficiency score and wasted bytes (`efficiency.efficiency(layers)`);
- `dispatch`: `image_files`, which picks the fast reader where it applies and falls back to
  `docker save`, saying which ran (`source`) and why (`fallback_reason`).
"""

from dashboard.engine.analysis.layerfiles.dispatch import METHODS, image_files
from dashboard.engine.analysis.layerfiles.records import (
    SOURCE_CONTAINERD,
    SOURCE_OVERLAY2,
    SOURCE_SAVE,
    ArchiveError,
    ImageFiles,
    LayerFiles,
    NotAvailable,
)

__all__ = [
    "METHODS",
    "SOURCE_CONTAINERD",
    "SOURCE_OVERLAY2",
    "SOURCE_SAVE",
    "ArchiveError",
    "ImageFiles",
    "LayerFiles",
    "NotAvailable",
    "image_files",
]
