"""The catalog of labs: which folder, Dockerfile and tag each lesson builds."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from dashboard.engine import owner
from dashboard.engine.paths import labs_dir


@dataclass(frozen=True)
class Lab:
    name: str
    folder: str  # below labs/
    image: str  # repository:tag the lecture uses
    dockerfile: str = "Dockerfile"
    compose: bool = False
    run_timeout: int = 120  # seconds a run may take before it is stopped
    title: str = ""
    project: str = ""  # Compose labs of a classroom student: their own project name

    @property
    def path(self) -> Path:
        return labs_dir() / self.folder

    @property
    def build_command(self) -> str:
        if self.compose:
            return f"docker compose{self._project_flag} -f {self.folder}/compose.yaml build"
        return f"docker build -t {self.image} -f {self.dockerfile} ."

    @property
    def run_command(self) -> str:
        if self.compose:
            return f"docker compose{self._project_flag} -f {self.folder}/compose.yaml up"
        return f"docker run {self.image}"

    @property
    def _project_flag(self) -> str:
        return f" -p {self.project}" if self.project else ""


LABS: dict[str, Lab] = {
    lab.name: lab
    for lab in [
        Lab("iris", "iris", "iris-model:1.0", title="Lesson 1: a single-stage image"),
        Lab(
            "cache-code-first",
            "cache-order",
            "cache-order:code-first",
            dockerfile="Dockerfile.code-first",
            title="Cache: code copied before the install",
        ),
        Lab(
            "cache-deps-first",
            "cache-order",
            "cache-order:deps-first",
            dockerfile="Dockerfile.deps-first",
            title="Cache: dependencies installed before the code",
        ),
        Lab("iris-multistage", "iris-multistage", "iris-model:2.0", title="Lesson 3: multi-stage"),
        Lab(
            "wine", "wine", "wine-trainer", compose=True, run_timeout=300, title="Lesson 4: Compose"
        ),
    ]
}


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
