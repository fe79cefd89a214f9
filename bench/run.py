"""Run the benchmarks, judge the goals, write results.json and RESULTS.md.

`python -m bench [--quick] [--only SECTIONS] [--keep] [--ci-log FILE] [--out DIR]`

Sections, in the order they run: prepare (also makes sure every lab image exists), overhead,
cache, sizes, layers, responsive (build events, log lines reaching the page, page reruns; in
Chromium), flood (the server's memory under a log flood), classroom (several students' cold
builds at once vs in the build queue), terminal (lesson 1's browser terminal: key echo vs a
local pty behind the same page), load (a class of students on one classroom server: Chromium
with 1 and `--load-students` as the browser-side check, Locust students on the same scenario
beside them, then Locust classes of `--load-sizes` in the idle and lecture scenarios:
page responses, errors, the server's memory and CPU; `--load-idle` sets the idle time), hub
(classes on many machines: `--hub-sizes` classes of Locust students through the classroom hub
on the Swarm of three namespaced engines, each on a seat of their own, the largest also on one
classroom server; bench/hub_class.py), fresh
(prepare's fresh-machine parts, timed one by one; not in --quick). `--only` keeps the other
sections' figures from the previous results file (RESULTS.md says which run measured them).
A section that fails is recorded with its error and the others still run; the exit status is
then 1. Everything the run creates is removed at the end (`--keep` keeps the
generated bench-big:1 for the next run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bench import (
    cache,
    classroom,
    flood,
    fresh,
    hub_class,
    layers,
    load,
    machine,
    overhead,
    prepare,
    report,
    responsive,
    sizes,
    stats,
    terminal,
)
from bench.workspace import Workspace
from dashboard.engine.base.connection import DaemonUnavailable, connect
from dashboard.engine.catalog.lessons import LESSONS

BENCH_DIR = Path(__file__).resolve().parent
SECTIONS = report.SECTION_NAMES  # in the order they run
QUICK_SECTIONS = SECTIONS[:-1]  # the fresh-machine parts download a Debian system: not a smoke run


@dataclass(frozen=True)
class Plan:
    cold_pairs: int
    command_cold_pairs: int
    warm_pairs: int
    warmup_pairs: int
    cache_repeats: int
    layer_repeats: int
    big_repeats: int
    prepare_repeats: int
    big: layers.BigSpec
    build_event_repeats: int = 15
    log_runs: int = 3
    rerun_repeats: int = 5
    flood_seconds: float = 60.0
    classroom_students: int = 4
    classroom_rounds: int = 2
    terminal_rounds: int = 5
    load_students: int = 5  # Chromium pages (the browser-side check), beside 1
    load_idle_seconds: float = 300.0
    load_class_sizes: tuple[int, ...] = (1, 10, 30, 60, 100)  # Locust classes, each scenario
    load_scenarios: tuple[str, ...] = ("idle", "lecture")
    hub_sizes: tuple[int, ...] = (30, 60)  # Locust classes through the hub; the largest also
    # on one process
    hub_idle_seconds: float = 120.0
    startup_repeats: int = 7


FULL = Plan(7, 3, 11, 1, 5, 3, 2, 5, layers.BigSpec())
QUICK = Plan(
    2,
    1,
    3,
    0,
    2,
    1,
    1,
    2,
    layers.QUICK_BIG,
    5,
    1,
    2,
    15.0,
    classroom_students=3,
    classroom_rounds=1,
    terminal_rounds=2,
    load_students=3,
    load_idle_seconds=30.0,
    load_class_sizes=(3,),
    startup_repeats=3,
    hub_sizes=(3,),
    hub_idle_seconds=20.0,
)


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def judge(results: dict) -> list[stats.Goal]:
    """The goals, from whatever sections ran (a goal of a section that did not run is None)."""
    get = _getter(results)
    mib = 1024 * 1024
    big_s = get("layers", "big", "fast", "analysis_s", "median")
    load_n = get("load", "students") or FULL.load_students
    return [
        stats.goal(
            "overhead_cold",
            "Engine / CLI build time, cold (--no-cache), iris",
            get("overhead", "cold", "ratio", "median"),
            "<=",
            1.05,
            "x",
            note=_cpu_note(results, "cold"),
        ),
        stats.goal(
            "overhead_warm",
            "Engine / CLI build time, warm (all cached), iris",
            get("overhead", "warm", "ratio", "median"),
            "<=",
            1.05,
            "x",
            note=_cpu_note(results, "warm"),
        ),
        stats.goal(
            "overhead_cold_command",
            "Same, cold, with the engine started as a command",
            get("overhead", "whole_cold", "ratio", "median"),
            "<=",
            1.05,
            "x",
        ),
        stats.goal(
            "overhead_warm_command",
            "Same, warm, with the engine started as a command (`python -m dashboard build`)",
            get("overhead", "whole_warm", "ratio", "median"),
            "<=",
            1.5,
            "x",
            note=_startup_note(results),
        ),
        stats.goal(
            "overhead_warm_command_floor",
            "Same command / `docker build` plus `python -c 'import docker'` (the floor of any "
            "Python client), warm, side by side",
            get("overhead", "whole_warm_floor", "ratio", "median"),
            "<=",
            1.3,
            "x",
            note=_command_floor_note(results),
        ),
        stats.goal(
            "cached_rebuild",
            "Rebuild after editing main.py, iris",
            get("cache", "iris", "edit_rebuild", "median"),
            "<",
            1.0,
            "s",
        ),
        stats.goal(
            "deps_first",
            "Same edit: code-first / deps-first rebuild time",
            get("cache", "cache_order", "ratio_code_over_deps", "median"),
            ">=",
            10.0,
            "x",
        ),
        stats.goal(
            "floor",
            "Slim multi-stage iris-model:2.0-onnx / floor (base + onnxruntime, numpy installed)",
            get("sizes", "floor", "final_over_floor"),
            "<=",
            1.10,
            "x",
        ),
        stats.goal(
            "layers_lab_time",
            "Layer analysis of iris-model:1.0 (file lists + efficiency, the dashboard's path)",
            get("layers", "lab_image", "fast", "analysis_s", "median"),
            "<",
            10.0,
            "s",
            note=_save_note(results, "lab_image"),
        ),
        stats.goal(
            "layers_save_over_floor",
            "Layer analysis through `docker save` / the plain `docker save` (the worst engine)",
            _worst_path(results, "docker save"),
            "<=",
            1.10,
            "x",
            note=_paths_note(results, "docker save") + _save_why(results),
        ),
        stats.goal(
            "layers_store_over_floor",
            "Layer analysis from containerd's content store / GNU tar listing its blobs",
            _worst_path(results, "containerd content store"),
            "<=",
            1.10,
            "x",
            note=_paths_note(results, "containerd content store"),
        ),
        stats.goal(
            "layers_lab_memory",
            "Peak memory of that analysis (either path)",
            _scaled(_peak(results, "lab_image"), mib),
            "<",
            500.0,
            "MiB",
        ),
        stats.goal(
            "layers_big_time",
            "Layer analysis of the generated big image (file lists + efficiency, the "
            "dashboard's path)",
            big_s,
            "<",
            10.0,
            "s",
            note=_save_note(results, "big"),
        ),
        stats.goal(
            "layers_big_memory",
            "Peak memory of that analysis (either path)",
            _scaled(_peak(results, "big"), mib),
            "<",
            500.0,
            "MiB",
        ),
        stats.goal(
            "build_first_event",
            "Build start to its first step event (engine, warm iris build)",
            get("responsive", "build", "first_step_event_s", "median"),
            "<",
            0.3,
            "s",
        ),
        stats.goal(
            "log_to_page_lesson1",
            "Container output to the line in the page: lesson 1's run (browser)",
            _scaled(_trusted_latency(results, "log_lesson1"), 1000),
            "<",
            0.3,
            "s",
            note=_latency_note(results, "log_lesson1"),
        ),
        stats.goal(
            "log_to_page_stream",
            "Same, a container printing a line every 0.2 s (bench page, same run panel)",
            _scaled(_trusted_latency(results, "log_trickle"), 1000),
            "<",
            0.3,
            "s",
            note=_latency_note(results, "log_trickle"),
        ),
        stats.goal(
            "rerun_lesson_pages_floor",
            "Rerun with nothing changed: the slowest lesson page / the floor (one st.write, same "
            "server, same browser)",
            _slowest_rerun(results, lessons_only=True),
            "<=",
            1.5,
            "x",
            note=_rerun_note(results, lessons_only=True),
        ),
        stats.goal(
            "rerun_lesson_pages_replica",
            "Rerun with nothing changed: the slowest lesson page / the same page's elements "
            "with no logic (its recorded run replayed by a generated script, bench/replica.py)",
            _slowest_replica(results),
            "<=",
            1.2,
            "x",
            note=_replica_note(results),
        ),
        stats.goal(
            "rerun_any_page_floor",
            "Same, the slowest page of all / the floor",
            _slowest_rerun(results, lessons_only=False),
            "<=",
            2.0,
            "x",
            note=_rerun_note(results, lessons_only=False),
        ),
        stats.goal(
            "flood_memory",
            "Peak memory of the dashboard server during a 60 s log flood",
            _scaled(get("flood", "peak_rss_bytes"), mib),
            "<",
            300.0,
            "MiB",
            note=_flood_note(results),
        ),
        stats.goal(
            "flood_answers",
            "Health checks (every 0.5 s) or page clicks (every 5 s) that failed during the flood",
            get("flood", "failures"),
            "<=",
            0,
            "",
        ),
        stats.goal(
            "terminal_echo",
            "Terminal echo of a typed key, browser on loopback (lesson 1, into a container)",
            get("terminal", "dashboard_ms", "median"),
            "<",
            100.0,
            "ms",
            note=_terminal_note(results),
        ),
        stats.goal(
            "terminal_echo_floor",
            "Same / the floor (a local pty behind the same page and WebSocket server)",
            get("terminal", "round_ratio", "median"),
            "<=",
            1.5,
            "x",
        ),
        stats.goal(
            "terminal_echo_proxied_floor",
            "Same through nginx with TLS under a path prefix / the floor",
            get("terminal", "proxied_round_ratio", "median"),
            "<=",
            1.5,
            "x",
        ),
        stats.goal(
            "classroom_mean",
            "Classroom: mean time until a student's build is done, queued (one slot per CPU) / "
            f"all at once, {get('classroom', 'students') or 'N'} no-cache iris builds",
            get("classroom", "ratio_mean", "pairwise", "median"),
            "<",
            1.0,
            "x",
            note=_classroom_note(results, "mean_s", "mean done"),
        ),
        stats.goal(
            "classroom_makespan",
            "Same, until the last student's build is done (makespan)",
            get("classroom", "ratio_makespan", "pairwise", "median"),
            "<=",
            1.10,
            "x",
            note=_classroom_note(results, "makespan_s", "last done", build_times=True),
        ),
        stats.goal(
            "load_errors",
            f"Load: errors with {load_n} students at once on one classroom server, and with 1 "
            "(failed steps, page errors, lost websockets, server tracebacks)",
            get("load", "errors"),
            "<=",
            0,
            "",
            note=_load_errors_note(results),
        ),
        stats.goal(
            "load_memory",
            f"Load: peak memory of the classroom server with {load_n} students",
            _scaled(get("load", "many", "peak_rss_bytes"), mib),
            "<",
            1024.0,
            "MiB",
            note=_load_memory_note(results),
        ),
        stats.goal(
            "load_locust_errors",
            "Load (Locust): errors over every class measured, both scenarios (failed steps, "
            "page errors, lost websockets, server tracebacks)",
            _locust_errors(results),
            "<=",
            0,
            "",
            note=_locust_note(results),
        ),
        stats.goal(
            "load_class_p95",
            "Load (Locust): p95 page response of the largest idle class measured",
            _largest_idle_p95(results),
            "<",
            1.0,
            "s",
        ),
        stats.goal(
            "hub_class_p95",
            f"Classroom hub (Locust): p95 page response of {get('hub', 'students') or 'N'} "
            "students, each on their own seat, across 3 machines",
            get("hub", "hub", "page_s", "p95"),
            "<",
            1.0,
            "s",
            note=_hub_note(results),
        ),
        stats.goal(
            "load_p95_ratio",
            f"Load: p95 page response, {load_n} students / 1 (reported; the bound is "
            f"linear, {load_n}x)",
            get("load", "ratio_p95"),
            "<=",
            float(load_n),
            "x",
            note=_load_response_note(results),
        ),
    ]


def _hub_note(results: dict) -> str:
    get = _getter(results)
    one = get("hub", "one", "page_s", "p95")
    idle = get("hub", "hub", "idle_page_s", "p95")
    parts = []
    if idle is not None:
        parts.append(f"in the idle window {idle:.2f} s")
    if one is not None:
        parts.append(f"one process, the same class: {one:.2f} s")
    return "; ".join(parts)


def _locust_classes(results: dict) -> list[dict]:
    return (_getter(results)("load", "locust", "classes")) or []


def _locust_errors(results: dict) -> int | None:
    classes = _locust_classes(results)
    if not classes:
        return None
    return sum(c.get("errors", 0) + (1 if c.get("failed") else 0) for c in classes)


def _largest_idle_p95(results: dict) -> float | None:
    idle = [c for c in _locust_classes(results) if c.get("scenario") == "idle" and c.get("page_s")]
    if not idle:
        return None
    return max(idle, key=lambda c: c["students"])["page_s"]["p95"]


def _locust_note(results: dict) -> str:
    loc = _getter(results)("load", "locust")
    if not loc:
        return ""
    sizes = ", ".join(
        f"{c['scenario']} {c['students']}: {c.get('errors', 'failed')}" for c in loc["classes"]
    )
    best = loc.get("largest_under_bound") or {}
    return f"per class: {sizes}; largest class with p95 < {loc['p95_bound_s']:g} s: " + ", ".join(
        f"{k} {v}" for k, v in best.items()
    )


def _load_errors_note(results: dict) -> str:
    load = _getter(results)("load")
    if not load:
        return ""
    one, many = load["one"], load["many"]
    kinds: dict[str, int] = {}
    for part in (one, many):
        for kind, n in part["error_kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + n
    listed = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    return (
        f"{many['errors']} with {many['students']}, {one['errors']} with 1"
        + (f" ({listed}; first listed in the section)" if listed else "")
        + f"; {many['ready']} of {many['students']} students reached the idle phase; "
        f"network-change aborts (not counted) {one['network_flakes'] + many['network_flakes']}"
    )


def _load_memory_note(results: dict) -> str:
    load = _getter(results)("load")
    if not load:
        return ""
    one, many = load["one"], load["many"]
    idle = (many.get("phases") or {}).get("idle") or {}
    median = (idle.get("rss_bytes") or {}).get("median")
    return (
        f"{many['rss_before_bytes'] / 2**20:.0f} MiB before the students; "
        + (f"median {median / 2**20:.0f} MiB while idle; " if median else "")
        + f"1 student: peak {one['peak_rss_bytes'] / 2**20:.0f} MiB"
    )


def _load_response_note(results: dict) -> str:
    load = _getter(results)("load")
    if not load or load.get("ratio_p50") is None:
        return ""
    one, many = load["one"], load["many"]
    sat = (many.get("saturation") or {}).get("idle") or {}
    return (
        f"p50 {many['p50_s']:.2f} s vs {one['p50_s']:.2f} s ({load['ratio_p50']:.1f}x), "
        f"p95 {many['p95_s']:.2f} s vs {one['p95_s']:.2f} s; "
        + (f"saturated while idle: {sat['verdict']}" if sat else "")
    )


def _terminal_note(results: dict) -> str:
    t = _getter(results)("terminal")
    if not t:
        return ""
    return (
        f"{t['dashboard_ms']['n']} keys; 90th percentile {t['dashboard_p90_ms']:.1f} ms; "
        f"floor median {t['floor_ms']['median']:.1f} ms, 90th percentile "
        f"{t['floor_p90_ms']:.1f} ms"
    )


def _classroom_note(results: dict, key: str, what: str, build_times: bool = False) -> str:
    c = _getter(results)("classroom")
    if not c:
        return ""
    queued, at_once = c["queued"], c["all_at_once"]
    extra, q, a = (
        ("each build took", queued["build_s"], at_once["build_s"])
        if build_times
        else ("first done", queued["first_s"], at_once["first_s"])
    )
    return (
        f"{c['cpus']} CPUs, {c.get('slots', 1)} slot(s), {c['rounds']} round(s); "
        f"{what} {queued[key]['median']:.1f} s queued "
        f"vs {at_once[key]['median']:.1f} s at once; {extra} {q['median']:.1f} s vs "
        f"{a['median']:.1f} s"
    )


def _trusted_latency(results: dict, key: str) -> float | None:
    """The median latency, or None when some line was seen before it was logged: then the
    page showed the same text elsewhere (a lesson's sample output) and the pairing is wrong."""
    lat = _getter(results)("responsive", key, "latency_ms")
    if not lat or lat["minimum"] < 0:
        return None
    return lat["median"]


def _latency_note(results: dict, key: str) -> str:
    part = _getter(results)("responsive", key)
    if not part:
        return ""
    lat = part["latency_ms"]
    prefix = (
        "NOT TRUSTED (lines seen before the daemon logged them: the page shows the same text "
        "elsewhere, so lines are paired wrongly); "
        if lat["minimum"] < 0
        else ""
    )
    return prefix + (
        f"{part['lines_seen']} lines over {part['runs']} runs: {lat['minimum']:.0f} to "
        f"{lat['maximum']:.0f} ms, 90th percentile {part['p90_ms']:.0f} ms"
    )


LESSON_PATHS = frozenset(Path(lesson.page).stem for lesson in LESSONS)


def _rerun_pages(results: dict, lessons_only: bool) -> tuple[dict | None, list[dict]]:
    reruns = _getter(results)("responsive", "reruns")
    if not isinstance(reruns, dict):  # a results file from before the floor was measured
        return None, []
    pages = reruns["pages"]
    if lessons_only:
        pages = [p for p in pages if p["path"] in LESSON_PATHS]
    return reruns["floor"], pages


def _slowest_rerun(results: dict, lessons_only: bool) -> float | None:
    _, pages = _rerun_pages(results, lessons_only)
    ratios = [p["floor_ratio"] for p in pages if p.get("floor_ratio")]
    return max(ratios) if ratios else None


def _replica_pages(results: dict, lessons_only: bool = True) -> list[dict]:
    pages = (_getter(results)("responsive", "replicas", "pages")) or []
    return [p for p in pages if p["path"] in LESSON_PATHS] if lessons_only else pages


def _slowest_replica(results: dict) -> float | None:
    ratios = [p["ratio"] for p in _replica_pages(results)]
    return max(ratios) if ratios else None


def _replica_note(results: dict) -> str:
    pages = _replica_pages(results)
    if not pages:
        return ""
    worst = max(pages, key=lambda p: p["ratio"])
    every = max(_replica_pages(results, lessons_only=False), key=lambda p: p["ratio"])
    note = (
        f"slowest {worst['page']}: {worst['rerun_ms']['median']:.0f} ms vs its replica "
        f"{worst['replica_ms']['median']:.0f} ms ({worst['messages']} messages a run); of all "
        f"pages {every['page']} {every['ratio']:.2f}x"
    )
    _, reruns = _rerun_pages(results, lessons_only=False)
    script = next((p.get("script_ms") for p in reruns if p["page"] == worst["page"]), None)
    if worst["ratio"] > 1.2 and script:
        note += (
            f". Why not met: the page's own Python, which the replica does not run: its script "
            f"{script['median']:.0f} ms on the server (section 6's reruns); a profile of lesson "
            "1's script finds no single part worth a cheap fix (the Make panel reading the "
            "Makefile and diffing the workspace, setting up the live fragments, converting the "
            "Plotly figure, the frame's sidebar and facts: a few ms each). Meeting it would take "
            "keeping what a page derives from files and the workspace between reruns (keyed on "
            "their modification times) and fewer fragments a page"
        )
    return note


def _rerun_note(results: dict, lessons_only: bool) -> str:
    floor, pages = _rerun_pages(results, lessons_only)
    if floor is None or not pages:
        return ""
    slowest = max(pages, key=lambda p: p["floor_ratio"] or 0)
    calls = sum(sum(p["docker_calls"]) for p in pages)
    reruns = sum(len(p["docker_calls"]) for p in pages)
    script = slowest.get("script_ms") or {}
    note = (
        f"floor {floor['rerun_ms']['median']:.0f} ms; slowest {slowest['page']} "
        f"{slowest['rerun_ms']['median']:.0f} ms (its script {script.get('median', 0):.0f} ms); "
        f"{calls} Docker API calls in {reruns} reruns"
    )
    default_gc = _getter(results)("responsive", "reruns_default_gc")
    if isinstance(default_gc, dict):
        paths = {p["path"] for p in pages}
        theirs = [p for p in default_gc["pages"] if p["path"] in paths and p.get("floor_ratio")]
        if theirs:
            worst = max(theirs, key=lambda p: p["floor_ratio"])
            note += (
                f". Why not met: the floor is an empty page, 1/5 of what it was once Streamlit's "
                f"post-script GC went (.streamlit/config.toml); with that GC on, in the same run: "
                f"floor {default_gc['floor']['rerun_ms']['median']:.0f} ms, slowest "
                f"{worst['page']} {worst['rerun_ms']['median']:.0f} ms, "
                f"{worst['floor_ratio']:.2f}x. What is left is the page's own Streamlit messages "
                "(about 1 ms each, 80 to 120 a lesson page) and their drawing"
            )
    return note


def _flood_note(results: dict) -> str:
    f = _getter(results)("flood")
    if not f:
        return ""
    ping = f["ping_s"]
    lines = f"{f['lines_printed']:,} lines" if f["lines_printed"] else "lines: ?"
    return (
        f"{lines} of {flood.LINE_CHARS + 10} chars; "
        f"RSS {f['rss_before_bytes'] / 2**20:.0f} MiB before, "
        f"median {f['rss_bytes']['median'] / 2**20:.0f} MiB during; page click answered in "
        + (f"{ping['median']:.2f} s (max {ping['maximum']:.2f} s)" if ping else "-")
    )


def _scaled(value, scale):
    return None if value is None else value / scale


def _cpu_note(results: dict, run: str) -> str:
    get = _getter(results)
    engine = get("overhead", run, "engine_client_cpu_s", "median")
    cli = get("overhead", run, "cli_client_cpu_s", "median")
    if engine is None or cli is None:
        return ""
    note = f"client CPU per build: engine {engine * 1000:.0f} ms, CLI {cli * 1000:.0f} ms"
    if run == "warm" and abs(engine - cli) <= 0.2 * max(cli, 0.001):
        note += " (the same: a difference in time is the daemon's, at builds of tens of ms)"
    return note


def _startup_note(results: dict) -> str:
    get = _getter(results)
    whole, inproc = (get("overhead", k, "engine", "median") for k in ("whole_warm", "warm"))
    if whole is None or inproc is None:
        return ""
    note = (
        f"the command (Python start-up, imports, connecting, asking for buildx, the history "
        f"row) adds {whole - inproc:.2f} s to a build of {inproc * 1000:.0f} ms; the dashboard "
        "runs the engine inside its server process"
    )
    rows = _startup_rows(results)
    build, cli = rows.get("python -m dashboard build iris"), get("overhead", "whole_warm", "cli")
    if build and cli and cli.get("median"):
        start = build["wall_s"]["median"]
        note += (
            ". Why not met: the verb's start-up alone (Python, its imports: "
            f"{_imports_note(results)}), before any Docker call, is {start * 1000:.0f} ms, "
            f"{start / cli['median']:.1f}x a whole warm `docker build`; imports are deferred to "
            "what each verb needs (table in section 1), the docker SDK is the floor of any "
            "Python client"
        )
    return note


def _command_floor_note(results: dict) -> str:
    got = _getter(results)("overhead", "whole_warm_floor")
    if not got or not got.get("import_docker_s"):
        return ""
    note = (
        f"command {got['engine']['median'] * 1000:.0f} ms vs floor "
        f"{got['cli']['median'] * 1000:.0f} ms (of which `import docker` "
        f"{got['import_docker_s']['median'] * 1000:.0f} ms), {got['pairs']} pairs; ratio of "
        f"medians {got['ratio_of_medians']:.2f}x; both with compiled bytecode cached"
    )
    rows = _startup_rows(results)
    verb, sdk = rows.get("python -m dashboard build iris"), rows.get("python -c 'import docker'")
    if got["ratio"]["median"] > 1.3 and verb and sdk:
        note += (
            ". Why not met: beyond the SDK's import and the build, the verb's own start-up (its "
            f"row in section 1 minus `import docker`'s: "
            f"{(verb['wall_s']['median'] - sdk['wall_s']['median']) * 1000:.0f} ms), then, on "
            "every build, warm ones too: the offline wheelhouse checked (its index read over "
            "HTTP, every pin parsed with `packaging`), the API version negotiated, buildx asked "
            "for, the history row written (sqlite). What it would take: remember the wheelhouse "
            "check and the buildx answer between commands (keyed on the requirements' hash and "
            "the CLI's version) and import `packaging` and sqlite only when needed; the SDK's "
            "import is the floor's own"
        )
    return note


def _startup_rows(results: dict) -> dict[str, dict]:
    rows = _getter(results)("overhead", "startup", "rows") or []
    return {row["command"]: row for row in rows}


def _warm_build_row(results: dict) -> dict | None:
    return next((r for r in _startup_rows(results).values() if r.get("on_daemon")), None)


def _imports_note(results: dict) -> str:
    build, rows = _warm_build_row(results), _startup_rows(results)
    floor = rows.get("python -c pass")
    if not build or not floor:
        return ""
    imports, sdk = build["imports_s"]["median"], build["docker_sdk_s"]["median"]
    return (
        f"imports {imports * 1000:.0f} ms (python -X importtime), of which the docker SDK "
        f"{sdk * 1000:.0f} ms; `python -c pass` {floor['wall_s']['median'] * 1000:.0f} ms"
    )


def _save_note(results: dict, image: str) -> str:
    get = _getter(results)
    sources = get("layers", image, "fast", "sources")
    via_save = get("layers", image, "analysis_s", "median")
    save = get("layers", image, "save_s", "median")
    ratio = get("layers", image, "fast", "save_over_fast", "median")
    if sources is None or via_save is None:
        return ""
    return (
        f"read from: {', '.join(sources)}; through `docker save` instead {via_save:.1f} s (of "
        f"which the save {save:.1f} s), {ratio:.1f}x slower (pairwise median)"
    )


def _path_rows(results: dict, source: str) -> list[dict]:
    rows = _getter(results)("layers", "paths", "rows") or []
    return [r for r in rows if r["source"] == source and r.get("over_floor")]


def _worst_path(results: dict, source: str) -> float | None:
    """The largest pairwise-median ratio to its floor among the engines read from `source`."""
    rows = _path_rows(results, source)
    return max(r["over_floor"]["median"] for r in rows) if rows else None


def _paths_note(results: dict, source: str) -> str:
    return "; ".join(
        f"{r['engine']} {r['over_floor']['median']:.2f}x"
        + (f" (dive {r['over_dive']['median']:.2f}x)" if r.get("over_dive") else "")
        for r in _path_rows(results, source)
    )


def _save_why(results: dict) -> str:
    worst = _worst_path(results, "docker save")
    if worst is None or worst <= 1.10:
        return ""
    get = _getter(results)
    efficiency = get("layers", "lab_image", "efficiency_s", "median")
    headers = get("layers", "lab_image", "entries")
    dive = [
        r["dive_s"]["median"] / r["floor_s"]["median"]
        for r in _path_rows(results, "docker save")
        if r.get("dive_s") and r.get("floor_s")
    ]
    return (
        ". Why not met: the daemon's answer comes faster than Python lists it; what is left is "
        "the listing's own work per tar header ("
        + (f"{headers:,} in iris-model:1.0, " if headers else "")
        + "about 11 us each, done in turn with the reading: a thread reading ahead was slower, "
        "the two took turns at the GIL) and the efficiency after the last byte"
        + (f" ({efficiency * 1000:.0f} ms)" if efficiency else "")
        + (f". dive, in Go, is {min(dive):.2f}x to {max(dive):.2f}x the floor" if dive else "")
    )


def _peak(results: dict, image: str) -> float | None:
    get = _getter(results)
    peaks = [
        get("layers", image, "peak_rss_bytes", "maximum"),
        get("layers", image, "fast", "peak_rss_bytes", "maximum"),
    ]
    peaks = [p for p in peaks if p is not None]
    return max(peaks) if peaks else None


def _getter(results: dict):
    def get(*keys):
        node = results
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    return get


def run_sections(ws: Workspace, plan: Plan, only: set[str], ci_log: Path | None) -> dict:
    results: dict = {}
    timings: dict[str, float] = {}
    errors: dict[str, str] = {}

    def section(name: str, action) -> None:
        if name not in only:
            return
        log(f"{name} ...")
        started = time.perf_counter()
        try:
            results[name] = action()
        except Exception as exc:  # one failing section must not lose the others' figures
            errors[name] = f"{type(exc).__name__}: {exc}"
            log(f"{name} FAILED: {errors[name]}")
            traceback.print_exc(file=sys.stderr)
        timings[name] = time.perf_counter() - started
        log(f"{name} done in {timings[name]:.0f} s")

    section("prepare", lambda: prepare.run(repeats=plan.prepare_repeats, ci_log=ci_log))
    section(
        "overhead",
        lambda: overhead.run(
            ws,
            cold_pairs=plan.cold_pairs,
            warm_pairs=plan.warm_pairs,
            warmup=plan.warmup_pairs,
            command_cold_pairs=plan.command_cold_pairs,
            startup_repeats=plan.startup_repeats,
        ),
    )
    cold = _getter(results)("overhead", "cold", "engine", "values")
    section("cache", lambda: cache.run(ws, repeats=plan.cache_repeats, cold=cold))
    section("sizes", lambda: sizes.run(ws))
    section(
        "layers",
        lambda: layers.run(
            ws, repeats=plan.layer_repeats, big_repeats=plan.big_repeats, spec=plan.big, log=log
        ),
    )
    section(
        "responsive",
        lambda: responsive.run(
            ws,
            build_repeats=plan.build_event_repeats,
            log_runs=plan.log_runs,
            rerun_repeats=plan.rerun_repeats,
        ),
    )
    section("flood", lambda: flood.run(ws, seconds=plan.flood_seconds))
    section(
        "classroom",
        lambda: classroom.run(ws, students=plan.classroom_students, rounds=plan.classroom_rounds),
    )
    section("terminal", lambda: terminal.run(ws, rounds=plan.terminal_rounds))
    section(
        "load",
        lambda: load.run(
            ws,
            students=plan.load_students,
            idle_s=plan.load_idle_seconds,
            class_sizes=plan.load_class_sizes,
            scenarios=plan.load_scenarios,
            log=log,
        ),
    )
    section(
        "hub",
        lambda: hub_class.run(
            ws,
            sizes=plan.hub_sizes,
            idle_s=plan.hub_idle_seconds,
            out=BENCH_DIR / "out" / "hub",
            log=log,
        ),
    )
    section("fresh", lambda: fresh.run(ws))
    results["section_seconds"] = timings
    results["errors"] = errors
    return results


def merge_previous(results: dict, previous_file: Path, only: set[str]) -> dict[str, str]:
    """With --only: keep the sections this run did not measure from the previous results file.

    Returns {section: run id it was measured in}; the carried sections keep their own figures.
    """
    try:
        previous = json.loads(previous_file.read_text())
    except (OSError, ValueError):
        return {}
    old_results = previous.get("results") or {}
    old_carried = previous.get("carried_over") or {}
    carried = {}
    for name in SECTIONS:
        # A section this run measured stays; one it skipped, or that failed, keeps its old figures.
        if name in results or name not in old_results:
            continue
        results[name] = old_results[name]
        carried[name] = old_carried.get(name, previous.get("run_id", "?"))
        seconds_by = (old_results.get("section_seconds") or {}).get(name)
        if seconds_by is not None:
            results.setdefault("section_seconds", {})[name] = seconds_by
    return carried


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, a smaller big image")
    parser.add_argument(
        "--only",
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all; quick: all but fresh)",
    )
    parser.add_argument("--keep", action="store_true", help="keep bench-big:1 for the next run")
    parser.add_argument(
        "--layer-repeats", type=int, help="runs of each layer-analysis path (default 3, quick: 1)"
    )
    parser.add_argument("--ci-log", type=Path, help="a .ci/run log, for the fresh-machine figure")
    parser.add_argument(
        "--load-students",
        type=int,
        help="Chromium students of the load section, beside 1 (default: 5, quick: 3)",
    )
    parser.add_argument(
        "--load-sizes",
        help="Locust class sizes, comma-separated (default: 1,10,30,60,100; quick: 3)",
    )
    parser.add_argument("--load-scenarios", help="Locust scenarios: idle,lecture (default: both)")
    parser.add_argument(
        "--load-idle", type=float, help="seconds the load section's students idle (300, quick: 30)"
    )
    parser.add_argument(
        "--hub-sizes", help="class sizes of the hub section, comma-separated (30,60; quick: 3)"
    )
    parser.add_argument(
        "--hub-idle", type=float, help="seconds the hub section's students idle (120, quick: 20)"
    )
    parser.add_argument(
        "--out", type=Path, help="where to write the results (default bench/, bench/out/ if quick)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    default = QUICK_SECTIONS if args.quick else SECTIONS
    only = {s.strip() for s in (args.only or ",".join(default)).split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        print(f"unknown sections: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    plan = QUICK if args.quick else FULL
    if args.load_students is not None:
        plan = replace(plan, load_students=args.load_students)
    if args.hub_sizes:
        plan = replace(plan, hub_sizes=tuple(int(x) for x in args.hub_sizes.split(",")))
    if args.hub_idle is not None:
        plan = replace(plan, hub_idle_seconds=args.hub_idle)
    if args.load_idle is not None:
        plan = replace(plan, load_idle_seconds=args.load_idle)
    if args.layer_repeats is not None:
        plan = replace(plan, layer_repeats=args.layer_repeats)
    if args.load_sizes:
        plan = replace(plan, load_class_sizes=tuple(int(x) for x in args.load_sizes.split(",")))
    if args.load_scenarios:
        plan = replace(plan, load_scenarios=tuple(args.load_scenarios.split(",")))
    out = args.out or (BENCH_DIR / "out" if args.quick else BENCH_DIR)
    try:
        client = connect()
    except DaemonUnavailable as exc:
        print(f"error: {exc.message}\n  {exc.hint}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    info = machine.describe(client)
    ws = Workspace(client, keep=args.keep)
    log(f"run {ws.run_id}: {'quick' if args.quick else 'full'}, sections {sorted(only)}")
    try:
        results = run_sections(ws, plan, only, args.ci_log)
    finally:
        ws.cleanup()
        log(f"removed {len(ws.removed)} objects" + (f", errors: {ws.errors}" if ws.errors else ""))
    carried = merge_previous(results, out / "results.json", only) if args.only else {}
    goals = judge(results)
    document = {
        "run_id": ws.run_id,
        "mode": "quick" if args.quick else "full",
        "plan": asdict(plan),
        "machine": info,
        "total_seconds": time.perf_counter() - started,
        "goals": [{**asdict(g), "met": g.met, "shortfall": g.shortfall} for g in goals],
        "results": results,
        "cleanup": {"removed": len(ws.removed), "errors": ws.errors, "kept_big": args.keep},
        "carried_over": carried,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    (out / "RESULTS.md").write_text(report.render(document, goals))
    log(
        f"wrote {out / 'RESULTS.md'} and {out / 'results.json'} ({document['total_seconds']:.0f} s)"
    )
    for g in goals:
        if g.value is not None:
            verdict = "met" if g.met else f"MISSED ({g.shortfall})"
            log(f"{g.key}: {g.value:.3g} {g.unit} (goal {g.op} {g.target:g}) {verdict}")
    return 1 if results.get("errors") else 0
