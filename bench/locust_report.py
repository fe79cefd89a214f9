"""RESULTS.md's Locust part of the load section: the class at each size in each scenario, and
Locust beside Chromium on the same scenario (the figures come from bench/locust_load.py)."""

from __future__ import annotations

from bench import locust_load
from bench.stats import human_bytes, markdown_table, seconds


def _p(summary: dict | None, key: str) -> str:
    if not summary or summary.get(key) is None:
        return "-"
    return seconds(summary[key])


def _cpu(c: dict, phase: str, key: str) -> str:
    got = ((c.get("phases") or {}).get(phase) or {}).get("cpu_mean") or {}
    return f"{got[key]:.0f}" if key in got else "-"


def _errors(c: dict) -> str:
    if c.get("failed"):
        return "run failed"
    parts = [
        f"{c['failed_count']} failed steps" if c["failed_count"] else "",
        f"{c['lost_websockets']} lost websockets" if c["lost_websockets"] else "",
        f"{c['server_tracebacks']} server tracebacks" if c["server_tracebacks"] else "",
        f"{c['not_started']} never started" if c["not_started"] else "",
        f"{c.get('unfinished', 0)} still setting up at the time limit"
        if c.get("unfinished")
        else "",
    ]
    listed = ", ".join(p for p in parts if p)
    cleanup = c.get("cleanup_error")
    return (
        f"{c['errors']}"
        + (f" ({listed})" if listed else "")
        + (f"; clean-up: the daemon stopped answering ({cleanup[:80]})" if cleanup else "")
    )


def class_rows(classes: list[dict]) -> list[tuple]:
    rows = []
    for c in classes:
        scenario = c["scenario"] + (f" ({c['where']})" if c.get("where") else "")
        if c.get("failed"):
            rows.append((scenario, c["students"], "-", "-", "-", "-", "-", c["failed"][:120]))
            continue
        phase = "idle" if c["scenario"] == "idle" else "setup"
        sat = (c.get("saturation") or {}).get(phase) or {}
        rows.append(
            (
                scenario,
                c["students"],
                f"{c['ready']} of {c['students']}",
                f"{_p(c['page_s'], 'p50')} / {_p(c['page_s'], 'p95')} / {_p(c['page_s'], 'p99')}"
                + f" (n={c['page_s']['n']})"
                if c["page_s"]
                else "-",
                f"{_p(c['idle_page_s'], 'p50')} / {_p(c['idle_page_s'], 'p95')}"
                if c["scenario"] == "idle"
                else _job(c),
                _errors(c),
                f"{human_bytes(c['rss_before_bytes'])} -> {human_bytes(c['peak_rss_bytes'])}"
                if "peak_rss_bytes" in c
                else "-",
                " / ".join(_cpu(c, phase, k) for k in ("server", "driver", "daemon", "machine"))
                + f"; {sat.get('verdict', '-')}"
                + (f"; load {c['load_before']:.1f}" if "load_before" in c else ""),
            )
        )
    return rows


def _job(c: dict) -> str:
    by = c.get("by_name") or {}
    build, run = by.get("wait: build: done"), by.get("wait: run: done")
    return f"build {_p(build, 'p50')} / {_p(build, 'p95')}; run {_p(run, 'p50')} / {_p(run, 'p95')}"


def compare_lines(compared: dict, one: dict, many: dict) -> list[str]:
    rows = []
    for key, browser in (("one", one), ("many", many)):
        side = compared.get(key)
        if not side:
            continue
        n, got = browser["students"], side["locust"]
        for r in side["rows"]:
            rows.append(
                (
                    n,
                    r["page"],
                    (seconds(r["browser_s"]) if r["browser_s"] is not None else "-")
                    + f" (n={r['browser_n']})",
                    (seconds(r["locust_s"]) if r["locust_s"] is not None else "-")
                    + f" (n={r['locust_n']})",
                    seconds(r["diff_s"]) if r["diff_s"] is not None else "-",
                )
            )
        sends = (browser.get("sends_per_s") or {}).get("median")
        timer = (got.get("idle_sends_per_student_s") or {}).get("median")
        rows.append(
            (
                n,
                "messages a student sent per second while idle, median (Locust: its fragment "
                "timer)",
                f"{sends:.2f}" if sends is not None else "-",
                f"{timer:.2f}" if timer is not None else "-",
                "",
            )
        )
        v = side.get("verdict") or {}
        b_srv, l_srv = browser.get("server_runs") or {}, got.get("server_runs") or {}
        rows.append(
            (
                n,
                "**server's counter**: script runs per student per minute while idle, median "
                "over sessions (full and fragment runs)",
                _runs(b_srv),
                _runs(l_srv),
                _ratio(v.get("runs_ratio"), v.get("runs_ok")),
            )
        )
        rows.append(
            (
                n,
                "**server's counter**: a page run's own time on the server while idle (the "
                "moves), median",
                _ms(b_srv),
                _ms(l_srv),
                _ratio(v.get("server_page_ratio"), v.get("server_page_ok")),
            )
        )
        rows.append(
            (
                n,
                "errors",
                str(browser["errors"]),
                str(got["errors"]),
                "same" if v.get("errors_ok") else "**differ**",
            )
        )
        adds = v.get("browser_adds_s")
        if adds:
            ok = v.get("browser_adds_ok")
            rows.append(
                (
                    n,
                    "what the browser added to a page's median (smallest to largest page)",
                    "",
                    "",
                    f"{seconds(adds[0])} to {seconds(adds[1])}"
                    + ("" if ok is None else (" (within)" if ok else " (**outside**)")),
                )
            )
        rows.append(
            (
                n,
                "server peak RSS",
                human_bytes(browser["peak_rss_bytes"]),
                human_bytes(got["peak_rss_bytes"]),
                "",
            )
        )
    return [
        "",
        "Locust beside Chromium, the same scenario (arriving "
        "4 s apart, the same idle time, each side on a fresh server): median page response "
        "per page (the browser's from the click to the heading drawn with the script "
        "notRunning, Locust's from the message sent to script_finished; the difference is what "
        "the browser adds: Playwright's click, drawing, its own event loop, the niced Chromium "
        "waiting for CPU), and what the server's own counter saw (bench/counted_server.py: "
        "the server started as `python -m bench.counted_server`, which hooks a receiver onto "
        "every ScriptRunner's event signal; no product code changed). Tolerances, stated "
        f"before the run (bench/locust_load.py): script runs per student per minute within "
        f"{locust_load.RUNS_TOLERANCE:.0%}, the server's page-run time within "
        f"{locust_load.SERVER_PAGE_TOLERANCE:.0%}, the same errors, and with 1 student the "
        f"browser's page medians above Locust's by at most {locust_load.BROWSER_ADDS_S:g} s "
        f"(Locust's above the browser's by at most {locust_load.LOCUST_SLOWER_S:g} s); with "
        "more, the browsers share the server's CPUs: reported, not judged.",
        "",
        markdown_table(
            ["Students", "Page", "Chromium", "Locust", "Chromium - Locust, or the check"], rows
        ),
    ]


def _runs(srv: dict) -> str:
    got = srv.get("runs_per_student_min") or {}
    if got.get("median") is None:
        return "-"
    return f"{got['median']:.0f} ({srv['sessions']} sessions, {srv['window_s']:.0f} s)"


def _ms(srv: dict) -> str:
    got = srv.get("full_run_ms") or {}
    if got.get("median") is None:
        return "-"
    return f"{got['median']:.0f} ms (n={srv['full_runs']})"


def _ratio(value: float | None, ok: bool | None) -> str:
    if value is None:
        return "-"
    return f"Locust / Chromium {value:.2f}x" + (" (within)" if ok else " (**outside**)")


def locust_lines(r: dict) -> list[str]:
    loc = r.get("locust")
    if not loc:
        return []
    classes = loc["classes"]
    best = loc.get("largest_under_bound") or {}
    lines = [
        "",
        "### The class played by Locust students (bench/locustfile.py)",
        "",
        "Each student is a Locust user speaking Streamlit's protocol over `/_stcore/stream` "
        "(bench/st_client.py: the page's GET, the XSRF cookie, the WebSocket, page runs with "
        "widget states, buttons found by label and pressed, the live panel's fragment asked for "
        "every 0.25 s as the browser's timer does), Locust in a process of its own. Idle "
        f"scenario: students arriving {loc['class_rate']:g} a second, each signs in, runs lesson "
        "1, visits two lessons and comes back, starts a counter container and follows its log; "
        f"then {r['idle_s']:.0f} s idle with the live panels open while one student at a time "
        "moves to Sizes and back. Lecture: everyone signs in, then the whole class presses "
        "Build within 3 s, watches the live panel until the build is done, then presses Run "
        "and waits for exit code 0. Page responses (p50 / p95 / p99): every page opened "
        "(first visit, sign in, each move), from the message sent to the run's "
        "script_finished. Errors: a failed step (timeout, missing button, exception or error "
        "box in the page), a lost WebSocket, a student never started or still setting up when "
        "Locust's time limit came, a server traceback. CPU: "
        "mean % of one core (server / Locust / daemon / machine) in the idle window (idle) or "
        "the whole run (lecture). Locust's CSV and HTML reports: "
        f"`{loc.get('reports', '?')}` (not committed).",
        "",
        markdown_table(
            [
                "Scenario",
                "Students",
                "Got through",
                "Page p50 / p95 / p99",
                "Idle pages p50 / p95, or build and run (click to done) p50 / p95",
                "Errors",
                "Server RSS before -> peak",
                "CPU: server / Locust / daemon / machine; saturated; 1-min load before",
            ],
            class_rows(classes),
        ),
        "",
        f"Largest class with p95 page response under {loc['p95_bound_s']:g} s and no errors "
        "(every smaller size measured passing too): "
        + "; ".join(f"{s}: {v if v is not None else 'none measured'}" for s, v in best.items())
        + ".",
    ]
    lines += compare_lines(loc.get("compare") or {}, r["one"], r["many"])
    failed = [
        f"{c['scenario']} {c['students']}: {f}"
        for c in classes
        if not c.get("failed")
        for f in c.get("failed_steps", [])[:3]
    ]
    if failed:
        lines += ["", "Failed Locust steps (the first ones):", ""]
        lines += ["- " + " ".join(f.split())[:300] for f in failed[:12]]
    return lines
