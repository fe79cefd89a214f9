"""The terminal channel: a WebSocket server between the page's xterm.js and a `docker exec -it`.

One server per dashboard process, on a daemon thread with its own asyncio loop, listening on the
dashboard's own address (loopback unless the dashboard listens elsewhere). A page asks for a
`Grant`: a one-time random token bound to that browser session (its Streamlit session id, the
page's origin and Streamlit's XSRF cookie) and to what the terminal opens (the engine's checked
`docker exec`), valid for `TOKEN_TTL` seconds until it is used. The browser connects with
`ws://HOST:PORT/?token=...`; the handshake is refused unless

- the token is known, unused and not expired (it is spent by the first handshake),
- the Origin header is the page's own origin (a WebSocket is not covered by the same-origin
  rule: this is what stops another site's page from connecting; Host must match too, against
  DNS rebinding),
- Streamlit's XSRF check passes the same way it does for Streamlit's own WebSocket: the
  `_streamlit_xsrf` cookie (sent by the browser, cookies ignore the port) must carry the token
  the page sends as its second subprotocol, and both must be the session's own.

Protocol: client -> server binary frames are keystrokes, text frames JSON `{"resize": [cols,
rows]}`; server -> client binary frames are the terminal's output, text frames JSON `{"ended":
sentence}` or `{"error": sentence}`. The session closes when the shell exits, the container
stops (the exec's stream ends), the socket closes (page gone) or no key came for the idle
timeout (DASHBOARD_TERMINAL_IDLE).
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from dashboard import settings

SUBPROTOCOL = "dashboard-terminal"
XSRF_COOKIE = "_streamlit_xsrf"
TOKEN_TTL = 60.0  # seconds a grant waits for its first (and only) use
FIRST_MESSAGE_WAIT = 10.0  # seconds for the client's first resize before 80x24 is assumed


class Stream(Protocol):
    """What a terminal talks to (the engine's `ExecTerminal`; the benchmark's local pty)."""

    def read(self, size: int = 65536) -> bytes: ...
    def write(self, data: bytes) -> None: ...
    def resize(self, cols: int, rows: int) -> None: ...
    def close(self) -> None: ...
    def ended(self) -> str: ...


Opener = Callable[[int, int], Stream]  # (cols, rows) -> a started stream, or raises


@dataclass
class Grant:
    token: str
    session: str  # the Streamlit session it was issued to
    origin: str  # the page's origin: what the browser's Origin header must be
    xsrf: bytes | None  # the session's XSRF token (None: Streamlit's XSRF protection is off)
    opener: Opener
    title: str  # what it opens, for the page ("docker exec -it iris-shell bash")
    expires: float
    state: str = "issued"  # issued -> open -> closed
    ended: str = ""  # why it closed, a sentence
    closed: threading.Event = field(default_factory=threading.Event)


def decode_xsrf(value: str | None) -> bytes | None:
    """The token in a Streamlit (Tornado format) XSRF value: `2|mask|masked|time`, or v1 hex."""
    value = (value or "").strip("\"'")
    if not value:
        return None
    try:
        if value.startswith("2|"):
            _, mask_hex, masked_hex, _stamp = value.split("|")
            mask, masked = binascii.a2b_hex(mask_hex), binascii.a2b_hex(masked_hex)
            if not mask:
                return None
            # Tornado's websocket_mask: the mask repeated over the token.
            return bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked)) or None
        return binascii.a2b_hex(value) or None
    except (ValueError, binascii.Error):
        return None


def _cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


@dataclass(frozen=True)
class Handshake:
    """What the browser sent with its upgrade request, as far as the checks need it."""

    token: str
    origin: str | None
    host: str | None
    cookie: str | None
    offered: tuple[str, ...]  # Sec-WebSocket-Protocol values


class Registry:
    """Grants by token; lock-protected (pages issue them on script threads, the server spends
    them on its loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grants: dict[str, Grant] = {}

    def issue(
        self,
        *,
        session: str,
        origin: str,
        xsrf: bytes | None,
        opener: Opener,
        title: str,
        ttl: float = TOKEN_TTL,
    ) -> Grant:
        grant = Grant(
            secrets.token_urlsafe(32), session, origin, xsrf, opener, title, time.monotonic() + ttl
        )
        with self._lock:
            self._forget_stale()
            self._grants[grant.token] = grant
        return grant

    def get(self, token: str) -> Grant | None:
        with self._lock:
            return self._grants.get(token)

    def _forget_stale(self) -> None:
        now = time.monotonic()
        for token, grant in list(self._grants.items()):
            if grant.state == "closed" or (grant.state == "issued" and grant.expires < now - 600):
                del self._grants[token]

    def spend(self, shake: Handshake) -> Grant | str:
        """The grant for this handshake, now spent; or the sentence saying why it is refused."""
        with self._lock:
            grant = self._grants.get(shake.token)
            if grant is None:
                return "unknown token"
            problem = refusal(grant, shake, time.monotonic())
            if problem:
                return problem
            grant.state = "open"
            return grant


def refusal(grant: Grant, shake: Handshake, now: float) -> str:
    """Why this handshake may not spend this grant ("" when it may)."""
    if grant.state != "issued":
        return "token already used"
    if now > grant.expires:
        return "token expired"
    if not shake.origin or shake.origin != grant.origin:
        return f"origin {shake.origin!r} is not the dashboard's"
    if _hostname(shake.host) != urlsplit(grant.origin).hostname:
        return f"host {shake.host!r} is not the dashboard's"
    if grant.xsrf is not None:
        sent = decode_xsrf(shake.offered[1] if len(shake.offered) > 1 else None)
        cookie = decode_xsrf(_cookie(shake.cookie, XSRF_COOKIE))
        if not sent or not cookie or not hmac.compare_digest(sent, cookie):
            return "XSRF token missing or not the cookie's"
        if not hmac.compare_digest(cookie, grant.xsrf):
            return "XSRF token of another browser session"
    return ""


def _hostname(host: str | None) -> str | None:
    """`127.0.0.1` of a Host header `127.0.0.1:8765` (`::1` of `[::1]:8765`)."""
    try:
        return urlsplit(f"//{host}").hostname if host else None
    except ValueError:
        return None


def idle_timeout() -> float:
    return settings.terminal_idle()


class TerminalServer:
    """The WebSocket server, on a daemon thread with its own event loop."""

    def __init__(self, host: str, port: int = 0, registry: Registry | None = None):
        self.registry = registry or Registry()
        self.host = host
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future | None = None
        self.port = port
        self._thread = threading.Thread(target=self._main, name="terminal-server", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error:
            raise self._error

    # ------------------------------------------------------------ life cycle
    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._check,
            subprotocols=[SUBPROTOCOL],
            max_size=1 << 20,
            compression=None,  # keystrokes are a few bytes: deflate only adds latency
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop

    def stop(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(
                lambda: self._stop.done() or self._stop.set_result(None)
            )
        self._thread.join(10)

    # ------------------------------------------------------------ handshake
    def _check(self, connection, request):
        headers = request.headers
        query = parse_qs(urlsplit(request.path).query)
        offered = tuple(
            p.strip()
            for value in headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",")
            if p.strip()
        )
        shake = Handshake(
            token=(query.get("token") or [""])[0],
            origin=headers.get("Origin"),
            host=headers.get("Host"),
            cookie=headers.get("Cookie"),
            offered=offered,
        )
        spent = self.registry.spend(shake)
        if isinstance(spent, str):
            return connection.respond(HTTPStatus.FORBIDDEN, f"Terminal refused: {spent}.\n")
        connection.grant = spent
        return None

    # ------------------------------------------------------------ a session
    async def _handle(self, ws) -> None:
        grant: Grant = ws.grant
        loop = asyncio.get_running_loop()
        cols, rows = 80, 24
        early = b""  # keys typed before the size came: not lost
        try:
            first = await asyncio.wait_for(ws.recv(), FIRST_MESSAGE_WAIT)
        except TimeoutError:
            first = None
        except Exception:  # closed before it said anything
            grant.state, grant.ended = "closed", "The page went away."
            grant.closed.set()
            return
        if isinstance(first, bytes):
            early = first
        elif size := _resize(first):
            cols, rows = size
        stream: Stream | None = None
        ended = "The page went away."
        try:
            try:
                stream = await loop.run_in_executor(None, grant.opener, cols, rows)
            except Exception as exc:  # the engine's sentence (TerminalRefused, DaemonLost)
                ended = str(exc)
                with contextlib.suppress(Exception):  # the page may be gone already
                    await ws.send(json.dumps({"error": ended}))
                    await ws.close(1000, "refused")
                return
            if early:
                await loop.run_in_executor(None, stream.write, early)
            ended = await self._pump(ws, stream, loop)
            with contextlib.suppress(Exception):
                await ws.send(json.dumps({"ended": ended}))
                await ws.close(1000, "ended")
        finally:
            if stream is not None:
                await loop.run_in_executor(None, stream.close)
            grant.state, grant.ended = "closed", ended
            grant.closed.set()

    async def _pump(self, ws, stream: Stream, loop) -> str:
        """Copy both ways until one side ends; returns why, as a sentence."""
        out: asyncio.Queue[bytes | None] = asyncio.Queue()

        def reader() -> None:
            while True:
                data = stream.read()
                loop.call_soon_threadsafe(out.put_nowait, data or None)
                if not data:
                    return

        threading.Thread(target=reader, name="terminal-reader", daemon=True).start()
        last_key = time.monotonic()
        idle = idle_timeout()

        async def to_browser() -> str:
            while (data := await out.get()) is not None:
                await ws.send(data)
            return await loop.run_in_executor(None, stream.ended)

        async def from_browser() -> str:
            nonlocal last_key
            async for message in ws:
                if isinstance(message, bytes):
                    last_key = time.monotonic()
                    # Off the loop: a shell that stops reading must not stall other terminals.
                    await loop.run_in_executor(None, stream.write, message)
                elif size := _resize(message):
                    await loop.run_in_executor(None, stream.resize, *size)
            return "The page went away."

        async def watchdog() -> str:
            while True:
                await asyncio.sleep(min(5.0, idle / 4))
                if time.monotonic() - last_key > idle:
                    return (
                        f"Closed after {_duration(idle)} without a key pressed "
                        f"({settings.TERMINAL_IDLE})."
                    )

        tasks = [asyncio.create_task(t()) for t in (to_browser, from_browser, watchdog)]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        first = done.pop()
        try:
            return first.result()
        except Exception:
            return "The connection to the page broke."


def _resize(message) -> tuple[int, int] | None:
    if not isinstance(message, str):
        return None
    try:
        cols, rows = json.loads(message)["resize"]
        return max(1, min(int(cols), 1000)), max(1, min(int(rows), 1000))
    except (ValueError, KeyError, TypeError):
        return None


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


_server: TerminalServer | None = None
_server_lock = threading.Lock()


def server(host: str = "127.0.0.1") -> TerminalServer:
    """This process's terminal server, started on first use on `host` (the dashboard's own
    address) and DASHBOARD_TERMINAL_PORT (default: a free port)."""
    global _server
    with _server_lock:
        if _server is None:
            _server = TerminalServer(host, settings.terminal_port())
        return _server


def exec_opener(container: str, owner) -> Opener:
    """Opens `docker exec -it CONTAINER bash` as `owner` (a classroom student, or None), with the
    ownership and running checks made again at connect time."""

    def open_(cols: int, rows: int) -> Stream:
        from dashboard.engine import owner as owners
        from dashboard.engine import terminal
        from dashboard.engine.connection import connect

        with owners.acting_for(owner):
            client = connect()
            try:
                opened = terminal.open_exec(client, container, cols=cols, rows=rows)
            except BaseException:
                client.close()
                raise
            opened.owns_client = True
            return opened

    return open_


@dataclass(frozen=True)
class Opened:
    """A terminal the page may show: the grant's token and where to connect."""

    grant: Grant
    port: int
    cli: str  # the equivalent `docker exec -it NAME bash`


def check(container: str):
    """The engine's `terminal.check` on a fresh client: the `Target`, or `TerminalRefused`."""
    from dashboard.engine import terminal
    from dashboard.work.tasks import docker_client

    with docker_client() as client:
        return terminal.check(client, container)


def open_terminal(
    container: str, *, session: str, origin: str, xsrf: bytes | None, host: str
) -> Opened:
    """Check `container` now (the engine's `TerminalRefused` says why not) and issue a grant
    for it to this browser session; the exec starts when the browser connects."""
    from dashboard.engine import owner

    target = check(container)
    srv = server(host)
    for_whom = owner.current()
    grant = srv.registry.issue(
        session=session,
        origin=origin,
        xsrf=xsrf,
        opener=exec_opener(target.id, for_whom),
        title=target.cli,
    )
    return Opened(grant, srv.port, target.cli)
