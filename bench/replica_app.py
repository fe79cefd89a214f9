"""The replicas' app (`streamlit run bench/replica_app.py`, BENCH_REPLICA_DIR a folder of
recorded runs, bench/replica.py): one page per `<url path>.pb` file, titled as the file's
`.title` neighbour says, whose script replays that recording and does nothing else. The
navigation lists the same number of pages as the dashboard's, so the sidebar drawn is alike."""

import os
from pathlib import Path

import streamlit as st

from bench import replica

FOLDER = Path(os.environ["BENCH_REPLICA_DIR"])


def _page(recording: Path):
    def show() -> None:
        replica.replay(recording)

    show.__name__ = f"replica_{recording.stem.replace('-', '_')}"
    title_file = recording.with_suffix(".title")
    title = title_file.read_text() if title_file.exists() else recording.stem
    return st.Page(show, title=title, url_path=recording.stem)


def _empty() -> None:
    st.write("no recordings yet")


pages = [_page(p) for p in sorted(FOLDER.glob("*.pb"))] or [st.Page(_empty, title="empty")]
st.navigation(pages).run()
