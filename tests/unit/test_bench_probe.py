"""The benchmark's browser and proxy parsing, percentiles, merging of partial runs and the report
of the responsiveness and flood sections (bench/app_probe.py, bench/stats.py, bench/run.py)."""

import json
import os
import socket
import threading

import pytest

from bench import app_probe, report, run, stats


def test_percentile_interpolates_between_ranks():
    assert stats.percentile([1, 2, 3, 4], 50) == 2.5
    assert stats.percentile([10, 0, 5], 0) == 0
    assert stats.percentile([10, 0, 5], 100) == 10
    assert stats.percentile([0, 10], 90) == pytest.approx(9.0)
    assert stats.percentile([7], 90) == 7
    with pytest.raises(ValueError):
        stats.percentile([], 50)
    with pytest.raises(ValueError):
        stats.percentile([1], 101)


def test_request_lines_are_counted_in_a_client_stream():
    stream = (
        b"GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: docker\r\n\r\n"
        b"POST /v1.41/containers/abc/start HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
        b"GET /_ping HTTP/1.1\r\n\r\n"
    )
    assert app_probe.count_requests(stream) == [
        ("GET", "/v1.41/containers/json?all=1"),
        ("POST", "/v1.41/containers/abc/start"),
        ("GET", "/_ping"),
    ]
    assert app_probe.count_requests(b"HTTP/1.1 200 OK\r\n\r\n") == []


def test_bodies_chunks_and_upgrades_are_not_read_as_requests():
    parser = app_probe.RequestParser()
    body = b"GET /fake HTTP/1.1\r\n\r\n"  # a body that looks like a request
    first = b"POST /build HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    # fed in pieces, split inside the headers and inside the body
    assert parser.feed(first[:10]) == []
    assert parser.feed(first[10:-5]) == [("POST", "/build")]
    chunked = (
        b"POST /build HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nGET /\r\n0\r\n\r\nGET /_ping HTTP/1.1\r\n\r\n"
    )
    assert parser.feed(first[-5:] + chunked) == [("POST", "/build"), ("GET", "/_ping")]
    attach = b"POST /containers/x/attach HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    assert parser.feed(attach + b"GET /raw HTTP/1.1\r\n\r\n") == [("POST", "/containers/x/attach")]
    assert parser.raw and parser.feed(b"GET /more HTTP/1.1\r\n\r\n") == []


def test_api_paths_drop_versions_ids_and_queries():
    assert app_probe.api_path("/v1.41/containers/json?all=1") == "/containers/json"
    cid = "0123456789abcdef" * 4
    assert app_probe.api_path(f"/v1.41/containers/{cid}/json") == "/containers/ID/json"
    assert app_probe.api_path("/_ping") == "/_ping"


def test_docker_log_timestamps_parse_to_epoch_ms():
    at, text = app_probe.docker_log_line("2026-11-29T05:20:01.250000000Z Accuracy: 0.97")
    assert text == "Accuracy: 0.97"
    assert at == pytest.approx(1795929601250.0)
    assert app_probe.docker_log_line("no timestamp here") is None
    assert app_probe.docker_log_line("2026-11-29T05:20:01Z ")[1] == ""


def test_latencies_pair_logged_and_seen_lines():
    logged = [(1000.0, "a"), (1100.0, "b"), (1200.0, "never shown")]
    assert app_probe.latencies(logged, {"a": 1250.0, "b": 1300.0}) == [250.0, 200.0]


def test_script_runs_from_recorded_states():
    states = [
        ["notRunning", 0],
        ["rerunRequested", 10],
        ["running", 30],
        ["notRunning", 90],
        ["rerunRequested", 200],
        ["notRunning", 240],  # "running" batched away by React
    ]
    assert app_probe.script_runs(states) == [60]
    assert app_probe.script_runs(states, start="rerunRequested") == [80, 40]


def test_vm_kib_reads_this_process():
    vm = app_probe.vm_kib(os.getpid())
    assert set(vm) == {"VmRSS", "VmHWM"}
    assert 0 < vm["VmRSS"] <= vm["VmHWM"]


def test_the_proxy_forwards_and_counts(tmp_path):
    upstream_path = tmp_path / "daemon.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(upstream_path))
    server.listen(1)

    def answer():
        conn, _ = server.accept()
        data = b""
        while data.count(b"\r\n\r\n") < 2:
            data += conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    proxy = app_probe.DockerProxy(tmp_path / "proxy.sock", upstream=str(upstream_path))
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(proxy.path))
            client.sendall(b"GET /v1.41/info HTTP/1.1\r\n\r\n")
            client.sendall(b"GET /v1.41/version HTTP/1.1\r\n\r\n")
            reply = b""
            while not reply.endswith(b"ok"):
                chunk = client.recv(4096)
                if not chunk:
                    break
                reply += chunk
        assert reply.endswith(b"ok")
        assert proxy.since(0) == {"GET /info": 1, "GET /version": 1}
    finally:
        proxy.close()
        server.close()


def test_a_partial_run_keeps_the_other_sections(tmp_path):
    previous = {
        "run_id": "old1",
        "results": {
            "overhead": {"x": 1},
            "layers": {"y": 2},
            "section_seconds": {"overhead": 10.0, "layers": 20.0},
        },
        "carried_over": {"overhead": "older0"},
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(previous))
    results = {"flood": {"z": 3}, "section_seconds": {"flood": 5.0}}
    # layers was asked for but failed this time: its old figures stay, marked as old
    carried = run.merge_previous(results, path, {"flood", "layers"})
    assert carried == {"overhead": "older0", "layers": "old1"}
    assert results["overhead"] == {"x": 1} and results["layers"] == {"y": 2}
    assert results["section_seconds"] == {"flood": 5.0, "overhead": 10.0, "layers": 20.0}
    assert run.merge_previous({}, tmp_path / "missing.json", {"flood"}) == {}


RESPONSIVE = {
    "build": {
        "build": "warm",
        "first_step_event_s": {"n": 3, "median": 0.05, "minimum": 0.04, "maximum": 0.07},
        "whole_build_s": {"n": 3, "median": 0.3, "minimum": 0.2, "maximum": 0.4},
    },
    "log_lesson1": {
        "what": "lesson 1",
        "runs": 2,
        "lines_logged": 20,
        "lines_seen": 20,
        "latency_ms": {"n": 20, "median": 400.0, "minimum": 100.0, "maximum": 800.0},
        "p90_ms": 700.0,
    },
    "reruns": {
        "floor": {
            "page": "Floor: one st.write",
            "path": "bench-floor",
            "rerun_ms": {"n": 4, "median": 60.0, "minimum": 50.0, "maximum": 70.0},
            "running_drawn": 0,
            "running_to_done_ms": None,
            "script_ms": {"n": 4, "median": 2.0, "minimum": 1.0, "maximum": 3.0},
            "floor_ratio": None,
            "docker_calls": [0, 0, 0, 0],
            "docker_call_paths": {},
        },
        "pages": [
            {
                "page": "GPUs",
                "path": "gpu",
                "rerun_ms": {"n": 2, "median": 80.0, "minimum": 70.0, "maximum": 90.0},
                "running_drawn": 0,
                "running_to_done_ms": None,
                "script_ms": {"n": 2, "median": 10.0, "minimum": 9.0, "maximum": 11.0},
                "floor_ratio": 80.0 / 60.0,
                "docker_calls": [0, 0],
                "docker_call_paths": {},
            },
            {
                "page": "Lesson 1",
                "path": "lesson1",
                "rerun_ms": {"n": 2, "median": 84.0, "minimum": 80.0, "maximum": 88.0},
                "running_drawn": 0,
                "running_to_done_ms": None,
                "script_ms": {"n": 2, "median": 20.0, "minimum": 19.0, "maximum": 21.0},
                "floor_ratio": 84.0 / 60.0,
                "docker_calls": [0, 0],
                "docker_call_paths": {},
            },
            {
                "page": "Sizes",
                "path": "sizes",
                "rerun_ms": {"n": 2, "median": 150.0, "minimum": 120.0, "maximum": 180.0},
                "running_drawn": 2,
                "running_to_done_ms": {"n": 2, "median": 100.0, "minimum": 90.0, "maximum": 110.0},
                "script_ms": {"n": 2, "median": 40.0, "minimum": 30.0, "maximum": 50.0},
                "floor_ratio": 150.0 / 60.0,
                "docker_calls": [3, 0],
                "docker_call_paths": {"GET /images/json": 3},
            },
        ],
    },
}
FLOOD = {
    "seconds": 60.0,
    "image": "python:3.11-slim",
    "lines_printed": 1000,
    "exit_code": 0,
    "rss_before_bytes": 100 * 2**20,
    "rss_bytes": {"n": 2, "median": 120 * 2**20, "minimum": 110 * 2**20, "maximum": 130 * 2**20},
    "rss_series": [(0.0, 100 * 2**20), (2.0, 120 * 2**20)],
    "peak_rss_bytes": 131 * 2**20,
    "health_checks": 120,
    "health_failures": 0,
    "health_s": {"n": 2, "median": 0.01, "minimum": 0.01, "maximum": 0.02},
    "ping_s": {"n": 2, "median": 0.5, "minimum": 0.4, "maximum": 0.6},
    "ping_failures": 1,
    "failures": 1,
}


def test_goals_of_the_new_sections():
    goals = {g.key: g for g in run.judge({"responsive": RESPONSIVE, "flood": FLOOD})}
    assert goals["build_first_event"].met
    assert goals["log_to_page_lesson1"].value == 0.4 and not goals["log_to_page_lesson1"].met
    assert goals["log_to_page_stream"].value is None
    lessons = goals["rerun_lesson_pages_floor"]
    assert lessons.value == 1.4 and lessons.met  # only the lesson pages: Lesson 1
    assert "slowest Lesson 1 84 ms (its script 20 ms)" in lessons.note
    every = goals["rerun_any_page_floor"]
    assert every.value == 2.5 and not every.met  # Sizes
    assert "floor 60 ms" in every.note
    assert "3 Docker API calls in 6 reruns" in every.note
    assert goals["flood_memory"].value == 131 and goals["flood_memory"].met
    assert goals["flood_answers"].met is False  # one click went unanswered


def test_a_latency_with_lines_seen_before_they_were_logged_is_not_judged():
    bad = {
        **RESPONSIVE["log_lesson1"],
        "latency_ms": {"n": 2, "median": 50.0, "minimum": -900.0, "maximum": 80.0},
    }
    goals = {g.key: g for g in run.judge({"responsive": {**RESPONSIVE, "log_lesson1": bad}})}
    assert goals["log_to_page_lesson1"].value is None
    assert goals["log_to_page_lesson1"].note.startswith("NOT TRUSTED")


def test_report_renders_the_new_sections():
    lines = report.responsive_section(RESPONSIVE) + report.flood_section(FLOOD)
    text = "\n".join(lines)
    assert "| GPUs | 2 | 80 ms (70 ms to 90 ms) | 1.333x | 10 ms | 70 ms | 0, 0 |" in text
    floor = "| Floor: one st.write | 4 | 60 ms (50 ms to 70 ms) | 1 (the floor) | 2 ms | 58 ms |"
    assert floor in text
    assert "`GET /images/json` x3" in text
    assert "Peak RSS (VmHWM) | 137.4 MB" in text
    assert "failed: 1" in text


def _one(value: float) -> dict:
    return {"n": 1, "median": value, "minimum": value, "maximum": value}


def _startup_row(command, imports, sdk, **more):
    return {
        "command": command,
        "exit_status": 2,
        "wall_s": _one(imports + 0.02),
        "cpu_s": _one(imports + 0.01),
        "imports_s": _one(imports),
        "docker_sdk_s": _one(sdk),
        **more,
    }


STARTUP = {
    "repeats": 1,
    "rows": [
        _startup_row("python -c pass", 0.002, 0.0),
        _startup_row("python -c 'import docker'", 0.1, 0.098),
        _startup_row("python -m dashboard --help", 0.03, 0.0, verb="--help"),
        _startup_row("python -m dashboard build iris", 0.12, 0.098, verb="build"),
        _startup_row("python -m dashboard --json build (warm)", 0.16, 0.098, on_daemon=True),
    ],
    "problems": [],
}


def test_the_start_up_table_and_the_reason_in_the_warm_command_goal():
    timed = {"n": 3, "median": 0.3, "minimum": 0.3, "maximum": 0.3}
    overhead = {
        "startup": STARTUP,
        "warm": {"engine": {**timed, "median": 0.06}},
        "whole_warm": {"engine": timed, "cli": {**timed, "median": 0.06}},
    }
    goals = {g.key: g for g in run.judge({"overhead": overhead})}
    assert "cli_build_imports" not in goals  # a measurement (the table), not a goal
    note = goals["overhead_warm_command"].note
    assert "adds 0.24 s to a build of 60 ms" in note
    assert "of which the docker SDK 98 ms" in note
    assert "is 140 ms, 2.3x a whole warm `docker build`" in note
    text = "\n".join(report.startup_lines(STARTUP))
    assert "| `python -m dashboard --help` | 50 ms | 40 ms | 30 ms | - |" in text
    assert "| `python -m dashboard build iris` | 140 ms | 130 ms | 120 ms | 98 ms |" in text
    assert "every verb stopped at the daemon" in text


def test_report_compares_the_reruns_with_streamlits_default_gc():
    import copy

    slower = copy.deepcopy(RESPONSIVE["reruns"])
    for page in [slower["floor"], *slower["pages"]]:
        page["rerun_ms"]["median"] *= 2
    text = "\n".join(report.responsive_section({**RESPONSIVE, "reruns_default_gc": slower}))
    assert "| Floor: one st.write | 120 ms | 1 (the floor) | 60 ms | 2.000x |" in text
    assert "| Sizes | 300 ms | 2.500x | 150 ms | 2.000x |" in text
