"""The cache lesson, measured: a rebuild after a code edit, and why the Dockerfile's order matters.

- labs/iris: edit main.py, rebuild (only `COPY main.py` onwards reruns) vs a cold build;
- labs/cache-order: the same edit under Dockerfile.code-first (COPY . . before the pip install,
  so the install reruns) and Dockerfile.deps-first (the install stays cached), in turn.

All through the engine, in temporary copies of the labs; an edit appends a comment line.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from bench import stats
from bench.overhead import engine_build
from bench.workspace import Workspace


def edit(folder: Path, n: int, run_id: str) -> None:
    with (folder / "main.py").open("a") as f:
        f.write(f"# bench edit {n} ({run_id})\n")


def _rebuilt(result) -> list[str]:
    return [s.instruction for s in result.real_steps if s.status == "executed"]


def iris_edit(ws: Workspace, *, repeats: int, cold: list[float] | None) -> dict:
    folder = ws.copy_lab("iris", "iris-cache")
    tag = ws.tag("iris", "edit")
    cold_times = list(cold or [])
    if not cold_times:  # the overhead measurement was skipped: time cold builds here
        cold_times = [
            engine_build(ws, folder, tag, nocache=True)[0] for _ in range(max(repeats // 2, 2))
        ]
    engine_build(ws, folder, tag)  # the cache to edit against
    times, rebuilt = [], []
    for n in range(repeats):
        edit(folder, n, ws.run_id)
        seconds, result = engine_build(ws, folder, tag)
        times.append(seconds)
        rebuilt.append(_rebuilt(result))
    edit_s, cold_s = stats.summarize(times), stats.summarize(cold_times)
    return {
        "lab": "iris",
        "edit_rebuild": asdict(edit_s),
        "cold": asdict(cold_s),
        "ratio_edit_over_cold": edit_s.median / cold_s.median,
        "speedup": cold_s.median / edit_s.median,
        "rebuilt_steps": rebuilt[-1] if rebuilt else [],
    }


def cache_order(ws: Workspace, *, repeats: int) -> dict:
    folder = ws.copy_lab("cache-order", "cache-order")
    variants = {
        "a": ("Dockerfile.code-first", ws.tag("cache", "code-first")),
        "b": ("Dockerfile.deps-first", ws.tag("cache", "deps-first")),
    }
    for dockerfile, tag in variants.values():  # the cache to edit against
        engine_build(ws, folder, tag, dockerfile=dockerfile)
    times: dict[str, list[float]] = {"a": [], "b": []}
    rebuilt: dict[str, list[str]] = {}
    n = 0
    for order in stats.alternating(repeats):
        for side in order:
            dockerfile, tag = variants[side]
            edit(folder, n, ws.run_id)
            n += 1
            seconds, result = engine_build(ws, folder, tag, dockerfile=dockerfile)
            times[side].append(seconds)
            rebuilt[side] = _rebuilt(result)
    pair = stats.paired(times["a"], times["b"])
    return {
        "lab": "cache-order",
        "code_first": asdict(pair.a),
        "deps_first": asdict(pair.b),
        "ratio_code_over_deps": asdict(pair.ratio),
        "ratio_of_medians": pair.ratio_of_medians,
        "rebuilt_steps": {"code_first": rebuilt.get("a", []), "deps_first": rebuilt.get("b", [])},
    }


def run(ws: Workspace, *, repeats: int, cold: list[float] | None) -> dict:
    return {
        "iris": iris_edit(ws, repeats=repeats, cold=cold),
        "cache_order": cache_order(ws, repeats=repeats),
    }
