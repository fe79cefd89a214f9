"""bench/counted_server.py: the server-side counter of script runs the load section's proof
stands on. A real Streamlit server (no Docker) with a page that has a button and a fragment on
a timer, driven by bench/st_client.py: the server must count exactly the runs whose
script_finished the client got, full and fragment runs apart; and the window arithmetic."""

from __future__ import annotations

import time

from bench import app_probe, counted_server
from bench.st_client import Client

PAGE = """
import streamlit as st

st.title("counted")
st.button("Press")

@st.fragment(run_every=0.25)
def ticker():
    st.write("tick")

ticker()
"""


def test_the_server_counts_the_runs_the_client_saw(tmp_path):
    script = tmp_path / "page.py"
    script.write_text(PAGE)
    counts = tmp_path / "counts.jsonl"
    with app_probe.serve(str(script), tmp_path / "server.log", counts=counts) as (url, _):
        tab = Client(url)
        try:
            tab.open("")
            for _ in range(3):
                tab.click("Press")
            time.sleep(2.0)  # the fragment's timer asks four times a second
        finally:
            tab.close()
        time.sleep(2.5 * counted_server.INTERVAL)  # the runs in flight end, a snapshot is written
        snapshots = counted_server.read(counts)
    finished = [d for _, what, d in tab.events if what == "finish"]
    assert snapshots, (tmp_path / "server.log").read_text()[-2000:]
    sessions = snapshots[-1]["sessions"]
    assert len(sessions) == 1, sessions
    (got,) = sessions.values()
    assert got["runs"] == len(finished), (got, len(finished))
    assert got["full"] + got["early"] == 4  # the page's first run and three presses
    assert got["fragments"] >= 4, got  # two seconds of a 0.25 s timer, some merged
    assert got["runs"] == got["full"] + got["early"] + got["fragments"]
    assert len(got["full_ms"]) == got["full"] and all(ms > 0 for ms in got["full_ms"])


def test_runs_in_a_window_are_the_difference_of_two_snapshots():
    def snap(t, runs, full, full_ms):
        entry = {"runs": runs, "fragments": runs - full, "full": full, "early": 0}
        return {"t": t, "sessions": {"a": {**entry, "full_ms": full_ms}}}

    snapshots = [
        snap(100.0, 10, 2, [50.0, 60.0]),
        snap(101.0, 14, 2, [50.0, 60.0]),
        snap(130.0, 130, 3, [50.0, 60.0, 70.0]),
        snap(161.0, 250, 3, [50.0, 60.0, 70.0]),
    ]
    got = counted_server.runs_in(snapshots, 101.5, 160.0)  # snapshots at 101 and 130
    assert got["a"]["runs"] == 116
    assert got["a"]["full"] == 1 and got["a"]["full_ms"] == [70.0]
    assert got["a"]["fragments"] == 115
    assert abs(got["a"]["runs_per_min"] - 116 / (58.5 / 60)) < 1e-9
    assert counted_server.runs_in(snapshots, 0.0, 50.0) == {}  # nothing ran before the first
