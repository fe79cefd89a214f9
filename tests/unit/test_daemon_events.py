"""DaemonWatch's own logic, with a stand-in for the client's event stream (no daemon)."""

from __future__ import annotations

import threading
import time

from dashboard.engine.base.daemon_events import DaemonWatch


class FakeStream:
    """Yields what the test feeds it; ends (as a dropped connection does) when told."""

    def __init__(self):
        self.items: list = []
        self.more = threading.Condition()
        self.ended = False
        self.closed = False

    def feed(self, item) -> None:
        with self.more:
            self.items.append(item)
            self.more.notify_all()

    def end(self) -> None:
        with self.more:
            self.ended = True
            self.more.notify_all()

    def close(self) -> None:
        self.closed = True
        self.end()

    def __iter__(self):
        while True:
            with self.more:
                while not self.items and not self.ended:
                    self.more.wait(1)
                if self.items:
                    item = self.items.pop(0)
                else:
                    return
            if isinstance(item, Exception):
                raise item
            yield item


class FakeClient:
    def __init__(self, stream):
        self.api = self
        self._stream = stream
        self.closed = False

    def events(self, decode=True):
        return self._stream

    def close(self):
        self.closed = True


def until(predicate, timeout=5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_every_event_moves_the_key_and_nothing_else_does():
    stream = FakeStream()
    watch = DaemonWatch(lambda: FakeClient(stream), retry_seconds=0.05).start()
    try:
        assert watch.settle(2) is True
        first = watch.key()
        assert first[1] == 0  # watched: no time bucket
        time.sleep(0.1)
        assert watch.key() == first  # no event, no change
        stream.feed({"Type": "container", "Action": "create"})
        assert until(lambda: watch.events == 1)
        assert watch.key()[0] == first[0] + 1
        assert watch.facts_key() == (1, 0)  # the connection did not change
    finally:
        watch.stop()
    assert stream.closed


def test_a_dropped_stream_is_unwatched_until_it_is_back():
    streams = [FakeStream(), FakeStream()]
    made = []

    def connect():
        made.append(1)
        return FakeClient(streams[min(len(made), 2) - 1])

    now = [100.0]
    watch = DaemonWatch(connect, retry_seconds=0.3, clock=lambda: now[0]).start()
    try:
        assert watch.settle(2)
        epoch = watch.facts_key()[0]
        watched = watch.key()
        streams[0].feed(OSError("connection reset"))
        assert until(lambda: not watch.connected)
        # Losing the stream renews nothing at once (the job the daemon's death failed says so
        # first); from then on the key moves with the clock, as a time limit would.
        assert watch.key() == watched
        now[0] += 4.9
        assert watch.key() == watched
        now[0] += 0.2
        assert watch.key() == (watched[0], 1)
        now[0] += 5.0
        assert watch.key() == (watched[0], 2)
        assert until(lambda: watch.connected)  # reopened after retry_seconds
        assert watch.key() == (watched[0] + 1, 0)  # regained: events may have been missed
        assert watch.facts_key()[0] == epoch + 2  # lost, then regained
        assert len(made) == 2
    finally:
        watch.stop()


def test_a_daemon_that_is_down_settles_at_once_unwatched():
    def refuse():
        raise ConnectionRefusedError("no daemon")

    now = [50.0]
    watch = DaemonWatch(refuse, retry_seconds=10, clock=lambda: now[0]).start()
    try:
        started = time.monotonic()
        assert watch.settle(2) is False
        assert time.monotonic() - started < 1.5
        first = watch.key(unwatched_seconds=20)
        now[0] += 20.0
        assert watch.key(unwatched_seconds=20) != first  # unwatched: a 20 s time limit
    finally:
        watch.stop()


def test_a_burst_of_events_moves_the_throttled_key_once_per_interval():
    stream = FakeStream()
    now = [1000.0]
    watch = DaemonWatch(lambda: FakeClient(stream), clock=lambda: now[0]).start()
    try:
        assert watch.settle(2)
        start = watch.key(2.0)
        stream.feed({"Action": "create"})
        assert until(lambda: watch.events == 1)
        first = watch.key(2.0)
        assert first != start  # the first event after a quiet spell: at once
        for _ in range(5):
            stream.feed({"Action": "start"})
        assert until(lambda: watch.events == 6)
        now[0] += 1.0
        assert watch.key(2.0) == first  # held back: within the interval of the last move
        assert watch.key() != first  # the unthrottled key has moved
        now[0] += 1.0
        assert watch.key(2.0)[0] == watch.key()[0]  # the interval is over: all seen
    finally:
        watch.stop()
