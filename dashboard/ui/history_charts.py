"""Charts of the build and run history (engine/progress/history.py records). Pure: no Streamlit,
no Docker.

Each function returns the figure and the table it was drawn from, so the page's CSV export is
exactly what the chart shows.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from dashboard.ui import theme
from dashboard.ui.charts import _layout

KIND_COLORS = {
    "cold": theme.STATUS_COLORS["executed"],
    "partial": "#f1c40f",
    "cached": theme.STATUS_COLORS["cached"],
    "failed": theme.STATUS_COLORS["failed"],
}


def sizes_frame(points: Sequence) -> pd.DataFrame:
    return pd.DataFrame.from_records(
        [
            {
                "build": p.build_id,
                "finished": p.finished_at.astimezone().replace(tzinfo=None),
                "lab": p.lab,
                "tag": p.tag,
                "size_mb": round(p.size_bytes / 1e6, 1),
                "image_id": (p.image_id or "").removeprefix("sha256:")[:12],
            }
            for p in points
        ],
        columns=["build", "finished", "lab", "tag", "size_mb", "image_id"],
    )


def image_sizes(points: Sequence) -> tuple[go.Figure, pd.DataFrame]:
    """Image size of every successful build, one line per tag."""
    frame = sizes_frame(points)
    fig = go.Figure()
    for i, (tag, rows) in enumerate(frame.groupby("tag", sort=True)):
        fig.add_trace(
            go.Scatter(
                name=tag,
                x=list(rows["finished"]),
                y=list(rows["size_mb"]),
                mode="lines+markers",
                marker={"size": 10, "color": theme.IMAGE_COLORS[i % len(theme.IMAGE_COLORS)]},
                line={"color": theme.IMAGE_COLORS[i % len(theme.IMAGE_COLORS)]},
                text=[f"build #{b}" for b in rows["build"]],
                hovertemplate="%{text}<br>%{y:.0f} MB<extra>" + tag + "</extra>",
            )
        )
    fig.update_yaxes(title="MB", rangemode="tozero")
    fig.update_xaxes(title="when it was built")
    return _layout(fig, title="Image size across tags", height=420), frame


def builds_frame(points: Sequence) -> pd.DataFrame:
    return pd.DataFrame.from_records(
        [
            {
                "build": p.build_id,
                "finished": p.finished_at.astimezone().replace(tzinfo=None),
                "lab": p.lab,
                "tag": p.tag,
                "kind": p.kind,
                "seconds": round(p.seconds, 2),
                "steps_cached": p.steps_cached,
                "steps_cacheable": p.steps_cacheable,
                "cache_hit_rate": None if p.cache_hit_rate is None else round(p.cache_hit_rate, 3),
            }
            for p in points
        ],
        columns=[
            "build",
            "finished",
            "lab",
            "tag",
            "kind",
            "seconds",
            "steps_cached",
            "steps_cacheable",
            "cache_hit_rate",
        ],
    )


def build_times(points: Sequence) -> tuple[go.Figure, pd.DataFrame]:
    """Seconds per build, coloured by how much the cache served (cold, partial, cached)."""
    frame = builds_frame(points)
    fig = go.Figure()
    for kind, color in KIND_COLORS.items():
        rows = frame[frame["kind"] == kind]
        if rows.empty:
            continue
        fig.add_trace(
            go.Scatter(
                name=kind,
                x=[f"#{b}" for b in rows["build"]],
                y=list(rows["seconds"]),
                mode="markers",
                marker={"size": 13, "color": color, "line": {"width": 1, "color": "#333"}},
                text=[f"{lab} ({tag})" for lab, tag in zip(rows["lab"], rows["tag"], strict=True)],
                hovertemplate="%{x} %{text}<br>%{y:.1f} s<extra>" + kind + "</extra>",
            )
        )
    fig.update_xaxes(
        title="build", categoryorder="array", categoryarray=[f"#{b}" for b in frame["build"]]
    )
    fig.update_yaxes(title="seconds", rangemode="tozero")
    return _layout(fig, title="Build time: cold vs warm, build by build", height=420), frame


def cold_warm_frame(rows: Sequence) -> pd.DataFrame:
    return pd.DataFrame.from_records(
        [
            {
                "lab": r.lab,
                "cold_builds": r.cold_count,
                "cold_median_s": r.cold_median_s,
                "warm_builds": r.warm_count,
                "warm_median_s": r.warm_median_s,
                "speedup": None if r.speedup is None else round(r.speedup, 1),
            }
            for r in rows
        ],
        columns=[
            "lab",
            "cold_builds",
            "cold_median_s",
            "warm_builds",
            "warm_median_s",
            "speedup",
        ],
    )


def cold_vs_warm(rows: Sequence) -> tuple[go.Figure, pd.DataFrame]:
    """Per lab, the median cold build time next to the median build that used the cache."""
    frame = cold_warm_frame(rows)
    fig = go.Figure()
    for column, name, color in (
        ("cold_median_s", "cold (nothing from the cache)", KIND_COLORS["cold"]),
        ("warm_median_s", "warm (cache used)", KIND_COLORS["cached"]),
    ):
        values = [None if pd.isna(v) else float(v) for v in frame[column]]
        fig.add_trace(
            go.Bar(
                name=name,
                x=list(frame["lab"]),
                y=values,
                marker_color=color,
                text=[theme.fmt_seconds(v) if v is not None else "" for v in values],
                textposition="outside",
                cliponaxis=False,
            )
        )
    fig.update_yaxes(title="median seconds", rangemode="tozero")
    return _layout(fig, title="Cold vs warm builds (median)", height=400, barmode="group"), frame


def cache_hit_rate(points: Sequence) -> tuple[go.Figure, pd.DataFrame]:
    """Share of the cacheable steps (all but FROM) that came from the cache, build by build."""
    frame = builds_frame([p for p in points if p.cache_hit_rate is not None and p.ok])
    fig = go.Figure(
        go.Bar(
            x=[f"#{b}" for b in frame["build"]],
            y=[100 * r for r in frame["cache_hit_rate"]],
            marker_color=[KIND_COLORS.get(k, theme.BASE) for k in frame["kind"]],
            text=[
                f"{c}/{t}"
                for c, t in zip(frame["steps_cached"], frame["steps_cacheable"], strict=True)
            ],
            textposition="outside",
            cliponaxis=False,
            hovertext=[
                f"{lab} ({tag})" for lab, tag in zip(frame["lab"], frame["tag"], strict=True)
            ],
            hovertemplate="%{x} %{hovertext}<br>%{y:.0f}% from the cache<extra></extra>",
        )
    )
    fig.update_yaxes(title="% of steps from the cache", range=[0, 110])
    fig.update_xaxes(title="build")
    return _layout(fig, title="Cache hit rate per build", height=400, showlegend=False), frame


def runs_frame(runs: Sequence) -> pd.DataFrame:
    return pd.DataFrame.from_records(
        [
            {
                "run": r.id,
                "recorded": r.recorded_at.astimezone().replace(tzinfo=None),
                "lab": r.lab,
                "kind": r.kind,
                "service": r.service or "",
                "image": r.image or "",
                "container": r.container_name or "",
                "command": r.command or "",
                "status": r.status,
                "exit_code": r.exit_code,
                "seconds": None if r.duration_s is None else round(r.duration_s, 1),
                "accuracy": r.accuracy,
                "predictions": "; ".join(
                    str(p.get("label") or p.get("class") or p) for p in r.predictions[:5]
                ),
            }
            for r in runs
        ],
        columns=[
            "run",
            "recorded",
            "lab",
            "kind",
            "service",
            "image",
            "container",
            "command",
            "status",
            "exit_code",
            "seconds",
            "accuracy",
            "predictions",
        ],
    )
