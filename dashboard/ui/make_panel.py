"""The lab's Makefile as buttons: `make TARGET` in the student's working copy, streamed live,
what Docker refused and the fix, and a target of the student's own (lessons 1 and 3).

A page calls `render(LAB_NAME, heading)`; everything else is here. The engine side is
dashboard/engine/ops/make.py, the job dashboard/work/tasks.py's `make_target`.
"""

from __future__ import annotations

import streamlit as st

from dashboard.engine.base.validation import InvalidInput
from dashboard.engine.catalog import labs
from dashboard.engine.ops import make
from dashboard.ui import common, state, views
from dashboard.ui import text as T
from dashboard.work import tasks, workspace
from dashboard.work.jobs import JobKey, JobSnapshot, Status

LOG_LINES = 60


def _button_label(name: str, default: str | None) -> str:
    return f"make {name} (first target)" if name == default else f"make {name}"


def _result_panel(snap: JobSnapshot, lab_name: str) -> None:
    outcome = snap.result
    result = outcome.result
    common.command(f"cd {result.folder}\n{result.command}", "The command this ran:")
    if result.ok:
        st.success(result.message, icon=":material/check_circle:")
    elif snap.status == Status.CANCELLED or result.status != make.EXITED:
        st.warning(result.message, icon=":material/stop_circle:")
    else:
        st.error(result.message, icon=":material/error:")
    for number, note in enumerate(outcome.notes):
        st.warning(note.sentence, icon=":material/block:")
        st.caption(f"Docker said: `{note.docker_said}`")
        common.command(note.fix, "The fix:")
        if note.ours and st.button(
            f"Remove container {note.container_name}",
            key=f"make-fix-{lab_name}-{number}",
            icon=":material/delete:",
        ):
            state.start(
                JobKey("make-fix", lab_name),
                tasks.remove_container(note.container_id, force=note.running),
                note.fix,
            )
    if not outcome.parsed.empty:
        views.parsed_output(outcome.parsed, key=f"make-{lab_name}")
    with st.expander("What make and docker printed", expanded=outcome.parsed.empty):
        if result.lines_total > len(result.lines):
            st.caption(f"The last {len(result.lines):,} of {result.lines_total:,} lines.")
        st.code("\n".join(result.lines) or "(nothing)", language="text", wrap_lines=True)


def _panel(lab_name: str):
    def panel(snap: JobSnapshot | None) -> None:
        if snap is None:
            st.caption("Press a target above: its output streams here.")
            return
        if snap.running:
            common.queue_notice(snap)
            st.progress(0.0, text=snap.state.get("command") or snap.detail or snap.label)
            common.cancel_button(snap)
            common.live_log(snap.lines()[-LOG_LINES:])
            return
        if snap.result is None:
            common.job_failed(snap)
            if snap.lines():
                common.live_log(snap.lines()[-LOG_LINES:])
            return
        _result_panel(snap, lab_name)

    return panel


def _own_target(lab_name: str, folder: str, makefile: make.Makefile, changed: bool) -> None:
    st.subheader("A target of your own")
    st.markdown(
        "In class a target was added to the Makefile for a command typed often. Add one to "
        "**your working copy's** Makefile (the lab's own stays as it is): it becomes a button "
        "above. Its recipe runs in this machine's shell, not in a container, so the dashboard "
        "takes one `docker` command that only looks (`images`, `ps`, `history`, `inspect`, "
        "`logs`, `system df`, ...) or `echo`, with the Makefile's variables."
        + (
            " In a class the engine is shared, so it looks only at your own things: "
            "`$(NAME)` is your container and `$(IMAGE):$(TAG)` your image."
            if state.classroom()
            else ""
        )
    )
    cols = st.columns([1, 3])
    name = cols[0].text_input("Target name", key=f"make-new-name-{lab_name}", placeholder="sizes")
    recipe = cols[1].text_input(
        "Recipe (one command line)",
        value="docker images $(IMAGE)",
        key=f"make-new-recipe-{lab_name}",
    )
    block = None
    if name.strip():
        files = [p.name for p in workspace.copy_path(folder).iterdir()]
        try:
            block = make.target_block(makefile, name, recipe, files)
        except InvalidInput as exc:
            st.error(str(exc), icon=":material/edit_off:")
    if block is not None:
        st.code(block.strip("\n"), language="makefile")
    row = st.container(horizontal=True)
    if row.button(
        T.MAKE_ADD_TARGET,
        key=f"make-add-{lab_name}",
        icon=":material/add:",
        disabled=block is None,
    ):
        try:
            added = workspace.add_make_target(folder, name, recipe)
        except InvalidInput as exc:  # another session added the same name meanwhile
            st.error(str(exc), icon=":material/edit_off:")
        else:
            st.toast(f"Added the target `{added}`: `make {added}` is a button now.")
            st.rerun()
    if row.button(
        T.MAKE_RESET,
        key=f"make-reset-{lab_name}",
        icon=":material/restart_alt:",
        disabled=not changed,
        help="The working copy's Makefile made again from the lab's.",
    ):
        workspace.reset_file(folder, make.MAKEFILE)
        st.rerun()


def render(lab_name: str, heading: str = "The Makefile") -> None:
    """The Makefile section of a lesson page for lab `lab_name`."""
    lab = labs.get(lab_name)
    key = JobKey("make", lab.name)
    st.header(heading)
    st.markdown(
        "The lecture wraps the commands in a **Makefile**: variables for the names (`IMAGE`, "
        "`TAG`, `NAME`), a target per command (`build`, `run`, `clean`) and `all`, which needs "
        "`build` and then `run`. `make TARGET` runs one target; plain `make` runs the first "
        "target in the file."
    )
    folder = workspace.ensure_copy(lab.folder)
    try:
        makefile = make.read_makefile(folder / make.MAKEFILE)
        lab_targets = set(make.read_makefile(lab.path / make.MAKEFILE).names)
    except OSError as exc:
        st.warning(f"Cannot read the Makefile: {exc}")
        return
    changed = workspace.changed_files(lab.folder)
    with st.expander(f"Makefile (your working copy, {folder})", expanded=True):
        st.code(makefile.text, language="makefile", line_numbers=True, wrap_lines=True)
    missing = make.tools_problem()
    if missing is not None:
        st.warning(f"{missing.message} {missing.hint}", icon=":material/build_circle:")
    variables = make.variables_for(lab, makefile, network=state.facts().build_network)
    common.command(
        f"cd {folder}\n{make.make_command(None, variables)}",
        "The buttons run make in your working copy with these variables, the target's name "
        "after `make` (`make build IMAGE=...`):",
    )
    st.caption(
        "`IMAGE`, `TAG` and `NAME` are the names this dashboard uses for you; `BUILD_FLAGS` and "
        "`RUN_FLAGS` add its labels (so it can list and clean up what make made) and, on the "
        "offline base image, `--network=host`. Variables on the command line override the "
        "Makefile's `?=` defaults: in a terminal, plain `make build` uses those."
    )
    edited = [f for f in changed if f != make.MAKEFILE]
    if edited:
        st.info(
            f"Your working copy's {', '.join(f'`{f}`' for f in edited)} "
            f"{'differs' if len(edited) == 1 else 'differ'} from labs/{lab.folder} (edited on "
            f"another page): `make build` builds the copy as it is, under "
            f"`{variables['IMAGE']}:{variables['TAG']}`.",
            icon=":material/edit_note:",
        )
    row = st.container(horizontal=True)
    disabled = missing is not None
    if row.button(
        "make",
        key=f"make-{lab.name}-default",
        type="primary",
        icon=":material/play_arrow:",
        disabled=disabled,
        help=f"Plain `make`: the first target, `{makefile.default_goal}`.",
    ):
        state.start(key, tasks.make_target(lab.name, None), "make")
    for target in makefile.targets:
        own = target.name not in lab_targets
        if row.button(
            _button_label(target.name, makefile.default_goal),
            key=f"make-{lab.name}-{target.name}",
            icon=":material/star:" if own else None,
            disabled=disabled,
            help="\n".join(target.recipe) or f"needs {' '.join(target.prerequisites)}",
        ):
            state.start(key, tasks.make_target(lab.name, target.name), f"make {target.name}")
    common.live(key, _panel(lab.name))
    common.live(JobKey("make-fix", lab.name), views.action_panel)
    _own_target(lab.name, lab.folder, makefile, make.MAKEFILE in changed)
