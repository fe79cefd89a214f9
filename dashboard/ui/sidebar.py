"""The sidebar on every page: daemon status, Docker and Compose versions, GPU, the base image,
what is running, and the presentation-mode switch. Reads only cached facts (no Docker call on a
plain rerun).
"""

from __future__ import annotations

import streamlit as st

from dashboard.engine.base.connection import API_VERSION
from dashboard.ui import classroom, guide, state, theme
from dashboard.ui import text as T
from dashboard.work.facts import DaemonFacts


def render(facts: DaemonFacts) -> None:
    from dashboard.engine.base import labels

    with st.sidebar:
        st.toggle(
            T.PRESENTATION,
            key="presentation",
            help="Bigger type and fewer controls, for sharing your screen with a class.",
        )
        if facts.ok:
            st.success(f"Docker daemon: running ({facts.engine_version})", icon=":material/check:")
        elif facts.reason == API_VERSION:
            st.error("Docker daemon: refuses our API version", icon=":material/error:")
        else:
            st.error("Docker daemon: not reachable", icon=":material/error:")
        presenting = state.presenting()
        lines = [] if presenting else [f"**Endpoint** `{facts.endpoint}` ({facts.source})"]
        if facts.ok and presenting:  # one short line, read from the back of the room
            lines.append(
                f"Docker {facts.engine_version.split('+')[0]} · Compose "
                f"{facts.compose_version or 'missing'} · GPU: "
                + ("yes" if facts.gpu_available else "no (CPU)")
                + (" · offline stand-in base image" if facts.base_standin else "")
            )
        elif facts.ok:
            lines += [
                f"**Docker Engine** {facts.engine_version} · API {facts.api_version} · "
                f"{facts.os_arch}",
                "**Compose** "
                + (f"v{facts.compose_version}" if facts.compose_version else "missing"),
                "**GPU** "
                + ("available (NVIDIA runtime)" if facts.gpu_available else "none: CPU only"),
                f"**Base image** {facts.base_image}: "
                + (
                    "offline stand-in base image"
                    if facts.base_standin
                    else ("pulled" if facts.base_present else "missing")
                ),
                f"**Machine** {facts.cpus} CPUs · {theme.fmt_bytes(facts.memory_bytes)} RAM · "
                f"{facts.images} images · {facts.containers} containers "
                f"({facts.containers_running} running)",
            ]
        if not presenting and not state.classroom():
            lines.append(f"**Session** `{labels.current_session()}`")
        st.markdown("  \n".join(lines))
        if state.classroom():
            classroom.sidebar_block()
        for warning in facts.warnings:
            st.warning(warning)
        if facts.compose_error and not presenting:
            st.caption(f"Compose: {facts.compose_error}")
        running = state.my_running()
        if running:
            st.markdown("**Running now**")
            for snap in running:
                st.caption(f"⏳ {snap.label} ({theme.fmt_seconds(snap.elapsed)})")
        guide.history_notice()
        if st.button(T.REFRESH_STATUS, key="refresh-status", icon=":material/refresh:"):
            state.refresh_all()
            st.rerun()
