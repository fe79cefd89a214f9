"""The registry lesson's parsers and sentences, on the stream shapes the daemons send.

The push stream of a graph-driver daemon (Engine 20.10 and 26 on overlay2) names layers by the
short diff id and says "Preparing", "Waiting", "Pushing" (repeated with progress), "Pushed" or
"Layer already exists", then "TAG: digest: sha256:... size: N" and an `aux` record. The
containerd image store names them by the short blob digest and skips "Preparing". A pull says
"Pulling from REPO" (with the tag as its id), then per layer, then "Digest:" and "Status:".
"""

from __future__ import annotations

import docker
import pytest

from dashboard.engine.base import validation
from dashboard.engine.ops import registry

D = "sha256:" + "ab" * 32

CLASSIC_PUSH = [
    {"status": "The push refers to repository [127.0.0.1:5000/iris-model]"},
    {"status": "Preparing", "progressDetail": {}, "id": "28e221b563ef"},
    {"status": "Preparing", "progressDetail": {}, "id": "063bf8de335d"},
    {"status": "Waiting", "progressDetail": {}, "id": "063bf8de335d"},
    {"status": "Pushing", "progressDetail": {"current": 512, "total": 653}, "id": "28e221b563ef"},
    {"status": "Pushing", "progressDetail": {"current": 653, "total": 653}, "id": "28e221b563ef"},
    {"status": "Pushed", "progressDetail": {}, "id": "28e221b563ef"},
    {"status": "Layer already exists", "progressDetail": {}, "id": "063bf8de335d"},
    {"status": f"2.0: digest: {D} size: 1366"},
    {"progressDetail": {}, "aux": {"Tag": "2.0", "Digest": D, "Size": 1366}},
]

CONTAINERD_PUSH = [
    {"status": "The push refers to repository [127.0.0.1:5000/iris-model]"},
    {"status": "Layer already exists", "progressDetail": {}, "id": "063bf8de335d"},
    {"status": "Waiting", "progressDetail": {}, "id": "81a988c12bec"},
    {"status": "Pushing", "progressDetail": {"current": 1, "total": 9}, "id": "81a988c12bec"},
    {"status": "Pushed", "progressDetail": {}, "id": "81a988c12bec"},
    {"status": f"2.0: digest: {D} size: 856"},
    {"progressDetail": {}, "aux": {"Tag": "2.0", "Digest": D, "Size": 856}},
]

PULL = [
    {"status": "Pulling from iris-model", "id": "1.0"},
    {"status": "Already exists", "progressDetail": {}, "id": "063bf8de335d"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "6fc048716cf1"},
    {"status": "Downloading", "progressDetail": {"current": 1}, "id": "6fc048716cf1"},
    {"status": "Downloading", "progressDetail": {"current": 2}, "id": "6fc048716cf1"},
    {"status": "Pull complete", "progressDetail": {}, "id": "6fc048716cf1"},
    {"status": f"Digest: {D}"},
    {"status": "Status: Downloaded newer image for 127.0.0.1:5000/iris-model:1.0"},
]


def test_a_classic_push_gives_each_layer_its_steps_and_the_digest():
    lines: list[str] = []
    layers, said, digest, error = registry._follow(
        "push", "127.0.0.1:5000/iris-model:2.0", CLASSIC_PUSH, lines.append
    )
    assert error is None and digest == D
    by_id = {x.id: x for x in layers}
    assert by_id["28e221b563ef"].seen == ("Preparing", "Pushing", "Pushed")  # one Pushing line
    assert by_id["063bf8de335d"].status == registry.ALREADY_EXISTS
    assert said == tuple(lines) and "28e221b563ef: Pushed" in said


def test_the_containerd_store_push_and_already_existed():
    layers, _, digest, _ = registry._follow(
        "push", "127.0.0.1:5000/iris-model:2.0", CONTAINERD_PUSH, lambda _: None
    )
    transfer = registry.Transfer("push", "r", "i", layers, digest, (), 1.0, "c")
    assert [x.id for x in transfer.already_existed] == ["063bf8de335d"]
    assert [x.id for x in transfer.with_status("Pushed")] == ["81a988c12bec"]


def test_a_pull_skips_the_tag_line_and_reads_the_digest():
    layers, said, digest, _ = registry._follow(
        "pull", "127.0.0.1:5000/iris-model:1.0", PULL, lambda _: None
    )
    assert digest == D
    assert [x.id for x in layers] == ["063bf8de335d", "6fc048716cf1"]
    transfer = registry.Transfer("pull", "r", "", layers, digest, said, 1.0, "c")
    assert [x.id for x in transfer.already_existed] == ["063bf8de335d"]
    assert said.count("6fc048716cf1: Downloading") == 1
    assert [x.id for x in transfer.downloaded] == ["6fc048716cf1"]


def test_a_containerd_pull_says_download_complete():
    chunks = [
        {"status": "Pulling from iris-model", "id": "1.0"},
        {"status": "Pulling fs layer", "id": "32158fc77f1e"},
        {"status": "Download complete", "id": "32158fc77f1e"},
        {"status": f"Digest: {D}"},
    ]
    layers, said, digest, _ = registry._follow(
        "pull", "127.0.0.1:5000/iris-model:1.0", chunks, lambda _: None
    )
    transfer = registry.Transfer("pull", "r", "", layers, digest, said, 1.0, "c")
    assert [x.id for x in transfer.downloaded] == ["32158fc77f1e"] and not transfer.already_existed


def test_an_error_in_the_stream_is_the_result():
    chunks = [{"error": "unknown blob", "errorDetail": {"message": "unknown blob"}}]
    *_, error = registry._follow("push", "127.0.0.1:5000/x:1", chunks, lambda _: None)
    assert error == "unknown blob"


def test_names_in_the_registry():
    assert registry.registry_ref("iris-model:1.0") == "127.0.0.1:5000/iris-model:1.0"
    assert registry.registry_ref("alice/iris-model:1.0") == "127.0.0.1:5000/alice/iris-model:1.0"
    assert registry.repository_of("127.0.0.1:5000/alice/iris-model:1.0") == "alice/iris-model"
    with pytest.raises(validation.InvalidInput):
        registry.registry_ref("BAD IMAGE!!")
    assert registry.push_command("iris-model:1.0") == (
        "docker tag iris-model:1.0 127.0.0.1:5000/iris-model:1.0\n"
        "docker push 127.0.0.1:5000/iris-model:1.0"
    )
    assert "-p 127.0.0.1:5000:5000" in registry.run_command(registry.LOCAL_IMAGE)
    assert "Accept: application/vnd.docker" in registry.api_command("/v2/x/manifests/1.0")


def test_an_index_picks_this_platform_not_the_attestation(monkeypatch):
    monkeypatch.setattr(registry, "images_arch", lambda: "amd64")
    index = {
        "manifests": [
            {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
            {"digest": "sha256:img", "platform": {"os": "linux", "architecture": "amd64"}},
        ]
    }
    assert registry._pick(index)["digest"] == "sha256:img"


class _Refusing:
    def __init__(self, said: str):
        self.said = said
        self.removed = False

    def start(self):
        raise docker.errors.APIError("500", explanation=self.said)

    def remove(self, force=False):
        self.removed = True


@pytest.mark.parametrize(
    "said",
    [
        "driver failed programming external connectivity on endpoint dashboard-registry: Bind "
        "for 127.0.0.1:5000 failed: port is already allocated",
        "Error starting userland proxy: listen tcp4 127.0.0.1:5000: bind: address already in use",
    ],
)
def test_port_5000_taken_is_a_sentence_with_its_fix_and_no_container_stays(said):
    container = _Refusing(said)
    with pytest.raises(registry.RegistryError) as caught:
        registry._start(container)
    text = str(caught.value)
    assert text.startswith("Port 5000 on 127.0.0.1 is taken")
    assert "docker ps --filter publish=5000" in text and said in text
    assert container.removed


def test_the_context_holds_three_files_only(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_CACHE_DIR", str(tmp_path))
    import shutil
    import subprocess

    if shutil.which("dpkg-deb") is None:
        pytest.skip("no dpkg-deb")
    pkg = tmp_path / "pkg"
    (pkg / "usr/bin").mkdir(parents=True)
    (pkg / "DEBIAN").mkdir()
    (pkg / "usr/bin/docker-registry").write_text("#!/bin/sh\n")
    (pkg / "DEBIAN/control").write_text(
        "Package: docker-registry\nVersion: 2.8.2\nArchitecture: all\nMaintainer: t <t@t>\n"
        "Description: test\n"
    )
    deb = tmp_path / "docker-registry_2.8.2_all.deb"
    subprocess.run(["dpkg-deb", "-b", str(pkg), str(deb)], check=True, capture_output=True)
    context = registry.registry_context(deb)
    assert sorted(p.name for p in context.iterdir()) == [
        "Dockerfile",
        "config.yml",
        "docker-registry",
    ]
    assert "rootdirectory: /var/lib/registry" in (context / "config.yml").read_text()
    assert "addr: :5000" in (context / "config.yml").read_text()
