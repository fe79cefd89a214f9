"""Why Docker: virtual machines vs containers, images vs containers, the daemon and registries."""

import streamlit as st

from dashboard.ui import charts, common, diagrams, exports, figures, shell, state
from dashboard.ui import text as T


def render() -> None:
    common.header(
        T.TITLE_WHY,
        "You already train, evaluate and predict with scikit-learn. This course is about "
        "**packaging that work** so it runs the same on your laptop, a colleague's machine, a "
        "server and a GPU cluster.",
    )

    st.header("Virtual machines vs containers")
    left, right = st.columns([3, 2])
    with left:
        exports.chart(figures.cached(charts.vm_vs_containers), theme=None, key="vm-vs-containers")
    with right:
        st.markdown(
            "- **Before containers**, a hypervisor ran one virtual machine per application: "
            "the web site in one VM, the database in another, each with a **full guest OS and "
            "its own kernel**. Heavy: gigabytes each, minutes to boot.\n"
            "- **A container** is a process on the host that **shares the host's kernel**. It "
            "brings its own files and libraries (the image), nothing more: megabytes, a second to "
            "start. It is not a VM.\n"
            "- The **Docker Engine** (the daemon, `dockerd`) runs on the host and does the work; "
            "the `docker` command, and this dashboard, only ask it over an API."
        )

    st.header("Dockerfile, image, container, registry")
    st.graphviz_chart(diagrams.docker_flow())
    cols = st.columns(4)
    cols[0].markdown(
        "**Dockerfile**: the instructions (`FROM`, `COPY`, `RUN`, `CMD`...). Plain text in git."
    )
    cols[1].markdown(
        "**Image**: what `docker build` makes: read-only layers plus a default command. "
        "Like a class."
    )
    cols[2].markdown(
        "**Container**: what `docker run` starts from an image: a process with a writable "
        "layer on top. Like an object; each run makes a new one."
    )
    cols[3].markdown(
        "**Registry**: where images are shared: `docker pull` / `docker push` (Docker Hub, or "
        "a company's private registry). **Volumes** share folders with containers."
    )

    st.header("What it solves")
    st.markdown(
        "- **Dependency hell**: NumPy 1.x on your laptop, 2.x in production. The image pins both "
        "Python and every library.\n"
        "- **Works on my machine**: the same image runs everywhere a Docker Engine runs.\n"
        "- **Scaling**: start the same image once or a hundred times.\n"
        "- **One environment for every team**: front-end, back-end, ML and analytics ship the same "
        "way. Unlike a conda environment, a container isolates the whole system: another CUDA "
        "version per project without touching the host.\n"
        "- Alternatives: **Podman** (no daemon), **containerd** (what Kubernetes runs). "
        "On Windows, Docker runs in **WSL 2**; on a Mac with Apple silicon, arm64 vs x86-64 "
        "images can clash."
    )

    st.header("This machine")
    facts = state.facts()
    if facts.ok:
        cols = st.columns(4)
        cols[0].metric("Docker Engine", facts.engine_version.split("+")[0])
        cols[1].metric("Images", facts.images)
        cols[2].metric("Containers", facts.containers)
        cols[3].metric("Running", facts.containers_running)
        if facts.base_standin:
            st.info(
                f"No registry answers here, so `{facts.base_image}` is an **offline stand-in base "
                "image** built from Debian packages (Python 3.11 and pip): the lab Dockerfiles "
                "stay what you would write, and builds reach a local package mirror over the host "
                "network.",
                icon=":material/cloud_off:",
            )
    else:
        st.warning("The Docker daemon is not reachable right now: see the first page for the fix.")
    common.command("docker version\ndocker info", "Ask the daemon who it is:")
    common.command(
        "docker pull python:3.11-slim\ndocker push registry.example.com/team/iris-model:1.0",
        "Share images through a registry:",
    )


shell.run_page(render, __file__)
