"""Layers and the build cache: edit the code in a working copy, rebuild, and see what was reused;
then the same edit with the dependencies installed before vs after the code is copied."""

import streamlit as st

from dashboard.engine.catalog.labs import get
from dashboard.engine.ops.builds import build_command
from dashboard.ui import charts, common, exports, figures, guide, shell, state, theme, views
from dashboard.ui import text as T
from dashboard.work import tasks, workspace
from dashboard.work.jobs import JobKey

IRIS = "iris"
ORDER = "cache-order"
IRIS_TAG = workspace.working_tag(IRIS, "Dockerfile")
REBUILD_KEY = JobKey("build", "iris-working-copy")
FROM_ZERO_KEY = JobKey("build", f"{IRIS} from-zero")
PAIR_KEY = JobKey("cache-pair", ORDER)
RMI_KEY = JobKey("rmi-rebuild", IRIS)
RMI_FIX_KEY = JobKey("container", "iris rmi-fix")
PREVIEW_KEY = JobKey("prune-preview")
# variant -> (Dockerfile, tag, the lab its builds are recorded under: what the checks read)
VARIANTS = {
    name: (dockerfile, workspace.working_tag(ORDER, dockerfile), lab_name)
    for name, dockerfile, lab_name in (
        ("code first", "Dockerfile.code-first", "cache-code-first"),
        ("deps first", "Dockerfile.deps-first", "cache-deps-first"),
    )
}
EDITOR = "iris-editor"


def render() -> None:
    common.header(
        T.TITLE_CACHE,
        "Each Dockerfile instruction makes a layer, and Docker keeps the layers in its **build "
        "cache**. On a rebuild it reuses a layer while the instruction and its inputs are "
        "unchanged. The **first** step whose input changed runs again, **and so does every step "
        "after it**: their cache keys include the layer below. So: what rarely changes first, your "
        "code last.",
    )
    guide.progress("cache")
    facts = state.facts()

    # ---------------------------------------------------------------- edit and rebuild
    st.header("1. Edit the code, rebuild")
    copy = workspace.ensure_copy(IRIS)
    st.caption(
        f"A working copy of labs/iris at `{copy}` (the lab itself is never edited). "
        f"It builds as `{IRIS_TAG}`, so the lesson images keep their content."
    )

    def _append() -> None:
        workspace.append_comment(IRIS)
        st.session_state.pop(EDITOR, None)

    def _reset() -> None:
        workspace.reset_copy(IRIS)
        st.session_state.pop(EDITOR, None)

    def _save() -> None:
        workspace.write(IRIS, "main.py", st.session_state.get(EDITOR, ""))

    edit_cols = st.columns([3, 2])
    with edit_cols[0]:
        if state.presenting():
            st.code(workspace.read(IRIS, "main.py")[-600:], language="python", wrap_lines=True)
        else:
            st.text_area(
                "main.py (working copy)", workspace.read(IRIS, "main.py"), height=260, key=EDITOR
            )
            st.button(T.SAVE_EDIT, key="save-edit", on_click=_save, icon=":material/save:")
    with edit_cols[1]:
        st.button(T.APPEND_COMMENT, key="append-comment", on_click=_append, icon=":material/edit:")
        st.button(T.RESET_COPY, key="reset-copy", on_click=_reset, icon=":material/undo:")
        if workspace.differs_from_lab(IRIS):
            st.markdown(
                f"{theme.chip('executed')} main.py **differs from the lab** "
                f"({T.plural(workspace.edits(IRIS), 'dashboard comment')})",
                unsafe_allow_html=True,
            )
        else:
            st.markdown(
                f"{theme.chip('cached')} main.py is **as in the lab**", unsafe_allow_html=True
            )
        common.show_file(copy / "Dockerfile", "dockerfile", "Dockerfile (working copy)")
        guide.dockerfile_hints(copy / "Dockerfile", label="Dockerfile (working copy)")

    common.command(
        build_command(copy, "Dockerfile", IRIS_TAG, network=facts.build_network, nocache=False),
        "This button runs:",
    )
    if st.button(
        T.REBUILD_COPY, key="rebuild-copy", type="primary", icon=":material/construction:"
    ):
        state.start(
            REBUILD_KEY,
            tasks.build_folder(copy, "Dockerfile", IRIS_TAG, lab_name=IRIS),
            f"build {IRIS_TAG}",
        )

    def rebuild_panel(snap) -> None:
        views.build_panel(snap, idle="Not rebuilt yet: edit main.py, then rebuild.")
        previous = state.previous(REBUILD_KEY)
        if snap is None or snap.running or previous is None or not previous.ok:
            return
        before, now = previous.result, snap.result
        if before is None or now is None or not (before.ok and now.ok):
            return
        st.markdown("**Compared with the build before it**")
        cols = st.columns(2)
        cols[0].metric(
            "Rebuild time",
            theme.fmt_seconds(now.seconds),
            delta=f"{now.seconds - before.seconds:+.1f} s",
            delta_color="inverse",
        )
        cols[1].metric(
            "Steps from cache",
            f"{now.steps_cached} / {now.steps_total}",
            delta=now.steps_cached - before.steps_cached,
        )

    common.live(REBUILD_KEY, rebuild_panel)

    # ---------------------------------------------------------------- layer order
    st.header("2. Layer order: code first vs dependencies first")
    st.markdown(
        "The same small app, two Dockerfiles. **Code first** copies the whole project before "
        "`pip install`; **deps first** copies only `requirements.txt`, installs, then copies the "
        "code. One button appends a comment to `main.py` in a working copy of labs/cache-order and "
        "rebuilds both (after a first round that records the unedited files)."
    )
    order_copy = workspace.ensure_copy(ORDER)
    order_lab = get("cache-code-first")
    sides = st.columns(2)
    for side, (variant, (dockerfile, tag, _lab)) in zip(sides, VARIANTS.items(), strict=True):
        with side:
            st.subheader(variant)
            st.code(
                (order_lab.path / dockerfile).read_text(), language="dockerfile", wrap_lines=True
            )
            guide.dockerfile_hints(order_lab.path / dockerfile)
            common.command(
                build_command(
                    order_copy, dockerfile, tag, network=facts.build_network, nocache=False
                )
            )
    if st.button(T.COMPARE_ORDERS, key="compare-orders", type="primary", icon=":material/compare:"):
        state.start(
            PAIR_KEY, tasks.cache_order_pair(order_copy, VARIANTS), "cache-order comparison"
        )

    def _pip_step(result):
        return next((s for s in result.real_steps if "pip install" in s.instruction), None)

    def pair_panel(snap) -> None:
        if snap is None:
            st.caption("Not compared yet.")
            return
        if snap.running:
            common.queue_notice(snap)
            st.progress(snap.progress or 0.0, text=f"{snap.state.get('phase', '')}: {snap.detail}")
            common.cancel_button(snap)
            common.live_log(snap.lines()[-views.LOG_LINES :])
            return
        if common.job_failed(snap):
            common.live_log(snap.lines()[-views.LOG_LINES :])
            return
        outcome = snap.result
        if outcome is None or len(outcome.rebuild) < len(VARIANTS):
            failed = [r for r in (outcome.baseline | outcome.rebuild).values() if not r.ok]
            st.error(failed[0].error if failed else "The comparison did not finish.")
            return
        st.success(f"Appended `{outcome.edit}` to main.py, then rebuilt both images.")
        exports.chart(
            figures.cached(
                charts.rebuild_comparison, outcome.rebuild, "Rebuild after the same one-line edit"
            ),
            theme=None,
            key="pair-chart",
        )
        cols = st.columns(2)
        for col, (variant, result) in zip(cols, outcome.rebuild.items(), strict=True):
            with col:
                st.subheader(variant)
                pip = _pip_step(result)
                reran = pip is not None and pip.status == "executed"
                inner = st.columns(2)
                inner[0].metric("Rebuild time", theme.fmt_seconds(result.seconds))
                inner[1].metric("Steps from cache", f"{result.steps_cached} / {result.steps_total}")
                if reran:
                    installed = next(
                        (line for line in pip.output if line.startswith("Successfully installed")),
                        "",
                    )
                    st.markdown(
                        f"{theme.chip('executed')} `pip install` **ran again** "
                        f"({theme.fmt_seconds(pip.seconds)}). {installed}",
                        unsafe_allow_html=True,
                    )
                else:
                    st.markdown(
                        f"{theme.chip('cached')} `pip install` came **from the cache**.",
                        unsafe_allow_html=True,
                    )
                views.cache_misses(result)
                views.steps_table(snap.state.get(f"steps:{variant}", ()), compact=True)

    common.live(PAIR_KEY, pair_panel)

    # ---------------------------------------------------------------- rmi
    lab = get(IRIS)
    st.header("3. `docker rmi`: the image goes, its layers stay")
    common.command(
        f"docker rmi {lab.image}\n"
        + build_command(
            lab.path, lab.dockerfile, lab.image, network=facts.build_network, nocache=False
        ),
        "This button runs:",
    )
    st.markdown(
        "`docker rmi` removes the image's **name** (and, with its last name, the image), but "
        "not the build cache: the layers are not deleted at all, they stay in the cache. So "
        "building it again takes its steps from the cache and is done in seconds."
    )
    if st.button(
        "Remove the image, then build it again", key="rmi-rebuild", icon=":material/delete:"
    ):
        state.start(RMI_KEY, tasks.rmi_then_rebuild(IRIS), f"docker rmi {lab.image} + build")

    def rmi_panel(snap) -> None:
        if snap is None:
            st.caption(f"Not tried yet (needs {lab.image}: build it on Lesson 1 first).")
            return
        blocking = snap.state.get("blocking") if snap.finished else None
        if blocking:
            _refused_panel(blocking)
            return
        rows = snap.state.get("steps", ())
        removed = snap.state.get("rmi")
        if removed is not None:
            st.code("\n".join([f"$ {removed.cli}", *removed.lines]), language="text")
        if snap.running:
            st.progress(snap.progress or 0.0, text=snap.detail or "docker rmi…")
            views.steps_table(rows, compact=True)
            return
        if common.job_failed(snap):
            return
        built = snap.result.build
        if built is None or not built.ok:
            st.error(built.error if built else "The build did not finish.")
            return
        cols = st.columns(2)
        cols[0].metric("Build after docker rmi", theme.fmt_seconds(built.seconds))
        cols[1].metric("Steps from the cache", f"{built.steps_cached} / {built.steps_total}")
        ran = [r for r in built.real_steps if r.status == "executed"]
        if built.builder == "classic" and ran:
            st.info(
                "This daemon builds with the classic builder, whose cache is the intermediate "
                f"images: `docker rmi` deleted the ones only this image used (the `Deleted:` "
                f"lines), so {len(ran)} step(s) ran again. BuildKit, what `docker build` is "
                "today, keeps every step in its build cache after `docker rmi`.",
                icon=":material/info:",
            )
        elif not ran:
            st.success(
                f"Every step came from the cache: {lab.image} is back in "
                f"{theme.fmt_seconds(built.seconds)} without running a single one.",
                icon=":material/bolt:",
            )
        views.steps_table(rows, compact=True)

    common.live(RMI_KEY, rmi_panel)
    common.live(RMI_FIX_KEY, views.action_panel)

    # ---------------------------------------------------------------- prune
    st.header("4. Emptying the cache: `docker builder prune`, `docker system prune -a`")
    common.command(
        "docker system df          # the Build Cache line: BuildKit's cache records\n"
        "docker buildx du --verbose   # each record: what made it, its size, when last used\n"
        "docker builder prune -a   # empties BuildKit's cache: the next build starts from zero\n"
        "docker system prune -a    # and every stopped container, unused image and network",
        "The cache itself, in a terminal:",
    )
    st.markdown(
        "The dashboard shows these prunes but **never runs them**. They take everything "
        "unused on the daemon, not only the dashboard's: BuildKit's cache records carry no "
        "labels (prune cannot filter by them), and one record serves every build that needs "
        "the same step: the layers of your own `docker build` in a terminal, of another lab, of "
        "another student on a shared server are the same records as the dashboard's. What "
        "they would remove here is listed below, read from Docker without removing anything. "
        "What a rebuild after a prune costs is measured instead: a build with `--no-cache` "
        "runs every step, as the first build after a prune does (the base image stays: it is "
        "an image in use, not cache)."
    )
    if st.button(
        "What would a prune remove here?", key="prune-preview", icon=":material/visibility:"
    ):
        state.start(PREVIEW_KEY, tasks.prune_preview(), "docker system df")
    common.live(PREVIEW_KEY, views.prune_preview_panel)

    common.command(
        build_command(
            lab.path, lab.dockerfile, lab.image, network=facts.build_network, nocache=True
        ),
        "This button runs:",
    )
    if st.button("Measure a rebuild from zero", key="rebuild-from-zero", icon=":material/timer:"):
        state.start(
            FROM_ZERO_KEY, tasks.build_lab(IRIS, nocache=True), f"build {lab.image} --no-cache"
        )

    def from_zero_panel(snap) -> None:
        views.build_panel(snap, idle="Not measured yet.", chart_key="from-zero")
        if snap is None or snap.running or not snap.ok or snap.result is None:
            return
        cold = snap.result
        if not cold.ok:
            return
        ran = sum(1 for s in cold.real_steps if s.status == "executed")
        warm = state.snapshot(REBUILD_KEY)
        warm = warm.result if warm is not None and warm.ok and warm.result else None
        after_rmi = state.snapshot(RMI_KEY)
        after_rmi = (
            after_rmi.result.build
            if after_rmi is not None and after_rmi.ok and after_rmi.result
            else None
        )
        if after_rmi is not None and after_rmi.ok:
            both = st.columns(2)
            both[0].metric(
                "After docker rmi",
                theme.fmt_seconds(after_rmi.seconds),
                help=f"{after_rmi.steps_cached} / {after_rmi.steps_total} steps from the cache "
                "(section 3).",
            )
            both[1].metric(
                "After a prune (from zero)",
                theme.fmt_seconds(cold.seconds),
                delta=f"{cold.seconds / max(after_rmi.seconds, 0.001):.0f}x as long",
                delta_color="off",
            )
        else:
            st.caption("Remove and rebuild the image in section 3 to see both times side by side.")
        cols = st.columns(3)
        cols[0].metric("Rebuild from zero", theme.fmt_seconds(cold.seconds))
        cols[1].metric("Steps that ran again", f"{ran} / {cold.steps_total}")
        if warm is not None and warm.ok:
            cols[2].metric(
                "Cached rebuild (section 1)",
                theme.fmt_seconds(warm.seconds),
                help="The last rebuild of the working copy above, with the cache.",
            )
            st.info(
                f"After `docker builder prune` the next build of this lab takes about "
                f"**{theme.fmt_seconds(cold.seconds)}** instead of "
                f"**{theme.fmt_seconds(warm.seconds)}**: every step runs again, `pip install` "
                "included.",
                icon=":material/timer:",
            )
        else:
            cols[2].caption("Rebuild the working copy in section 1 to compare with the cache.")
            st.info(
                f"After `docker builder prune` the next build of this lab takes about "
                f"**{theme.fmt_seconds(cold.seconds)}**: every step runs again, `pip install` "
                "included.",
                icon=":material/timer:",
            )
        if cold.builder == "classic":
            st.caption(
                "This daemon builds with the classic builder, whose cache is the intermediate "
                "`<none>` images, not the Build Cache line: `docker image prune` removes the "
                "dangling ones."
            )

    common.live(FROM_ZERO_KEY, from_zero_panel)


def _refused_panel(blocking) -> None:
    """Docker refused `docker rmi`: the containers that still used the image, as they are now
    (a refusal naming containers removed since is said as such), with a button that removes
    the ones still there."""
    ours = {c.name: c for c in state.lab_containers(IRIS, session=None)}
    left = [name for name in blocking if name in ours]
    if not left:
        st.info(
            f"Docker refused `docker rmi` because {_names(blocking)} still used the image; "
            "none of them is left now, so the button above will work this time.",
            icon=":material/info:",
        )
        return
    snap = state.snapshot(RMI_KEY)
    st.error(snap.error if snap else "Docker refused `docker rmi`.", icon=":material/block:")
    cli = "docker rm -f " + " ".join(left)
    common.command(cli, "The fix:")
    if st.button(f"Remove {_names(left)}", key="rmi-fix", icon=":material/delete:"):
        state.start(RMI_FIX_KEY, tasks.remove_containers([ours[n].id for n in left]), cli)


def _names(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


shell.run_page(render, __file__)
