"""How a build, a run, an exec or a container action looks on a page, from its job snapshot.

Shared by the lesson pages so a build looks the same everywhere: a progress bar and the live log
while it runs; then big numbers (size, seconds, steps from cache), the steps as a table and a
timeline (green = from the cache, orange = executed), and why the cache missed.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from dashboard.engine.analysis import images
from dashboard.engine.base import labels
from dashboard.engine.catalog import labs
from dashboard.ui import charts, common, exports, figures, state, theme
from dashboard.ui import text as T
from dashboard.work import tasks
from dashboard.work.jobs import JobKey, JobSnapshot

LOG_LINES = 60
OUTPUT_LINES = 400  # of a finished exec's output: a flood must not become a page of megabytes


# ---------------------------------------------------------------- builds


def step_label(r) -> str:
    """BuildKit's own numbering ("[trainer 3/6]" is "trainer 3/6"); the classic "3/7"."""
    if getattr(r, "started_at", None) is not None and r.stage_name:
        return f"{r.stage_name} {r.index}/{r.total}"
    return f"{r.index}/{r.total}"


def builder_line(result) -> None:
    """Which builder ran and why, and the exact command line the dashboard ran."""
    if result.builder_reason:
        st.caption(f"Builder: {result.builder_reason}.")
    if result.argv:
        with st.expander("What the dashboard ran exactly"):
            st.caption(
                "The same build as the command above: `docker build` is `docker buildx build` "
                "where buildx is installed. The dashboard adds its labels (so it can find and "
                "clean up what it made), JSON progress to draw the steps, and a metadata file "
                "for the image id."
            )
            st.code(shlex.join(result.argv), language="bash", wrap_lines=True)


def steps_frame(rows: Sequence, stages: bool = False) -> pd.DataFrame:
    records = []
    for r in rows:
        record = {
            "Step": step_label(r),
            "Instruction": r.instruction,
            "Result": theme.STATUS_TEXT.get(r.status, r.status),
            "Seconds": round(r.seconds, 2),
            "Why it ran": r.miss_reason or "",
        }
        if stages:
            record = {"Stage": r.stage_name or f"stage {r.stage}", **record}
        records.append(record)
    return pd.DataFrame.from_records(records)


def _result_style(value: str) -> str:
    for status, text in theme.STATUS_TEXT.items():
        if value == text:
            return f"background-color: {theme.STATUS_COLORS[status]}; color: white"
    return ""


WHY_FITS = 45  # characters of "Why it ran" that fit one line of its column
WRAPPED_ROW = 70  # pixels: above 4rem Streamlit's grid wraps a cell's text


def steps_table(rows: Sequence, stages: bool = False, compact: bool = False) -> None:
    """The steps, with the result coloured as in the charts. `compact` for half-width columns."""
    if not rows:
        return
    frame = steps_frame(rows, stages)
    if compact:
        frame = frame[["Step", "Result", "Instruction"]]
    styled = frame.style.map(_result_style, subset=["Result"])
    if not compact:
        styled = styled.format({"Seconds": "{:.2f}"})
    # A reason is a sentence: rows taller than 4rem let the grid wrap it instead of cutting it.
    wrapped = not compact and frame["Why it ran"].str.len().max() > WHY_FITS
    row_height = WRAPPED_ROW if wrapped else 35
    st.dataframe(
        styled,
        hide_index=True,
        row_height=row_height,
        height=min(38 + row_height * len(frame), 900),
        column_config={
            "Instruction": st.column_config.TextColumn(width="medium" if compact else "large"),
            "Why it ran": st.column_config.TextColumn(width="large"),
        },
    )


def build_summary(result) -> str:
    """What Docker did, in one sentence."""
    executed = sum(1 for s in result.real_steps if s.status == "executed")
    tags = ", ".join(f"`{t}`" for t in result.tags) or "(untagged)"
    return (
        f"Docker ran {result.steps_total} Dockerfile steps: {result.steps_cached} came from the "
        f"build cache and {executed} executed. The result is image "
        f"`{(result.image_id or '').removeprefix('sha256:')[:12]}`, tagged {tags}, "
        f"{theme.fmt_bytes(result.size_bytes)} of unpacked layers."
    )


def size_help(size) -> str:
    """What an image's size means on this daemon, for a metric's help tooltip."""
    if size is None:
        return "The unpacked layers: the sum of `docker history`."
    return f"{size.sentence(theme.fmt_bytes)}. {images.SIZE_MEANING}"


def size_metric(col, label: str, size_bytes: int, size) -> None:
    """An image size as a metric, named: the unpacked layers, and what `docker images` says."""
    col.metric(label, theme.fmt_bytes(size_bytes), help=size_help(size))
    if size is not None and size.containerd:
        col.caption(
            f"unpacked layers; `docker images`: {theme.fmt_bytes(size.disk_bytes or 0)} disk, "
            f"{theme.fmt_bytes(size.content_bytes or 0)} content"
        )


def build_metrics(result) -> None:
    cols = st.columns(4)
    size_metric(cols[0], "Image size", result.size_bytes, result.size)
    cols[1].metric("Build time", theme.fmt_seconds(result.seconds))
    cols[2].metric("Steps from cache", f"{result.steps_cached} / {result.steps_total}")
    executed = sum(1 for s in result.real_steps if s.status == "executed")
    cols[3].metric("Steps executed", executed)


def cache_misses(result) -> None:
    for miss in result.cache_misses:
        st.info(
            f"**Step {miss.step_index}** `{miss.instruction}` was the first step to run again: "
            f"{miss.reason}.",
            icon=":material/bolt:",
        )


def input_problem(
    image: str, *, name: str | None = None, command: str | None = None, empty: str = ""
) -> str | None:
    """Check what the student typed before any Docker call; show and return what is wrong.

    `empty`: what to call the command when an empty one is not allowed (docker exec needs one).
    """
    from dashboard.engine.base.validation import InvalidInput
    from dashboard.engine.ops import runs

    try:
        if empty and not (command or "").strip():
            raise InvalidInput(f"Type {empty} to run.")
        runs.check_run_inputs(image, name=name, command=command)
    except InvalidInput as exc:
        st.error(str(exc), icon=":material/edit_off:")
        return str(exc)
    return None


def requested_tag(command: str) -> str | None:
    """The `-t` of a `docker build` command line (a failed build has no tags to read)."""
    words = shlex.split(command or "")
    return next((words[i + 1] for i, w in enumerate(words[:-1]) if w == "-t"), None)


def existing_image(tag: str) -> None:
    """What `tag` names before this session builds it: nothing, our image, or someone else's."""
    report = state.image_report(tag)
    if report is None:
        return
    when = f" on {report.created.astimezone():%d %b at %H:%M}" if report.created else ""
    ours = labels.is_current_owners(report.labels)
    who = "by this dashboard" if ours else "outside this dashboard (by hand, or another tool)"
    st.caption(
        f"`{tag}` already exists on this machine: built {who}{when}, "
        f"id `{report.id.removeprefix('sha256:')[:12]}`."
        + ("" if ours else " Build it here to tick the lesson's step.")
    )


def previous_image(tag: str | None) -> None:
    """After a failed build: the tag still names the image it named before (if there was one)."""
    if not tag:
        return
    report = state.image_report(tag)
    if report is None:
        st.caption(f"No image is tagged `{tag}`: nothing was built under that name yet.")
        return
    when = f", built {report.created:%Y-%m-%d %H:%M}" if report.created else ""
    st.info(
        f"`{tag}` still names the previous image `{report.id.removeprefix('sha256:')[:12]}`"
        f"{when}: Docker moves a tag only when a build succeeds.",
        icon=":material/label:",
    )


def image_gone(ref: str, build_key: JobKey | None) -> None:
    """The image was removed outside the dashboard (`docker rmi` in a terminal): say so, and
    offer the build that makes it again."""
    st.warning(
        f"Image gone: `{ref}` no longer exists. It was removed outside the dashboard (e.g. "
        f"`docker rmi {ref}` in a terminal). Build it again to continue.",
        icon=":material/image_not_supported:",
    )
    lab = labs.find(build_key.subject) if build_key else None
    if build_key is None or not (state.can_restart(build_key) or lab):
        return
    key = "build-again-" + build_key.slug
    if st.button(T.BUILD_AGAIN, key=key, type="primary", icon=":material/construction:"):
        if state.can_restart(build_key):
            state.restart(build_key)
        else:  # no earlier job in this process: the lab's own build
            state.start(build_key.unscoped, tasks.build_lab(lab.name), f"build {lab.image}")


def build_panel(
    snap: JobSnapshot | None,
    *,
    stages: bool = False,
    idle: str = "Not built in this session yet: press the button above.",
    chart_key: str = "",
    image: str | None = None,
) -> None:
    """A build job: live while it runs, the full report when it is done. Before any build of
    this session, `image` (the tag the button builds) says what is already there, so the panel
    agrees with the progress checks (engine/progress/checks.py) about who built it and when."""
    if snap is None:
        st.caption(idle)
        if image:
            existing_image(image)
        return
    rows = snap.state.get("steps", ())
    if snap.running:
        common.queue_notice(snap)
        st.progress(snap.progress or 0.0, text=snap.detail or "Sending the build context…")
        common.cancel_button(snap)
        common.live_log(snap.lines()[-LOG_LINES:])
        steps_table(rows, stages)
        return
    result = snap.result
    canceled = result is not None and getattr(result, "canceled", False)
    if not canceled and common.job_failed(snap):
        common.live_log(snap.lines()[-LOG_LINES:])
        return
    if result is None:
        st.warning("The build stopped before it finished.")
        return
    common.command(result.command, "The command this build ran:")
    builder_line(result)
    tag = requested_tag(result.command)
    if canceled:
        st.warning(result.error or "Canceled.", icon=":material/stop_circle:")
        steps_table(rows, stages)
        previous_image(tag)
        return
    if not result.ok:
        failed = result.failed_step
        where = f" at step {failed.index}: `{failed.instruction}`" if failed else ""
        lost = common.lost_daemon(result.error)
        if lost:
            common.daemon_stopped(snap.key, f"The build stopped{where}. {result.error}")
        else:
            st.error(
                f"The build failed{where}. Docker said: {result.error}", icon=":material/error:"
            )
        if failed and failed.output:
            common.live_log(failed.output[-40:])
        else:
            common.live_log(list(result.log_tail))
        steps_table(rows, stages)
        if not lost:  # with the daemon gone there is nobody to ask
            previous_image(tag)
        return
    if tag and state.image_report(tag) is None:
        image_gone(tag, snap.key)
        return
    st.success(build_summary(result), icon=":material/check_circle:")
    if result.note:
        st.info(result.note, icon=":material/info:")
    build_metrics(result)
    cache_misses(result)
    steps_table(rows, stages)
    exports.chart(
        figures.cached(charts.steps_timeline, rows, total_seconds=result.seconds),
        theme=None,
        key=f"timeline-{chart_key or snap.key.slug}",
    )
    if not state.presenting():
        with st.expander("Full build log"):
            st.code("\n".join(snap.lines()) or "(empty)", language="text")


# ---------------------------------------------------------------- runs


def report_frame(report) -> pd.DataFrame:
    rows = list(report.rows) + list(report.averages)
    frame = pd.DataFrame.from_records(
        [
            {
                "class": r.label,
                "precision": r.precision,
                "recall": r.recall,
                "f1-score": r.f1,
                "support": r.support,
            }
            for r in rows
        ]
    )
    return frame


def parsed_output(parsed, *, key: str, lead: Sequence[tuple[str, object]] = ()) -> None:
    """Accuracy, predicted class and the classification report, as big numbers and a table.

    `lead`: (label, value) metrics shown first on the same row (exit code, seconds...).
    """
    metrics = list(lead)
    if parsed.best_accuracy is not None:
        metrics.append(("Accuracy", f"{parsed.best_accuracy:.2f}"))
    if parsed.predicted_class:
        metrics.append(("Predicted class", parsed.predicted_class))
    if parsed.report is not None and parsed.report.accuracy_support:
        metrics.append(("Test samples", parsed.report.accuracy_support))
    elif parsed.model_saved_to:
        metrics.append(("Model saved to", parsed.model_saved_to))
    if metrics:
        for col, (label, value) in zip(st.columns(max(len(metrics), 3)), metrics, strict=False):
            col.metric(label, value)
    if parsed.report is not None:
        st.markdown("**Classification report** (what `classification_report` printed)")
        # Two decimals by column_config, not a pandas Styler: the Styler's formatting cost a
        # lesson 1 rerun about 12 ms (a sixth of its script) for a table of four rows.
        two = st.column_config.NumberColumn(format="%.2f")
        st.dataframe(
            report_frame(parsed.report),
            hide_index=True,
            key=f"report-{key}",
            column_config={"precision": two, "recall": two, "f1-score": two},
        )


def run_panel(snap: JobSnapshot | None, *, idle: str = "Not run yet.") -> None:
    if snap is None:
        st.caption(idle)
        return
    if snap.running:
        st.progress(0.0 if snap.progress is None else snap.progress, text=snap.detail)
        common.cancel_button(snap)
        common.live_log(snap.lines()[-LOG_LINES:])
        return
    if common.job_failed(snap):
        lab = labs.find(snap.key.subject)
        if lab is not None and state.image_report(lab.image) is None:
            image_gone(lab.image, JobKey("build", lab.name))
        return
    outcome = snap.result
    run = outcome.run
    common.command(run.cli, "The command this run stands for:")
    if run.ok:
        st.success(
            f"Docker created container `{run.name}` from `{run.image}`, started it, and it "
            f"exited with exit code 0 after {theme.fmt_seconds(run.duration_s)}. The container "
            "stays until you remove it: `docker ps -a` lists it.",
            icon=":material/check_circle:",
        )
    else:
        st.warning(f"Container `{run.name}` from `{run.image}`: {run.message}")
    lead = [
        ("Exit code", "-" if run.exit_code is None else run.exit_code),
        ("Ran for", theme.fmt_seconds(run.duration_s)),
    ]
    parsed_output(outcome.parsed, key=snap.key.slug, lead=lead)
    with st.expander("What the container printed", expanded=not outcome.parsed.report):
        if run.truncated:
            st.caption(
                f"The last {len(run.lines):,} of {run.lines_total:,} lines (the page keeps a "
                f"bounded tail; `docker logs --tail {len(run.lines)} {run.name}` shows the same)."
            )
        st.code(run.output or "(nothing)", language="text")


# ---------------------------------------------------------------- container actions


def action_panel(snap: JobSnapshot | None) -> None:
    outcome = common.outcome(snap)
    if outcome is None:
        return
    st.success(outcome.message, icon=":material/check_circle:")
    common.command(outcome.cli, "The command it stands for:")


def exec_panel(snap: JobSnapshot | None) -> None:
    outcome = common.outcome(snap, working="docker exec…")
    if outcome is None:
        return
    result = outcome.result
    common.command(result.cli, "The command it stands for:")
    st.success(
        f"`{result.cli}` ran inside the running container `{outcome.container}` "
        f"and exited with code {result.exit_code} after {theme.fmt_seconds(result.duration_s)}.",
        icon=":material/terminal:",
    )
    if not outcome.parsed.empty:
        parsed_output(outcome.parsed, key="exec")
    with st.expander("Output", expanded=outcome.parsed.empty):
        lines = result.output.rstrip("\n").split("\n") if result.output else []
        if len(lines) > OUTPUT_LINES:
            st.caption(f"The last {OUTPUT_LINES:,} of {len(lines):,} lines.")
            lines = lines[-OUTPUT_LINES:]
        st.code("\n".join(lines) or "(nothing)", language="text")


PRUNE_KINDS = (
    ("container", "Stopped containers"),
    ("network", "Unused networks"),
    ("image", "Images no running container uses"),
    ("cache", "Build cache records"),
)


def prune_preview_panel(snap: JobSnapshot | None) -> None:
    """What `docker system prune -a` would remove (engine/ops/prune.py), ours and not ours."""
    preview = common.outcome(snap, working="docker system df…")
    if preview is None:
        return
    rows = []
    for kind, title in PRUNE_KINDS:
        found = preview.of_kind(kind)
        rows.append(
            {
                "What": title,
                "How many": len(found),
                "Size": theme.fmt_bytes(sum(d.size_bytes for d in found)),
                "The dashboard's": "can't tell (no labels)"
                if kind == "cache"
                else sum(1 for d in found if d.ours),
                "Not the dashboard's": ""
                if kind == "cache"
                else sum(1 for d in found if not d.ours),
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="prune-preview-table")
    st.caption(
        f"`docker builder prune -a` alone would remove the {len(preview.builder)} build cache "
        f"records ({theme.fmt_bytes(preview.builder_bytes)}). Volumes stay unless `--volumes`."
    )
    others = preview.not_ours
    if others:
        names = ", ".join(f"`{d.name}`" for d in others[:12])
        more = f" and {len(others) - 12} more" if len(others) > 12 else ""
        st.warning(
            f"`docker system prune -a` would also remove {len(others)} things the dashboard did "
            f"not make: {names}{more}. That is why it shows the command and does not run it.",
            icon=":material/warning:",
        )
    else:
        st.info(
            "Everything it would remove with a label is the dashboard's; the build cache records "
            "carry none, so whose they are cannot be told.",
            icon=":material/info:",
        )


def logs_panel(snap: JobSnapshot | None) -> None:
    """`docker logs -f`: the lines as they come and a "Stop following" button, then how it
    ended (the container stopped, with its exit code, or the student stopped following)."""
    from dashboard.engine.ops import runs

    if snap is None:
        st.caption("Not following any container's logs.")
        return
    lines = snap.lines()
    if snap.running:
        st.progress(0.0, text=f"Following: `{snap.detail}`")
        if st.button(
            T.STOP_FOLLOWING, key="stop-following-" + snap.key.slug, icon=":material/stop_circle:"
        ):
            state.registry().cancel(snap.key)
            st.toast("Stopped following; the container keeps running.")
        common.live_log(lines[-LOG_LINES:])
        return
    follow = snap.result
    if follow is None:
        common.job_failed(snap)
        return
    common.command(follow.cli, "The command it stands for:")
    if follow.ended == runs.FOLLOW_EXITED:
        st.success(follow.message, icon=":material/check_circle:")
    elif follow.ended == runs.FOLLOW_STOPPED:
        st.info(follow.message, icon=":material/stop_circle:")
    else:
        st.warning(follow.message, icon=":material/info:")
    if snap.dropped:
        st.caption(f"The last {len(lines):,} of {snap.events_total:,} lines.")
    common.live_log(lines[-LOG_LINES:])
