"""Responsiveness: build start to first step event, container output to the page, page reruns.

1. Through the engine (`builds.stream_build`, as the dashboard's build job iterates it): the
   time from the call to the first `StepStarted` event, for a warm build of a copy of labs/iris.
2. In the browser (the real app, `streamlit run dashboard/app.py`, headless Chromium): lesson 1's
   "Run iris-model:1.0", and a bench page with the same run panel running a container that
   prints a numbered line every 0.2 s. A MutationObserver stamps the first time each log line
   shows up in a code block; the daemon's log timestamps (`docker logs --timestamps`: when the
   daemon read the line from the container) give the time it was printed. Same machine, same
   clock.
3. Every page of the navigation, rerun with nothing changed (the "r" shortcut): from the
   browser's rerun request (script state "rerunRequested") to "notRunning", recorded by the
   observer: the script's run plus the websocket round trip and the front end's work ("running"
   itself is often never drawn: React batches it away when the script is quick); the script's
   own run time, written by the app (DASHBOARD_SCRIPT_TIMES); the Docker API calls made
   meanwhile, counted by a unix-socket proxy used as DOCKER_HOST. Each page is a ratio to the
   floor: a hidden page of the same server that is one st.write (DASHBOARD_BENCH_FLOOR),
   rerun the same way before and after the pages. Then all of it again on a server with
   Streamlit's default post-script garbage collection, which the dashboard turns off.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import docker

from bench import app_probe, replica, stats
from bench.workspace import Workspace
from dashboard.engine.base import labels
from dashboard.engine.offline.offline import BASE_IMAGE
from dashboard.engine.ops import builds, runs
from dashboard.engine.ops.build_stream import StepStarted

LESSON1_RUN_BUTTON = "run-iris"
TRICKLE_LINES = 40
TRICKLE_COMMAND = (
    "python3 -u -c 'import time\n"
    f"for i in range({TRICKLE_LINES}):\n"
    '    print("trickle line %03d" % i); time.sleep(0.2)\''
)


def build_first_event(ws: Workspace, repeats: int) -> dict:
    folder = ws.copy_lab("iris", "iris-responsive")
    tag = ws.tag("iris", "responsive")
    firsts, totals = [], []
    for _ in range(repeats + 1):  # the first build fills the cache: not counted
        started = time.perf_counter()
        first = None
        for event in builds.stream_build(ws.client, folder, tag=tag, lab_name=ws.lab):
            if first is None and isinstance(event, StepStarted):
                first = time.perf_counter() - started
        ws.built(folder, "Dockerfile")
        firsts.append(first)
        totals.append(time.perf_counter() - started)
    firsts, totals = firsts[1:], totals[1:]
    if any(f is None for f in firsts):
        raise RuntimeError("a build produced no step event")
    return {
        "build": "labs/iris copy, warm (every step cached)",
        "first_step_event_s": asdict(stats.summarize(firsts)),
        "whole_build_s": asdict(stats.summarize(totals)),
    }


def app_env(tmp: Path, session: str, proxy: app_probe.DockerProxy) -> dict[str, str]:
    return {
        "DASHBOARD_BENCH_FLOOR": "1",  # the floor page at /bench-floor
        "DASHBOARD_SCRIPT_TIMES": str(tmp / f"script-times-{session}.tsv"),
        "DASHBOARD_DATA_DIR": str(tmp / "data"),
        "DASHBOARD_COMPOSE_PROJECT": f"wine-{session}".lower(),
        "DASHBOARD_TAG_SUFFIX": session.lower(),
        "DASHBOARD_SESSION": session,
        "DOCKER_HOST": proxy.url,
    }


def new_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(app_probe.SCRIPT_STATE_JS)
    context.add_init_script(app_probe.LINES_JS)
    return context, context.new_page()


def wait_idle(page, timeout_ms: int = 60_000) -> None:
    page.wait_for_selector(app_probe.IDLE, timeout=timeout_ms, state="attached")


def open_page(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    wait_idle(page)
    page.locator("[data-testid='stMainBlockContainer'] h1").first.wait_for(timeout=60_000)
    wait_idle(page)


def run_and_watch(
    page, client, button_key: str, session: str, lab: str, timeout_s: float = 180
) -> dict:
    """Click a run button, wait for the run to end; each log line's printed-to-seen latency."""
    wanted = {"label": [f"{labels.SESSION}={session}", f"{labels.LAB}={lab}"]}
    # the low-level list: no inspect per container, so one removed meanwhile cannot fail it
    before = {c["Id"] for c in client.api.containers(all=True, filters=wanted)}
    page.evaluate("window.__lines.clear()")
    page.locator(f".st-key-{button_key} button").click()
    deadline = time.monotonic() + timeout_s
    found = None
    while time.monotonic() < deadline:
        fresh = [
            c for c in client.api.containers(all=True, filters=wanted) if c["Id"] not in before
        ]
        if fresh and fresh[0]["State"] == "exited":
            found = fresh[0]["Id"]
            break
        time.sleep(0.2)  # polling the daemon for the run's end
    if found is None:
        raise RuntimeError(f"the run of {button_key} did not finish in {timeout_s:.0f} s")
    container = client.containers.get(found)
    time.sleep(1.5)  # a few polls of the live panel: let the last lines reach the page
    wait_idle(page)
    seen = dict(page.evaluate("Array.from(window.__lines.entries())"))
    logged = []
    seen_texts = set()
    for raw in container.logs(timestamps=True).decode(errors="replace").splitlines():
        parsed = app_probe.docker_log_line(raw)
        if parsed and parsed[1].strip() and parsed[1].strip() not in seen_texts:
            seen_texts.add(parsed[1].strip())
            logged.append((parsed[0], parsed[1].strip()))
    # A line the page showed before the container even started is an older block's text (the
    # same output from an earlier run): not this run's line reaching the page.
    started = runs.parse_docker_time(container.attrs["State"].get("StartedAt"))
    started_ms = started.timestamp() * 1000 if started else 0.0
    fresh = {k.strip(): v for k, v in seen.items() if v >= started_ms}
    return {
        "container": container.name,
        "lines": len(logged),
        "stale": sum(1 for k, v in seen.items() if v < started_ms),
        "latencies_ms": app_probe.latencies(logged, fresh),
    }


def wait_rerun_done(page, timeout_s: float = 60) -> list:
    """The recorded script states once a rerun has started and finished."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        states = page.evaluate("window.__states")
        # React may batch "running" away when the script is quick: only the request is sure.
        if any(s[0] == "rerunRequested" for s in states) and states[-1][0] == "notRunning":
            return states
        page.wait_for_timeout(50)  # polling the recorded states, not timing anything
    raise RuntimeError(f"no finished rerun after {timeout_s:.0f} s: {states}")


FLOOR_TITLE = "Floor: one st.write"


def _script_times(times: Path, start: int) -> list[float]:
    """Script run times (ms) the app appended to DASHBOARD_SCRIPT_TIMES since line `start`."""
    if not times.exists():
        return []
    return [float(line.split("\t")[1]) for line in times.read_text().splitlines()[start:]]


def _lines(times: Path) -> int:
    return len(times.read_text().splitlines()) if times.exists() else 0


def _rerun_one(page, title: str, href: str, proxy, repeats: int, times: Path) -> dict:
    open_page(page, href)
    page.wait_for_timeout(300)  # let a fragment's first run settle before counting
    wait_idle(page)
    drawn, waits, calls, scripts = [], [], [], []
    paths: dict[str, int] = {}
    for _ in range(repeats):
        page.evaluate("window.__states = []")
        mark, line = proxy.count(), _lines(times)
        # Streamlit's "r" shortcut reruns the page unless a widget has the focus.
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.keyboard.press("r")
        recorded = wait_rerun_done(page)
        drawn.extend(app_probe.script_runs(recorded)[:1])  # when "running" was drawn
        waits.append(app_probe.script_runs(recorded, start="rerunRequested")[0])
        # The rerun's own script run (a live fragment's runs do not write a line).
        scripts.extend(_script_times(times, line)[:1])
        made = proxy.since(mark)
        calls.append(sum(made.values()))
        for key, n in made.items():
            paths[key] = paths.get(key, 0) + n
        page.wait_for_timeout(200)  # a rerun a human would trigger, not back to back
    return {
        "page": title,
        "path": href.split("://", 1)[-1].partition("/")[2] or "/",
        "waits": waits,
        "drawn": drawn,
        "scripts": scripts,
        "docker_calls": calls,
        "docker_call_paths": paths,
    }


def _summarized(raw: dict, floor_ms: float | None) -> dict:
    waits, drawn, scripts = raw.pop("waits"), raw.pop("drawn"), raw.pop("scripts")
    rerun = stats.summarize(waits)
    return {
        **raw,
        "rerun_ms": asdict(rerun),
        "running_drawn": len(drawn),
        "running_to_done_ms": asdict(stats.summarize(drawn)) if drawn else None,
        "script_ms": asdict(stats.summarize(scripts)) if scripts else None,
        "floor_ratio": rerun.median / floor_ms if floor_ms else None,
    }


def rerun_pages(page, url: str, proxy: app_probe.DockerProxy, repeats: int, times: Path) -> dict:
    """The floor, then every page of the navigation, then the floor again: `repeats` reruns
    with nothing changed each, timed and counted; every page as a ratio to the floor.

    The floor is a hidden page of the same server (DASHBOARD_BENCH_FLOOR=1, see
    dashboard/ui/shell.py): one st.write after st.navigation, nothing else of the frame.
    Measured before and after the pages, so a drift of the machine's load shows in its range.
    """
    open_page(page, url)
    links = page.locator("[data-testid='stSidebarNav'] a[data-testid='stSidebarNavLink']")
    links.first.wait_for(timeout=60_000)
    targets = [
        # the link's text starts with its icon's name ("help\n\nWhy Docker")
        (link.inner_text().strip().split("\n")[-1], link.get_attribute("href") or url)
        for link in links.all()
    ]
    from dashboard.ui import shell  # here: importing Streamlit pages warns outside a server

    floor_url = f"{url}/{shell.FLOOR_PATH}"
    floor = _rerun_one(page, FLOOR_TITLE, floor_url, proxy, repeats, times)
    pages = [_rerun_one(page, t, href, proxy, repeats, times) for t, href in targets]
    again = _rerun_one(page, FLOOR_TITLE, floor_url, proxy, repeats, times)
    for key in ("waits", "drawn", "scripts", "docker_calls"):
        floor[key] += again[key]
    for key, n in again["docker_call_paths"].items():
        floor["docker_call_paths"][key] = floor["docker_call_paths"].get(key, 0) + n
    floor_ms = stats.summarize(floor["waits"]).median
    return {
        "floor": _summarized(floor, None),
        "pages": [_summarized(p, floor_ms) for p in pages],
    }


def run(ws: Workspace, *, build_repeats: int, log_runs: int, rerun_repeats: int) -> dict:
    results: dict = {"build": build_first_event(ws, build_repeats)}
    session = f"{ws.lab}-ui"
    tmp = Path(tempfile.mkdtemp(prefix="bench-app-", dir=ws.tmp))
    proxy = app_probe.DockerProxy(tmp / "docker.sock")
    client = ws.client
    try:
        with (
            app_probe.serve("dashboard/app.py", tmp / "app.log", app_env(tmp, session, proxy)) as (
                url,
                _,
            ),
            app_probe.launch() as browser,
        ):
            context, page = new_page(browser)
            lesson = []
            open_page(page, f"{url}/lesson1")
            for _ in range(log_runs):
                lesson.append(run_and_watch(page, client, LESSON1_RUN_BUTTON, session, "iris"))
            results["log_lesson1"] = _latency_summary(lesson, "lesson 1: Run iris-model:1.0")
            results["reruns"] = rerun_pages(
                page, url, proxy, rerun_repeats, tmp / f"script-times-{session}.tsv"
            )
            context.close()
            results["replicas"] = replica_reruns(
                browser, url, proxy, rerun_repeats, tmp, tmp / f"script-times-{session}.tsv"
            )
        results["log_trickle"] = trickle(ws, tmp, log_runs)
        results["reruns_default_gc"] = reruns_with_default_gc(ws, tmp, rerun_repeats)
    finally:
        proxy.close()
        wanted = {"label": [f"{labels.SESSION}={session}"]}
        for c in client.api.containers(all=True, filters=wanted):
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_container(c["Id"], force=True)
    return results


REPLICA_ROUNDS = 4  # page then replica, replica then page, twice: each side first twice


def replica_reruns(browser, url: str, proxy, repeats: int, tmp: Path, times: Path) -> dict:
    """Every page of the navigation against its replica (bench/replica.py): the page's own
    rerun recorded from its WebSocket frames in one tab, then served by bench/replica_app.py
    (a server of its own) and rerun in another tab beside the page, alternating, `repeats`
    reruns a side a round."""
    folder = tmp / "replicas"
    folder.mkdir(exist_ok=True)
    recorder = replica.Recorder()
    rec_context, rec_page = new_page(browser)
    recorder.attach(rec_page)
    context, page = new_page(browser)
    open_page(rec_page, url)
    links = rec_page.locator("[data-testid='stSidebarNav'] a[data-testid='stSidebarNavLink']")
    links.first.wait_for(timeout=60_000)
    targets = [
        (link.inner_text().strip().split("\n")[-1], link.get_attribute("href") or url)
        for link in links.all()
    ]
    recorded = {}
    for title, href in targets:
        path = href.split("://", 1)[-1].partition("/")[2].strip("/") or "home"
        open_page(rec_page, href)
        rec_page.wait_for_timeout(300)  # a fragment's first run settles
        wait_idle(rec_page)
        recorder.arm()
        rec_page.evaluate("window.__states = []")
        rec_page.evaluate("document.activeElement && document.activeElement.blur()")
        rec_page.keyboard.press("r")
        wait_rerun_done(rec_page)
        deadline = time.monotonic() + 30
        while not recorder.done and time.monotonic() < deadline:
            rec_page.wait_for_timeout(50)  # the frames arrive through Playwright's events
        if not recorder.done:
            raise RuntimeError(f"no full run of {title} recorded")
        replica.save(recorder.recorded, folder / f"{path}.pb")
        (folder / f"{path}.title").write_text(title)
        recorded[path] = (title, href, replica.element_counts(recorder.recorded))
    rec_context.close()
    pages = []
    with app_probe.serve(
        "bench/replica_app.py", tmp / "replica.log", {"BENCH_REPLICA_DIR": str(folder)}
    ) as (replica_url, _):
        for path, (title, href, counts) in recorded.items():
            sides: dict[str, list] = {"page": [], "replica": []}
            per_round = []
            for round_ in range(REPLICA_ROUNDS):
                order = ("page", "replica") if round_ % 2 == 0 else ("replica", "page")
                got = {}
                for side in order:
                    target = href if side == "page" else f"{replica_url}/{path}"
                    got[side] = _rerun_one(page, title, target, proxy, repeats, times)
                    sides[side] += got[side]["waits"]
                per_round.append(
                    stats.summarize(got["page"]["waits"]).median
                    / stats.summarize(got["replica"]["waits"]).median
                )
            page_ms = stats.summarize(sides["page"])
            replica_ms = stats.summarize(sides["replica"])
            pages.append(
                {
                    "page": title,
                    "path": path,
                    "elements": counts,
                    "messages": sum(counts.values()),
                    "rerun_ms": asdict(page_ms),
                    "replica_ms": asdict(replica_ms),
                    "ratio": page_ms.median / replica_ms.median,
                    "ratio_per_round": per_round,
                }
            )
    context.close()
    return {"rounds": REPLICA_ROUNDS, "repeats": repeats, "pages": pages}


# Streamlit's default: a full gc.collect() after every script run. The dashboard turns it off
# (.streamlit/config.toml, runner.postScriptGC); this server runs with it on, for the comparison.
DEFAULT_GC_ENV = {"STREAMLIT_RUNNER_POST_SCRIPT_GC": "true"}


def reruns_with_default_gc(ws: Workspace, tmp: Path, repeats: int) -> dict:
    """The same reruns, floor included, on a server with Streamlit's post-script GC left on."""
    session = f"{ws.lab}-gc"
    proxy = app_probe.DockerProxy(tmp / "docker-gc.sock")
    env = {**app_env(tmp, session, proxy), **DEFAULT_GC_ENV}
    try:
        with (
            app_probe.serve("dashboard/app.py", tmp / "app-gc.log", env) as (url, _),
            app_probe.launch() as browser,
        ):
            context, page = new_page(browser)
            done = rerun_pages(page, url, proxy, repeats, tmp / f"script-times-{session}.tsv")
            context.close()
    finally:
        proxy.close()
    return done


def trickle(ws: Workspace, tmp: Path, runs: int) -> dict:
    """The bench page's run panel, on a container printing a line every 0.2 s."""
    session = f"{ws.lab}-trickle"
    proxy = app_probe.DockerProxy(tmp / "docker-trickle.sock")
    env = {
        **app_env(tmp, session, proxy),
        "BENCH_LIVE_IMAGE": BASE_IMAGE,
        "BENCH_LIVE_LAB": ws.lab,
        "BENCH_LIVE_COMMAND": TRICKLE_COMMAND,
        "BENCH_LIVE_TIMEOUT": "60",
    }
    try:
        with (
            app_probe.serve("bench/live_app.py", tmp / "trickle.log", env) as (url, _),
            app_probe.launch() as browser,
        ):
            context, page = new_page(browser)
            open_page(page, url)
            done = [
                run_and_watch(page, ws.client, "bench-run", session, ws.lab) for _ in range(runs)
            ]
            context.close()
    finally:
        proxy.close()
    return _latency_summary(done, f"bench page: a line every 0.2 s ({TRICKLE_LINES} lines)")


def _latency_summary(done: list[dict], what: str) -> dict:
    values = [v for r in done for v in r["latencies_ms"]]
    if not values:
        raise RuntimeError(f"{what}: no log line was seen in the page")
    return {
        "what": what,
        "runs": len(done),
        "lines_logged": sum(r["lines"] for r in done),
        "lines_seen": len(values),
        "stale_lines": sum(r["stale"] for r in done),
        "latency_ms": asdict(stats.summarize(values)),
        "p90_ms": stats.percentile(values, 90),
    }
