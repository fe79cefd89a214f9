"""What each button's job does, in its worker thread: call the engine, report through the job.

Every function here returns a target for `JobRegistry.start` (see dashboard/work/jobs.py).
Targets open their own Docker client (connections are not shared between threads), report
progress with `job.emit` / `job.update` / `job.progress`, and return a small result the page
(or the CLI) renders. They never call Streamlit. Engine modules are imported inside the targets,
so a page can be shown (and its import checked) before every engine module exists.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboard import settings
from dashboard.engine.ops.build_stream import StepLike
from dashboard.work import workspace
from dashboard.work.jobs import Job

Target = Callable[[Job], Any]

LIVE_LOG_LINES = 400  # what a job keeps for the live log (the engine keeps its own tails)


@contextlib.contextmanager
def docker_client() -> Iterator[Any]:
    from dashboard.engine.base.connection import connect

    client = connect()
    try:
        yield client
    finally:
        client.close()


def engine_call(module: str, function: str, *args, progress: str = "", **kwargs) -> Target:
    """The target of a job that is one engine call, `dashboard.engine.MODULE.FUNCTION(client,
    *args, **kwargs)`, on a client of its own; `progress` is what the job says meanwhile."""

    def target(job: Job):
        call = getattr(importlib.import_module(f"dashboard.engine.{module}"), function)
        if progress:
            job.progress(None, progress)
        with docker_client() as client:
            return call(client, *args, **kwargs)

    return target


# ---------------------------------------------------------------- builds


@dataclass(frozen=True)
class StepRow(StepLike):
    """An immutable copy of a build step, safe to hand to the page while the build goes on."""

    index: int
    total: int
    instruction: str
    stage: int
    stage_name: str | None
    status: str
    seconds: float
    layer_id: str | None
    miss_reason: str | None
    output_tail: tuple[str, ...] = ()
    started_at: float | None = None  # BuildKit: when the vertex started (epoch seconds)
    finished_at: float | None = None

    @classmethod
    def of(cls, step) -> StepRow:
        return cls(
            index=step.index,
            total=step.total,
            instruction=step.instruction,
            stage=step.stage,
            stage_name=step.stage_name,
            status=step.status,
            seconds=step.seconds,
            layer_id=step.layer_id,
            miss_reason=step.miss_reason,
            output_tail=tuple(step.output[-30:]),
            started_at=step.started_at,
            finished_at=step.finished_at,
        )


def consume_build(job: Job, events, *, state_key: str = "steps", prefix: str = ""):
    """Follow a `builds.stream_build` generator: live log, progress, steps; return the result."""
    from dashboard.engine.ops.build_stream import StepFinished, StepOutput, StepStarted
    from dashboard.engine.ops.builds import BuildFinished

    rows: dict[tuple[int, int], StepRow] = {}
    total = 1
    for event in events:
        if isinstance(event, StepStarted | StepFinished) and event.step.synthetic:
            continue
        if isinstance(event, StepStarted):
            step = event.step
            total = max(step.total, len(rows) + 1, total)
            rows[step.key] = StepRow.of(step)
            job.emit("line", f"{prefix}{_step_name(step)} {step.instruction}")
            job.progress(
                sum(r.status != "running" for r in rows.values()) / total,
                f"{_step_name(step)} {step.instruction}",
            )
            job.update(**{state_key: tuple(sorted(rows.values(), key=lambda r: r.key))})
        elif isinstance(event, StepOutput):
            job.emit("line", f"{prefix}{event.line}")
        elif isinstance(event, StepFinished):
            step = event.step
            rows[step.key] = StepRow.of(step)
            said = "CACHED" if step.status == "cached" else step.status
            job.emit("line", f"{prefix}{_step_name(step)} {said} ({step.seconds:.2f} s)")
            job.progress(sum(r.status != "running" for r in rows.values()) / total)
            job.update(**{state_key: tuple(sorted(rows.values(), key=lambda r: r.key))})
        elif isinstance(event, BuildFinished):
            result = event.result
            job.update(**{state_key: tuple(StepRow.of(s) for s in result.real_steps)})
            return result
    return None


def _step_name(step) -> str:
    """As the builder prints it: BuildKit's "[trainer 3/6]", the classic "Step 3/7 :"."""
    if step.started_at is not None or step.status in ("waiting", "canceled", "skipped"):
        stage = f"{step.stage_name} " if step.stage_name else ""
        return f"[{stage}{step.index}/{step.total}]"
    return f"Step {step.index}/{step.total} :"


def build_lab(lab_name: str, nocache: bool = False, stage: str | None = None) -> Target:
    """`docker build -t IMAGE -f DOCKERFILE labs/FOLDER` for a catalog lab (`--target STAGE`)."""

    def target(job: Job):
        from dashboard.engine.catalog import labs
        from dashboard.engine.ops import builds

        lab = labs.get(lab_name)
        with docker_client() as client:
            events = builds.stream_lab_build(
                client, lab, nocache=nocache, target=stage, cancel=job.cancel_event
            )
            return consume_build(job, events)

    return target


def build_folder(folder: Path, dockerfile: str, tag: str, lab_name: str) -> Target:
    """A build of a folder that is not a catalog lab (a working copy)."""

    def target(job: Job):
        from dashboard.engine.ops import builds

        with docker_client() as client:
            events = builds.stream_build(
                client,
                folder,
                dockerfile=dockerfile,
                tag=tag,
                lab_name=lab_name,
                cancel=job.cancel_event,
            )
            return consume_build(job, events)

    return target


@dataclass(frozen=True)
class RmiRebuildOutcome:
    """`docker rmi` of a lab image, then its build again: from the cache, in seconds."""

    rmi: Any  # prune.RmiResult
    build: Any  # builds.BuildResult


def rmi_then_rebuild(lab_name: str) -> Target:
    """`docker rmi IMAGE`, then `docker build` of the lab: the layers were never deleted."""

    def target(job: Job):
        from dashboard.engine.catalog import labs
        from dashboard.engine.ops import builds, prune

        lab = labs.get(lab_name)
        with docker_client() as client:
            job.progress(None, f"docker rmi {lab.image}")
            try:
                removed = prune.remove_tag(client, lab.image)
            except prune.RemoveRefused as exc:
                job.update(blocking=exc.users)  # the page offers to remove them, if still there
                raise
            for line in removed.lines:
                job.emit("line", line)
            job.update(rmi=removed)
            events = builds.stream_lab_build(client, lab, cancel=job.cancel_event)
            built = consume_build(job, events)
        return RmiRebuildOutcome(removed, built)

    return target


def prune_preview() -> Target:
    """What `docker builder prune -a` and `docker system prune -a` would remove (reads only)."""

    return engine_call("ops.prune", "prune_preview", progress="docker system df")


@dataclass(frozen=True)
class PairOutcome:
    """The cache-order comparison: the same edit, two Dockerfiles."""

    edit: str
    baseline: dict[str, Any]  # variant -> BuildResult before the edit
    rebuild: dict[str, Any]  # variant -> BuildResult after it


def cache_order_pair(folder: Path, variants: dict[str, tuple[str, str]]) -> Target:
    """Build both Dockerfiles of a working copy, append a comment to main.py, build both again.

    `variants`: name -> (dockerfile, tag, lab name: the history records each variant's builds
    under its own lab, which its check reads). The first round makes sure both have a recorded
    build of the unedited files, so the second round's cache misses are the edit's doing.
    """

    def target(job: Job):
        from dashboard.engine.ops import builds

        baseline: dict[str, Any] = {}
        rebuild: dict[str, Any] = {}
        with docker_client() as client:
            rounds = (("before the edit", baseline), ("after the edit", rebuild))
            edit = ""
            for number, (when, store) in enumerate(rounds):
                if number == 1:
                    edit = workspace.append_comment(folder.name, "main.py")
                    job.emit("line", f"main.py: appended `{edit}`")
                for variant, (dockerfile, tag, lab_name) in variants.items():
                    job.update(phase=f"{variant}, {when}")
                    events = builds.stream_build(
                        client,
                        folder,
                        dockerfile=dockerfile,
                        tag=tag,
                        lab_name=lab_name,
                        cancel=job.cancel_event,
                    )
                    result = consume_build(
                        job, events, state_key=f"steps:{variant}", prefix=f"[{variant}] "
                    )
                    if result is None or result.canceled:
                        return None
                    store[variant] = result
                    if not result.ok:
                        return PairOutcome(edit, baseline, rebuild)
        return PairOutcome(edit, baseline, rebuild)

    return target


# ---------------------------------------------------------------- runs and containers


@dataclass(frozen=True)
class RunOutcome:
    run: Any  # runs.RunResult
    parsed: Any  # lab_output.LabOutput


def run_image(
    image: str,
    lab: str,
    command: str | None = None,
    timeout: float | None = None,
    name: str | None = None,
) -> Target:
    """`docker run [--name NAME] IMAGE`: stream its lines, then parse what the lab printed."""

    def target(job: Job):
        from dashboard.engine.catalog import lab_output
        from dashboard.engine.ops import runs

        job.progress(None, runs.docker_run_command(image, command=command, name=name))
        with docker_client() as client:
            result = runs.run_container(
                client,
                image,
                lab=lab,
                command=command,
                name=name or None,
                timeout=timeout,
                on_line=lambda line: job.emit("line", line.text),
                cancel=job.cancel_event,
                tail_lines=LIVE_LOG_LINES,
            )
        return RunOutcome(result, lab_output.parse_lab_output(result.lines))

    return target


@dataclass(frozen=True)
class ActionOutcome:
    message: str
    cli: str
    record: Any = None


def start_detached(image: str, lab: str, command: str, name: str | None) -> Target:
    def target(job: Job):
        from dashboard.engine.ops import runs

        with docker_client() as client:
            record = runs.start_detached(client, image, lab=lab, command=command, name=name or None)
        return ActionOutcome(
            f"Container {record.name} is {record.status}: its command `{command}` keeps it alive.",
            record.cli,
            record,
        )

    return target


def stop_container(container_id: str) -> Target:
    return _on_container(container_id, "stop_container", "stopped")


def remove_container(container_id: str, force: bool = False) -> Target:
    return _on_container(container_id, "remove_container", "removed", force=force)


def _on_container(container_id: str, function: str, done: str, **kwargs) -> Target:
    """`docker stop` or `docker rm` of one container of ours (runs.FUNCTION), said in a line."""

    def target(job: Job):
        from dashboard.engine.ops import runs

        with docker_client() as client:
            action = getattr(runs, function)(client, container_id, **kwargs)
        what = "was already gone" if action.already_gone else done
        return ActionOutcome(f"Container {action.name or container_id[:12]} {what}.", action.cli)

    return target


def remove_containers(container_ids: list[str], force: bool = True) -> Target:
    """`docker rm -f A B ...` of containers of ours (a refusal's fix: they may still run)."""

    def target(job: Job):
        from dashboard.engine.ops import runs

        done = []
        with docker_client() as client:
            for container_id in container_ids:
                action = runs.remove_container(client, container_id, force=force)
                what = "was already gone" if action.already_gone else "removed"
                done.append(f"{action.name or container_id[:12]} {what}")
        return ActionOutcome("Container " + "; ".join(done) + ".", job.label)

    return target


# Each job has its own result type, even where two look alike (ExecOutcome, GpuOutcome): the
# pages and work/recording.py tell them apart by type.
@dataclass(frozen=True)
class ExecOutcome:
    result: Any  # runs.ExecResult
    parsed: Any  # lab_output.LabOutput
    container: str


def exec_in(container_id: str, name: str, command: str) -> Target:
    def target(job: Job):
        from dashboard.engine.catalog import lab_output
        from dashboard.engine.ops import runs

        job.progress(None, f"docker exec {name} {command}")
        with docker_client() as client:
            result = runs.exec_in(client, container_id, command)
        return ExecOutcome(result, lab_output.parse_lab_output(result.lines), name)

    return target


def follow_logs(container_id: str, name: str) -> Target:
    """`docker logs -f NAME`: each line into the job (the job keeps a bounded number) until the
    container stops or the job is cancelled ("Stop following"; the container keeps running)."""

    def target(job: Job):
        from dashboard.engine.ops import runs

        job.progress(None, runs.docker_logs_command(name, follow=True))
        with docker_client() as client:
            return runs.follow_logs(
                client,
                container_id,
                on_line=lambda line: job.emit("line", line.text),
                cancel=job.cancel_event,
            )

    return target


# ---------------------------------------------------------------- make


@dataclass(frozen=True)
class MakeOutcome:
    result: Any  # make.MakeResult
    notes: tuple[Any, ...]  # make.RefusalNote: what Docker refused, and the fix
    parsed: Any  # lab_output.LabOutput of what the run printed (make run, make all)
    changed: tuple[str, ...] = ()  # files of the working copy that differ from the lab's


def make_target(lab_name: str, target: str | None) -> Target:
    """`make [TARGET]` in the lab's working copy, with the dashboard's variables (labels, the
    owner's names): make's and docker's lines into the job, then what Docker refused."""

    def run(job: Job):
        from dashboard.engine.base import paths
        from dashboard.engine.catalog import lab_output, labs
        from dashboard.engine.offline import offline
        from dashboard.engine.ops import builds, make
        from dashboard.work import workspace

        lab = labs.get(lab_name)
        folder = workspace.ensure_copy(lab.folder)
        changed = workspace.changed_files(lab.folder)
        with docker_client() as client:
            makefile = make.read_makefile(folder / make.MAKEFILE)
            variables = make.variables_for(lab, makefile, network=offline.build_network(client))
            lab_makefile = make.read_makefile(paths.labs_dir() / lab.folder / make.MAKEFILE)
            planned = make.prepare(client, makefile, target, variables, lab_makefile)
            job.update(command=planned.command, folder=str(folder), goal=planned.goal)
            job.progress(None, planned.command)
            result = None
            for event in make.stream_make(
                planned, env=builds.cli_env(client), cancel=job.cancel_event
            ):
                if isinstance(event, make.MakeLine):
                    job.emit("line", event.text)
                else:
                    result = event.result
            notes = make.explain_refusals(client, result.refusals) if result else ()
        parsed = lab_output.parse_lab_output(list(result.lines) if result else [])
        return MakeOutcome(result, notes, parsed, changed)

    return run


# ---------------------------------------------------------------- Compose


def compose_project_name() -> str:
    """The wine pair's Compose project: "wine", as `docker compose` names it after the folder.

    DASHBOARD_COMPOSE_PROJECT picks another name (tests, or two dashboards on one daemon); a
    classroom student gets their own (`wine-alice`, see engine/base/owner.py).
    """
    from dashboard.engine.base import owner
    from dashboard.engine.ops import compose

    return owner.current().compose_project(settings.compose_project() or compose.DEFAULT_PROJECT)


BIND_FILE = "compose.bind.yaml"  # labs/wine: the lecture's host folder instead of the volume


def compose_project(client, env: dict[str, str] | None = None, *, bind: bool = False):
    """The wine pair's project (`compose_project_name`) on `client`. `bind`: the lecture's
    version, from a working copy of labs/wine with compose.bind.yaml on top, so the model lands
    in the copy's `shared/` folder (never in the repository)."""
    from dashboard.engine.ops import compose

    if not bind:
        return compose.ComposeProject(client, compose_project_name(), lab="wine", env=env or {})
    return compose.ComposeProject(
        client,
        compose_project_name(),
        lab="wine",
        env=env or {},
        folder=workspace.ensure_copy("wine"),
        extra_files=(BIND_FILE,),
    )


def compose_build(env: dict[str, str], *, bind: bool = False) -> Target:
    def target(job: Job):
        with docker_client() as client:
            project = compose_project(client, env, bind=bind)
            job.progress(None, project.build_command().display)
            result = consume_build(job, project.build_steps())  # the steps go to state "steps"
            job.update(build=result)
            if result is None or not result.ok:
                from dashboard.engine.ops.compose import ComposeBuildFailed

                raise ComposeBuildFailed(result.error if result else "The build did not finish.")
            return ComposeBuildOutcome(result, project.service_builds(result))

    return target


@dataclass(frozen=True)
class ComposeBuildOutcome:
    build: Any  # builds.BuildResult of the whole project (steps of every service)
    services: dict[str, Any]  # service -> builds.BuildResult of its image alone

    @property
    def seconds(self) -> float:
        return self.build.seconds


@dataclass(frozen=True)
class ComposeOutcome:
    command: str
    states: dict[str, Any]  # service -> compose.ServiceState
    events: tuple[Any, ...]  # compose.TimelineEvent, oldest first
    files: tuple[Any, ...]  # compose.VolumeFile
    logs: dict[str, tuple[Any, ...]]  # service -> compose.LogLine (bounded)
    parsed: Any  # lab_output.LabOutput of the predictor
    seconds: float
    timed_out: bool
    volume_command: str = ""
    up_output: tuple[str, ...] = field(default_factory=tuple)


def _publish(job: Job, project, states, files) -> None:
    services = sorted(set(states) | {"trainer", "predictor"})
    job.update(
        states=dict(states),
        logs={s: tuple(project.logs(s)) for s in services},
        events=tuple(project.timeline.events()),
        files=tuple(files),
    )


def compose_up(env: dict[str, str], timeout: float = 300, *, bind: bool = False) -> Target:
    """`docker compose up -d`, then watch both services until they exit (or the deadline)."""

    def target(job: Job):
        from dashboard.engine.catalog import lab_output
        from dashboard.engine.ops.compose import EventKind

        started = time.monotonic()
        with docker_client() as client:
            project = compose_project(client, env, bind=bind)
            command = project.up_command().display
            job.update(command=command)
            job.progress(None, command)
            up = project.up()
            for line in up.output[-20:]:
                job.emit("line", line)
            stop = threading.Event()

            def follow() -> None:
                with contextlib.suppress(Exception):  # the states loop below is the judge
                    for _ in project.follow_logs(stop=stop):
                        pass

            follower = threading.Thread(target=follow, name="compose-logs", daemon=True)
            follower.start()
            deadline = time.monotonic() + timeout
            files: list = []
            listed_at = 0.0
            timed_out = False
            try:
                while True:
                    states = project.states()
                    trainer = states.get("trainer")
                    saved = project.timeline.first("trainer", EventKind.MODEL_SAVED)
                    if (saved or (trainer and trainer.exited)) and time.monotonic() - listed_at > 3:
                        files = project.volume_files()
                        listed_at = time.monotonic()
                    _publish(job, project, states, files)
                    running = [s for s in states.values() if not s.exited]
                    job.progress(None, f"{len(running)} of {len(states)} services running")
                    if len(states) >= 2 and not running:
                        break
                    if job.cancelled or time.monotonic() > deadline:
                        timed_out = not job.cancelled
                        project.stop()
                        break
                    time.sleep(0.5)
            finally:
                follower.join(timeout=10)
                stop.set()
                follower.join(timeout=5)
            files = project.volume_files()
            states = project.states()
            _publish(job, project, states, files)
            logs = {s: tuple(project.logs(s)) for s in states}
            predictor_lines = [line.text for line in logs.get("predictor", ())]
            return ComposeOutcome(
                command=command,
                states=states,
                events=tuple(project.timeline.events()),
                files=tuple(files),
                logs=logs,
                parsed=lab_output.parse_lab_output(predictor_lines),
                seconds=time.monotonic() - started,
                timed_out=timed_out,
                volume_command=project.volume_files_command(),
                up_output=tuple(up.output[-20:]),
            )

    return target


def compose_down(*, bind: bool = False) -> Target:
    def target(job: Job):
        with docker_client() as client:
            project = compose_project(client, bind=bind)
            result = project.down(volumes=True)
        for line in result.output:
            job.emit("line", line)
        return result

    return target


# ---------------------------------------------------------------- GPU


@dataclass(frozen=True)
class GpuOutcome:
    run: Any  # gpu.DeviceRun
    parsed: Any  # lab_output.LabOutput
    image: str


def gpu_run(image: str, timeout: float = 120) -> Target:
    def target(job: Job):
        import docker

        from dashboard.engine.base import labels
        from dashboard.engine.catalog import lab_output
        from dashboard.engine.ops import gpu

        job.progress(None, f"docker run --gpus all {image}")
        with docker_client() as client:
            try:
                client.images.get(image)
            except docker.errors.ImageNotFound:
                raise RuntimeError(
                    f"There is no image {image} yet: build it on the Lesson 1 page first."
                ) from None
            run = gpu.run_preferring_gpu(
                client, image, labels=labels.for_lab("gpu"), timeout=timeout
            )
        for line in run.logs.splitlines():
            job.emit("line", line)
        return GpuOutcome(run, lab_output.parse_lab_output(run.logs.splitlines()), image)

    return target


def gpu_probe() -> Target:
    return engine_call("ops.gpu", "gpu_status", probe=True)


# ---------------------------------------------------------------- sizes and clean-up


@dataclass(frozen=True)
class LayerFilesSummary:
    index: int
    created_by: str
    size_bytes: int
    added: int
    modified: int
    removed: int


@dataclass(frozen=True)
class EfficiencyOutcome:
    ref: str
    report: Any  # efficiency.EfficiencyReport
    layers: tuple[LayerFilesSummary, ...]
    archive_bytes: int
    save_seconds: float
    source: str = ""  # layerfiles.SOURCE_SAVE, SOURCE_OVERLAY2 or SOURCE_CONTAINERD
    fallback_reason: str = ""  # why `docker save` was used instead of a fast path


def analyse_image(ref: str) -> Target:
    """Read every layer's file list (the daemon's layer or content store in place, else
    `docker save`), score it the way dive does."""

    def target(job: Job):
        from dashboard.engine.analysis import layerfiles
        from dashboard.engine.analysis.layerfiles import efficiency

        job.progress(None, f"reading every layer's files of {ref}")
        with docker_client() as client:
            files = layerfiles.image_files(client, ref)
        report = efficiency.efficiency(files.layers, top=15)
        layers = tuple(
            LayerFilesSummary(
                layer.index,
                layer.created_by,
                layer.size_bytes,
                len(layer.added),
                len(layer.modified),
                len(layer.removed),
            )
            for layer in files.layers
        )
        return EfficiencyOutcome(
            ref,
            report,
            layers,
            files.archive_bytes,
            files.save_seconds,
            source=files.source,
            fallback_reason=files.fallback_reason,
        )

    return target


def remove_leftovers(inventory) -> Target:
    """Remove exactly these leftovers of earlier sessions (cleanup.remove_all: never forced)."""

    progress = f"Removing {len(inventory.all)} leftovers"
    return engine_call("ops.cleanup", "remove_all", inventory, progress=progress)


def reset(
    session: str | None,
    include_images: bool,
    *,
    containers_only: bool = False,
    keep_volumes: tuple[str, ...] = (),
) -> Target:
    """Remove what we made: one session's, or everything of ours (a classroom student: only
    what carries their student label, never another student's). `containers_only`: nothing
    but containers; `keep_volumes`: volumes never removed here (by name)."""

    def target(job: Job):
        from dashboard.engine.base import owner
        from dashboard.engine.ops import cleanup

        student = owner.current().student
        with docker_client() as client:
            return cleanup.reset(
                client,
                session=session,
                include_images=include_images,
                student=student,
                containers_only=containers_only,
                keep_volumes=keep_volumes,
            )

    return target


def reset_student(student: str) -> Target:
    """The instructor's clean-up of one classroom student: everything with their label."""

    progress = f"Removing what {student} made"
    return engine_call(
        "ops.cleanup", "reset", include_images=True, student=student, progress=progress
    )


# ---------------------------------------------------------------- the registry lesson


def registry_up() -> Target:
    """Start the local registry on 127.0.0.1:5000 (its image first: pulled, or from Debian)."""

    def target(job: Job):
        from dashboard.engine.ops import registry

        job.progress(None, "Starting the registry")
        with docker_client() as client:
            return registry.up(client, lambda line: job.emit("line", line))

    return target


def registry_down(volume: bool) -> Target:
    return engine_call("ops.registry", "down", volume=volume)


@dataclass(frozen=True)
class RegistryPushOutcome:
    """A lab image pushed to the local registry (built first when it was missing)."""

    transfer: Any  # registry.Transfer
    build: Any = None  # builds.BuildResult when the image had to be built


def registry_push(lab_name: str) -> Target:
    """`docker tag` + `docker push` of a lab's image to 127.0.0.1:5000, building it if missing."""

    def target(job: Job):
        import docker

        from dashboard.engine.catalog import labs
        from dashboard.engine.ops import builds, registry

        lab = labs.get(lab_name)
        built = None
        with docker_client() as client:
            try:
                client.api.inspect_image(lab.image)
            except docker.errors.ImageNotFound:
                job.emit("line", f"{lab.image} is missing: building it first")
                built = consume_build(
                    job, builds.stream_lab_build(client, lab, cancel=job.cancel_event)
                )
            if built is not None and not built.ok:
                raise RuntimeError(f"Building {lab.image} failed: {built.error}")
            job.progress(None, f"docker push {registry.registry_ref(lab.image)}")
            transfer = registry.push(client, lab.image, lambda line: job.emit("line", line))
        if transfer.error:
            raise RuntimeError(f"docker push failed: {transfer.error}")
        return RegistryPushOutcome(transfer, built)

    return target


def registry_rmi(image: str, also_source: bool = False) -> Target:
    def target(job: Job):
        from dashboard.engine.ops import registry

        with docker_client() as client:
            untagged = registry.remove_local(client, image, also_source=also_source)
        what = "removed" if untagged.removed else "was not here"
        return ActionOutcome(
            f"{untagged.ref} {what}. " + " ".join(untagged.lines), untagged.command
        )

    return target


@dataclass(frozen=True)
class RegistryPullOutcome:
    transfer: Any  # registry.Transfer
    restored: str | None = None  # `docker tag ...` that gave the lab its name back


def registry_pull(image: str) -> Target:
    def target(job: Job):
        from dashboard.engine.ops import registry

        job.progress(None, registry.pull_command(image))
        with docker_client() as client:
            transfer = registry.pull(client, image, lambda line: job.emit("line", line))
            if transfer.error:
                raise RuntimeError(f"docker pull failed: {transfer.error}")
            restored = registry.restore_name(client, image)
        return RegistryPullOutcome(transfer, restored)

    return target


@dataclass(frozen=True)
class RegistryView:
    catalog: Any  # registry.Catalog
    comparison: Any  # registry.Comparison, None when `image` is not in the registry
    problem: str = ""


def registry_view(image: str) -> Target:
    """The catalog, the tags, and `image`'s manifest next to `docker history` (reads only)."""

    def target(job: Job):
        from dashboard.engine.ops import registry

        job.progress(None, registry.api_command("/v2/_catalog"))
        with docker_client() as client:
            found = registry.catalog(client)
            try:
                return RegistryView(found, registry.compare(client, image))
            except registry.RegistryError as exc:
                return RegistryView(found, None, str(exc))

    return target
