"""Issue 24, item 3: the Sizes page's session clean-up removes what its button says, and no more.

"Remove this session's containers" used to remove the session's volumes too (the registry's
`dashboard-registry-data`, which the registry page had said it kept), said only "Clean-up: 5
removed." and showed `docker rm -f` beside a text that said nothing is forced.
"""

from __future__ import annotations

import contextlib
import uuid

import docker
import pytest

from dashboard.engine.base import labels
from dashboard.engine.ops import registry, runs
from tests.app.helpers import assert_clean, open_page, wait_for

pytestmark = pytest.mark.docker

BASE = "python:3.11-slim"
SLEEPER = "sh -c 'trap \"exit 0\" TERM; sleep 600 & wait'"


@pytest.fixture
def uid(session_id) -> str:
    return f"{session_id}-clean-{uuid.uuid4().hex[:6]}".lower()


@pytest.fixture
def registry_volume(docker_client):
    """The registry's data volume, with this session's label as the registry page makes it;
    removed at the end only when this test made it."""
    try:
        docker_client.api.inspect_volume(registry.VOLUME)
        made = False
    except docker.errors.NotFound:
        docker_client.volumes.create(registry.VOLUME, labels=registry._labels())
        made = True
    yield registry.VOLUME
    if made:
        with contextlib.suppress(docker.errors.APIError):
            docker_client.api.remove_volume(registry.VOLUME)


@pytest.fixture
def made(docker_client):
    objects: dict[str, list[str]] = {"containers": [], "volumes": []}
    yield objects
    for ref in objects["containers"]:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(ref).remove(force=True)
    for name in objects["volumes"]:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.volumes.get(name).remove(force=True)


def _clean(at, button: str):
    at.button(key=button).click().run()
    return wait_for(
        at,
        lambda a: any("Clean-up:" in s.value for s in [*a.success, *a.warning]),
        timeout=120,
        what="the clean-up",
    )


def _volume_exists(client, name: str) -> bool:
    try:
        client.api.inspect_volume(name)
    except docker.errors.NotFound:
        return False
    return True


def test_the_containers_clean_up_removes_containers_only_and_lists_them(
    docker_client, app, made, uid, registry_volume
):
    container = runs.start_detached(
        docker_client, BASE, lab="cleanup-test", command=SLEEPER, name=f"ours-{uid}"
    )
    made["containers"].append(container.id)
    volume = docker_client.volumes.create(f"vol-{uid}", labels=labels.for_lab("cleanup-test"))
    made["volumes"].append(volume.name)

    at = open_page(app, "sizes.py")
    assert_clean(at)
    button = at.button(key="clean-session")
    assert "containers" in button.label and "volume" not in button.label, button.label
    shown = " ".join(c.value for c in at.code)
    assert "rm -f" not in shown  # nothing is forced, and the command says so
    assert "docker stop" in shown and "docker rm" in shown

    at = _clean(at, "clean-session")
    assert_clean(at)
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(container.id)
    # A containers clean-up leaves every volume: the session's and the registry's pushed images.
    assert _volume_exists(docker_client, volume.name)
    assert _volume_exists(docker_client, registry_volume)
    # The result names what it removed.
    said = " ".join(s.value for s in at.success)
    result = next(d.value for d in at.dataframe if "outcome" in d.value.columns)
    removed = result[result["outcome"] == "removed"]
    assert f"ours-{uid}" in list(removed["name"]), result
    assert set(removed["kind"]) == {"container"}, result
    assert f"ours-{uid}" in said, said


def test_the_volumes_clean_up_says_so_and_keeps_the_registrys_data(
    docker_client, app, made, uid, registry_volume
):
    volume = docker_client.volumes.create(f"vol-{uid}", labels=labels.for_lab("cleanup-test"))
    made["volumes"].append(volume.name)

    at = open_page(app, "sizes.py")
    at.checkbox(key="clean-session-volumes").check().run()
    assert_clean(at)
    label = at.button(key="clean-session").label
    assert "volumes" in label and "networks" in label, label
    shown = " ".join(c.value for c in at.code)
    assert "docker volume rm" in shown and registry_volume in shown  # the one it keeps

    at = _clean(at, "clean-session")
    assert_clean(at)
    assert not _volume_exists(docker_client, volume.name)
    assert _volume_exists(docker_client, registry_volume)
    result = next(d.value for d in at.dataframe if "outcome" in d.value.columns)
    assert f"vol-{uid}" in list(result[result["kind"] == "volume"]["name"]), result
    assert registry_volume not in list(result["name"]), result
