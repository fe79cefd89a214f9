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
        sides[key] = {"locust": got, "rows": compare_rows(browser, got)}
    return sides


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
