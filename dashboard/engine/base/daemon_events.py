"""The daemon's event stream (`docker events`) as a counter that moves when anything changes.

The pages cache what they read from the daemon (containers, images, disk use, the sidebar's
facts) so that a rerun makes no Docker call. Keyed by `DaemonWatch.key()`, such a cache is
fresh the moment something changes, whether the dashboard changed it or the student's own
`docker` in a terminal did, and is never asked again otherwise.

One background thread holds one `GET /events` stream per daemon; each event moves
`generation`, and so does regaining the stream (events may have been missed meanwhile). Losing
it does not: from then on `key()` moves every `unwatched_seconds`, counted from the loss, so the
caches ask again after that long, as they would with a plain time limit. (Renewing them at once
would swap a lesson for the "Docker is not reachable" page the moment the daemon dies, before
the job it killed could say which step it stopped at; the job's own failure says it first.)

A busy daemon (a classroom's builds, a compose project starting) sends events in bursts: `key()`
moves at once for the first event after a quiet spell, then at most once per `interval` while
events keep coming, so a burst costs each cache one read per interval, not one per event.
No Streamlit here.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0  # between attempts to (re)open the stream
UNWATCHED_SECONDS = 5.0  # how long a cached read lasts while the stream is down


class DaemonWatch:
    """`connect()` returns a docker client; `start()` begins watching in a daemon thread."""

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        retry_seconds: float = RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._connect = connect
        self._retry = retry_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._tried = threading.Event()  # the first attempt to open the stream is over
        self._stream = None
        self._thread: threading.Thread | None = None
        self.generation = 0  # moves on every event and on every change of `connected`
        self.epoch = 0  # moves only when the stream is lost or regained
        self.connected = False
        self.events = 0  # events seen (the tests wait on it)
        self._lost_at = clock()  # when the stream was last lost (or the watch made)
        self._shown: dict[float, tuple[int, float]] = {}  # interval -> (generation, when)

    def start(self) -> DaemonWatch:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="docker-events", daemon=True)
                self._thread.start()
        return self

    def key(
        self, interval: float = 0.0, unwatched_seconds: float = UNWATCHED_SECONDS
    ) -> tuple[int, int]:
        """A cache key part: (generation, 0) while watching, else (generation, time bucket).

        With `interval`, the generation shown moves at most once per `interval` seconds (the
        first change after a quiet spell at once; one that came since is seen `interval` after
        the last move, at the next call).
        """
        now = self._clock()
        with self._lock:
            generation, connected = self.generation, self.connected
            if interval > 0:
                if interval not in self._shown:  # the first call: no move to hold back from
                    self._shown[interval] = (generation, float("-inf"))
                shown, moved = self._shown[interval]
                if generation != shown and now - moved >= interval:
                    self._shown[interval] = (generation, now)
                    shown = generation
                generation = shown
        return generation, self._unwatched_bucket(connected, now, unwatched_seconds)

    def facts_key(self, unwatched_seconds: float = UNWATCHED_SECONDS) -> tuple[int, int]:
        """The same, moving only with the connection (for what events do not change)."""
        with self._lock:
            epoch, connected = self.epoch, self.connected
        return epoch, self._unwatched_bucket(connected, self._clock(), unwatched_seconds)

    def _unwatched_bucket(self, connected: bool, now: float, seconds: float) -> int:
        """0 while watching and for `seconds` after the stream was lost, then 1, 2, ..."""
        if connected:
            return 0
        return int(max(now - self._lost_at, 0.0) // seconds)

    def settle(self, timeout: float) -> bool:
        """Wait (at most `timeout` s) for the first attempt to open the stream; True if open.

        Called once after `start()`, so that the first cached read already counts as watched
        (else the stream opening a moment later would renew every cache at once).
        """
        self._tried.wait(timeout)
        return self.connected

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def _set_connected(self, connected: bool) -> None:
        with self._lock:
            if self.connected != connected:
                self.connected = connected
                self.epoch += 1
                if connected:
                    self.generation += 1
                else:
                    self._lost_at = self._clock()

    def _event(self) -> None:
        with self._lock:
            self.generation += 1
            self.events += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            client = None
            try:
                client = self._connect()
                self._stream = client.api.events(decode=True)
                # Opened: what changed before now is read fresh by the next cached read.
                self._set_connected(True)
                self._tried.set()
                for _ in self._stream:
                    self._event()
                    if self._stop.is_set():
                        break
            except Exception as exc:  # the daemon is down or went away: try again later
                log.debug("docker events: %s", exc)
            finally:
                stream, self._stream = self._stream, None
                for closing in (stream, client):
                    if closing is not None:
                        with contextlib.suppress(Exception):
                            closing.close()
                self._set_connected(False)
                self._tried.set()
            self._stop.wait(self._retry)
