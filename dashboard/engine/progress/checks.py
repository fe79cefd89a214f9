"""Guided checks: each lesson's steps, ticked from what the daemon and the history really show.

A check looks at real state, never at button clicks: an image that exists, a container of ours
that exited 0, a build in the history whose steps came from the cache. When a check holds it is
marked in the history database with the time it first held, so it stays ticked after the image
or container is removed: a `CheckResult` says both whether it is `true_now` and whether it was
`done_before`, and gives a `hint` for what to do when it is not done.

`evaluate(client, history, lesson=None)` asks the daemon a handful of questions (a few image
inspections, one container listing per lab, the logs of at most a few predictor containers), so
a page can call it on demand or every few seconds. With no daemon (`client=None`, or one that
stops answering) the daemon checks report the error and the history still answers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import docker

from dashboard.engine.analysis import images
from dashboard.engine.base import labels
from dashboard.engine.base.connection import DAEMON_ERRORS
from dashboard.engine.base.docker_text import parse_docker_time
from dashboard.engine.catalog import labs, lessons
from dashboard.engine.catalog.lab_output import parse_lab_output
from dashboard.engine.ops import registry, runs
from dashboard.engine.progress.history import RUN, SERVICE, BuildRecord, History, StepRecord

PREDICTOR_SERVICE = "predictor"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
LOG_TAIL = 200  # lines of a predictor's log read to find its predictions
MAX_LOG_READS = 3  # predictor containers whose logs are read, newest first


@dataclass(frozen=True)
class Check:
    """One step of a lesson: what to achieve and how."""

    id: str
    lesson: str  # a lesson id (engine/catalog/lessons.py)
    title: str
    hint: str  # what to do while it is not done


@dataclass(frozen=True)
class CheckResult:
    id: str
    lesson: str
    title: str
    done: bool  # true now, or ticked earlier
    hint: str
    detail: str  # what was found just now (names, sizes, times)
    true_now: bool  # the daemon / history shows it at this moment
    done_before: bool  # ticked by an earlier evaluation (kept in the history database)
    done_at: datetime | None  # when it first ticked
    done_detail: str = ""  # what was seen the last time it held
    error: str | None = None  # the daemon could not be asked

    @property
    def newly_done(self) -> bool:
        """Ticked for the first time by this evaluation (a moment for a balloon)."""
        return self.true_now and not self.done_before


@dataclass(frozen=True)
class Evidence:
    true_now: bool
    detail: str
    at: datetime | None = None  # when what was seen happened (an image built, a run ended)


def _lab(name: str) -> labs.Lab:
    """The catalog's lab, with the lecture's names (a student's own: `labs.get`, `_image`)."""
    return labs.LABS[name]


def _image(name: str) -> str:
    """The lab's image as the current owner names it (a classroom student: alice/iris-model:1.0)."""
    return labs.get(name).image


IRIS = _lab("iris")
MULTI = _lab("iris-multistage")
ONNX = _lab("iris-onnx")
CODE_FIRST = _lab("cache-code-first")
DEPS_FIRST = _lab("cache-deps-first")
WINE = _lab("wine")


@functools.cache
def _catalog(iris: labs.Lab, multi: labs.Lab, onnx: labs.Lab, wine: labs.Lab) -> tuple[Check, ...]:
    """The checks, their titles and hints naming these labs' images (a student's own)."""
    return (
        Check(
            "iris-image",
            "lesson1",
            f"Build the image {iris.image}",
            f"Build labs/iris: `{iris.build_command}` (the Build button of Lesson 1).",
        ),
        Check(
            "iris-run",
            "lesson1",
            f"Run a container from {iris.image} that exits with code 0",
            f"Run `{iris.run_command}`: it trains, prints the report and exits 0. It shows as "
            "Exited (0) in `docker ps -a`.",
        ),
        Check(
            "iris-rebuild-cached",
            "cache",
            "Rebuild iris with every step up to the pip install from the cache",
            "Edit labs/iris/main.py (a comment is enough) and build iris again: WORKDIR, COPY "
            "requirements.txt and the pip install come from the cache; only COPY main.py and what "
            "follows run again.",
        ),
        Check(
            "cache-order-compared",
            "cache",
            "Compare the two layer orders after an edit",
            "Build both cache-order Dockerfiles, edit labs/cache-order/main.py, then build both "
            "again: code-first (COPY . . before the install) runs pip install again; deps-first "
            "takes it from the cache and only copies main.py.",
        ),
        Check(
            "multistage-built",
            "multistage",
            f"Build {multi.image}, the multi-stage image as taught",
            f"Build labs/iris-multistage (`docker build -t {multi.image} .`); keep {iris.image} "
            "from Lesson 1 to compare: it is about as big, because its predictor stage installs "
            "the same libraries.",
        ),
        Check(
            "multistage-run",
            "multistage",
            f"Run {multi.image}: it predicts with the model trained during the build",
            f"Run `docker run {multi.image}`: it prints 'Predicted class: setosa' and exits 0.",
        ),
        Check(
            "onnx-smaller",
            "multistage",
            f"Build {onnx.image} and see it is smaller than {iris.image}",
            f"Build labs/iris-onnx (`docker build -t {onnx.image} .`); keep {iris.image} from "
            "Lesson 1 to compare: its predictor serves an ONNX model with onnxruntime, so "
            "scikit-learn and SciPy stay in the trainer stage.",
        ),
        Check(
            "onnx-run",
            "multistage",
            f"Run {onnx.image}: onnxruntime predicts without scikit-learn",
            f"Run `docker run {onnx.image}`: it prints 'Predicted class: setosa' and exits 0.",
        ),
        Check(
            "registry-pushed",
            "registry",
            f"Push {iris.image} to the local registry on {registry.ADDRESS}",
            f"Start the registry, then `{registry.push_command(iris.image)}` (the Push button "
            "of the registry lesson): the image gets a repo digest from the registry.",
        ),
        Check(
            "registry-pulled-run",
            "registry",
            f"Pull {registry.registry_ref(iris.image)} back and run it",
            f"`{registry.rmi_command(iris.image)}`, `{registry.pull_command(iris.image)}`, then "
            f"`docker run {registry.registry_ref(iris.image)}`: it prints 'Predicted class: "
            "setosa' and exits 0.",
        ),
        Check(
            "wine-predicted",
            "compose",
            "Run the wine pair with Compose: the predictor prints its predictions",
            f"Run `{wine.run_command}`: the trainer saves the model into the shared volume, the "
            "predictor finds it, prints 'Wine #0: predicted ...' and exits 0.",
        ),
    )


# With the lecture's names: ids, lessons and counts are the same for everyone.
CHECKS: tuple[Check, ...] = _catalog(IRIS, MULTI, ONNX, WINE)

CHECKS_BY_ID = {c.id: c for c in CHECKS}


# ---------------------------------------------------------------- facts, asked once


class _Facts:
    """What the checks ask the daemon and the history, each asked at most once."""

    def __init__(self, client, history: History | None, session: str | None):
        self.client = client
        self.history = history
        self.session = session
        self._images: dict[str, dict | None] = {}
        self._containers: dict[str, list[runs.ContainerRecord]] = {}

    def _need_client(self) -> None:
        if self.client is None:
            raise ConnectionError("Docker is not answering")

    def image(self, ref: str) -> dict | None:
        if ref not in self._images:
            self._need_client()
            try:
                self._images[ref] = self.client.api.inspect_image(ref)
            except docker.errors.ImageNotFound:
                self._images[ref] = None
        return self._images[ref]

    def size(self, ref: str) -> int:
        """The unpacked layers of image `ref` (0 when it is gone): like with like on every
        image store (see images.ImageSize)."""
        attrs = self.image(ref)
        if attrs is None:
            return 0
        try:
            return images.image_size(self.client, ref, inspect=attrs).layers_bytes
        except images.ImageGone:
            return 0

    def containers(self, lab: str) -> list[runs.ContainerRecord]:
        """Our containers of `lab` (this session's only when one is given), newest first."""
        if lab not in self._containers:
            self._need_client()
            self._containers[lab] = runs.list_lab_containers(self.client, lab, self.session)
        return self._containers[lab]

    def exited_ok(self, lab: str) -> list[runs.ContainerRecord]:
        return [c for c in self.containers(lab) if c.status == "exited" and c.exit_code == 0]

    def log_lines(self, container_id: str) -> list[str]:
        self._need_client()
        raw = self.client.api.logs(container_id, stdout=True, stderr=True, tail=LOG_TAIL)
        return raw.decode("utf-8", "replace").splitlines()

    def builds(self, lab: str, *, with_steps: bool = False, limit: int = 50) -> list[BuildRecord]:
        if self.history is None:
            return []
        return self.history.builds(lab, ok_only=True, with_steps=with_steps, limit=limit)


def _mb(size: int | None) -> str:
    return f"{(size or 0) / 1e6:,.0f} MB"


def _when(value: datetime | None) -> str:
    return f" at {value.astimezone():%H:%M:%S}" if value else ""


# ---------------------------------------------------------------- the checks


def _day(value: datetime | None) -> str:
    return f" on {value.astimezone():%d %b at %H:%M}" if value else ""


def _built_here(attrs: dict) -> bool:
    """An image this dashboard built for the current owner (its labels; a classroom student's
    own): an image of the same name built by hand, or by someone else, ticks nothing."""
    return labels.is_current_owners(labels.of_inspect(attrs))


def _image_exists(facts: _Facts, ref: str) -> Evidence:
    attrs = facts.image(ref)
    if attrs is None:
        return Evidence(False, f"There is no image {ref} on this machine.")
    created = parse_docker_time(attrs.get("Created"))
    what = f"{ref} exists ({_mb(facts.size(ref))}, id {attrs['Id'][7:19]}, built{_day(created)}"
    if not _built_here(attrs):
        return Evidence(
            False,
            f"{what}, not by this dashboard): build it here to tick this step.",
        )
    return Evidence(True, f"{what} by this dashboard).", at=created)


def _container_exited_ok(facts: _Facts, lab: str, image: str) -> Evidence:
    found = facts.exited_ok(lab)
    if found:
        c = found[0]
        more = f" ({len(found)} such containers)" if len(found) > 1 else ""
        return Evidence(
            True, f"Container {c.name} of {c.image} exited with code 0{more}.", at=c.created
        )
    # a `docker exec` that exited 0 is not a run of the image
    recorded = facts.history.runs(lab, ok_only=True, kind=RUN) if facts.history else []
    if recorded:
        r = recorded[-1]
        return Evidence(
            True,
            f"The history has a run of {r.image or image} that exited 0"
            f"{_when(r.finished_at or r.recorded_at)} (its container is gone).",
            at=r.finished_at or r.recorded_at,
        )
    others = facts.containers(lab)
    if others:
        c = others[0]
        state = c.status if c.exit_code is None else f"{c.status} with code {c.exit_code}"
        return Evidence(False, f"The latest container of {lab}, {c.name}, is {state}.")
    return Evidence(False, f"No container of ours from {image} yet.")


def _iris_rebuild(facts: _Facts) -> Evidence:
    found = facts.builds(IRIS.name, with_steps=True, limit=1)
    if not found:
        return Evidence(False, "No build of iris is in the history yet.")
    b = found[-1]
    text = (
        f"The latest iris build (#{b.id}, {b.seconds:.1f} s) took {b.steps_cached} of "
        f"{b.steps_cacheable} steps from the cache"
    )
    # Whatever the builder counts as a step (the classic builder also counts ENV and CMD), the
    # point is that everything up to the expensive install was reused.
    install = _install_step(b)
    before = [s for s in b.steps if install and s.index <= install.index]
    if install is not None and all(s.status in ("cached", "base") for s in before):
        return Evidence(
            True, text + ", every step up to the pip install among them.", at=b.finished_at
        )
    return Evidence(False, text + "; the pip install and the steps before it must all be.")


def _install_step(b: BuildRecord) -> StepRecord | None:
    return next((s for s in b.steps if s.keyword == "RUN" and "install" in s.instruction), None)


def _code_first_reran(builds: list[BuildRecord]) -> BuildRecord | None:
    """A code-first rebuild (not the first recorded one, not --no-cache) whose install ran."""
    for b in reversed(builds[1:]):
        step = _install_step(b)
        if step is not None and step.status == "executed" and "--no-cache" not in b.command:
            return b
    return None


def _deps_first_reused(builds: list[BuildRecord]) -> BuildRecord | None:
    """A deps-first build whose install came from the cache while a later step ran again."""
    for b in reversed(builds):
        step = _install_step(b)
        if step is None or step.status != "cached":
            continue
        if any(s.index > step.index and s.status == "executed" for s in b.steps):
            return b
    return None


def _cache_order(facts: _Facts) -> Evidence:
    code = _code_first_reran(facts.builds(CODE_FIRST.name, with_steps=True))
    deps = _deps_first_reused(facts.builds(DEPS_FIRST.name, with_steps=True))
    parts = []
    if code:
        parts.append(f"code-first build #{code.id} ran pip install again ({code.seconds:.1f} s)")
    else:
        parts.append("no code-first rebuild that ran pip install again yet")
    if deps:
        parts.append(
            f"deps-first build #{deps.id} took pip install from the cache ({deps.seconds:.1f} s)"
        )
    else:
        parts.append("no deps-first rebuild that reused pip install and copied main.py again")
    text = "; ".join(parts)
    at = max(code.finished_at, deps.finished_at) if code and deps else None
    return Evidence(bool(code and deps), text[0].upper() + text[1:] + ".", at=at)


def _multistage_built(facts: _Facts) -> Evidence:
    multi, iris = _image(MULTI.name), _image(IRIS.name)
    found = _image_exists(facts, multi)
    if not found.true_now or facts.image(iris) is None:
        return found
    new_size, old_size = facts.size(multi), facts.size(iris)
    share = (new_size - old_size) / old_size if old_size else 0.0
    return Evidence(
        True,
        f"{found.detail} Next to {iris} ({_mb(old_size)}) that is {share:+.1%} (unpacked "
        "layers): its predictor stage installs the same libraries as the trainer.",
        at=found.at,
    )


def _onnx_smaller(facts: _Facts) -> Evidence:
    slim, iris = _image(ONNX.name), _image(IRIS.name)
    built = _image_exists(facts, slim)
    if not built.true_now:
        return built
    old = facts.image(iris)
    if old is None:
        return Evidence(
            False,
            f"{slim} exists ({_mb(facts.size(slim))}) but {iris} is gone, so there "
            "is nothing to compare with: build Lesson 1 again.",
        )
    new_size, old_size = facts.size(slim), facts.size(iris)
    saved = old_size - new_size
    if saved > 0:
        share = saved / old_size if old_size else 0.0
        return Evidence(
            True,
            f"{slim} is {_mb(new_size)}, {iris} is {_mb(old_size)}: "
            f"{_mb(saved)} ({share:.0%}) smaller (unpacked layers).",
            at=built.at,
        )
    return Evidence(
        False,
        f"{slim} is {_mb(new_size)}, not smaller than {iris} ({_mb(old_size)}).",
    )


def _wine_predicted(facts: _Facts) -> Evidence:
    predictors = [
        c
        for c in facts.exited_ok(WINE.name)
        if c.labels.get(COMPOSE_SERVICE_LABEL) == PREDICTOR_SERVICE
    ]
    for c in predictors[:MAX_LOG_READS]:
        try:
            parsed = parse_lab_output(facts.log_lines(c.id))
        except docker.errors.NotFound:
            continue
        if parsed.predictions:
            first = parsed.predictions[0]
            return Evidence(
                True,
                f"{c.name} exited 0 and printed {len(parsed.predictions)} predictions "
                f"(the first: {first.label}).",
                at=c.created,
            )
    recorded = facts.history.runs(WINE.name, ok_only=True, kind=SERVICE) if facts.history else []
    with_predictions = [r for r in recorded if r.predictions]
    if with_predictions:
        r = with_predictions[-1]
        return Evidence(
            True,
            f"The history has a wine run ({r.container_name or r.service}) that printed "
            f"{len(r.predictions)} predictions{_when(r.finished_at or r.recorded_at)}.",
            at=r.finished_at or r.recorded_at,
        )
    if predictors:
        return Evidence(False, f"{predictors[0].name} exited 0 but printed no prediction.")
    others = [
        c
        for c in facts.containers(WINE.name)
        if c.labels.get(COMPOSE_SERVICE_LABEL) == PREDICTOR_SERVICE
    ]
    if others:
        c = others[0]
        state = c.status if c.exit_code is None else f"{c.status} with code {c.exit_code}"
        return Evidence(False, f"The predictor {c.name} is {state}.")
    return Evidence(False, "No predictor container of ours yet.")


def _registry_pushed(facts: _Facts) -> Evidence:
    image = _image(IRIS.name)
    target = registry.registry_ref(image)
    repo = target.rsplit(":", 1)[0]
    for ref in (target, image):
        attrs = facts.image(ref)
        digests = [d for d in (attrs or {}).get("RepoDigests") or () if d.startswith(repo + "@")]
        if digests and not _built_here(attrs):
            return Evidence(
                False,
                f"{ref} has a repo digest from {registry.ADDRESS}, but the image was not built "
                "by this dashboard: build it on Lesson 1 and push it here to tick this step.",
            )
        if digests:
            created = parse_docker_time(attrs.get("Created"))
            return Evidence(
                True,
                f"{ref}, built by this dashboard{_day(created)}, has the registry's repo digest "
                f"{digests[0]}: it was pushed.",
            )
    return Evidence(False, f"{image} has no repo digest from {registry.ADDRESS} yet: push it.")


EVALUATORS: dict[str, Callable[[_Facts], Evidence]] = {
    "iris-image": lambda f: _image_exists(f, _image(IRIS.name)),
    "iris-run": lambda f: _container_exited_ok(f, IRIS.name, _image(IRIS.name)),
    "iris-rebuild-cached": _iris_rebuild,
    "cache-order-compared": _cache_order,
    "multistage-built": _multistage_built,
    "multistage-run": lambda f: _container_exited_ok(f, MULTI.name, _image(MULTI.name)),
    "onnx-smaller": _onnx_smaller,
    "onnx-run": lambda f: _container_exited_ok(f, ONNX.name, _image(ONNX.name)),
    "wine-predicted": _wine_predicted,
    "registry-pushed": _registry_pushed,
    "registry-pulled-run": lambda f: _container_exited_ok(
        f, registry.PULLED_LAB, registry.registry_ref(_image(IRIS.name))
    ),
}


def _describe(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc).strip() or type(exc).__name__


# ---------------------------------------------------------------- public entry points


def checks_for(lesson: str | None = None) -> list[Check]:
    """The checks of one lesson (all lessons when None), in teaching order."""
    if lesson is not None:
        lessons.get(lesson)  # KeyError with the list of lessons
    mine = _catalog(
        labs.get(IRIS.name), labs.get(MULTI.name), labs.get(ONNX.name), labs.get(WINE.name)
    )
    return [c for c in mine if lesson is None or c.lesson == lesson]


def evaluate(
    client: docker.DockerClient | None,
    history: History | None,
    lesson: str | None = None,
    *,
    session: str | None = None,
    now: datetime | None = None,
) -> list[CheckResult]:
    """Evaluate the checks of `lesson` (or all) and tick the ones that hold in the history.

    `session` limits the container checks to one session's containers (default: any
    container the dashboard made on this machine). `client=None` means no daemon.
    """
    facts = _Facts(client, history, session)
    progress = history.check_progress() if history is not None else {}
    results = []
    for check in checks_for(lesson):
        error = None
        try:
            evidence = EVALUATORS[check.id](facts)
        except DAEMON_ERRORS as exc:
            error = f"Could not ask Docker: {_describe(exc)}"
            evidence = Evidence(False, error)
        before = progress.get(check.id)
        done_at = before.first_done_at if before else None
        done_detail = before.detail if before else ""
        if evidence.true_now and history is not None:
            if before is None or before.detail != evidence.detail:  # no write when unchanged
                at = evidence.at if before is None and evidence.at else now
                marked = history.mark_check(check.id, check.lesson, evidence.detail, at=at)
                done_at = marked or done_at
            done_detail = evidence.detail
        results.append(
            CheckResult(
                id=check.id,
                lesson=check.lesson,
                title=check.title,
                done=evidence.true_now or before is not None,
                hint=check.hint,
                detail=evidence.detail,
                true_now=evidence.true_now,
                done_before=before is not None,
                done_at=done_at,
                done_detail=done_detail,
                error=error,
            )
        )
    return results


def lesson_progress(results: list[CheckResult]) -> dict[str, tuple[int, int]]:
    """lesson -> (done, total), for progress bars."""
    out: dict[str, tuple[int, int]] = {}
    for r in results:
        done, total = out.get(r.lesson, (0, 0))
        out[r.lesson] = (done + int(r.done), total + 1)
    return out
