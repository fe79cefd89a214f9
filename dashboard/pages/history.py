"""Progress & history: every lesson's steps, and the builds and runs of this machine over time.

Reads the history database (engine/progress/history.py) that every build and run of the dashboard
writes to: image size across tags, cold vs warm build times, the cache hit rate of each build, the
runs, and the Dockerfile diff between any two builds. Readable while the daemon is down (the checks
then show what was ticked before).
"""

import streamlit as st

from dashboard.engine.catalog.lessons import LESSONS
from dashboard.engine.progress import checks
from dashboard.ui import common, exports, guide, shell, state
from dashboard.ui import history_charts as hc

ALL_LABS = "all labs"


def _build_label(b) -> str:
    when = b.finished_at.astimezone().strftime("%d %b %H:%M:%S")
    status = "" if b.ok else ", failed"
    return f"#{b.id} {b.lab} ({b.tag or 'untagged'}, {when}, {b.kind}{status})"


def render() -> None:
    common.header(
        "Progress & history",
        "What you have done in each lesson, checked against Docker itself, and every build and "
        "run the dashboard made on this machine: how big the images were, how long the builds "
        "took with and without the cache, and what changed in the Dockerfile between two builds.",
    )
    guide.history_status()
    history = state.history()

    # ---------------------------------------------------------------- progress
    st.header("Your progress")
    results = guide.evaluate(None)
    per_lesson = checks.lesson_progress(results)
    cols = st.columns(len(LESSONS))
    for col, lesson in zip(cols, LESSONS, strict=True):
        done, total = per_lesson.get(lesson.id, (0, 0))
        with col:
            st.metric(lesson.topic, f"{done} / {total}")
            st.progress(done / total if total else 0.0)
            st.page_link(guide.LESSON_PAGES[lesson.id], label="Open the lesson")
    with st.expander("Every step", expanded=False):
        for lesson in LESSONS:
            st.markdown(f"**{lesson.topic}**")
            guide.checks_list([r for r in results if r.lesson == lesson.id])
    forget = history.enabled and not state.presenting()
    if forget and st.button("Forget my ticks", key="reset-checks", icon=":material/restart_alt:"):
        history.reset_checks()
        guide._evaluate.clear()
        st.rerun()

    if history.enabled:
        records(history)
    own_dockerfile()


def records(history) -> None:
    # ---------------------------------------------------------------- builds
    st.header("Builds over time")
    builds = history.builds()
    if not builds:
        st.info("No build recorded yet: build an image on a lesson page and come back.")
    else:
        labs_seen = sorted({b.lab for b in builds})
        chosen = st.selectbox("Lab", [ALL_LABS, *labs_seen], key="history-lab")
        lab = None if chosen == ALL_LABS else chosen
        points = history.build_points(lab)
        sizes = history.image_sizes(lab=lab)
        if sizes:
            fig, frame = hc.image_sizes(sizes)
            exports.chart(fig, key="history-sizes", data=frame)
        fig, frame = hc.build_times(points)
        exports.chart(fig, key="history-times", data=frame)
        left, right = st.columns(2)
        with left:
            fig, frame = hc.cold_vs_warm(history.cold_vs_warm(lab))
            exports.chart(fig, key="history-cold-warm", data=frame)
        with right:
            fig, frame = hc.cache_hit_rate(points)
            exports.chart(fig, key="history-hit-rate", data=frame)
        st.caption(
            "Cold: no step came from the cache (a first build, `--no-cache`, an emptied cache). "
            "Partial: an edit made the steps from some point on run again. Cached: every step "
            "came from the cache. FROM is not counted: the base image is never built."
        )

        # ------------------------------------------------------------ diff
        st.header("What changed in the Dockerfile")
        pick = builds if lab is None else [b for b in builds if b.lab == lab]
        by_label = {_build_label(b): b for b in reversed(pick)}  # newest first
        names = list(by_label)
        if len(names) < 2:
            st.caption("Two builds are needed to compare their Dockerfiles.")
        else:
            cols = st.columns(2)
            # The newest build against the one before it of the same lab and Dockerfile: two
            # different labs' Dockerfiles (the wine trainer's and predictor's) say little.
            newest = by_label[names[0]]
            same = [
                i
                for i, n in enumerate(names[1:], start=1)
                if by_label[n].lab == newest.lab
                and by_label[n].dockerfile_path == newest.dockerfile_path
            ]
            older = cols[0].selectbox(
                "Older build", names, index=same[0] if same else 1, key="diff-a"
            )
            newer = cols[1].selectbox("Newer build", names, index=0, key="diff-b")
            a, b = by_label[older], by_label[newer]
            diff = history.dockerfile_diff(a.id, b.id)
            if diff:
                st.code(diff, language="diff")
            elif a.dockerfile_sha256 and a.dockerfile_sha256 == b.dockerfile_sha256:
                st.info(
                    f"Both builds used the same Dockerfile (sha256 {a.dockerfile_sha256[:12]}…): "
                    "what changed between them, if anything, was in the files they copied."
                )
            else:
                st.info("No Dockerfile text was kept for one of these builds.")

    # ---------------------------------------------------------------- runs
    st.header("Runs")
    runs = history.runs(None if not builds or chosen == ALL_LABS else chosen)
    if not runs:
        st.info("No run recorded yet: run a container on a lesson page.")
    else:
        frame = hc.runs_frame(runs[::-1])
        st.dataframe(frame, hide_index=True, key="history-runs")
        st.download_button(
            "CSV",
            data=exports.to_csv(frame),
            file_name="runs.csv",
            mime="text/csv",
            key="history-runs-csv",
            icon=":material/table:",
            on_click="ignore",
        )


def own_dockerfile() -> None:
    st.header("Check a Dockerfile of your own")
    text = st.text_area(
        "Paste a Dockerfile",
        key="own-dockerfile",
        height=200,
        placeholder="FROM python:3.11-slim\nCOPY . .\nRUN pip install -r requirements.txt\n...",
    )
    if text.strip():
        guide.hints_for_text(text)


shell.run_page(render, __file__)
