"""Keep every build and run the dashboard finishes in the history database: the pages' jobs and
the CLI's `build` and `run` verbs alike.

`recorded(target, history)` wraps a job target (dashboard/work/tasks.py): when the target
returns, still in its worker thread, the result is recorded once, whatever the pages rerun
afterwards. The CLI calls `record_quietly(open_history(), result)` after its own build or run.
`record(history, result)` knows the shapes the targets return: a `builds.BuildResult`, a
`tasks.RunOutcome` (one `docker run`), a `tasks.PairOutcome` (the four cache-order builds), a
`tasks.RmiRebuildOutcome` (the build after `docker rmi`), a `tasks.ComposeBuildOutcome` (one
row per service's image), a `tasks.ComposeOutcome` (one row per service container), a
`tasks.GpuOutcome` (the GPU lesson's run) and a `tasks.ExecOutcome` (one `docker exec`). Other
results (container actions, clean-up) are not builds or runs and are
left out. Recording never fails a job: the history swallows its own errors (see
engine/progress/history.py), and anything else is logged.

No Streamlit here: the app hands in the History it keeps open (ui/state.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from dashboard.engine.progress.history import History, default_path

log = logging.getLogger(__name__)


def _record_build(history: History, result: Any) -> list[int | None]:
    return [history.record_build(result, result.dockerfile, dockerfile_text=result.dockerfile_text)]


def record(history: History | None, result: Any) -> list[int | None]:
    """Record what a finished job returned; the new row ids (None for a dropped write)."""
    if history is None or not history.enabled or result is None:
        return []
    from dashboard.engine.ops.builds import BuildResult

    if isinstance(result, BuildResult):  # before importing tasks: the CLI's `build` needs none
        return _record_build(history, result)
    from dashboard.work import tasks  # tasks imports nothing from here: no cycle at run time

    if isinstance(result, tasks.RunOutcome):
        return [history.record_run(result.run, result.parsed)]
    if isinstance(result, tasks.PairOutcome):
        ids: list[int | None] = []
        for store in (result.baseline, result.rebuild):
            for build in store.values():
                ids += _record_build(history, build)
        return ids
    if isinstance(result, tasks.RmiRebuildOutcome) and result.build is not None:
        return _record_build(history, result.build)
    if isinstance(result, tasks.ComposeBuildOutcome):
        return [_record_build(history, build)[0] for _, build in sorted(result.services.items())]
    if isinstance(result, tasks.ExecOutcome):
        return [history.record_exec(result.result, result.parsed)]
    if isinstance(result, tasks.GpuOutcome):
        return [history.record_gpu_run(result.run, result.image)]
    if isinstance(result, tasks.RegistryPushOutcome) and result.build is not None:
        return _record_build(history, result.build)
    if isinstance(result, tasks.ComposeOutcome):
        return record_services(history, result.states, result.logs, lab="wine")
    return []


def record_services(
    history: History, states: dict[str, Any], logs: dict[str, Any], *, lab: str
) -> list[int | None]:
    """One row per Compose service whose container exited (`compose.ServiceState`), with its
    log lines (`compose.LogLine`s per service); one stopped at a deadline is left out."""
    ids: list[int | None] = []
    for service, state in sorted(states.items()):
        if state.exited:
            lines = [line.text for line in logs.get(service, ())]
            ids.append(history.record_service_run(state, lines, lab=lab))
    return ids


def open_history() -> History:
    """The current owner's history file, for a process that keeps none open (the CLI).

    Never raises: a damaged or locked file gives a disabled History (engine/progress/history.py).
    """
    return History.open(default_path())


def record_quietly(
    history: History | None, result: Any, what: str = "a result"
) -> list[int | None]:
    """`record`, but a history problem is logged, never raised: it must not turn a good build
    into a failure."""
    return quietly(record, history, result, what=what)


def quietly(fn: Callable, *args: Any, what: str = "a result", **kwargs: Any) -> list[int | None]:
    """`fn(*args, **kwargs)` (a recorder), logging instead of raising any problem."""
    try:
        return fn(*args, **kwargs)
    except Exception:
        log.warning("could not record %s in the history", what, exc_info=True)
        return []


def recorded(target: Callable, history: History | None) -> Callable:
    """`target`, plus recording its result in `history` once it returns."""
    if history is None or not history.enabled:
        return target

    def wrapped(job):
        result = target(job)
        if not job.cancelled:
            record_quietly(history, result, job.label)
        return result

    return wrapped
