"""Ownership-scoped cleanup and disk use, on the real daemon.

Each test makes its own session id, so a reset here can only reach what the test made, even
while other tests of the same run (same DASHBOARD_SESSION) have objects of their own.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from contextlib import suppress
from pathlib import Path

import docker
import pytest

from dashboard.engine.analysis import diskuse, images
from dashboard.engine.base import labels
from dashboard.engine.offline import offline
from dashboard.engine.ops import cleanup

REC = Path(__file__).resolve().parents[1] / "recordings" / "diskuse"
BASE = offline.BASE_IMAGE


@pytest.fixture
def session(session_id) -> str:
    return f"{session_id}-cleanup-{uuid.uuid4().hex[:6]}"


class Made:
    """What a test created, removed at the end whatever happened."""

    def __init__(self, client):
        self.client = client
        self.containers: list = []
        self.volumes: list = []
        self.networks: list = []
        self.images: list[str] = []

    def container(self, name, labels_=None, **kwargs):
        c = self.client.containers.run(
            BASE,
            ["sleep", "300"],
            name=name,
            labels=labels_ or {},
            detach=True,
            init=True,  # sleep as PID 1 ignores SIGTERM; a stop would wait its full timeout
            **kwargs,
        )
        self.containers.append(c)
        return c

    def volume(self, name, labels_=None):
        v = self.client.volumes.create(name, labels=labels_ or {})
        self.volumes.append(v)
        return v

    def network(self, name, labels_=None):
        n = self.client.networks.create(name, labels=labels_ or {})
        self.networks.append(n)
        return n

    def image(self, tag, labels_, extra_tags=()):
        dockerfile = f"FROM {BASE}\nRUN echo made-by-a-test > /marker\n"
        image, _ = self.client.images.build(
            fileobj=io.BytesIO(dockerfile.encode()), tag=tag, labels=labels_, rm=True
        )
        for t in extra_tags:
            image.tag(t)
        self.images.append(image.id)
        return image

    def remove_all(self):
        for c in self.containers:
            with suppress(docker.errors.NotFound):
                c.remove(force=True)
        for n in self.networks:
            with suppress(docker.errors.NotFound):
                n.remove()
        for v in self.volumes:
            with suppress(docker.errors.NotFound):
                v.remove(force=True)
        for i in self.images:
            with suppress(docker.errors.NotFound):
                self.client.images.remove(i, force=True)


@pytest.fixture
def made(docker_client):
    m = Made(docker_client)
    yield m
    m.remove_all()


def exists(getter, ident) -> bool:
    try:
        getter(ident)
    except docker.errors.NotFound:
        return False
    return True


@pytest.mark.docker
def test_reset_removes_ours_only_and_can_run_twice(docker_client, made, session):
    client = docker_client
    uid = session.rsplit("-", 1)[1]
    ours = labels.for_lab("cleanup-test", session)
    theirs_net = made.network(f"theirs-net-{uid}")
    theirs_vol = made.volume(f"theirs-vol-{uid}")
    theirs_ctr = made.container(f"theirs-ctr-{uid}", network=theirs_net.name)

    our_net = made.network(f"ours-net-{uid}", ours)
    our_vol = made.volume(f"ours-vol-{uid}", ours)
    our_running = made.container(
        f"ours-ctr-{uid}", ours, network=our_net.name, volumes={our_vol.name: {"bind": "/v"}}
    )
    our_stopped = client.containers.create(BASE, ["true"], name=f"ours-old-{uid}", labels=ours)
    made.containers.append(our_stopped)
    our_image = made.image(f"cleanup-test:{uid}", ours, extra_tags=[f"cleanup-test:{uid}-b"])

    found = cleanup.list_ours(client, session=session)
    assert {c.id for c in found.containers} == {our_running.id, our_stopped.id}
    assert [v.name for v in found.volumes] == [our_vol.name]
    assert [n.id for n in found.networks] == [our_net.id]
    assert [i.id for i in found.images] == [our_image.id]
    assert set(found.images[0].tags) == {f"cleanup-test:{uid}", f"cleanup-test:{uid}-b"}
    assert all(o.session == session and o.lab == "cleanup-test" for o in found.all)

    report = cleanup.reset(client, session=session)
    assert report.ok, report.removals
    assert sorted((r.kind, r.outcome) for r in report.removals) == [
        ("container", "removed"),
        ("container", "removed"),
        ("image", "removed"),
        ("network", "removed"),
        ("volume", "removed"),
    ]
    assert not exists(client.containers.get, our_running.id)
    assert not exists(client.containers.get, our_stopped.id)
    assert not exists(client.volumes.get, our_vol.name)
    assert not exists(client.networks.get, our_net.id)
    assert not exists(client.images.get, our_image.id)
    # Theirs are untouched: still there, the container still running.
    assert client.containers.get(theirs_ctr.id).status == "running"
    assert exists(client.volumes.get, theirs_vol.name)
    assert exists(client.networks.get, theirs_net.id)
    assert exists(client.images.get, BASE)

    again = cleanup.reset(client, session=session)
    assert again.ok and again.removals == ()
    assert cleanup.list_ours(client, session=session).all == ()
    assert client.containers.get(theirs_ctr.id).status == "running"


@pytest.mark.docker
def test_in_use_is_reported_and_never_forced(docker_client, made, session):
    client = docker_client
    uid = session.rsplit("-", 1)[1]
    ours = labels.for_lab("cleanup-test", session)
    our_vol = made.volume(f"ours-busy-vol-{uid}", ours)
    our_net = made.network(f"ours-busy-net-{uid}", ours)
    our_image = made.image(f"cleanup-busy:{uid}", ours)
    # Someone else's container uses all three of ours.
    made.container(
        f"theirs-user-{uid}", volumes={our_vol.name: {"bind": "/v"}}, network=our_net.name
    )
    inherits = client.containers.create(our_image.id, ["true"], name=f"theirs-img-user-{uid}")
    made.containers.append(inherits)
    # It inherited our image's labels, session included, but we did not create it.
    assert inherits.labels[labels.SESSION] == session
    assert cleanup.list_ours(client, session=session).containers == ()

    report = cleanup.reset(client, session=session)
    outcomes = {r.kind: r for r in report.removals}
    assert set(outcomes) == {"volume", "network", "image"}
    assert all(r.outcome == "in use" for r in report.removals), report.removals
    assert "in use" in outcomes["volume"].detail
    assert not report.ok
    assert exists(client.volumes.get, our_vol.name)
    assert exists(client.networks.get, our_net.id)
    assert client.images.get(our_image.id).tags == [f"cleanup-busy:{uid}"]
    assert client.containers.get(inherits.id).status == "created"


@pytest.mark.docker
def test_already_gone_counts_as_done(docker_client, made, session):
    client = docker_client
    uid = session.rsplit("-", 1)[1]
    ours = labels.for_lab("cleanup-test", session)
    made.volume(f"ours-gone-vol-{uid}", ours)
    made.container(f"ours-gone-ctr-{uid}", ours)
    found = cleanup.list_ours(client, session=session)
    # Someone else removes them between our listing and our removal.
    client.containers.get(found.containers[0].id).remove(force=True)
    client.volumes.get(found.volumes[0].name).remove()

    container = cleanup.remove_container(client, found.containers[0])
    volume = cleanup.remove_volume(client, found.volumes[0])
    assert (container.outcome, volume.outcome) == ("gone", "gone")


@pytest.mark.docker
def test_the_base_image_is_left_out_unless_asked(docker_client):
    base = docker_client.images.get(BASE)
    listed = cleanup.list_ours(docker_client)
    assert base.id not in {i.id for i in listed.images}
    if (base.labels or {}).get(labels.STANDIN) == "true":
        with_base = cleanup.list_ours(docker_client, include_base=True)
        assert base.id in {i.id for i in with_base.images}


@pytest.mark.docker
def test_disk_use_is_consistent_and_counts_ours(docker_client, made, session):
    uid = session.rsplit("-", 1)[1]
    image = made.image(f"diskuse-test:{uid}", labels.for_lab("diskuse-test", session))
    usage = diskuse.disk_usage(docker_client)

    for row in usage.rows:
        assert row.count >= 0 and row.active >= 0 and row.active <= row.count
        assert 0 <= row.reclaimable_bytes <= row.size_bytes or row.size_bytes == 0
        if row.ours_count is not None:
            assert 0 <= row.ours_count <= row.count
            assert 0 <= row.ours_bytes <= row.size_bytes
    assert usage.images.ours_count > 0
    mine = [o for o in usage.ours if o.id == image.id]
    assert len(mine) == 1 and mine[0].name == f"diskuse-test:{uid}"
    # Its own layer holds a one-line file (a few bytes): its share excludes the base's layers.
    # On the containerd image store Docker counts the base's compressed blobs as every image's
    # own (SharedSize covers only the unpacked snapshots), so compare with the base's total.
    base_id = docker_client.images.get(BASE).id
    (base_row,) = [i for i in docker_client.df()["Images"] if i["Id"] == base_id]
    assert 0 < mine[0].size_bytes < base_row["Size"]
    if images.image_store(docker_client) == images.GRAPH_DRIVER:
        assert mine[0].size_bytes < 1_000_000
    assert usage.build_cache.ours_count is None
    assert usage.ours_bytes <= usage.total_bytes


# -- sums against the docker CLI, on a recording (no daemon needed) -------------------------

_UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}


def human(text: str) -> float:
    m = re.match(r"([\d.]+)\s*([kMGT]?B)", text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def test_disk_use_sums_like_docker_system_df():
    df = json.loads((REC / "df.json").read_text())
    cli = {row["Type"]: row for row in json.loads((REC / "system-df-cli.json").read_text())}
    usage = diskuse.summarize(df)
    for row in usage.rows:
        expected = cli[row.kind]
        assert row.count == int(expected["TotalCount"])
        assert row.active == int(expected["Active"])
        # The CLI rounds to 3-4 significant digits.
        assert row.size_bytes == pytest.approx(human(expected["Size"]), rel=0.01, abs=1)
        assert row.reclaimable_bytes == pytest.approx(
            human(expected["Reclaimable"]), rel=0.01, abs=1
        )
    # The recording was made with two labelled containers and two labelled volumes.
    assert usage.containers.ours_count == 2 and usage.volumes.ours_count == 2
    assert usage.volumes.ours_bytes == usage.volumes.size_bytes > 0


def test_our_share_of_images_is_never_more_than_the_disk_holds():
    """Engine 26's containerd image store: every lab image's "unique" size includes the base's
    compressed blobs (figures from `docker system df -v` there), so five of them sum to twice
    the disk's total; the share stays within it."""
    ours = labels.for_image("iris")
    base = {"Id": "sha256:b", "Size": 375602677, "SharedSize": 195223552, "Containers": 0}
    lab = {"Size": 746378575, "SharedSize": 195223552, "Containers": 0, "Labels": ours}
    images = [base] + [dict(lab, Id=f"sha256:{n}", RepoTags=[f"iris:{n}"]) for n in range(5)]
    usage = diskuse.summarize({"LayersSize": 1366892544, "Images": images})
    assert sum(o.size_bytes for o in usage.ours if o.kind == "image") > 2 * 1366892544
    assert usage.images.ours_bytes == usage.images.size_bytes == 1366892544
    assert usage.ours_bytes <= usage.total_bytes


def test_removal_errors_are_classified():
    import requests

    def err(status, text):
        response = requests.Response()
        response.status_code = status
        return docker.errors.APIError("x", response, text)

    assert cleanup.classify(err(404, "no such volume"))[0] == "gone"
    assert cleanup.classify(err(409, "removal of container x is already in progress"))[0] == "gone"
    assert cleanup.classify(err(409, "volume is in use - [abc]"))[0] == "in use"
    assert cleanup.classify(err(403, "network x has active endpoints"))[0] == "in use"
    assert cleanup.classify(err(500, "driver failed"))[0] == "failed"


def test_a_container_is_ours_only_with_a_session_it_did_not_inherit():
    ours = labels.for_lab("iris", "s1")
    lab_image = labels.for_image("iris")
    assert labels.container_is_ours(ours, lab_image)
    # `docker run iris-model:1.0` from a terminal: managed=true, inherited, and no session.
    assert not labels.container_is_ours(dict(lab_image), lab_image)
    assert not labels.container_is_ours(dict(ours), dict(ours))
    assert not labels.container_is_ours({}, {})
