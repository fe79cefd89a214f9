"""Multi-stage, GPU and sizes pages, each driven through its buttons on the real daemon."""

from __future__ import annotations

import contextlib
import json

import docker
import pytest

from dashboard.engine.analysis import images
from dashboard.engine.base import labels
from dashboard.engine.catalog import labs
from dashboard.engine.ops import builds, gpu
from dashboard.ui import state, theme
from dashboard.work.jobs import JobKey
from tests.app.helpers import assert_clean, metrics, open_page, unpacked_layers, wait_for

pytestmark = pytest.mark.docker


def test_multistage_builds_show_stages_what_crossed_and_three_sizes_with_floors(docker_client, app):
    assert builds.build_lab(docker_client, labs.get("iris")).ok  # Lesson 1's, to compare
    at = open_page(app, "multistage.py")
    at.button(key="build-multistage").click().run()
    at.button(key="build-onnx").click().run()

    def finished(a) -> bool:
        snaps = [state.snapshot(JobKey("build", n)) for n in ("iris-multistage", "iris-onnx")]
        return all(s is not None and s.finished for s in snaps) and "Build time" in metrics(a)

    wait_for(at, finished, timeout=600, what="the two builds")
    # `finished` reads the jobs as they are now: one may have ended after the page drew it as
    # running (section 2 then said "Build above"). A run that starts with both done draws all.
    at.run()
    assert_clean(at)
    tables = {tuple(d.value.columns): d.value for d in at.dataframe}
    steps = tables[("Stage", "Step", "Instruction", "Result", "Seconds", "Why it ran")]
    assert list(dict.fromkeys(steps["Stage"])) == ["trainer", "predictor"]
    stages = tables[("stage", "steps", "executed", "from cache", "seconds")]
    assert list(stages["stage"]) == ["trainer", "predictor"]
    crossed = " ".join(i.value for i in at.info)
    assert "COPY --from=trainer /app/model_pipeline.joblib" in crossed

    # The three images side by side, each against its floor, as Docker measures them.
    floors = next(d.value for d in at.dataframe if "floor" in d.value.columns)
    rows = {r["image"]: r for r in floors.to_dict("records")}
    assert list(rows) == ["iris-model:1.0", "iris-model:2.0", "iris-model:2.0-onnx"]
    base = images.image_layers(docker_client, "python:3.11-slim")
    size = {}
    for tag, row in rows.items():
        size[tag] = unpacked_layers(docker_client, tag)
        floor = images.size_floor(images.image_layers(docker_client, tag), base)
        assert row["size"] == theme.fmt_bytes(size[tag])
        assert row["floor"] == theme.fmt_bytes(floor.floor_bytes)
        assert row["above the floor"] == theme.fmt_bytes(floor.above_floor_bytes)
    one = size["iris-model:1.0"]
    for tag in ("iris-model:2.0", "iris-model:2.0-onnx"):
        assert rows[tag]["vs iris-model:1.0"] == f"{(size[tag] - one) / one:+.1%}"
    why = next(i.value for i in at.info if i.value.startswith("**Why:**"))
    assert "**iris-model:2.0** is" in why and "about the same size" in why
    assert "installs the same scikit-learn, SciPy and NumPy" in why
    saved = (one - size["iris-model:2.0-onnx"]) / one
    assert f"{saved:.0%} smaller than iris-model:1.0" in why
    assert "onnxruntime" in why and "stay in the trainer stage" in why


def test_gpu_run_uses_the_gpu_or_says_it_fell_back(docker_client, app, new_containers):
    expected = "GPU" if gpu.gpu_status(docker_client, probe=False).available else "CPU"
    at = open_page(app, "gpu.py")
    assert metrics(at)["GPU for containers"] == ("yes" if expected == "GPU" else "no")
    at.button(key="gpu-run").click().run()
    wait_for(at, lambda a: "Ran on" in metrics(a), timeout=180, what="the GPU run")
    assert_clean(at)
    shown = metrics(at)
    assert shown["Ran on"] == expected
    assert shown["Predicted class"] == "setosa"
    if expected == "CPU":
        assert any("CPU fallback" in w.value for w in at.warning)
    assert new_containers() == []  # the run's container (and a failed GPU one) are gone


def test_sizes_lists_lab_images_and_scores_one(docker_client, app):
    for name in ("iris-multistage", "iris-onnx"):  # from the cache when Lesson 3 ran before
        assert builds.build_lab(docker_client, labs.get(name)).ok
    at = open_page(app, "sizes.py")
    assert_clean(at)
    table = next(d.value for d in at.dataframe if "lab" in d.value.columns)
    assert any("iris-model:2.0" in name for name in table["image"])
    # Lesson 3's slim image is in the table and in the sizes chart (the figure's own JSON).
    assert "iris-model:2.0-onnx" in list(table["image"])
    chart = next(c for c in at.get("plotly_chart") if c.proto.id.endswith("-sizes"))
    bars = json.loads(chart.proto.spec)["data"][0]
    shown = dict(zip(bars["x"], bars["text"], strict=True))
    assert shown["iris-model:2.0-onnx"] == theme.fmt_bytes(
        unpacked_layers(docker_client, "iris-model:2.0-onnx")
    )
    df = next(d.value for d in at.dataframe if "RECLAIMABLE" in d.value.columns)
    assert list(df["TYPE"]) == ["Images", "Containers", "Local Volumes", "Build Cache"]
    at.selectbox(key="analyse-ref").set_value("iris-model:2.0").run()
    at.button(key="analyse").click().run()
    wait_for(at, lambda a: "Efficiency" in metrics(a), timeout=300, what="the analysis")
    assert_clean(at)
    score = float(metrics(at)["Efficiency"].rstrip("%"))
    assert 0 < score <= 100
    layers = next(d.value for d in at.dataframe if "added" in d.value.columns)
    assert len(layers) == len(docker_client.api.inspect_image("iris-model:2.0")["RootFS"]["Layers"])


def test_session_clean_up_removes_ours_and_leaves_others(docker_client, app, session_id):
    from dashboard.engine.ops import runs

    ours = runs.start_detached(
        docker_client,
        "python:3.11-slim",
        lab="cleanup-test",
        command="sleep 300",
        name=f"ours-{session_id}",
    )
    other = docker_client.containers.create(
        "python:3.11-slim", ["sleep", "300"], name=f"not-ours-{session_id}"
    )
    try:
        at = open_page(app, "sizes.py")
        at.button(key="clean-session").click().run()
        wait_for(
            at,
            lambda a: any("Clean-up:" in s.value for s in [*a.success, *a.warning]),
            timeout=120,
            what="the clean-up",
        )
        assert_clean(at)
        with pytest.raises(docker.errors.NotFound):
            docker_client.containers.get(ours.id)
        assert docker_client.containers.get(other.id).labels.get(labels.MANAGED) is None
    finally:
        other.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(ours.id).remove(force=True)
