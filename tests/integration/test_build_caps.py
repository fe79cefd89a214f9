"""A classroom's build cap on the real engine: with DASHBOARD_BUILD_CGROUP set, a student's
BuildKit steps run in a cgroup of their own below it (`docker buildx build --cgroup-parent`), and
the limits the machine's owner gave that cgroup hold: a step that needs more memory is killed,
and the page's sentence says why.

The owner's part (a cgroup with limits) is made by tests/cgroups.py as the classroom guide says,
and removed after; needs root.
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

import docker
import pytest

from dashboard import settings
from dashboard.engine.base import owner
from dashboard.engine.ops import builds
from dashboard.engine.ops.builds import BuildFinished
from tests import cgroups

pytestmark = pytest.mark.docker

MEMORY_MB = 128
CPU_QUOTA = 0.5  # CPUs


@pytest.fixture
def capped(monkeypatch):
    """DASHBOARD_BUILD_CGROUP naming a cgroup limited to MEMORY_MB and CPU_QUOTA."""
    reason = cgroups.unavailable_reason()
    if reason:
        pytest.fail(reason)
    with cgroups.capped(MEMORY_MB, CPU_QUOTA) as name:
        monkeypatch.setenv(settings.BUILD_CGROUP, f"/{name}")
        yield name


@pytest.fixture
def made(docker_client):
    refs: list[str] = []
    yield refs
    for ref in refs:
        with contextlib.suppress(docker.errors.APIError):
            docker_client.images.remove(ref, force=True)


def _build(client, folder: Path, text: str, tag: str):
    folder.mkdir(exist_ok=True)
    (folder / "Dockerfile").write_text(text)
    with owner.acting_for(owner.for_student("ada")):
        events = list(builds.stream_build(client, folder, tag=tag, nocache=True))
    assert isinstance(events[-1], BuildFinished)
    return events[-1].result


def test_a_students_steps_run_in_their_cgroup_and_its_memory_cap_holds(
    docker_client, expected_builder, capped, made, session_id, tmp_path
):
    if expected_builder != "buildkit":
        pytest.fail("the cap is BuildKit's --cgroup-parent: run this on Engine 26 with buildx")
    tag = f"{session_id}-caps:{uuid.uuid4().hex[:6]}"
    made.append(tag)
    where = _build(
        docker_client,
        tmp_path / "where",
        "FROM python:3.11-slim\nRUN cat /proc/self/cgroup\n",
        tag,
    )
    assert where.ok, where.error
    assert ["--cgroup-parent", f"/{capped}/ada"] == where.argv[
        where.argv.index("--cgroup-parent") : where.argv.index("--cgroup-parent") + 2
    ]
    said = [line for step in where.steps for line in step.output]
    memory_line = next(line for line in said if ":memory:" in line or line.startswith("0::"))
    assert f"/{capped}/ada/" in memory_line, said

    greedy = _build(
        docker_client,
        tmp_path / "greedy",
        "FROM python:3.11-slim\n"
        f"RUN python -c \"b = b'x' * ({MEMORY_MB * 3} << 20); print('held', len(b))\"\n",
        tag,
    )
    assert not greedy.ok
    assert "exit code: 137" in greedy.error, greedy.error
    assert f"your steps run in cgroup /{capped}/ada" in greedy.error
    assert not any("held" in line for step in greedy.steps for line in step.output)


def test_without_the_setting_the_same_greedy_step_builds(
    docker_client, expected_builder, made, session_id, tmp_path, monkeypatch
):
    """The other side: the kill above is the cap's, not the step's."""
    monkeypatch.delenv(settings.BUILD_CGROUP, raising=False)
    tag = f"{session_id}-nocap:{uuid.uuid4().hex[:6]}"
    made.append(tag)
    result = _build(
        docker_client,
        tmp_path / "greedy",
        "FROM python:3.11-slim\n"
        f"RUN python -c \"b = b'x' * ({MEMORY_MB * 3} << 20); print('held', len(b))\"\n",
        tag,
    )
    assert result.ok, result.error
    assert "--cgroup-parent" not in result.argv
