"""Each lab builds and runs on the real daemon and shows what its lesson is about."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import docker
import pytest

from dashboard.engine import builds, labels, labs, offline

pytestmark = [pytest.mark.docker, pytest.mark.engines]
LABS = labs.labs_dir()


def copy_lab(tmp_path: Path, folder: str) -> Path:
    target = tmp_path / folder
    shutil.copytree(LABS / folder, target)
    return target


def unique_tag(name: str) -> str:
    return f"test-{name}:{uuid.uuid4().hex[:8]}"


@pytest.fixture
def tags(docker_client):
    made: list[str] = []
    yield made
    for tag in made:
        with contextlib.suppress(docker.errors.APIError):
            docker_client.images.remove(tag)


def run_output(client, image: str, *command: str) -> str:
    out = client.containers.run(
        image, list(command) or None, remove=True, labels=labels.for_lab("test")
    )
    return out.decode()


def status_by_keyword(result: builds.BuildResult) -> list[tuple[str, str]]:
    # the containerd image store's BuildKit names FROM with the base image's digest
    words = [s.instruction.split("@sha256:")[0].split()[:2] for s in result.real_steps]
    return [(" ".join(w), s.status) for w, s in zip(words, result.real_steps, strict=True)]


@pytest.mark.engines
def test_iris_builds_and_prints_report_accuracy_and_setosa(docker_client, expected_builder):
    result = builds.build_lab(docker_client, labs.get("iris"))
    assert result.ok, result.error
    assert result.builder == expected_builder, result.builder_reason
    assert "iris-model:1.0" in result.tags
    if expected_builder == "buildkit":
        # BuildKit's "[2/5] ... [5/5]", as the lecture counts: ENV and CMD are not steps
        assert [(s.keyword, s.index, s.total) for s in result.real_steps] == [
            ("FROM", 1, 5), ("WORKDIR", 2, 5), ("COPY", 3, 5), ("RUN", 4, 5), ("COPY", 5, 5),
        ]  # fmt: skip
    else:
        assert [s.keyword for s in result.real_steps] == [
            "FROM", "WORKDIR", "ENV", "COPY", "RUN", "COPY", "CMD",
        ]  # fmt: skip
    out = run_output(docker_client, "iris-model:1.0")
    assert "precision" in out and "recall" in out and "f1-score" in out
    assert "Accuracy: 1.00" in out
    assert out.strip().endswith("Predicted class: setosa")


@pytest.mark.engines
def test_edit_of_main_py_reuses_every_step_before_its_copy(
    docker_client, tmp_path, tags, expected_builder
):
    lab = copy_lab(tmp_path, "iris")
    tag = unique_tag("iris")
    tags.append(tag)
    first = builds.build(docker_client, lab, tag=tag, lab_name="iris")
    assert first.ok, first.error

    with (lab / "main.py").open("a") as f:
        f.write(f"\n# edited by a test {uuid.uuid4()}\n")
    second = builds.build(docker_client, lab, tag=tag, lab_name="iris")
    assert second.ok, second.error
    expected = [
        ("FROM python:3.11-slim", "base"),
        ("WORKDIR /app", "cached"),
        ("ENV PYTHONUNBUFFERED=1", "cached"),
        ("COPY requirements.txt", "cached"),
        ("RUN pip", "cached"),
        ("COPY main.py", "executed"),
        ('CMD ["python",', "executed"),
    ]
    if expected_builder == "buildkit":  # no ENV/CMD steps; FROM names the full reference
        expected = [("FROM docker.io/library/python:3.11-slim", "base")] + [
            e for e in expected[1:] if e[0].split()[0] in ("WORKDIR", "COPY", "RUN")
        ]
    assert second.builder == expected_builder
    assert status_by_keyword(second) == expected
    (miss,) = second.cache_misses
    assert miss.instruction == "COPY main.py ." and miss.changed_files == ["main.py"]
    assert second.seconds < first.seconds or first.steps_cached == first.steps_total


def test_cache_order_edit_reinstalls_only_with_code_first(docker_client, tmp_path, tags):
    lab = copy_lab(tmp_path, "cache-order")
    runs = {}
    for order in ("code-first", "deps-first"):
        tag = unique_tag(f"cache-{order}")
        tags.append(tag)
        kwargs = dict(dockerfile=f"Dockerfile.{order}", tag=tag, lab_name=f"cache-{order}")
        assert builds.build(docker_client, lab, **kwargs).ok
        runs[order] = kwargs
    with (lab / "main.py").open("a") as f:
        f.write(f"\n# edited by a test {uuid.uuid4()}\n")
    rebuilt = {order: builds.build(docker_client, lab, **kw) for order, kw in runs.items()}

    def pip_step(result):
        return next(s for s in result.real_steps if s.instruction.startswith("RUN pip"))

    assert pip_step(rebuilt["code-first"]).status == "executed"
    assert any("Successfully installed" in line for line in pip_step(rebuilt["code-first"]).output)
    assert pip_step(rebuilt["deps-first"]).status == "cached"
    miss = rebuilt["code-first"].cache_misses[0]
    assert miss.instruction == "COPY . ." and miss.changed_files == ["main.py"]
    assert rebuilt["deps-first"].seconds < rebuilt["code-first"].seconds


def test_multistage_image_is_smaller_and_predicts_setosa(docker_client):
    single = builds.build_lab(docker_client, labs.get("iris"))
    multi = builds.build_lab(docker_client, labs.get("iris-multistage"))
    assert single.ok and multi.ok, (single.error, multi.error)
    assert {s.stage_name for s in multi.real_steps} == {"trainer", "predictor"}
    train = next(s for s in multi.real_steps if s.instruction == "RUN python model.py")
    assert train.stage_name == "trainer"
    # The trainer's libraries stay behind: at least 100 MB less than the single-stage image.
    assert multi.size_bytes < single.size_bytes - 100_000_000, (multi.size_bytes, single.size_bytes)
    assert run_output(docker_client, "iris-model:2.0").strip() == "Predicted class: setosa"
    probe = "import importlib.util as u; print(u.find_spec('sklearn') is None)"
    assert run_output(docker_client, "iris-model:2.0", "python", "-c", probe).strip() == "True"


def compose(project: str, *args: str, override: Path | None, env: dict | None = None):
    files = ["-f", str(LABS / "wine" / "compose.yaml")]
    if override:
        files += ["-f", str(override)]
    return subprocess.run(
        ["docker", "compose", "-p", project, *files, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_wine_pair_predicts_after_the_trainer_saved_the_model(docker_client, tmp_path):
    override = None
    if offline.is_offline(docker_client):
        # What a student adds in offline mode: build on the host network to reach the wheelhouse.
        override = tmp_path / "offline.yaml"
        override.write_text(
            "services:\n"
            "  trainer: {build: {network: host}}\n"
            "  predictor: {build: {network: host}}\n"
        )
    project = f"winetest{uuid.uuid4().hex[:8]}"
    try:
        built = compose(project, "build", override=override)
        assert built.returncode == 0, built.stderr[-2000:]
        env = {"POLL_SECONDS": "1", "TRAIN_DELAY_SECONDS": "3"}
        up = compose(project, "up", "--no-color", override=override, env=env)
        assert up.returncode == 0, up.stderr[-2000:]
        lines = up.stdout.splitlines()

        def first(text):
            return next(i for i, line in enumerate(lines) if text in line)

        assert first("Model not found") < first("Model saved")
        assert first("Model saved") < first("Wine #0: predicted class_0")
        assert sum("predicted" in line for line in lines) == 3
        assert "trainer-1 exited with code 0" in up.stdout + up.stderr
        assert "predictor-1 exited with code 0" in up.stdout + up.stderr
    finally:
        down = compose(project, "down", "-v", "--rmi", "local", override=override)
        assert down.returncode == 0, down.stderr
    left = docker_client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={project}"}
    )
    assert left == []
