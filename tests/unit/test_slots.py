"""The classroom build queue (dashboard/work/slots.py) with real threads: first come, first served,
at most `slots` holders at a time, positions reported while waiting, cancel leaves the queue, and
the slot comes back after an exception.

Every step is sequenced with events (no sleeps); each wait has a generous timeout so a broken
queue fails the test instead of hanging it.
"""

from __future__ import annotations

import threading

import pytest

from dashboard.work.slots import QueueEntry, SlotQueue

WAIT = 5  # seconds; every wait below normally ends in milliseconds (cancel: one 0.25 s poll)


class Ticket:
    """One job in a thread: waits for a slot, records what it saw, holds until released."""

    def __init__(self, rig: Rig, name: str, cancel: threading.Event | None = None):
        self.rig = rig
        self.name = name
        self.cancel = cancel
        self.admitted = threading.Event()  # the body ran with a slot
        self.done = threading.Event()  # the `with` block was left
        self.release = threading.Event()  # lets the body finish
        self.result: bool | None = None  # what `admit` yielded
        self.positions: list[int] = []  # every on_wait report, in order
        self._told = threading.Condition()
        self.thread = threading.Thread(target=self._run, name=f"ticket-{name}", daemon=True)

    def _on_wait(self, position: int) -> None:
        with self._told:
            self.positions.append(position)
            self._told.notify_all()

    def _run(self) -> None:
        try:
            with self.rig.queue.admit(self.name, cancel=self.cancel, on_wait=self._on_wait) as ok:
                self.result = ok
                if ok:
                    self.rig.enter(self.name)
                    self.admitted.set()
                    self.release.wait(WAIT)
                    self.rig.leave()
        finally:
            self.done.set()

    def wait_position(self, position: int) -> None:
        """Block until on_wait reported `position` (fails after WAIT seconds)."""
        with self._told:
            seen = self._told.wait_for(lambda: position in self.positions, WAIT)
        assert seen, f"{self.name} never reported position {position}: {self.positions}"

    def wait_admitted(self) -> None:
        assert self.admitted.wait(WAIT), f"{self.name} was not admitted"

    def wait_done(self) -> None:
        assert self.done.wait(WAIT), f"{self.name} did not leave the queue"


class Rig:
    """A queue plus the bookkeeping to check it: admission order and the most holders at once."""

    def __init__(self, slots: int):
        self.queue = SlotQueue(slots)
        self._lock = threading.Lock()
        self.holding = 0
        self.most = 0
        self.order: list[str] = []
        self.tickets: list[Ticket] = []

    def enter(self, name: str) -> None:
        with self._lock:
            self.holding += 1
            self.most = max(self.most, self.holding)
            self.order.append(name)

    def leave(self) -> None:
        with self._lock:
            self.holding -= 1

    def start(self, name: str, cancel: threading.Event | None = None) -> Ticket:
        ticket = Ticket(self, name, cancel)
        self.tickets.append(ticket)
        ticket.thread.start()
        return ticket

    def finish(self) -> None:
        for ticket in self.tickets:
            ticket.release.set()
        for ticket in self.tickets:
            ticket.thread.join(WAIT)


@pytest.fixture
def rig_of():
    made: list[Rig] = []

    def make(slots: int) -> Rig:
        made.append(Rig(slots))
        return made[-1]

    yield make
    for rig in made:  # a failed assertion must not leave threads blocked on a release
        rig.finish()


def test_one_slot_admits_in_arrival_order_one_at_a_time(rig_of):
    rig = rig_of(1)
    a = rig.start("a")
    a.wait_admitted()
    b = rig.start("b")
    b.wait_position(1)  # b is in line before c arrives: arrival order is a, b, c
    c = rig.start("c")
    c.wait_position(2)

    assert rig.queue.entries() == [QueueEntry("a", 0), QueueEntry("b", 1), QueueEntry("c", 2)]
    assert rig.queue.position("a") == 0
    assert rig.queue.position("b") == 1
    assert rig.queue.position("c") == 2
    assert rig.queue.position("nobody") is None
    assert not b.admitted.is_set() and not c.admitted.is_set()

    a.release.set()
    b.wait_admitted()
    c.wait_position(1)
    assert rig.queue.entries() == [QueueEntry("b", 0), QueueEntry("c", 1)]
    assert rig.queue.position("a") is None  # done: no longer in the queue
    assert not c.admitted.is_set()

    b.release.set()
    c.wait_admitted()
    assert rig.queue.entries() == [QueueEntry("c", 0)]
    c.release.set()
    c.wait_done()

    assert rig.order == ["a", "b", "c"]
    assert rig.most == 1
    assert [a.result, b.result, c.result] == [True, True, True]
    assert a.positions == []  # admitted at once: never told a place in line
    assert b.positions == [1]
    assert c.positions == [2, 1]
    assert rig.queue.entries() == []


def test_two_slots_run_two_at_once_and_the_third_waits(rig_of):
    rig = rig_of(2)
    a = rig.start("a")
    b = rig.start("b")
    a.wait_admitted()
    b.wait_admitted()  # both hold a slot, neither released: two at once
    c = rig.start("c")
    c.wait_position(1)

    entries = rig.queue.entries()
    assert sorted(e.ticket for e in entries if e.position == 0) == ["a", "b"]
    assert [e for e in entries if e.position > 0] == [QueueEntry("c", 1)]
    assert not c.admitted.is_set()

    b.release.set()
    c.wait_admitted()
    assert sorted(e.ticket for e in rig.queue.entries()) == ["a", "c"]
    assert all(e.position == 0 for e in rig.queue.entries())

    a.release.set()
    c.release.set()
    for ticket in (a, b, c):
        ticket.wait_done()
    assert rig.most == 2
    assert rig.order[2] == "c"
    assert c.positions == [1]
    assert rig.queue.entries() == []


def test_a_job_cancelled_while_waiting_leaves_the_queue_without_a_slot(rig_of):
    rig = rig_of(1)
    a = rig.start("a")
    a.wait_admitted()
    cancel_b = threading.Event()
    b = rig.start("b", cancel=cancel_b)
    b.wait_position(1)
    c = rig.start("c")
    c.wait_position(2)

    cancel_b.set()
    b.wait_done()
    assert b.result is False
    assert not b.admitted.is_set()  # the body saw False and did no work
    c.wait_position(1)  # the one behind moved up
    assert rig.queue.position("b") is None
    assert rig.queue.entries() == [QueueEntry("a", 0), QueueEntry("c", 1)]
    assert not c.admitted.is_set()  # a still holds the only slot

    a.release.set()
    c.wait_admitted()
    assert rig.queue.entries() == [QueueEntry("c", 0)]
    c.release.set()
    c.wait_done()
    assert rig.order == ["a", "c"]
    assert c.positions == [2, 1]

    # Nothing leaked: the single slot is free again for a newcomer.
    d = rig.start("d")
    d.wait_admitted()
    assert d.positions == []
    d.release.set()
    d.wait_done()
    assert rig.most == 1
    assert rig.queue.entries() == []


def test_cancelling_the_only_waiter_keeps_the_holder_running(rig_of):
    rig = rig_of(1)
    a = rig.start("a")
    a.wait_admitted()
    cancel_b = threading.Event()
    b = rig.start("b", cancel=cancel_b)
    b.wait_position(1)
    cancel_b.set()
    b.wait_done()
    assert b.result is False
    assert rig.queue.entries() == [QueueEntry("a", 0)]
    assert not a.done.is_set()
    a.release.set()
    a.wait_done()
    assert rig.queue.entries() == []


def test_an_exception_in_the_body_gives_the_slot_back(rig_of):
    queue = SlotQueue(1)
    with pytest.raises(RuntimeError, match="build failed"), queue.admit("a") as ok:
        assert ok is True
        assert queue.position("a") == 0
        raise RuntimeError("build failed")
    assert queue.position("a") is None
    assert queue.entries() == []

    # And with someone waiting: the failure admits the next in line.
    rig = rig_of(1)
    holding = threading.Event()
    failed = threading.Event()
    go = threading.Event()

    def failing() -> None:
        try:
            with rig.queue.admit("x") as admitted:
                assert admitted
                holding.set()
                go.wait(WAIT)
                raise RuntimeError("build failed")
        except RuntimeError:
            failed.set()

    worker = threading.Thread(target=failing, daemon=True)
    worker.start()
    assert holding.wait(WAIT)
    b = rig.start("b")
    b.wait_position(1)
    go.set()
    assert failed.wait(WAIT)
    b.wait_admitted()
    assert rig.queue.entries() == [QueueEntry("b", 0)]
    worker.join(WAIT)


@pytest.mark.parametrize("slots", [0, -1])
def test_a_queue_needs_at_least_one_slot(slots):
    with pytest.raises(ValueError, match="at least one slot"):
        SlotQueue(slots)
