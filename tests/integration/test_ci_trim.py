"""CI's trim (`./dev engines trim`) on a real daemon: on the host's daemon, which may hold the
student's own images, only the dangling images that carry the dashboard's labels go."""

from __future__ import annotations

import contextlib
import io
import tarfile

import docker
import pytest

from dashboard.engine.base import labels
from tests import engines

pytestmark = [pytest.mark.docker, pytest.mark.engines]


def _dangling_pair(client: docker.DockerClient, repo: str, image_labels: dict) -> str:
    """Two builds of one tag (one file each, from scratch): the first, untagged by the second,
    is left dangling, as every rebuild leaves one. Returns the dangling one's id."""
    ids = []
    for n in range(2):
        packed = io.BytesIO()
        with tarfile.open(fileobj=packed, mode="w") as tar:
            for name, body in (
                ("Dockerfile", b"FROM scratch\nCOPY hello.txt /\n"),
                ("hello.txt", f"{repo} {n}".encode()),
            ):
                member = tarfile.TarInfo(name)
                member.size = len(body)
                tar.addfile(member, io.BytesIO(body))
        packed.seek(0)
        image, _ = client.images.build(
            fileobj=packed, custom_context=True, tag=f"{repo}:1", labels=image_labels, rm=True
        )
        ids.append(image.id)
    assert ids[0] != ids[1]
    return ids[0]


def test_trim_on_the_hosts_daemon_takes_only_the_dashboards_dangling_images(
    docker_client, session_id
):
    ours = _dangling_pair(
        docker_client,
        f"{session_id}-trim-ours",
        {labels.MANAGED: "true", labels.SESSION: session_id},
    )
    theirs = _dangling_pair(docker_client, f"{session_id}-trim-theirs", {})
    try:
        said = engines.trim(engines.current(), only_ours=True)
        assert "image prune" in said and "builder prune" not in said
        with pytest.raises(docker.errors.ImageNotFound):
            docker_client.images.get(ours)
        docker_client.images.get(theirs)  # the student's dangling image stays
    finally:
        for image in (theirs, f"{session_id}-trim-theirs:1", f"{session_id}-trim-ours:1"):
            with contextlib.suppress(docker.errors.DockerException):
                docker_client.images.remove(image, force=True)
