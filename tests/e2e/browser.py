"""Helpers of the end-to-end tests: serve the app with `streamlit run`, wait for Streamlit, check a
page for exceptions, take screenshots.

A plain module (not conftest.py): under `--import-mode=importlib` a conftest cannot be imported,
so the tests and the fixtures both import from here.

Waiting follows Streamlit's own end-to-end tests: the `stApp` element carries
`data-test-connection-state` and `data-test-script-state`; the app is idle when it is connected
and the script state is `notRunning`.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",  # this machine runs the tests as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1000}

# Generous: two cores, and other engineers' builds may be running at the same time.
PAGE_MS = 120_000  # a page's script run (first imports, cold Docker calls, a loaded machine)
JOB_MS = 300_000  # a build or a run of a lab image

CONNECTED = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
IDLE = (
    "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
    "[data-test-script-state='notRunning']"
)
# Chromium's console message for a request aborted because an interface changed.
NETWORK_CHANGED = "net::ERR_NETWORK_CHANGED"
UNEXPECTED = "Something unexpected went wrong on this page"  # dashboard.ui.errors.UNEXPECTED


def streamlit_probe(message) -> bool:
    """A 404 that Streamlit's frontend expects: opened at /lesson1, it first looks for the
    server at /lesson1/_stcore/health (and host-config), then at the root, where it is."""
    url = (message.location or {}).get("url", "")
    return "404" in message.text and re.search(r"/[^/]+/_stcore/(health|host-config)$", url)


def app_env(tmp: Path, session_id: str) -> dict[str, str]:
    """This run's own data folder, Compose project and working-copy tags (as tests/app does)."""
    return {
        "DASHBOARD_DATA_DIR": str(tmp / "data"),
        "DASHBOARD_COMPOSE_PROJECT": f"wine-{session_id}".lower(),
        "DASHBOARD_TAG_SUFFIX": session_id.lower(),
        "DASHBOARD_SESSION": session_id,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(
    log: Path,
    env: dict[str, str] | None = None,
    timeout: float = 90,
    port: int | None = None,
    base: str = "",
) -> Iterator[str]:
    """`streamlit run dashboard/app.py` on a free loopback port (or `port`), under the
    `server.baseUrlPath` `base` when given; yields its URL (`http://127.0.0.1:PORT/BASE`)."""
    port = port or free_port()
    extra = ["--server.baseUrlPath", base] if base else []
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "dashboard/app.py"]
            + ["--server.headless", "true", "--server.port", str(port)]
            + ["--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
            + extra,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}" + (f"/{base.strip('/')}" if base else "")
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                tail = log.read_text()[-2000:]
                raise RuntimeError(f"streamlit exited ({proc.returncode}): {tail}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start: {log.read_text()[-2000:]}")
            time.sleep(0.3)  # polling the health endpoint, not waiting for correctness
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def lost_to_network_change(text: str, aborted: set[str]) -> bool:
    """Whether `text` is a lazily loaded script chunk's failed import whose load Chromium
    aborted for a network change (the URL is in `aborted`)."""
    found = re.search(r"Failed to fetch dynamically imported module: (\S+)", text)
    return bool(found) and found.group(1) in aborted


def wait_idle(page, timeout_ms: int = PAGE_MS) -> None:
    """Wait until the app is connected and its script (and fragments) finished running."""
    page.wait_for_selector(IDLE, timeout=timeout_ms, state="attached")


def open_url(page, url: str, timeout_ms: int = PAGE_MS, attempts: int = 3) -> None:
    """Load `url` and wait until its page is drawn and idle.

    Loads again (at most `attempts` times) when Chromium aborted requests because the machine's
    network changed during the load (see NETWORK_CHANGED): such a load may also never finish.
    The JS errors of a discarded attempt go with it.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    flakes: list[str] = getattr(page, "network_flakes", [])
    errors: list[str] = getattr(page, "js_errors", [])
    for attempt in range(1, attempts + 1):
        seen_flakes, seen_errors = len(flakes), len(errors)
        page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
        try:
            wait_idle(page, timeout_ms)
            # A session's first script run: wait until something of the page itself is drawn.
            page.locator("[data-testid='stMainBlockContainer'] h1").first.wait_for(
                timeout=timeout_ms
            )
            wait_idle(page, timeout_ms)
        except PlaywrightTimeout as exc:
            # A script still running on a connected page is the app's fault: fail. A page that
            # lost its server connection, or its requests, is the machine's: load it again.
            connected = page.locator(CONNECTED).count() > 0
            broken = len(flakes) > seen_flakes or not connected
            if not broken or attempt == attempts:
                raise AssertionError(f"{url} did not finish loading: {app_state(page)}") from exc
        else:
            if len(flakes) == seen_flakes or attempt == attempts:
                return
        del errors[seen_errors:]


def app_state(page) -> str:
    """What the page looks like to a test, for a timeout's message."""
    state = page.evaluate(
        """() => { const a = document.querySelector('[data-testid="stApp"]');
            return a ? `script ${a.getAttribute('data-test-script-state')}, connection `
                + a.getAttribute('data-test-connection-state') : 'no stApp element'; }"""
    )
    flakes = len(getattr(page, "network_flakes", []))
    errors = getattr(page, "js_errors", [])
    text = " ".join(page.locator("body").inner_text().split())[:600]
    return f"{state}; {flakes} aborted requests; JS errors {errors[:3]}; page text: {text}"


def shows(page, text: str, timeout_ms: int = JOB_MS) -> None:
    """Wait until the main section shows `text`, checked on every animation frame: the live
    job panel is redrawn four times a second, and on a busy machine its content is there only
    between redraws, which expect()'s polling can miss for a long time."""
    page.wait_for_function(
        "t => document.querySelector('[data-testid=\"stMain\"]').innerText.includes(t)",
        arg=text,
        polling="raf",
        timeout=timeout_ms,
    )


def main_text(page) -> str:
    return page.locator("[data-testid='stMain']").inner_text()


def assert_clean(page) -> None:
    """No Streamlit exception box, no traceback, no error boundary message, no JS error."""
    exceptions = page.locator("[data-testid='stException']")
    assert exceptions.count() == 0, exceptions.first.inner_text()
    body = page.locator("body").inner_text()
    assert "Traceback" not in body, body[body.index("Traceback") :][:2000]
    assert UNEXPECTED not in body, body[body.index(UNEXPECTED) :][:500]
    assert not page.js_errors, page.js_errors


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "home"


CONTENT_HEIGHT = """() => {
    const main = document.querySelector('[data-testid="stMain"]');
    const side = document.querySelector('[data-testid="stSidebarContent"]');
    const block = document.querySelector('[data-testid="stMainBlockContainer"]');
    return Math.ceil(Math.max(
        main ? main.scrollHeight : 0,
        side ? side.scrollHeight : 0,
        block ? block.getBoundingClientRect().height : 0,
        document.body.scrollHeight));
}"""


def screenshot(page, name: str) -> Path:
    """The whole page, scrolled content included, as test-artifacts/screenshots/NAME.png.

    Streamlit scrolls inside its main section, not the document, so a full-page screenshot
    alone would stop at the window's edge: grow the window to the content's height first.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    size = page.viewport_size or VIEWPORT
    try:
        # Grow until the content fits: a taller window can change the layout (charts redraw).
        height = 0
        for _ in range(4):
            needed = min(max(page.evaluate(CONTENT_HEIGHT), 600), 16_000)
            if needed <= height:
                break
            height = needed
            page.set_viewport_size({"width": size["width"], "height": height})
            wait_idle(page)
            page.wait_for_timeout(300)  # cosmetic only: charts finish their resize animation
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)
    return path


def button(page, key: str):
    """The button of a Streamlit widget `key` (its container has class `st-key-KEY`)."""
    return page.locator(f".st-key-{key} button")


def metric(page, label: str):
    """The value element of the metric whose label is `label`."""
    exact = re.compile(f"^{re.escape(label)}$")
    box = page.locator("[data-testid='stMetric']").filter(
        has=page.locator("[data-testid='stMetricLabel']", has_text=exact)
    )
    return box.locator("[data-testid='stMetricValue']")


class NavLink(NamedTuple):
    title: str
    path: str  # "/" for the default page
    href: str


def nav_links(page) -> list[NavLink]:
    """Every page the sidebar navigation offers, in order."""
    links = page.locator("[data-testid='stSidebarNav'] [data-testid='stSidebarNavLink']")
    links.first.wait_for(timeout=PAGE_MS)
    out = []
    for link in links.all():
        href = link.get_attribute("href") or ""
        path = "/" + href.split("://", 1)[-1].partition("/")[2]
        title = link.locator("[data-testid='stMarkdownContainer']").inner_text().strip()
        out.append(NavLink(title, path.rstrip("/") or "/", href))
    return out


def nav_link(page, link: NavLink):
    return page.locator(f"[data-testid='stSidebarNavLink'][href='{link.href}']")


def watched_page(context):
    """A new page of `context` that records uncaught JS errors in `page.js_errors` (what
    `assert_clean` checks) and Chromium's network-change aborts in `page.network_flakes`."""
    pg = context.new_page()
    errors: list[str] = []
    flakes: list[str] = []

    aborted: set[str] = set()  # the URLs whose loads a network change aborted

    def note(kind: str, text: str, url: str = "") -> None:
        # Docker adding or removing a container's veth makes Chromium abort requests in
        # flight: the machine's doing, not the app's. open_url() loads the page again. A
        # lazily loaded script chunk that such an abort took fails its import too.
        if NETWORK_CHANGED in text:
            aborted.add(url)
        elif not lost_to_network_change(text, aborted):
            errors.append(f"{kind}: {text}")
            return
        flakes.append(f"{kind}: {text}")

    def console(message) -> None:
        if message.type != "error" or streamlit_probe(message):
            return
        note("console", message.text, (message.location or {}).get("url", ""))

    pg.on("pageerror", lambda exc: note("uncaught", str(exc)))
    pg.on("console", console)
    pg.js_errors = errors
    pg.network_flakes = flakes
    return pg
