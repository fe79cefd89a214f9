"""Helpers of the AppTest tests: open a page, wait for a job by rerunning, read the metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
TIMEOUT = 60  # seconds a single script run may take (first imports, a cold Docker call)


def new_app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def open_page(at: AppTest, page: str) -> AppTest:
    """Run the app, then the page file (e.g. "lesson1.py")."""
    at.run()
    return at.switch_page(f"pages/{page}").run()


def wait_for(at: AppTest, done: Callable[[AppTest], bool], timeout: float, what: str) -> AppTest:
    """Rerun (as the page's polling fragment would) until `done(at)` or `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        assert not at.exception, [e.message for e in at.exception]
        if done(at):
            return at
        if time.monotonic() > deadline:
            shown = [e.value for e in at.error] + [m.value for m in at.markdown][-5:]
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; page: {shown}")
        time.sleep(0.5)
        at.run()


def unpacked_layers(client, ref: str) -> int:
    """What `docker history` adds up to for image `ref`: the size the pages show on every
    image store (on containerd, `docker images` and `docker image inspect` say other things)."""
    return sum(entry["Size"] for entry in client.api.history(ref))


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def assert_clean(at: AppTest) -> None:
    """No exception and no error message on the page."""
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def succeeded(at: AppTest, text: str) -> bool:
    """A success message on the page holds `text`."""
    return any(text in s.value for s in at.success)


def start_detached(at: AppTest, name: str, command: str | None = None) -> AppTest:
    """Lesson 1: start the detached container `name` (running `command`) and wait until it runs."""
    at.text_input(key="detach-name").input(name).run()
    if command is not None:
        at.text_input(key="detach-cmd").input(command).run()
    at.button(key="start-detached").click().run()
    return wait_for(at, lambda a: succeeded(a, f"Container {name} is running"), 60, name)
