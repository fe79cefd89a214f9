"""`python -m dashboard prepare` on a machine where everything already exists, timed.

The first call makes the machine ready (it builds any lab image that is missing, as after
`prepare --no-build`); the calls after it are the ready-machine figure. A fresh machine
(no base image, no wheelhouse) is not re-created here, since that would mean deleting the shared
base image: its figure comes from a CI log given with --ci-log, when that log shows the stand-in
being built.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bench import stats
from dashboard.engine.base.paths import REPO_ROOT

PREPARE = [sys.executable, "-m", "dashboard", "--json", "prepare"]
CI_PREPARE_STEP = "offline classroom mode and lab images"


def run_timed(args: list[str], *, cwd: Path = REPO_ROOT) -> dict:
    """Run a command; its wall seconds, exit code, peak memory (its own process) and output."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        child = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return {
        "seconds": elapsed,
        "exit_code": child.returncode,
        "peak_rss_bytes": usage.ru_maxrss * 1024,
        "output": text,
    }


def build_summary(output: str) -> dict:
    """From `prepare --json`: per lab, whether it was built or fully cached."""
    labs = {}
    for line in output.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("type") == "result":
            total = record.get("steps_total")
            cached = record.get("steps_cached")
            labs[record["lab"]] = {
                "ok": record.get("ok"),
                "all_cached": None if total is None else cached == total,
                "seconds": record.get("seconds"),
            }
    return labs


def from_ci_log(path: Path | None) -> dict:
    if path is None:
        return {"source": None, "note": "no CI log given (--ci-log)"}
    text = path.read_text(errors="replace")
    steps = stats.ci_steps(text)
    step = next((s for s in steps if s.name == CI_PREPARE_STEP), None)
    fresh = "Building a stand-in" in text
    note = (
        "the log shows the stand-in base image being built: a fresh machine"
        if fresh
        else "the log shows the base image already present: not a fresh machine"
    )
    return {
        "source": str(path),
        "prepare_step_s": step.seconds if step else None,
        "fresh": fresh,
        "note": note,
        "steps": [asdict(s) for s in steps],
    }


def run(*, repeats: int, ci_log: Path | None) -> dict:
    first = run_timed(PREPARE)
    if first["exit_code"] != 0:
        raise RuntimeError(f"`python -m dashboard prepare` failed:\n{first['output'][-1500:]}")
    runs = [run_timed(PREPARE) for _ in range(repeats)]
    ready = [r for r in runs if r["exit_code"] == 0]
    last_labs = build_summary(runs[-1]["output"]) if runs else {}
    return {
        "command": "python -m dashboard prepare",
        "first": {
            "seconds": first["seconds"],
            "labs": build_summary(first["output"]),
        },
        "ready": asdict(stats.summarize([r["seconds"] for r in ready])) if ready else None,
        "ready_peak_rss_bytes": max((r["peak_rss_bytes"] for r in ready), default=None),
        "ready_all_cached": all(v["all_cached"] is not False for v in last_labs.values()),
        "ready_labs": last_labs,
        "failed_runs": len(runs) - len(ready),
        "fresh": from_ci_log(ci_log),
    }
