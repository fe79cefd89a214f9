"""The browser terminal's engine and channel on the real daemon: `docker exec -it` with a TTY
into a running container of ours (echo, resize, Ctrl-C, exit code, hang-up, a stopped
container), the refusals (not ours, ours in name only, stopped, another student's), and the
whole chain through the WebSocket server with a Python client in place of the browser.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid

import docker
import pytest
from websockets.sync.client import connect as ws_connect

from dashboard import settings
from dashboard.engine.base import labels, owner
from dashboard.engine.ops import runs, terminal
from dashboard.work import terminal_standalone, terminals

pytestmark = pytest.mark.docker

BASE = "python:3.11-slim"
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
ORIGIN = "http://127.0.0.1:8501"


@pytest.fixture
def made(docker_client):
    ids: list[str] = []
    yield ids
    for cid in ids:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(cid).remove(force=True)


@pytest.fixture
def ours(docker_client, made, session_id):
    record = runs.start_detached(
        docker_client, BASE, lab="iris", command=SLEEPER, name=f"{session_id}-tty-{_uid()}"
    )
    made.append(record.id)
    return record


def _uid() -> str:
    return uuid.uuid4().hex[:6]


def read_until(term: terminal.ExecTerminal, wanted: bytes, timeout: float = 20) -> bytes:
    term.sock.settimeout(timeout)
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        assert time.monotonic() < deadline, seen
        chunk = term.read()
        assert chunk, f"stream ended before {wanted!r}: {seen!r}"
        seen += chunk
    return seen


def read_to_end(term: terminal.ExecTerminal, timeout: float = 20) -> bytes:
    term.sock.settimeout(timeout)
    seen = b""
    while chunk := term.read():
        seen += chunk
    return seen


def exec_processes(client, container_id: str) -> list[str]:
    return [" ".join(p[7:]) for p in client.api.top(container_id)["Processes"]]


def test_exec_with_a_tty_echoes_resizes_interrupts_and_exits(docker_client, ours):
    term = terminal.open_exec(docker_client, ours.id, cols=100, rows=30)
    try:
        term.write(b"echo h''i\n")
        read_until(term, b"\rhi\r\n")  # the pty's CRLF: a terminal, not a pipe
        term.write(b"stty size\n")
        read_until(term, b"30 100\r\n")
        term.resize(120, 40)
        term.write(b"stty size\n")
        read_until(term, b"40 120\r\n")
        term.write(b"printf '\\033[31mred\\033[0m\\n'\n")
        read_until(term, b"\x1b[31mred\x1b[0m")
        term.write(b"sleep 60; echo sl''ept\n")
        time.sleep(0.5)
        term.write(b"\x03")  # Ctrl-C
        term.write(b"echo b''ack\n")
        seen = read_until(term, b"\rback\r\n", timeout=10)
        assert b"\rslept" not in seen
        term.write(b"exit 3\n")
        read_to_end(term)
        assert term.exit_code() == 3
        assert term.ended() == "The shell exited (exit code 3)."
    finally:
        term.close()


def test_closing_hangs_up_the_shell_and_what_it_runs(docker_client, ours):
    term = terminal.open_exec(docker_client, ours.id)
    term.write(b"sleep 321\n")
    read_until(term, b"sleep 321\r\n")
    time.sleep(0.5)
    assert any("sleep 321" in p for p in exec_processes(docker_client, ours.id))
    term.close()
    assert not term.running()
    assert not any("sleep 321" in p for p in exec_processes(docker_client, ours.id))


def test_a_stopping_container_ends_the_session(docker_client, ours):
    term = terminal.open_exec(docker_client, ours.id)
    try:
        read_until(term, b"# ")
        docker_client.containers.get(ours.id).stop(timeout=1)
        read_to_end(term)
        assert term.ended() == f"The container {ours.name} stopped; the shell went with it."
    finally:
        term.close()


def test_refusals(docker_client, made, ours, session_id):
    foreign = docker_client.containers.run(
        BASE, SLEEPER, detach=True, name=f"{session_id}-notours-{_uid()}"
    )
    made.append(foreign.id)
    with pytest.raises(terminal.TerminalRefused, match="was not made by the dashboard"):
        terminal.check(docker_client, foreign.name)
    # The managed label alone (as a lab image passes it on) is not ownership.
    lookalike = docker_client.containers.run(
        BASE,
        SLEEPER,
        detach=True,
        labels={labels.MANAGED: "true"},
        name=f"{session_id}-ll-{_uid()}",
    )
    made.append(lookalike.id)
    with pytest.raises(terminal.TerminalRefused, match="was not made by the dashboard"):
        terminal.open_exec(docker_client, lookalike.id)
    with pytest.raises(terminal.TerminalRefused, match="there is no container"):
        terminal.check(docker_client, f"{session_id}-missing")

    assert terminal.check(docker_client, ours.name).cli == f"docker exec -it {ours.name} bash"
    runs.stop_container(docker_client, ours.id, grace=1)
    with pytest.raises(terminal.TerminalRefused, match="it is exited; a shell needs a running"):
        terminal.check(docker_client, ours.id)


def test_in_classroom_mode_only_the_students_own(docker_client, made, session_id):
    alice, bob = owner.for_student(f"alice-{_uid()}"), owner.for_student(f"bob-{_uid()}")
    with owner.acting_for(alice):
        record = runs.start_detached(
            docker_client, BASE, lab="iris", command=SLEEPER, name=f"{session_id}-al-{_uid()}"
        )
    made.append(record.id)
    with owner.acting_for(bob), pytest.raises(terminal.TerminalRefused, match="it is not yours"):
        terminal.check(docker_client, record.id)
    with owner.acting_for(alice):
        assert terminal.check(docker_client, record.id).student == alice.student


def test_the_channel_end_to_end_and_the_hang_up_when_the_page_goes(docker_client, ours):
    grants = terminals.Registry()
    with terminal_standalone.serve(grants) as url:
        grant = grants.issue(
            session="s",
            origin=ORIGIN,
            xsrf=None,
            opener=terminals.exec_opener(ours.id, None),
            title="t",
        )
        ws_url = f"{url.replace('http', 'ws')}/{terminals.PATH}?token={grant.token}"
        with ws_connect(ws_url, origin=ORIGIN, subprotocols=[terminals.SUBPROTOCOL]) as ws:
            ws.send(json.dumps({"resize": [90, 20]}))
            ws.send(b"stty size; sleep 432\n")
            seen = b""
            while b"20 90" not in seen:
                seen += ws.recv(20)
        assert grant.closed.wait(20) and grant.ended == "The page went away."
        assert not any("sleep 432" in p for p in exec_processes(docker_client, ours.id))


def test_the_channel_says_when_the_container_stops_and_when_idle(docker_client, ours, monkeypatch):
    """Two ends of a session, each with its own sentence: the container stopped, no key for
    DASHBOARD_TERMINAL_IDLE seconds."""
    grants = terminals.Registry()
    with terminal_standalone.serve(grants) as url:

        def session():
            grant = grants.issue(
                session="s",
                origin=ORIGIN,
                xsrf=None,
                opener=terminals.exec_opener(ours.id, None),
                title="t",
            )
            ws_url = f"{url.replace('http', 'ws')}/{terminals.PATH}?token={grant.token}"
            return grant, ws_url

        def last_word(ws) -> dict:
            while isinstance(message := ws.recv(30), bytes):
                pass
            return json.loads(message)

        monkeypatch.setenv(settings.TERMINAL_IDLE, "2")
        grant, ws_url = session()
        with ws_connect(ws_url, origin=ORIGIN, subprotocols=[terminals.SUBPROTOCOL]) as ws:
            ws.send(json.dumps({"resize": [80, 24]}))
            assert last_word(ws) == {
                "ended": f"Closed after 2 s without a key pressed ({settings.TERMINAL_IDLE})."
            }
        assert grant.closed.wait(20)

        monkeypatch.setenv(settings.TERMINAL_IDLE, "600")
        grant, ws_url = session()
        with ws_connect(ws_url, origin=ORIGIN, subprotocols=[terminals.SUBPROTOCOL]) as ws:
            ws.send(json.dumps({"resize": [80, 24]}))
            ws.send(b"echo re''ady\n")
            seen = b""
            while b"ready" not in seen:
                seen += ws.recv(20)
            docker_client.containers.get(ours.id).stop(timeout=1)
            assert last_word(ws) == {
                "ended": f"The container {ours.name} stopped; the shell went with it."
            }
        assert grant.closed.wait(20)
