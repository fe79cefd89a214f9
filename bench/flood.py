"""Log flood: the dashboard's memory while a container prints as fast as it can, and whether the
page still answers.

No lesson page runs an arbitrary command, so the bench page bench/live_app.py is served instead:
it is lesson 1's run section (a job running `tasks.run_image`, whose engine `runs.run_container`
attaches to the container and keeps a bounded tail; `common.live` + `views.run_panel` redraw
the live log every 0.7 s) for a container of the base image, labelled as this run's, that writes
long lines in a loop for SECONDS. The Streamlit server's VmRSS and VmHWM (/proc/PID/status) are
sampled every 0.5 s; meanwhile /_stcore/health is polled and the page's inert "Ping" button is
clicked, timing each until the page shows the new count.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

import docker
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bench import app_probe, stats
from bench.responsive import app_env, new_page, open_page, wait_idle
from bench.workspace import Workspace
from dashboard.engine.base import labels
from dashboard.engine.offline.offline import BASE_IMAGE

LINE_CHARS = 200


def flood_command(seconds: float) -> str:
    return (
        "python3 -c 'import sys, time\n"
        f'line = "x" * {LINE_CHARS} + "\\n"\n'
        f"end = time.time() + {seconds}\n"
        "n = 0\n"
        "while time.time() < end:\n"
        '    for _ in range(1000): sys.stdout.write("%09d " % n + line); n += 1\n'
        'sys.stdout.write("flood done after %d lines\\n" % n)\''
    )


def run(ws: Workspace, *, seconds: float) -> dict:
    session = f"{ws.lab}-flood"
    tmp = Path(tempfile.mkdtemp(prefix="bench-flood-", dir=ws.tmp))
    proxy = app_probe.DockerProxy(tmp / "docker.sock")
    env = {
        **app_env(tmp, session, proxy),
        "BENCH_LIVE_IMAGE": BASE_IMAGE,
        "BENCH_LIVE_LAB": ws.lab,
        "BENCH_LIVE_COMMAND": flood_command(seconds),
        "BENCH_LIVE_TIMEOUT": str(seconds + 60),
    }
    wanted = {"label": [f"{labels.SESSION}={session}", f"{labels.LAB}={ws.lab}"]}
    try:
        with (
            app_probe.serve("bench/live_app.py", tmp / "app.log", env) as (url, proc),
            app_probe.launch() as browser,
        ):
            context, page = new_page(browser)
            open_page(page, url)
            before = app_probe.vm_kib(proc.pid)
            samples: list[tuple[float, int]] = []
            health: list[tuple[float, bool]] = []
            stop = threading.Event()

            def sample() -> None:
                t0 = time.monotonic()
                while not stop.is_set():
                    samples.append((time.monotonic() - t0, app_probe.vm_kib(proc.pid)["VmRSS"]))
                    started = time.monotonic()
                    ok = app_probe.health(url, timeout=5)
                    health.append((time.monotonic() - started, ok))
                    stop.wait(max(0.0, 0.5 - (time.monotonic() - started)))

            sampler = threading.Thread(target=sample, daemon=True)
            page.locator(".st-key-bench-run button").click()
            started = time.monotonic()
            sampler.start()
            pings: list[float] = []
            count = ping_failures = 0
            while time.monotonic() - started < seconds:
                time.sleep(5)  # a student clicking now and then while the log floods
                count += 1
                clicked = time.monotonic()
                try:
                    page.locator(".st-key-bench-ping button").click(timeout=30_000)
                    page.get_by_text(f"pings: {count}").wait_for(timeout=30_000)
                    pings.append(time.monotonic() - clicked)
                except PlaywrightTimeout:
                    ping_failures += 1
                    count = int(page.get_by_text("pings:").inner_text().split()[-1])
            containers = client_wait(ws.client, wanted, timeout=seconds + 90)
            stop.set()
            sampler.join(10)
            after = app_probe.vm_kib(proc.pid)
            wait_idle(page, 120_000)
            shown = page.locator("[data-testid='stMain']").inner_text()
            context.close()
        container = containers[0]
        logs_tail = container.logs(tail=1).decode(errors="replace").strip()
        state = container.attrs["State"]
    finally:
        proxy.close()
        for c in ws.client.api.containers(all=True, filters=wanted):
            with contextlib.suppress(docker.errors.NotFound):
                ws.client.api.remove_container(c["Id"], force=True)
    rss = [kib * 1024 for _, kib in samples]
    return {
        "seconds": seconds,
        "command": flood_command(seconds),
        "image": BASE_IMAGE,
        "lines_printed": _lines(logs_tail),
        "exit_code": state.get("ExitCode"),
        "rss_before_bytes": before["VmRSS"] * 1024,
        "rss_samples": len(rss),
        "rss_bytes": asdict(stats.summarize(rss)),
        "rss_series": [(round(t, 1), kib * 1024) for t, kib in samples[::4]],
        "peak_rss_bytes": after["VmHWM"] * 1024,  # the process's own high-water mark
        "health_checks": len(health),
        "health_failures": sum(not ok for _, ok in health),
        "health_s": asdict(stats.summarize([t for t, _ in health])),
        "ping_s": asdict(stats.summarize(pings)) if pings else None,
        "ping_failures": ping_failures,
        "failures": sum(not ok for _, ok in health) + ping_failures,
        "finished_shown": "flood done" in shown or "exited" in shown,
    }


def client_wait(client, wanted: dict, timeout: float) -> list:
    """The run's container once it exited (the run stops by itself after SECONDS)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = client.api.containers(all=True, filters=wanted)
        if found and all(c["State"] == "exited" for c in found):
            return [client.containers.get(c["Id"]) for c in found]
        time.sleep(0.5)  # polling the daemon for the run's end
    raise RuntimeError("the flood container did not stop in time")


def _lines(last_line: str) -> int | None:
    words = last_line.split()
    if last_line.startswith("flood done after") and len(words) >= 4 and words[3].isdigit():
        return int(words[3])
    return None
