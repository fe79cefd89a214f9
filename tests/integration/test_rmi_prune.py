"""`docker rmi`, then a rebuild (the lecture: "our layers are not deleted at all, they stay in the
cache"), and what a prune would remove, on the real daemon of every engine.

BuildKit keeps every step in its build cache after `docker rmi`, so the rebuild takes them all
from there. The classic builder's cache is the intermediate images: `docker rmi` deletes those
only the removed image used (its `Deleted:` lines), so those steps run again.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from pathlib import Path

import docker
import pytest

from dashboard.engine.base import labels
from dashboard.engine.catalog import labs
from dashboard.engine.ops import builds, prune

pytestmark = [pytest.mark.docker, pytest.mark.engines]


@pytest.fixture
def unique_lab(tmp_path: Path, session_id, docker_client):
    """labs/iris plus one step of its own, so its image and last layer are this test's alone."""
    uid = f"{session_id}-rmi-{uuid.uuid4().hex[:6]}"
    folder = tmp_path / "iris"
    shutil.copytree(labs.LABS["iris"].path, folder)
    with (folder / "Dockerfile").open("a") as f:
        f.write(f"RUN echo {uid} > /stamp\n")
    tag = f"test-rmi-{uid}:1"
    yield folder, tag
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(tag)


def test_a_rebuild_after_rmi_comes_from_the_cache_where_buildkit_builds(
    docker_client, unique_lab, expected_builder
):
    folder, tag = unique_lab
    first = builds.build(docker_client, folder, tag=tag, lab_name="test-rmi")
    assert first.ok, first.error
    image_id = docker_client.images.get(tag).id

    removed = prune.remove_tag(docker_client, tag)
    assert removed.cli == f"docker rmi {tag}" and removed.untagged == (tag,)
    assert image_id in removed.deleted
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(tag)

    again = builds.build(docker_client, folder, tag=tag, lab_name="test-rmi")
    assert again.ok, again.error
    stamp = again.real_steps[-1]
    assert stamp.instruction.startswith("RUN echo")
    if expected_builder == "buildkit":
        cacheable = [s for s in again.real_steps if s.keyword != "FROM"]
        assert all(s.status == "cached" for s in cacheable), [
            (s.instruction, s.status) for s in cacheable
        ]
        # the step only this test has ran on the first build; after rmi it came from the cache
        assert first.real_steps[-1].status == "executed"
    else:  # the intermediate image of our own step was deleted with the image: it ran again
        assert stamp.status == "executed"
        assert len(removed.deleted) >= 2  # the image and at least that intermediate image


def test_rmi_refuses_an_image_a_container_uses_and_says_the_fix(
    docker_client, unique_lab, session_id
):
    folder, tag = unique_lab
    assert builds.build(docker_client, folder, tag=tag, lab_name="test-rmi").ok
    name = f"test-rmi-user-{uuid.uuid4().hex[:6]}"
    user = docker_client.containers.create(tag, name=name, labels=labels.for_lab("test-rmi"))
    try:
        with pytest.raises(prune.RemoveRefused) as refused:
            prune.remove_tag(docker_client, tag)
        said = str(refused.value)
        assert f"container {name} still uses the image" in said
        assert f"Remove it first (`docker rm {name}`" in said
        assert docker_client.images.get(tag)  # still there
    finally:
        user.remove(force=True)
    assert prune.remove_tag(docker_client, tag).untagged == (tag,)


def test_rmi_refuses_an_image_the_dashboard_did_not_build(docker_client, tmp_path):
    (tmp_path / "f").write_text("not ours\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY f /f\n")
    tag = f"test-notours-{uuid.uuid4().hex[:6]}:1"
    docker_client.images.build(path=str(tmp_path), tag=tag, rm=True)
    try:
        with pytest.raises(prune.RemoveRefused, match="not built by the dashboard"):
            prune.remove_tag(docker_client, tag)
        assert docker_client.images.get(tag)
    finally:
        docker_client.images.remove(tag)


def test_the_prune_preview_lists_what_is_not_ours_and_removes_nothing(docker_client, tmp_path):
    """A stopped container and an image of someone else's: a prune would take them too."""
    (tmp_path / "f").write_text("someone else's\n")
    (tmp_path / "Dockerfile").write_text('FROM scratch\nCOPY f /f\nCMD ["/f"]\n')
    tag = f"test-notours-{uuid.uuid4().hex[:6]}:1"
    docker_client.images.build(path=str(tmp_path), tag=tag, rm=True)
    name = f"test-notours-{uuid.uuid4().hex[:6]}"
    stopped = docker_client.containers.create(tag, name=name)  # created: not running
    try:
        preview = prune.prune_preview(docker_client)
        theirs = {(d.kind, d.name) for d in preview.not_ours}
        assert ("container", name) in theirs
        # the image is used by a stopped container, which the prune removes first: it goes too
        assert ("image", tag) in theirs
        assert all(d.ours is None for d in preview.of_kind("cache"))
        assert len(preview.builder) == len(preview.of_kind("cache"))
        # a preview only: what a prune would take is all still there
        assert docker_client.containers.get(name).status == "created"
        assert docker_client.images.get(tag)
    finally:
        stopped.remove(force=True)
        docker_client.images.remove(tag)
