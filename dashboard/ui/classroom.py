"""Classroom mode in the page: the name a student picks on their first visit, and who they are in
the sidebar. The namespacing itself is engine/base/owner.py; the queue is dashboard/work/slots.py.
"""

from __future__ import annotations

import streamlit as st

from dashboard import settings
from dashboard.engine.base import owner
from dashboard.ui import state
from dashboard.ui import text as T


def welcome() -> None:
    """The first page of a classroom session: pick a name, then every page is yours."""
    st.title(T.TITLE_WELCOME)
    st.markdown(
        "This dashboard runs on a server the whole class shares: one Docker daemon, many "
        "students. Pick a name first. Everything you build, run or remove is yours alone: your "
        "images are called `NAME/iris-model:1.0`, your containers and volumes carry the label "
        "`io.dockerml.dashboard.student=NAME`, and your resets never touch another student's. "
        "Builds wait their turn in the server's queue, so a full class does not overload it."
    )
    with st.form("student-form", border=True):
        name = st.text_input(
            T.STUDENT_NAME,
            max_chars=40,
            placeholder="e.g. ada",
            help="Letters and digits; spaces become dashes. Use the same name to come back.",
        )
        if st.form_submit_button(T.START_CLASS, type="primary", icon=":material/login:"):
            try:
                who = state.choose_student(name)
            except owner.BadStudentName as exc:
                st.error(str(exc), icon=":material/error:")
            else:
                st.toast(f"Hello {who.student}: your images are {who.image('iris-model:1.0')}")
                st.rerun()
    st.caption(
        "Anyone who can open this page can type any name: the name keeps students apart, it is "
        "not a password. Ask your instructor before using a shared server from outside the room."
    )


def sidebar_block() -> None:
    """Who this browser works for, and a way to switch names."""
    who = owner.current()
    if not who.student:
        return
    st.markdown(
        f"**Student** `{who.student}` · images `{who.image('…')}` · "
        f"{state.build_slots()} build(s) at a time on this server"
    )
    if settings.seat_student():
        st.caption("Your own seat of the class's hub: log out from the hub's page.")
        return
    if st.button(T.CHANGE_NAME, key="change-name", icon=":material/logout:"):
        st.session_state.pop(state.STUDENT_PARAM, None)
        st.query_params.pop(state.STUDENT_PARAM, None)
        st.rerun()


def queue_notice(position: int | None) -> None:
    """A running job that still waits for a build slot: its place in the line."""
    if position:
        ahead = "you are next" if position == 1 else f"{position - 1} build(s) wait before yours"
        st.info(
            f"In the queue: number {position} ({ahead}). This server runs "
            f"{state.build_slots()} build(s) at a time; yours starts when a slot is free.",
            icon=":material/hourglass_top:",
        )
