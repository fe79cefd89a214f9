"""The page boundary: whatever a page or a live panel raises becomes a message, not a traceback.

`boundary()` wraps the page (in app.py) and every live fragment (fragments rerun on their own,
outside the page's `with`). The daemon going away shows the engine's sentence and its fix;
Docker's refusals show Docker's explanation; anything else is logged with its traceback on the
server console and shown as one line. Streamlit's own rerun/stop signals are BaseExceptions
and pass through. DASHBOARD_DEBUG=1 lets exceptions through, for development.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator

import streamlit as st

from dashboard import settings
from dashboard.work.jobs import describe_error

log = logging.getLogger(__name__)

UNEXPECTED = "Something unexpected went wrong on this page"


def describe(exc: BaseException) -> tuple[str, str | None]:
    """(message, hint) for a page: the engine's words where it has them."""
    import requests

    from dashboard.engine.base.connection import DaemonUnavailable

    if isinstance(exc, DaemonUnavailable):
        return exc.message, exc.hint
    message, hint = getattr(exc, "message", None), getattr(exc, "hint", None)
    if isinstance(message, str) and message and isinstance(hint, str) and hint:
        return message, hint  # e.g. Compose refused by the daemon: the fix once, below
    if isinstance(exc, requests.exceptions.ConnectionError):
        return (
            f"The Docker daemon stopped answering ({exc.__class__.__name__}).",
            "Is Docker still running? Check the sidebar, then press Refresh status.",
        )
    hint = getattr(exc, "hint", None)
    return describe_error(exc), hint if isinstance(hint, str) else None


def _expected(exc: BaseException) -> bool:
    import docker
    import requests

    from dashboard.engine.base.connection import DaemonUnavailable

    known: tuple[type[BaseException], ...] = (
        DaemonUnavailable,
        docker.errors.DockerException,
        requests.exceptions.RequestException,
        OSError,
        RuntimeError,
        KeyError,
        ValueError,
    )
    with contextlib.suppress(ImportError):
        from dashboard.engine.ops.runs import RunError

        known += (RunError,)
    with contextlib.suppress(ImportError):
        from dashboard.engine.ops.compose import ComposeFailed, ComposeUnavailable

        known += (ComposeFailed, ComposeUnavailable)
    with contextlib.suppress(ImportError):
        from dashboard.engine.analysis.images import ImageGone

        known += (ImageGone,)
    return isinstance(exc, known)


@contextlib.contextmanager
def boundary() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        if settings.debug():
            raise
        if _expected(exc):
            log.info("page error: %s", exc, exc_info=True)
            message, hint = describe(exc)
            st.error(message, icon=":material/error:")
            if hint:
                st.info(hint, icon=":material/build:")
        else:
            log.exception("unexpected error on a page")
            st.error(f"{UNEXPECTED}: {describe_error(exc)}", icon=":material/error:")


def guarded(func):
    """Run `func` inside `boundary()` (for fragments, which rerun outside the page's boundary)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with boundary():
            return func(*args, **kwargs)

    return wrapper
