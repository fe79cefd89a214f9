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

from dashboard.engine.analysis import images
from dashboard.engine.base import labels
from dashboard.engine.catalog import labs
from dashboard.engine.offline import offline
from dashboard.engine.ops import builds

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


@pytest.fixture(scope="module")
def lesson3(docker_client) -> dict[str, builds.BuildResult]:
    """Lesson 3's three images, built as the dashboard builds them: iris-model:1.0, 2.0 and
    2.0-onnx."""
    built = {
        name: builds.build_lab(docker_client, labs.get(name))
        for name in ("iris", "iris-multistage", "iris-onnx")
    }
    assert all(r.ok for r in built.values()), {n: r.error for n, r in built.items()}
    return built


def floor_of(client, image: str) -> images.SizeFloor:
    base = images.image_layers(client, offline.BASE_IMAGE)
    return images.size_floor(images.image_layers(client, image), base)


def test_multistage_as_taught_predicts_setosa_and_is_as_big_as_the_single_stage(
    docker_client, lesson3
):
    single, multi = lesson3["iris"], lesson3["iris-multistage"]
    assert {s.stage_name for s in multi.real_steps} == {"trainer", "predictor"}
    train = next(s for s in multi.real_steps if s.instruction == "RUN python model.py")
    assert train.stage_name == "trainer"
    assert run_output(docker_client, "iris-model:2.0").strip() == "Predicted class: setosa"
    # The predictor loads the fitted scikit-learn pipeline, so it has scikit-learn ...
    probe = "import sklearn, scipy; print(sklearn.__version__)"
    assert run_output(docker_client, "iris-model:2.0", "python", "-c", probe).strip() == "1.9.1"
    # ... and so it is as big as the single-stage image (measured: within 16 kB of 444 MB).
    assert abs(multi.size_bytes - single.size_bytes) < 0.01 * single.size_bytes, (
        multi.size_bytes,
        single.size_bytes,
    )
    floor = floor_of(docker_client, "iris-model:2.0")
    assert floor.size_bytes == multi.size_bytes
    assert 0 <= floor.above_floor_bytes < 100_000, floor  # the model, predict.py, /app


def test_the_onnx_predictor_has_no_sklearn_or_scipy_and_is_smaller(docker_client, lesson3):
    single, multi, slim = lesson3["iris"], lesson3["iris-multistage"], lesson3["iris-onnx"]
    assert run_output(docker_client, "iris-model:2.0-onnx").strip() == "Predicted class: setosa"
    for module in ("sklearn", "scipy", "skl2onnx", "onnx"):
        with pytest.raises(docker.errors.ContainerError) as refused:
            run_output(docker_client, "iris-model:2.0-onnx", "python", "-c", f"import {module}")
        assert "ModuleNotFoundError" in refused.value.stderr.decode(), module
    listed = run_output(docker_client, "iris-model:2.0-onnx", "python", "-m", "pip", "list")
    names = {line.split()[0].lower() for line in listed.splitlines()[2:] if line.strip()}
    assert {"onnxruntime", "numpy"} <= names
    assert not names & {"scikit-learn", "scipy", "skl2onnx", "onnx", "joblib"}, names
    # Measured: 329 MB vs 444 MB (overlay2), 357 MB vs 483 MB (containerd): about 26 % less.
    assert slim.size_bytes < 0.8 * multi.size_bytes and slim.size_bytes < 0.8 * single.size_bytes
    floor = floor_of(docker_client, "iris-model:2.0-onnx")
    assert 0 <= floor.above_floor_bytes < 100_000, floor
    assert floor.installed_bytes < floor_of(docker_client, "iris-model:2.0").installed_bytes


def test_the_floor_is_what_an_image_that_only_installs_the_predictor_holds(
    docker_client, lesson3, tmp_path, tags
):
    """The floor read from `docker history` against a one-stage image FROM the base that only
    installs the predictor's requirements, built from nothing (--no-cache)."""
    folder = tmp_path / "floor"
    folder.mkdir()
    shutil.copy(LABS / "iris-onnx" / "requirements-predict.txt", folder)
    (folder / "Dockerfile").write_text(
        "FROM python:3.11-slim\nWORKDIR /app\nCOPY requirements-predict.txt .\n"
        "RUN pip install --no-cache-dir -r requirements-predict.txt\n"
    )
    tag = unique_tag("floor")
    tags.append(tag)
    only = builds.build(docker_client, folder, tag=tag, lab_name="test-floor", nocache=True)
    assert only.ok, only.error
    floor = floor_of(docker_client, "iris-model:2.0-onnx")
    # Same base, same wheels: the same bytes but for the work folder and the requirements file.
    assert 0 <= only.size_bytes - floor.floor_bytes < 100_000, (only.size_bytes, floor)


def test_the_onnx_trainer_fails_the_build_when_onnx_and_sklearn_disagree(
    docker_client, lesson3, tmp_path, tags
):
    """A copy of the lab whose model.py converts a different pipeline: `RUN python model.py`
    must fail. The lab itself has no switch for this; only the copy is changed."""
    folder = copy_lab(tmp_path, "iris-onnx")
    model = folder / "model.py"
    guard = 'if __name__ == "__main__":\n    main()\n'
    text = model.read_text()
    assert text.endswith(guard)
    model.write_text(
        text.removesuffix(guard) + "\n\nfrom sklearn.base import clone\n\n_real = convert\n\n\n"
        "def convert(pipeline, X, class_names):  # a pipeline that predicts the next class\n"
        "    other = clone(pipeline).fit(X, (pipeline.predict(X) + 1) % 3)\n"
        "    return _real(other, X, class_names)\n\n\nmain()\n"
    )
    tag = unique_tag("onnx-mismatch")
    tags.append(tag)
    result = builds.build(docker_client, folder, tag=tag, lab_name="test-onnx-mismatch")
    assert not result.ok
    failed = result.failed_step
    assert failed is not None and failed.instruction == "RUN python model.py", result.error
    said = "\n".join(failed.output) + (result.error or "")
    assert "The ONNX model disagrees with scikit-learn on 30 of 30 test flowers" in said, said
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(tag)


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
