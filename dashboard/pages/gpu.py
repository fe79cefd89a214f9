"""GPUs: can this daemon give a container a GPU, what the NVIDIA Container Toolkit does, and a
train/predict run that asks for a GPU and falls back to the CPU when there is none."""

import streamlit as st

from dashboard.engine.catalog import labs
from dashboard.engine.ops import runs
from dashboard.engine.ops.gpu import gpu_request
from dashboard.ui import common, diagrams, shell, state, theme, views
from dashboard.ui import text as T
from dashboard.work import tasks
from dashboard.work.jobs import JobKey

IMAGE = labs.get("iris").image
RUN_KEY = JobKey("gpu-run", IMAGE)
PROBE_KEY = JobKey("gpu-probe")


def render() -> None:
    common.header(
        T.TITLE_GPU,
        "A container sees no GPU by default. With `--gpus all`, Docker asks the **NVIDIA "
        "Container Toolkit** to bring the host's GPUs and driver into the container. The image "
        "carries the CUDA libraries its framework needs (each project its own version); the host "
        "needs only the NVIDIA driver.",
    )

    facts = state.facts()
    st.header("1. Can this daemon give containers a GPU?")
    cols = st.columns(3)
    cols[0].metric("GPU for containers", "yes" if facts.gpu_available else "no")
    cols[1].metric("NVIDIA runtime", "installed" if facts.nvidia_runtime else "not installed")
    cols[2].metric("Runtimes", len(facts.runtimes))
    (st.success if facts.gpu_available else st.info)(facts.gpu_reason)
    st.caption("Runtimes the daemon knows: " + (", ".join(f"`{r}`" for r in facts.runtimes) or "-"))
    common.command("docker info --format '{{json .Runtimes}}'", "Where this comes from:")
    if facts.nvidia_runtime:
        if st.button(T.GPU_PROBE, key="gpu-probe", icon=":material/memory:"):
            state.start(PROBE_KEY, tasks.gpu_probe(), "GPU probe")

        def probe_panel(snap) -> None:
            if snap is None or snap.running:
                if snap is not None:
                    st.progress(0.0, text="docker run --gpus all ... nvidia-smi -L")
                return
            if common.job_failed(snap):
                return
            status = snap.result
            (st.success if status.available else st.error)(status.reason)
            for device in status.devices:
                st.code(device, language="text")

        common.live(PROBE_KEY, probe_panel)

    st.header("2. How a container reaches the GPU")
    st.graphviz_chart(diagrams.gpu_stack())
    st.markdown(
        "- Install on the host: the **NVIDIA driver** and the **NVIDIA Container Toolkit**, then "
        "`sudo nvidia-ctk runtime configure --runtime=docker` and restart Docker.\n"
        "- In the image: a CUDA-enabled framework (e.g. a `pytorch/pytorch:...-cuda...` base).\n"
        "- Docker Desktop on Windows (WSL 2) passes NVIDIA GPUs through; macOS has no NVIDIA GPUs."
    )
    common.command(
        "sudo apt-get install -y nvidia-container-toolkit\n"
        "sudo nvidia-ctk runtime configure --runtime=docker\n"
        "sudo systemctl restart docker\n"
        "docker run --rm --gpus all nvidia/cuda:12.4.1-base-ubuntu22.04 nvidia-smi",
        "Setting it up on a Linux host with an NVIDIA GPU:",
    )

    st.header("3. Train and predict, on a GPU when there is one")
    st.markdown(
        f"Runs `{IMAGE}` (Lesson 1) asking for every GPU. Without a GPU runtime the daemon "
        "refuses to start the container; the dashboard removes it and starts the same command on "
        "the CPU. (scikit-learn itself trains on the CPU either way: the point is the request.)"
    )
    common.command(
        runs.docker_run_command(IMAGE, device_requests=[r for r in gpu_request()], remove=True)
        + "\n# and if that fails to start:\n"
        + runs.docker_run_command(IMAGE, remove=True),
        "This button runs:",
    )
    if st.button(T.GPU_RUN, key="gpu-run", type="primary", icon=":material/rocket_launch:"):
        state.start(RUN_KEY, tasks.gpu_run(IMAGE), "GPU run")

    def run_panel(snap) -> None:
        outcome = common.outcome(snap, idle="Not run yet.")
        if outcome is None:
            return
        run = outcome.run
        cols = st.columns(3)
        cols[0].metric("Ran on", "GPU" if run.device == "gpu" else "CPU")
        cols[1].metric("Exit code", "-" if run.exit_code is None else run.exit_code)
        cols[2].metric("Took", theme.fmt_seconds(run.seconds))
        if run.fell_back:
            st.warning(
                "CPU fallback: the GPU request failed, so the same container ran on the CPU. "
                f"Docker said: {run.gpu_error}",
                icon=":material/swap_horiz:",
            )
        elif run.device == "gpu":
            st.success("The container ran with the GPUs attached.", icon=":material/check_circle:")
        views.parsed_output(outcome.parsed, key="gpu")
        with st.expander("What the container printed"):
            st.code(run.logs or "(nothing)", language="text")

    common.live(RUN_KEY, run_panel)


shell.run_page(render, __file__)
