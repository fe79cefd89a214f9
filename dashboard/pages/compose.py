"""Lesson 4: Docker Compose. A trainer and a predictor share a volume; the predictor waits for the
model file, then predicts. Both logs live, side by side, and a timeline of what happened when."""

import os
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from dashboard import settings
from dashboard.engine.catalog import labs
from dashboard.ui import charts, common, exports, figures, guide, shell, state, theme, views
from dashboard.ui import text as T
from dashboard.work import tasks, workspace
from dashboard.work.jobs import JobKey

LAB = labs.get("wine")
BUILD_KEY = JobKey("compose-build", LAB.name)
UP_KEY = JobKey("compose-up", LAB.name)
DOWN_KEY = JobKey("compose-down", LAB.name)
VOLUME = "Named volume (compose.yaml)"
FOLDER = "Host folder, as in the lecture (+ compose.bind.yaml)"
# (what, named volume `shared:/shared`, host folder `./shared:/shared`)
MOUNT_CHOICES = (
    ("where it lives", "Docker's own storage", "a folder you choose, beside compose.yaml"),
    (
        "Linux",
        "files owned by the container's user, out of your way",
        "files owned by the container's user on your disk: root here, so `sudo rm` "
        '(or `user: "${UID}:${GID}"`)',
    ),
    (
        "Docker Desktop (macOS, Windows)",
        "inside Docker's VM: fast",
        "shared into the VM by Docker's file sharing: slower for many small files; yours",
    ),
    (
        "WSL 2",
        "inside Docker's VM: fast",
        "fast from the Linux side (`~/...`), slow from `/mnt/c/...` (the Windows disk)",
    ),
    ("removed by", "`docker compose down -v`", "you: Docker never deletes a host folder"),
    ("dashboard in a container", "works", "no: the path is looked up on the Docker host"),
)


def render() -> None:
    common.header(
        T.TITLE_COMPOSE,
        "Compose conducts several containers from one file. Here `train/` fits a random forest on "
        "the wine data set and saves it to the shared volume; `predict/` checks the volume every "
        "few seconds until the model file appears, then loads it and predicts. "
        "`docker compose up` starts both at once.",
    )
    guide.progress("compose")

    files = st.columns([3, 2])
    with files[0]:
        common.show_file(LAB.path / "compose.yaml", "yaml", "labs/wine/compose.yaml", expanded=True)
        guide.lab_hints(LAB.name)
    with files[1]:
        common.show_file(LAB.path / "train" / "train.py", "python", "train/train.py")
        common.show_file(LAB.path / "train" / "Dockerfile", "dockerfile", "train/Dockerfile")
        common.show_file(LAB.path / "predict" / "predict.py", "python", "predict/predict.py")
        common.show_file(LAB.path / "predict" / "Dockerfile", "dockerfile", "predict/Dockerfile")
        st.markdown(
            "- `volumes: - shared:/shared`: a named volume on the left, the path in the container "
            "on the right (the lecture bind-mounts a host folder, `./shared:/shared`).\n"
            "- Images are named after the project plus the service: `wine-trainer`, "
            "`wine-predictor`."
        )

    # ---------------------------------------------------------------- volume or folder
    bind = (
        st.segmented_control(
            "Where the model file goes",
            [VOLUME, FOLDER],
            default=VOLUME,
            key="wine-mount",
            help="The lecture bind-mounted a host folder; compose.yaml uses a named volume.",
        )
        == FOLDER
    )
    in_container = settings.in_container()
    if bind:
        common.show_file(
            LAB.path / tasks.BIND_FILE, "yaml", f"labs/wine/{tasks.BIND_FILE}", expanded=True
        )
        st.caption(
            f"Run from a working copy of labs/wine at `{workspace.copy_path(LAB.name)}`: the "
            "trainer writes the model into its `shared/` folder, on this machine's disk."
        )
        if in_container:
            st.warning(
                "The dashboard runs in a container here: a bind mount's `./shared` would be "
                "looked up on the Docker host, not in this container. Use the named volume, or "
                "run the dashboard with `./dev start` to try the host folder.",
                icon=":material/folder_off:",
            )
    with st.expander("Named volume or host folder: what each means"):
        st.table(
            pd.DataFrame(
                [row[1:] for row in MOUNT_CHOICES],
                index=[row[0] for row in MOUNT_CHOICES],
                columns=["named volume `shared:/shared`", "host folder `./shared:/shared`"],
            )
        )

    def _lecture_timings() -> None:
        st.session_state["train-delay"] = 20
        st.session_state["poll-seconds"] = 15

    st.button(
        "The lecture's timings (training 20 s later, a check every 15 s)",
        key="lecture-timings",
        on_click=_lecture_timings,
        icon=":material/school:",
    )
    knobs = st.columns(2)
    delay = knobs[0].slider(
        "Trainer delay before training (TRAIN_DELAY_SECONDS)",
        0,
        30,
        8,
        key="train-delay",
        help="The lecturer added a sleep to the trainer to make the wait visible.",
    )
    poll = knobs[1].slider(
        "Predictor checks the volume every (POLL_SECONDS)",
        1,
        15,
        3,
        key="poll-seconds",
        help="The lecture's predictor checks every 15 seconds.",
    )
    env = {"POLL_SECONDS": str(poll), "TRAIN_DELAY_SECONDS": str(delay)}
    disabled = bind and in_container
    project = tasks.compose_project(state.client(), env, bind=bind and not in_container)

    # ---------------------------------------------------------------- build
    st.header("1. Build both images")
    common.command(project.build_command().display, "This button runs:")
    if st.button(
        T.COMPOSE_BUILD, key="compose-build", icon=":material/construction:", disabled=disabled
    ):
        state.start(BUILD_KEY, tasks.compose_build(env, bind=bind), "docker compose build")

    def build_panel(snap) -> None:
        if snap is None:
            st.caption("`docker compose up` also builds missing images, so this step is optional.")
            return
        rows = snap.state.get("steps", ())
        if snap.running:
            common.queue_notice(snap)
            st.progress(snap.progress or 0.0, text=snap.detail)
            common.live_log(snap.lines()[-40:], height=260)
            views.steps_table(rows, stages=True)
            return
        if common.job_failed(snap):
            common.live_log(snap.lines()[-40:], height=260)
            views.steps_table(rows, stages=True)
            return
        build = snap.state.get("build")
        cached = sum(1 for r in rows if r.cached)
        st.success(
            f"Compose built both images in {theme.fmt_seconds(snap.result.seconds)} with "
            f"BuildKit: {len(rows)} steps over both services, {cached} from the cache.",
            icon=":material/check_circle:",
        )
        if build is not None:
            views.builder_line(build)
        st.caption(
            "Each service is built from its own folder and Dockerfile; the Stage column is the "
            "service. BuildKit builds both at the same time, and a step both need with the same "
            "inputs (here `FROM`, `WORKDIR`, the same `requirements.txt` and its `pip install`) "
            "runs once for both."
        )
        views.steps_table(rows, stages=True)
        exports.chart(
            figures.cached(
                charts.steps_timeline, rows, "docker compose build: both services' steps"
            ),
            theme=None,
            key="compose-build-timeline",
        )
        if not state.presenting():
            with st.expander("Build output"):
                st.code("\n".join(snap.lines()), language="text")

    common.live(BUILD_KEY, build_panel)

    # ---------------------------------------------------------------- up
    st.header("2. Start the pair and watch")
    common.command(
        project.up_command().display, "This button runs (after `down -v` of any earlier run):"
    )
    buttons = st.container(horizontal=True)
    if buttons.button(
        T.COMPOSE_UP,
        key="compose-up",
        type="primary",
        icon=":material/play_arrow:",
        disabled=disabled,
    ):
        state.start(
            UP_KEY,
            tasks.compose_up(env, timeout=LAB.run_timeout, bind=bind),
            "docker compose up" + (" (host folder)" if bind else ""),
        )
    if buttons.button(T.COMPOSE_DOWN, key="compose-down", icon=":material/stop:"):
        state.start(DOWN_KEY, tasks.compose_down(bind=bind), "docker compose down")
    common.command(
        project.down_display(),
        "The stop button runs (and removes the volume an earlier named-volume run left):"
        if project.extra_files
        else "The stop button runs:",
    )

    def _log_column(service: str, lines) -> None:
        color = theme.SERVICE_COLORS.get(service, theme.RUNNING)
        st.markdown(f"<h4 style='color:{color}'>{service}</h4>", unsafe_allow_html=True)
        text = [f"{line.at.strftime('%H:%M:%S')}  {line.text}" for line in lines]
        common.live_log(text[-200:], height=300, empty="(no output yet)")

    def up_panel(snap) -> None:
        if snap is None:
            st.caption("Not started from this dashboard yet.")
            return
        if snap.status == "failed":
            common.job_failed(snap)
            return
        if snap.status == "cancelled":
            st.warning("Cancelled: the pair was stopped before it finished.")
        data = vars(snap.result) if snap.finished and snap.result else snap.state
        states = data.get("states") or {}
        logs = data.get("logs") or {}
        events = data.get("events") or ()
        files = data.get("files") or ()
        if snap.running:
            st.progress(0.0, text=snap.detail or "docker compose up -d")
            common.cancel_button(snap)
        services = ["trainer", "predictor"] + sorted(set(states) - {"trainer", "predictor"})
        # Once the run is over, a container that no longer exists was removed (`docker compose
        # down`, the stop button or a terminal): say so instead of its last state.
        present = (
            {c.id for c in state.lab_containers(LAB.name)} if snap.finished and states else set()
        )
        cols = st.columns(len(services))
        for col, service in zip(cols, services, strict=True):
            s = states.get(service)
            label = (
                "-"
                if s is None
                else s.status + (f" (exit {s.exit_code})" if s.exit_code is not None else "")
            )
            if snap.finished and s is not None and s.container_id not in present:
                col.metric(service, "removed")
                col.caption(f"{label}, then removed by `docker compose down`")
            else:
                col.metric(service, label)
        log_cols = st.columns(2)
        for col, service in zip(log_cols, ("trainer", "predictor"), strict=True):
            with col:
                _log_column(service, logs.get(service, ()))
        if events:
            now = None if snap.finished else datetime.now(UTC)
            exports.chart(
                charts.compose_timeline(events, states, now),
                theme=None,
                key=f"timeline-{snap.number}",
            )
            st.dataframe(
                pd.DataFrame.from_records(charts.timeline_rows(events)),
                hide_index=True,
                key=f"events-{snap.number}",
            )
        on_host = any(f.uid is not None for f in files) or "(host folder)" in snap.label
        st.subheader("The shared folder on this machine" if on_host else "The shared volume")
        if files:
            st.dataframe(
                pd.DataFrame.from_records(
                    [
                        {
                            "file": f.path,
                            "size": theme.fmt_bytes(f.size_bytes),
                            "modified": f.modified.strftime("%H:%M:%S"),
                        }
                        | ({"owner uid": f.uid} if f.uid is not None else {})
                        for f in files
                    ]
                ),
                hide_index=True,
                key=f"volume-{snap.number}",
            )
            mine = getattr(os, "getuid", lambda: None)()
            if on_host and mine not in (None, 0) and any(f.uid == 0 for f in files):
                st.warning(
                    "These files belong to root (uid 0) on this machine: the containers ran as "
                    "root and wrote them through the bind mount. Remove them with `sudo rm`, or "
                    'run the services as yourself (`user: "${UID}:${GID}"` in compose.yaml).',
                    icon=":material/lock:",
                )
        else:
            st.caption("Empty so far: the model file appears when the trainer saves it.")
        if snap.finished and snap.result is not None:
            outcome = snap.result
            if outcome.volume_command:
                common.command(
                    outcome.volume_command,
                    "Look inside the folder yourself:"
                    if on_host
                    else "Look inside the volume yourself:",
                )
            predictions = outcome.parsed.predictions
            st.subheader("Predictions")
            if predictions:
                correct = sum(1 for p in predictions if p.correct)
                metrics = st.columns(3)
                metrics[0].metric("Predictions", len(predictions))
                metrics[1].metric("Correct", f"{correct} / {len(predictions)}")
                metrics[2].metric("Predictor waited", f"{outcome.parsed.waits} checks")
                st.dataframe(
                    pd.DataFrame.from_records(
                        [
                            {
                                "sample": f"{p.sample or ''} #{p.index}"
                                if p.index is not None
                                else "",
                                "predicted": p.label,
                                "actual": p.actual or "",
                                "correct": "yes"
                                if p.correct
                                else ("no" if p.correct is False else ""),
                            }
                            for p in predictions
                        ]
                    ),
                    hide_index=True,
                    key=f"predictions-{snap.number}",
                )
            else:
                st.warning("The predictor printed no prediction (see its log above).")
            if outcome.timed_out:
                st.warning(f"Stopped after {LAB.run_timeout} s: the pair had not finished.")
            elif snap.ok:
                st.success(
                    f"Both containers exited after {theme.fmt_seconds(outcome.seconds)}. "
                    "They stay (`docker compose ps -a`) until `docker compose down`.",
                    icon=":material/check_circle:",
                )

    common.live(UP_KEY, up_panel, interval=1.0)

    def down_panel(snap) -> None:
        if snap is None:
            return
        if snap.running:
            st.progress(0.0, text="docker compose down -v")
            return
        if common.job_failed(snap):
            return
        result = snap.result
        took = theme.fmt_seconds(result.seconds)
        if tasks.BIND_FILE in result.command.display:
            swept = ", ".join(result.swept)
            st.success(
                f"Removed the containers and the network ({took})"
                + (f", and the volume {swept} of an earlier named-volume run" if swept else "")
                + ". The host folder `shared/` stays: Docker never deletes a host folder.",
                icon=":material/check_circle:",
            )
        else:
            st.success(
                f"Removed the containers, the network and the volume ({took}).",
                icon=":material/check_circle:",
            )
        left = [line for line in result.output if line.startswith("Volume ")]
        if left:
            st.warning(" ".join(left), icon=":material/warning:")

    common.live(DOWN_KEY, down_panel)
    common.command(
        project.command("logs", "-f").display
        + "      # both logs, interleaved\n"
        + project.command("ps", "-a").display
        + "        # the pair's containers",
        "In a terminal:",
    )


shell.run_page(render, __file__)
