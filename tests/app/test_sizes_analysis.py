"""The Sizes page's layer analysis says which path read the layers, on every engine, and still
works when no fast path can be read (the daemon reached over TCP: tests/tcp_forward)."""

from __future__ import annotations

import pytest

from dashboard.engine.analysis import layerfiles
from dashboard.engine.analysis.layerfiles import dispatch
from dashboard.engine.analysis.layerfiles.efficiency import efficiency
from tests.app.helpers import assert_clean, metrics, open_page, wait_for
from tests.lab_images import iris_image
from tests.tcp_forward import TcpForward

pytestmark = [pytest.mark.docker, pytest.mark.engines]

SOURCES = {"overlay2": layerfiles.SOURCE_OVERLAY2, "containerd": layerfiles.SOURCE_CONTAINERD}


@pytest.fixture(scope="module")
def image(docker_client) -> str:
    return iris_image(docker_client)


@pytest.fixture(scope="module")
def expected(docker_client, image):
    return efficiency(layerfiles.image_files(docker_client, image, method="save").layers)


def analyse(at, ref: str):
    at = open_page(at, "sizes.py")
    at.selectbox(key="analyse-ref").set_value(ref).run()
    at.button(key="analyse").click().run()
    wait_for(at, lambda a: "Efficiency" in metrics(a), timeout=300, what="the analysis")
    assert_clean(at)
    return at


def read_from(at) -> list[str]:
    return [c.value for c in at.caption if c.value.startswith("Layers read from")]


def shown_figures(at, docker_client, ref: str, expected) -> None:
    assert metrics(at)["Efficiency"] == f"{expected.score:.1%}"
    layers = next(d.value for d in at.dataframe if "added" in d.value.columns)
    assert len(layers) == len(docker_client.api.inspect_image(ref)["RootFS"]["Layers"])


def test_the_page_says_which_path_read_the_layers(docker_client, app, image, expected):
    at = analyse(app, image)
    fast = dispatch.fast_method(docker_client, docker_client.api.info())
    assert read_from(at) == [f"Layers read from: {SOURCES[fast]}."]
    shown_figures(at, docker_client, image, expected)


def test_without_a_fast_path_it_reads_docker_save_and_says_why(
    docker_client, app, image, expected, monkeypatch
):
    with TcpForward() as forward:
        monkeypatch.setenv("DOCKER_HOST", forward.url)
        at = analyse(app, image)
    assert read_from(at) == [
        "Layers read from: docker save (no fast path: the daemon is not on this machine)."
    ]
    shown_figures(at, docker_client, image, expected)
