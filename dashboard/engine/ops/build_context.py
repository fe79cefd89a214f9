"""Build-context snapshots: which files a build sent, so the next build can say what changed.

After each successful build of a lab we keep a manifest (path -> sha256) of the files Docker
would send (honouring .dockerignore), the Dockerfile text, the build args and the image id of
each base image, under the data folder. Content checksums, never mtimes: `touch main.py` changes
nothing for either builder's cache.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from docker.utils.build import exclude_paths

from dashboard.engine.base.paths import cache_dir


@dataclass(frozen=True)
class ContextSnapshot:
    files: dict[str, str]  # relative path -> sha256
    dockerfile_text: str
    build_args: dict[str, str] = field(default_factory=dict)
    base_images: dict[str, str] = field(default_factory=dict)  # FROM reference -> image id


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


def snapshot(
    root: Path,
    dockerfile: str,
    build_args: dict[str, str] | None = None,
    base_images: dict[str, str] | None = None,
) -> ContextSnapshot:
    files = {}
    for rel in sorted(exclude_paths(str(root), _ignore_patterns(root), dockerfile=dockerfile)):
        path = root / rel
        if path.is_file():
            files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return ContextSnapshot(
        files, (root / dockerfile).read_text(), dict(build_args or {}), dict(base_images or {})
    )


def base_refs(dockerfile_text: str) -> list[str]:
    """The images the Dockerfile's FROM lines name, without the ones naming an earlier stage."""
    refs: list[str] = []
    stages: set[str] = set()
    for line in dockerfile_text.splitlines():
        words = [w for w in line.split() if not w.startswith("--")]
        if len(words) < 2 or words[0].upper() != "FROM":
            continue
        ref = words[1]
        if ref.lower() not in stages and ref != "scratch" and ref not in refs:
            refs.append(ref)
        if len(words) >= 4 and words[2].upper() == "AS":
            stages.add(words[3].lower())
    return refs


def _store(key: str) -> Path:
    folder = cache_dir() / "contexts"
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
        return ContextSnapshot(
            raw["files"],
            raw["dockerfile_text"],
            raw.get("build_args") or {},
            raw.get("base_images") or {},
        )
    except (ValueError, KeyError):
        return None


def save(key: str, snap: ContextSnapshot) -> None:
    record = {
        "files": snap.files,
        "dockerfile_text": snap.dockerfile_text,
        "build_args": snap.build_args,
        "base_images": snap.base_images,
    }
    _store(key).write_text(json.dumps(record))


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
