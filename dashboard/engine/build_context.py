"""Build-context snapshots: which files a build sent, so the next build can say what changed.

After each successful build of a lab we keep a manifest (path -> sha256) of the files Docker
would send (honouring .dockerignore) and the Dockerfile text, under the data folder.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from docker.utils.build import exclude_paths

from dashboard.engine.paths import data_dir


@dataclass(frozen=True)
class ContextSnapshot:
    files: dict[str, str]  # relative path -> sha256
    dockerfile_text: str


@dataclass(frozen=True)
class ContextChanges:
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def all(self) -> list[str]:
        return sorted(self.added + self.modified + self.removed)


def _ignore_patterns(root: Path) -> list[str]:
    ignore = root / ".dockerignore"
    if not ignore.exists():
        return []
    lines = (line.strip() for line in ignore.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def snapshot(root: Path, dockerfile: str) -> ContextSnapshot:
    files = {}
    for rel in sorted(exclude_paths(str(root), _ignore_patterns(root), dockerfile=dockerfile)):
        path = root / rel
        if path.is_file():
            files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return ContextSnapshot(files, (root / dockerfile).read_text())


def _store(key: str) -> Path:
    folder = data_dir() / "contexts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / (hashlib.sha256(key.encode()).hexdigest()[:16] + ".json")


def context_key(root: Path, dockerfile: str) -> str:
    return f"{Path(root).resolve()}::{dockerfile}"


def load_previous(key: str) -> ContextSnapshot | None:
    path = _store(key)
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        return ContextSnapshot(raw["files"], raw["dockerfile_text"])
    except (ValueError, KeyError):
        return None


def save(key: str, snap: ContextSnapshot) -> None:
    _store(key).write_text(
        json.dumps({"files": snap.files, "dockerfile_text": snap.dockerfile_text})
    )


def diff(before: ContextSnapshot, after: ContextSnapshot) -> ContextChanges:
    old, new = before.files, after.files
    return ContextChanges(
        added=sorted(set(new) - set(old)),
        modified=sorted(p for p in set(new) & set(old) if new[p] != old[p]),
        removed=sorted(set(old) - set(new)),
    )


def copy_sources(instruction: str) -> list[str] | None:
    """The context paths a COPY/ADD reads; None when it copies from another stage or image."""
    words = instruction.split()
    if not words or words[0].upper() not in ("COPY", "ADD"):
        return []
    args = [w for w in words[1:] if not w.startswith("--")]
    if any(w.startswith("--from") for w in words[1:]):
        return None
    if args and args[0].startswith("["):  # JSON form: COPY ["a", "b", "dest/"]
        try:
            args = json.loads(" ".join(args))
        except ValueError:
            return []
    return args[:-1]


def matches(path: str, sources: list[str]) -> bool:
    for src in sources:
        src = src.removeprefix("./").rstrip("/")
        if src in ("", "."):
            return True
        if path == src or path.startswith(src + "/") or fnmatch.fnmatch(path, src):
            return True
    return False
