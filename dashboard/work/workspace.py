"""Working copies of lab folders: students edit these, never the repo's labs (the cache lesson
edits main.py, lessons 1 and 3 run `make` here and add targets of their own to the Makefile).

A copy lives under the dashboard's data folder (`DASHBOARD_DATA_DIR` or ~/.cache), one per lab
folder, shared by the browser sessions of one dashboard process (in classroom mode, one per
student, below their own folder). The cache lesson's builds of a copy get their own tags
(`WORKING_TAGS`), so the lab images other pages use keep their content; `make` in a copy builds
under the Makefile's names, the lecture's (`iris-model:1.0`), as `make build` does in class, and
the page says when the copy's files differ from the lab's. No Streamlit here.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from dashboard import settings

# Lab folder -> tag(s) its working copy is built as.
WORKING_TAGS = {
    "iris": {"Dockerfile": "iris-model:edited"},
    "cache-order": {
        "Dockerfile.code-first": "cache-order:code-first-edited",
        "Dockerfile.deps-first": "cache-order:deps-first-edited",
    },
}


def working_tag(folder: str, dockerfile: str) -> str:
    """The tag a working copy builds as; DASHBOARD_TAG_SUFFIX makes it unique (tests)."""
    from dashboard.engine.base import owner

    tag = WORKING_TAGS[folder][dockerfile]
    suffix = settings.tag_suffix()
    return owner.current().image(f"{tag}-{suffix}" if suffix else tag)


EDIT_MARK = "# edited in the dashboard"
_SKIP = shutil.ignore_patterns("model_pipeline.joblib", "__pycache__", "*.pyc", "shared")


def root() -> Path:
    """The working copies' folder (a classroom student's own, see engine/base/owner.py)."""
    from dashboard.engine.base.paths import owner_data_dir

    return owner_data_dir() / "workspace"


def copy_path(folder: str) -> Path:
    return root() / folder


def ensure_copy(folder: str) -> Path:
    """The working copy of labs/FOLDER, made from the lab on first use."""
    from dashboard.engine.base.paths import labs_dir

    dest = copy_path(folder)
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + f".tmp-{time.monotonic_ns()}")
        shutil.copytree(labs_dir() / folder, tmp, ignore=_SKIP)
        try:
            tmp.rename(dest)
        except OSError:  # another session made it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def reset_copy(folder: str) -> Path:
    """Throw the edits away: the copy is made again from the lab."""
    shutil.rmtree(copy_path(folder), ignore_errors=True)
    return ensure_copy(folder)


def reset_file(folder: str, name: str) -> Path:
    """One file of the copy made again from the lab (the others keep their edits)."""
    from dashboard.engine.base.paths import labs_dir

    target = ensure_copy(folder) / name
    shutil.copyfile(labs_dir() / folder / name, target)
    return target


def add_make_target(folder: str, name: str, recipe: str) -> str:
    """Append a target of the student's own to the copy's Makefile (never to labs/); its name.

    Raises InvalidInput (engine/ops/make.py checks the name and the one-line recipe).
    """
    from dashboard.engine.ops import make

    path = ensure_copy(folder) / make.MAKEFILE
    makefile = make.read_makefile(path)
    files = [p.name for p in path.parent.iterdir()]
    block = make.target_block(makefile, name, recipe, files)
    text = makefile.text if makefile.text.endswith("\n") else makefile.text + "\n"
    path.write_text(text + block)
    return name.strip()


def read(folder: str, name: str) -> str:
    return (ensure_copy(folder) / name).read_text()


def write(folder: str, name: str, text: str) -> None:
    target = ensure_copy(folder) / name
    target.write_text(text if text.endswith("\n") else text + "\n")


def append_comment(folder: str, name: str = "main.py") -> str:
    """Append a harmless comment line (a code edit that changes nothing but the file's bytes)."""
    line = f"{EDIT_MARK} at {time.strftime('%H:%M:%S')}"
    target = ensure_copy(folder) / name
    text = target.read_text()
    if not text.endswith("\n"):
        text += "\n"
    target.write_text(text + line + "\n")
    return line


def edits(folder: str, name: str = "main.py") -> int:
    """How many dashboard comments the copy's file carries."""
    path = copy_path(folder) / name
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if line.startswith(EDIT_MARK))


def changed_files(folder: str) -> tuple[str, ...]:
    """The files of the copy (top level) whose bytes differ from the lab's, or that the lab
    does not have."""
    from dashboard.engine.base.paths import labs_dir

    copy = copy_path(folder)
    if not copy.exists():
        return ()
    lab = labs_dir() / folder
    return tuple(
        sorted(
            p.name
            for p in copy.iterdir()
            if p.is_file()
            and (not (lab / p.name).is_file() or p.read_bytes() != (lab / p.name).read_bytes())
        )
    )


def differs_from_lab(folder: str, name: str = "main.py") -> bool:
    from dashboard.engine.base.paths import labs_dir

    path = copy_path(folder) / name
    return path.exists() and path.read_bytes() != (labs_dir() / folder / name).read_bytes()
