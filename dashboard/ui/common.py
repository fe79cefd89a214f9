"""Small building blocks every page uses: headers, the command a button stands for, files shown
as code, and `live()`, which renders a job from a fragment that polls only while it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard.ui import errors, state
from dashboard.work.jobs import AnyKey, JobKey, JobSnapshot

# Live panels rerun this often while their job runs (and not at all otherwise): a container's
# line reaches the page within about half of it plus one render (bench: responsiveness).
POLL_SECONDS = 0.25
LIVE_FINISHED = "live-finished-"  # session state: the job number a panel drew as finished


def header(title: str, intro: str) -> None:
    st.title(title)
    st.markdown(intro)


def command(cmd: str, caption: str | None = None) -> None:
    """The exact `docker ...` command a button stands for, copyable."""
    if caption:
        st.caption(caption)
    st.code(cmd, language="bash", wrap_lines=True)


def show_file(path: Path, language: str, label: str | None = None, expanded: bool = False):
    """A lab file as code, in an expander titled with its path."""
    try:
        text = path.read_text()
    except OSError as exc:
        st.warning(f"Cannot read {path}: {exc}")
        return
    with st.expander(label or path.name, expanded=expanded):
        st.code(text, language=language, line_numbers=True, wrap_lines=True)


def live(
    key: AnyKey,
    render: Callable[[JobSnapshot | None], None],
    *,
    interval: float = POLL_SECONDS,
) -> None:
    """Render the job `key` with `render(snapshot)`, refreshed every `interval` s while it runs.

    The fragment is defined without a timer once the job has finished, so a finished page makes
    no more reruns; when the job finishes under a polling fragment, the whole page reruns once
    (cached reads cleared) so everything outside the fragment shows the new state too.
    """
    first = state.snapshot(key)
    polling = first is not None and first.running

    @st.fragment(run_every=interval if polling else None)
    def panel() -> None:
        # A fragment-only rerun starts without the context variables of the full run: act for
        # this browser's student again (engine/base/owner.py), or the panel reads the process's job.
        state.bind_owner()
        with errors.boundary():
            snap = state.snapshot(key)
            if polling and snap is not None and snap.finished:
                # First draw the finished job here, its last output lines included (a run
                # often prints them just before it exits: waiting for the whole page would
                # show them a page's rerun later); at the next tick, rerun the page so that
                # everything outside the panel shows the new state too.
                drawn = f"{LIVE_FINISHED}{snap.key.slug}"
                if st.session_state.get(drawn) == snap.number:
                    state.refresh_reads()
                    st.rerun()
                st.session_state[drawn] = snap.number
            render(snap)

    panel()


def cancel_button(snap: JobSnapshot) -> None:
    """While a job runs: a button that asks it to stop (a build closes its stream, a run or
    the Compose pair is stopped with SIGTERM, then SIGKILL after the grace period)."""
    from dashboard.ui import text as T

    key = "cancel-" + snap.key.slug
    if st.button(T.CANCEL, key=key, icon=":material/cancel:"):
        state.registry().cancel(snap.key)
        st.toast(f"Stopping: {snap.label}")


# Jobs that ended because the daemon went away: by exception type, or by the engine's sentence
# (a build reports it in its result instead of raising).
LOST_ERROR_TYPES = frozenset(
    {
        "DaemonLost",
        "DaemonUnavailable",
        "ConnectionError",
        "ConnectionRefusedError",
        "ProtocolError",
        "ReadTimeout",
        "ReadTimeoutError",
    }
)
LOST_SENTENCES = (
    "Lost the connection to the Docker daemon",
    "Cannot reach the Docker daemon",
    "Cannot connect to the Docker daemon",
)
DOCKER_STOPPED = "Failed: Docker stopped answering."


def lost_daemon(error: str | None, error_type: str | None = None) -> bool:
    """True when a job or a build ended because the Docker daemon stopped answering."""
    return error_type in LOST_ERROR_TYPES or any(s in (error or "") for s in LOST_SENTENCES)


def daemon_stopped(key: JobKey, detail: str | None) -> None:
    """A job the daemon walked away from: say so, and offer to check again and retry it."""
    st.error(f"{DOCKER_STOPPED} {detail or ''}".strip(), icon=":material/cloud_off:")
    from dashboard.ui import text as T

    if st.button(T.RETRY, key="retry-" + key.slug, icon=":material/refresh:"):
        state.refresh_all()
        if state.facts().ok and state.can_restart(key):
            state.restart(key)  # reruns the page
        st.rerun()  # still down: the frame shows "Docker is not reachable" and how to fix it


def job_failed(snap: JobSnapshot) -> bool:
    """Show a failed job's message (never a traceback); True if it failed."""
    if snap.status == "failed":
        if lost_daemon(snap.error, snap.error_type):
            daemon_stopped(snap.key, snap.error)
        else:
            st.error(snap.error or "The job failed.", icon=":material/error:")
        return True
    if snap.status == "cancelled":
        st.warning("Stopped before it finished.", icon=":material/stop_circle:")
        return True
    return False


def outcome(snap: JobSnapshot | None, *, idle: str = "", working: str = "") -> Any:
    """A job's result once it succeeded; until then shows why there is none and returns None.

    Nothing yet: the `idle` caption (if any). Running: a progress bar with the job's detail (or
    `working`). Failed or cancelled: its message (`job_failed`).
    """
    if snap is None:
        if idle:
            st.caption(idle)
        return None
    if snap.running:
        queue_notice(snap)
        st.progress(0.0, text=snap.detail or working or f"{snap.label}…")
        return None
    if job_failed(snap):
        return None
    return snap.result


def queue_notice(snap: JobSnapshot) -> None:
    """Classroom mode: a job that still waits for a build slot says where it is in the line."""
    from dashboard.ui import classroom

    classroom.queue_notice(snap.state.get("queue_position"))


def live_log(
    lines: list[str], height: int = 320, empty: str = "(waiting for output…)", wrap: bool = True
) -> None:
    """The last lines of a log, in a fixed-height box that follows the end."""
    with st.container(height=height, autoscroll=True):
        st.code("\n".join(lines) if lines else empty, language="text", wrap_lines=wrap)


def not_presenting() -> bool:
    return not state.presenting()
