"""One look for every page: the colours of build steps and services, number formats, and the CSS
of presentation mode (bigger type for screen-sharing, read from the back of a room).

Pure except `apply_css`, so charts built in tests look the same as in the app.
"""

from __future__ import annotations

PLOTLY_TEMPLATE = "plotly_white"  # passed explicitly: importing streamlit changes Plotly's default

# Build step results, the same on every page and chart.
CACHED = "#2ca02c"  # green: the layer came from the cache
EXECUTED = "#ff7f0e"  # orange: the instruction ran again
BASE = "#7f8c9d"  # grey: the base image (FROM) / its layers
FAILED = "#d62728"
RUNNING = "#1d63ed"  # Docker blue
EMPTY = "#d0d5dc"  # metadata-only history entries (ENV, CMD, WORKDIR...): no bytes

STATUS_COLORS = {
    "base": BASE,
    "cached": CACHED,
    "executed": EXECUTED,
    "running": RUNNING,
    "failed": FAILED,
    "canceled": "#9467bd",
    "skipped": EMPTY,
    "waiting": EMPTY,
}
STATUS_TEXT = {
    "base": "base image",
    "cached": "from cache",
    "executed": "executed",
    "running": "running",
    "failed": "failed",
    "canceled": "canceled",
    "skipped": "not run",
    "waiting": "waiting",
}

# What a layer holds, for the size charts.
LAYER_KIND_COLORS = {
    "base image": BASE,
    "pip install (RUN)": EXECUTED,
    "other RUN": "#e6b800",
    "your files (COPY)": RUNNING,
    "COPY --from another stage": "#9467bd",
    "empty (metadata)": EMPTY,
}

# Compose services and image generations.
SERVICE_COLORS = {"trainer": "#1d63ed", "predictor": "#9467bd"}
IMAGE_COLORS = ["#1d63ed", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf", "#e6b800", "#8c564b"]


def fmt_bytes(n: int | float | None) -> str:
    """Decimal units, as `docker images` prints them."""
    if n is None:
        return "-"
    n = float(n)
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"
    return f"{n:.0f} B"


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 0.1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{s:.1f} s"
    minutes, seconds = divmod(int(round(s)), 60)
    return f"{minutes} min {seconds:02d} s"


BASE_CSS = f"""
<style>
/* Step results read at a glance: the same green/orange as the charts. */
.dm-chip {{display:inline-block; padding:0.1rem 0.6rem; border-radius:1rem; color:white;
          font-weight:600; font-size:0.9em;}}
.dm-cached {{background:{CACHED};}} .dm-executed {{background:{EXECUTED};}}
.dm-base {{background:{BASE};}} .dm-failed {{background:{FAILED};}}
.dm-running {{background:{RUNNING};}}
[data-testid="stMetricValue"] p {{font-size: 2.4rem;}}
</style>
"""

PRESENTATION_CSS = """
<style>
/* Presentation mode: everything one size up, metrics two, for a shared screen. */
html {font-size: 20px;}
[data-testid="stMainBlockContainer"] {max-width: 100%; padding-left: 2rem; padding-right: 2rem;}
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li {font-size: 1.2rem;}
[data-testid="stMetricValue"] p {font-size: 3.2rem; font-weight: 700; line-height: 1.2;}
[data-testid="stMetricLabel"] p {font-size: 1.1rem;}
[data-testid="stCode"] code {font-size: 1.05rem;}
/* Captions: as big as body text and full contrast, not small grey on a projector. */
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p,
[data-testid="stWidgetLabel"] p {font-size: 1.1rem !important; color: inherit !important;
 opacity: 1 !important;}
h1 {font-size: 3rem !important;}
h2 {font-size: 2.2rem !important;}
/* The bigger type no longer fits the sidebar's 300 px: widen it so page names are not cut. */
section[data-testid="stSidebar"] {width: 22rem !important; min-width: 22rem !important;}
</style>
"""


def chip(status: str) -> str:
    """A coloured label for a step status, as HTML (for st.markdown(unsafe_allow_html=True))."""
    return f'<span class="dm-chip dm-{status}">{STATUS_TEXT.get(status, status)}</span>'


def apply_css(presenting: bool) -> None:
    import streamlit as st

    st.html(BASE_CSS + (PRESENTATION_CSS if presenting else ""))
