"""The terminal channel on a small server of its own, for the tests and the benchmark's floor.

The dashboard never runs this: its channel is a route of its own server (dashboard/app.py). Here
the same route (`terminals.route`) is served by the same stack (Starlette under uvicorn, with
Streamlit's WebSocket implementation choice) on a free loopback port, in a thread, optionally
with a folder of static files at `/static/` (the component's page, for the floor).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from dashboard.work import terminals
from dashboard.work.terminal_grants import Registry


@contextlib.contextmanager
def serve(grants: Registry, static: Path | None = None) -> Iterator[str]:
    """Serve the channel at `/_dashboard/terminal` on 127.0.0.1; yields `http://127.0.0.1:PORT`."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    routes = [terminals.route("/" + terminals.PATH, grants)]
    if static is not None:
        routes.append(Mount("/static", StaticFiles(directory=static), name="static"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        Starlette(routes=routes),
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",  # what Streamlit 1.67 picks for the dashboard's server
        ws_per_message_deflate=False,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="terminal-standalone", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the terminal channel's server did not start")
        time.sleep(0.05)  # polling uvicorn's started flag, not waiting for correctness
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
