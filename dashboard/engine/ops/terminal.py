"""An interactive shell in a lab container: `docker exec -it NAME bash` through the Docker API.

Only into a running container the dashboard made (the ownership rule clean-up uses,
`labels.container_is_ours`), and in classroom mode only into the current student's own. Never a
shell on the host: the only thing this module starts is an exec inside such a container.

The exec gets a TTY (`tty=True` on create and start), so the container's side is a pseudo
terminal: bytes in are keystrokes (Ctrl-C is the byte 0x03, which the pty turns into SIGINT),
bytes out are what the terminal draws (colours included), and `resize` is the pty's window size.
"""

from __future__ import annotations

import contextlib
import shlex
import socket
import time
import uuid
from dataclasses import dataclass

import docker

from dashboard.engine.base import labels, owner
from dashboard.engine.base.connection import DAEMON_ERRORS
from dashboard.engine.ops.runs import ContainerNotFound, NotOurs, RunError, _get_ours, _lost

# bash where the image has it (the lecture's `docker exec -it NAME bash`), else sh.
SHELL = ["/bin/sh", "-c", "if [ -x /bin/bash ]; then exec /bin/bash; else exec /bin/sh; fi"]
TERM = "xterm-256color"
# Every process of one terminal (the shell and what it started) carries this variable with the
# terminal's own id, so a hang-up can find them: Docker does not end an exec whose client left.
MARK = "DASHBOARD_TERMINAL"
HANGUP_GRACE = 2.0  # seconds between SIGHUP and SIGKILL for what is still running
STOP_SETTLE = 3.0  # seconds a shell killed by a signal waits to see whether its container stopped


class TerminalRefused(RunError):
    """No terminal into this container; `str()` says why, as a sentence for the page."""


@dataclass(frozen=True)
class Target:
    """A container a terminal may open into, as checked just now."""

    id: str
    name: str
    student: str | None

    @property
    def cli(self) -> str:
        return docker_exec_it_command(self.name)


def docker_exec_it_command(name: str) -> str:
    """What a student types for the same shell."""
    return shlex.join(["docker", "exec", "-it", name, "bash"])


def check(client: docker.DockerClient, container: str) -> Target:
    """The container if a terminal may open into it; `TerminalRefused` with the reason if not."""
    try:
        found = _get_ours(client, container)
    except NotOurs as exc:
        raise TerminalRefused(
            f"No terminal into {exc.name or container}: it was not made by the dashboard "
            f"(it lacks the {labels.MANAGED} and {labels.SESSION} labels), and the dashboard "
            "only opens shells in the lab containers it started."
        ) from None
    except ContainerNotFound:
        raise TerminalRefused(f"No terminal: there is no container {container!r}.") from None
    me = owner.current()
    theirs = (found.labels or {}).get(labels.STUDENT)
    if me.student and theirs != me.student:
        raise TerminalRefused(
            f"No terminal into {found.name}: it is not yours "
            "(in classroom mode each student opens shells only in their own containers)."
        )
    state = (found.attrs.get("State") or {}).get("Status", "")
    if state != "running":
        raise TerminalRefused(
            f"No terminal into {found.name}: it is {state or 'not running'}; a shell needs a "
            "running container (`docker start` it, or start a new one above)."
        )
    return Target(found.id, found.name, theirs)


class ExecTerminal:
    """A started `docker exec -it` into a checked container: read, write, resize, close."""

    def __init__(
        self, client: docker.DockerClient, target: Target, exec_id: str, sock, mark: str = ""
    ):
        self.client = client
        self.target = target
        self.exec_id = exec_id
        self.mark = mark
        self.owns_client = False  # close the client with the terminal (work/terminals.py)
        self._wrapper = sock  # the SDK's object; keeps the HTTP response (and socket) alive
        # On a unix socket the SDK hands back a SocketIO around the real socket (see pitfalls).
        self.sock: socket.socket = getattr(sock, "_sock", sock)

    def read(self, size: int = 65536) -> bytes:
        """What the shell printed; b"" once the exec ended (shell exited, container stopped)."""
        try:
            return self.sock.recv(size)
        except OSError:
            return b""

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def resize(self, cols: int, rows: int) -> None:
        cols, rows = max(1, min(int(cols), 1000)), max(1, min(int(rows), 1000))
        with contextlib.suppress(*DAEMON_ERRORS):
            self.client.api.exec_resize(self.exec_id, height=rows, width=cols)

    def exit_code(self) -> int | None:
        """The shell's exit code once it ended, None while it runs (or if Docker cannot say)."""
        try:
            info = self.client.api.exec_inspect(self.exec_id)
        except DAEMON_ERRORS:
            return None
        return None if info.get("Running") else info.get("ExitCode")

    def running(self) -> bool:
        try:
            return bool(self.client.api.exec_inspect(self.exec_id).get("Running"))
        except DAEMON_ERRORS:
            return False

    def ended(self) -> str:
        """Why the stream ended, as a sentence for the page.

        A container being stopped kills the exec's shell (exit code 137) a moment before the
        daemon marks the container as no longer running: a shell killed by a signal is looked
        at again for up to `STOP_SETTLE` seconds, so a stop is not told as the shell's exit."""
        code = self.exit_code()
        settle = time.monotonic() + (STOP_SETTLE if code is None or code > 128 else 0)
        while True:
            try:
                state = self.client.api.inspect_container(self.target.id).get("State") or {}
            except docker.errors.NotFound:
                return f"The container {self.target.name} was removed; the shell went with it."
            except DAEMON_ERRORS:
                return "The connection to the Docker daemon broke."
            if not state.get("Running"):
                return f"The container {self.target.name} stopped; the shell went with it."
            if time.monotonic() >= settle:
                break
            time.sleep(0.1)  # polling the daemon's view of the container while it stops
        if code is None:
            return "The shell's stream ended."
        return f"The shell exited (exit code {code})."

    def close(self) -> None:
        """Hang up like a closed SSH session: end the stream, then SIGHUP (SIGKILL after a
        grace) whatever this terminal still runs in the container."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(Exception):
            self._wrapper.close()
        if self.mark and self.running():
            self._signal("HUP")
            give_up = time.monotonic() + HANGUP_GRACE
            while self.running() and time.monotonic() < give_up:
                time.sleep(0.1)
            if self.running():
                self._signal("KILL")
        if self.owns_client:
            with contextlib.suppress(Exception):
                self.client.close()

    def _signal(self, name: str) -> None:
        script = (
            f"for e in /proc/[0-9]*/environ; do grep -q '{MARK}={self.mark}' \"$e\" 2>/dev/null"
            f' && p=${{e#/proc/}} && kill -{name} "${{p%/environ}}" 2>/dev/null; done; true'
        )
        with contextlib.suppress(*DAEMON_ERRORS):
            self.client.api.exec_start(
                self.client.api.exec_create(self.target.id, ["/bin/sh", "-c", script])["Id"]
            )


def open_exec(
    client: docker.DockerClient, container: str, *, cols: int = 80, rows: int = 24
) -> ExecTerminal:
    """`docker exec -it CONTAINER bash`, checked again now (it may have stopped or changed)."""
    target = check(client, container)
    mark = uuid.uuid4().hex
    try:
        exec_id = client.api.exec_create(
            target.id,
            SHELL,
            stdin=True,
            stdout=True,
            stderr=True,
            tty=True,
            environment={"TERM": TERM, MARK: mark},
        )["Id"]
        sock = client.api.exec_start(exec_id, socket=True, tty=True)
    except docker.errors.APIError as exc:
        raise TerminalRefused(
            f"No terminal into {target.name}: Docker refused the exec ({exc.explanation or exc})."
        ) from exc
    except DAEMON_ERRORS as exc:
        raise _lost(exc, "while opening the terminal", target.id, target.name) from exc
    terminal = ExecTerminal(client, target, exec_id, sock, mark)
    terminal.resize(cols, rows)
    return terminal
