"""Ownership on the real daemon: reset from the command line, a crashed dashboard's leftovers,
an image deleted from a terminal, a container name someone else holds.

Every object here carries a name with this module's id and, when it is "ours", a session of its
own, so a reset or clean-up in these tests can only reach what the test made.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from pathlib import Path

import docker
import pytest

from dashboard.engine.analysis import images, layerfiles
from dashboard.engine.base import labels
from dashboard.engine.ops import cleanup, runs

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
BASE = "python:3.11-slim"
# Stops at once on SIGTERM (sleep as PID 1 would ignore it and make every stop wait its grace).
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; echo ready; sleep 600 & wait"]


@pytest.fixture
def uid(session_id) -> str:
    return f"{session_id}-own-{uuid.uuid4().hex[:6]}"


class Made:
    """Whatever a test created, removed at the end (force only here, on our own test objects)."""

    def __init__(self, client):
        self.client = client
        self.containers: list[str] = []
        self.volumes: list[str] = []
        self.networks: list[str] = []
        self.images: list[str] = []

    def image(self, tag: str, dockerfile: str, labels_=None):
        image, _ = self.client.images.build(
            fileobj=io.BytesIO(dockerfile.encode()), tag=tag, labels=labels_ or {}, rm=True
        )
        self.images.insert(0, image.id)  # children first at the end
        return image

    def close(self):
        for c in self.containers:
            with suppress(docker.errors.NotFound):
                self.client.containers.get(c).remove(force=True)
        for n in self.networks:
            with suppress(docker.errors.NotFound):
                self.client.networks.get(n).remove()
        for v in self.volumes:
            with suppress(docker.errors.NotFound):
                self.client.volumes.get(v).remove(force=True)
        for i in self.images:
            with suppress(docker.errors.NotFound):
                self.client.images.remove(i, force=True)


@pytest.fixture
def made(docker_client):
    m = Made(docker_client)
    yield m
    m.close()


def cli(*args: str, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "dashboard", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def exists(getter, ident) -> bool:
    try:
        getter(ident)
    except docker.errors.NotFound:
        return False
    return True


def test_cli_reset_removes_ours_only_reports_in_use_and_can_run_twice(docker_client, made, uid):
    client = docker_client
    ours = labels.for_lab("safety", uid)
    # Not ours: a container, a volume, a network, an image built by hand, and an image built
    # FROM one of ours (it inherits every one of our labels, session included).
    theirs_net = client.networks.create(f"theirs-net-{uid}")
    made.networks.append(theirs_net.id)
    theirs_vol = client.volumes.create(f"theirs-vol-{uid}")
    made.volumes.append(theirs_vol.name)
    theirs_img = made.image(f"theirs-img-{uid}:1", f"FROM {BASE}\nRUN echo {uid} > /theirs\n")
    # Ours: a running container on our network with our volume, and an image.
    our_net = client.networks.create(f"ours-net-{uid}", labels=ours)
    made.networks.append(our_net.id)
    our_vol = client.volumes.create(f"ours-vol-{uid}", labels=ours)
    made.volumes.append(our_vol.name)
    our_img = made.image(f"ours-img-{uid}:1", f"FROM {BASE}\nRUN echo {uid} > /ours\n", ours)
    child = made.image(f"theirs-child-{uid}:1", f"FROM ours-img-{uid}:1\nRUN echo child > /c\n")
    assert child.labels[labels.SESSION] == uid  # inherited: the labels alone would say "ours"
    our_ctr = client.containers.run(
        BASE, SLEEPER, name=f"ours-ctr-{uid}", labels=ours, network=our_net.name, detach=True
    )
    made.containers.append(our_ctr.id)
    # Theirs uses our volume: a 409 on removal, which must be reported and never forced.
    theirs_ctr = client.containers.run(
        BASE,
        SLEEPER,
        name=f"theirs-ctr-{uid}",
        network=theirs_net.name,
        volumes={our_vol.name: {"bind": "/v"}, theirs_vol.name: {"bind": "/w"}},
        detach=True,
    )
    made.containers.append(theirs_ctr.id)

    found = cleanup.list_ours(client, session=uid)
    assert [i.id for i in found.images] == [our_img.id]  # not the child built on it

    first = cli("--json", "reset", "--session", uid)
    assert first.returncode == 1, first.stdout + first.stderr  # something was left in use
    recs = records(first.stdout)
    outcomes = {(r["kind"], r["name"]): r["outcome"] for r in recs if r["type"] == "removal"}
    assert outcomes == {
        ("container", f"ours-ctr-{uid}"): "removed",
        ("network", f"ours-net-{uid}"): "removed",
        ("volume", f"ours-vol-{uid}"): "in use",
        ("image", f"ours-img-{uid}:1"): "in use",  # the child image is built on it
    }
    (summary,) = [r for r in recs if r["type"] == "reset"]
    assert summary["ok"] is False and "2 in use (left alone)" in summary["summary"]
    human = cli("reset", "--session", uid).stdout
    assert "in use  volume ours-vol-" in human and "nothing was forced" in human

    # Nothing of theirs was touched, nothing of ours was forced.
    assert client.containers.get(theirs_ctr.id).status == "running"
    assert exists(client.volumes.get, our_vol.name)
    assert exists(client.volumes.get, theirs_vol.name)
    assert exists(client.networks.get, theirs_net.id)
    assert client.images.get(theirs_img.id).tags == [f"theirs-img-{uid}:1"]
    assert client.images.get(child.id).tags == [f"theirs-child-{uid}:1"]
    assert client.images.get(our_img.id).tags == [f"ours-img-{uid}:1"]  # not even untagged
    assert not exists(client.containers.get, our_ctr.id)
    assert not exists(client.networks.get, our_net.id)

    # Once the user frees them, a reset takes the rest; a further one has nothing to do.
    client.containers.get(theirs_ctr.id).remove(force=True)
    client.images.remove(child.id)
    second = cli("--json", "reset", "--session", uid)
    assert second.returncode == 0, second.stdout
    assert not exists(client.volumes.get, our_vol.name)
    assert not exists(client.images.get, our_img.id)
    third = cli("--json", "reset", "--session", uid)
    assert third.returncode == 0
    assert [r for r in records(third.stdout) if r["type"] == "removal"] == []
    assert exists(client.volumes.get, theirs_vol.name)
    assert client.images.get(theirs_img.id).tags == [f"theirs-img-{uid}:1"]


CRASHING_DASHBOARD = """
import sys
from dashboard.engine.base import connection
from dashboard.engine.ops import runs
client = connection.connect()
runs.run_container(client, sys.argv[1], lab="safety-crash", name=sys.argv[2],
                   command=sys.argv[3:], timeout=600,
                   on_line=lambda line: print(line.text, flush=True))
"""


def test_a_killed_dashboard_leaves_only_labelled_leftovers(docker_client, made, uid, session_id):
    client = docker_client
    crashed = f"crashed-{uid}"
    name = f"crash-{uid}"
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_DASHBOARD, BASE, name, *SLEEPER],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "DASHBOARD_SESSION": crashed, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGKILL)  # mid-run: no finally, no clean-up runs
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    left = client.containers.get(name)
    made.containers.append(left.id)
    # What the crash left carries our labels (and the capped log), so it can be found.
    assert left.status == "running"
    assert left.labels[labels.SESSION] == crashed and left.labels[labels.MANAGED] == "true"
    assert left.attrs["HostConfig"]["LogConfig"]["Config"] == {"max-size": "1m", "max-file": "2"}
    by_session = client.containers.list(all=True, filters=labels.filters(session=crashed))
    assert [c.id for c in by_session] == [left.id]

    # Beside it: one of the current session's and one that is not ours.
    current = runs.start_detached(client, BASE, lab="safety-crash", command=SLEEPER)
    made.containers.append(current.id)
    theirs = client.containers.create(BASE, ["true"], name=f"theirs-{uid}")
    made.containers.append(theirs.id)

    found = cleanup.leftovers(client, session_id)
    ids = {o.id for o in found.containers}
    assert left.id in ids
    assert current.id not in ids and theirs.id not in ids
    assert found.images == ()
    assert all(o.session and o.session != session_id for o in found.all)
    mine = found.only_session(crashed)
    assert [(o.name, o.status) for o in mine.containers] == [(name, "running")]

    started = time.monotonic()
    report = cleanup.remove_all(client, mine)
    assert report.ok and [(r.kind, r.outcome) for r in report.removals] == [
        ("container", "removed")
    ]
    assert time.monotonic() - started < 8
    assert not exists(client.containers.get, left.id)
    assert crashed not in cleanup.leftovers(client, session_id).sessions
    assert client.containers.get(current.id).status == "running"
    assert exists(client.containers.get, theirs.id)


def test_an_image_deleted_from_a_terminal_while_in_use(docker_client, made, uid):
    client = docker_client
    tag = f"safety-gone-{uid}:1"
    image = made.image(tag, f"FROM {BASE}\nRUN echo {uid} > /m\n", labels.for_image("safety"))
    assert images.image_layers(client, tag).id == image.id
    user = runs.start_detached(client, tag, lab="safety", command=SLEEPER)
    made.containers.append(user.id)

    # The student removes it in a terminal while the dashboard shows it (in use: -f untags).
    done = subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    with pytest.raises(images.ImageGone, match="is gone.*Build it again"):
        images.image_layers(client, tag)
    with pytest.raises(images.ImageGone, match="is gone"):
        layerfiles.image_files(client, tag)
    with pytest.raises(runs.RunFailed, match="no image .* build it again"):
        runs.run_container(client, tag, lab="safety", command="true")
    assert client.containers.get(user.id).status == "running"  # the running one is unharmed


def test_a_name_held_by_someone_else_is_never_taken(docker_client, made, uid):
    client = docker_client
    name = f"held-{uid}"
    # Made in a terminal from a lab-like image: it even inherits managed=true.
    theirs = client.containers.create(BASE, ["true"], name=name, labels={labels.MANAGED: "true"})
    made.containers.append(theirs.id)

    with pytest.raises(runs.NotOurs, match="leaves it alone"):
        runs.run_container(client, BASE, lab="safety", name=name, command="true")
    with pytest.raises(runs.NotOurs):
        runs.start_detached(client, BASE, lab="safety", name=name)
    with pytest.raises(runs.NotOurs):
        runs.remove_container(client, name, force=True)

    still = client.containers.get(name)
    assert (still.id, still.name, still.status) == (theirs.id, name, "created")
    assert client.containers.list(all=True, filters=labels.filters(lab="safety")) == []
