"""Image sizes per image store, on answers recorded from Engine 20.10 (overlay2) and Engine 26
with the containerd image store: what each number is, and that layers add up to the total."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from dashboard.engine.analysis import images
from dashboard.engine.ops import compose

RECORDINGS = Path(__file__).parents[1] / "recordings" / "images"


def _load(name: str):
    return json.loads((RECORDINGS / name).read_text())


def test_graph_driver_reports_one_number_that_the_layers_add_up_to():
    inspect, history = _load("iris-inspect.json"), _load("iris-history.json")
    size = images.size_from_api(images.GRAPH_DRIVER, inspect, history)
    assert size.layers_bytes == inspect["Size"] == sum(e["Size"] for e in history)
    assert size.disk_bytes == inspect["Size"] and size.content_bytes is None
    assert size.sentence() == f"{inspect['Size'] / 1e6:,.1f} MB unpacked layers"


def test_containerd_store_names_content_disk_and_unpacked_layers_apart():
    rec = _load("containerd-iris.json")
    store = images.CONTAINERD
    size = images.size_from_api(store, rec["inspect"], rec["history"], rec["listed"])
    # What Engine 26 said: inspect = compressed content, images = disk usage, history = unpacked.
    assert size.content_bytes == rec["inspect"]["Size"] == 263_546_439
    assert size.disk_bytes == rec["listed"]["Size"] == 746_365_679
    assert size.layers_bytes == sum(e["Size"] for e in rec["history"]) == 482_820_096
    assert size.content_bytes < size.layers_bytes < size.disk_bytes
    text = size.sentence()
    assert text.startswith("482.8 MB unpacked layers")
    assert "disk usage 746.4 MB" in text and "content size 263.5 MB (compressed)" in text


def test_a_report_on_containerd_adds_up_to_its_total():
    rec = _load("containerd-iris.json")
    size = images.size_from_api(images.CONTAINERD, rec["inspect"], rec["history"], rec["listed"])
    report = images.report_from_api("iris-model:1.0", rec["inspect"], rec["history"], size)
    assert report.size_bytes == report.layers_size_bytes == size.layers_bytes
    assert report.size.containerd


def test_the_image_store_is_read_from_docker_info():
    class Api:
        base_url = "unix://recorded"

        def info(self):
            return {"DriverStatus": _load("containerd-iris.json")["driver_status"]}

    class Client:
        api = Api()

    images._stores.clear()
    assert images.image_store(Client()) == images.CONTAINERD
    Api.base_url = "unix://other"
    Api.info = lambda self: {
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"]],
    }
    assert images.image_store(Client()) == images.GRAPH_DRIVER


def test_two_daemons_on_unix_sockets_keep_their_own_image_store():
    """docker-py gives every unix socket the base_url "http+docker://localhost": the socket,
    not the URL, tells the daemons apart (the host's graph driver, Engine 26's containerd)."""

    def client(socket_path: str, status: list) -> SimpleNamespace:
        api = SimpleNamespace(
            base_url="http+docker://localhost",
            _custom_adapter=SimpleNamespace(socket_path=socket_path),
            info=lambda: {"DriverStatus": status},
        )
        return SimpleNamespace(api=api)

    images._stores.clear()
    host = client("/var/run/docker.sock", [["Backing Filesystem", "extfs"]])
    engine26 = client("/run/e26.sock", _load("containerd-iris.json")["driver_status"])
    assert images.image_store(host) == images.GRAPH_DRIVER
    assert images.image_store(engine26) == images.CONTAINERD
    assert images.image_store(host) == images.GRAPH_DRIVER


def test_compose_builds_without_bake_when_buildx_is_older_than_it_needs(monkeypatch):
    def runner(version):
        def run(argv, **kwargs):
            class Done:
                returncode = 0
                stdout = f"github.com/docker/buildx {version} 411e817\n"

            return Done()

        return run

    compose._bake_checked.clear()
    assert compose.buildx_too_old_for_bake(runner("0.13.1+ds1"))
    compose._bake_checked.clear()
    assert not compose.buildx_too_old_for_bake(runner("v0.29.1"))
    compose._bake_checked.clear()
