"""The pure parts of the UI: chart colours and templates, diagrams, the cache lesson's working copy.

No daemon: records are built from recorded daemon output (tests/recordings) or by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard.engine.analysis import images
from dashboard.engine.base.paths import REPO_ROOT
from dashboard.ui import charts, diagrams, theme
from dashboard.work import workspace
from dashboard.work.tasks import StepRow

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings" / "images"


def step(index, status, seconds, instruction="RUN pip install -r requirements.txt"):
    return StepRow(index, 7, instruction, 0, None, status, seconds, None, None)


def test_steps_timeline_colours_by_result():
    rows = [step(1, "base", 0.0, "FROM python:3.11-slim"), step(2, "cached", 0.0)]
    rows += [step(3, "executed", 12.5)]
    fig = charts.steps_timeline(rows, total_seconds=13.0)
    colours = {trace.name: trace.marker.color for trace in fig.data}
    assert colours == {
        "base image": theme.BASE,
        "from cache": theme.CACHED,
        "executed": theme.EXECUTED,
    }
    executed = next(t for t in fig.data if t.name == "executed")
    assert executed.base == (0.0,) and executed.x == (12.5,)
    cached = next(t for t in fig.data if t.name == "from cache")
    assert cached.x[0] > 0  # a 0-second cached step still gets a visible bar
    assert cached.text == ("from cache",)


def test_every_figure_names_its_template():
    import plotly.io as pio

    before = pio.templates.default
    pio.templates.default = "ggplot2"  # what importing another library might leave behind
    try:
        fig = charts.steps_timeline([step(1, "executed", 1.0)])
        assert fig.layout.template == pio.templates[theme.PLOTLY_TEMPLATE]
        assert charts.vm_vs_containers().layout.template == pio.templates[theme.PLOTLY_TEMPLATE]
    finally:
        pio.templates.default = before


def recorded_iris_report():
    inspect = json.loads((RECORDINGS / "iris-inspect.json").read_text())
    history = json.loads((RECORDINGS / "iris-history.json").read_text())
    return images.report_from_api("iris-model:1.0", inspect, history)


def test_layer_chart_marks_empty_layers_and_the_pip_install():
    report = recorded_iris_report()
    kinds = [charts.layer_kind(layer, layer.index < 1) for layer in report.layers]
    assert kinds[0] == "base image"
    assert "pip install (RUN)" in kinds and "your files (COPY)" in kinds
    assert kinds.count("empty (metadata)") == sum(1 for layer in report.layers if layer.empty)
    fig = charts.layers_chart(report, base_count=1)
    empty = next(t for t in fig.data if t.name == "empty (metadata)")
    assert set(empty.text) == {"0 B (empty)"} and empty.marker.pattern.shape == "/"
    pip = next(t for t in fig.data if t.name == "pip install (RUN)")
    assert pip.marker.color == theme.EXECUTED


def test_ci_steps_come_from_the_projects_ci_script():
    script = (REPO_ROOT / ".ci" / "run").read_text()
    steps = diagrams.ci_steps(script)
    assert steps[:2] == ["system packages", "docker daemon"]
    assert any(s.startswith("tests") for s in steps)
    dot = diagrams.ci_flow(steps)
    assert dot.count("->") >= len(steps) - 1 and "1. system packages" in dot


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0 B"), (999, "999 B"), (33_000, "33.0 kB"), (443_500_000, "444 MB")]
)
def test_sizes_read_like_docker_images(n, text):
    assert theme.fmt_bytes(n) == text


def test_working_copy_edits_never_touch_the_lab(monkeypatch, tmp_path):
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DASHBOARD_TAG_SUFFIX", raising=False)
    lab_main = (REPO_ROOT / "labs" / "iris" / "main.py").read_bytes()
    copy = workspace.ensure_copy("iris")
    assert copy.parent == tmp_path / "workspace"
    assert not workspace.differs_from_lab("iris")
    line = workspace.append_comment("iris")
    assert line.startswith(workspace.EDIT_MARK)
    assert workspace.edits("iris") == 1 and workspace.differs_from_lab("iris")
    assert (REPO_ROOT / "labs" / "iris" / "main.py").read_bytes() == lab_main
    workspace.reset_copy("iris")
    assert workspace.edits("iris") == 0 and not workspace.differs_from_lab("iris")
    assert workspace.working_tag("iris", "Dockerfile") == "iris-model:edited"
    monkeypatch.setenv("DASHBOARD_TAG_SUFFIX", "t1")
    assert workspace.working_tag("cache-order", "Dockerfile.code-first") == (
        "cache-order:code-first-edited-t1"
    )
