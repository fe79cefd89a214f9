"""The banner at the top of every page about what earlier dashboard sessions left behind.

A dashboard killed mid-run (SIGKILL, a closed laptop) leaves its containers, volumes and
networks behind, labelled with its session id. The first page of a browser session asks the
engine for them once (`cleanup.leftovers`), lists them by session and lab with their age, and
offers to remove the sessions the student picks (`cleanup.remove_all`: stopped, then removed,
never forced; what is in use stays and is reported) or to dismiss the banner. Images are not
leftovers: they carry no session and are the build cache every session shares.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime

import streamlit as st

from dashboard.ui import common, state
from dashboard.ui import text as T
from dashboard.work import tasks
from dashboard.work.jobs import JobKey, JobSnapshot

FOUND = "leftovers-found"  # session_state: (job number it was read after, Inventory)
DISMISSED = "leftovers-dismissed"
BROWSER = "leftovers-browser"  # session_state: this browser session's id, for its job key
SHOWN = 12  # objects listed per session before "and N more"


def job_key() -> JobKey:
    if BROWSER not in st.session_state:
        st.session_state[BROWSER] = uuid.uuid4().hex[:8]
    return JobKey("leftovers", st.session_state[BROWSER])


def created_at(value: str | int) -> datetime | None:
    from dashboard.engine.ops.runs import parse_docker_time

    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value, tz=UTC)
    return parse_docker_time(value) if isinstance(value, str) else None


def age(value: str | int, now: datetime | None = None) -> str:
    """ "3 h old", or "" when Docker gave no time."""
    when = created_at(value)
    if when is None:
        return ""
    seconds = max(0.0, ((now or datetime.now(UTC)) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit} old"
    return f"{seconds:.0f} s old"


def commands(sessions: list[str]) -> str:
    """What the button does, typed in a terminal."""
    from dashboard.engine.base import labels

    lines = []
    for session in sessions:
        wanted = f"label={labels.SESSION}={session}"
        lines += [
            f"docker ps -aq --filter {wanted} | xargs -r docker stop | xargs -r docker rm -v",
            f"docker network ls -q --filter {wanted} | xargs -r docker network rm",
            f"docker volume ls -q --filter {wanted} | xargs -r docker volume rm",
        ]
    return "\n".join(lines)


def _find():
    """Leftovers as of now, read once per browser session and again after its clean-up."""
    from dashboard.engine.base import labels
    from dashboard.engine.ops import cleanup

    snap = state.snapshot(job_key())
    after = snap.number if snap is not None and snap.finished else 0
    found = st.session_state.get(FOUND)
    if found is None or found[0] != after:
        found = (after, cleanup.leftovers(state.client(), labels.current_session()))
        st.session_state[FOUND] = found
    return found[1]


def _describe(objs) -> str:
    lines = []
    for obj in objs[:SHOWN]:
        facts = [f"lab {obj.lab}" if obj.lab else "", obj.status, age(obj.created)]
        lines.append(f"- {obj.kind} `{obj.name}` ({', '.join(f for f in facts if f)})")
    if len(objs) > SHOWN:
        lines.append(f"- … and {len(objs) - SHOWN} more")
    return "\n".join(lines)


def _running(obj) -> bool:
    return obj.kind == "container" and obj.status in ("running", "restarting", "paused")


def _result(snap: JobSnapshot | None) -> None:
    report = common.outcome(snap, working="Removing the leftovers…")
    if report is None:
        return
    (st.success if report.ok else st.warning)(
        f"Leftovers: {report.summary}.", icon=":material/cleaning_services:"
    )
    for removal in report.in_use + report.failed:
        st.caption(f"{removal.kind} `{removal.name}`: {removal.outcome}: {removal.detail}")


DISMISSED_FILE = "leftovers-dismissed.json"  # in the owner's data folder: survives a reload


def _dismissed_path():
    from dashboard.engine.base import paths

    return paths.owner_data_dir() / DISMISSED_FILE


def dismissed_sessions() -> set[str]:
    """Sessions whose leftovers the user dismissed (kept across reloads and restarts)."""
    try:
        return set(json.loads(_dismissed_path().read_text()))
    except (OSError, ValueError, TypeError):
        return set()


def dismiss(sessions) -> None:
    """Hide these sessions' leftovers from now on; new sessions' leftovers still show."""
    path = _dismissed_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(sorted(dismissed_sessions() | set(sessions))))
    except OSError:
        pass  # a read-only data folder: the session_state flag still hides it until reload


def _without(found, sessions: set[str]):
    """The inventory less the objects of `sessions`."""

    def keep(objs):
        return tuple(o for o in objs if o.session not in sessions)

    return type(found)(
        keep(found.containers), keep(found.images), keep(found.volumes), keep(found.networks)
    )


def banner() -> None:
    """Show the banner when earlier sessions left something behind (until dismissed)."""
    if st.session_state.get(DISMISSED):
        return
    key = job_key()
    snap = state.snapshot(key)
    found = _find()
    hidden = dismissed_sessions()
    if hidden:
        found = _without(found, hidden)
    if not found.all and snap is None:
        return
    by_session: dict[str, list] = defaultdict(list)
    for obj in found.all:
        by_session[obj.session or "?"].append(obj)
    with st.container(border=True, key="leftovers-banner"):
        if by_session:
            counts = ", ".join(f"{n} {kind}" for kind, n in found.counts.items() if n)
            st.warning(
                f"Leftovers from {len(by_session)} earlier dashboard session(s): {counts}. "
                "Open the list to pick what to remove; only objects with the dashboard's labels "
                "are listed, nothing else is touched.",
                icon=":material/inventory_2:",
            )
            live = {s for s, objs in by_session.items() if any(_running(o) for o in objs)}
            with st.expander("What they are, and clean-up", icon=":material/list:"):
                for session, objs in by_session.items():
                    st.markdown(f"**Session `{session}`**\n{_describe(objs)}")
                # Nothing is picked for the user: a running container may belong to a
                # dashboard that is still open in another terminal or on another laptop.
                picked = st.multiselect(
                    "Sessions to clean up",
                    list(by_session),
                    default=[],
                    key="leftovers-sessions",
                    format_func=lambda s: f"{s} (running)" if s in live else s,
                    help="A running container may belong to a dashboard that is still open.",
                )
                if picked:
                    common.command(commands(picked), "The button runs the equivalent of:")
                if st.button(
                    T.CLEAN_LEFTOVERS,
                    key="clean-leftovers",
                    type="primary",
                    disabled=not picked or (snap is not None and snap.running),
                    icon=":material/cleaning_services:",
                ):
                    chosen = found.only_session(picked[0])
                    for session in picked[1:]:
                        more = found.only_session(session)
                        chosen = type(found)(
                            chosen.containers + more.containers,
                            (),
                            chosen.volumes + more.volumes,
                            chosen.networks + more.networks,
                        )
                    state.start(key, tasks.remove_leftovers(chosen), "clean up leftovers")
            if st.button(T.DISMISS_LEFTOVERS, key="dismiss-leftovers", icon=":material/close:"):
                st.session_state[DISMISSED] = True
                dismiss(by_session)
                st.rerun()
        elif snap is not None and st.button(T.DISMISS_LEFTOVERS, key="dismiss-leftovers"):
            st.session_state[DISMISSED] = True
            st.rerun()
        common.live(key, _result)
