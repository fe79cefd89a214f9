"""Lab images the tests read but do not change: used as they are, built once when missing."""

from __future__ import annotations

import contextlib

import docker

from dashboard.engine.catalog import labs
from dashboard.engine.ops import builds


def iris_image(client: docker.DockerClient) -> str:
    """iris-model:1.0 on the test run's daemon, built from labs/iris when it is not there."""
    return lab_image(client, "iris")


def lab_image(client: docker.DockerClient, name: str) -> str:
    """The image of lab `name` on the test run's daemon, built when it is not there."""
    lab = labs.get(name)
    try:
        client.api.inspect_image(lab.image)
    except docker.errors.ImageNotFound:
        result = builds.build_lab(client, lab)
        assert result.ok, f"building {lab.image} failed: {result.error}"
    return lab.image


def untag_pushed(client: docker.DockerClient) -> None:
    """Drop the `127.0.0.1:5000/...` names the registry tests gave the lab images (an untag:
    the images keep their own names)."""
    from dashboard.engine.ops import registry

    for name in ("iris", "iris-multistage"):
        with contextlib.suppress(docker.errors.APIError):
            client.api.remove_image(registry.registry_ref(labs.get(name).image))
