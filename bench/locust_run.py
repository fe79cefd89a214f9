"""One class of Locust students on one classroom server, measured (bench/locustfile.py plays them).

`one_class(client, students=N, scenario="idle"|"lecture", ...)` starts its own server
(`streamlit run dashboard/app.py` with DASHBOARD_CLASSROOM=1 and a data folder of its own, opened
once before the class so its first script run's imports are not a student's), tags
each student's `NAME/iris-model:1.0` for the idle scenario (the lecture builds it), runs
`python -m locust --headless` in a process of its own (the server's GIL is not shared with the
load), samples the server's RSS and the CPU of the server, Locust, the daemon and the machine
every second (bench/load.py's Sampler: Locust is its "driver"), and removes the students'
containers and images at the end. Locust's CSV and HTML reports stay in `out_dir`.

Figures: page responses (type "page": p50/p95/p99), actions and waits by name, errors (failed
steps, problems in the page, lost WebSockets, students who never got through, server
tracebacks), script runs the server started per student per minute and fragment-timer sends per
student per second in the idle window, the server's memory, and what saturated first.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import docker

from bench import app_probe, load
from bench.st_client import Client
from dashboard.engine.base import labels, owner
from dashboard.engine.base.paths import REPO_ROOT

IRIS = "iris-model:1.0"
LOCUSTFILE = REPO_ROOT / "bench" / "locustfile.py"


def names_for(prefix: str, students: int) -> list[str]:
    """The students' names, as the locustfile gives them (prefix + 01, 02, ...)."""
    return [f"{prefix}{i:02d}" for i in range(1, students + 1)]


def locust_command(url: str, students: int, rate: float, limit_s: float, out_dir: Path) -> list:
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--users",
        str(students),
        "--spawn-rate",
        str(rate),
        "--run-time",
        f"{int(limit_s)}s",
        "--host",
        url,
        "--csv",
        str(out_dir / "locust"),
        "--html",
        str(out_dir / "locust.html"),
        "--stop-timeout",
        "10",
        "--only-summary",
    ]


def one_class(
    client: docker.DockerClient,
    *,
    students: int,
    scenario: str,
    out_dir: Path,
    prefix: str,
    rate: float = 1.0,
    idle_s: float = 60.0,
    limit_s: float | None = None,
) -> dict:
    """Run one class (see the module docstring); returns its figures."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = names_for(prefix, students)
    limit_s = limit_s or default_limit(students, scenario, rate, idle_s)
    env = {
        "DASHBOARD_DATA_DIR": str(out_dir / "data"),
        "DASHBOARD_CLASSROOM": "1",
        "DASHBOARD_SESSION": f"locust-{prefix}",
        "DASHBOARD_INSTRUCTOR_KEY": "",
    }
    out_file = out_dir / "students.json"
    locust_env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "BENCH_LOAD_SCENARIO": scenario,
        "BENCH_LOAD_PREFIX": prefix,
        "BENCH_LOAD_OUT": str(out_file),
        "BENCH_LOAD_IDLE_S": str(idle_s),
        "BENCH_LOAD_LINES": str(int(limit_s + 120)),
        "BENCH_LOAD_GATHER_S": str(max(60.0, students / rate + 30)),
    }
    load_before = os.getloadavg()[0]
    started = time.time()
    try:
        if scenario == "idle":
            for name in names:
                client.api.tag(IRIS, f"{name}/iris-model", "1.0")
        counts = out_dir / "runs.jsonl"
        with app_probe.serve("dashboard/app.py", out_dir / "server.log", env, counts=counts) as (
            url,
            proc,
        ):
            warm_up(url)
            rss_before = app_probe.vm_kib(proc.pid)["VmRSS"] * 1024
            sampler = load.Sampler(proc.pid, names)
            sampler.phase = "setup"
            clock = time.time() - time.monotonic()
            sampler.start()
            try:
                done = subprocess.run(
                    locust_command(url, students, rate, limit_s, out_dir),
                    env=locust_env,
                    cwd=REPO_ROOT,
                    capture_output=True,
                    text=True,
                    timeout=limit_s + 120,
                )
            finally:
                sampler.stop()
            peak = app_probe.vm_kib(proc.pid)["VmHWM"] * 1024
        (out_dir / "locust.log").write_text(done.stdout + done.stderr)
    finally:
        try:
            remove_students(client, names)
            cleanup_error = None
        except Exception as exc:  # a daemon that stopped answering: keep the figures, say so
            cleanup_error = f"{type(exc).__name__}: {exc}"[:300]
    try:
        got = json.loads(out_file.read_text())
    except (OSError, ValueError) as exc:
        tail = (done.stdout + done.stderr)[-1500:]
        raise RuntimeError(f"Locust wrote no results ({exc}); its output ends: {tail}") from None
    log_text = (out_dir / "server.log").read_text(errors="replace")
    phases = got.get("phases") or {}
    for s in sampler.samples:  # the idle window, from the locust process's clock
        wall = s["t"] + clock
        s["phase"] = (
            "idle"
            if phases.get("settled", 1e18) <= wall <= phases.get("end", 0)
            else ("setup" if wall < phases.get("settled", 1e18) else "end")
        )
    out = figures(got, students, log_text, sampler, started)
    if "settled" in phases and "end" in phases:
        out["server_runs"] = load.server_runs(counts, phases["settled"], phases["end"], students)
    out.update(
        scenario=scenario,
        spawn_rate=rate,
        idle_s=idle_s if scenario == "idle" else None,
        limit_s=limit_s,
        locust_exit=done.returncode,
        load_before=load_before,
        rss_before_bytes=rss_before,
        peak_rss_bytes=peak,
        reports=str(out_dir),
        cleanup_error=cleanup_error,
    )
    return out


def warm_up(url: str) -> None:
    """One visit before the class: the server's first script run imports the dashboard's
    modules (seconds), which an instructor's own first look pays before a lesson, not the
    first student."""
    tab = Client(url)
    try:
        tab.open("lesson1", timeout=120)
    finally:
        tab.close()


def default_limit(students: int, scenario: str, rate: float, idle_s: float) -> float:
    """Locust's --run-time: an upper bound (the class ends by itself before it)."""
    arrival = students / rate
    if scenario == "idle":
        return arrival + 120 + 6 * students + idle_s + 60
    return arrival + 180 + 10 * students


def remove_students(client: docker.DockerClient, names: list[str]) -> None:
    """The students' containers and images (a daemon that stops answering raises)."""
    for name in names:
        wanted = {"label": [f"{labels.SESSION}={owner.STUDENT_PREFIX}{name}"]}
        with contextlib.suppress(docker.errors.APIError):
            for c in client.api.containers(all=True, filters=wanted):
                with contextlib.suppress(docker.errors.NotFound):
                    client.api.remove_container(c["Id"], force=True)
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            client.api.remove_image(f"{name}/iris-model:1.0")


def percentiles(values: list[float]) -> dict | None:
    if not values:
        return None
    return {
        "n": len(values),
        "p50": load.pct(values, 50),
        "p95": load.pct(values, 95),
        "p99": load.pct(values, 99),
        "max": max(values),
    }


def figures(got: dict, students: int, log_text: str, sampler, started: float) -> dict:
    samples, people = got["samples"], got["students"]
    phases = got.get("phases") or {}
    pages = [s["s"] for s in samples if s["kind"] == "page" and s["ok"]]
    idle_pages = [
        s["s"]
        for s in samples
        if s["kind"] == "page" and s["ok"] and s["at"] >= phases.get("settled", 1e18)
    ]
    by_name: dict[str, list[float]] = {}
    for s in samples:
        if s["ok"]:
            by_name.setdefault(f"{s['kind']}: {s['name']}", []).append(s["s"])
    failed = [f for p in people.values() for f in p["failed_steps"]]
    lost = [n for n, p in people.items() if p.get("closed")]
    never = max(0, students - len(people))  # users Locust never started (stopped ones it may
    # start again under new names: more people than students)
    not_ready = [n for n, p in people.items() if not p["ready"]]
    # Students still setting up when Locust's time limit came: they never got through.
    unfinished = [n for n in not_ready if not people[n]["failed_steps"]]
    tracebacks = load.traceback_ends(log_text)
    minutes = {
        n: max(1e-9, (p.get("last", started) - p.get("started", started)) / 60)
        for n, p in people.items()
    }
    runs_per_min = [
        sum((p.get("runs") or {}).values()) / minutes[n] for n, p in people.items() if p["ready"]
    ]
    sends_per_s = [p.get("auto_sent", 0) / (minutes[n] * 60) for n, p in people.items()]
    # The idle window (every student settled, to the end), for those who were ready by then.
    window = phases.get("end", 0) - phases.get("settled", 0)
    idle_sends, idle_runs = [], []
    for p in people.values():
        at, end = p.get("at_settled"), p.get("at_end")
        if at and end and p["ready"] and window > 1 and not p["failed_steps"]:
            idle_sends.append((end["auto_sent"] - at["auto_sent"]) / window)
            idle_runs.append((end["runs"] - at["runs"]) / window * 60)
    phase_figs = {p: sampler.phase_figures(p) for p in ("setup", "idle")}
    errors = len(failed) + len(lost) + never + len(unfinished) + len(tracebacks)
    return {
        "students": students,
        "ready": len(people) - len(not_ready),
        "page_s": percentiles(pages),
        "idle_page_s": percentiles(idle_pages),
        "by_name": {k: percentiles(v) for k, v in sorted(by_name.items())},
        "errors": errors,
        "failed_steps": failed[:25],
        "failed_count": len(failed),
        "lost_websockets": len(lost),
        "not_started": never,
        "unfinished": len(unfinished),
        "not_ready": not_ready[:25],
        "server_tracebacks": len(tracebacks),
        "server_traceback_ends": tracebacks[:10],
        "problems": [x for p in people.values() for x in p["problems"]][:25],
        "runs_per_student_min": load.summary(runs_per_min),
        "timer_sends_per_student_s": load.summary(sends_per_s),
        "idle_sends_per_student_s": load.summary(idle_sends),
        "idle_runs_per_student_min": load.summary(idle_runs),
        "received_bytes": sum(p.get("received_bytes", 0) for p in people.values()),
        "setup_s": (phases["settled"] - started) if "settled" in phases else None,
        "phases": phase_figs,
        "saturation": {
            p: load.saturation(f["cpu_mean"], os.cpu_count() or 1)
            for p, f in phase_figs.items()
            if f
        },
    }
