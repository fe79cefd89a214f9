"""The load section's Locust part: a class measured at several sizes in two scenarios, and the
Locust students set beside Chromium's on the same scenario (bench/locust_run.py runs one class).

- Classes: the idle scenario (students arriving `CLASS_RATE` a second, then idle with the live
  log open while one student at a time moves pages) and the lecture (the whole class presses
  Build within a few seconds, watches the live panel, then presses Run), each at every size
  asked for, each on a fresh server. From them: the largest class whose p95 page response
  stays under `P95_BOUND` s, and what saturated first.
- Comparison: Locust students in the idle scenario exactly as bench/load.py plays it in
  Chromium (arriving `load.ARRIVAL_GAP` s apart, the same idle time), at the browser run's
  sizes (1 and N): page-response medians per page, errors, and the messages a student's
  live panel sent per second.
"""

from __future__ import annotations

from pathlib import Path

from bench import load, locust_run
from bench.workspace import Workspace

CLASS_RATE = 1.0  # students arriving per second in the class runs (a class sits down in a minute)
P95_BOUND = 1.0  # seconds: the page response a class must keep at its 95th percentile
COMPARED_PAGES = ("cache", "multistage", "lesson1", "sizes")  # timed the same way on both sides
# The proof's tolerances, Locust's side against Chromium's on the same scenario:
RUNS_TOLERANCE = 0.10  # script runs per student per minute (the server's counter): within 10 %
SERVER_PAGE_TOLERANCE = 0.25  # the server's own time of a page run while idle: within 25 %
# What the browser may add on top of Locust's page response (median, per page): Playwright's
# click, the page drawn (a lesson page is 80 to 120 elements), the niced Chromium waiting for
# CPU. Judged with 1 student; with more, the browsers share the server's 2 CPUs (reported).
BROWSER_ADDS_S = 0.5
LOCUST_SLOWER_S = 0.1  # and Locust's median may exceed the browser's by this much at most


def run_classes(
    ws: Workspace, *, sizes: list[int], scenarios: list[str], idle_s: float, out: Path, log=print
) -> list[dict]:
    classes = []
    for scenario in scenarios:
        for n in sizes:
            tag = f"{scenario[0]}{n}"
            log(f"load: locust, {scenario}, {n} students")
            try:
                got = locust_run.one_class(
                    ws.client,
                    students=n,
                    scenario=scenario,
                    out_dir=out / tag,
                    prefix=f"lc{ws.run_id[:4]}{tag}x",
                    rate=CLASS_RATE if scenario == "idle" else 5.0,
                    idle_s=idle_s,
                )
            except Exception as exc:  # one class failing must not lose the others
                got = {
                    "students": n,
                    "scenario": scenario,
                    "failed": f"{type(exc).__name__}: {exc}",
                }
            classes.append(got)
    return classes


def compare(
    ws: Workspace, browser_one: dict, browser_many: dict, idle_s: float, out: Path, log=print
) -> dict:
    """Locust students on bench/load.py's own scenario, at its two sizes."""
    sides = {}
    for key, browser in (("one", browser_one), ("many", browser_many)):
        n = browser["students"]
        log(f"load: locust beside the browser, {n} student(s)")
        got = locust_run.one_class(
            ws.client,
            students=n,
            scenario="idle",
            out_dir=out / f"compare{n}",
            prefix=f"lk{ws.run_id[:4]}{n}x",
            rate=1 / load.ARRIVAL_GAP,
            idle_s=idle_s,
        )
        rows = compare_rows(browser, got)
        sides[key] = {"locust": got, "rows": rows, "verdict": verdict(browser, got, rows)}
    return sides


def verdict(browser: dict, locust: dict, rows: list[dict]) -> dict:
    """The proof's checks for one size: the same script runs per student per minute and the
    same server-side page time (the server's own counter), the same errors, and the browser's
    page medians above Locust's by at most `BROWSER_ADDS_S` (judged with 1 student)."""
    b_srv, l_srv = browser.get("server_runs") or {}, locust.get("server_runs") or {}
    b_runs = (b_srv.get("runs_per_student_min") or {}).get("median")
    l_runs = (l_srv.get("runs_per_student_min") or {}).get("median")
    b_page = (b_srv.get("full_run_ms") or {}).get("median")
    l_page = (l_srv.get("full_run_ms") or {}).get("median")
    runs_ratio = l_runs / b_runs if b_runs and l_runs is not None else None
    page_ratio = l_page / b_page if b_page and l_page is not None else None
    diffs = [r["diff_s"] for r in rows if r["diff_s"] is not None]
    judged = browser["students"] == 1
    return {
        "runs_ratio": runs_ratio,
        "runs_ok": runs_ratio is not None and abs(runs_ratio - 1) <= RUNS_TOLERANCE,
        "server_page_ratio": page_ratio,
        "server_page_ok": page_ratio is not None
        and 1 / (1 + SERVER_PAGE_TOLERANCE) <= page_ratio <= 1 + SERVER_PAGE_TOLERANCE,
        "errors_ok": browser["errors"] == locust["errors"],
        "browser_adds_s": [min(diffs), max(diffs)] if diffs else None,
        "browser_adds_ok": (
            bool(diffs) and min(diffs) >= -LOCUST_SLOWER_S and max(diffs) <= BROWSER_ADDS_S
        )
        if judged
        else None,
    }


def compare_rows(browser: dict, locust: dict) -> list[dict]:
    """Per page: the browser's and Locust's median response (the browser's from click to the
    heading drawn; Locust's from the message sent to script_finished)."""
    rows = []
    for page in COMPARED_PAGES:
        b = [
            v
            for k, v in (browser.get("by_step") or {}).items()
            if k.split(": ", 1)[-1] == page and v
        ]
        names = (f"page: {page}",) + (("page: lesson1 (back)",) if page == "lesson1" else ())
        got = [locust["by_name"].get(n) for n in names if locust["by_name"].get(n)]
        b_med = _median_of(b, "median")
        l_med = _median_of(got, "p50")
        rows.append(
            {
                "page": page,
                "browser_s": b_med,
                "locust_s": l_med,
                "browser_n": sum(x["n"] for x in b),
                "locust_n": sum(x["n"] for x in got),
                "diff_s": (b_med - l_med) if b_med is not None and l_med is not None else None,
            }
        )
    return rows


def _median_of(parts: list[dict], key: str) -> float | None:
    """The count-weighted mean of the parts' medians (one part: its median)."""
    parts = [p for p in parts if p and p.get(key) is not None]
    total = sum(p["n"] for p in parts)
    return sum(p[key] * p["n"] for p in parts) / total if total else None


def largest_under(classes: list[dict], scenario: str, bound: float = P95_BOUND) -> int | None:
    """The largest class of `scenario` whose p95 page response stayed under `bound` s, with
    no errors, every smaller class measured passing too."""
    best = None
    for c in sorted((c for c in classes if c.get("scenario") == scenario), key=_size):
        p95 = (c.get("page_s") or {}).get("p95")
        if (
            c.get("failed")
            or p95 is None
            or p95 >= bound
            or c.get("errors")
            or c.get("ready", 0) < c["students"]
        ):
            break
        best = c["students"]
    return best


def _size(c: dict) -> int:
    return c["students"]
