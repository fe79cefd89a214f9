"""The terminal channel's tokens and the checks a WebSocket handshake must pass.

A page asks for a `Grant`: a one-time random token bound to that browser session (its Streamlit
session id, the page's origin and Streamlit's XSRF cookie) and to what the terminal opens (the
engine's checked `docker exec`), valid for `TOKEN_TTL` seconds until it is used. The handshake
(dashboard/work/terminals.py) spends it, and is refused unless

- the Origin header is the page's own origin and Host is its host (a WebSocket is not covered by
  the same-origin rule: this is what stops another site's page from connecting; Host against
  DNS rebinding): otherwise the refusal is `foreign`, answered with HTTP 403 and no WebSocket;
- the token is known, unused and not expired (it is spent by the first handshake),
- Streamlit's XSRF check passes the same way it does for Streamlit's own WebSocket: the
  `_streamlit_xsrf` cookie must carry the token the page sends as its second subprotocol, and
  both must be the session's own. These come from the dashboard's own origin, and are answered
  in-band (close code `REFUSED`), so the page can say that its token was refused.

A refused handshake spends nothing: a forged attempt does not burn the page's token.
"""

from __future__ import annotations

import binascii
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Protocol
from urllib.parse import urlsplit

XSRF_COOKIE = "_streamlit_xsrf"
TOKEN_TTL = 60.0  # seconds a grant waits for its first (and only) use


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


@dataclass(frozen=True)
class Handshake:
    """What the browser sent with its upgrade request, as far as the checks need it."""

    token: str
    origin: str | None
    host: str | None
    cookie: str | None
    offered: tuple[str, ...]  # Sec-WebSocket-Protocol values


@dataclass(frozen=True)
class Refusal:
    """Why a handshake may not spend a grant; `foreign`: it did not come from the page's own
    origin and host (no WebSocket is opened for it at all)."""

    reason: str
    foreign: bool = False


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


class Registry:
    """Grants by token; lock-protected (pages issue them on script threads, the channel spends
    them on the server's event loop)."""

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

    def spend(self, shake: Handshake) -> Grant | Refusal:
        """The grant for this handshake, now spent; or why it is refused."""
        with self._lock:
            grant = self._grants.get(shake.token)
            if grant is None:
                return cross_site(shake.origin, shake.host) or Refusal("unknown token")
            problem = refusal(grant, shake, time.monotonic())
            if problem:
                return problem
            grant.state = "open"
            return grant


def cross_site(origin: str | None, host: str | None) -> Refusal | None:
    """A refusal when the Origin header is missing or names another host than Host does."""
    if not origin:
        return Refusal("no Origin header (not a browser page)", foreign=True)
    if _hostname(host) != urlsplit(origin).hostname:
        return Refusal(f"origin {origin!r} is not the dashboard's", foreign=True)
    return None


def refusal(grant: Grant, shake: Handshake, now: float) -> Refusal | None:
    """Why this handshake may not spend this grant (None when it may)."""
    if not shake.origin:
        return Refusal("no Origin header (not a browser page)", foreign=True)
    if shake.origin != grant.origin:
        return Refusal(f"origin {shake.origin!r} is not the dashboard's", foreign=True)
    if _hostname(shake.host) != urlsplit(grant.origin).hostname:
        return Refusal(f"host {shake.host!r} is not the dashboard's", foreign=True)
    if grant.state != "issued":
        return Refusal("token already used")
    if now > grant.expires:
        return Refusal("token expired")
    if grant.xsrf is not None:
        sent = decode_xsrf(shake.offered[1] if len(shake.offered) > 1 else None)
        cookie = decode_xsrf(_cookie(shake.cookie, XSRF_COOKIE))
        if not sent or not cookie or not hmac.compare_digest(sent, cookie):
            return Refusal("XSRF token missing or not the cookie's")
        if not hmac.compare_digest(cookie, grant.xsrf):
            return Refusal("XSRF token of another browser session")
    return None


def _hostname(host: str | None) -> str | None:
    """`127.0.0.1` of a Host header `127.0.0.1:8765` (`::1` of `[::1]:8765`)."""
    try:
        return urlsplit(f"//{host}").hostname if host else None
    except ValueError:
        return None
