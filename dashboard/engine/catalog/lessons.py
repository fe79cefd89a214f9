"""The lesson catalog: each lesson's id, titles, page and labs, and the base image they build on.

Pages, the navigation (ui/shell.py), the guided checks (engine/progress/checks.py), the Dockerfile
hints (engine/analysis/dockerfile_lint.py) and the lab catalog (engine/catalog/labs.py) all read
`LESSONS`. Adding a lesson is one page file in dashboard/pages/, one lab folder in labs/ and one
entry here; its checks and hint rules name it by `id`. `check_catalog` fails loudly
(LessonCatalogError) when an entry names a page or lab folder that is not there; the app runs it at
start (ui/shell.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dashboard.engine.base.paths import labs_dir

BASE_IMAGE = "python:3.11-slim"  # every lab's FROM, as in the lecture


@dataclass(frozen=True)
class Lab:
    """A folder a lesson builds: its Dockerfile (or compose.yaml) and the tag the lecture uses."""

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


@dataclass(frozen=True)
class Lesson:
    id: str  # what checks, hints and the history call it
    title: str  # the page's heading (the browser tests find it by these words)
    nav: str  # its label in the navigation
    topic: str  # how progress and hints name it ("Explained in ...")
    page: str  # the file in dashboard/pages/ (its stem is the URL path)
    icon: str
    labs: tuple[Lab, ...]


IRIS = Lab("iris", "iris", "iris-model:1.0", title="Lesson 1: a single-stage image")

LESSONS: tuple[Lesson, ...] = (
    Lesson(
        "lesson1",
        title="Lesson 1: your first image",
        nav="Lesson 1: first image",
        topic="Lesson 1: a single-stage image",
        page="lesson1.py",
        icon=":material/counter_1:",
        labs=(IRIS,),
    ),
    Lesson(
        "cache",
        title="Layers and the build cache",
        nav="Layers and the cache",
        topic="Layer order and the cache",
        page="cache.py",
        icon=":material/layers:",
        labs=(
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
        ),
    ),
    Lesson(
        "multistage",
        title="Lesson 3: multi-stage builds",
        nav="Lesson 3: multi-stage",
        topic="Lesson 3: multi-stage builds",
        page="multistage.py",
        icon=":material/counter_3:",
        labs=(
            Lab(
                "iris-multistage",
                "iris-multistage",
                "iris-model:2.0",
                title="Lesson 3: multi-stage, as taught",
            ),
            Lab(
                "iris-onnx",
                "iris-onnx",
                "iris-model:2.0-onnx",
                title="Lesson 3: multi-stage, ONNX predictor",
            ),
        ),
    ),
    Lesson(
        "compose",
        title="Lesson 4: Docker Compose",
        nav="Lesson 4: Compose",
        topic="Lesson 4: Docker Compose",
        page="compose.py",
        icon=":material/counter_4:",
        labs=(
            Lab(
                "wine",
                "wine",
                "wine-trainer",
                compose=True,
                run_timeout=300,
                title="Lesson 4: Compose",
            ),
        ),
    ),
    Lesson(
        "registry",
        title="A registry: push and pull",
        nav="Registry: push and pull",
        topic="Registries: docker push and docker pull",
        page="registry.py",
        icon=":material/cloud_upload:",
        labs=(),  # it pushes the images of Lesson 1 and Lesson 3
    ),
)
BY_ID: dict[str, Lesson] = {lesson.id: lesson for lesson in LESSONS}


class LessonCatalogError(RuntimeError):
    """A catalog entry that names something that is not there."""


def get(lesson_id: str) -> Lesson:
    try:
        return BY_ID[lesson_id]
    except KeyError:
        raise KeyError(f"No lesson {lesson_id!r}; the lessons are: {', '.join(BY_ID)}") from None


def check_catalog(
    pages_dir: Path, lessons: tuple[Lesson, ...] | None = None, labs_root: Path | None = None
) -> None:
    """Raise LessonCatalogError unless every lesson (default: `LESSONS`) has its page file and
    its lab folders, and ids and lab names are unique."""
    lessons = LESSONS if lessons is None else lessons
    labs_root = labs_root or labs_dir()
    problems = []
    ids = [lesson.id for lesson in lessons]
    names = [lab.name for lesson in lessons for lab in lesson.labs]
    for duplicate in sorted(
        {i for i in ids if ids.count(i) > 1} | {n for n in names if names.count(n) > 1}
    ):
        problems.append(f"{duplicate!r} is in the catalog twice")
    for lesson in lessons:
        if not (pages_dir / lesson.page).is_file():
            problems.append(f"lesson {lesson.id!r}: no page {pages_dir / lesson.page}")
        problems += [
            f"lesson {lesson.id!r}: no lab folder {labs_root / lab.folder}"
            for lab in lesson.labs
            if not (labs_root / lab.folder).is_dir()
        ]
    if problems:
        raise LessonCatalogError(
            "The lesson catalog (engine/catalog/lessons.py) is broken: " + "; ".join(problems)
        )
