"""Guided checks, Dockerfile hints and the history notice, as panels the pages call in one line.

- `progress(lesson)`: "Your progress", the lesson's checks (engine/progress/checks.py) ticked from
  what the daemon and the history really show, or with the hint of what to do. It is a parallel
  fragment: it runs beside the page's own script, so a slow daemon answer never holds the page up,
  and its "Check again" button reruns only the panel. Results are cached, keyed by how many jobs
  have finished and by the daemon's events (ui/state.py), so a build or run that just ended, or a
  `docker rm` typed in a terminal, is seen at once, and a plain rerun asks the daemon nothing.
- `dockerfile_hints(path)` / `hints_for_text(text)`: what engine/analysis/dockerfile_lint.py
  (hadolint and the dashboard's own rules) says about a Dockerfile, each hint with a link to the
  lesson page that explains it and, for hadolint's, to its page on the rule; a note when hadolint is
  off.
- `history_notice()`: one line in the sidebar when the history database is off (damaged,
  locked, newer), and `history_status()`, the full story with a way out, on the history page.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.engine.analysis import dockerfile_lint as dl
from dashboard.engine.catalog import lessons
from dashboard.ui import errors, state

# Lesson id -> the page that teaches it (st.page_link's path), from the catalog.
LESSON_PAGES = {lesson.id: f"pages/{lesson.page}" for lesson in lessons.LESSONS}
HISTORY_PAGE = "pages/history.py"
CHECK_TTL = state.READS_TTL  # an upper bound: the events renew an evaluation when things change
# Material icons, not emoji: the browsers of a classroom machine often lack an emoji font.
DONE = ":green[:material/check_circle:]"
TODO = ":gray[:material/radio_button_unchecked:]"
LEVEL_ICONS = {
    dl.ERROR: ":red[:material/error:]",
    dl.WARNING: ":orange[:material/warning:]",
    dl.INFO: ":blue[:material/info:]",
}


# ---------------------------------------------------------------- checks


@st.cache_data(ttl=CHECK_TTL, show_spinner=False)
def _evaluate(
    endpoint: str, generation: tuple, history_path: str, lesson: str | None, session: str
):
    from dashboard.engine.progress import checks

    client = state.client() if state.facts().ok else None
    return checks.evaluate(client, state.history(), lesson, session=session)


def evaluate(lesson: str | None = None):
    """The checks of `lesson` (all when None), for this dashboard's session's containers."""
    from dashboard.engine.base import labels

    history = state.history()
    return _evaluate(
        state.endpoint(),
        state.generation(),
        str(history.path),
        lesson,
        labels.current_session(),
    )


def _check_line(result) -> None:
    if result.done:
        when = f" (done {result.done_at.astimezone():%d %b %H:%M})" if result.done_at else ""
        st.markdown(f"{DONE} **{result.title}**{when}")
        st.caption(result.detail if result.true_now else result.done_detail or result.detail)
    else:
        st.markdown(f"{TODO} **{result.title}**")
        st.caption(f"{result.hint} Now: {result.detail}")


def checks_list(results) -> None:
    for result in results:
        _check_line(result)


def progress(lesson: str) -> None:
    """The compact "Your progress" panel of one lesson page."""

    @st.fragment(parallel=True)
    def panel() -> None:
        with errors.boundary():
            results = evaluate(lesson)
            done = sum(r.done for r in results)
            title = f"Your progress: {done} of {len(results)} steps done"
            with st.expander(title, expanded=done < len(results), icon=":material/checklist:"):
                checks_list(results)
                row = st.container(horizontal=True, vertical_alignment="center")
                if row.button("Check again", key=f"checks-again-{lesson}", type="tertiary"):
                    _evaluate.clear()
                    st.rerun(scope="fragment")
                if not state.history().enabled:
                    row.caption("History is off: ticks last until the page is reloaded.")
                row.page_link(HISTORY_PAGE, label="All lessons and history")

    panel()


# ---------------------------------------------------------------- Dockerfile hints


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _hints(report: dl.LintReport, *, title: str, expanded: bool | None = None) -> None:
    shown = list(report.hints)
    levels = ((report.errors, "error"), (report.warnings, "warning"), (report.infos, "note"))
    counts = [_plural(len(found), word) for found, word in levels if found]
    label = f"Dockerfile hints for {title}: " + (", ".join(counts) if shown else "none")
    if expanded is None:
        expanded = any(h.level != dl.INFO for h in shown)
    with st.expander(label, expanded=expanded, icon=":material/lightbulb:"):
        if report.note:
            st.caption(f":material/info: {report.note}")
        if not shown:
            st.success(
                "Nothing to say from the dashboard's own checks."
                if report.note
                else "Nothing to say: this Dockerfile follows what the lessons teach."
            )
        for hint in shown:
            where = f"Line {hint.line}" if hint.line else "The file"
            st.markdown(f"{LEVEL_ICONS[hint.level]} **{where}: {hint.title}.** {hint.message}")
            rule = f"[{hint.rule}]({hint.url})" if hint.url else ""
            st.caption(" ".join(part for part in (hint.why, rule) if part))
            page = LESSON_PAGES.get(hint.lesson)
            if page:
                label = f"Explained in {lessons.get(hint.lesson).topic}"
                st.page_link(page, label=label, icon=":material/menu_book:")


def dockerfile_hints(
    path: Path, *, label: str | None = None, builder: str = dl.CLASSIC, expanded=None
) -> None:
    """Hints for a Dockerfile on disk (its folder is the build context)."""
    report = dl.lint_file(path, builder=builder)
    _hints(report, title=label or path.name, expanded=expanded)


def lab_hints(lab_name: str, expanded=None) -> None:
    """Hints for every Dockerfile of a catalog lab (each Compose service's too)."""
    from dashboard.engine.base.paths import labs_dir
    from dashboard.engine.catalog import labs

    for report in dl.lint_lab(labs.get(lab_name)):
        path = Path(report.file)
        try:
            shown = f"labs/{path.relative_to(labs_dir())}"
        except ValueError:
            shown = path.name
        _hints(report, title=shown, expanded=expanded)


def hints_for_text(text: str, *, title: str = "your Dockerfile", expanded=True) -> None:
    _hints(dl.lint_text(text), title=title, expanded=expanded)


# ---------------------------------------------------------------- history state


def _off_reason() -> str | None:
    history = state.history()
    return None if history.enabled else (history.disabled_reason or "unknown reason")


def history_notice() -> None:
    """One line in the sidebar while the history is off; once per session, where an earlier
    version's history was moved from (engine/base/paths.py)."""
    from dashboard.engine.base import paths

    moved = paths.data_move()
    if moved is not None and not st.session_state.get("data-move-said"):
        st.session_state["data-move-said"] = True
        st.info(moved.sentence, icon=":material/drive_file_move:")
    if _off_reason() is None:
        return
    kind = type(state.history().error).__name__ if state.history().error else ""
    what = {
        "HistoryCorrupt": "its file is damaged (kept as it is)",
        "HistoryLocked": "its file is locked by another program",
        "HistoryTooNew": "its file comes from a newer dashboard (left untouched)",
    }.get(kind, "its file cannot be used")
    st.warning(
        f"History is off: {what}. Everything else works; builds and runs are not kept.",
        icon=":material/history_toggle_off:",
    )
    st.page_link(HISTORY_PAGE, label="Why, and how to fix it")


def history_status() -> None:
    """On the history page: where the file is, or why history is off and what to do."""
    from dashboard.engine.base import paths
    from dashboard.engine.progress import history as hist

    history = state.history()
    moved = paths.data_move()
    if moved is not None:
        st.caption(moved.sentence)
    if history.enabled:
        counts = history.counts()
        st.caption(
            f"Kept in `{history.path}` (schema {history.schema_version}): "
            f"{counts.get('builds', 0)} builds, {counts.get('runs', 0)} runs, "
            f"{counts.get('check_progress', 0)} ticked steps."
        )
        return
    st.error(f"History is off. {history.disabled_reason}", icon=":material/history_toggle_off:")
    error = history.error
    if isinstance(error, hist.HistoryCorrupt) and history.path.exists():
        st.markdown(
            "Nothing was changed: the damaged file is still there. The button renames it "
            f"(to `{history.path.name}.broken-<time>`, kept for you) and starts a new history."
        )
        if st.button("Move it aside and start a new history", key="history-move-aside"):
            moved = hist.move_aside(history.path)
            state.reopen_history()
            st.toast(f"Moved to {moved}")
            st.rerun()
    elif isinstance(error, hist.HistoryLocked) and st.button(
        "Try again", key="history-retry", icon=":material/refresh:"
    ):
        state.reopen_history()
        st.rerun()
