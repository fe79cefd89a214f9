"""RESULTS.md from a run's results: the machine, the goals, then one section per measurement."""

from __future__ import annotations

from bench import locust_report
from bench.stats import Goal, human_bytes, markdown_table, seconds

MIB = 1024 * 1024


def _range(s: dict | None, fmt=seconds) -> str:
    if not s:
        return "-"
    if s["n"] == 1:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['minimum'])} to {fmt(s['maximum'])})"


def _ratio(x: float) -> str:
    return f"{x:.3f}x" if x < 10 else f"{x:.1f}x"


def _value(g: Goal) -> str:
    if g.value is None:
        return "not measured"
    if g.unit == "x":
        return _ratio(g.value)
    if g.unit == "s":
        return seconds(g.value)
    return f"{g.value:.0f} {g.unit}"


def _target(g: Goal) -> str:
    unit = {"x": "x", "s": " s", "MiB": " MiB"}.get(g.unit, g.unit)
    return f"{g.op} {g.target:g}{unit}"


def _verdict(g: Goal) -> str:
    if g.met is None:
        return "-"
    return "yes" if g.met else f"**no** ({g.shortfall})"


def machine_table(m: dict) -> str:
    kind = "offline stand-in (Debian bookworm, labelled)" if m["base_image_standin"] else "pulled"
    base = f"{m['base_image']}: {kind}, {human_bytes(m['base_image_bytes'])}"
    rows = [
        ("CPUs", m["cpus"]),
        ("Memory", f"{m['memory_bytes'] / 2**30:.1f} GiB" if m["memory_bytes"] else "?"),
        ("Kernel", m["kernel"]),
        ("Docker server", f"{m['docker_server']} (API {m['docker_api']})"),
        ("Docker CLI", m["docker_cli"]),
        ("Storage driver", m["storage_driver"]),
        ("Base image", base),
        ("Python", m["python"]),
        ("Commit", m["commit"]),
        ("Date (UTC)", m["date_utc"]),
    ]
    return markdown_table(["", ""], rows)


def goals_table(goals: list[Goal]) -> str:
    rows = [(g.title, _target(g), _value(g), _verdict(g), g.note or "") for g in goals]
    return markdown_table(["Goal", "Target", "Measured (median)", "Met", "Note"], rows)


def overhead_section(r: dict) -> list[str]:
    rows = []
    for key, title in (
        ("cold", "cold (--no-cache), engine in-process"),
        ("warm", "warm (all cached), engine in-process"),
        ("whole_cold", "cold (--no-cache), engine as a command (the CLI verb)"),
        ("whole_warm", "warm (all cached), engine as a command (the CLI verb)"),
        (
            "whole_warm_floor",
            "warm, the CLI verb vs `python -c 'import docker'` then `docker build` (CLI column)",
        ),
    ):
        run = r.get(key)
        if not run:
            continue
        rows.append(
            (
                title,
                run["pairs"],
                _range(run["engine"]),
                _range(run["cli"]),
                _range(run["ratio"], _ratio),
                _ratio(run["ratio_of_medians"]),
                f"{seconds(run['engine_client_cpu_s']['median'])} / "
                f"{seconds(run['cli_client_cpu_s']['median'])}",
            )
        )
    lines = [
        "## 1. Overhead: the engine vs the `docker build` CLI",
        "",
        f"Engine in-process (as the dashboard's server calls it): `{r['engine_call']}`; as a "
        f"command: `{r['engine_command']}` (Python start-up and imports included). "
        f"CLI: `{r['cli_command']}` (warm: without `--no-cache`). "
        "Both on the builder the engine chose (BuildKit where buildx answers, else the classic "
        "builder, then with `--force-rm`) with the same network and labels, in a "
        "temporary copy of labs/iris; runs in alternating pairs after warm-up pairs, median of "
        "the pairwise ratios. Client CPU is what the caller itself spent per build (the "
        "daemon and the build's own processes are the same for both): the part of any "
        "difference that is the engine's and not the machine's noise.",
        "",
        markdown_table(
            [
                "Build",
                "Pairs",
                "Engine",
                "CLI",
                "Engine / CLI (pairwise)",
                "Ratio of medians",
                "Client CPU, engine / CLI",
            ],
            rows,
        ),
    ]
    problems = [
        p
        for key in ("cold", "warm", "whole_cold", "whole_warm")
        for p in r.get(key, {}).get("problems", [])
    ]
    lines += [
        "",
        "Checks: "
        + (
            "; ".join(problems)
            if problems
            else "every cold run rebuilt "
            "every step and every warm run hit the cache on every step, on both sides."
        ),
    ]
    if r.get("startup"):
        lines += ["", *startup_lines(r["startup"])]
    return lines


def startup_lines(r: dict) -> list[str]:
    rows = [
        (
            f"`{row['command']}`",
            _range(row["wall_s"]),
            seconds(row["cpu_s"]["median"]),
            _range(row["imports_s"]),
            seconds(row["docker_sdk_s"]["median"]) if row["docker_sdk_s"]["median"] else "-",
        )
        for row in r["rows"]
    ]
    problems = r.get("problems") or []
    return [
        "Start-up: what a command pays before its first Docker call. The verbs run against no "
        "daemon (DOCKER_HOST a socket that is not there), so each stops at its first Docker call "
        "(doctor after its other checks); the last row is the warm build above, on the daemon: "
        "everything the verb imports. Wall and CPU time of the command, and in as many other "
        "runs the time `python -X importtime` reports for all imports together (it adds some "
        "time of its own) and the docker SDK's part of it (requests, urllib3, ...); medians of "
        f"{r['repeats']} runs.",
        "",
        markdown_table(
            ["Command", "Wall", "CPU", "Imports", "Of which the docker SDK"],
            rows,
        ),
        "",
        "Checks: " + ("; ".join(problems) if problems else "every verb stopped at the daemon."),
    ]


def cache_section(r: dict) -> list[str]:
    iris, order = r["iris"], r["cache_order"]
    rows = [
        ("iris: cold build (engine)", _range(iris["cold"]), ""),
        (
            "iris: rebuild after editing main.py",
            _range(iris["edit_rebuild"]),
            f"{iris['speedup']:.0f}x faster than cold; reran: "
            + ", ".join(f"`{s}`" for s in iris["rebuilt_steps"]),
        ),
        (
            "cache-order, code-first: same edit",
            _range(order["code_first"]),
            "reran: " + ", ".join(f"`{s}`" for s in order["rebuilt_steps"]["code_first"]),
        ),
        (
            "cache-order, deps-first: same edit",
            _range(order["deps_first"]),
            "reran: " + ", ".join(f"`{s}`" for s in order["rebuilt_steps"]["deps_first"]),
        ),
    ]
    return [
        "## 2. The cache lesson",
        "",
        "Through the engine, in temporary copies; an edit appends a comment line to main.py. "
        "code-first and deps-first run in alternating pairs.",
        "",
        markdown_table(["Build", "Time", "Notes"], rows),
        "",
        f"code-first / deps-first (pairwise): {_range(order['ratio_code_over_deps'], _ratio)}.",
    ]


def sizes_section(r: dict) -> list[str]:
    rows = [(f"{r['base']['image']} (base)", "-", human_bytes(r["base"]["size_bytes"]))]
    for row in r["labs"]:
        size = human_bytes(row["size_bytes"]) if row["size_bytes"] is not None else "missing"
        rows.append((row["image"], row["lab"], size))
    lines = [
        "## 3. Image sizes",
        "",
        "Sizes as `docker images` reports them (the image's own size, shared layers included).",
        "",
        markdown_table(["Image", "Lab", "Size"], rows),
    ]
    for key, what in (("multi_over_single", "multi_stage"), ("slim_over_single", "slim_stage")):
        if key in r:
            lines += [
                "",
                f"{r[what]['image']} / single-stage {r['single_stage']['image']}: {r[key]:.2f}x "
                f"({human_bytes(r[what]['size_bytes'])} vs "
                f"{human_bytes(r['single_stage']['size_bytes'])}).",
            ]
    floors = r.get("floors") or []
    if floors:
        frow = [
            (
                f["image"],
                human_bytes(f["size_bytes"]),
                human_bytes(f["history"]["floor_bytes"]),
                human_bytes(f["history"]["above_floor_bytes"]),
                human_bytes(f["floor_bytes"]),
                f"{f['final_over_floor']:.3f}x",
            )
            for f in floors
        ]
        lines += [
            "",
            "Lesson 3's images against their floor. From `docker history` (what the page shows): "
            "the base image plus the last stage's `RUN pip install` layer. From inside the image: "
            "the base plus the installed files (`du -sb`) of what the program imports and what "
            "those require.",
            "",
            markdown_table(
                [
                    "Image",
                    "Size",
                    "Floor (history)",
                    "Above it",
                    "Floor (du of the imports)",
                    "Size / du floor",
                ],
                frow,
            ),
        ]
    floor = r.get("floor")
    if floor:
        inst = floor["installed"]
        prow = [(f"`{path}`", human_bytes(size)) for path, size in sorted(inst["paths"].items())]
        prow.append(("**installed, total**", human_bytes(inst["bytes"])))
        prow.append(("**floor = base + installed**", human_bytes(floor["floor_bytes"])))
        prow.append(("**final image**", human_bytes(floor["size_bytes"])))
        lines += [
            "",
            f"{floor['image']}: what the predictor imports ({', '.join(floor['imports'])}) and "
            f"what they require (installed: {', '.join(inst['packages'])}), measured with "
            f"`du -sb` inside {floor['image']}. Final / floor: {floor['final_over_floor']:.3f}x.",
            "",
            markdown_table(["Path", "Size"], prow),
        ]
    return lines


def layers_section(r: dict) -> list[str]:
    rows = []
    for key in ("lab_image", "big"):
        f = r.get(key)
        if not f:
            continue
        rows.append(
            (
                f["image"],
                human_bytes(f["archive_bytes"]),
                f["layers"],
                f"{f['entries']:,}",
                f["runs"],
                _range(f["save_s"]),
                _range(f["analysis_without_save_s"]),
                _range(f["analysis_s"]),
                _range(f["process_s"]),
                _range(f["cli_save_s"]),
                _range(f["analysis_over_cli_save"], _ratio),
                f"{f['peak_rss_bytes']['maximum'] / MIB:.0f} MiB",
                f"{f['score']:.3f}",
                human_bytes(f["wasted_bytes"]),
            )
        )
    fast_rows = []
    for key in ("lab_image", "big"):
        fast = (r.get(key) or {}).get("fast")
        if not fast:
            continue
        fast_rows.append(
            (
                r[key]["image"],
                ", ".join(fast["sources"]),
                r[key]["runs"],
                _range(fast["analysis_s"]),
                _range(fast["process_s"]),
                _range(fast["save_over_fast"], _ratio),
                "yes" if fast["same_results"] else "**no**",
                f"{fast['peak_rss_bytes']['maximum'] / MIB:.0f} MiB",
            )
        )
    big = r["big"]
    spec = big["spec"]
    how = (
        f"reused from a kept earlier run ({big['image']})"
        if big["reused"]
        else f"built in {seconds(big['build_s'])}"
    )
    return [
        "## 4. Layer analysis (file lists, wasted space, efficiency)",
        "",
        f"The big image: {spec['files']:,} random files of {spec['file_kb']} KiB in one layer, "
        f"a later layer overwriting {spec['overwrite']} of them and deleting {spec['delete']}; "
        f"{how}. Each analysis runs in its own process: `docker save` read as the daemon sends "
        "it, every layer's tar headers listed as it passes, then dive's efficiency; peak memory "
        "is that process's maximum resident set. `docker save` is that read (the save and the "
        "listing overlap); Total adds the efficiency; Process adds the Python start-up. Each "
        "analysis alternates with a plain `docker save -o FILE` of the same image by the CLI, "
        "the floor for anything (dive too) that reads a saved image.",
        "",
        markdown_table(
            [
                "Image",
                "Saved",
                "Layers",
                "Entries",
                "Runs",
                "docker save",
                "Read + efficiency",
                "Total",
                "Process",
                "`docker save -o` (CLI)",
                "Total / CLI save",
                "Peak memory",
                "Efficiency",
                "Wasted",
            ],
            rows,
        ),
        "",
        "The same analysis as the dashboard runs it here: without `docker save`, reading each "
        "layer's original tar headers from the daemon's layer store (tar-split metadata, the "
        "data `docker save` rebuilds its tars from) or, failing that, walking the overlay2 layer "
        "folders; `docker save` stays the fallback (remote daemon, other storage driver, no "
        "permission). Run in turn with the runs above.",
        "",
        markdown_table(
            [
                "Image",
                "Read from",
                "Runs",
                "Total",
                "Process",
                "Via `docker save` / this (pairwise)",
                "Same results",
                "Peak memory",
            ],
            fast_rows,
        ),
        *paths_table(r.get("paths")),
    ]


def paths_table(paths: dict | None) -> list[str]:
    """Every path a student's Docker gives, each against its floor and dive (layer_paths)."""
    if not paths:
        return []
    rows = []
    for row in paths["rows"]:
        rows.append(
            (
                row["engine"],
                row["daemon"],
                row["source"],
                _range(row["analysis_s"]),
                row["floor"] or "-",
                _range(row.get("floor_s")),
                _range(row.get("over_floor"), _ratio),
                _range(row.get("dive_s")),
                _range(row.get("over_dive"), _ratio),
                {True: "yes", False: "**no**", None: "-"}[row.get("same_as_dive")],
                f"{row['peak_rss_bytes'] / MIB:.0f} MiB",
            )
        )
    skipped = "".join(f" Not measured: {s}." for s in paths["skipped"])
    return [
        "",
        f"### Every path, against its floor and against dive ({paths['image']})",
        "",
        f"{paths['runs']} runs of each, in rotating order, one engine after the other "
        "(bench/layer_paths.py). The `docker save` path reads the daemon's answer as it arrives "
        "(layers listed while the daemon still sends the archive, no temporary file); its floor "
        "is the CLI's `docker save IMAGE > /dev/null`. The containerd content store's floor is "
        "GNU tar listing the same layer blobs (`tar -tf`, `gzip -dc | tar -t`). dive 0.13.1 "
        "reads `docker save` too. The dashboard's time is the analysis in a running process "
        "(file lists and efficiency); the others are whole processes. Ratios are pairwise "
        "medians." + skipped,
        "",
        markdown_table(
            [
                "Engine",
                "Daemon",
                "Read from",
                "Dashboard",
                "Floor",
                "Floor time",
                "Dashboard / floor",
                "dive",
                "Dashboard / dive",
                "Same efficiency and waste as dive",
                "Peak memory",
            ],
            rows,
        ),
    ]


def responsive_section(r: dict) -> list[str]:
    b = r["build"]
    lines = [
        "## 6. Responsiveness",
        "",
        f"Build start to its first step event, through the engine ({b['build']}): "
        f"{_range(b['first_step_event_s'])}; the whole build {_range(b['whole_build_s'])}.",
        "",
        "Container output to the line in the page: the real app served by `streamlit run`, "
        "driven in headless Chromium; a MutationObserver stamps when each log line first shows "
        "in the page, the daemon's log timestamps (`docker logs --timestamps`) when the "
        "container printed it (same machine, same clock). The run panel redraws its live log "
        "every `common.POLL_SECONDS` (0.25 s for this run; it was 0.7 s before 2026-11-29), "
        "so half that is the expected wait. Text the page "
        "already showed before the container started (an earlier run's output) is stale and "
        "not counted.",
        "",
    ]
    rows = []
    for key in ("log_lesson1", "log_trickle"):
        part = r.get(key)
        if part:
            lat = {k: part["latency_ms"][k] / 1000 for k in ("median", "minimum", "maximum")}
            rows.append(
                (
                    part["what"],
                    part["runs"],
                    f"{part['lines_seen']} / {part['lines_logged']}"
                    + (f" ({part['stale_lines']} stale)" if part.get("stale_lines") else ""),
                    _range({**part["latency_ms"], **lat}),
                    seconds(part["p90_ms"] / 1000),
                )
            )
    lines += [
        markdown_table(["Run", "Runs", "Lines seen / logged", "Latency", "90th percentile"], rows),
        "",
        "Reruns with nothing changed (Streamlit's `r` shortcut), each page in turn, between two "
        "rounds on the floor: a hidden page of the same server that is one `st.write` after "
        "`st.navigation` (DASHBOARD_BENCH_FLOOR=1), what any page costs Streamlit and this "
        "browser. Request to done: from the browser's rerun request to the script state "
        "notRunning (what a student waits for). Script: the script's own run on the server "
        "(DASHBOARD_SCRIPT_TIMES); the rest is the websocket round trip, Streamlit's messages and "
        "the front end drawing them. Docker calls: counted by a unix-socket proxy the app used "
        "as DOCKER_HOST (the app's `docker events` stream is one call, made once).",
        "",
    ]
    reruns = r.get("reruns")
    # (a list: results from before the floor was measured)
    table = [reruns["floor"], *reruns["pages"]] if isinstance(reruns, dict) else list(reruns or [])
    rows = []
    for page in table:
        calls = page["docker_calls"]
        top = sorted(page["docker_call_paths"].items(), key=lambda kv: -kv[1])[:3]
        rerun = page["rerun_ms"]
        script = page.get("script_ms")
        rows.append(
            (
                page["page"],
                len(calls),
                _range({k: rerun[k] / 1000 for k in ("n", "median", "minimum", "maximum")}),
                _ratio(page["floor_ratio"])
                if page.get("floor_ratio")
                else "1 (the floor)"
                if page["page"].startswith("Floor")
                else "",
                seconds(script["median"] / 1000) if script else "",
                seconds(max(rerun["median"] - script["median"], 0) / 1000) if script else "",
                ", ".join(str(c) for c in calls),
                "; ".join(f"`{k}` x{n}" for k, n in top),
            )
        )
    lines.append(
        markdown_table(
            [
                "Page",
                "Reruns",
                "Request to done",
                "/ floor",
                "Script",
                "The rest (round trip, front end)",
                "Docker calls",
                "Most called",
            ],
            rows,
        )
    )
    default_gc = r.get("reruns_default_gc")
    if isinstance(default_gc, dict) and isinstance(reruns, dict):
        lines += [
            "",
            "The same reruns on a second server left at Streamlit's default "
            "`runner.postScriptGC = true`: a full `gc.collect()` after every script run, which "
            "holds the GIL while the script's last messages wait to be sent (the dashboard "
            "turns it off in .streamlit/config.toml; bench/load.py found it filling the "
            "server's core with three students' live panels).",
            "",
        ]
        ours = {p["page"]: p for p in [reruns["floor"], *reruns["pages"]]}
        rows = []
        for page in [default_gc["floor"], *default_gc["pages"]]:
            mine = ours.get(page["page"])
            rows.append(
                (
                    page["page"],
                    seconds(page["rerun_ms"]["median"] / 1000),
                    _ratio(page["floor_ratio"]) if page.get("floor_ratio") else "1 (the floor)",
                    seconds(mine["rerun_ms"]["median"] / 1000) if mine else "",
                    _ratio(page["rerun_ms"]["median"] / mine["rerun_ms"]["median"])
                    if mine and mine["rerun_ms"]["median"]
                    else "",
                )
            )
        lines.append(
            markdown_table(
                [
                    "Page",
                    "Request to done, GC on (Streamlit's default)",
                    "/ its floor",
                    "GC off (the dashboard)",
                    "GC on / off",
                ],
                rows,
            )
        )
    lines += replica_lines(r.get("replicas"))
    return lines


def replica_lines(rep: dict | None) -> list[str]:
    """Each page against its replica: its own rerun recorded and replayed with no logic."""
    if not rep:
        return []
    rows = []
    for p in rep["pages"]:
        top = sorted(p["elements"].items(), key=lambda kv: -kv[1])[:4]
        rows.append(
            (
                p["page"],
                f"{p['messages']} ({', '.join(f'{k} {n}' for k, n in top)})",
                _range({k: p["rerun_ms"][k] / 1000 for k in ("n", "median", "minimum", "maximum")}),
                _range(
                    {k: p["replica_ms"][k] / 1000 for k in ("n", "median", "minimum", "maximum")}
                ),
                _ratio(p["ratio"]),
                ", ".join(_ratio(x) for x in p["ratio_per_round"]),
            )
        )
    return [
        "",
        "Each page against the same page's elements with no logic (bench/replica.py): one "
        "rerun of the page recorded from its WebSocket frames in a tab of its own (every "
        "message of that full run: its deltas with their paths, cached ones resolved, and the "
        "page config), served by a generated app (bench/replica_app.py, a server of its own, "
        "the same number of pages in its navigation) whose page script sends those messages "
        "as they are: the same element types and counts, texts, widget ids and figures, "
        "drawn the same; none of the page's Python (session state, Docker calls, decisions, "
        "`st.*` argument processing, widget registration, fragment timers). Page and replica "
        f"rerun in one tab, alternating, {rep['rounds']} rounds of {rep['repeats']} reruns a "
        "side, from the rerun request to notRunning as above.",
        "",
        markdown_table(
            [
                "Page",
                "Messages in a run (most common)",
                "Page: request to done",
                "Replica",
                "Page / replica",
                "Per round",
            ],
            rows,
        ),
    ]


def flood_section(r: dict) -> list[str]:
    ping = r.get("ping_s")
    series = ", ".join(f"{t:.0f} s {b / MIB:.0f}" for t, b in r["rss_series"][::2])
    printed = f"{r['lines_printed']:,}" if r["lines_printed"] else "?"
    return [
        "## 7. Log flood",
        "",
        f"A container of {r['image']} printing {printed} lines in "
        f"{r['seconds']:.0f} s, run by a bench page with lesson 1's run panel (bench/live_app.py:"
        " a job with `tasks.run_image`, the live log redrawn every `common.POLL_SECONDS`, 0.7 s"
        " when this was measured; no lesson page runs an"
        " arbitrary command). Memory of the Streamlit server process (/proc VmRSS every 0.5 s, "
        "VmHWM for the peak).",
        "",
        markdown_table(
            ["", ""],
            [
                ("RSS before the run", human_bytes(r["rss_before_bytes"])),
                ("RSS during (median, min to max)", _range(r["rss_bytes"], human_bytes)),
                ("Peak RSS (VmHWM)", human_bytes(r["peak_rss_bytes"])),
                ("Health checks failed", f"{r['health_failures']} of {r['health_checks']}"),
                ("Health check time", _range(r["health_s"])),
                (
                    "Ping click to new count shown",
                    (_range(ping) if ping else "-") + f"; failed: {r['ping_failures']}",
                ),
                ("Exit code", r["exit_code"]),
            ],
        ),
        "",
        f"RSS over time (MiB): {series}.",
    ]


def prepare_section(r: dict, parts: dict | None = None) -> list[str]:
    first = r["first"]
    built = [lab for lab, v in first["labs"].items() if v.get("all_cached") is False]
    fresh = r["fresh"]
    if parts:
        fresh_text = fresh_table(parts)
    elif fresh.get("source") and fresh.get("fresh") and fresh.get("prepare_step_s") is not None:
        fresh_text = (
            f"Fresh machine: {fresh['prepare_step_s']} s for the prepare step in the CI log "
            f"{fresh['source']} (not measured in this run)."
        )
    elif fresh.get("source"):
        fresh_text = (
            f"Fresh machine: not measured; the CI log given ({fresh['source']}): " + (fresh["note"])
        )
    else:
        fresh_text = (
            "Fresh machine: not measured (that needs deleting the shared base image); pass a "
            "CI log with `--ci-log` to report its figure."
        )
    return [
        "## 5. `python -m dashboard prepare`",
        "",
        markdown_table(
            ["Run", "Time", "Notes"],
            [
                (
                    "first call of this run",
                    seconds(first["seconds"]),
                    "built: " + ", ".join(built) if built else "everything already existed",
                ),
                (
                    "ready machine (everything exists)",
                    _range(r["ready"]),
                    f"peak memory {r['ready_peak_rss_bytes'] / MIB:.0f} MiB; every lab "
                    + ("fully cached" if r["ready_all_cached"] else "NOT fully cached"),
                ),
            ],
        ),
        "",
        fresh_text,
    ]


def fresh_table(parts: dict) -> str:
    st, wh = parts["standin"], parts["wheelhouse"]
    rows = [
        (
            "stand-in base image (debootstrap + docker import)",
            seconds(st["seconds"]),
            f"as {st['image']}, {human_bytes(st['size_bytes'])}",
        ),
        (
            "wheelhouse download (pip, no cache)",
            seconds(wh["seconds"]),
            f"{wh['wheels']} wheels, {human_bytes(wh['bytes'])}",
        ),
    ]
    for b in parts["cold_builds"]:
        rows.append((f"cold build of labs/{b['build']}", seconds(b["seconds"]), ""))
    rows.append(("**estimate: the sum**", f"**{seconds(parts['estimate_s'])}**", ""))
    return "\n".join(
        [
            "Fresh machine (no base image, no wheelhouse, nothing cached), composed from its "
            "parts timed one by one in this run; the shared python:3.11-slim is never deleted: "
            "the stand-in is built by the same code under a bench tag, then removed. (prepare "
            "builds the wine pair through Compose and BuildKit; here the engine builds them.)",
            "",
            markdown_table(["Part", "Time", "Notes"], rows),
        ]
    )


def _cpu_shares(cpu: dict | None) -> str:
    if not cpu:
        return "-"
    return " / ".join(f"{cpu[k] * 100:.0f}%" for k in ("busy", "iowait", "idle"))


def classroom_section(r: dict) -> list[str]:
    rows = []
    queued_title = f"queued (SlotQueue({r.get('slots', 1)}))"
    for key, title in (("all_at_once", "all at once"), ("queued", queued_title)):
        a = r[key]
        rows.append(
            (
                title,
                len(a["runs"]),
                _range(a["first_s"]),
                _range(a["mean_s"]),
                _range(a["makespan_s"]),
                _range(a["build_s"]),
            )
        )
    detail = []
    for key, title in (("all_at_once", "all at once"), ("queued", "queued")):
        for run in r[key]["runs"]:
            detail.append(
                (
                    run["round"],
                    title + (" (went first)" if run["went_first"] else ""),
                    ", ".join(f"{s['done_s']:.1f}" for s in run["students"]),
                    ", ".join(f"{s['started_s']:.1f}" for s in run["students"]),
                    ", ".join(f"{s['build_s']:.1f}" for s in run["students"]),
                    f"{run['load_before']:.1f}" if "load_before" in run else "-",
                    _cpu_shares(run.get("cpu")),
                )
            )
    detail.sort(key=lambda row: row[0])
    ratios = "; ".join(
        f"{what} {_range(r[key]['pairwise'], _ratio)} (ratio of medians "
        f"{_ratio(r[key]['of_medians'])})"
        for key, what in (
            ("ratio_mean", "mean done"),
            ("ratio_makespan", "last done"),
            ("ratio_first", "first done"),
        )
    )
    problems = r.get("problems") or []
    return [
        "## 8. Classroom: builds at once vs in the build queue",
        "",
        f"{r['students']} students press Build together on this {r['cpus']}-CPU machine, each a "
        f"`--no-cache` build of their own copy of labs/iris (`{r['engine_call']}`). All at once: "
        "every thread builds at once; queued: each thread waits in `with queue.admit(ticket)` of "
        f"a fresh `dashboard.work.slots.SlotQueue({r.get('slots', 1)})` (the dashboard's default: "
        "one slot per CPU), as classroom mode does. The two run in turn "
        f"for {r['rounds']} round(s); times count from the common start. The load at a "
        "round's start still counts the previous round's builds; CPU during is the whole "
        "machine's (/proc/stat). On a machine shared with other work, builds run at once also "
        "take that many shares of the CPU from the other work, where one queued build takes one: "
        "builds that took longer one at a time than a quiet machine's cold build (section 1) "
        "show that.",
        "",
        markdown_table(
            [
                "Arrangement",
                "Rounds",
                "First done",
                "Mean done",
                "Last done (makespan)",
                "Each build's own time",
            ],
            rows,
        ),
        "",
        f"Queued / all at once (pairwise, per round): {ratios}.",
        "",
        markdown_table(
            [
                "Round",
                "Arrangement",
                "Done at (s)",
                "Build started at (s)",
                "Build took (s)",
                "1-min load at start",
                "CPU during: busy / I/O wait / idle",
            ],
            detail,
        ),
        "",
        "Checks: "
        + ("; ".join(problems) if problems else "every build rebuilt every step (none cached)."),
    ]


def terminal_section(r: dict) -> list[str]:
    def ms(summary: dict) -> str:
        return f"{summary['median']:.1f} ms ({summary['minimum']:.1f} to {summary['maximum']:.1f})"

    ratio = r["round_ratio"]
    return [
        "## 9. Terminal echo (lesson 1's browser terminal)",
        "",
        "A key pressed in headless Chromium, timed in the page by the terminal's own probe: from "
        "the keydown on xterm.js's textarea to the frame after the echo reached the terminal's "
        'buffer (on screen; "parsed": when xterm.js had parsed it, before that frame). '
        "Dashboard: the real app, lesson 1's terminal into a running container of "
        f"{r['container_image']} (WebSocket on loopback, a route of the dashboard's own server "
        "-> `docker exec -it` -> bash's echo)"
        + (
            f", under the path prefix {r['path_prefix']}; proxied: the same server and container "
            "through nginx with TLS (the browser connects with https:// and wss://)"
            if "proxied_ms" in r
            else ""
        )
        + ". Floor: the same page, xterm.js and WebSocket route on a server of its own, with a "
        f"local pty running bash on this machine as the stream (bench/terminal.py). "
        f"{r['rounds']} rounds each, taking turns, {r['keys_per_round']} keys a round, one key "
        "in flight at a time.",
        "",
        markdown_table(
            ["", "Echo on screen, median (min to max)", "90th percentile", "Echo parsed", "Keys"],
            [
                (
                    "Dashboard (docker exec)",
                    ms(r["dashboard_ms"]),
                    f"{r['dashboard_p90_ms']:.1f} ms",
                    ms(r["dashboard_parsed_ms"]) if "dashboard_parsed_ms" in r else "-",
                    r["dashboard_ms"]["n"],
                ),
                *(
                    [
                        (
                            "Proxied (nginx, TLS, prefix)",
                            ms(r["proxied_ms"]),
                            f"{r['proxied_p90_ms']:.1f} ms",
                            ms(r["proxied_parsed_ms"]),
                            r["proxied_ms"]["n"],
                        )
                    ]
                    if "proxied_ms" in r
                    else []
                ),
                (
                    "Floor (local pty)",
                    ms(r["floor_ms"]),
                    f"{r['floor_p90_ms']:.1f} ms",
                    ms(r["floor_parsed_ms"]) if "floor_parsed_ms" in r else "-",
                    r["floor_ms"]["n"],
                ),
            ],
        ),
        "",
        f"Dashboard / floor: {r['ratio_of_medians']:.3f}x (medians of all keys); per round "
        f"{ratio['median']:.3f}x ({ratio['minimum']:.3f}x to {ratio['maximum']:.3f}x)."
        + (
            f" Proxied / floor: {r['proxied_ratio_of_medians']:.3f}x; per round "
            f"{r['proxied_round_ratio']['median']:.3f}x "
            f"({r['proxied_round_ratio']['minimum']:.3f}x to "
            f"{r['proxied_round_ratio']['maximum']:.3f}x)."
            if "proxied_ms" in r
            else ""
        ),
    ]


def _p(summary: dict | None, key: str = "p50", scale: float = 1.0) -> str:
    if not summary or summary.get(key) is None:
        return "-"
    return seconds(summary[key] * scale)


def _cpu_row(phase: dict | None) -> str:
    if not phase:
        return "-"
    cpu = phase["cpu_mean"]
    return " / ".join(
        f"{cpu[k]:.0f}"
        for k in ("server", "browser", "driver", "daemon", "containers", "other", "machine")
    )


def load_section(r: dict) -> list[str]:
    one, many = r["one"], r["many"]
    n = r["students"]

    def row(title: str, a: str, b: str, ratio: float | None = None) -> tuple:
        return (title, a, b, _ratio(ratio) if ratio is not None else "")

    def both(key: str, sub: str) -> float | None:
        a = (one.get(key) or {}).get(sub)
        b = (many.get(key) or {}).get(sub)
        return b / a if a and b is not None else None

    def phase(part: dict, name: str) -> dict | None:
        return (part.get("phases") or {}).get(name)

    def rss(part: dict, name: str) -> str:
        got = (phase(part, name) or {}).get("rss_bytes")
        return _range(got, human_bytes) if got else "-"

    def live(part: dict) -> str:
        d = part.get("live_delay_ms")
        if not d:
            return "-"
        return f"{seconds(d['p50'] / 1000)} / {seconds(d['p95'] / 1000)} ({d['n']} lines)"

    def sends(part: dict) -> str:
        got = part.get("sends_per_s")
        if not got:
            return "-"
        return _range(got, lambda v: f"{v:.1f}") + f"; all pages {part['sends_per_s_total']:.0f}/s"

    def action(part: dict, step: str) -> str:
        return _range((part.get("actions_s") or {}).get(step))

    rows = [
        row(
            "Students who reached the idle phase",
            f"{one['ready']} of 1",
            f"{many['ready']} of {n}",
        ),
        row(
            "Setup: students arriving 4 s apart, until the last one follows its log",
            seconds(one["setup_s"]),
            seconds(many["setup_s"]),
        ),
        row(
            "Page responses timed",
            str(one["response_s"]["n"]) if one["response_s"] else "0",
            str(many["response_s"]["n"]) if many["response_s"] else "0",
        ),
        row("Page response p50", _p(one["response_s"]), _p(many["response_s"]), r["ratio_p50"]),
        row(
            "Page response p95",
            _p(one["response_s"], "p95"),
            _p(many["response_s"], "p95"),
            r["ratio_p95"],
        ),
        row(
            "Page response max",
            _p(one["response_s"], "maximum"),
            _p(many["response_s"], "maximum"),
        ),
    ]
    for name, title in (("setup", "setup (all at once)"), ("idle", "idle (one moves at a time)")):
        a, b = one["by_phase"].get(name), many["by_phase"].get(name)
        rows.append(
            row(
                f"Page response p50 / p95, {title}",
                f"{_p(a)} / {_p(a, 'p95')}",
                f"{_p(b)} / {_p(b, 'p95')}",
            )
        )
    rows += [
        row("Lesson 1's Run, click to exit code 0", action(one, "run"), action(many, "run")),
        row(
            "`docker run -d` (section 5), click to the follow button",
            action(one, "docker run -d"),
            action(many, "docker run -d"),
        ),
        row(
            "`docker logs -f`, click to the first line",
            action(one, "docker logs -f"),
            action(many, "docker logs -f"),
        ),
        row(
            "Live log while idle: printed to shown, p50 / p95",
            live(one),
            live(many),
            r.get("ratio_live_p95"),
        ),
        row(
            "Messages a page sent the server per second while idle, median (min to max); "
            f"a live panel asks {one.get('sends_expected_per_s', 4):g}/s",
            sends(one),
            sends(many),
        ),
        row("Errors", str(one["errors"]), str(many["errors"])),
        row(
            "1-minute load average as the side began (other work on the machine shows here)",
            f"{one['load_before']:.1f}",
            f"{many['load_before']:.1f}",
        ),
        row(
            "Network-change aborts (not counted)",
            str(one["network_flakes"]),
            str(many["network_flakes"]),
        ),
        row(
            "Server RSS before the students",
            human_bytes(one["rss_before_bytes"]),
            human_bytes(many["rss_before_bytes"]),
        ),
        row("Server RSS while idle (median, min to max)", rss(one, "idle"), rss(many, "idle")),
        row(
            "Server peak RSS (VmHWM)",
            human_bytes(one["peak_rss_bytes"]),
            human_bytes(many["peak_rss_bytes"]),
            many["peak_rss_bytes"] / one["peak_rss_bytes"] if one["peak_rss_bytes"] else None,
        ),
        row(
            "Chromium's memory, all its processes (PSS), peak while idle",
            human_bytes((phase(one, "idle") or {}).get("browser_pss_peak_bytes", 0)),
            human_bytes((phase(many, "idle") or {}).get("browser_pss_peak_bytes", 0)),
        ),
        row(
            "CPU % of one core, setup: server / browser / driver / daemon / containers / "
            "other / machine",
            _cpu_row(phase(one, "setup")),
            _cpu_row(phase(many, "setup")),
        ),
        row("Same, idle", _cpu_row(phase(one, "idle")), _cpu_row(phase(many, "idle"))),
    ]
    steps = sorted(set(one["by_step"]) | set(many["by_step"]))
    step_rows = []
    for step in steps:
        a, b = one["by_step"].get(step), many["by_step"].get(step)
        step_rows.append(
            (
                step,
                f"{_p(a)} / {_p(a, 'p95')}" + (f" (n={a['n']})" if a else ""),
                f"{_p(b)} / {_p(b, 'p95')}" + (f" (n={b['n']})" if b else ""),
            )
        )
    lines = [
        f"## 10. Load: {n} classroom students at once on one server",
        "",
        "One classroom server (`DASHBOARD_CLASSROOM=1`), one headless Chromium with a browser "
        "context per student (bench/load.py). Setup, the students arriving 4 s apart "
        "(bench/load.py ARRIVAL_GAP): open /lesson1, "
        "type a name and press Start, press lesson 1's Run and wait for exit code 0, open "
        f"{', '.join(r['pages'][1:-1])} and come back, start a detached counter container "
        "(a line a second) and follow its logs: a live panel. Idle for "
        f"{r['idle_s']:.0f} s: every student stays on lesson 1 with the live log open while a "
        f"driver moves one student at a time to {r['pages'][-1]} and back. A page response is "
        "from the click (or the address typed) to the new page's heading shown with the script "
        "notRunning; the live log's delay is from `docker logs --timestamps` to the line first "
        "shown in that student's page (lines printed while the student was away not counted). "
        "Errors: failed or timed-out steps, exception boxes or error messages in a page, JS and "
        "console errors, a websocket leaving CONNECTED, tracebacks on the server's console. "
        f"CPU: mean percent of one core ({r['cpus']} cores = {r['cpus'] * 100} %), sampled "
        "every second from /proc: the server process, Chromium, the driver (Playwright's node "
        "and the bench), the Docker daemon (shared with any other work on the machine), the "
        "students' containers, the rest (other work, its containers included) and the machine "
        "as a whole. Each side has a fresh server of its own. Chromium runs "
        "at a lower priority (nice) than the server: on a real class's server the students' "
        "browsers are elsewhere; the messages a page sent per second show whether the "
        "browser, short of CPU, offered the server less load than real students would. "
        f"Chromium's network: {many.get('browser_network', '?')} (a network namespace with "
        "only a loopback, relayed to the server's port: in the host's, every container's veth "
        "makes Chromium abort the loads in flight, net::ERR_NETWORK_CHANGED, which a class's "
        "browsers on other computers never see). Streamlit's full garbage collection after "
        "every script run (`runner.postScriptGC`, each live panel's rerun included): "
        + {True: "on", False: "off (.streamlit/config.toml)"}.get(r.get("post_script_gc"), "?")
        + "."
        + (
            f" Docker engine: {r['engine']}. 1-minute load average as the section began / "
            f"ended: {r['load_avg'][0]:.1f} / {r['load_avg'][1]:.1f}."
            if r.get("engine") and r.get("load_avg")
            else ""
        )
        + (f" {r['shared']}" if r.get("shared") else ""),
        "",
        markdown_table(["", "1 student", f"{n} students", f"{n} / 1"], rows),
    ]
    for name in ("setup", "idle"):
        sat = (many.get("saturation") or {}).get(name)
        top = (phase(many, name) or {}).get("other_top") or {}
        if top:
            lines += [
                "",
                f"Other work on the machine with {n} students, {name} (mean % of one core): "
                + ", ".join(f"{comm} {used:.0f}" for comm, used in top.items())
                + ".",
            ]
        if sat:
            b_over_s = sat["browser_over_server"]
            lines += [
                "",
                f"With {n} students, {name}: saturated: {sat['verdict']}; the browser used "
                + (f"{b_over_s:.1f}x" if b_over_s != float("inf") else "all")
                + " the server's CPU"
                + (
                    " (the simulated students, not the server, are what this machine ran out of)"
                    if sat["machine_full"] and sat["top"] == "browser"
                    else ""
                )
                + ".",
            ]
    lines += [
        "",
        "Page responses by step, p50 / p95:",
        "",
        markdown_table(["Step", "1 student", f"{n} students"], step_rows),
    ]
    listed = [
        f"{e['student']}, {e['phase']} {e['step']}: {e['kind']}: {e['detail']}"
        for e in one["error_list"] + many["error_list"]
    ] + [
        f"server console ({who}): {end}"
        for who, part in (("1 student", one), (f"{n} students", many))
        for end in part.get("server_traceback_ends", [])
    ]
    if listed:
        lines += ["", "Errors (the first ones):", ""]
        lines += ["- " + " ".join(text.split()) for text in listed[:12]]
    return lines + locust_report.locust_lines(r)


def hub_section(r: dict) -> list[str]:
    """Classes on many machines (bench/hub_class.py) beside the one-process classroom."""
    hubs = [h for h in (*(r.get("smaller") or []), r.get("hub") or {}) if h]
    one = r.get("one") or {}

    def pages(part: dict, key: str, keys=("p50", "p95", "p99")) -> str:
        got = part.get(key)
        return " / ".join(seconds(got[k]) for k in keys) if got else "-"

    def cpu(part: dict, phase: str, keys: tuple[str, ...]) -> str:
        """The idle window's mean, or the setting up's when the class never got there."""
        phases = part.get(phase) or {}
        for name, said in (("idle", ""), ("setup", " (setting up: it never got to idle)")):
            found = (phases.get(name) or {}).get("cpu_mean")
            if found:
                return " / ".join(f"{found.get(k, 0):.0f}" for k in keys) + said
        return "-"

    def starts(h: dict) -> str:
        return pages(h, "seat_start_s", ("p50", "p95", "max"))

    def memory(h: dict) -> str:
        mem = h.get("seat_memory_bytes")
        if not mem:
            return "-"
        return (
            f"{human_bytes(mem['p50'])} per seat (median), "
            f"{human_bytes(h.get('seat_memory_total_bytes', 0))} in all"
        )

    def per_node(h: dict) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted((h.get("seats_per_node") or {}).items()))

    node_keys = ("node1", "node2", "node3", "hub", "driver", "machine")
    columns = [(f"Hub, {h.get('students_asked', '?')} students", h) for h in hubs]
    rows = [
        (
            "Students who got through",
            lambda h: (
                f"{h.get('ready', '-')} of {h.get('students_asked', '-')}"
                f" (seats ready: {h.get('seats_ready', '-')})"
            ),
            f"{one.get('ready', '-')} of {one.get('students', '-')}",
        ),
        (
            "Page response p50 / p95 / p99, every page",
            lambda h: pages(h, "page_s"),
            pages(one, "page_s"),
        ),
        (
            "Page response p50 / p95 / p99, the idle window",
            lambda h: pages(h, "idle_page_s"),
            pages(one, "idle_page_s"),
        ),
        (
            "Errors (failed steps, lost WebSockets, never through)",
            lambda h: str(h.get("errors", h.get("failed", "-"))),
            str(one.get("errors", "-")),
        ),
        ("Seat start: login to the seat ready, p50 / p95 / max", starts, "- (no seat)"),
        ("Seats per machine", per_node, "-"),
        (
            "Memory",
            memory,
            f"the server: {human_bytes(one.get('rss_before_bytes') or 0)} before,"
            f" {human_bytes(one.get('peak_rss_bytes') or 0)} at its peak",
        ),
        (
            "CPU in the idle window, % of one core (hub: node1 / node2 / node3 / hub /"
            " students' side / machine; one process: server / Locust / daemon / machine)",
            lambda h: cpu(h, "cpu", node_keys),
            cpu(one, "phases", ("server", "driver", "daemon", "machine")),
        ),
    ]
    header = (
        "| | "
        + " | ".join(t for t, _ in columns)
        + f" | One process, {one.get('students', '?')} students |"
    )
    lines = [
        "## A class on many machines: the classroom hub beside one process",
        "",
        "Locust students (bench/locustfile.py, the idle scenario: arriving"
        f" {r.get('rate')} a second, lesson 1's run, two lessons and back, a detached"
        " container's live log open, then"
        f" {r.get('idle_s', 0):.0f} s idle while one student at a time moves to Sizes and"
        " back). **Hub**: JupyterHub on a Swarm of three namespaced Engine 26 machines"
        " (tests/swarm.py) started by `python -m dashboard classroom up`; every student signs"
        " up, logs in and gets a seat of their own (a Streamlit process behind the seat's"
        " proxy, reserving 0.1 CPU and 192 MiB, limited to 1 CPU and 1 GiB), then Locust plays"
        " them through the hub's proxy. **One process**: the classroom server as the load"
        " section runs it (one Streamlit process, the host's engine). All on this machine's"
        " CPUs: the three machines are namespaces of one, so these figures show what a seat"
        " per student costs and where the work goes, not three machines' capacity."
        " bench/hub_class.py says how each figure is taken.",
        "",
        header,
        "|---" * (len(columns) + 2) + "|",
    ]
    for title, of_hub, of_one in rows:
        lines.append(f"| {title} | " + " | ".join(of_hub(h) for _, h in columns) + f" | {of_one} |")
    for h in hubs:
        n = h.get("students_asked", "?")
        failed = h.get("seats_failed") or {}
        if failed:
            lines += [
                "",
                f"Hub, {n}: seats that did not start: "
                + "; ".join(f"{k}: {v}" for k, v in failed.items()),
            ]
        steps = h.get("failed_steps") or []
        if steps:
            lines += ["", f"Hub, {n}: failed steps (the first ones): " + "; ".join(steps[:5])]
    return lines


SECTION_RENDERERS = {
    "prepare": prepare_section,
    "overhead": overhead_section,
    "cache": cache_section,
    "sizes": sizes_section,
    "layers": layers_section,
    "responsive": responsive_section,
    "flood": flood_section,
    "classroom": classroom_section,
    "terminal": terminal_section,
    "load": load_section,
    "hub": hub_section,
}
ORDER = (
    "overhead",
    "cache",
    "sizes",
    "layers",
    "prepare",
    "responsive",
    "flood",
    "classroom",
    "terminal",
    "load",
    "hub",
)
SECTION_NAMES = (
    "prepare",
    "overhead",
    "cache",
    "sizes",
    "layers",
    "responsive",
    "flood",
    "classroom",
    "terminal",
    "load",
    "hub",
    "fresh",
)


def render(document: dict, goals: list[Goal]) -> str:
    results = document["results"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `python -m bench` ({document['mode']} run {document['run_id']}, "
        f"{document['total_seconds'] / 60:.1f} min); do not edit by hand. Figures are medians "
        "(min to max) of repeated runs measured side by side in this one run; the goals are "
        "ratios or bounds checked here, never timed assertions in the tests. The daemon is "
        "shared with other work, so single runs are noisy: read the medians and ratios.",
    ]
    carried = document.get("carried_over") or {}
    if carried:
        lines += [
            "",
            "This run measured only "
            + ", ".join(k for k in results if k not in carried and k in SECTION_NAMES)
            + "; kept from earlier runs (on an earlier commit, possibly another load): "
            + ", ".join(f"{name} (run {run})" for name, run in carried.items())
            + ".",
        ]
    lines += [
        "",
        "## Machine",
        "",
        machine_table(document["machine"]),
        "",
        "## Goals",
        "",
        goals_table(goals),
        "",
    ]
    for name in ORDER:
        if name == "prepare" and name in results:
            lines += prepare_section(results[name], results.get("fresh")) + [""]
        elif name in results:
            lines += SECTION_RENDERERS[name](results[name]) + [""]
    if "fresh" in results and "prepare" not in results:
        lines += ["## Fresh-machine prepare", "", fresh_table(results["fresh"]), ""]
    errors = results.get("errors") or {}
    if errors:
        lines += ["## Sections that failed", ""]
        lines += [f"- {name}: {error}" for name, error in errors.items()] + [""]
    seconds_by = results.get("section_seconds") or {}
    if seconds_by:
        lines += [
            "Time per section: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds_by.items()) + ".",
            "",
        ]
    return "\n".join(lines)
