"""Chart exports (CSV from the figure, PNG and SVG drawn by Kaleido with the machine's Chromium)
and the recording of finished jobs in the history database.

Build results come from the classic-builder streams recorded on this machine's daemon, through
the real stream parser (tests/unit/test_history.py's helpers); the figures are the pages' own.
"""

from __future__ import annotations

from types import SimpleNamespace

import plotly.graph_objects as go
import pytest

from dashboard.engine.base.paths import labs_dir
from dashboard.engine.catalog.lab_output import parse_lab_output
from dashboard.engine.ops import runs
from dashboard.engine.ops.gpu import DeviceRun
from dashboard.engine.progress.history import History
from dashboard.ui import charts, exports
from dashboard.work import recording, tasks
from tests.unit.test_history import recorded_build, recorded_run


@pytest.fixture
def db(tmp_path):
    with History.open(tmp_path / "history.sqlite3") as h:
        assert h.enabled, h.disabled_reason
        yield h


# ---------------------------------------------------------------- exports


def two_images(*sizes: tuple[str, int]) -> list[SimpleNamespace]:
    """Image summaries as `charts.sizes_chart` reads them."""
    return [
        SimpleNamespace(tags=(tag,), name=tag, size_bytes=size, base=False, id=f"sha256:{i:064x}")
        for i, (tag, size) in enumerate(sizes)
    ]


def test_csv_has_every_point_of_every_trace():
    fig = charts.sizes_chart(
        two_images(("iris-model:1.0", 444_000_000), ("iris-model:2.0-onnx", 329_000_000)), "t"
    )
    frame = exports.figure_frame(fig)
    assert list(frame.columns) == ["series", "x", "y", "text"]
    assert list(frame["x"]) == ["iris-model:1.0", "iris-model:2.0-onnx"]
    assert list(frame["y"]) == [444.0, 329.0]
    text = exports.to_csv(frame).decode()
    assert text.splitlines()[0] == "series,x,y,text"
    assert "trace 1,iris-model:2.0-onnx,329.0,329 MB" in text.splitlines()


def test_csv_of_a_timeline_keeps_the_bar_starts():
    rows = recorded_build("iris-warm").real_steps
    frame = exports.figure_frame(charts.steps_timeline(rows))
    assert len(frame) == len(rows)
    assert "base" in frame.columns and frame["base"].is_monotonic_increasing


def test_a_diagram_without_traces_has_no_rows():
    assert exports.figure_frame(charts.vm_vs_containers()).empty


def test_file_names_come_from_the_title():
    fig = charts.sizes_chart([], title="Image sizes (docker images)")
    assert exports.slug(exports.title_of(fig)) == "image-sizes-docker-images"
    assert exports.slug("<b>Virtual</b> machines") == "virtual-machines"
    assert exports.slug("", fallback="x") == "x"
    config = exports.plotly_config("sizes")
    assert config["toImageButtonOptions"] == {"format": "png", "filename": "sizes", "scale": 2}


def test_png_and_svg_are_drawn_offline_by_chromium():
    assert exports.exports_available(), "kaleido (requirements.txt) or Chromium is missing"
    fig = charts.sizes_chart(two_images(("a", 1_000_000), ("b", 2_000_000)), "Two images")
    png = exports.to_image(fig, "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width = int.from_bytes(png[16:20], "big")
    assert width == exports.DEFAULT_WIDTH * exports.SCALE
    svg = exports.to_image(fig, "svg").decode()
    assert svg.startswith("<svg") and "Two images" in svg


# ---------------------------------------------------------------- recording


def test_the_dockerfile_kept_is_the_text_that_was_built(db, tmp_path):
    build = recorded_build("iris-cold")
    build.dockerfile = tmp_path / "Dockerfile"
    build.dockerfile.write_text("FROM python:3.11-slim\n# edited after the build\n")
    (row_id,) = recording.record(db, build)
    (record,) = db.builds()
    assert record.dockerfile_path == str(build.dockerfile)
    assert record.dockerfile_text == (labs_dir() / "iris" / "Dockerfile").read_text()


def test_an_exec_is_recorded_as_an_exec_not_as_a_run_of_the_image(db):
    lines = recorded_run("iris.txt", lab="iris", image="iris-model:1.0").lines
    result = runs.ExecResult(
        0,
        "\n".join(lines),
        "docker exec iris-shell python main.py",
        1.5,
        container_id="c" * 64,
        container_name="iris-shell",
        image="iris-model:1.0",
        lab="iris",
        command=("python", "main.py"),
    )
    outcome = tasks.ExecOutcome(result, parse_lab_output(lines), "iris-shell")
    (row_id,) = recording.record(db, outcome)
    (kept,) = db.runs("iris")
    assert (kept.kind, kept.command, kept.container_name, kept.exit_code, kept.accuracy) == (
        "exec",
        "python main.py",
        "iris-shell",
        0,
        1.0,
    )
    assert db.runs("iris", kind="run") == [] and db.runs("iris", kind="exec") == [kept]


def test_a_compose_build_is_one_row_per_service_image(db):
    whole = recorded_build("iris-cold")
    services = {}
    for name in ("predictor", "trainer"):
        one = recorded_build("iris-cold")
        one.lab, one.tags = "wine", [f"wine-{name}"]
        services[name] = one
    ids = recording.record(db, tasks.ComposeBuildOutcome(whole, services))
    assert len(ids) == 2 and None not in ids
    assert [(b.lab, b.tag) for b in db.builds()] == [
        ("wine", "wine-predictor"),
        ("wine", "wine-trainer"),
    ]


def test_a_finished_build_is_recorded_once_with_its_dockerfile(db):
    build = recorded_build("iris-cold", seconds=13.0)
    job = SimpleNamespace(cancelled=False, label="build iris")
    target = recording.recorded(lambda j: build, db)
    assert target(job) is build
    (record,) = db.builds(with_steps=True)
    assert record.lab == "iris" and record.kind == "cold" and record.seconds == 13.0
    assert record.dockerfile_text == (labs_dir() / "iris" / "Dockerfile").read_text()
    assert len(record.steps) == 7


def test_runs_pairs_and_compose_runs_are_recorded(db):
    run = recorded_run("iris.txt", lab="iris", image="iris-model:1.0")
    ids = recording.record(db, tasks.RunOutcome(run, parse_lab_output(run.lines)))
    assert len(ids) == 1 and ids[0] is not None
    assert db.runs("iris", ok_only=True)[0].accuracy == 1.0

    pair = tasks.PairOutcome(
        "# edit",
        {"code first": recorded_build("iris-cold"), "deps first": recorded_build("iris-warm")},
        {"code first": recorded_build("iris-edited"), "deps first": recorded_build("iris-warm")},
    )
    assert len(recording.record(db, pair)) == 4
    assert len(db.builds()) == 4


def test_a_gpu_run_is_recorded_with_what_it_printed(db):
    lines = recorded_run("iris.txt", lab="iris", image="iris-model:1.0").lines
    run = DeviceRun("cpu", "no GPU here", "gpu-run-1", 0, "\n".join(lines), 4.5)
    (row_id,) = recording.record(db, tasks.GpuOutcome(run, parse_lab_output(lines), "iris:gpu"))
    assert row_id is not None
    (kept,) = db.runs("gpu")
    assert (kept.image, kept.container_name, kept.status, kept.ok) == (
        "iris:gpu",
        "gpu-run-1",
        "exited",
        True,
    )
    assert kept.duration_s == 4.5 and kept.accuracy == 1.0


def test_cancelled_jobs_other_results_and_a_disabled_history_record_nothing(db, tmp_path):
    build = recorded_build("iris-warm")
    cancelled = SimpleNamespace(cancelled=True, label="build")
    assert recording.recorded(lambda j: build, db)(cancelled) is build
    assert recording.record(db, tasks.ActionOutcome("removed", "docker rm x")) == []
    assert db.builds() == []
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"not a database" * 100)
    off = History.open(broken)
    assert not off.enabled
    target = lambda j: build  # noqa: E731
    assert recording.recorded(target, off) is target


def test_a_failing_history_never_fails_the_job(db, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(db, "record_build", boom)
    build = recorded_build("iris-warm")
    job = SimpleNamespace(cancelled=False, label="build")
    assert recording.recorded(lambda j: build, db)(job) is build


def test_figures_of_other_kinds_still_export():
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name="line"))
    assert exports.to_csv(exports.figure_frame(fig)).decode().splitlines() == [
        "series,x,y",
        "line,1,3",
        "line,2,4",
    ]
