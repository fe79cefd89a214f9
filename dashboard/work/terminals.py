"""The terminal channel: a WebSocket route of the dashboard's own server, between the page's
xterm.js and a `docker exec -it`.

`dashboard/app.py` serves the app as Streamlit's ASGI application (`st.App`) with `route()`
added: the channel answers at `PATH` under `server.baseUrlPath`, on the dashboard's own address,
port and scheme (behind a TLS proxy the page's `wss://` reaches it like Streamlit's own
WebSocket does). There is no second port. The browser connects to `.../_dashboard/terminal?
token=...` with a one-time token that `open_terminal` issued to its session
(dashboard/work/terminal_grants.py says what the handshake must pass).

Protocol: client -> server binary frames are keystrokes, text frames JSON `{"resize": [cols,
rows]}`; server -> client binary frames are the terminal's output, text frames JSON `{"ended":
sentence}` or `{"error": sentence}`. A token refused to a page of the dashboard's own origin is
answered with the close code `REFUSED` and the reason; a handshake from elsewhere gets HTTP 403.
The session closes when the shell exits, the container stops (the exec's stream ends), the
socket closes (page gone: the shell gets SIGHUP) or no key came for the idle timeout
(DASHBOARD_TERMINAL_IDLE).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from dashboard import settings
from dashboard.work.terminal_grants import (
    XSRF_COOKIE,
    Grant,
    Handshake,
    Opener,
    Refusal,
    Registry,
    Stream,
    decode_xsrf,
)

__all__ = ["XSRF_COOKIE", "Grant", "Opened", "Registry", "decode_xsrf", "open_terminal", "route"]

SUBPROTOCOL = "dashboard-terminal"
PATH = "_dashboard/terminal"  # under server.baseUrlPath
REFUSED = 4403  # close code: the token was refused (the reason says why)
FIRST_MESSAGE_WAIT = 10.0  # seconds for the client's first resize before 80x24 is assumed

# Blocking work of the terminals (opening an exec, writes to a shell that may stop reading,
# closing): threads of their own, off the server's event loop and its default executor.
_POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="terminal")
_registry = Registry()  # this process's grants: the pages issue them, the route spends them


def route(at: str, grants: Registry | None = None):
    """The channel as a Starlette route at the URL path `at` (the dashboard's is `PATH` under
    `server.baseUrlPath`, dashboard/app.py), for `st.App(routes=...)` or any Starlette app."""
    from starlette.routing import WebSocketRoute

    grants = grants or _registry

    async def endpoint(websocket) -> None:
        await serve(websocket, grants)

    return WebSocketRoute(at, endpoint, name="dashboard-terminal")


def handshake(websocket) -> Handshake:
    headers = websocket.headers
    offered = tuple(
        p.strip()
        for value in headers.getlist("sec-websocket-protocol")
        for p in value.split(",")
        if p.strip()
    )
    return Handshake(
        token=websocket.query_params.get("token", ""),
        origin=headers.get("origin"),
        host=headers.get("host"),
        cookie=headers.get("cookie"),
        offered=offered,
    )


async def serve(websocket, grants: Registry) -> None:
    """One connection: the checks, then the session."""
    from starlette.responses import PlainTextResponse

    shake = handshake(websocket)
    spent = grants.spend(shake)
    protocol = SUBPROTOCOL if SUBPROTOCOL in shake.offered else None
    if isinstance(spent, Refusal):
        if spent.foreign:  # no WebSocket for another site's page
            denial = PlainTextResponse(f"Terminal refused: {spent.reason}.\n", status_code=403)
            try:
                await websocket.send_denial_response(denial)
            except RuntimeError:  # a server without the denial extension: a plain 403
                await websocket.close(1008)
            return
        await websocket.accept(subprotocol=protocol)
        await websocket.close(REFUSED, f"Terminal refused: {spent.reason}."[:120])
        return
    await websocket.accept(subprotocol=protocol)
    await _session(websocket, spent)


async def _session(ws, grant: Grant) -> None:
    loop = asyncio.get_running_loop()
    cols, rows = 80, 24
    early = b""  # keys typed before the size came: not lost
    try:
        first = await asyncio.wait_for(ws.receive(), FIRST_MESSAGE_WAIT)
    except TimeoutError:
        first = {}
    if first.get("type") == "websocket.disconnect":
        grant.state, grant.ended = "closed", "The page went away."
        grant.closed.set()
        return
    if first.get("bytes"):
        early = first["bytes"]
    elif size := _resize(first.get("text")):
        cols, rows = size
    stream: Stream | None = None
    ended = "The page went away."
    try:
        try:
            stream = await loop.run_in_executor(_POOL, grant.opener, cols, rows)
        except Exception as exc:  # the engine's sentence (TerminalRefused, DaemonLost)
            ended = str(exc)
            await _last_word(ws, {"error": ended}, "refused")
            return
        if early:
            await loop.run_in_executor(_POOL, stream.write, early)
        ended = await _pump(ws, stream, loop)
        await _last_word(ws, {"ended": ended}, "ended")
    finally:
        if stream is not None:
            await loop.run_in_executor(_POOL, stream.close)
        grant.state, grant.ended = "closed", ended
        grant.closed.set()


async def _last_word(ws, message: dict, reason: str) -> None:
    with contextlib.suppress(Exception):  # the page may be gone already
        await ws.send_text(json.dumps(message))
        await ws.close(1000, reason)


async def _pump(ws, stream: Stream, loop) -> str:
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
    idle = settings.terminal_idle()

    async def to_browser() -> str:
        while (data := await out.get()) is not None:
            await ws.send_bytes(data)
        return await loop.run_in_executor(_POOL, stream.ended)

    async def from_browser() -> str:
        nonlocal last_key
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return "The page went away."
            if message.get("bytes") is not None:
                last_key = time.monotonic()
                # Off the loop: a shell that stops reading must not stall other terminals.
                await loop.run_in_executor(_POOL, stream.write, message["bytes"])
            elif size := _resize(message.get("text")):
                await loop.run_in_executor(_POOL, stream.resize, *size)

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


def exec_opener(container: str, owner) -> Opener:
    """Opens `docker exec -it CONTAINER bash` as `owner` (a classroom student, or None), with the
    ownership and running checks made again at connect time."""

    def open_(cols: int, rows: int) -> Stream:
        from dashboard.engine.base import owner as owners
        from dashboard.engine.base.connection import connect
        from dashboard.engine.ops import terminal

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
    """A terminal the page may show: the grant's token and what it stands for."""

    grant: Grant
    cli: str  # the equivalent `docker exec -it NAME bash`


def check(container: str):
    """The engine's `terminal.check` on a fresh client: the `Target`, or `TerminalRefused`."""
    from dashboard.engine.ops import terminal
    from dashboard.work.tasks import docker_client

    with docker_client() as client:
        return terminal.check(client, container)


def open_terminal(container: str, *, session: str, origin: str, xsrf: bytes | None) -> Opened:
    """Check `container` now (the engine's `TerminalRefused` says why not) and issue a grant
    for it to this browser session; the exec starts when the browser connects."""
    from dashboard.engine.base import owner

    target = check(container)
    grant = _registry.issue(
        session=session,
        origin=origin,
        xsrf=xsrf,
        opener=exec_opener(target.id, owner.current()),
        title=target.cli,
    )
    return Opened(grant, target.cli)
