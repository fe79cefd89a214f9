"""The labs of the lesson catalog (engine/catalog/lessons.py) by name, as the current owner builds
them: which folder, Dockerfile and tag each lesson builds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dashboard.engine.base import owner
from dashboard.engine.base.paths import labs_dir
from dashboard.engine.catalog.lessons import LESSONS, Lab

__all__ = ["LABS", "Lab", "find", "get", "requirement_files", "scoped"]


# Every lab of every lesson (engine/catalog/lessons.py declares them), by name.
LABS: dict[str, Lab] = {lab.name: lab for lesson in LESSONS for lab in lesson.labs}


def get(name: str) -> Lab:
    """The lab `name` as the current owner builds it (a classroom student's own image names)."""
    try:
        return scoped(LABS[name])
    except KeyError:
        raise KeyError(f"No lab named {name!r}; the labs are: {', '.join(LABS)}") from None


def find(name: str) -> Lab | None:
    """Like `get`, None for a name that is not a lab."""
    return scoped(LABS[name]) if name in LABS else None


def scoped(lab: Lab, who: owner.Owner | None = None) -> Lab:
    """`lab` with the image (and Compose project) names of `who` (default: the current owner)."""
    who = who or owner.current()
    if not who.student:
        return lab
    if lab.compose:  # Compose names images PROJECT-SERVICE: wine-trainer -> wine-alice-trainer
        project = who.compose_project(lab.folder)
        return replace(lab, image=lab.image.replace(lab.folder, project, 1), project=project)
    return replace(lab, image=who.image(lab.image))


def requirement_files() -> list[Path]:
    """Every requirements file of every lab: what the offline wheelhouse must hold."""
    return sorted(labs_dir().glob("**/requirements*.txt"))
