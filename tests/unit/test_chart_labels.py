"""Axis labels of the layers chart: readable on a shared screen, from the engine's records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashboard.engine.analysis.images import HistoryLayer, ImageReport
from dashboard.ui import charts

SUM = "37d8401bce3902e1f38a135131663a36291facd59437657dc29b47e014c6d35b"


def layer(created_by: str, comment: str = "") -> HistoryLayer:
    return HistoryLayer(
        index=3,
        id=None,
        created_by=created_by,
        instruction=created_by.split(" ")[0],
        size_bytes=80,
        empty=False,
        created=datetime(2026, 11, 28, tzinfo=UTC),
        comment=comment,
    )


@pytest.mark.parametrize(
    ("created_by", "label"),
    [
        (f"COPY file:{SUM} in . ", "COPY file:37d8401b… in ."),
        (f"COPY multi:{SUM} in ./", "COPY multi:37d8401b… in ./"),
        ("RUN pip install --no-cache-dir -r requirements.txt", None),
        ("WORKDIR /app", None),
    ],
)
def test_copied_files_keep_their_destination(created_by, label):
    assert charts.layer_label(layer(created_by)).strip() == (label or created_by)


def test_an_imported_base_is_named_as_such():
    assert charts.layer_label(layer("", "Imported from -")) == "base image (docker import)"


def test_the_chart_uses_the_short_labels():
    report = ImageReport(
        ref="x:1",
        id="sha256:" + SUM,
        tags=("x:1",),
        size_bytes=80,
        labels={},
        created=None,
        layers=(layer(f"COPY file:{SUM} in /app/ "),),
        rootfs_layers=(),
    )
    fig = charts.layers_chart(report)
    shown = [y for trace in fig.data for y in trace.y]
    assert shown == ["#3 COPY file:37d8401b… in /app/"]
