"""The test run's daemon on a loopback TCP port, as a daemon on another machine looks.

`TcpForward(socket_path)` listens on 127.0.0.1 and pipes every connection to the daemon's unix
socket. A client given `DOCKER_HOST=tcp://127.0.0.1:PORT` is then, to the dashboard, not on
this machine (what a remote or ssh-reached daemon is), while talking to the real daemon.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from urllib.parse import urlparse

DEFAULT_SOCKET = "/var/run/docker.sock"


def daemon_socket() -> str:
    """The unix socket of the daemon this test run uses (DOCKER_HOST, else the default)."""
    url = urlparse(os.environ.get("DOCKER_HOST", ""))
    return url.path if url.scheme == "unix" and url.path else DEFAULT_SOCKET


class TcpForward:
    def __init__(self, socket_path: str | None = None):
        self.socket_path = socket_path or daemon_socket()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            upstream = socket.socket(socket.AF_UNIX)
            try:
                upstream.connect(self.socket_path)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(1 << 16):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._server.close()
        with self._lock:
            for s in self._open:
                s.close()
            self._open.clear()

    def __enter__(self) -> TcpForward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
