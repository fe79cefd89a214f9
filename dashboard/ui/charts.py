"""Plotly figures for the pages, built from the engine's records. Pure: no Streamlit, no Docker.

Every figure gets `template=theme.PLOTLY_TEMPLATE` explicitly and the shared colours, so a build
step is the same green or orange on every page.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import plotly.graph_objects as go

from dashboard.ui import theme

FONT = {"size": 15}


def _layout(fig: go.Figure, *, title: str, height: int, **extra) -> go.Figure:
    fig.update_layout(
        template=theme.PLOTLY_TEMPLATE,
        title={"text": title, "font": {"size": 19}},
        height=height,
        font=FONT,
        margin={"l": 10, "r": 30, "t": 60, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
        **extra,
    )
    return fig


def short(text: str, width: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# `docker history` names copied content by its 64-hex checksum ("COPY file:37d8…c35b in . ").
_COPY_SUM = re.compile(r"\b(file|multi|dir):([0-9a-f]{8})[0-9a-f]{56}\b")


def layer_label(layer) -> str:
    """A history entry as a short axis label: the checksum of copied files cut to 8 characters
    (so the destination stays readable), and an imported base named as such."""
    if not layer.created_by and layer.comment.startswith("Imported"):
        return "base image (docker import)"
    return _COPY_SUM.sub(r"\1:\2…", layer.title or "(no instruction)")


# ---------------------------------------------------------------- builds


def steps_timeline(
    rows: Sequence, title: str = "Build steps over time", total_seconds: float | None = None
) -> go.Figure:
    """A Gantt of the build: one bar per step, start to end, green if cached, orange if run.

    Cached steps take milliseconds: the axis spans at least `total_seconds` (the whole build,
    context upload included) and every bar gets a minimum width, so they stay visible.
    """
    rows = list(rows)
    fig = go.Figure()
    timed = [r for r in rows if getattr(r, "started_at", None) is not None]
    if timed and len(timed) == len([r for r in rows if r.status != "skipped"]):
        # BuildKit's own start times: stages that ran side by side overlap on the chart.
        zero = min(r.started_at for r in timed)
        starts = [(r.started_at - zero) if r.started_at is not None else 0.0 for r in rows]
        ends = [s + r.seconds for s, r in zip(starts, rows, strict=True)]
        span = max(max(ends, default=0.0), total_seconds or 0.0, 0.5)
    else:
        span = max(sum(r.seconds for r in rows), total_seconds or 0.0, 0.5)
        start = 0.0
        starts = []
        for r in rows:
            starts.append(start)
            start += r.seconds
    labels = [
        f"{r.stage_name + ' ' if getattr(r, 'started_at', None) and r.stage_name else ''}"
        f"{r.index}. {short(r.instruction, 40)}"
        for r in rows
    ]

    def said(r) -> str:
        if r.status in ("cached", "base"):
            return theme.STATUS_TEXT[r.status]
        return theme.fmt_seconds(r.seconds)

    for status in ("base", "cached", "executed", "running", "failed", "canceled", "skipped"):
        chosen = [i for i, r in enumerate(rows) if r.status == status]
        if not chosen:
            continue
        fig.add_trace(
            go.Bar(
                name=theme.STATUS_TEXT[status],
                orientation="h",
                y=[labels[i] for i in chosen],
                x=[max(rows[i].seconds, span * 0.008) for i in chosen],
                base=[starts[i] for i in chosen],
                marker_color=theme.STATUS_COLORS[status],
                text=[said(rows[i]) for i in chosen],
                textposition="outside",
                cliponaxis=False,
                hovertext=[
                    f"{rows[i].instruction}<br>{theme.fmt_seconds(rows[i].seconds)}" for i in chosen
                ],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    fig.update_yaxes(categoryorder="array", categoryarray=labels, autorange="reversed")
    fig.update_xaxes(title="seconds since the first step started", range=[0, span * 1.12])
    return _layout(fig, title=title, height=110 + 42 * max(len(rows), 1), barmode="overlay")


def stages_timeline(report, title: str = "The stages on BuildKit's clock") -> go.Figure:
    """One row per stage (and one for the steps both built once): when each ran, and where a
    stage waited for another (`COPY --from`), from `stages.analyse`'s StagesReport."""
    fig = go.Figure()
    rows = ([report.shared_span] if report.shared_span else []) + list(report.spans)
    labels = [r.name for r in rows]
    fig.add_trace(
        go.Bar(
            name="running its steps",
            orientation="h",
            y=labels,
            x=[max(r.end - r.start, 0.02) for r in rows],
            base=[r.start for r in rows],
            marker_color=[
                theme.STATUS_COLORS["executed" if r.executed else "cached"] for r in rows
            ],
            text=[f"{r.steps} steps, {theme.fmt_seconds(r.end - r.start)}" for r in rows],
            textposition="inside",
            hovertemplate="%{y}: %{base:.1f} s to %{x:.1f} s later<extra></extra>",
        )
    )
    waits = [w for w in report.waits if w.seconds > 0]
    if waits:
        fig.add_trace(
            go.Bar(
                name="waiting for COPY --from",
                orientation="h",
                y=[w.stage for w in waits],
                x=[w.end - w.start for w in waits],
                base=[w.start for w in waits],
                marker_color=theme.STATUS_COLORS["waiting"],
                marker_pattern_shape="/",
                text=[f"waits {theme.fmt_seconds(w.seconds)}" for w in waits],
                textposition="inside",
                hovertext=[w.instruction for w in waits],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    fig.update_yaxes(categoryorder="array", categoryarray=labels, autorange="reversed")
    fig.update_xaxes(title="seconds since the first step started")
    return _layout(fig, title=title, height=140 + 60 * max(len(rows), 1), barmode="overlay")


# ---------------------------------------------------------------- layers


def layer_kind(layer, is_base: bool, from_stage: bool = False) -> str:
    """Which colour a history layer gets: base, pip install, other RUN, COPY, COPY --from, empty."""
    if is_base:
        return "base image"
    if layer.empty:
        return "empty (metadata)"
    if from_stage:
        return "COPY --from another stage"
    if layer.instruction == "RUN":
        return "pip install (RUN)" if "pip install" in layer.created_by else "other RUN"
    if layer.instruction in ("COPY", "ADD"):
        return "your files (COPY)"
    return "other RUN"


def layers_chart(
    report,
    base_count: int = 0,
    from_stage_ids: Iterable[str] = (),
    title: str | None = None,
) -> go.Figure:
    """One bar per layer of `docker history`, oldest at the top; empty layers shown as such."""
    layers = list(report.layers)
    from_ids = set(from_stage_ids)
    labels = [f"#{layer.index} {short(layer_label(layer), 46)}" for layer in layers]
    kinds = [
        layer_kind(layer, layer.index < base_count, bool(layer.id and layer.id in from_ids))
        for layer in layers
    ]
    biggest = max((layer.size_bytes for layer in layers), default=1) or 1
    fig = go.Figure()
    for kind, color in theme.LAYER_KIND_COLORS.items():
        chosen = [i for i, k in enumerate(kinds) if k == kind]
        if not chosen:
            continue
        empty = kind == "empty (metadata)"
        fig.add_trace(
            go.Bar(
                name=kind,
                orientation="h",
                y=[labels[i] for i in chosen],
                # An empty layer gets a sliver so it is visible, labelled "0 B (empty)".
                x=[(biggest * 0.01 if empty else layers[i].size_bytes) / 1e6 for i in chosen],
                marker={
                    "color": color,
                    "pattern": {"shape": "/" if empty else ""},
                    "line": {"color": theme.BASE if empty else color, "width": 1},
                },
                text=[
                    "0 B (empty)" if empty else theme.fmt_bytes(layers[i].size_bytes)
                    for i in chosen
                ],
                textposition="outside",
                cliponaxis=False,
                hovertext=[layers[i].created_by or layers[i].comment for i in chosen],
                hovertemplate="%{hovertext}<br>%{text}<extra></extra>",
            )
        )
    fig.update_yaxes(categoryorder="array", categoryarray=labels, autorange="reversed")
    fig.update_xaxes(title="MB added by the layer", rangemode="tozero")
    return _layout(
        fig,
        title=title
        or f"Layers of {report.ref} ({theme.fmt_bytes(report.size_bytes)} unpacked, their sum)",
        height=120 + 38 * max(len(layers), 1),
        barmode="overlay",
    )


def stacked_sizes_chart(
    reports: Mapping[str, tuple], title: str = "What each image is made of"
) -> go.Figure:
    """Per image, its bytes split by layer kind. `reports`: tag -> (report, base_count)."""
    tags = list(reports)
    fig = go.Figure()
    for kind, color in theme.LAYER_KIND_COLORS.items():
        if kind == "empty (metadata)":
            continue
        values = []
        for tag in tags:
            report, base_count = reports[tag]
            values.append(
                sum(
                    layer.size_bytes
                    for layer in report.layers
                    if layer_kind(layer, layer.index < base_count) == kind
                )
            )
        if not any(values):
            continue
        fig.add_trace(
            go.Bar(
                name=kind,
                x=tags,
                y=[v / 1e6 for v in values],
                marker_color=color,
                text=[theme.fmt_bytes(v) if v >= 1e6 else "" for v in values],
                textposition="inside",
                hovertemplate="%{x}<br>" + kind + ": %{y:.1f} MB<extra></extra>",
            )
        )
    fig.update_yaxes(title="MB, unpacked layers")
    return _layout(fig, title=title, height=480, barmode="stack")


def sizes_chart(images: Sequence, title: str = "Image sizes: unpacked layers") -> go.Figure:
    """One bar per image tag, its unpacked layers (the same measure on every image store)."""
    names, sizes, colors, hover = [], [], [], []
    for i, image in enumerate(images):
        for tag in image.tags or (image.name,):
            names.append(tag)
            sizes.append(image.size_bytes)
            colors.append(theme.BASE if image.base else theme.IMAGE_COLORS[i % 7])
            hover.append(image.id.removeprefix("sha256:")[:12])
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[s / 1e6 for s in sizes],
            marker_color=colors,
            text=[theme.fmt_bytes(s) for s in sizes],
            textposition="outside",
            cliponaxis=False,
            hovertext=hover,
            hovertemplate="%{x} (%{hovertext})<br>%{y:.0f} MB<extra></extra>",
        )
    )
    fig.update_yaxes(title="MB, unpacked layers (docker history)", rangemode="tozero")
    return _layout(fig, title=title, height=440, showlegend=False)


def disk_chart(usage, title: str = "docker system df") -> go.Figure:
    rows = list(usage.rows)
    kinds = [r.kind for r in rows]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            name="in use",
            x=kinds,
            y=[(r.size_bytes - r.reclaimable_bytes) / 1e6 for r in rows],
            marker_color=theme.RUNNING,
        )
    )
    fig.add_trace(
        go.Bar(
            name="reclaimable",
            x=kinds,
            y=[r.reclaimable_bytes / 1e6 for r in rows],
            marker_color=theme.EMPTY,
            text=[theme.fmt_bytes(r.size_bytes) for r in rows],
            textposition="outside",
            cliponaxis=False,
        )
    )
    fig.update_yaxes(title="MB", rangemode="tozero")
    return _layout(fig, title=title, height=400, barmode="stack")


# ---------------------------------------------------------------- rebuilds


def rebuild_comparison(results: Mapping[str, object], title: str) -> go.Figure:
    """Rebuild time per Dockerfile variant, split into cached and executed seconds."""
    names = list(results)
    fig = go.Figure()
    for status in ("cached", "executed"):
        values = []
        for name in names:
            steps = results[name].real_steps
            values.append(
                sum(s.seconds for s in steps if (s.status == "executed") == (status == "executed"))
            )
        fig.add_trace(
            go.Bar(
                name=f"{theme.STATUS_TEXT[status]} steps",
                y=names,
                x=values,
                orientation="h",
                marker_color=theme.STATUS_COLORS[status],
                text=[theme.fmt_seconds(v) for v in values],
                textposition="inside",
            )
        )
    fig.update_xaxes(title="seconds", rangemode="tozero")
    return _layout(fig, title=title, height=300, barmode="stack")


# ---------------------------------------------------------------- Compose


def compose_timeline(
    events: Sequence, states: Mapping[str, object], now: datetime | None = None
) -> go.Figure:
    """Each service's life as a bar (started to exited), with what it did marked on it."""
    from dashboard.engine.ops.compose import EventKind

    starts = [e.at for e in events if e.kind == EventKind.STARTED]
    t0 = min(starts) if starts else (min((e.at for e in events), default=now) or now)
    services = sorted({*states, *(e.service for e in events)}, key=lambda s: s != "trainer")
    fig = go.Figure()
    if t0 is None:
        return _layout(fig, title="Timeline (nothing yet)", height=260)

    def secs(at: datetime) -> float:
        return (at - t0).total_seconds()

    end_all = max([secs(e.at) for e in events] + [0.0])
    if now is not None:
        end_all = max(end_all, secs(now))
    for service in services:
        started = next(
            (e for e in events if e.service == service and e.kind == EventKind.STARTED), None
        )
        exited = next(
            (e for e in events if e.service == service and e.kind == EventKind.EXITED), None
        )
        if started is None:
            continue
        begin = secs(started.at)
        end = secs(exited.at) if exited else end_all
        fig.add_trace(
            go.Bar(
                name=f"{service} {'ran' if exited else 'running'}",
                y=[service],
                x=[max(end - begin, 0.05)],
                base=[begin],
                orientation="h",
                marker_color=theme.SERVICE_COLORS.get(service, theme.RUNNING),
                opacity=0.35,
                showlegend=False,
                hovertemplate=f"{service}: %{{base:.1f}} s to %{{x:.1f}} s<extra></extra>",
            )
        )
    symbols = {
        EventKind.STARTED: "circle",
        EventKind.WAITING: "hourglass",
        EventKind.MODEL_SAVED: "star",
        EventKind.MODEL_FILE: "diamond",
        EventKind.MODEL_LOADED: "triangle-right",
        EventKind.PREDICTIONS: "square",
        EventKind.EXITED: "x",
    }
    for kind, symbol in symbols.items():
        chosen = [e for e in events if e.kind == kind]
        if not chosen:
            continue
        fig.add_trace(
            go.Scatter(
                name=str(kind),
                x=[secs(e.at) for e in chosen],
                y=[e.service for e in chosen],
                mode="markers",
                marker={"symbol": symbol, "size": 20, "line": {"width": 1, "color": "#333"}},
                text=[f"{kind}" + (f" ×{e.count}" if e.count > 1 else "") for e in chosen],
                hovertext=[e.detail for e in chosen],
                hovertemplate="%{text} at %{x:.1f} s<br>%{hovertext}<extra></extra>",
            )
        )
    fig.update_xaxes(
        title="seconds after the first container started", range=[-0.03 * end_all, end_all * 1.05]
    )
    fig.update_yaxes(categoryorder="array", categoryarray=services[::-1])
    _layout(fig, title="What happened when", height=380, barmode="overlay")
    fig.update_layout(
        legend={"orientation": "h", "yanchor": "top", "y": -0.3, "xanchor": "left", "x": 0}
    )
    return fig


def timeline_rows(events: Sequence) -> list[dict]:
    """The timeline as rows for a table: seconds after the first start, service, what, detail."""
    from dashboard.engine.ops.compose import EventKind

    starts = [e.at for e in events if e.kind == EventKind.STARTED]
    t0 = min(starts) if starts else min((e.at for e in events), default=None)
    return [
        {
            "at (s)": round((e.at - t0).total_seconds(), 1) if t0 else 0.0,
            "service": e.service,
            "what": str(e.kind) + (f" (×{e.count})" if e.count > 1 else ""),
            "detail": e.detail,
        }
        for e in events
    ]


# ---------------------------------------------------------------- theory


@functools.cache
def vm_vs_containers() -> go.Figure:
    """Two stacks: VMs (a guest OS each) next to containers (sharing the host kernel).

    Built once per process and shared: it never changes, and Plotly's add_shape/add_annotation
    take about 0.2 s for it, which every rerun of the page would pay. Callers must not mutate it.
    """
    fig = go.Figure()

    def box(x0, x1, y0, y1, text, color, font_color="white"):
        fig.add_shape(
            type="rect", x0=x0, x1=x1, y0=y0, y1=y1, fillcolor=color, line={"color": "white"}
        )
        fig.add_annotation(
            x=(x0 + x1) / 2,
            y=(y0 + y1) / 2,
            text=text,
            showarrow=False,
            font={"color": font_color, "size": 14},
        )

    grey, blue, green = theme.BASE, theme.RUNNING, theme.CACHED
    orange, purple = "#e67e22", "#9467bd"
    apps = ["web site", "database", "ML model"]
    # Left: virtual machines.
    box(0, 9, 0, 1, "hardware", "#4d5660")
    box(0, 9, 1, 2, "host operating system", grey)
    box(0, 9, 2, 3, "hypervisor", purple)
    for i, app in enumerate(apps):
        x0 = i * 3
        box(x0 + 0.1, x0 + 2.9, 3, 4.4, "guest OS<br>+ kernel", orange)
        box(x0 + 0.1, x0 + 2.9, 4.4, 5.2, "libraries", grey)
        box(x0 + 0.1, x0 + 2.9, 5.2, 6, app, blue)
    # Right: containers.
    box(11, 20, 0, 1, "hardware", "#4d5660")
    box(11, 20, 1, 2, "host OS (one shared kernel)", grey)
    box(11, 20, 2, 3, "Docker Engine (the daemon)", green)
    for i, app in enumerate(apps):
        x0 = 11 + i * 3
        box(x0 + 0.1, x0 + 2.9, 3, 3.8, "libraries", grey)
        box(x0 + 0.1, x0 + 2.9, 3.8, 4.6, app, blue)
    fig.add_annotation(x=4.5, y=6.6, text="<b>Virtual machines</b>", showarrow=False)
    fig.add_annotation(x=15.5, y=6.6, text="<b>Containers</b>", showarrow=False)
    fig.update_xaxes(visible=False, range=[-0.5, 20.5])
    fig.update_yaxes(visible=False, range=[-0.2, 7])
    return _layout(fig, title="", height=380, showlegend=False)
