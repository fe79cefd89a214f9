"""Keep every build and run the dashboard finishes in the history database: the pages' jobs and
the CLI's `build` and `run` verbs alike.

`recorded(target, history)` wraps a job target (dashboard/work/tasks.py): when the target
returns, still in its worker thread, the result is recorded once, whatever the pages rerun
afterwards. The CLI calls `record_quietly(open_history(), result)` after its own build or run.
`record(history, result)` knows the shapes the targets return: a `builds.BuildResult`, a
`tasks.RunOutcome` (one `docker run`), a `tasks.PairOutcome` (the four cache-order builds), a
`tasks.ComposeOutcome` (one row per service container) and a `tasks.GpuOutcome` (the GPU
lesson's run). Other results (exec, container actions, clean-up) are not builds or runs and are
left out. Recording never fails a job: the history swallows its own errors (see
engine/history.py), and anything else is logged.

No Streamlit here: the app hands in the History it keeps open (ui/state.py).
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dashboard.engine.history import History, default_path

log = logging.getLogger(__name__)


def dockerfile_from_command(command: str) -> Path | None:
    """The Dockerfile a `docker build ... -f FILE CONTEXT` command line names, as a path.

    builds.build_command writes paths inside the repository relative to its root.
    """
    from dashboard.engine.paths import REPO_ROOT

    try:
        words = shlex.split(command or "")
    except ValueError:
        return None
    for flag, value in zip(words, words[1:], strict=False):
        if flag in ("-f", "--file"):
            path = Path(value)
            return path if path.is_absolute() else REPO_ROOT / path
    if len(words) > 2 and words[:2] == ["docker", "build"]:
        return Path(words[-1]) / "Dockerfile" if Path(words[-1]).is_absolute() else None
    return None


def _record_build(history: History, result: Any) -> list[int | None]:
    return [history.record_build(result, dockerfile_from_command(result.command))]


def record(history: History | None, result: Any) -> list[int | None]:
    """Record what a finished job returned; the new row ids (None for a dropped write)."""
    if history is None or not history.enabled or result is None:
        return []
    from dashboard.engine.builds import BuildResult
    from dashboard.work import tasks  # tasks imports nothing from here: no cycle at run time

    if isinstance(result, BuildResult):
        return _record_build(history, result)
    if isinstance(result, tasks.RunOutcome):
        return [history.record_run(result.run, result.parsed)]
    if isinstance(result, tasks.PairOutcome):
        ids: list[int | None] = []
        for store in (result.baseline, result.rebuild):
            for build in store.values():
                ids += _record_build(history, build)
        return ids
    if isinstance(result, tasks.GpuOutcome):
        return [history.record_gpu_run(result.run, result.image)]
    if isinstance(result, tasks.ComposeOutcome):
        ids = []
        for service, state in sorted(result.states.items()):
            if not state.exited:  # stopped at the deadline is recorded by compose down, not here
                continue
            lines = [line.text for line in result.logs.get(service, ())]
            ids.append(history.record_service_run(state, lines, lab="wine"))
        return ids
    return []


def open_history() -> History:
    """The current owner's history file, for a process that keeps none open (the CLI).

    Never raises: a damaged or locked file gives a disabled History (engine/history.py).
    """
    return History.open(default_path())


def record_quietly(
    history: History | None, result: Any, what: str = "a result"
) -> list[int | None]:
    """`record`, but a history problem is logged, never raised: it must not turn a good build
    into a failure."""
    try:
        return record(history, result)
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
