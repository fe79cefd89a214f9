"""Echo latency of lesson 1's browser terminal, and its floor.

A key pressed in headless Chromium (Playwright), timed inside the page by the terminal's own probe
(dashboard/ui/terminal_component/terminal.js): from the keydown on xterm.js's textarea to the
frame after the echo was parsed into the terminal's buffer. Both sides run the same page, the
same xterm.js and the same WebSocket server code (dashboard/work/terminals.py) on loopback:

- dashboard: the real app (`streamlit run dashboard/app.py`), lesson 1's "Open a terminal" into
  a running container of ours: keystroke -> WebSocket (the channel's route on the dashboard's
  own server) -> `docker exec -it` (Docker API, the container's pty) -> bash's echo -> back;
- proxied: the same dashboard and container through nginx with TLS (tests/nginx_proxy.py, the
  test's own certificate) at https://127.0.0.1:PORT/class/ada/;
- floor: the component's page served as a plain file, and the same channel route on a server of
  its own in this process (work/terminal_standalone.py) whose stream is a local pty running bash
  on this machine (this module's own `PtyStream`: the dashboard itself never opens a shell on
  the host).

The dashboard runs under the path prefix `/class/ada` (`server.baseUrlPath`), reached both
directly and through nginx. Rounds rotate among the three sides (side by side in one run); each
round presses `keys` keys, one at a time, each after the previous echo (a typist, not a paste),
then clears the line. Each side has a browser context of its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import tempfile
import termios
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from urllib.parse import quote, urlsplit

from bench import app_probe, stats
from bench.workspace import Workspace
from dashboard.engine.base import labels
from dashboard.engine.offline.offline import BASE_IMAGE
from dashboard.ui.terminal import COMPONENT  # the path only; nothing of Streamlit runs here
from dashboard.work import terminal_standalone, terminals

FRAME = "iframe[title='dashboard.ui.terminal.terminal']"
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]


class PtyStream:
    """bash on a local pty: the floor's stream (what a terminal emulator on this machine gets)."""

    def __init__(self, cols: int, rows: int, home: Path):
        self.master, slave = pty.openpty()
        self.resize(cols, rows)
        env = {"TERM": "xterm-256color", "HOME": str(home), "PATH": os.environ["PATH"]}
        self.proc = subprocess.Popen(
            ["/bin/bash", "--norc", "-i"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=home,
            start_new_session=True,
        )
        os.close(slave)

    def read(self, size: int = 65536) -> bytes:
        try:
            return os.read(self.master, size)
        except OSError:
            return b""

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def resize(self, cols: int, rows: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGHUP)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        with contextlib.suppress(OSError):
            os.close(self.master)

    def ended(self) -> str:
        return f"bash exited ({self.proc.poll()})"


def _prompt(frame, timeout_ms: int = 60_000) -> None:
    frame.wait_for_function(
        "() => window.__terminal && /[#$] $/m.test(window.__terminal.text())",
        timeout=timeout_ms,
    )


def _round(page, frame, keys: int) -> tuple[list[float], list[float]]:
    """Press `keys` keys one after the other; the echo latency of each, in ms: to the frame
    that shows it, and to its parse into the terminal's buffer."""
    frame.locator(".xterm").click()
    frame.evaluate(
        "() => { const p = window.__terminal.probe; p.echoes = []; p.parsed = []; p.keyAt = null; }"
    )
    for i in range(keys):
        page.keyboard.press("x")
        frame.wait_for_function(
            f"() => window.__terminal.probe.echoes.length > {i}", timeout=10_000
        )
        page.wait_for_timeout(20)  # a typist's gap: one key in flight at a time
    drawn = frame.evaluate("() => window.__terminal.probe.echoes.slice()")
    parsed = frame.evaluate("() => window.__terminal.probe.parsed.slice()")
    page.keyboard.press("Control+u")  # clear the typed x's
    page.wait_for_timeout(200)
    return [float(v) for v in drawn[:keys]], [float(v) for v in parsed[:keys]]


def _open_dashboard_terminal(page, url: str, container: str):
    page.goto(f"{url}/lesson1", wait_until="domcontentloaded", timeout=120_000)
    page.wait_for_selector(app_probe.IDLE, timeout=120_000, state="attached")
    page.locator("[data-testid='stMainBlockContainer'] h1").first.wait_for(timeout=120_000)
    page.wait_for_selector(app_probe.IDLE, timeout=120_000, state="attached")
    box = page.locator(".st-key-terminal-container input")
    box.fill(container)
    box.press("Enter")
    page.wait_for_selector(app_probe.IDLE, timeout=120_000, state="attached")
    page.locator(".st-key-iris-terminal-button button").click()
    frame = page.locator(FRAME).element_handle(timeout=120_000).content_frame()
    _prompt(frame)
    return frame


PREFIX = "class/ada"
SIDES = ("dashboard", "proxied", "floor")


def run(ws: Workspace, *, rounds: int = 5, keys: int = 20) -> dict:
    from tests import nginx_proxy  # the terminal test's proxy: the same set-up measured

    session = f"{ws.lab}-term"
    tmp = Path(tempfile.mkdtemp(prefix="bench-term-", dir=ws.tmp))
    name = f"{ws.lab}-term-{uuid.uuid4().hex[:6]}"
    own = {labels.MANAGED: "true", labels.LAB: ws.lab, labels.SESSION: session}
    container = ws.client.containers.run(
        BASE_IMAGE, SLEEPER, detach=True, tty=True, stdin_open=True, labels=own, name=name
    )
    floor_grants = terminals.Registry()
    env = {
        "DASHBOARD_DATA_DIR": str(tmp / "data"),
        "DASHBOARD_SESSION": session,
        "DASHBOARD_TAG_SUFFIX": session.lower(),
    }
    results: dict[str, list[float]] = {side: [] for side in SIDES}
    per_round: dict[str, list[float]] = {side: [] for side in SIDES}
    parse: dict[str, list[float]] = {side: [] for side in SIDES}
    order: list[str] = []
    try:
        with (
            app_probe.serve("dashboard/app.py", tmp / "app.log", env, base=PREFIX) as (url, _),
            nginx_proxy.proxy(urlsplit(url).port, PREFIX) as public,
            terminal_standalone.serve(floor_grants, static=COMPONENT) as static,
            app_probe.launch() as browser,
        ):
            contexts = [
                browser.new_context(viewport={"width": 1400, "height": 1000}, **extra)
                for extra in ({}, {"ignore_https_errors": True}, {})
            ]
            app_page = contexts[0].new_page()
            app_frame = _open_dashboard_terminal(app_page, url, name)
            proxied_page = contexts[1].new_page()
            proxied_frame = _open_dashboard_terminal(proxied_page, public.rstrip("/"), name)
            floor_page = contexts[2].new_page()
            grant = floor_grants.issue(
                session="bench",
                origin=static,
                xsrf=None,
                opener=lambda cols, rows: PtyStream(cols, rows, tmp),
                title="bash on a local pty (floor)",
            )
            channel = f"{static.replace('http', 'ws')}/{terminals.PATH}"
            args = json.dumps({"token": grant.token, "url": channel, "height": 360})
            floor_page.goto(f"{static}/static/index.html#{quote(args)}")
            floor_frame = floor_page.main_frame
            _prompt(floor_frame)
            sides = {
                "dashboard": (app_page, app_frame),
                "proxied": (proxied_page, proxied_frame),
                "floor": (floor_page, floor_frame),
            }
            for page, frame in sides.values():
                _round(page, frame, 3)  # warm-up, not counted
            for i in range(rounds):
                for key in SIDES[i % 3 :] + SIDES[: i % 3]:  # each side goes first in turn
                    page, frame = sides[key]
                    page.bring_to_front()
                    measured, parsed = _round(page, frame, keys)
                    results[key] += measured
                    parse[key] += parsed
                    per_round[key].append(stats.summarize(measured).median)
                    order.append(key)
            for context in contexts:
                context.close()
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)
    dash, proxied, floor = results["dashboard"], results["proxied"], results["floor"]
    return {
        "keys_per_round": keys,
        "rounds": rounds,
        "order": order,
        "path_prefix": f"/{PREFIX}/",
        "dashboard_ms": asdict(stats.summarize(dash)),
        "proxied_ms": asdict(stats.summarize(proxied)),
        "floor_ms": asdict(stats.summarize(floor)),
        "dashboard_parsed_ms": asdict(stats.summarize(parse["dashboard"])),
        "proxied_parsed_ms": asdict(stats.summarize(parse["proxied"])),
        "floor_parsed_ms": asdict(stats.summarize(parse["floor"])),
        "dashboard_p90_ms": stats.percentile(dash, 90),
        "proxied_p90_ms": stats.percentile(proxied, 90),
        "floor_p90_ms": stats.percentile(floor, 90),
        "ratio_of_medians": stats.summarize(dash).median / stats.summarize(floor).median,
        "proxied_ratio_of_medians": stats.summarize(proxied).median / stats.summarize(floor).median,
        "round_ratio": asdict(stats.paired(per_round["dashboard"], per_round["floor"]).ratio),
        "proxied_round_ratio": asdict(stats.paired(per_round["proxied"], per_round["floor"]).ratio),
        "container_image": BASE_IMAGE,
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


if __name__ == "__main__":
    from dashboard.engine.base.connection import connect

    workspace = Workspace(connect())
    try:
        print(json.dumps(run(workspace), indent=2))
    finally:
        workspace.cleanup()
