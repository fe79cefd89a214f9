"""The browser terminal behind a classroom's proxy: nginx (tests/nginx_proxy.py) with TLS and the
path prefix `/class/ada/`, in front of a dashboard run with `server.baseUrlPath` = class/ada.

Chromium is told to accept the test's own certificate (`ignore_https_errors`). The page loads at
https://127.0.0.1:PORT/class/ada/, the terminal connects over wss:// to the same origin and
prefix (no other port exists) and prints 42; a plain ws:// to the proxy and a foreign origin get
no WebSocket.
"""

from __future__ import annotations

import re
import ssl
import subprocess

import pytest
from playwright.sync_api import expect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from dashboard.work import terminals
from tests import nginx_proxy
from tests.e2e.browser import (
    PAGE_MS,
    VIEWPORT,
    app_env,
    assert_clean,
    button,
    open_url,
    serve,
    wait_idle,
    watched_page,
)
from tests.e2e.terminal_page import (
    KEY,
    choose,
    containers,
    open_terminal,
    terminal_frame,
    wait_text,
)

pytestmark = [pytest.mark.docker, pytest.mark.e2e]
__all__ = ["containers"]  # the fixture, imported for pytest

PREFIX = "class/ada"


@pytest.fixture(scope="module")
def behind_nginx(session_id, tmp_path_factory):
    """(the public URL through nginx, the dashboard's own port)."""
    tmp = tmp_path_factory.mktemp("streamlit-proxied")
    port = nginx_proxy.free_port()
    try:
        with (
            serve(tmp / "server.log", app_env(tmp, session_id), port=port, base=PREFIX),
            nginx_proxy.proxy(port, PREFIX) as public,
        ):
            yield public, port
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT, ignore_https_errors=True)
    yield watched_page(context)
    context.close()


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on (`ss -ltnp`)."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    return {
        int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if f"pid={pid}," in line
    }


def server_pid(port: int) -> int:
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.split()[3].endswith(f":{port}"):
            return int(re.search(r"pid=(\d+),", line).group(1))
    raise AssertionError(f"nothing listens on {port}")


def test_the_terminal_through_nginx_tls_and_a_path_prefix(page, behind_nginx, containers):
    public, port = behind_nginx
    ours, _ = containers
    frame = open_terminal(page, public + "lesson1", ours)
    host = public.split("/")[2]
    assert frame.evaluate("window.__terminal.url") == f"wss://{host}/{PREFIX}/{terminals.PATH}"
    expect(frame.locator("#bar")).to_have_text(re.compile("^Connected"), timeout=PAGE_MS)
    frame.locator(".xterm").click()
    page.keyboard.type("python -c 'print(6*7)'\n")
    wait_text(frame, r"^42\s*$")
    assert_clean(page)
    # The dashboard's process listens on its one port: the terminal has none of its own.
    assert listening_ports(server_pid(port)) == {port}


def test_plain_ws_and_a_foreign_origin_are_refused(behind_nginx):
    public, _ = behind_nginx
    host = public.split("/")[2]
    channel = f"{host}/{PREFIX}/{terminals.PATH}?token=t"
    # ws:// to the TLS port: nginx answers 400 before anything reaches the dashboard.
    with pytest.raises(InvalidStatus) as plain:
        connect(f"ws://{channel}", origin=f"https://{host}", open_timeout=10)
    assert plain.value.response.status_code == 400
    assert b"plain HTTP request was sent to HTTPS port" in plain.value.response.body
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE  # the test's own certificate
    # Another site's page: HTTP 403, no WebSocket.
    with pytest.raises(InvalidStatus) as foreign:
        connect(f"wss://{channel}", origin="https://evil.example", ssl=unverified)
    assert foreign.value.response.status_code == 403
    assert b"is not the dashboard's" in foreign.value.response.body
    # The dashboard's own origin with a token it never issued: refused in-band, through nginx.
    with (
        connect(
            f"wss://{channel}",
            origin=f"https://{host}",
            ssl=unverified,
            subprotocols=[terminals.SUBPROTOCOL],
        ) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(10)
    assert closed.value.rcvd.code == terminals.REFUSED
    assert closed.value.rcvd.reason == "Terminal refused: unknown token."


def test_a_proxy_that_does_not_pass_the_terminal_is_told_as_no_connection(
    page, behind_nginx, containers
):
    """A second nginx in front of the same dashboard passes the page's own WebSocket but not the
    terminal's (a set-up mistake): the page works, and the terminal says it could not connect,
    not that its token was refused."""
    _, port = behind_nginx
    ours, _ = containers
    with nginx_proxy.proxy(port, PREFIX, terminal_upgrade=False) as public:
        open_url(page, public + "lesson1")
        choose(page, ours)
        button(page, f"{KEY}-button").click()
        wait_idle(page)
        frame = terminal_frame(page)
        bar = frame.locator("#bar")
        expect(bar).to_have_attribute("data-kind", "unreachable", timeout=PAGE_MS)
        host = public.split("/")[2]
        expect(bar).to_have_text(
            f"Could not connect to the dashboard's terminal channel "
            f"(wss://{host}/{PREFIX}/{terminals.PATH}): the dashboard is not running, or a "
            "proxy in front of it does not pass WebSocket connections. Open a new terminal "
            "once the page works again."
        )
