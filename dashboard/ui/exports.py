"""Every chart with its exports for slides: PNG, SVG and the data as CSV, one click each.

`chart(fig, key=...)` is what the pages call instead of `st.plotly_chart`: the chart, then a row
of three download buttons. CSV is the chart's data (the page's own table when it passes one,
else every trace's points); PNG and SVG are drawn on the server by Kaleido with the machine's
Chromium, only when the button is clicked (a deferred download: nothing is drawn on a rerun).
Plotly's camera icon in the chart's toolbar also saves a PNG in the browser, named after the
chart, at the same scale.

Without Kaleido or a Chrome/Chromium (`exports_available()`), the PNG and SVG buttons are
disabled with a hint to use the camera icon; CSV always works. Presentation mode shows the
chart alone.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import re
import shutil
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.ui import state

log = logging.getLogger(__name__)

SCALE = 2  # PNG pixels per layout pixel: sharp on a projector
DEFAULT_WIDTH = 1100  # px, for charts whose layout leaves the width to the browser
CHROME_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def slug(text: str, fallback: str = "chart") -> str:
    """A file name stem: lower case words joined by dashes."""
    words = re.sub(r"<[^>]+>", " ", text or "")
    stem = re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")
    return stem[:60].strip("-") or fallback


def title_of(fig: go.Figure) -> str:
    text = fig.layout.title.text if fig.layout.title else None
    return text or ""


def _column(values: Any) -> list:
    if values is None:
        return []
    return list(values)


def figure_frame(fig: go.Figure) -> pd.DataFrame:
    """The points of every trace, one row each: series, x, y (and base, text when set).

    Covers the bar and scatter charts of charts.py; a diagram made of shapes has no rows.
    """
    rows: list[dict] = []
    for number, trace in enumerate(fig.data):
        xs, ys = _column(getattr(trace, "x", None)), _column(getattr(trace, "y", None))
        count = max(len(xs), len(ys))
        if not count:
            continue
        base = getattr(trace, "base", None)
        bases = _column(base) if isinstance(base, list | tuple) else [base] * count
        texts = getattr(trace, "text", None)
        texts = _column(texts) if isinstance(texts, list | tuple) else [texts] * count
        name = trace.name or f"trace {number + 1}"
        for i in range(count):
            row = {
                "series": name,
                "x": xs[i] if i < len(xs) else None,
                "y": ys[i] if i < len(ys) else None,
            }
            if any(b is not None for b in bases):
                row["base"] = bases[i] if i < len(bases) else None
            if any(t is not None for t in texts):
                row["text"] = texts[i] if i < len(texts) else None
            rows.append(row)
    return pd.DataFrame.from_records(rows)


def to_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


CSV_ATTRIBUTE = "_dashboard_csv"  # kept on the figure: a cached figure (ui/figures.py) is reused


def _figure_csv(fig: go.Figure) -> tuple[pd.DataFrame, bytes]:
    """The figure's table and its CSV, made once per figure object (plotly lets a figure carry
    attributes whose names start with an underscore)."""
    made = getattr(fig, CSV_ATTRIBUTE, None)
    if made is None:
        frame = figure_frame(fig)
        made = (frame, to_csv(frame))
        setattr(fig, CSV_ATTRIBUTE, made)
    return made


@functools.cache
def exports_available() -> bool:
    """Kaleido is installed and a Chrome it can drive is on this machine."""
    if importlib.util.find_spec("kaleido") is None:
        return False
    return any(shutil.which(name) for name in CHROME_NAMES)


def to_image(fig: go.Figure, fmt: str) -> bytes:
    """The figure as PNG or SVG bytes, drawn by Kaleido (a few seconds: Chromium starts)."""
    width = fig.layout.width or DEFAULT_WIDTH
    height = fig.layout.height or 450
    return fig.to_image(format=fmt, width=width, height=height, scale=SCALE if fmt == "png" else 1)


def plotly_config(name: str) -> dict:
    """Streamlit passes `config` to Plotly: the camera icon saves `<name>.png` at SCALE."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": name, "scale": SCALE},
    }


def _image(fig: go.Figure, fmt: str):
    def make() -> bytes:
        try:
            return to_image(fig, fmt)
        except Exception:
            log.warning("exporting a chart as %s failed", fmt, exc_info=True)
            raise

    return make


def chart(
    fig: go.Figure,
    *,
    key: str,
    data: pd.DataFrame | None = None,
    name: str | None = None,
    theme: str | None = None,
    **kwargs: Any,
) -> None:
    """`st.plotly_chart(fig, ...)` followed by CSV, PNG and SVG download buttons.

    `data`: the table the chart was drawn from (default: the traces' points); `name`: the file
    name stem (default: the chart's title, else its key).
    """
    stem = name or slug(title_of(fig), fallback=slug(key))
    st.plotly_chart(fig, theme=theme, key=key, config=plotly_config(stem), **kwargs)
    if state.presenting():
        return  # fewer controls in front of a class; the camera icon still saves a PNG
    frame, csv = (data, to_csv(data)) if data is not None else _figure_csv(fig)
    images = exports_available()
    no_image = "Needs Kaleido and Chromium on the server: use the camera icon above the chart."
    row = st.container(horizontal=True, gap="small")
    row.download_button(
        "CSV",
        # A callable, served when clicked: bytes would be a media file the browser checks as
        # soon as it draws the button, and a slow browser (a saturated classroom server's)
        # asked for files that a later rerun had already replaced: a 404 in its console.
        data=lambda: csv,
        file_name=f"{stem}.csv",
        mime="text/csv",
        key=f"{key}-csv",
        icon=":material/table:",
        on_click="ignore",
        disabled=frame.empty,
        help="The chart's data as CSV" if not frame.empty else "This diagram has no data.",
    )
    for fmt, mime in (("png", "image/png"), ("svg", "image/svg+xml")):
        row.download_button(
            fmt.upper(),
            data=_image(fig, fmt),
            file_name=f"{stem}.{fmt}",
            mime=mime,
            key=f"{key}-{fmt}",
            icon=":material/image:",
            on_click="ignore",
            disabled=not images,
            help=f"The chart as {fmt.upper()} (drawn on the server, a few seconds)"
            if images
            else no_image,
        )
