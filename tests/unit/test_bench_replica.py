"""bench/replica.py: a page's rerun recorded from its frames and served again with no logic
must draw the same elements. A real Streamlit page (markdown, columns, a button, an expander,
a code block, a table, a fragment on a timer) driven by bench/st_client.py stands in for the
browser: its frames feed the recorder, then the replica app serves the recording and a second
tab must receive the same element types, counts and texts at the same delta paths."""

from __future__ import annotations

from bench import app_probe, replica
from bench.st_client import Client

PAGE = """
import streamlit as st

st.set_page_config(layout="wide")
st.title("Original")
left, right = st.columns(2)
left.markdown("**left** side")
right.button("Press me", key="press")
with st.expander("More"):
    st.code("print('hi')", language="python")
    st.table({"a": [1, 2], "b": [3, 4]})

@st.fragment(run_every=0.25)
def ticker():
    st.caption("tick")

ticker()
"""


def _elements(tab) -> dict:
    return {path: (e.WhichOneof("type"), e.SerializeToString()) for path, e in tab.elements.items()}


def test_a_recorded_rerun_replays_to_the_same_elements(tmp_path):
    script = tmp_path / "page.py"
    script.write_text(PAGE)
    folder = tmp_path / "replicas"
    folder.mkdir()
    recorder = replica.Recorder()
    with app_probe.serve(str(script), tmp_path / "page.log") as (url, _):
        tab = Client(url)
        original = tab.tab.apply_bytes

        def both(data):
            recorder.feed(data)
            return original(data)

        tab.tab.apply_bytes = both
        try:
            tab.open("")
            recorder.arm()
            tab.run()  # a rerun with nothing changed: unchanged elements come as references
            assert recorder.done
            expected = _elements(tab.tab)
        finally:
            tab.close()
    counts = replica.element_counts(recorder.recorded)
    assert counts["block"] >= 4  # the columns, each column, the expander
    assert counts["markdown"] >= 2 and counts["button"] == 1 and counts["code"] == 1
    replica.save(recorder.recorded, folder / "original.pb")
    assert [m.SerializeToString() for m in replica.load(folder / "original.pb")] == [
        m.SerializeToString() for m in recorder.recorded
    ]
    (folder / "original.title").write_text("Original")
    env = {"BENCH_REPLICA_DIR": str(folder)}
    with app_probe.serve("bench/replica_app.py", tmp_path / "replica.log", env) as (url, _):
        again = Client(url)
        try:
            again.open("original")
            got = _elements(again.tab)
            problems = again.take_problems()
        finally:
            again.close()
    assert not problems
    assert got == expected
    assert not again.tab.timers  # no logic: the fragment's timer is not replayed


def test_the_goal_is_the_slowest_lesson_page_over_its_replica():
    from bench import report, run

    def page(path, title, ms, replica_ms):
        summary = {"n": 10, "median": ms, "minimum": ms, "maximum": ms}
        return {
            "page": title,
            "path": path,
            "elements": {"markdown": 30, "block": 8},
            "messages": 38,
            "rerun_ms": summary,
            "replica_ms": {**summary, "median": replica_ms},
            "ratio": ms / replica_ms,
            "ratio_per_round": [ms / replica_ms] * 2,
        }

    lesson = sorted(run.LESSON_PATHS)[0]
    pages = [page(lesson, "A lesson", 60.0, 50.0), page("sizes", "Sizes", 90.0, 30.0)]
    results = {"responsive": {"replicas": {"rounds": 2, "repeats": 5, "pages": pages}}}
    goal = {g.key: g for g in run.judge(results)}["rerun_lesson_pages_replica"]
    assert goal.value == 1.2 and goal.met  # the lesson page only: Sizes is no lesson
    assert "of all pages Sizes 3.00x" in goal.note
    text = "\n".join(report.replica_lines(results["responsive"]["replicas"]))
    assert "| A lesson | 38 (markdown 30, block 8) |" in text
    assert report.replica_lines(None) == []


def test_the_command_goal_against_docker_build_plus_the_sdks_import():
    from bench import run

    def summary(median):
        return {"n": 11, "median": median, "minimum": median, "maximum": median}

    floor = {
        "engine": summary(0.33),
        "cli": summary(0.20),
        "ratio": summary(1.65),
        "ratio_of_medians": 1.65,
        "pairs": 11,
        "import_docker_s": summary(0.13),
    }
    goal = {g.key: g for g in run.judge({"overhead": {"whole_warm_floor": floor}})}[
        "overhead_warm_command_floor"
    ]
    assert goal.value == 1.65 and not goal.met
    assert "of which `import docker` 130 ms" in goal.note


def test_the_commands_cache_their_bytecode_as_an_installed_package_does(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from bench import overhead

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = overhead.command_env(SimpleNamespace(tmp=tmp_path), DOCKER_HOST="unix:///nowhere")
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["PYTHONPYCACHEPREFIX"] == str(tmp_path / "pycache")
    assert env["DOCKER_HOST"] == "unix:///nowhere"
    took = overhead.import_docker(env)  # the floor's own command runs, compiled once
    assert took > 0 and (tmp_path / "pycache").is_dir()
