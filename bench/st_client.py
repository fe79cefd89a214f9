"""A browser tab without a browser: Streamlit's own protocol over `/_stcore/stream`.

What a browser does on connect: GET the page (its response sets the `_streamlit_xsrf` cookie),
GET `/_stcore/health` and `/_stcore/host-config`, then open the WebSocket with the page's Origin,
the cookie, and the subprotocol list `["streamlit", XSRF_TOKEN]` (Streamlit reads the token
from there), and ask for the page's first run. Then: page runs with widget states, a button's
trigger, navigation by page hash, and the `run_every` timers of fragments (bench/st_protocol.py
keeps the tab's state). A reader thread folds every ForwardMsg into the tab; a timer thread asks
for each armed fragment's run on its interval, as the browser's setInterval does, whether a run
is in progress or not (the server merges them).

Plain threads, so it runs as is under Locust, whose gevent monkey-patching turns them (and
websocket-client's sockets) into greenlets. What the browser does that this does not: fetch and
run the JavaScript and static files, draw, send heartbeats, resize, reconnect.
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.parse
import urllib.request

import websocket

from bench.st_protocol import Tab

XSRF_COOKIE = "_streamlit_xsrf"
EARLY = "early for rerun"


class Closed(RuntimeError):
    """The WebSocket closed (or the server dropped it) while a run was awaited."""


class Timeout(RuntimeError):
    """A run or a page text did not come in time."""


class Client:
    """One tab on `base` (http://127.0.0.1:PORT). Use `open(path)`, then `run`/`click`/..."""

    def __init__(self, base: str, *, problem_markers: tuple[str, ...] = (), cookie: str = ""):
        self.base = base.rstrip("/")
        self.cookie = cookie  # a Cookie header to send (a seat behind the hub: its login)
        self.tab = Tab(problem_markers=problem_markers)
        self.ws: websocket.WebSocket | None = None
        self.cond = threading.Condition()
        # (monotonic time, "start" and whether a fragment's, or "finish" and what finished)
        self.events: list[tuple[float, str, object]] = []
        self.closed: str | None = None
        self.sent = 0  # messages this tab sent (runs asked for, fragment timers included)
        self.auto_sent = 0
        self.values: dict[str, object] = {}  # widget id -> value, sent with every run
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.path = ""

    # ------------------------------------------------------------ connecting

    def open(self, path: str, timeout: float = 60) -> float:
        """GET `path`, connect, ask for its first run; returns seconds until it finished."""
        started = time.monotonic()
        self.path = path.strip("/")
        page_url = f"{self.base}/{self.path}"
        with urllib.request.urlopen(self._get(page_url), timeout=timeout) as r:
            r.read()
            cookies = r.headers.get_all("Set-Cookie") or []
        xsrf = xsrf_from(cookies)
        for probe in ("_stcore/health", "_stcore/host-config"):
            with urllib.request.urlopen(self._get(f"{self.base}/{probe}"), timeout=timeout) as r:
                r.read()
        ws_url = "ws" + self.base[len("http") :] + "/_stcore/stream"
        sent = [f"{XSRF_COOKIE}={xsrf}"] if xsrf else []
        sent += [self.cookie] if self.cookie else []
        parts = urllib.parse.urlsplit(self.base)
        self.ws = websocket.create_connection(
            ws_url,
            timeout=timeout,
            subprotocols=["streamlit", xsrf] if xsrf else ["streamlit"],
            origin=f"{parts.scheme}://{parts.netloc}",  # as a browser sends it: no path
            cookie="; ".join(sent) or None,
            enable_multithread=True,
        )
        self.ws.settimeout(None)
        for target in (self._reader, self._timers):
            t = threading.Thread(target=target, daemon=True, name=f"st-{target.__name__}")
            t.start()
            self._threads.append(t)
        self.run(page=self.path, timeout=timeout - (time.monotonic() - started))
        return time.monotonic() - started

    def _get(self, url: str) -> urllib.request.Request:
        return urllib.request.Request(url, headers={"Cookie": self.cookie} if self.cookie else {})

    def close(self) -> None:
        self._stop.set()
        if self.ws is not None:
            with contextlib.suppress(Exception):  # already gone: nothing to close
                self.ws.close(timeout=2)

    def _reader(self) -> None:
        try:
            while not self._stop.is_set():
                opcode, data = self.ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    raise websocket.WebSocketConnectionClosedException("closed by the server")
                if opcode != websocket.ABNF.OPCODE_BINARY:
                    continue
                with self.cond:
                    msg, finished, began = self.tab.apply_bytes(data)
                    now = time.monotonic()
                    if began:
                        self.events.append((now, "start", bool(msg.metadata.run.fragment_ids)))
                    if finished is not None:
                        self.events.append((now, "finish", finished))
                    self.cond.notify_all()
        except Exception as exc:
            with self.cond:
                if not self._stop.is_set():
                    self.closed = f"{type(exc).__name__}: {exc}"[:200]
                else:
                    self.closed = "closed"
                self.cond.notify_all()

    def _timers(self) -> None:
        """The browser's setInterval per armed fragment: ask for its run every interval."""
        due: dict[str, float] = {}
        while not self._stop.wait(0.02):
            if self.closed:
                return
            now = time.monotonic()
            with self.cond:
                timers = dict(self.tab.timers)
            for fid in list(due):
                if fid not in timers:
                    del due[fid]
            for fid, interval in timers.items():
                if fid not in due:
                    due[fid] = now + interval
                elif now >= due[fid]:
                    due[fid] = now + interval
                    try:
                        self._send(self.tab.rerun(self.values, fragment_id=fid, auto=True))
                        self.auto_sent += 1
                    except Exception:  # the reader sees the closed socket and says so
                        return

    def _send(self, data: bytes) -> None:
        if self.closed:
            raise Closed(self.closed)
        self.ws.send(data, opcode=websocket.ABNF.OPCODE_BINARY)
        self.sent += 1

    # ------------------------------------------------------------ runs

    def run(
        self,
        *,
        trigger: str | None = None,
        page: str | None = None,
        values: dict[str, object] | None = None,
        timeout: float = 60,
    ) -> float:
        """Ask for a full run (with this tab's widget values, `values` added and kept, and a
        button's trigger); wait until the script is no longer running: the first full run that
        started after the ask, then the first script_finished that is not "early for rerun"
        (the run after an `st.rerun()`, or a fragment run the server merged behind it, may end
        it: the browser's script state is notRunning then too). Returns the seconds from the
        message sent to that script_finished."""
        if values:
            self.values.update(values)
        if page is not None:
            self.path = page.strip("/")
        with self.cond:
            mark = len(self.events)
            started = time.monotonic()
            data = self.tab.rerun(
                self.values, trigger=trigger, page=page, url=f"{self.base}/{self.path}"
            )
        self._send(data)
        deadline = started + timeout
        with self.cond:
            while True:
                full_started = False
                for at, what, detail in self.events[mark:]:
                    if what == "start" and not detail:
                        full_started = True
                    elif what == "finish" and full_started and detail.status != EARLY:
                        return at - started
                if self.closed:
                    raise Closed(self.closed)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout(f"no finished run in {timeout:.0f} s")
                self.cond.wait(min(left, 1.0))

    def click(self, label: str | None = None, *, key: str | None = None, timeout=60) -> float:
        """Press the button with this label (or key): its trigger in the next run."""
        with self.cond:
            button = self.tab.widget(label, key=key, kind="button")
        if button is None:
            raise LookupError(f"no button {label or key!r} on the page")
        if button.disabled:
            raise LookupError(f"button {label or key!r} is disabled")
        return self.run(trigger=button.id, timeout=timeout)

    def type(self, text: str, label: str | None = None, *, key: str | None = None, timeout=60):
        """Type into a text input and press Enter: its value in the next run."""
        with self.cond:
            box = self.tab.widget(label, key=key, kind="text_input")
        if box is None:
            raise LookupError(f"no text input {label or key!r} on the page")
        return self.run(values={box.id: text}, timeout=timeout)

    def submit(self, button: str, fields: dict[str, str], timeout=60) -> float:
        """A form: its text inputs (by label) and its submit button (by label) in one run."""
        with self.cond:
            found = {label: self.tab.widget(label, kind="text_input") for label in fields}
            submit = self.tab.widget(button, kind="button")
        missing = [label for label, w in found.items() if w is None]
        if missing or submit is None:
            raise LookupError(f"form fields or button missing: {missing or button!r}")
        values = {found[label].id: text for label, text in fields.items()}
        return self.run(values=values, trigger=submit.id, timeout=timeout)

    def wait_for(self, text: str, timeout: float = 60) -> float:
        """Wait until some element shows `text` (the live panels redraw it); returns seconds."""
        started = time.monotonic()
        deadline = started + timeout
        with self.cond:
            while not self.tab.shows(text):
                if self.closed:
                    raise Closed(self.closed)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout(f"{text!r} not shown in {timeout:.0f} s")
                self.cond.wait(min(left, 1.0))
        return time.monotonic() - started

    def shows(self, text: str) -> bool:
        with self.cond:
            return self.tab.shows(text)

    def headings(self) -> list[str]:
        with self.cond:
            return self.tab.headings()

    def take_problems(self) -> list[str]:
        """The page's problems since the last call (exceptions, error boxes, ...)."""
        with self.cond:
            found, self.tab.problems = self.tab.problems, []
        return found


def xsrf_from(set_cookies: list[str]) -> str | None:
    """The `_streamlit_xsrf` value from Set-Cookie headers (the value is not quoted)."""
    for header in set_cookies:
        name, _, rest = header.partition("=")
        if name.strip() == XSRF_COOKIE:
            return urllib.parse.unquote(rest.split(";", 1)[0])
    return None
