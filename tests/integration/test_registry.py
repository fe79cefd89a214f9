"""The registry lesson end to end on the real daemon: a local registry, push, rmi, pull, run.

On every engine of the matrix: the registry starts (registry:2 cannot be pulled here, so from
Debian's docker-registry package), iris-model:1.0 and then iris-model:2.0 are pushed, and the
layers the two share say "Layer already exists" on the second push. What a push prints per
layer differs by image store: a graph-driver daemon (overlay2) names each layer by its diff id
(uncompressed) and compresses at push time, the containerd image store by the compressed
blob's digest; the shared layers are found either way. Then `docker rmi` of the registry's tag,
`docker pull` back and a run that predicts setosa.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import urllib.request
import uuid

import docker
import pytest

from dashboard.engine.base import labels
from dashboard.engine.offline import offline
from dashboard.engine.ops import cleanup, registry, runs
from dashboard.engine.progress import checks
from tests import engines
from tests.lab_images import iris_image, lab_image, untag_pushed

pytestmark = [pytest.mark.docker, pytest.mark.engines]


@pytest.fixture
def local_registry(docker_client):
    """The registry, up; removed again (with its volume) when this test started it."""
    before = registry.state(docker_client)
    up = registry.up(docker_client)
    yield up
    if not before.exists:
        registry.down(docker_client, volume=not before.volume)
        untag_pushed(docker_client)


def _shared_layers(client, first: str, second: str) -> list[int]:
    """Indexes of the RootFS layers both images have, from the base up."""
    a = client.api.inspect_image(first)["RootFS"]["Layers"]
    b = client.api.inspect_image(second)["RootFS"]["Layers"]
    shared = []
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            break
        shared.append(i)
    return shared


def test_registry_lesson_end_to_end(docker_client, local_registry):
    client = docker_client
    iris, multi = iris_image(client), lab_image(client, "iris-multistage")
    assert local_registry.state.running
    assert local_registry.image.name in (registry.UPSTREAM_IMAGE, registry.LOCAL_IMAGE)
    if local_registry.image.source == "debian":
        assert "docker pull registry:2" in local_registry.image.note
    inspect = client.api.inspect_container(registry.CONTAINER)
    assert inspect["HostConfig"]["PortBindings"]["5000/tcp"] == [
        {"HostIp": "127.0.0.1", "HostPort": "5000"}
    ]
    assert inspect["HostConfig"]["RestartPolicy"]["Name"] in ("no", "")
    assert inspect["Config"]["Labels"]["io.dockerml.dashboard.managed"] == "true"
    assert any(m.get("Name") == registry.VOLUME for m in inspect["Mounts"])
    ours = cleanup.list_ours(client, lab=registry.LAB)  # what the clean-up buttons see
    assert registry.CONTAINER in {c.name for c in ours.containers}
    assert registry.VOLUME in {v.name for v in ours.volumes}

    first = registry.push(client, iris)
    assert first.ok, first.error
    assert first.digest.startswith("sha256:")
    # the containerd image store also lists the config and attestation blobs ("Already exists")
    done = {"Pushed", registry.ALREADY_EXISTS, "Already exists"}

    def statuses(transfer) -> set[str]:
        # A blob the registry holds under another repository (a student's, pushed earlier) is
        # mounted from there: "Mounted from NAME" is a push that needed no upload either.
        return {
            "Mounted from" if x.status.startswith("Mounted from") else x.status
            for x in transfer.layers
        } - {"Mounted from"}

    assert statuses(first) <= done

    second = registry.push(client, multi)
    assert second.ok, second.error
    shared = _shared_layers(client, iris, multi)
    assert shared, "iris-model:1.0 and iris-model:2.0 should share their base layers"
    manifest2 = registry.manifest(client, "iris-model", "2.0")
    rootfs2 = client.api.inspect_image(multi)["RootFS"]["Layers"]
    already = {x.id for x in second.already_existed}
    for i in shared:
        # overlay2 prints the diff id's short form, the containerd image store the blob's
        names = {rootfs2[i][7:19], manifest2.layers[i].digest[7:19]}
        assert names & already, (i, names, [(x.id, x.status) for x in second.layers])
    assert statuses(second) <= done

    found = registry.catalog(client)
    assert "iris-model" in found.repositories
    assert {"1.0", "2.0"} <= set(found.tags["iris-model"])

    cmp = registry.compare(client, iris)
    assert len(cmp.manifest.layers) == cmp.history_layers == cmp.rootfs_layers
    assert cmp.counts_agree
    assert all(r.digest.startswith("sha256:") and r.diff_id.startswith("sha256:") for r in cmp.rows)
    assert any(d.startswith(f"{registry.ADDRESS}/iris-model@sha256:") for d in cmp.repo_digests)

    untagged = registry.remove_local(client, iris)
    assert untagged.removed
    with pytest.raises(docker.errors.ImageNotFound):
        client.api.inspect_image(untagged.ref)
    client.api.inspect_image(iris)  # the lab's own name stays

    pulled = registry.pull(client, iris)
    assert pulled.ok, pulled.error
    assert pulled.digest == first.digest
    client.api.inspect_image(pulled.ref)

    run = runs.run_container(client, pulled.ref, lab=registry.PULLED_LAB)
    try:
        assert run.ok, run.message
        assert any("Predicted class: setosa" in line for line in run.lines)
        results = {r.id: r for r in checks.evaluate(client, None, "registry")}
        assert results["registry-pushed"].true_now, results["registry-pushed"].detail
        assert results["registry-pulled-run"].true_now, results["registry-pulled-run"].detail
    finally:
        with contextlib.suppress(docker.errors.APIError):
            client.api.remove_container(run.container_id, force=True)


def test_the_registry_answers_on_the_daemons_loopback(docker_client, local_registry):
    """From the daemon's 127.0.0.1:5000, as `curl` would ask it (through the engine's own
    network namespace on the matrix)."""
    with engines.loopback_port(engines.current(), registry.PORT) as port:
        url = f"http://127.0.0.1:{port}/v2/_catalog"
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert "repositories" in json.loads(answer.read())


def test_cli_registry_up_push_and_down(docker_client, local_registry):
    iris_image(docker_client)
    done = subprocess.run(
        [sys.executable, "-m", "dashboard", "--json", "registry", "push", "iris"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    result = records[-1]
    assert result["type"] == "result" and result["ok"] and result["digest"].startswith("sha256:")
    assert result["ref"] == f"{registry.ADDRESS}/iris-model:1.0"
    layers = [r for r in records if r["type"] == "layer"]
    assert len(layers) == result["layers"] >= 1
    # everything was pushed before by the fixture's registry or an earlier push in this test
    up = subprocess.run(
        [sys.executable, "-m", "dashboard", "--json", "registry", "up"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    said = [json.loads(line) for line in up.stdout.splitlines() if line.startswith("{")]
    assert said[-1]["type"] == "registry" and said[-1]["running"] and not said[-1]["started"]


def test_a_pull_downloads_the_layers_this_machine_lacks(docker_client, local_registry):
    """`docker rmi` of both names of a throwaway image of ours, then the pull: its own layer is
    downloaded, the base's is not (it is here), and its name comes back."""
    client = docker_client
    marker = uuid.uuid4().hex
    image = f"test-registry-{marker[:8]}:1"
    dockerfile = f"FROM {offline.BASE_IMAGE}\nRUN echo {marker} > /marker\n"
    built = [
        chunk
        for chunk in client.api.build(
            fileobj=io.BytesIO(dockerfile.encode()),
            tag=image,
            labels={labels.MANAGED: "true", labels.LAB: "test"},
            rm=True,
            forcerm=True,
            decode=True,
        )
    ]
    assert not [c for c in built if "error" in c], built
    try:
        pushed = registry.push(client, image)
        assert pushed.ok, pushed.error
        untagged = registry.remove_local(client, image, also_source=True)
        assert untagged.removed and f"docker rmi {image}" in untagged.command
        with pytest.raises(docker.errors.ImageNotFound):
            client.api.inspect_image(image)
        pulled = registry.pull(client, image)
        assert pulled.ok, pulled.error
        assert pulled.downloaded, pulled.lines
        # the base image's layer was here: "Already exists" on overlay2, not named on containerd
        layers = len(client.api.inspect_image(pulled.ref)["RootFS"]["Layers"])
        assert len(pulled.downloaded) < layers, pulled.lines
        assert registry.restore_name(client, image) == f"docker tag {pulled.ref} {image}"
        said = client.containers.run(
            image, ["cat", "/marker"], remove=True, labels=labels.for_lab("test")
        )
        assert said.decode().strip() == marker
    finally:
        for ref in (image, registry.registry_ref(image)):
            with contextlib.suppress(docker.errors.APIError):
                client.api.remove_image(ref)
