"""The browser terminal on a page: xterm.js (terminal_component/) on the work layer's channel.

The component gets a one-time token and the channel's path (relative to the dashboard's root:
the component resolves it against its own address, so a proxy's prefix and scheme carry over),
never a container id it could change: what the terminal opens was fixed, and checked, when the
token was issued.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dashboard.engine.base.connection import DaemonUnavailable
from dashboard.engine.ops.runs import RunError
from dashboard.work import terminals

COMPONENT = Path(__file__).parent / "terminal_component"
_component = components.declare_component("terminal", path=str(COMPONENT))
HEIGHT = 360  # px of the terminal itself


def _browser() -> tuple[str, str, bytes | None] | str:
    """(session id, the page's origin, its XSRF token), or why a terminal cannot be bound."""
    ctx = get_script_run_ctx()
    headers = st.context.headers
    origin = headers.get("Origin")
    if ctx is None or not origin:
        return "the page's origin is unknown (is this a browser?)"
    xsrf = None
    if st.get_option("server.enableXsrfProtection"):
        xsrf = terminals.decode_xsrf(st.context.cookies.get(terminals.XSRF_COOKIE))
        if xsrf is None:
            return "the browser sent no XSRF cookie"
    return ctx.session_id, origin, xsrf


def _open(container: str) -> terminals.Opened | str:
    """A grant for `container` bound to this browser session, or the sentence why not."""
    try:
        terminals.check(container)  # the container first: its refusal is the one to read
        browser = _browser()
        if isinstance(browser, str):
            return f"No terminal: {browser}."
        session, origin, xsrf = browser
        return terminals.open_terminal(container, session=session, origin=origin, xsrf=xsrf)
    except (RunError, DaemonUnavailable) as exc:
        return str(exc)


def panel(container: str, key: str) -> None:
    """A button that opens `docker exec -it CONTAINER bash` in the page, and the terminal."""
    slot = f"{key}-open"
    if st.button(
        "Open a terminal", key=f"{key}-button", icon=":material/terminal:", type="primary"
    ):
        st.session_state[slot] = _open(container)
        st.session_state[f"{key}-serial"] = st.session_state.get(f"{key}-serial", 0) + 1
    opened = st.session_state.get(slot)
    if isinstance(opened, str):
        st.error(opened, icon=":material/block:")
    elif isinstance(opened, terminals.Opened):
        grant = opened.grant
        if grant.state == "closed":
            st.info(f"The terminal closed: {grant.ended}")
        else:
            st.caption(
                "Type as in any terminal: Ctrl-C interrupts, Ctrl-Shift-C / Ctrl-Shift-V copy "
                "and paste, `exit` or Ctrl-D ends the shell. It closes when you leave the page."
            )
            _component(
                token=grant.token,
                path=terminals.PATH,
                height=HEIGHT,
                title=opened.cli,
                key=f"{key}-term-{st.session_state.get(f'{key}-serial', 0)}",
                default=None,
            )
