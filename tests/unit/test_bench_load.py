"""The load section's pure parts (bench/load.py): /proc parsing, CPU shares, what saturated,
the live panels' rates and delays, server tracebacks; its report and goals (bench/report.py,
bench/run.py). No browser, no daemon."""

import math
from pathlib import Path

import pytest

from bench import load, report, run

ROOT = Path(__file__).resolve().parents[2]

# /proc/PID/stat of a Chromium renderer (comm with a space and a parenthesis), fields cut short
# after the ones read: pid (comm) state ppid ... utime stime.
STAT = "4242 (chromium (ren)) S 4100 4100 4100 0 -1 4194560 9000 0 12 0 250 75 0 0 30 10 21"

SMAPS_ROLLUP = """\
55d0c0a00000-7ffd5b1fe000 ---p 00000000 00:00 0                          [rollup]
Rss:              102400 kB
Pss:               51200 kB
Pss_Anon:          40000 kB
Shared_Clean:      30000 kB
"""

SERVER_LOG = """\
  You can now view your Streamlit app in your browser.
2026-12-01 13:55:03.123 Uncaught app exception
Traceback (most recent call last):
  File "/app/dashboard/pages/sizes.py", line 40, in render
    rows = report.rows()
           ^^^^^^^^^^^^^
KeyError: 'Size'
Traceback (most recent call last):
  File "x.py", line 1, in <module>
ValueError: first

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "x.py", line 3, in <module>
RuntimeError: second
"""


def test_proc_stat_is_read_after_the_last_parenthesis():
    assert load.parse_stat(STAT) == ("chromium (ren)", 4100, 325)


def test_a_process_tree_from_parent_pids():
    parents = {1: 0, 10: 1, 11: 10, 12: 11, 20: 1, 21: 20}
    assert load.subtree(10, parents) == {10, 11, 12}
    assert load.subtree(12, parents) == {12}
    assert load.subtree(99, parents) == {99}


def test_processes_go_to_their_buckets():
    trees = {"server": {5, 6}, "own": {1, 2, 3, 5, 6}, "containers": {40, 41}}
    assert load.bucket(5, "python", trees) == "server"  # below us, but the server's first
    assert load.bucket(2, "chromium", trees) == "browser"
    assert load.bucket(3, "chrome_crashpad", trees) == "browser"
    assert load.bucket(1, "python", trees) == "driver"
    assert load.bucket(7, "dockerd", trees) == "daemon"
    assert load.bucket(8, "containerd-shim", trees) == "daemon"
    assert load.bucket(40, "sh", trees) == "containers"
    assert load.bucket(9, "chromium", trees) is None  # someone else's browser: other work


def test_the_container_of_a_process_from_its_cgroup():
    cid = "c5cf6318b60ac72a85408536cc6906b8185baf10af6c06024c1519f0c9e4d77e"
    cgroupfs = f"9:name=systemd:/docker/{cid}\n4:memory:/docker/{cid}\n0::/docker/{cid}\n"
    assert load.container_id(cgroupfs) == cid
    assert load.container_id(f"0::/system.slice/docker-{cid}.scope\n") == cid
    host = "4:memory:/process_api/da6f596f9fe9ed3c95db50375ad781b1\n0::/\n"
    assert load.container_id(host) is None


def test_machine_ticks_and_cpu_percent():
    # user nice system idle iowait irq softirq steal guest guest_nice
    busy, total = load.machine_ticks("cpu  100 5 50 800 40 3 2 0 9 9")
    assert (busy, total) == (160, 1000)
    assert load.cpu_percent(50, 1.0, 100) == 50.0  # half a core
    assert load.cpu_percent(300, 2.0, 100) == 150.0
    assert load.cpu_percent(10, 0, 100) == 0.0


def test_pss_is_read_from_smaps_rollup():
    assert load.pss_bytes(SMAPS_ROLLUP) == 51200 * 1024
    assert load.pss_bytes("Rss: 10 kB\n") == 0


def test_what_saturated():
    server = load.saturation({"server": 97, "browser": 60, "machine": 190}, cpus=2)
    assert server["server_full"] and "server process" in server["verdict"]
    browser = load.saturation({"server": 40, "browser": 140, "other": 10, "machine": 195}, cpus=2)
    assert browser["machine_full"] and not browser["server_full"]
    assert browser["top"] == "browser" and browser["browser_over_server"] == 3.5
    assert "2 CPUs" in browser["verdict"]
    spare = load.saturation({"server": 20, "browser": 30, "machine": 60}, cpus=2)
    assert spare["verdict"].startswith("nothing")
    assert load.saturation({"browser": 5, "machine": 5}, cpus=2)["browser_over_server"] == math.inf


def test_summaries_and_ratios():
    got = load.summary([1.0, 2.0, 3.0, 4.0, 10.0])
    assert got["median"] == 3.0 and got["p50"] == 3.0 and got["p95"] == pytest.approx(8.8)
    assert got["n"] == 5 and got["maximum"] == 10.0
    assert load.summary([]) is None
    assert load.ratio(6.0, 2.0) == 3.0
    assert load.ratio(None, 2.0) is None and load.ratio(1.0, 0) is None


def test_times_away_from_lesson_1_are_left_out():
    away = [(1000.0, 2000.0), (5000.0, 5500.0)]
    assert load.outside(500, away)
    assert not load.outside(1500, away)
    assert not load.outside(2900, away)  # within the second after coming back
    assert load.outside(2900, away, margin_ms=0)
    assert load.outside(4000, away)


def test_send_rate_per_second_on_lesson_1():
    window = (0.0, 10_000.0)
    sends = [t * 250.0 for t in range(40)]  # 4 a second for 10 s
    assert load.send_rate(sends, window, []) == pytest.approx(4.0)
    # 2 s away: neither its sends nor its time count
    assert load.send_rate(sends, window, [(2000.0, 4000.0)]) == pytest.approx(31 / 8)
    assert load.send_rate(sends, (0.0, 900.0), []) is None  # under a second: no rate


def test_the_counter_command_prints_what_the_delays_look_for():
    command = load.counter_command(90)
    assert "seq 1 90" in command and 'echo "step $i of 90"' in command
    assert load.COUNTER_LINE.match("step 12 of 90")
    assert not load.COUNTER_LINE.match("step $i of 90")


def test_server_tracebacks_end_with_their_exception():
    assert load.traceback_ends(SERVER_LOG) == [
        "KeyError: 'Size'",
        "ValueError: first",
        "RuntimeError: second",
    ]
    assert load.traceback_ends("all fine\n") == []


def test_the_forced_gc_setting_is_read_like_streamlit_does():
    shipped = (ROOT / ".streamlit" / "config.toml").read_text()
    assert load.post_script_gc(shipped, {}) is False  # the shipped config turns it off
    assert load.post_script_gc(shipped, {"STREAMLIT_RUNNER_POST_SCRIPT_GC": "true"}) is True
    assert load.post_script_gc("[server]\nheadless = true\n", {}) is True  # Streamlit's default
    assert load.post_script_gc("", {"STREAMLIT_RUNNER_POST_SCRIPT_GC": "false"}) is False


def _part(students: int, values: list[float], errors: int = 0, peak_mib: float = 230) -> dict:
    phase = {
        "seconds": 30.0,
        "other_top": {"chromium": 12.0},
        "cpu_mean": {
            "server": 60.0,
            "browser": 120.0,
            "driver": 5.0,
            "daemon": 4.0,
            "containers": 1.0,
            "other": 8.0,
            "machine": 198.0,
        },
        "rss_bytes": {"n": 30, "median": 220 * 2**20, "minimum": 2e8, "maximum": 2.3e8},
        "browser_pss_peak_bytes": 2 * 2**30,
    }
    response = load.summary(values)
    return {
        "students": students,
        "ready": students,
        "load_before": 1.5,
        "setup_s": 20.0 * students,
        "response_s": response,
        "p50_s": response["p50"],
        "p95_s": response["p95"],
        "by_phase": {"setup": response, "idle": response},
        "by_step": {"idle: sizes": response, "setup: open": response},
        "actions_s": {"run": {"n": 1, "median": 4.0, "minimum": 4.0, "maximum": 4.0}},
        "live_delay_ms": load.summary([200.0, 300.0]),
        "sends_per_s": {"n": 1, "median": 4.0, "minimum": 3.9, "maximum": 4.1},
        "sends_per_s_total": 4.0 * students,
        "sends_expected_per_s": 4.0,
        "errors": errors,
        "error_kinds": {"page": errors} if errors else {},
        "error_list": [
            {"student": "ld-x-b01", "phase": "idle", "step": "move", "kind": "page", "detail": "x"}
        ]
        * errors,
        "server_tracebacks": 0,
        "server_traceback_ends": [],
        "network_flakes": 0,
        "rss_before_bytes": 73 * 2**20,
        "peak_rss_bytes": peak_mib * 2**20,
        "phases": {"setup": phase, "idle": phase},
        "saturation": {"idle": load.saturation(phase["cpu_mean"], 2)},
        "browser_network": "own namespace, relayed",
    }


LOAD = {
    "students": 30,
    "idle_s": 300.0,
    "cpus": 2,
    "pages": ["lesson1", "cache", "multistage", "sizes"],
    "one": _part(1, [0.9, 0.9, 1.2]),  # p50 0.9 s, p95 1.17 s
    "many": _part(30, [4.6, 4.6, 6.6], errors=1),  # p50 4.6 s, p95 6.4 s
    "errors": 1,
    "ratio_p50": 4.6 / 0.9,
    "ratio_p95": 6.4 / 1.17,
    "ratio_live_p95": 1.0,
    "post_script_gc": False,
}


def test_load_goals():
    goals = {g.key: g for g in run.judge({"load": LOAD})}
    assert goals["load_errors"].value == 1 and goals["load_errors"].met is False
    assert "page 1" in goals["load_errors"].note
    assert goals["load_memory"].value == pytest.approx(230) and goals["load_memory"].met
    assert goals["load_p95_ratio"].value == pytest.approx(5.47, abs=0.01)
    assert goals["load_p95_ratio"].target == 30 and goals["load_p95_ratio"].met
    assert "p50 4.60 s vs 0.90 s (5.1x)" in goals["load_p95_ratio"].note
    unmeasured = {g.key: g for g in run.judge({})}
    assert unmeasured["load_errors"].value is None and unmeasured["load_errors"].note == ""


def test_load_report():
    text = "\n".join(report.load_section(LOAD))
    assert text.startswith("## 10. Load: 30 classroom students at once on one server")
    assert "| Page response p95 | 1.17 s | 6.40 s | 5.470x |" in text
    assert "| Errors | 0 | 1 |" in text
    assert "Chromium's network: own namespace, relayed" in text
    assert "(`runner.postScriptGC`, each live panel's rerun included): off" in text
    assert "most by browser" in text and "Other work on the machine" in text
    assert "- ld-x-b01, idle move: page: x" in text
    assert "load" in report.SECTION_NAMES and report.SECTION_NAMES[-1] == "fresh"
    assert "load" in run.QUICK_SECTIONS and run.QUICK.load_students < run.FULL.load_students
