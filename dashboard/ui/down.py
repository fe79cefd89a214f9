"""What the "Docker is not reachable" page shows: why, and how to start Docker on each OS.

Also shown in place of a lesson that needs the daemon while it is down, and when the daemon
answers but refuses the API version we ask for (then: how to see and fix the versions).
"""

import streamlit as st

from dashboard.engine.base.connection import API_VERSION
from dashboard.ui import state
from dashboard.ui import text as T


def render() -> None:
    facts = state.facts()

    st.title(T.TITLE_DOWN)
    st.error(facts.message or "The Docker daemon did not answer.", icon=":material/error:")
    until = (
        "it takes the API version the dashboard speaks"
        if facts.reason == API_VERSION
        else "it answers"
    )
    st.markdown(
        f"The lessons drive a real Docker daemon, so they wait until {until}. "
        f"The dashboard tried **`{facts.endpoint}`** (from {facts.source})."
    )
    if facts.hint:
        st.info(facts.hint, icon=":material/build:")

    if st.button(T.RETRY, key="retry-daemon", type="primary", icon=":material/refresh:"):
        state.refresh_all()
        st.rerun()

    if facts.reason == API_VERSION:
        _versions_help()
        return

    st.subheader("How to start Docker")
    linux, mac, windows, elsewhere = st.tabs(
        ["Linux", "macOS", "Windows (WSL 2)", "Another daemon"]
    )
    with linux:
        st.markdown(
            "Start the Docker Engine service, then check that it answers. If `docker info` says "
            "*permission denied*, add yourself to the `docker` group and log in again."
        )
        st.code(
            "sudo systemctl start docker        # or, without systemd: sudo dockerd &\n"
            "docker info                        # answers when the daemon runs\n"
            "sudo usermod -aG docker $USER      # then log out and in again",
            language="bash",
        )
    with mac:
        st.markdown(
            "Open **Docker Desktop** (Applications) and wait until its whale icon says *running*. "
            "On Apple silicon, images are arm64 by default; an x86-64 image runs with "
            "`--platform linux/amd64` (slower, emulated)."
        )
        st.code("open -a Docker\ndocker info", language="bash")
    with windows:
        st.markdown(
            "Install **WSL 2** and **Docker Desktop**, then in Docker Desktop enable *Settings > "
            "Resources > WSL integration* for your distribution. Run the dashboard inside WSL."
        )
        st.code(
            "wsl --install          # in PowerShell, once\ndocker info            # inside WSL",
            "bash",
        )
    with elsewhere:
        st.markdown(
            "The dashboard uses `DOCKER_HOST` when it is set, otherwise the current Docker "
            "context. Unset a stale `DOCKER_HOST`, or point it at the daemon you mean."
        )
        st.code(
            "echo $DOCKER_HOST\nunset DOCKER_HOST\ndocker context ls\ndocker context use default",
            language="bash",
        )
    st.caption(
        "From a terminal, `python -m dashboard doctor` checks the daemon, Compose, the base image "
        "and the GPU, and prints the fix for each missing piece."
    )


def _versions_help() -> None:
    st.subheader("Check the API versions")
    st.markdown(
        "Every Docker client and daemon agree on an API version unless `DOCKER_API_VERSION` "
        "pins one. Current engines (Docker 29) refuse versions older than 1.44, which Docker "
        "20.10's clients (Debian 12's `docker.io`) cannot speak."
    )
    st.code(
        "docker version                # Client: API version; Server: minimum API version\n"
        "echo $DOCKER_API_VERSION      # a pin the dashboard and the docker CLI both use\n"
        "unset DOCKER_API_VERSION      # then restart the dashboard\n"
        "which -a docker               # the first one on PATH is the one you type",
        language="bash",
    )
