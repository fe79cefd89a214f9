"""The terminal channel's rules: one-time tokens, origin, host and XSRF checks, the idle timeout,
and the session's end, on a real WebSocket over loopback with a stand-in stream (no Docker): the
channel's route (`terminals.route`) served by Starlette under uvicorn, as in the dashboard.
"""

from __future__ import annotations

import json
import queue
import time

import pytest
from streamlit.web.server.starlette.starlette_app_utils import decode_xsrf_token_string
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from dashboard import settings
from dashboard.work import terminal_grants, terminal_standalone, terminals

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


class Channel:
    """The channel's route on a server of its own, and its grants."""

    def __init__(self, url: str, registry: terminals.Registry):
        self.url, self.registry = url, registry


@pytest.fixture(scope="module")
def server():
    grants = terminals.Registry()
    with terminal_standalone.serve(grants) as url:
        yield Channel(url, grants)


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
        f"{server.url.replace('http', 'ws')}/{terminals.PATH}?token={token}",
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


def refused_in_band(server, token: str, **kwargs) -> str:
    """The reason of a refusal sent to a page of the dashboard's own origin: the WebSocket
    opens, then closes at once with the code `terminals.REFUSED`."""
    with dial(server, token, **kwargs) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(10)
    assert closed.value.rcvd.code == terminals.REFUSED
    return closed.value.rcvd.reason


def test_a_token_is_spent_by_its_first_use(server):
    opened: list[EchoStream] = []
    grant = issue(server, opened)
    with dial(server, grant.token) as ws:
        ws.send(json.dumps({"resize": [80, 24]}))
        assert refused_in_band(server, grant.token) == "Terminal refused: token already used."
        ws.send(b"a")
        assert ws.recv(10) == b"A"  # the first one goes on
    assert len(opened) == 1


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"origin": "http://evil.example"}, b"origin 'http://evil.example' is not the dash"),
        ({"origin": "http://127.0.0.1:9999"}, b"is not the dashboard's"),
        ({"origin": None}, b"no Origin header"),
    ],
)
def test_handshakes_from_elsewhere_get_no_websocket(server, kwargs, why):
    grant = issue(server, [])
    with pytest.raises(InvalidStatus) as refused:
        dial(server, grant.token, **kwargs)
    assert refused.value.response.status_code == 403
    assert why in refused.value.response.body
    assert grant.state == "issued"  # a forged attempt does not burn the page's token
    with dial(server, grant.token):
        pass


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"cookie": None}, "XSRF token missing"),
        ({"sent": None}, "XSRF token missing"),
        ({"sent": OTHER_XSRF}, "XSRF token missing or not the cookie's"),
        ({"sent": OTHER_XSRF, "cookie": OTHER_XSRF}, "XSRF token of another browser session"),
    ],
)
def test_xsrf_failures_are_refused_and_the_token_survives(server, kwargs, why):
    grant = issue(server, [])
    assert why in refused_in_band(server, grant.token, **kwargs)
    assert grant.state == "issued"
    with dial(server, grant.token) as ws:
        ws.send(b"a")
        assert ws.recv(10) == b"A"


def test_an_unknown_token_from_another_site_gets_no_websocket(server):
    with pytest.raises(InvalidStatus) as refused:
        dial(server, "not-a-token", origin="http://evil.example")
    assert refused.value.response.status_code == 403


def test_unknown_and_expired_tokens_are_refused(server):
    assert refused_in_band(server, "not-a-token") == "Terminal refused: unknown token."
    opened: list[EchoStream] = []
    grant = issue(server, opened, ttl=0.0)
    time.sleep(0.01)
    assert refused_in_band(server, grant.token) == "Terminal refused: token expired."
    assert opened == []


def test_the_host_header_must_be_the_dashboards_host():
    grant = terminal_grants.Grant(
        "t", "s", ORIGIN, None, lambda c, r: None, "x", time.monotonic() + 9
    )
    good = terminal_grants.Handshake("t", ORIGIN, "127.0.0.1:40000", None, ())
    assert terminal_grants.refusal(grant, good, time.monotonic()) is None
    rebound = terminal_grants.Handshake("t", ORIGIN, "attacker.example:40000", None, ())
    refused = terminal_grants.refusal(grant, rebound, time.monotonic())
    assert refused.foreign and "host" in refused.reason


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
