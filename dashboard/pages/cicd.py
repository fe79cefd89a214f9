"""CI/CD: the lecture's pipeline as a diagram, and this project's own CI as the worked example."""

import streamlit as st

from dashboard.engine.base.paths import REPO_ROOT
from dashboard.ui import common, diagrams, shell
from dashboard.ui import text as T

CI_SCRIPT = REPO_ROOT / ".ci" / "run"


def render() -> None:
    common.header(
        T.TITLE_CICD,
        "A commit to GitHub or GitLab triggers a **pipeline**: `docker build` and the tests "
        "(continuous **integration**), then the image is pushed to a registry and run on the "
        "servers (continuous **delivery / deployment**). In ML the loop goes on: the model is "
        "monitored, new data arrives, and it is retrained (e.g. a credit-scoring model, weekly, "
        "on new clients).",
    )

    st.header("1. The pipeline")
    loop, steps_col = st.columns([3, 2])
    with loop:
        st.graphviz_chart(diagrams.ml_pipeline())
    with steps_col:
        st.markdown(
            "- **Integration**: every commit is built into an image and tested *inside* it.\n"
            "- **Delivery**: the tested image goes to a registry, tagged with the commit.\n"
            "- **Deployment**: servers pull that exact image and run it.\n"
            "- **ML**: monitoring and new data trigger retraining, which produces the next "
            "model version, and the loop starts again."
        )
    cols = st.columns(3)
    with cols[0]:
        common.command(
            "docker build -t registry.example.com/team/iris-model:$GIT_SHA .",
            "build (tagged with the commit):",
        )
    with cols[1]:
        common.command(
            "docker run --rm registry.example.com/team/iris-model:$GIT_SHA python -m pytest",
            "test inside the image:",
        )
    with cols[2]:
        common.command(
            "docker push registry.example.com/team/iris-model:$GIT_SHA\n"
            "# on each server:\n"
            "docker pull registry.example.com/team/iris-model:$GIT_SHA\n"
            "docker run -d --name iris registry.example.com/team/iris-model:$GIT_SHA",
            "push, then deploy:",
        )

    st.header("2. This project's CI, step by step")
    script = diagrams.read_ci_script(CI_SCRIPT)
    steps = [s for s in diagrams.ci_steps(script) if s != "done"]
    if steps:
        st.graphviz_chart(diagrams.ci_flow(steps))
    st.markdown(
        "The dashboard you are using is tested the same way, on a fresh machine with no Docker "
        "and no registry. Each step of `.ci/run`, as drawn above:\n"
        + "\n".join(f"{i}. {_step_note(name)}" for i, name in enumerate(steps, start=1))
    )
    if script:
        with st.expander(".ci/run", expanded=False):
            st.code(script, language="bash")
    common.command("./dev test      # the same tests on your machine", "Run it yourself:")


# What each step of .ci/run does, by the start of its name; a step not listed is shown by name.
STEP_NOTES = {
    "system packages": "`docker.io`, `debootstrap`, `chromium`, ... from Debian",
    "docker daemon": "start `dockerd`, wait until `docker info` answers",
    "python packages": "a virtual environment with requirements.txt",
    "docs": "this project's documentation site, built with warnings as errors: a broken link "
    "fails CI",
    "the terminal's front end": "the browser terminal's JavaScript from its npm lock file",
    "the classroom hub's proxy": "JupyterHub's configurable-http-proxy from its npm lock file",
    "a class's lab machines": "three Docker Engines in network namespaces form a Swarm, each "
    "with the seat image, for the classroom hub's tests",
    "compose v2": "link the Compose binary as a Docker CLI plugin",
    "offline classroom mode": "a stand-in `python:3.11-slim` and a local wheelhouse",
    "engine matrix": "Docker Engine 26 beside the machine's own, with overlay2 and with the "
    "containerd image store",
    "tests": "`pytest` against the real daemon (builds, runs, Compose, this app in a headless "
    "browser); a test that needs Docker fails, never skips, in CI",
}


def _step_note(name: str) -> str:
    note = next((text for start, text in STEP_NOTES.items() if name.startswith(start)), "")
    return f"**{name}**" + (f": {note}" if note else "")


shell.run_page(render, __file__)
