"""Classroom (instructor): every student's progress and resources, the build queue, and a
clean-up per student. Shown only in classroom mode (DASHBOARD_CLASSROOM=1); when
DASHBOARD_INSTRUCTOR_KEY is set, the page asks for it first.
"""

import hmac

import pandas as pd
import streamlit as st

from dashboard import settings
from dashboard.engine.base import labels, owner
from dashboard.ui import common, shell, state
from dashboard.ui import text as T
from dashboard.work import tasks
from dashboard.work.jobs import JobKey

KEY_ENV = settings.INSTRUCTOR_KEY
UNLOCKED = "instructor-unlocked"


def _unlocked() -> bool:
    """True when no key is configured, or this browser session typed the right one."""
    expected = settings.instructor_key()
    if not expected or st.session_state.get(UNLOCKED):
        return True
    typed = st.text_input(T.INSTRUCTOR_KEY, type="password", key="instructor-key")
    if typed:
        if hmac.compare_digest(typed.encode(), expected.encode()):
            st.session_state[UNLOCKED] = True
            st.rerun()
        st.error("That is not the instructor key.", icon=":material/lock:")
    else:
        st.caption(
            f"This page lists every student: type the key the server was started with ({KEY_ENV})."
        )
    return False


def _queue_rows() -> list[dict]:
    rows = []
    for entry in state.build_queue().entries():
        key = JobKey.of(entry.ticket)
        rows.append(
            {
                "student": key.student or "",
                "job": str(key),
                "position": "building now" if entry.position == 0 else f"waiting: {entry.position}",
            }
        )
    return rows


def render() -> None:
    common.header(
        T.TITLE_CLASSROOM,
        "Every student on this server: how far they got in the lessons (the checks their own "
        "pages ticked), what they have on the daemon right now, and the build queue. Each "
        "student's objects carry the label "
        f"`{labels.STUDENT}=NAME`; their images are called `NAME/...`.",
    )
    if not state.classroom():
        st.info("Classroom mode is off: start the server with DASHBOARD_CLASSROOM=1.")
        return
    if not _unlocked():
        return
    if not settings.instructor_key():
        st.caption(
            f"Open to anyone who can reach this server: set {KEY_ENV} to ask for a key first."
        )

    st.header("Students")
    roster = state.roster()
    if not roster:
        st.caption("No student yet: they appear here once they have picked a name and built.")
    else:
        st.dataframe(
            pd.DataFrame.from_records(
                [
                    {
                        "student": r.student,
                        "progress": 100 * r.checks_done / r.checks_total if r.checks_total else 0,
                        "checks": f"{r.checks_done} of {r.checks_total}",
                        "builds": r.builds,
                        "runs": r.runs,
                        "containers": r.containers,
                        "running": r.running,
                        "images": r.images,
                        "volumes": r.volumes,
                        "last activity": r.last_activity.astimezone().strftime("%H:%M:%S")
                        if r.last_activity
                        else "",
                    }
                    for r in roster
                ]
            ),
            column_config={
                "progress": st.column_config.ProgressColumn(
                    "progress", min_value=0, max_value=100, format="%.0f%%"
                )
            },
            hide_index=True,
            key="roster",
        )
        common.command(
            f"docker ps -a --filter label={labels.STUDENT}=NAME\n"
            f"docker images --filter label={labels.STUDENT}=NAME",
            "One student's containers and images, from a terminal on the server:",
        )

    st.header("Build queue")
    rows = _queue_rows()
    st.caption(
        f"{state.build_slots()} build(s) at a time (DASHBOARD_BUILD_SLOTS); the others wait in "
        "the order they were pressed."
    )
    if rows:
        st.dataframe(pd.DataFrame.from_records(rows), hide_index=True, key="queue")
    else:
        st.caption("Nobody is building right now.")
    if st.button("Refresh", key="classroom-refresh", icon=":material/refresh:"):
        state.refresh_reads()
        st.rerun()

    st.header("Clean up after a student")
    names = [r.student for r in roster if r.resources]
    if not names:
        st.caption("No student has anything on the daemon.")
        return
    student = st.selectbox("Student", names, key="reset-student-name")
    wanted = f"label={labels.STUDENT}={student}"
    common.command(
        f"docker ps -aq --filter {wanted} | xargs -r docker rm -f\n"
        f"docker volume ls -q --filter {wanted} | xargs -r docker volume rm\n"
        f"docker images -q --filter {wanted} | xargs -r docker rmi",
        "Removes only what carries this student's label (nothing forced, nobody else's):",
    )
    key = JobKey("reset-student", student)
    if st.button(T.RESET_STUDENT, key="reset-student", icon=":material/delete_sweep:"):
        state.start(key, tasks.reset_student(owner.slug(student)), f"clean up {student}")

    def panel(snap) -> None:
        report = common.outcome(snap, working="Removing…")
        if report is not None:
            (st.success if report.ok else st.warning)(f"{student}: {report.summary}.")

    common.live(key, panel)


shell.run_page(render, __file__)
