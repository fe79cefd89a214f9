"""The Build Cache line of `docker system df` counts the lessons' builds, on every engine.

Where buildx answers, the dashboard builds with BuildKit and every executed step adds a record
to the daemon's build cache: the Sizes page's Build Cache line grows, and the record of our own
step is there by its description. The classic builder (the host's 20.10) keeps its cache as
images instead: the Images line gets our image, the Build Cache line gets nothing of ours.
After `docker rmi` BuildKit's records stay (the lecture: a rebuild after rmi is instant), and
only then count in the line's size: a record an image still uses is "shared", which the CLI
leaves out of the sum.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from pathlib import Path

import docker
import pytest

from dashboard.engine.analysis import diskuse
from dashboard.engine.catalog import labs
from dashboard.engine.ops import builds

pytestmark = [pytest.mark.docker, pytest.mark.engines]
STEP = "echo {uid} > /stamp && head -c 2m /dev/urandom > /blob"  # a 2 MB layer of its own
MB = 1 << 20


def test_a_lab_build_grows_the_build_cache_line_where_buildkit_builds(
    docker_client, tmp_path: Path, session_id, expected_builder
):
    uid = f"{session_id}-cache-{uuid.uuid4().hex[:6]}"
    folder = tmp_path / "iris"
    shutil.copytree(labs.LABS["iris"].path, folder)
    with (folder / "Dockerfile").open("a") as f:
        f.write(f"RUN {STEP.format(uid=uid)}\n")
    tag = f"test-cache-{uid}:1"
    before = docker_client.df()
    try:
        result = builds.build(docker_client, folder, tag=tag, lab_name="test-cache")
        assert result.ok, result.error
        assert result.builder == expected_builder
        after = docker_client.df()
        was, now = diskuse.summarize(before), diskuse.summarize(after)
        ours = [r for r in diskuse.cache_records(after) if uid in r.description]
        print(f"\n{expected_builder}: Build Cache {was.build_cache} -> {now.build_cache}")
        if expected_builder == "buildkit":
            assert now.build_cache.count > was.build_cache.count
            (stamp,) = ours
            assert stamp.description == f"mount / from exec /bin/sh -c {STEP.format(uid=uid)}"
            assert stamp.kind == "regular" and stamp.size_bytes >= 2 * MB
            assert stamp.id not in {r["ID"] for r in before.get("BuildCache") or []}
            # `docker rmi`: the record stays in the build cache, now counted in its size (a
            # record an image still uses is "shared" and not counted, as the CLI sums it) ...
            docker_client.images.remove(tag)
            gone = diskuse.summarize(docker_client.df())
            kept = [r for r in diskuse.cache_records(docker_client.df()) if r.id == stamp.id]
            print(f"after rmi: {gone.build_cache}, {kept}")
            assert kept and not kept[0].shared
            assert gone.build_cache.size_bytes >= was.build_cache.size_bytes + 2 * MB
            # ... so the rebuild is instant: every step from the cache, ours included.
            again = builds.build(docker_client, folder, tag=tag, lab_name="test-cache")
            assert again.ok and again.steps_cached == again.steps_total, again.real_steps
        else:
            assert ours == []  # the classic builder's cache is images, not Build Cache records
            assert now.images.ours_count > was.images.ours_count
            assert result.image_id in {o.id for o in now.ours if o.kind == "image"}
    finally:
        with contextlib.suppress(docker.errors.APIError):
            docker_client.images.remove(tag, force=True)
