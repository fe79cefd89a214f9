"""Classroom: do students get their images sooner when builds wait in line?

N students press Build at the same moment, each a `--no-cache` build of their own copy of
labs/iris through the engine (as the dashboard's build jobs call it), in two arrangements run in
turn: all at once (N threads start together) and queued (the same N threads, each inside
`admit` of a fresh `dashboard.work.slots.SlotQueue` with the dashboard's default slots, one per CPU,
as classroom mode wraps builds). Every student's build is timed until done from the common
start; the round's makespan is the last of them, its mean what a student waits on average. The
queue's claim: with more builds than CPUs, builds run at once are each as slow as all of them
together, so waiting in line lowers the mean without lengthening the makespan. (With one slot
on a machine of several CPUs the queue would waste them: the slots follow the CPUs.)
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from dataclasses import asdict
from pathlib import Path

from bench import stats
from bench.overhead import BenchFailure, engine_build
from bench.workspace import Workspace
from dashboard.work.slots import SlotQueue, default_slots

ARRANGEMENTS = {"a": "all_at_once", "b": "queued"}


def _cpu_jiffies() -> list[int] | None:
    """The machine's CPU time so far (/proc/stat): user, nice, system, idle, iowait, ..."""
    try:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None


def _cpu_use(before: list[int] | None, after: list[int] | None) -> dict | None:
    """Shares of the machine's CPU time between two readings: busy, waiting on I/O, idle."""
    if not before or not after:
        return None
    delta = [b - a for a, b in zip(before, after, strict=False)]
    total = sum(delta[:8]) or 1  # user .. steal; guest time is already counted in user
    idle, iowait = delta[3], delta[4]
    return {
        "busy": (total - idle - iowait) / total,
        "iowait": iowait / total,
        "idle": idle / total,
    }


def _student(
    ws: Workspace,
    folder: Path,
    tag: str,
    gate: threading.Barrier,
    clock: dict,
    queue: SlotQueue | None,
    ticket: str,
    out: dict,
) -> None:
    try:
        gate.wait()
        start = clock["start"]
        if queue is None:
            began = time.perf_counter()
            seconds, result = engine_build(ws, folder, tag, nocache=True)
        else:
            with queue.admit(ticket) as ok:
                if not ok:
                    raise BenchFailure(f"{ticket} was never admitted")
                began = time.perf_counter()
                seconds, result = engine_build(ws, folder, tag, nocache=True)
        done = time.perf_counter()
        out.update(
            student=ticket,
            started_s=began - start,
            build_s=seconds,
            done_s=done - start,
            cached_steps=sum(1 for s in result.steps if s.status == "cached"),
        )
    except BaseException as exc:  # re-raised by the main thread after the join
        out["error"] = exc


def one_round(ws: Workspace, folders: list[tuple[Path, str]], *, queued: bool, slots: int) -> dict:
    """All students start together; returns each one's times from the common start."""
    n = len(folders)
    gate = threading.Barrier(n + 1)
    clock: dict = {}
    queue = SlotQueue(slots) if queued else None
    outs: list[dict] = [{} for _ in folders]
    threads = [
        threading.Thread(
            target=_student,
            args=(ws, folder, tag, gate, clock, queue, f"student-{i + 1}", outs[i]),
            name=f"bench-classroom-{i + 1}",
        )
        for i, (folder, tag) in enumerate(folders)
    ]
    for t in threads:
        t.start()
    load_before, cpu_before = os.getloadavg()[0], _cpu_jiffies()
    clock["start"] = time.perf_counter()
    gate.wait()
    for t in threads:
        t.join()
    cpu = _cpu_use(cpu_before, _cpu_jiffies())
    for out in outs:
        if "error" in out:
            raise out["error"]
    done = [o["done_s"] for o in outs]
    return {
        "students": sorted(outs, key=lambda o: o["done_s"]),
        "makespan_s": max(done),
        "mean_s": statistics.fmean(done),
        "first_s": min(done),
        # Other work on the machine shows here: the 1-minute load average as the round began,
        # and how the CPUs spent the round (a build waits on the disk as much as on the CPU).
        "load_before": load_before,
        "cpu": cpu,
    }


def run(ws: Workspace, *, students: int, rounds: int) -> dict:
    folders = [
        (ws.copy_lab("iris", f"iris-student-{i + 1}"), ws.tag("iris", f"student{i + 1}"))
        for i in range(students)
    ]
    slots = default_slots()
    runs: dict[str, list[dict]] = {"a": [], "b": []}
    for number, order in enumerate(stats.alternating(rounds), 1):
        for side in order:
            result = one_round(ws, folders, queued=side == "b", slots=slots)
            runs[side].append({"round": number, "went_first": side == order[0], **result})
    problems = [
        f"{ARRANGEMENTS[side]} round {r['round']}: {s['student']} had {s['cached_steps']} "
        "cached steps in a --no-cache build"
        for side, rs in runs.items()
        for r in rs
        for s in r["students"]
        if s["cached_steps"]
    ]
    figures: dict = {
        "lab": "iris",
        "students": students,
        "rounds": rounds,
        "cpus": os.cpu_count(),
        "slots": slots,
        "engine_call": "builds.build(client, copy_of_labs/iris, tag=per student, "
        "lab_name=..., nocache=True), one thread per student",
        "problems": problems,
    }
    for side, name in ARRANGEMENTS.items():
        rs = runs[side]
        figures[name] = {
            "runs": rs,
            "makespan_s": asdict(stats.summarize([r["makespan_s"] for r in rs])),
            "mean_s": asdict(stats.summarize([r["mean_s"] for r in rs])),
            "first_s": asdict(stats.summarize([r["first_s"] for r in rs])),
            "build_s": asdict(stats.summarize([s["build_s"] for r in rs for s in r["students"]])),
        }
    for key in ("mean_s", "makespan_s", "first_s"):
        pair = stats.paired(
            [r[key] for r in runs["b"]],
            [r[key] for r in runs["a"]],
        )
        figures[f"ratio_{key.removesuffix('_s')}"] = {
            "pairwise": asdict(pair.ratio),
            "of_medians": pair.ratio_of_medians,
        }
    return figures
