"""Sizes on every engine of the matrix: each number the dashboard shows is the one Docker itself
reports on that image store, named as Docker names it, and comparisons use one measure."""

from __future__ import annotations

import subprocess

import pytest

from dashboard.engine.analysis import images
from dashboard.engine.catalog import labs
from dashboard.engine.ops import builds
from dashboard.engine.progress import checks

pytestmark = [pytest.mark.docker, pytest.mark.engines]


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def built(docker_client):
    found = [
        builds.build_lab(docker_client, labs.get(name))
        for name in ("iris", "iris-multistage", "iris-onnx")
    ]
    assert all(r.ok for r in found), [r.error for r in found]
    return tuple(found)


def test_the_store_is_the_one_docker_info_names(docker_client):
    driver_type = _docker("info", "--format", "{{json .DriverStatus}}")
    store = images.image_store(docker_client)
    assert (store == images.CONTAINERD) == ("io.containerd.snapshotter" in driver_type)


def test_each_size_is_what_docker_reports_for_it(docker_client, built):
    for result in built:
        size = result.size
        inspect_size = int(_docker("image", "inspect", "--format", "{{.Size}}", result.image_id))
        history = _docker(
            "history", "--no-trunc", "--human=false", "--format", "{{.Size}}", result.image_id
        )
        history_sum = sum(int(line) for line in history.splitlines())
        # The size everything compares: the unpacked layers, which `docker history` adds up to.
        assert size.layers_bytes == result.size_bytes == history_sum
        listed = docker_client.api.images(filters={"reference": result.tags[0]})
        assert [i["Id"] for i in listed] == [result.image_id]
        if size.containerd:
            # containerd: inspect is the compressed content, `docker images` the disk usage.
            assert size.content_bytes == inspect_size < size.layers_bytes
            assert size.disk_bytes == listed[0]["Size"] > size.layers_bytes
        else:
            assert size.content_bytes is None
            assert size.disk_bytes == inspect_size == listed[0]["Size"] == history_sum
        report = images.image_layers(docker_client, result.tags[0])
        assert report.size_bytes == report.layers_size_bytes == size.layers_bytes


def test_the_sizes_page_list_and_the_check_compare_like_with_like(docker_client, built):
    single, multi, slim = built
    listed = {i.tags[0]: i for i in images.list_images(docker_client) if i.tags}
    for result in built:
        shown = listed[result.tags[0]]
        assert shown.size_bytes == result.size_bytes and shown.size == result.size
    found = {r.id: r for r in checks.evaluate(docker_client, None, "multistage")}
    check = found["onnx-smaller"]
    assert check.true_now, check.detail
    saved = single.size_bytes - slim.size_bytes
    assert f"{saved / 1e6:,.0f} MB" in check.detail and "(unpacked layers)" in check.detail
    built_check = found["multistage-built"]
    share = (multi.size_bytes - single.size_bytes) / single.size_bytes
    assert built_check.true_now and f"that is {share:+.1%} (unpacked layers)" in built_check.detail


def test_each_floor_is_read_from_the_same_history(docker_client, built):
    """The floor and what is above it add up to the unpacked layers on every image store."""
    base = images.image_layers(docker_client, "python:3.11-slim")
    for result in built:
        report = images.image_layers(docker_client, result.tags[0])
        floor = images.size_floor(report, base)
        assert floor.size_bytes == result.size_bytes
        assert floor.base_bytes == base.size_bytes
        pip = [x for x in report.layers if x.created_by.startswith("RUN pip install")]
        assert len(pip) == 1 and floor.installed_bytes == pip[0].size_bytes
        assert floor.floor_bytes + floor.above_floor_bytes == result.size_bytes
        print(f"\n{result.tags[0]}: {result.size_bytes} B, floor {floor.floor_bytes} B")
