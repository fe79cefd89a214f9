"""Lesson 1's browser terminal in headless Chromium: xterm.js over the dashboard's WebSocket (a
route of its own server) into `docker exec -it` in a running lab container, the refusal for a
container it did not make, the hang-up when the page goes, the sentences for a stopped container,
a refused token and an idle terminal, and a container started on the page offered to the
terminal without a reload. Behind nginx with TLS and a path prefix: test_terminal_proxy.py.

The lab container is started by the test with the dashboard's own session label (what the
page's "Start detached" button makes); the foreign one has no labels at all. Both are removed.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid

import docker
import pytest
from playwright.sync_api import expect

from dashboard import settings
from tests.e2e.browser import (
    PAGE_MS,
    app_env,
    assert_clean,
    button,
    open_url,
    screenshot,
    serve,
    wait_idle,
)
from tests.e2e.terminal_page import (
    FRAME,
    KEY,
    choose,
    containers,
    open_terminal,
    terminal_frame,
    wait_text,
)
from tests.lab_images import iris_image

pytestmark = [pytest.mark.docker, pytest.mark.e2e]
__all__ = ["containers"]  # the fixture, imported for pytest


def test_terminal_into_a_lab_container_and_refusal_for_a_foreign_one(page, app_url, containers):
    ours, foreign = containers
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_url)
    open_url(page, app_url + "/lesson1")
    choose(page, ours)
    expect(page.get_by_text(f"docker exec -it {ours} bash").first).to_be_visible()
    button(page, f"{KEY}-button").click()
    wait_idle(page)
    frame = terminal_frame(page)
    expect(frame.locator("#bar")).to_have_text(re.compile("^Connected"), timeout=PAGE_MS)
    wait_text(frame, r"root@\w+:/app# $")
    frame.locator(".xterm").click()

    page.keyboard.type("ls\n")
    wait_text(frame, r"^main\.py")
    page.keyboard.type("python -c 'print(6*7)'\n")
    wait_text(frame, r"^42\s*$")

    # Colours: the escape codes reach xterm.js, which draws red text with its colour class.
    page.keyboard.type("printf '\\033[31mred-text\\033[0m\\n'\n")
    expect(frame.locator(".xterm-rows span.xterm-fg-1", has_text="red-text")).to_be_visible()

    # Ctrl-C interrupts a running command (the byte 0x03, SIGINT from the container's pty).
    page.keyboard.type("sleep 60; echo slept\n")
    page.wait_for_timeout(500)  # let bash start sleep before the interrupt
    page.keyboard.press("Control+c")
    page.keyboard.type("echo back-$((40+2))\n")
    wait_text(frame, r"^back-42", timeout_ms=10_000)
    assert not re.search(r"^slept", frame.evaluate("window.__terminal.text()"), re.M)

    # Paste (the browser's paste event, as Ctrl-V / Ctrl-Shift-V delivers it) and copy
    # (Ctrl-Shift-C of the selection, through the page's clipboard).
    frame.evaluate(
        """() => { const dt = new DataTransfer(); dt.setData('text/plain', 'echo pas""ted');
            window.__terminal.term.textarea.dispatchEvent(
                new ClipboardEvent('paste', {clipboardData: dt, bubbles: true})); }"""
    )
    wait_text(frame, r'echo pas""ted$')  # bash takes a paste as text (bracketed paste) ...
    page.keyboard.press("Enter")  # ... until Enter
    wait_text(frame, r"^pasted")
    frame.evaluate("window.__terminal.term.selectAll()")
    page.keyboard.press("Control+Shift+C")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "pasted" in copied and "main.py" in copied

    # A rerun of the page (another button) keeps the terminal and its shell.
    button(page, "refresh-containers").click()
    wait_idle(page)
    frame.locator(".xterm").click()
    page.keyboard.type("echo still-$((6*7))\n")
    wait_text(frame, r"^still-42")

    # Resize: a narrower window fits fewer columns, and the container's pty is told.
    before = frame.evaluate("window.__terminal.term.cols")
    page.set_viewport_size({"width": 900, "height": 1000})
    frame.wait_for_function(f"() => window.__terminal.term.cols < {before}", timeout=PAGE_MS)
    cols = frame.evaluate("window.__terminal.term.cols")
    rows = frame.evaluate("window.__terminal.term.rows")
    frame.locator(".xterm").click()
    page.keyboard.type("stty size\n")
    wait_text(frame, rf"^{rows} {cols}\s*$")
    screenshot(page, "lesson1-terminal")

    page.keyboard.type("exit\n")
    expect(frame.locator("#bar")).to_have_text("The shell exited (exit code 0).", timeout=PAGE_MS)
    assert_clean(page)

    # A container the dashboard did not make: refused on the page, no terminal drawn.
    choose(page, foreign)
    button(page, f"{KEY}-button").click()
    wait_idle(page)
    refusal = page.get_by_text(f"No terminal into {foreign}: it was not made by the dashboard")
    expect(refusal).to_be_visible()
    assert page.locator(FRAME).count() == 0
    screenshot(page, "lesson1-terminal-refused")


def test_leaving_the_page_hangs_up_the_shell(page, app_url, containers, docker_client):
    ours, _ = containers
    frame = open_terminal(page, app_url + "/lesson1", ours)
    frame.locator(".xterm").click()
    page.keyboard.type("sleep 777\n")

    def sleeping() -> bool:
        return any("sleep 777" in " ".join(p) for p in docker_client.api.top(ours)["Processes"])

    deadline = time.monotonic() + 20
    while not sleeping():
        assert time.monotonic() < deadline, "the typed command never ran"
        time.sleep(0.2)
    open_url(page, app_url + "/")  # the page goes away, and its WebSocket with it
    deadline = time.monotonic() + 20
    while sleeping():
        assert time.monotonic() < deadline, "the shell kept running after the page went away"
        time.sleep(0.2)


def test_a_stopped_container_ends_the_terminal(page, app_url, containers, docker_client):
    ours, _ = containers
    frame = open_terminal(page, app_url + "/lesson1", ours)
    docker_client.containers.get(ours).stop(timeout=1)
    expect(frame.locator("#bar")).to_have_text(
        f"The container {ours} stopped; the shell went with it.", timeout=PAGE_MS
    )


def test_a_container_started_on_the_page_is_offered_without_a_reload(
    page, app_url, docker_client, session_id
):
    iris_image(docker_client)
    name = f"{session_id}-started-{uuid.uuid4().hex[:6]}"
    open_url(page, app_url + "/lesson1")
    field = page.locator(".st-key-terminal-container input")
    try:
        box = page.locator(".st-key-detach-name input")
        box.fill(name)
        box.press("Enter")
        wait_idle(page)
        button(page, "start-detached").click()
        expect(field).to_have_value(name, timeout=PAGE_MS)
        expect(page.get_by_text(f"docker exec -it {name} bash").first).to_be_visible()
        button(page, f"{KEY}-button").click()
        wait_idle(page)
        frame = terminal_frame(page)
        wait_text(frame, r"root@\w+:/app# $")
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(name).remove(force=True)


def test_a_frame_loaded_again_is_told_its_token_was_refused(page, app_url, containers):
    """The terminal's frame loaded a second time (a reload of the frame): Streamlit gives it the
    same token, which its first load spent. The page says so, not "could not connect"."""
    ours, _ = containers
    frame = open_terminal(page, app_url + "/lesson1", ours)
    frame.evaluate("location.reload()")
    frame = terminal_frame(page)
    bar = frame.locator("#bar")
    expect(bar).to_have_attribute("data-kind", "refused", timeout=PAGE_MS)
    expect(bar).to_have_text(
        "The dashboard refused this terminal (token already used). Open a new terminal."
    )


@pytest.fixture(scope="module")
def impatient_url(session_id, tmp_path_factory):
    """A dashboard whose terminals close after 3 s without a key (DASHBOARD_TERMINAL_IDLE)."""
    tmp = tmp_path_factory.mktemp("streamlit-idle")
    env = {**app_env(tmp, session_id), settings.TERMINAL_IDLE: "3"}
    try:
        with serve(tmp / "server.log", env) as url:
            yield url
    except RuntimeError as exc:
        pytest.fail(str(exc))


def test_an_idle_terminal_says_it_closed_for_idleness(page, impatient_url, containers):
    ours, _ = containers
    frame = open_terminal(page, impatient_url + "/lesson1", ours)
    bar = frame.locator("#bar")
    expect(bar).to_have_text(
        f"Closed after 3 s without a key pressed ({settings.TERMINAL_IDLE}).", timeout=PAGE_MS
    )
    expect(bar).to_have_attribute("data-kind", "ended")
