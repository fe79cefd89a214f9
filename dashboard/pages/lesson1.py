"""Lesson 1: build iris-model:1.0, look at its layers, run it (by name), manage its containers,
follow a detached container's logs, and run the lab's Makefile."""

import pandas as pd
import streamlit as st

from dashboard.engine.base import labels
from dashboard.engine.catalog import labs
from dashboard.engine.ops import runs
from dashboard.engine.ops.builds import build_command
from dashboard.engine.ops.terminal import docker_exec_it_command
from dashboard.ui import (
    charts,
    common,
    errors,
    exports,
    figures,
    guide,
    make_panel,
    shell,
    state,
    terminal,
    views,
)
from dashboard.ui import text as T
from dashboard.work import tasks
from dashboard.work.jobs import JobKey

LAB = labs.get("iris")
BUILD_KEY = JobKey("build", LAB.name)
RUN_KEY = JobKey("run", LAB.name)
ACTION_KEY = JobKey("container", LAB.name)
DETACH_KEY = JobKey("detach", LAB.name)
SEEN_CONTAINERS = "iris-ps-seen"  # this session listed some: an empty list is then "none left"
DETACH_FIX_KEY = JobKey("container", f"{LAB.name} name-fix")
EXEC_KEY = JobKey("exec", LAB.name)
LOGS_KEY = JobKey("logs", LAB.name)
# What the detached container can run instead of its CMD: a shell that waits, or something that
# prints over time, so that `docker logs -f` has lines to follow.
DETACHED_COMMANDS = {
    "a shell that waits (/bin/bash)": "/bin/bash",
    "a counter: a line a second for 30 s": (
        "sh -c 'for i in $(seq 1 30); do echo \"step $i of 30\"; sleep 1; done'"
    ),
    "python main.py three times, 5 s apart": (
        "sh -c 'for i in 1 2 3; do python main.py; sleep 5; done'"
    ),
}


def _use_preset() -> None:
    st.session_state["detach-cmd"] = DETACHED_COMMANDS[st.session_state["detach-preset"]]


WATCH_SECONDS = 1.0  # how often the detached container's panel looks while it runs


def _started_and_running() -> str | None:
    """The id of the container the last `docker run -d` started, while it still runs."""
    snap = state.snapshot(DETACH_KEY)
    record = getattr(snap.result, "record", None) if snap is not None and snap.ok else None
    if record is None:
        return None
    now = next((c for c in state.lab_containers(LAB.name) if c.id == record.id), None)
    return record.id if now is not None and now.running else None


def _detached_section() -> None:
    """The `docker run -d` panel: live while the job runs (common.live); then, while the
    container it started runs, it looks every second, and when the container stops the whole
    page reruns, so the panel and the container table above both say so."""
    snap = state.snapshot(DETACH_KEY)
    if snap is None or snap.running:
        common.live(DETACH_KEY, _detach_panel)
        return
    watched = _started_and_running()

    @st.fragment(run_every=WATCH_SECONDS if watched else None)
    def panel() -> None:
        state.bind_owner()
        with errors.boundary():
            if watched and _started_and_running() is None:
                state.refresh_reads()
                st.rerun()
            _detach_panel(state.snapshot(DETACH_KEY))

    panel()


def _detach_panel(snap) -> None:
    """`docker run -d`: the container as it is now (a panel must not say "running" under a
    table that shows it exited), or the refusal of a taken name with a fix that works."""
    if snap is None or snap.running:
        common.outcome(snap)
        return
    if snap.status == "failed" and snap.error_type == "NameTaken":
        name = snap.label.removeprefix("docker run -d ").strip()
        holder = next((c for c in state.lab_containers(LAB.name) if c.name == name), None)
        if holder is None:
            st.info(
                f"The name {name} is free now (its container was removed): press "
                f"{T.START_DETACHED!r} again.",
                icon=":material/info:",
            )
            return
        st.error(snap.error, icon=":material/error:")
        cli = runs.docker_rm_command(name, force=holder.running)
        common.command(cli, "The fix:")
        if st.button(f"Remove {name}", key="detach-fix", icon=":material/delete:"):
            state.start(DETACH_FIX_KEY, tasks.remove_containers([holder.id]), cli)
        return
    outcome = common.outcome(snap)
    if outcome is None:
        return
    record = outcome.record
    now = next((c for c in state.lab_containers(LAB.name) if c.id == record.id), None)
    command = " ".join(record.command)
    if now is None:
        st.info(
            f"Container {record.name} started (`{command}`); it has since been removed.",
            icon=":material/info:",
        )
    elif now.running:
        st.success(
            f"Container {record.name} is running: its command `{command}` keeps it alive.",
            icon=":material/check_circle:",
        )
    else:
        code = "" if now.exit_code is None else f" (exit code {now.exit_code})"
        st.info(
            f"Container {record.name} started (`{command}`); it has since {now.status}{code}.",
            icon=":material/info:",
        )
    common.command(outcome.cli, "The command it stands for:")


def render() -> None:
    common.header(
        T.TITLE_LESSON1,
        "A single-stage image: `main.py` trains an SVM on the iris data set, prints sklearn's "
        "classification report and the accuracy, then predicts one hand-made flower. The "
        "`Dockerfile` packages Python, scikit-learn and the script; `docker run` runs it anywhere.",
    )
    guide.progress("lesson1")

    # ---------------------------------------------------------------- the files
    files = st.columns([3, 2])
    with files[0]:
        common.show_file(
            LAB.path / "Dockerfile", "dockerfile", "labs/iris/Dockerfile", expanded=True
        )
        guide.lab_hints(LAB.name)
    with files[1]:
        st.markdown(
            "- `FROM` picks the **base image** (layer 1).\n"
            "- `WORKDIR` and `ENV` are **metadata**: no bytes, an empty layer.\n"
            "- `COPY requirements.txt .` then `RUN pip install`: the heavy layer, **before** the "
            "code so an edit of `main.py` keeps it cached.\n"
            "- `CMD` does **not** run at build time: it is what a container runs when it starts."
        )
        common.show_file(LAB.path / "main.py", "python", "labs/iris/main.py")
        common.show_file(LAB.path / "requirements.txt", "text", "labs/iris/requirements.txt")

    # ---------------------------------------------------------------- build
    st.header("1. Build the image")
    facts = state.facts()
    nocache = False
    if not state.presenting():
        nocache = st.checkbox(
            "--no-cache (rebuild every step)", key="iris-nocache", help="Slow: reinstalls packages."
        )
    command = build_command(
        LAB.path, LAB.dockerfile, LAB.image, network=facts.build_network, nocache=nocache
    )
    common.command(command, "This button runs:")
    if facts.base_standin:
        st.caption(
            "`--network host`: the offline stand-in base image installs packages from a local "
            "mirror on this machine. With the real python:3.11-slim you would leave it out."
        )
    if st.button(
        T.build_label(LAB.image), key="build-iris", type="primary", icon=":material/construction:"
    ):
        state.start(BUILD_KEY, tasks.build_lab(LAB.name, nocache=nocache), f"build {LAB.image}")
    common.live(BUILD_KEY, lambda snap: views.build_panel(snap, image=LAB.image))

    # ---------------------------------------------------------------- layers
    st.header("2. The image's layers")
    report = state.image_report(LAB.image)
    if report is None:
        st.info(f"There is no {LAB.image} yet: build it above.")
    else:
        base = state.image_report(facts.base_image)
        base_count = len(base.layers) if base else 0
        cols = st.columns(3)
        views.size_metric(cols[0], "Image size", report.size_bytes, report.size)
        cols[1].metric("History entries", len(report.layers))
        cols[2].metric("Empty (metadata) entries", sum(1 for layer in report.layers if layer.empty))
        exports.chart(
            figures.cached(charts.layers_chart, report, base_count), theme=None, key="iris-layers"
        )
        st.caption(
            "Each instruction adds an entry to the image's history. Only RUN, COPY and ADD add "
            "bytes; the base image is the grey bar at the top; `pip install` is the big one."
        )
        common.command(f"docker history {LAB.image}\ndocker images {LAB.image.split(':')[0]}")

    # ---------------------------------------------------------------- run
    st.header("3. Run it")
    st.markdown(
        "`docker run` creates a **new container** from the image and starts it; `CMD` runs "
        "`python main.py`, which trains, evaluates and predicts, then the container **exits**."
    )
    run_name = st.text_input(
        "Container name (`--name`, optional)",
        key="run-name",
        placeholder="test1",
        help="Empty: Docker makes up a name (like `eager_turing`).",
        width=320,
    ).strip()
    problem = views.input_problem(LAB.image, name=run_name or None)
    if problem is None:
        common.command(
            runs.docker_run_command(LAB.image, name=run_name or None), "This button runs:"
        )
    if st.button(
        T.run_label(LAB.image),
        key="run-iris",
        type="primary",
        icon=":material/play_arrow:",
        disabled=problem is not None,
    ):
        state.start(
            RUN_KEY,
            tasks.run_image(LAB.image, LAB.name, name=run_name or None),
            f"run {LAB.image}",
        )
    st.caption(
        "A name is the container's for as long as it exists: run again with the same name and "
        "Docker refuses (`Conflict. The container name ... is already in use`) until "
        "`docker rm` removes the first one."
    )
    common.live(RUN_KEY, views.run_panel)

    # ---------------------------------------------------------------- docker ps -a
    st.header("4. This lab's containers")
    st.markdown(
        "Every `docker run` made a new container. **Exited** means its command finished; it "
        "stays on disk (with its logs) until `docker rm`. **Running** means its command is still "
        "going."
    )
    session = labels.current_session()
    common.command(runs.docker_ps_command(LAB.name, session), "The list below is:")
    containers = state.lab_containers(LAB.name)
    if not containers:
        if st.session_state.get(SEEN_CONTAINERS):
            st.caption(
                "None left: every container of this lab was removed. Run the image above to "
                "make a new one."
            )
        else:
            st.caption("No containers of this lab yet: run the image above.")
    else:
        st.session_state[SEEN_CONTAINERS] = True
        table = pd.DataFrame.from_records(
            [
                {
                    "name": c.name,
                    "status": c.status,
                    "exit code": "" if c.exit_code is None else str(c.exit_code),
                    "command": " ".join(c.command),
                    "image": c.image,
                    "created": c.created.strftime("%H:%M:%S") if c.created else "",
                    "id": c.short_id,
                }
                for c in containers
            ]
        )
        st.dataframe(table, hide_index=True, key="iris-ps")
        if any(c.exit_code == 137 for c in containers):
            st.caption(
                "Exit code 137 = 128 + 9: killed by SIGKILL. `docker stop` sends SIGTERM first, "
                "but a shell running as the container's first process ignores it, so after the "
                "grace period Docker kills it."
            )
        by_name = {c.name: c for c in containers}
        row = st.container(horizontal=True, vertical_alignment="bottom")
        chosen = row.selectbox("Container", list(by_name), key="iris-container", width=320)
        target = by_name[chosen]
        if row.button(T.STOP_CONTAINER, key="stop-container", disabled=not target.running):
            state.start(ACTION_KEY, tasks.stop_container(target.id), f"docker stop {target.name}")
        if row.button(T.REMOVE_CONTAINER, key="remove-container"):
            state.start(ACTION_KEY, tasks.remove_container(target.id), f"docker rm {target.name}")
        if row.button(T.REFRESH_CONTAINERS, key="refresh-containers"):
            state.refresh_reads()
            st.rerun()
        st.caption(
            f"`{runs.docker_stop_command(target.name, runs.DEFAULT_GRACE)}` sends SIGTERM, waits "
            f"{runs.DEFAULT_GRACE} s, then SIGKILL. `{runs.docker_rm_command(target.name)}` "
            "removes a stopped container (a running one needs stopping first)."
        )
    common.live(ACTION_KEY, views.action_panel)

    # ---------------------------------------------------------------- run -d + exec
    st.header("5. Keep a container running and step inside")
    st.markdown(
        "Override `CMD` with a shell and keep it alive with `-d -it`: the container stays "
        "**running**, and `docker exec` runs more commands inside it, like `python main.py`."
    )
    detach_cols = st.columns(2)
    name = detach_cols[0].text_input("Container name", value="iris-shell", key="detach-name")
    st.session_state.setdefault("detach-cmd", DETACHED_COMMANDS["a shell that waits (/bin/bash)"])
    detach_cols[1].selectbox(
        "Start it with",
        list(DETACHED_COMMANDS),
        key="detach-preset",
        on_change=_use_preset,
        help="Fills in the command below; edit it as you like.",
    )
    override = st.text_input("Command (overrides CMD)", key="detach-cmd")
    # Checked here, before any Docker call: the message sits under the fields.
    problem = views.input_problem(LAB.image, name=name.strip() or None, command=override)
    if problem is None:
        common.command(
            runs.docker_run_command(
                LAB.image,
                command=override,
                name=name.strip() or None,
                detach=True,
                interactive=True,
                tty=True,
            ),
            "This button runs:",
        )
    if st.button(
        T.START_DETACHED,
        key="start-detached",
        icon=":material/play_circle:",
        disabled=problem is not None,
    ):
        state.start(
            DETACH_KEY,
            tasks.start_detached(LAB.image, LAB.name, override, name.strip()),
            f"docker run -d {name}",
        )
    # Next to the button that caused it: the container as it is now, or why it did not start.
    _detached_section()
    common.live(DETACH_FIX_KEY, views.action_panel)
    running = [c for c in state.lab_containers(LAB.name) if c.running]
    by_name = {c.name: c for c in running}
    if running:
        exec_cols = st.columns(2)
        inside = exec_cols[0].selectbox("Running container", list(by_name), key="exec-container")
        exec_cmd = exec_cols[1].text_input(
            "Command to run inside", "python main.py", key="exec-cmd"
        )
        problem = views.input_problem(LAB.image, command=exec_cmd, empty="the command")
        if problem is None:
            common.command(runs.docker_exec_command(inside, exec_cmd), "This button runs:")
        if st.button(
            T.RUN_EXEC, key="run-exec", icon=":material/terminal:", disabled=problem is not None
        ):
            chosen_container = by_name[inside]
            state.start(
                EXEC_KEY,
                tasks.exec_in(chosen_container.id, chosen_container.name, exec_cmd),
                f"docker exec {inside}",
            )
    else:
        st.caption("No running container of this lab: start one above, then exec into it.")
    common.live(EXEC_KEY, views.exec_panel)

    # ---------------------------------------------------------------- docker exec -it
    st.subheader("A shell inside: `docker exec -it`")
    st.markdown(
        "`-i` keeps the shell's input open, `-t` gives it a terminal (a pseudo-TTY): keys, "
        "Ctrl-C, colours and the window size go through Docker to a process **inside the "
        "container**. Is this SSH? No: no server runs in the container and nothing crosses a "
        "network; the Docker daemon starts one more process in the container's namespaces, as "
        "`docker exec` above did, and connects your terminal to it. Try `ls` and "
        "`python main.py`."
    )
    _follow_running(inside if running else "")
    into = st.text_input(
        "Container (name or id)", key="terminal-container", on_change=_typed, width=320
    ).strip()
    if into:
        common.command(docker_exec_it_command(into), "The terminal below is the same as:")
        terminal.panel(into, "iris-terminal")
    else:
        st.caption("Start a container above, then open a shell in it here.")

    # ---------------------------------------------------------------- docker logs -f
    st.header("6. Follow a container's logs")
    st.markdown(
        "`docker logs NAME` prints what a container has printed so far; `docker logs -f` keeps "
        "**following** it, line by line as they come, until the container stops, or until you "
        "stop following (Ctrl-C in a terminal): the container keeps running either way. Start "
        "the container above with the counter to watch the lines arrive."
    )
    if running:
        followed = st.selectbox("Running container", list(by_name), key="logs-container")
        common.command(runs.docker_logs_command(followed, follow=True), "This button runs:")
        if st.button(T.FOLLOW_LOGS, key="follow-logs", icon=":material/subject:"):
            chosen_container = by_name[followed]
            state.start(
                LOGS_KEY,
                tasks.follow_logs(chosen_container.id, chosen_container.name),
                f"docker logs -f {followed}",
            )
    else:
        st.caption("No running container of this lab: start one above, then follow its logs.")
    common.live(LOGS_KEY, views.logs_panel)

    # ---------------------------------------------------------------- make
    make_panel.render(LAB.name, "7. The Makefile")


def _follow_running(default: str) -> None:
    """The terminal's container field follows the running containers (the one chosen above, or
    the first): a container started after the page was drawn is offered without a reload, and
    one that stopped is no longer. Once the student types a name it is theirs and stays (even a
    stopped container's: the panel then says why it opens no shell); emptied, it follows again."""
    if not st.session_state.get("terminal-typed"):
        st.session_state["terminal-container"] = default


def _typed() -> None:
    st.session_state["terminal-typed"] = bool(
        (st.session_state.get("terminal-container") or "").strip()
    )


shell.run_page(render, __file__)
