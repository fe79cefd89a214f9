"""Builds that fail, and builds that race, on the real daemon.

A failing step (or a Dockerfile Docker refuses) must leave the previous good image under its tag,
with the failing step and its last output in the result. Two sessions building the same thing at
once must both succeed and leave the tag in place.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from contextlib import suppress
from pathlib import Path

import docker
import pytest

from dashboard.engine.analysis import images
from dashboard.engine.base import labels
from dashboard.engine.catalog import labs
from dashboard.engine.ops import builds

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
BASE = "python:3.11-slim"


@pytest.fixture
def uid(session_id) -> str:
    return f"{session_id}-bld-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def remove_after(docker_client):
    """Image ids and tags a test built, removed at the end."""
    made: list[str] = []
    yield made
    for ref in reversed(made):
        with suppress(docker.errors.NotFound, docker.errors.APIError):
            docker_client.images.remove(ref)


@pytest.mark.engines
def test_a_failing_step_keeps_the_previous_image_under_its_tag(
    docker_client, tmp_path, uid, remove_after, expected_builder
):
    tag = f"safety-build-{uid}:1"
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo good-{uid} > /marker\n")
    good = builds.build(docker_client, tmp_path, tag=tag, lab_name="safety")
    assert good.ok, good.error
    remove_after.append(good.image_id)
    remove_after.append(tag)
    assert docker_client.images.get(tag).id == good.image_id

    # The student edits the Dockerfile: a RUN that prints, then exits non-zero.
    failing_run = "RUN echo first line && sleep 0.1 && echo the last words >&2 && exit 3"
    (tmp_path / "Dockerfile").write_text(
        f'FROM {BASE}\nRUN echo good-{uid} > /marker\n{failing_run}\nCMD ["true"]\n'
    )
    bad = builds.build(docker_client, tmp_path, tag=tag, lab_name="safety")
    assert not bad.ok and bad.image_id is None
    assert bad.failed_step is not None
    assert (bad.failed_step.index, bad.failed_step.instruction) == (3, failing_run)
    assert bad.failed_step.status == "failed"
    assert bad.failed_step.output[-2:] == ["first line", "the last words"]
    assert bad.builder == expected_builder
    if expected_builder == "buildkit":
        assert bad.error.endswith("did not complete successfully: exit code: 3"), bad.error
        assert len(bad.steps) == 3  # CMD is no BuildKit step
    else:
        assert "returned a non-zero code: 3" in bad.error
    assert bad.log_tail[-1] == "the last words"
    assert [s.status for s in bad.steps[:2]] == ["base", "cached"]
    assert docker_client.images.get(tag).id == good.image_id  # the tag did not move

    # A Dockerfile Docker cannot parse: refused before any step, the tag still in place.
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE}\nRUNN echo typo\n")
    refused = builds.build(docker_client, tmp_path, tag=tag, lab_name="safety")
    assert not refused.ok
    assert refused.error.startswith("Docker refused the build:")
    assert "unknown instruction" in refused.error.lower() and "RUNN" in refused.error.upper()
    assert refused.failed_step is None
    assert docker_client.images.get(tag).id == good.image_id


def test_two_sessions_building_the_same_thing_at_once(docker_client, tmp_path, uid, remove_after):
    tag = f"safety-race-{uid}:1"
    # Cold for both (a fresh nonce): both run the RUN step at the same time.
    (tmp_path / "Dockerfile").write_text(
        f"FROM {BASE}\nRUN echo {uid} > /nonce && sleep 1\nCOPY Dockerfile /\n"
    )
    results: dict[int, builds.BuildResult] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def session(n: int) -> None:
        try:
            start.wait()
            results[n] = builds.build(docker_client, tmp_path, tag=tag, lab_name="safety")
        except BaseException as exc:  # noqa: BLE001 - the test reports any escape
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    remove_after.extend(r.image_id for r in results.values() if r.image_id)
    remove_after.append(tag)
    assert errors == [] and sorted(results) == [0, 1]
    named = docker_client.images.get(tag).id
    assert named in {r.image_id for r in results.values()}
    for r in results.values():
        if r.ok:
            assert r.error is None
            # The containerd image store drops the index that lost the name: that build says so.
            if r.note:
                assert "took the name" in r.note and r.image_id == named, r.note
        else:
            # Or it refuses the second name outright (Engine 26, containerd image store): the
            # build fails in a sentence that says why and what to do, and the tag is intact.
            assert images.image_store(docker_client) == images.CONTAINERD, r.error
            assert r.error.startswith("Another build of the same tag finished"), r.error
            assert "already exists" in r.error
    assert any(r.ok for r in results.values())


def test_two_command_lines_building_a_lab_at_once(docker_client):
    lab = labs.get("iris")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dashboard", "--json", "build", "iris"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    finals = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert "Traceback" not in err
        (result,) = [r for r in map(json.loads, out.splitlines()) if r["type"] == "result"]
        if result["ok"]:
            assert proc.returncode == 0 and result["error"] is None, out + err
            finals.append(result["image_id"])
        else:  # the containerd image store refused the second name (see the test above)
            assert images.image_store(docker_client) == images.CONTAINERD, out + err
            assert result["error"].startswith("Another build of the same tag"), result["error"]
    assert finals
    image = docker_client.images.get(lab.image)  # the tag is there afterwards
    assert image.id in finals
    assert labels.is_ours(image.labels)
