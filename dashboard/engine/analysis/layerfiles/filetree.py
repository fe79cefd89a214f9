"""Layers stacked into one tree, and what each layer changes in the layers below it.

`FileTree` holds paths with their sizes, layer over layer, the way the container's root
filesystem sees them; `layer_changes` compares one layer's `TarEntry` records with the stack
below (added, modified, removed by a whiteout or an opaque directory) before stacking it, and
`stack_layers` does so for every layer of an `ImageManifest`, whatever reader lists the entries.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from dashboard.engine.analysis.layerfiles.records import (
    ChangeKind,
    FileChange,
    ImageManifest,
    LayerFiles,
    LayerRef,
    TarEntry,
)


class FileTree:
    """Paths stacked layer over layer: sizes and whether each node is a directory.

    A directory only implied by a deeper path is created as a node that is not a directory, as
    dive's `AddPath` does; real layer tars list every parent directory, so this only matters
    for hand-made archives.
    """

    __slots__ = ("root",)

    class Node:
        __slots__ = ("size", "is_dir", "children")

        def __init__(self, size: int = 0, is_dir: bool = False):
            self.size = size
            self.is_dir = is_dir
            self.children: dict[str, FileTree.Node] = {}

    def __init__(self) -> None:
        self.root = FileTree.Node(is_dir=True)

    @staticmethod
    def _parts(path: str) -> list[str]:
        return [p for p in path.split("/") if p]

    def get(self, path: str) -> FileTree.Node | None:
        node = self.root
        for part in self._parts(path):
            node = node.children.get(part)
            if node is None:
                return None
        return node

    def add(self, path: str, size: int, is_dir: bool) -> FileTree.Node:
        node = self.root
        for part in self._parts(path):
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = FileTree.Node()
            node = child
        node.size, node.is_dir = size, is_dir
        if not is_dir:
            node.children.clear()  # a file (or link) replacing a directory hides its content
        return node

    def remove(self, path: str) -> FileTree.Node | None:
        *parents, name = self._parts(path) or [""]
        parent = self.get("/".join(parents))
        if parent is None:
            return None
        return parent.children.pop(name, None)

    @staticmethod
    def total_size(node: FileTree.Node) -> int:
        """Size of the node and everything below it (iterative: trees can be deep)."""
        total, todo = 0, [node]
        while todo:
            current = todo.pop()
            total += current.size
            todo.extend(current.children.values())
        return total


def layer_changes(lower: FileTree, entries: list[TarEntry]) -> list[FileChange]:
    """What one layer changes relative to the `lower` stack; then stacks the layer onto it."""
    changes: list[FileChange] = []
    own_paths = {e.path for e in entries if not (e.whiteout or e.opaque)}
    opaque_dirs = [e.path for e in entries if e.opaque]
    for directory in opaque_dirs:
        node = lower.get(directory)
        for name, child in sorted(node.children.items()) if node else ():
            path = posixpath.join(directory, name)
            if path not in own_paths:
                size = FileTree.total_size(child)
                changes.append(FileChange(path, size, ChangeKind.REMOVED, child.is_dir, size))
    for entry in entries:
        if entry.opaque:
            continue
        node = lower.get(entry.path)
        if entry.whiteout:
            size = FileTree.total_size(node) if node else 0
            is_dir = bool(node and node.is_dir)
            changes.append(FileChange(entry.path, size, ChangeKind.REMOVED, is_dir, size))
        elif node is not None:
            changes.append(
                FileChange(entry.path, entry.size, ChangeKind.MODIFIED, entry.is_dir, node.size)
            )
        else:
            changes.append(FileChange(entry.path, entry.size, ChangeKind.ADDED, entry.is_dir))
    # Stack: opaque directories lose their lower content first, then whiteouts, then additions.
    for directory in opaque_dirs:
        node = lower.get(directory)
        if node is not None:
            node.children.clear()
    for entry in entries:
        if entry.whiteout:
            lower.remove(entry.path)
    for entry in entries:
        if not (entry.whiteout or entry.opaque):
            lower.add(entry.path, entry.size, entry.is_dir)
    return changes


def _listed(
    layers: tuple[LayerRef, ...], entries_of: Callable[[LayerRef], Iterable[TarEntry]], workers: int
) -> Iterator[list[TarEntry]]:
    """Every layer's entries in order, `workers` layers listed at a time."""
    if workers <= 1 or len(layers) <= 1:
        yield from (list(entries_of(ref)) for ref in layers)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="layer") as pool:
        futures = [pool.submit(lambda ref: list(entries_of(ref)), ref) for ref in layers]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def stack_layers(
    manifest: ImageManifest,
    entries_of: Callable[[LayerRef], Iterable[TarEntry]],
    *,
    workers: int = 1,
) -> list[LayerFiles]:
    """`LayerFiles` of every layer of `manifest`, base first; `entries_of(LayerRef)` lists one.

    With `workers` > 1, that many layers are listed at once (threads): decompression lets go
    of the GIL, so a gzip layer decompresses while another layer's headers are parsed."""
    stack = FileTree()
    result = []
    listed = _listed(manifest.layers, entries_of, workers)
    for ref, history, entries in zip(
        manifest.layers, manifest.history_for_layers(), listed, strict=True
    ):
        changes = layer_changes(stack, entries)
        result.append(
            LayerFiles(
                index=ref.index,
                diff_id=ref.diff_id,
                member=ref.member,
                history=history,
                entries=tuple(entries),
                changes=tuple(changes),
            )
        )
    return result
