"""The Locust part of the load section, without a server: the figures from what the locustfile
wrote, the largest class under the bound, Locust beside Chromium, the goals and the report."""

from __future__ import annotations

import copy

from bench import load, locust_load, locust_report, locust_run, report, run


class NoSamples:
    samples: list = []

    def phase_figures(self, phase):
        return None


def _sample(student, kind, name, s, at, ok=True):
    return {"student": student, "kind": kind, "name": name, "s": s, "ok": ok, "at": at}


GOT = {
    "scenario": "idle",
    "phases": {"settled": 1000.0, "end": 1060.0},
    "samples": [
        _sample("a01", "page", "open lesson1", 0.5, 900.0),
        _sample("a01", "page", "sign in", 0.3, 901.0),
        _sample("a01", "page", "sizes", 0.2, 1010.0),
        _sample("a01", "page", "lesson1 (back)", 0.1, 1011.0),
        _sample("a02", "page", "open lesson1", 0.7, 902.0),
        _sample("a02", "wait", "run: done", 5.0, 950.0, ok=False),
    ],
    "students": {
        "a01": {
            "ready": True,
            "failed_steps": [],
            "problems": [],
            "started": 900.0,
            "last": 1060.0,
            "auto_sent": 600,
            "runs": {"full": 20, "fragment": 580},
            "received_bytes": 1000,
            "closed": None,
            "at_settled": {"auto_sent": 360, "runs": 370},
            "at_end": {"auto_sent": 600, "runs": 600},
        },
        "a02": {
            "ready": False,
            "failed_steps": ["wait run: done: Timeout: not shown"],
            "problems": ["error box: The run failed"],
            "started": 902.0,
            "last": 960.0,
            "auto_sent": 10,
            "runs": {"full": 5, "fragment": 10},
            "received_bytes": 500,
            "closed": "WebSocketConnectionClosedException: closed",
        },
        "a03": {  # still setting up when Locust's time limit came
            "ready": False,
            "failed_steps": [],
            "problems": [],
            "started": 905.0,
            "last": 1060.0,
            "auto_sent": 0,
            "runs": {"full": 3},
            "received_bytes": 100,
            "closed": None,
        },
    },
}


def test_figures_count_errors_and_the_idle_window():
    got = locust_run.figures(
        GOT, 4, "Traceback (most recent call last)\n  x\nKeyError: 'y'\n", NoSamples(), 900.0
    )
    assert got["page_s"]["n"] == 5  # pages only, failed steps left out
    assert got["idle_page_s"]["n"] == 2  # the two after the class settled
    assert got["by_name"]["page: open lesson1"]["n"] == 2
    assert "wait: run: done" not in got["by_name"]
    # a failed step, a lost websocket, a student Locust never started, one still setting up,
    # a server traceback
    assert got["errors"] == 5
    assert (got["failed_count"], got["lost_websockets"], got["not_started"]) == (1, 1, 1)
    assert got["unfinished"] == 1
    assert got["server_traceback_ends"] == ["KeyError: 'y'"]
    assert got["ready"] == 1 and got["not_ready"] == ["a02", "a03"]
    assert got["problems"] == ["error box: The run failed"]
    assert got["idle_sends_per_student_s"]["median"] == 4.0  # 240 sends in 60 s
    assert got["idle_runs_per_student_min"]["median"] == 230.0  # 230 runs in one minute
    assert got["setup_s"] == 100.0


def _class(scenario, n, p95, errors=0, failed=None):
    if failed:
        return {"scenario": scenario, "students": n, "failed": failed}
    page = {"n": 10, "p50": p95 / 2, "p95": p95, "p99": p95, "max": p95}
    return {
        "scenario": scenario,
        "students": n,
        "ready": n,
        "page_s": page,
        "idle_page_s": page,
        "by_name": {"wait: build: done": page, "wait: run: done": page},
        "errors": errors,
        "failed_count": errors,
        "lost_websockets": 0,
        "server_tracebacks": 0,
        "not_started": 0,
        "failed_steps": ["page sizes: Timeout"] * errors,
        "rss_before_bytes": 70e6,
        "peak_rss_bytes": 230e6,
        "load_before": 3.0,
        "phases": {
            "idle": {"cpu_mean": {"server": 20, "driver": 10, "daemon": 5, "machine": 90}},
        },
        "saturation": {"idle": {"verdict": "nothing (CPU to spare)"}},
    }


CLASSES = [
    _class("idle", 1, 0.2),
    _class("idle", 10, 0.5),
    _class("idle", 30, 1.4),
    _class("idle", 60, 0.9),  # under the bound, but a smaller class was not
    _class("lecture", 1, 0.3),
    _class("lecture", 10, 0.6, errors=2),
    _class("lecture", 30, 0.0, failed="RuntimeError: Locust wrote no results"),
]


def test_the_largest_class_under_the_bound_stops_at_the_first_that_is_not():
    assert locust_load.largest_under(CLASSES, "idle") == 10
    assert locust_load.largest_under(CLASSES, "lecture") == 1  # 10 had errors
    assert locust_load.largest_under([], "idle") is None


def test_locust_beside_chromium_per_page():
    browser = {
        "by_step": {
            "setup: cache": {"n": 1, "median": 0.5},
            "idle: sizes": {"n": 4, "median": 0.9},
            "setup: lesson1": {"n": 1, "median": 0.6},
            "idle: lesson1": {"n": 3, "median": 0.8},
        }
    }
    got = {
        "by_name": {
            "page: cache": {"n": 1, "p50": 0.2},
            "page: sizes": {"n": 4, "p50": 0.1},
            "page: lesson1": {"n": 1, "p50": 0.1},
            "page: lesson1 (back)": {"n": 3, "p50": 0.1},
        }
    }
    rows = {r["page"]: r for r in locust_load.compare_rows(browser, got)}
    assert rows["cache"]["diff_s"] == 0.5 - 0.2
    assert rows["lesson1"]["browser_s"] == (0.6 + 3 * 0.8) / 4
    assert rows["lesson1"]["locust_n"] == 4
    assert rows["multistage"]["browser_s"] is None and rows["multistage"]["diff_s"] is None


def test_goals_and_report_with_locust_classes():
    from tests.unit.test_bench_load import LOAD

    results = {"load": copy.deepcopy(LOAD)}
    one = {**_class("idle", 1, 0.2), "idle_sends_per_student_s": {"median": 3.8}}
    compared = {
        "one": {"locust": one, "rows": locust_load.compare_rows(LOAD["one"], one)},
    }
    results["load"]["locust"] = {
        "classes": CLASSES,
        "compare": compared,
        "class_rate": 1.0,
        "p95_bound_s": 1.0,
        "largest_under_bound": {"idle": 10, "lecture": 1},
        "reports": "bench/out/locust",
    }
    goals = {g.key: g for g in run.judge(results)}
    assert goals["load_locust_errors"].value == 3 and not goals["load_locust_errors"].met
    assert "largest class with p95 < 1 s: idle 10, lecture 1" in goals["load_locust_errors"].note
    assert goals["load_class_p95"].value == 0.9 and goals["load_class_p95"].met
    text = "\n".join(report.load_section(results["load"]))
    assert "### The class played by Locust students" in text
    assert "| idle | 30 | 30 of 30 | 700 ms / 1.40 s / 1.40 s (n=10) |" in text
    assert "| lecture | 30 | - | - | - | - | - | RuntimeError: Locust wrote no results |" in text
    assert "idle: 10; lecture: 1" in text
    assert "| 1 | sizes |" in text and "- lecture 10: page sizes: Timeout" in text
    assert locust_report.locust_lines({}) == []
    # A results file from before the Locust students renders as it did.
    assert "Locust" not in "\n".join(report.load_section(LOAD))
    assert load.summary([]) is None


def test_the_proof_judges_the_servers_counter_and_the_browsers_share():
    def srv(runs, page_ms):
        return {
            "runs_per_student_min": {"median": runs},
            "full_run_ms": {"median": page_ms},
            "sessions": 1,
            "window_s": 60.0,
            "full_runs": 5,
        }

    browser = {"students": 1, "errors": 0, "server_runs": srv(200.0, 40.0)}
    rows = [{"diff_s": 0.3}, {"diff_s": -0.05}, {"diff_s": None}]
    same = locust_load.verdict(browser, {"errors": 0, "server_runs": srv(210.0, 45.0)}, rows)
    assert same["runs_ok"] and same["server_page_ok"] and same["errors_ok"]
    assert same["browser_adds_ok"] and same["browser_adds_s"] == [-0.05, 0.3]
    assert abs(same["runs_ratio"] - 1.05) < 1e-9
    # Fewer runs than the browser's timer asked for, a slower server, other errors, a browser
    # that adds more than drawing: each is outside.
    off = locust_load.verdict(
        browser, {"errors": 2, "server_runs": srv(170.0, 60.0)}, [{"diff_s": 0.8}]
    )
    assert not off["runs_ok"] and not off["server_page_ok"] and not off["errors_ok"]
    assert off["browser_adds_ok"] is False
    # With more students the browser's share is reported, not judged; no counter: not met.
    five = locust_load.verdict({**browser, "students": 5}, {"errors": 0}, [{"diff_s": 2.0}])
    assert five["browser_adds_ok"] is None and not five["runs_ok"]
    locust = {"errors": 0, "server_runs": srv(210.0, 45.0), "peak_rss_bytes": 1}
    side = {"locust": locust, "rows": [], "verdict": same}
    text = "\n".join(
        locust_report.compare_lines(
            {"one": side}, {**browser, "sends_per_s": None, "peak_rss_bytes": 1}, {}
        )
    )
    assert "Locust / Chromium 1.05x (within)" in text
    assert "| 1 | errors | 0 | 0 | same |" in text
