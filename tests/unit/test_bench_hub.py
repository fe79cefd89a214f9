"""The hub section of the benchmarks without a hub: its report, its goal, and the Locust
client's login to a seat (the hub's cookies on every request)."""

from __future__ import annotations

from bench import report, run
from bench.st_client import Client

PAGES = {"n": 40, "p50": 0.2, "p95": 1.4, "p99": 2.0, "max": 2.5}
HUB = {
    "students_asked": 60,
    "ready": 58,
    "seats_ready": 59,
    "page_s": PAGES,
    "idle_page_s": {"n": 20, "p50": 0.1, "p95": 0.6, "p99": 0.8, "max": 0.9},
    "errors": 2,
    "seat_start_s": {"n": 59, "p50": 3.0, "p95": 9.5, "p99": 11.0, "max": 12.0},
    "seats_per_node": {"node2": 20, "node1": 19, "node3": 20},
    "seat_memory_bytes": {"p50": 230e6, "minimum": 220e6, "maximum": 250e6},
    "seat_memory_total_bytes": 13.6e9,
    "seats_failed": {"hc60": "The class is full"},
    "failed_steps": ["page sizes: Timeout: no run finished"],
    "cpu": {"idle": {"cpu_mean": {"node1": 50, "node2": 60, "node3": 55, "hub": 5}}},
}
SMALLER = {"students_asked": 30, "ready": 30, "seats_ready": 30, "page_s": PAGES, "errors": 0}
ONE = {
    "students": 60,
    "ready": 40,
    "page_s": {"n": 9, "p50": 3.0, "p95": 20.0, "p99": 25.0, "max": 30.0},
}
RESULTS = {
    "hub": {
        "students": 60,
        "idle_s": 120,
        "rate": 1.0,
        "smaller": [SMALLER],
        "hub": HUB,
        "one": ONE,
    }
}


def test_the_report_sets_the_hub_beside_one_process():
    text = "\n".join(report.hub_section(RESULTS["hub"]))
    assert "| | Hub, 30 students | Hub, 60 students | One process, 60 students |" in text
    assert (
        "| Students who got through | 30 of 30 (seats ready: 30) | 58 of 60 (seats ready: 59)"
        " | 40 of 60 |"
    ) in text
    assert "| Page response p50 / p95 / p99, every page | 200 ms / 1.40 s / 2.00 s" in text
    assert "node1: 19, node2: 20, node3: 20" in text
    assert "230.0 MB per seat" in text and "13.6 GB in all" in text
    assert "Hub, 60: seats that did not start: hc60: The class is full" in text
    assert "50 / 60 / 55 / 5" in text


def test_the_goal_is_the_hubs_p95_with_one_process_beside_it():
    goal = next(g for g in run.judge(RESULTS) if g.key == "hub_class_p95")
    assert goal.value == 1.4 and goal.met is False
    assert "60 students" in goal.title
    assert "one process, the same class: 20.00 s" in goal.note
    empty = next(g for g in run.judge({}) if g.key == "hub_class_p95")
    assert empty.value is None


def test_a_seats_client_sends_the_hubs_login_and_a_browsers_origin():
    tab = Client("http://127.0.0.1:8000/user/hc01", cookie="jupyterhub-user-hc01=abc")
    assert tab._get("http://127.0.0.1:8000/user/hc01/lesson1").get_header("Cookie") == (
        "jupyterhub-user-hc01=abc"
    )
    assert Client("http://127.0.0.1:8501")._get("http://x/").get_header("Cookie") is None
