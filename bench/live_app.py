"""A bench-only Streamlit page: the lesson pages' run panel for any image and command.

The lesson pages run fixed lab images; the log-flood benchmark needs the same path with a
container that prints as fast as it can. This page wires exactly the pieces lesson 1's "Run it"
uses (`state.start` + `tasks.run_image` in a job, `common.live` + `views.run_panel` polling the
live log), for BENCH_LIVE_IMAGE / BENCH_LIVE_LAB / BENCH_LIVE_COMMAND / BENCH_LIVE_TIMEOUT.
A "Ping" button is an inert widget: its rerun shows the page still answers.
`python -m streamlit run bench/live_app.py` from the repository root (bench.flood starts it).
"""

import os

import streamlit as st

from dashboard.ui import common, state, views
from dashboard.work import tasks
from dashboard.work.jobs import JobKey

IMAGE = os.environ.get("BENCH_LIVE_IMAGE", "")
LAB = os.environ.get("BENCH_LIVE_LAB", "bench")
COMMAND = os.environ.get("BENCH_LIVE_COMMAND") or None
TIMEOUT = float(os.environ.get("BENCH_LIVE_TIMEOUT", "120"))
KEY = JobKey("run", "bench-live")

st.title("Bench: a live run")
if st.button("Run", key="bench-run") and IMAGE:
    state.start(KEY, tasks.run_image(IMAGE, LAB, command=COMMAND, timeout=TIMEOUT), f"run {IMAGE}")
if st.button("Ping", key="bench-ping"):
    st.session_state["pings"] = st.session_state.get("pings", 0) + 1
st.markdown(f"pings: {st.session_state.get('pings', 0)}")
common.live(KEY, views.run_panel)
