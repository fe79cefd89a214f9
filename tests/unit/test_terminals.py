"""The terminal channel's rules: one-time tokens, origin, host and XSRF checks, the idle timeout,
and the session's end, on a real WebSocket server on loopback with a stand-in stream (no Docker).
"""

from __future__ import annotations

import json
import queue
import time

import pytest
from streamlit.web.server.starlette.starlette_app_utils import decode_xsrf_token_string
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from dashboard import settings
from dashboard.work import terminals

ORIGIN = "http://127.0.0.1:8501"
# A Streamlit XSRF cookie (Tornado's v2 format: a 4-byte mask repeated over a 16-byte token).
XSRF = "2|691a8930|e7a9c6e963d4ca496460d5d713efea35|1796123402"
OTHER_XSRF = "2|00000000|00112233445566778899aabbccddeeff|1796123402"


class EchoStream:
    """Answers every write with its upper case; records resizes; ends on b"exit"."""

    def __init__(self, cols: int, rows: int):
        self.sizes = [(cols, rows)]
        self.out: queue.Queue[bytes] = queue.Queue()
        self.closed = False

    def read(self, size: int = 65536) -> bytes:
        return self.out.get()

    def write(self, data: bytes) -> None:
        self.out.put(b"" if data == b"exit" else data.upper())

    def resize(self, cols: int, rows: int) -> None:
        self.sizes.append((cols, rows))

    def close(self) -> None:
        self.closed = True
        self.out.put(b"")

    def ended(self) -> str:
        return "The shell exited (exit code 0)."


@pytest.fixture(scope="module")
def server():
    srv = terminals.TerminalServer("127.0.0.1", 0)
    yield srv
    srv.stop()


def issue(server, opened: list, xsrf: str | None = XSRF, ttl: float = 60.0):
    def opener(cols: int, rows: int):
        stream = EchoStream(cols, rows)
        opened.append(stream)
        return stream

    return server.registry.issue(
        session="s1",
        origin=ORIGIN,
        xsrf=terminals.decode_xsrf(xsrf),
        opener=opener,
        title="test",
        ttl=ttl,
    )


def dial(server, token: str, *, origin=ORIGIN, cookie=XSRF, sent=XSRF):
    protocols = [terminals.SUBPROTOCOL] + ([sent] if sent else [])
    headers = {"Cookie": f"{terminals.XSRF_COOKIE}={cookie}"} if cookie else {}
    return connect(
        f"ws://127.0.0.1:{server.port}/?token={token}",
        origin=origin,
        subprotocols=protocols,
        additional_headers=headers,
        open_timeout=10,
    )


def test_xsrf_values_decode_as_streamlit_decodes_them():
    for value in (XSRF, OTHER_XSRF, '"' + XSRF + '"', "00ff", "2|zz|00|1", "", None, "2|a|b"):
        expected = decode_xsrf_token_string(value)[0] if value else None
        assert terminals.decode_xsrf(value) == expected, value


def test_a_granted_session_echoes_resizes_and_ends_with_the_shell(server):
    opened: list[EchoStream] = []
    grant = issue(server, opened)
    with dial(server, grant.token) as ws:
        assert ws.subprotocol == terminals.SUBPROTOCOL
        ws.send(json.dumps({"resize": [100, 30]}))
        ws.send(b"ls\r")
        assert ws.recv(10) == b"LS\r"
        ws.send(json.dumps({"resize": [120, 40]}))
        ws.send(b"x")
        assert ws.recv(10) == b"X"
        assert opened[0].sizes == [(100, 30), (120, 40)]
        ws.send(b"exit")
        assert json.loads(ws.recv(10)) == {"ended": "The shell exited (exit code 0)."}
    assert grant.closed.wait(10) and grant.state == "closed"
    assert opened[0].closed


def test_a_token_is_spent_by_its_first_use(server):
    grant = issue(server, [])
    with dial(server, grant.token) as ws:
        ws.send(json.dumps({"resize": [80, 24]}))
        with pytest.raises(InvalidStatus) as refused:
            dial(server, grant.token)
        assert refused.value.response.status_code == 403
        assert b"token already used" in refused.value.response.body


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"origin": "http://evil.example"}, b"origin 'http://evil.example' is not the dash"),
        ({"origin": "http://127.0.0.1:9999"}, b"is not the dashboard's"),
        ({"cookie": None}, b"XSRF token missing"),
        ({"sent": None}, b"XSRF token missing"),
        ({"sent": OTHER_XSRF}, b"XSRF token missing or not the cookie's"),
        ({"sent": OTHER_XSRF, "cookie": OTHER_XSRF}, b"XSRF token of another browser session"),
    ],
)
def test_handshakes_from_elsewhere_are_refused_and_the_token_survives(server, kwargs, why):
    grant = issue(server, [])
    with pytest.raises(InvalidStatus) as refused:
        dial(server, grant.token, **kwargs)
    assert refused.value.response.status_code == 403
    assert why in refused.value.response.body
    assert grant.state == "issued"  # a forged attempt does not burn the page's token
    with dial(server, grant.token):
        pass


def test_unknown_and_expired_tokens_are_refused(server):
    with pytest.raises(InvalidStatus, match="403"):
        dial(server, "not-a-token")
    grant = issue(server, [], ttl=0.0)
    time.sleep(0.01)
    with pytest.raises(InvalidStatus) as refused:
        dial(server, grant.token)
    assert b"token expired" in refused.value.response.body


def test_the_host_header_must_be_the_dashboards_host():
    grant = terminals.Grant("t", "s", ORIGIN, None, lambda c, r: None, "x", time.monotonic() + 9)
    good = terminals.Handshake("t", ORIGIN, "127.0.0.1:40000", None, ())
    assert terminals.refusal(grant, good, time.monotonic()) == ""
    rebound = terminals.Handshake("t", ORIGIN, "attacker.example:40000", None, ())
    assert "host" in terminals.refusal(grant, rebound, time.monotonic())


def test_without_streamlit_xsrf_only_token_and_origin_are_checked(server):
    grant = issue(server, [], xsrf=None)
    with dial(server, grant.token, cookie=None, sent=None) as ws:
        ws.send(b"a")
        assert ws.recv(10) == b"A"


def test_an_idle_terminal_closes_with_a_sentence(server, monkeypatch):
    monkeypatch.setenv(settings.TERMINAL_IDLE, "1")
    opened: list[EchoStream] = []
    grant = issue(server, opened)
    with dial(server, grant.token) as ws:
        ws.send(json.dumps({"resize": [80, 24]}))
        message = json.loads(ws.recv(15))
    assert message == {
        "ended": f"Closed after 1 s without a key pressed ({settings.TERMINAL_IDLE})."
    }
    assert grant.closed.wait(10) and opened[0].closed


def test_the_page_going_away_closes_the_stream(server):
    opened: list[EchoStream] = []
    grant = issue(server, opened)
    with dial(server, grant.token) as ws:
        ws.send(json.dumps({"resize": [80, 24]}))
        ws.send(b"a")
        ws.recv(10)
    assert grant.closed.wait(10)
    assert opened[0].closed and grant.ended == "The page went away."


def test_a_refusal_at_connect_time_is_sent_as_a_sentence(server):
    def opener(cols, rows):
        raise RuntimeError("No terminal into x: it is exited; a shell needs a running container")

    grant = server.registry.issue(session="s1", origin=ORIGIN, xsrf=None, opener=opener, title="x")
    with dial(server, grant.token, cookie=None, sent=None) as ws:
        ws.send(json.dumps({"resize": [80, 24]}))
        assert json.loads(ws.recv(10))["error"].startswith("No terminal into x: it is exited")
    assert grant.closed.wait(10) and grant.state == "closed"
