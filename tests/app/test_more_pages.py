"""Multi-stage, GPU and sizes pages, each driven through its buttons on the real daemon."""

from __future__ import annotations

import contextlib

import docker
import pytest

from dashboard.engine import gpu, labels
from dashboard.ui import theme
from tests.app.helpers import assert_clean, metrics, open_page, unpacked_layers, wait_for

pytestmark = pytest.mark.docker


def test_multistage_build_shows_stages_what_crossed_and_sizes(docker_client, app):
    at = open_page(app, "multistage.py")
    at.button(key="build-multistage").click().run()
    wait_for(at, lambda a: "Build time" in metrics(a), timeout=600, what="the build")
    assert_clean(at)
    tables = {tuple(d.value.columns): d.value for d in at.dataframe}
    steps = tables[("Stage", "Step", "Instruction", "Result", "Seconds", "Why it ran")]
    assert list(dict.fromkeys(steps["Stage"])) == ["trainer", "predictor"]
    stages = tables[("stage", "steps", "executed", "from cache", "seconds")]
    assert list(stages["stage"]) == ["trainer", "predictor"]
    crossed = " ".join(i.value for i in at.info)
    assert "COPY --from=trainer /app/model_pipeline.joblib" in crossed
    two = unpacked_layers(docker_client, "iris-model:2.0")
    one = unpacked_layers(docker_client, "iris-model:1.0")
    shown = metrics(at)
    assert shown["iris-model:2.0"] == theme.fmt_bytes(two)
    assert shown["Saved by multi-stage"] == theme.fmt_bytes(one - two)
    assert two < one


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
    at = open_page(app, "sizes.py")
    assert_clean(at)
    table = next(d.value for d in at.dataframe if "lab" in d.value.columns)
    assert any("iris-model:2.0" in name for name in table["image"])
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
    from dashboard.engine import runs

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
