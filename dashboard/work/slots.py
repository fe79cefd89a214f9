"""A first-come, first-served queue for heavy jobs (builds) on a shared classroom server.

Thirty students pressing Build at once would start thirty builds on a two-core server: each
slower than one alone, all of them late. `SlotQueue(slots)` lets `slots` jobs run at a time; the
rest wait in arrival order and know their place, so the page can say "2nd in the queue" instead
of a progress bar that never moves. A waiting job that is cancelled leaves the queue.

No Streamlit here (tests/unit/test_slots.py); dashboard/ui/state.py wraps build targets with
`admit` of `server_queue()` in classroom mode: this `SlotQueue`, or in a hub's seat the
machine's own queue (engine/ops/node_queue.py), which every seat on that machine shares.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass

from dashboard import settings

POLL_SECONDS = 0.25  # how often a waiting job looks at its cancel flag
SLOTS_ENV = settings.BUILD_SLOTS


def default_slots() -> int:
    """DASHBOARD_BUILD_SLOTS, else one build per CPU: a lab build's pip install keeps about one
    core busy, so more at once only makes every build slower (bench/classroom.py measures it)."""
    return settings.build_slots() or max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class QueueEntry:
    ticket: Hashable
    position: int  # 0: running now; 1: next in line; ...


class SlotQueue:
    """At most `slots` holders at once; the others wait first come, first served."""

    def __init__(self, slots: int = 1):
        if slots < 1:
            raise ValueError(f"A queue needs at least one slot, not {slots}")
        self.slots = slots
        self._cond = threading.Condition()
        self._waiting: deque[Hashable] = deque()
        self._holding: list[Hashable] = []

    def _position(self, ticket: Hashable) -> int:
        return self._waiting.index(ticket) + 1

    def _admit_head(self) -> None:
        while self._waiting and len(self._holding) < self.slots:
            self._holding.append(self._waiting.popleft())
        self._cond.notify_all()

    @contextlib.contextmanager
    def admit(
        self,
        ticket: Hashable,
        *,
        cancel: threading.Event | None = None,
        on_wait: Callable[[int], None] | None = None,
    ) -> Iterator[bool]:
        """Wait for a slot, hold it for the body, give it back after.

        Yields True once admitted, or False when `cancel` was set while waiting (the body
        should then return at once). `on_wait(position)` is called whenever the place in
        line changes (1 = next), from the waiting thread.
        """
        with self._cond:
            self._waiting.append(ticket)
            self._admit_head()
            told = None
            while ticket not in self._holding:
                if cancel is not None and cancel.is_set():
                    self._waiting.remove(ticket)
                    self._admit_head()
                    break
                position = self._position(ticket)
                if position != told and on_wait is not None:
                    told = position
                    on_wait(position)
                self._cond.wait(POLL_SECONDS)
            admitted = ticket in self._holding
        try:
            yield admitted
        finally:
            if admitted:
                with self._cond:
                    self._holding.remove(ticket)
                    self._admit_head()

    def entries(self) -> list[QueueEntry]:
        """Who runs (position 0) and who waits (1, 2, ...), for the instructor's view."""
        with self._cond:
            running = [QueueEntry(t, 0) for t in self._holding]
            return running + [QueueEntry(t, i) for i, t in enumerate(self._waiting, 1)]

    def position(self, ticket: Hashable) -> int | None:
        """0 while running, 1.. while waiting, None when not in the queue."""
        with self._cond:
            if ticket in self._holding:
                return 0
            if ticket in self._waiting:
                return self._position(ticket)
            return None


def server_queue():
    """The build queue of this dashboard: its own `SlotQueue` (one process holds the class),
    or, in a classroom hub's seat, the queue of the machine's engine that every seat on that
    machine shares (engine/ops/node_queue.py): DASHBOARD_BUILD_SLOTS, else one per CPU of the
    machine."""
    student = settings.seat_student()
    if not student:
        return SlotQueue(default_slots())
    from dashboard.engine.base.connection import connect
    from dashboard.engine.ops import node_queue

    slots = settings.build_slots()
    if not slots:
        client = connect()
        try:
            slots = max(1, int(client.info().get("NCPU") or 1))
        finally:
            client.close()
    return node_queue.NodeQueue(connect, slots, student=student)
