"""The dashboard served for real, a Docker API proxy that counts calls, and browser probes.

- `serve`: `streamlit run SCRIPT` headless on a free loopback port (as tests/e2e does), yielding
  the URL and the server process (its pid is what the log-flood part samples).
- `DockerProxy`: a unix socket that forwards every connection to the daemon's socket and counts
  the HTTP requests going through (method and path); the app gets it as DOCKER_HOST, so every
  Docker API call the dashboard makes is seen, hijacked attach streams included.
- `launch`: headless /usr/bin/chromium through Playwright (never a downloaded browser).
- JavaScript probes installed in the page: `SCRIPT_STATE_JS` records every change of Streamlit's
  script state (`data-test-script-state` on stApp) with its time; `LINES_JS` records the first
  time each line of text shows up in a code block. Times are `performance.timeOrigin +
  performance.now()` in ms since the epoch: the same clock as the daemon's log timestamps on
  this machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from dashboard.engine.base.paths import REPO_ROOT

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # root on this machine: Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
IDLE = (
    "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
    "[data-test-script-state='notRunning']"
)
DAEMON_SOCKET = "/var/run/docker.sock"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(
    script: str,
    log: Path,
    env: dict[str, str] | None = None,
    timeout: float = 90,
    base: str = "",
    counts: Path | None = None,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`streamlit run SCRIPT` (relative to the repo) on a free port, under the
    `server.baseUrlPath` `base` when given; yields (url, process). With `counts`, the server
    counts its script runs per session into that file (bench/counted_server.py)."""
    port = free_port()
    extra = ["--server.baseUrlPath", base] if base else []
    start = ["-m", "bench.counted_server", str(counts)] if counts else ["-m", "streamlit", "run"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *start, script]
            + ["--server.headless", "true", "--server.port", str(port)]
            + ["--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
            + extra,
            cwd=REPO_ROOT,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}" + (f"/{base.strip('/')}" if base else "")
    try:
        deadline = time.monotonic() + timeout
        while not health(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start: {log.read_text()[-1500:]}")
            time.sleep(0.3)  # polling the health endpoint until the server answers
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def health(url: str, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as r:
            return r.read() == b"ok"
    except OSError:
        return False


class RequestParser:
    """The requests in one client-to-daemon HTTP/1.1 stream: request lines, bodies skipped.

    Bodies are skipped by Content-Length or chunked encoding; after an upgrade (`attach`
    hijacks the connection) the rest of the stream is raw and not parsed.
    """

    def __init__(self) -> None:
        self._buf = b""
        self._skip = 0
        self._chunked = False
        self.raw = False

    def feed(self, data: bytes) -> list[tuple[str, str]]:
        if self.raw:
            return []
        self._buf += data
        found: list[tuple[str, str]] = []
        while self._buf and not self.raw:
            if self._skip:
                n = min(self._skip, len(self._buf))
                self._buf, self._skip = self._buf[n:], self._skip - n
                continue
            if self._chunked:
                end = self._buf.find(b"\r\n")
                if end < 0:
                    break
                size = int(self._buf[:end].split(b";")[0] or b"0", 16)
                if size == 0:
                    if self._buf.find(b"\r\n\r\n", end) != end:
                        break  # wait for the empty trailer line
                    self._buf, self._chunked = self._buf[end + 4 :], False
                else:
                    self._buf, self._skip = self._buf[end + 2 :], size + 2
                continue
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head, self._buf = self._buf[:end].decode("latin-1"), self._buf[end + 4 :]
            request, *header_lines = head.split("\r\n")
            parts = request.split(" ")
            if len(parts) == 3 and parts[2].startswith("HTTP/"):
                found.append((parts[0], parts[1]))
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in header_lines)
            }
            if "upgrade" in headers.get("connection", "").lower() or "upgrade" in headers:
                self.raw = True
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                self._chunked = True
            else:
                self._skip = int(headers.get("content-length", "0") or 0)
        return found


def count_requests(data: bytes) -> list[tuple[str, str]]:
    """The (method, path) of every request in a whole client-to-daemon byte stream."""
    return RequestParser().feed(data)


def api_path(path: str) -> str:
    """A request path without the version prefix, ids or query: "/containers/ID/json"."""
    path = re.sub(r"^/v[\d.]+", "", path.split("?", 1)[0])
    return re.sub(r"/[0-9a-f]{12,64}(?=/|$)", "/ID", path)


class DockerProxy:
    """A unix socket in front of the daemon's, counting the requests that go through."""

    def __init__(self, path: Path, upstream: str = DAEMON_SOCKET):
        self.path = Path(path)
        self.upstream = upstream
        self.calls: list[tuple[float, str, str]] = []  # (time.monotonic, method, path)
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.path.unlink(missing_ok=True)
        self._server.bind(str(self.path))
        self._server.listen(64)
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def count(self) -> int:
        with self._lock:
            return len(self.calls)

    def since(self, index: int) -> Counter:
        with self._lock:
            return Counter(f"{m} {api_path(p)}" for _, m, p in self.calls[index:])

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.upstream)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, requests: bool) -> None:
        parser = RequestParser()
        try:
            while data := src.recv(65536):
                if requests and not parser.raw:
                    found = parser.feed(data)
                    if found:
                        now = time.monotonic()
                        with self._lock:
                            self.calls += [(now, m, p) for m, p in found]
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self._closed = True
        self._server.close()
        self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def launch() -> Iterator:
    """A headless Chromium browser (Playwright, /usr/bin/chromium)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def now_js() -> str:
    return "(performance.timeOrigin + performance.now())"


# Installed before any page script: every change of the script state, with its time. Changes
# that React made within one batch arrive in one callback: their old values keep the order.
SCRIPT_STATE_JS = f"""
window.__states = [];
const __push = (s, t) => {{
  const last = window.__states[window.__states.length - 1];
  if (s && (!last || last[0] !== s)) window.__states.push([s, t]);
}};
new MutationObserver((records) => {{
  const t = {now_js()};
  for (const r of records) {{
    if (r.type === 'attributes' && r.attributeName === 'data-test-script-state') {{
      __push(r.oldValue, t);
      __push(r.target.getAttribute('data-test-script-state'), t);
    }}
  }}
}}).observe(document, {{subtree: true, attributes: true, attributeOldValue: true,
  attributeFilter: ['data-test-script-state']}});
"""

# Every line of text of a code block the page changed or added, the first time it is seen
# (reset with __lines.clear()). Only code blocks touched by a mutation are read: blocks that
# stayed as they were (a lesson's sample output) are not news.
LINES_JS = f"""
window.__lines = new Map();
const __codes = (node, out) => {{
  const el = node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement;
  if (!el) return;
  const inside = el.closest('code');
  if (inside) out.add(inside);
  if (el.querySelectorAll) for (const c of el.querySelectorAll('code')) out.add(c);
}};
new MutationObserver((records) => {{
  const t = {now_js()};
  const touched = new Set();
  for (const r of records) {{
    __codes(r.target, touched);
    for (const n of r.addedNodes) __codes(n, touched);
  }}
  for (const code of touched) {{
    for (const raw of code.textContent.split('\\n')) {{
      const line = raw.trim();
      if (line && !window.__lines.has(line)) window.__lines.set(line, t);
    }}
  }}
}}).observe(document, {{subtree: true, childList: true, characterData: true}});
"""


def script_runs(states: list[list], start: str = "running") -> list[float]:
    """Durations (ms) of every `start` -> notRunning span in a recorded script-state list.

    `start` "running": the script's run as the browser sees it; "rerunRequested": from the
    moment the browser asked for the rerun (what a student waits for).
    """
    spans, started = [], None
    for state, at in states:
        if state == start:
            started = at if started is None else started
        elif state == "notRunning" and started is not None:
            spans.append(at - started)
            started = None
    return spans


def docker_log_line(raw: str) -> tuple[float, str] | None:
    """A `docker logs --timestamps` line: (epoch ms, text), or None when it has no timestamp."""
    stamp, sep, text = raw.partition(" ")
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", stamp)
    if not sep or not m:
        return None
    import calendar

    whole = calendar.timegm(time.strptime(m[1], "%Y-%m-%dT%H:%M:%S"))
    fraction = float("0." + m[2]) if m[2] else 0.0
    return (whole + fraction) * 1000, text.rstrip("\r")


def latencies(logged: list[tuple[float, str]], seen: dict[str, float]) -> list[float]:
    """For each logged line also seen in the page: seen time minus logged time, in ms."""
    return [seen[text] - at for at, text in logged if text in seen]


def vm_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB, from /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out
