"""The build queue of one machine, shared by every dashboard that builds on its engine.

In classroom server mode one process holds the queue (work/slots.py). On a classroom hub each
student has a dashboard of their own (a seat), and several seats on one lab machine build on
that machine's one engine: their queue has to live where they meet, in that engine. A place in
line is a *ticket*: a container that is created and never started, named
`dml-build-ticket-...`, labelled with the queue, the student and the seat that took it. The
engine orders the tickets (their creation times); the first `slots` of them build, the others
wait and know their place, and a build gives its ticket back (removes it) when it ends. A ticket
whose seat is gone (crashed, removed) is removed by whoever waits behind it, so a lost seat
never blocks the machine.

`NodeQueue` has `SlotQueue`'s interface (admit, position, entries, slots), so the pages wait
the same way in both modes. No Streamlit here.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass

import docker
import docker.errors

from dashboard.engine.base import labels
from dashboard.engine.offline import offline

QUEUE_LABEL = f"{labels.PREFIX}.build-queue"
SEAT_LABEL = f"{labels.PREFIX}.seat"  # the container id of the dashboard that took the ticket
TICKET_PREFIX = "dml-build-ticket-"
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class QueueEntry:
    ticket: Hashable  # the student's name: that is what one seat can tell of another's
    position: int  # 0: building now; 1: next in line; ...


@dataclass(frozen=True)
class _Ticket:
    id: str
    name: str
    created: str  # the engine's creation time (RFC 3339, nanoseconds): the order of arrival
    student: str
    seat: str


def this_seat() -> str:
    """The id by which this dashboard's tickets are known: its container's host name (the
    container id Docker gives it), else this machine's name."""
    return socket.gethostname()


class NodeQueue:
    """At most `slots` builds at once on the engine `client` talks to, first come first served
    across every dashboard that uses the same engine and `queue` name."""

    def __init__(
        self,
        client_factory: Callable[[], docker.DockerClient],
        slots: int = 1,
        *,
        queue: str = "builds",
        student: str = "",
        seat: str | None = None,
        image: str = offline.BASE_IMAGE,
    ):
        if slots < 1:
            raise ValueError(f"A queue needs at least one slot, not {slots}")
        self.slots, self.queue, self.student = slots, queue, student
        self.seat = seat or this_seat()
        self.image = image  # any image the engine has: a ticket is never started
        self._client_factory = client_factory
        self._mine: dict[Hashable, str] = {}  # ticket (job key) -> container id
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the engine's view

    def _tickets(self, client: docker.DockerClient) -> list[_Ticket]:
        found = client.api.containers(all=True, filters={"label": f"{QUEUE_LABEL}={self.queue}"})
        tickets = [
            _Ticket(
                c["Id"],
                c["Names"][0].lstrip("/") if c.get("Names") else c["Id"][:12],
                client.api.inspect_container(c["Id"])["Created"],
                c["Labels"].get(labels.STUDENT, ""),
                c["Labels"].get(SEAT_LABEL, ""),
            )
            for c in found
        ]
        return sorted(tickets, key=lambda t: (t.created, t.id))

    def _seat_alive(self, client: docker.DockerClient, seat: str) -> bool:
        if seat == self.seat:
            return True
        try:
            return client.api.inspect_container(seat)["State"]["Running"]
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError:
            return True  # not sure: keep the ticket

    def _drop_lost(self, client: docker.DockerClient, tickets: list[_Ticket]) -> list[_Ticket]:
        """Remove tickets whose seat is gone; the living ones, in order."""
        alive = []
        for ticket in tickets:
            if self._seat_alive(client, ticket.seat):
                alive.append(ticket)
            else:
                with contextlib.suppress(docker.errors.NotFound):
                    client.api.remove_container(ticket.id, force=True)
        return alive

    def _take(self, client: docker.DockerClient) -> str:
        name = f"{TICKET_PREFIX}{self.student or 'x'}-{uuid.uuid4().hex[:10]}"
        created = client.api.create_container(
            self.image,
            command=["true"],
            name=name,
            labels={
                QUEUE_LABEL: self.queue,
                labels.STUDENT: self.student,
                SEAT_LABEL: self.seat,
                labels.APP: "true",  # the dashboard's own: no clean-up button removes it
            },
            host_config=client.api.create_host_config(network_mode="none"),
        )
        return created["Id"]

    @staticmethod
    def _give_back(client: docker.DockerClient, ticket_id: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(ticket_id, force=True)

    # ------------------------------------------------------------------ SlotQueue's interface

    @contextlib.contextmanager
    def admit(
        self,
        ticket: Hashable,
        *,
        cancel: threading.Event | None = None,
        on_wait: Callable[[int], None] | None = None,
    ) -> Iterator[bool]:
        """Wait for one of the machine's build slots, hold it for the body, give it back.

        Yields True once admitted, False when `cancel` was set while waiting.
        """
        client = self._client_factory()
        mine = self._take(client)
        with self._lock:
            self._mine[ticket] = mine
        admitted, told = False, None
        try:
            while True:
                order = [t.id for t in self._drop_lost(client, self._tickets(client))]
                place = order.index(mine) if mine in order else len(order)
                if place < self.slots:
                    admitted = True
                    break
                if cancel is not None and cancel.is_set():
                    break
                position = place - self.slots + 1
                if position != told and on_wait is not None:
                    told = position
                    on_wait(position)
                time.sleep(POLL_SECONDS)
            yield admitted
        finally:
            with self._lock:
                self._mine.pop(ticket, None)
            try:
                self._give_back(client, mine)
            finally:
                client.close()

    def position(self, ticket: Hashable) -> int | None:
        """0 while building, 1.. while waiting, None when not in the queue."""
        with self._lock:
            mine = self._mine.get(ticket)
        if mine is None:
            return None
        client = self._client_factory()
        try:
            order = [t.id for t in self._tickets(client)]
        finally:
            client.close()
        if mine not in order:
            return None
        place = order.index(mine)
        return 0 if place < self.slots else place - self.slots + 1

    def entries(self) -> list[QueueEntry]:
        """Who builds (0) and who waits (1, 2, ...) on this machine, by student."""
        client = self._client_factory()
        try:
            tickets = self._tickets(client)
        finally:
            client.close()
        return [
            QueueEntry(t.student, 0 if i < self.slots else i - self.slots + 1)
            for i, t in enumerate(tickets)
        ]
