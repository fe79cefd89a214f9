"""The build queue of one machine on the real engine (dashboard/engine/ops/node_queue.py): two
seats on one engine (each a running container, as a hub's seat is) wait for each other's
builds in arrival order, a waiter is told its place, a cancelled waiter leaves the line, and a
seat that dies holding the slot does not block the machine.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid

import docker.errors
import pytest

from dashboard.engine.base.connection import connect
from dashboard.engine.offline import offline
from dashboard.engine.ops import node_queue


@pytest.fixture
def seats(docker_client):
    """Two running containers standing for two seats on this machine."""
    made = {}
    for name in ("ada", "bob"):
        made[name] = docker_client.containers.run(
            offline.BASE_IMAGE, ["sleep", "300"], detach=True, network_mode="none"
        )
    yield made
    for container in made.values():
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def _queue(seats, name: str, queue: str) -> node_queue.NodeQueue:
    return node_queue.NodeQueue(connect, 1, queue=queue, student=name, seat=seats[name].id)


def _tickets(docker_client, queue: str) -> list:
    return docker_client.containers.list(
        all=True, filters={"label": f"{node_queue.QUEUE_LABEL}={queue}"}
    )


def test_two_seats_take_turns_and_the_second_knows_its_place(docker_client, seats):
    line = f"test-{uuid.uuid4().hex[:8]}"
    ada, bob = _queue(seats, "ada", line), _queue(seats, "bob", line)
    ada_in, ada_done, bob_in = threading.Event(), threading.Event(), threading.Event()
    told: list[int] = []

    def ada_builds():
        with ada.admit("ada-build") as admitted:
            assert admitted
            ada_in.set()
            ada_done.wait(60)

    def bob_builds():
        with bob.admit("bob-build", on_wait=told.append) as admitted:
            assert admitted
            bob_in.set()

    first = threading.Thread(target=ada_builds)
    first.start()
    assert ada_in.wait(30)
    second = threading.Thread(target=bob_builds)
    second.start()
    for _ in range(30):
        if told:
            break
        time.sleep(0.5)
    assert told == [1] and not bob_in.is_set()
    assert bob.position("bob-build") == 1 and ada.position("ada-build") == 0
    assert [(e.ticket, e.position) for e in ada.entries()] == [("ada", 0), ("bob", 1)]
    ada_done.set()
    first.join(30)
    assert bob_in.wait(30)
    second.join(30)
    assert _tickets(docker_client, line) == []  # every ticket given back


def test_a_cancelled_waiter_leaves_and_a_dead_seats_slot_is_freed(docker_client, seats):
    line = f"test-{uuid.uuid4().hex[:8]}"
    ada, bob = _queue(seats, "ada", line), _queue(seats, "bob", line)
    holding = ada.admit("ada-build")
    assert holding.__enter__() is True
    try:
        cancel = threading.Event()
        cancel.set()
        with bob.admit("bob-build", cancel=cancel) as admitted:
            assert admitted is False
        assert [t.labels[node_queue.SEAT_LABEL] for t in _tickets(docker_client, line)] == [
            seats["ada"].id
        ]
        # Ada's seat dies while it builds: Bob's next try frees the machine.
        seats["ada"].remove(force=True)
        began = time.monotonic()
        with bob.admit("bob-build") as admitted:
            assert admitted and time.monotonic() - began < 10
            assert [t.labels[node_queue.SEAT_LABEL] for t in _tickets(docker_client, line)] == [
                seats["bob"].id
            ]
    finally:
        holding.__exit__(None, None, None)
    assert _tickets(docker_client, line) == []
