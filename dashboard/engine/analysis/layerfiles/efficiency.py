"""Wasted space and an efficiency score, computed the way dive computes them.

Follows wagoodman/dive (`dive/filetree/efficiency.go` and the analysis in `dive/image`):

- every layer is a tree of its tar entries; only its leaves are visited (a directory whose
  children are in the same layer is not counted itself);
- per path, over all layers: the cumulative size and the minimum size discovered. A whiteout
  counts as the size of what it removes if that was a directory (everything below it in the
  layers underneath), and 0 if it was a file, so a removed file's minimum becomes 0;
- score = sum of minimums / sum of cumulative sizes (1.0 when nothing has a size);
- an inefficient path is one seen in more than one layer; wasted bytes = the sum of their
  cumulative sizes; user size = the sizes of every layer but the first (the base).

Two liberties, both for archives real engines do not write: a whiteout of a path that no lower
layer has counts 0 (dive stops visiting that layer), and a directory only implied by a deeper
path does not overwrite the lower layers' entry for it when stacked.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dashboard.engine.analysis.layerfiles.filetree import FileTree
from dashboard.engine.analysis.layerfiles.records import LayerFiles, TarEntry


@dataclass(frozen=True)
class WastedPath:
    path: str
    cumulative_size: int  # sum over the layers it appears in
    minimum_size: int  # smallest size seen (0 once removed)
    layers: tuple[int, ...]  # indices of the layers it appears in (0 = base)
    removed: bool  # its last appearance is a whiteout

    @property
    def excess_size(self) -> int:
        """Bytes beyond the smallest copy: what the score charges this path."""
        return self.cumulative_size - self.minimum_size


@dataclass(frozen=True)
class EfficiencyReport:
    score: float  # 0..1, dive's "efficiency"
    wasted_bytes: int  # dive's "wasted space": cumulative sizes of the inefficient paths
    size_bytes: int  # sum of every layer's entry sizes
    user_size_bytes: int  # the same without the base layer
    inefficient_paths: int  # paths seen in more than one layer
    removed_files: int  # whiteouts over all layers
    removed_bytes: int  # what those whiteouts hid in the layers below
    top: tuple[WastedPath, ...] = field(default_factory=tuple)  # largest cumulative size first

    @property
    def wasted_user_fraction(self) -> float:
        """Wasted bytes over the user size (dive's WastedUserPercent, a fraction)."""
        return self.wasted_bytes / self.user_size_bytes if self.user_size_bytes else 0.0


class _PathStats:
    __slots__ = ("cumulative", "minimum", "layers", "removed")

    def __init__(self) -> None:
        self.cumulative = 0
        self.minimum = -1
        self.layers: list[int] = []
        self.removed = False


def _ancestors(path: str) -> Iterable[str]:
    parent = posixpath.dirname(path)
    while parent not in ("/", ""):
        yield parent
        parent = posixpath.dirname(parent)


def _leaves(entries: Sequence[TarEntry]) -> list[TarEntry]:
    """The leaves of one layer's tree, implied directories included (with size 0)."""
    parents: set[str] = set()
    for entry in entries:
        parents.update(_ancestors(entry.path))
    nodes: dict[str, TarEntry] = {}
    whiteouts: list[TarEntry] = []
    for entry in entries:
        if entry.whiteout:
            whiteouts.append(entry)  # its node is ".wh.<name>": always a leaf
        elif entry.opaque:
            nodes.setdefault(entry.path, TarEntry(entry.path, 0))  # dive drops the marker
        else:
            nodes[entry.path] = entry
    for parent in parents:
        nodes.setdefault(parent, TarEntry(parent, 0))
    return [e for path, e in sorted(nodes.items()) if path not in parents] + whiteouts


def _stack(tree: FileTree, entries: Sequence[TarEntry]) -> None:
    """dive's Stack: whiteouts remove, everything else is added over; opaque markers ignored."""
    for entry in entries:
        if entry.whiteout:
            tree.remove(entry.path)
    for entry in entries:
        if not (entry.whiteout or entry.opaque):
            tree.add(entry.path, entry.size, entry.is_dir)


def efficiency(
    layers: Sequence[LayerFiles] | Sequence[Sequence[TarEntry]], top: int = 20
) -> EfficiencyReport:
    """dive's efficiency score and wasted space over `layers` (base first)."""
    layer_entries = [
        layer.entries if isinstance(layer, LayerFiles) else tuple(layer) for layer in layers
    ]
    stats: dict[str, _PathStats] = {}
    stacked = FileTree()  # layers 0..i-1 while layer i is visited
    removed_files = removed_bytes = 0
    for index, entries in enumerate(layer_entries):
        for leaf in _leaves(entries):
            size = leaf.size
            if leaf.whiteout:
                previous = stacked.get(leaf.path)
                hidden = FileTree.total_size(previous) if previous is not None else 0
                size = hidden if previous is not None and previous.is_dir else 0
                removed_files += 1
                removed_bytes += hidden
            data = stats.setdefault(leaf.path, _PathStats())
            data.cumulative += size
            if data.minimum < 0 or size < data.minimum:
                data.minimum = size
            data.layers.append(index)
            data.removed = leaf.whiteout
        _stack(stacked, entries)

    minimum_total = sum(s.minimum for s in stats.values())
    cumulative_total = sum(s.cumulative for s in stats.values())
    score = minimum_total / cumulative_total if cumulative_total else 1.0
    inefficient = [
        WastedPath(path, s.cumulative, s.minimum, tuple(s.layers), s.removed)
        for path, s in stats.items()
        if len(s.layers) > 1
    ]
    inefficient.sort(key=lambda w: (-w.cumulative_size, w.path))
    sizes = [sum(e.size for e in entries) for entries in layer_entries]
    return EfficiencyReport(
        score=score,
        wasted_bytes=sum(w.cumulative_size for w in inefficient),
        size_bytes=sum(sizes),
        user_size_bytes=sum(sizes[1:]),
        inefficient_paths=len(inefficient),
        removed_files=removed_files,
        removed_bytes=removed_bytes,
        top=tuple(inefficient[:top]),
    )
