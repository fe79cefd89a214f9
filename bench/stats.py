"""Statistics and formatting for the benchmarks: medians, paired ratios, goals, CI-log steps.

Pure functions only (no Docker), so tests/unit/test_bench_stats.py covers them. Figures are
medians with their min and max; two things compared side by side are run in turn and their
ratio taken pair by pair, so a machine whose speed drifts during the run moves both sides.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Median, min and max of repeated measurements."""

    n: int
    median: float
    minimum: float
    maximum: float
    values: tuple[float, ...]

    @property
    def spread(self) -> float:
        """(max - min) / median: how noisy the runs were (0 for one run)."""
        return (self.maximum - self.minimum) / self.median if self.median else 0.0


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        raise ValueError("no measurements to summarize")
    vals = tuple(float(v) for v in values)
    return Summary(len(vals), statistics.median(vals), min(vals), max(vals), vals)


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct`-th percentile, linear between the closest ranks (numpy's default)."""
    if not values:
        raise ValueError("no measurements")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile out of range: {pct}")
    ordered = sorted(float(v) for v in values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Paired:
    """Two commands run in turn: each side's summary and the ratio a/b taken pair by pair."""

    a: Summary
    b: Summary
    ratio: Summary  # of the pairwise ratios a_i / b_i

    @property
    def ratio_of_medians(self) -> float:
        return self.a.median / self.b.median if self.b.median else math.inf


def paired(a: Sequence[float], b: Sequence[float]) -> Paired:
    if len(a) != len(b):
        raise ValueError(f"paired runs need as many of each: {len(a)} vs {len(b)}")
    ratios = [x / y if y else math.inf for x, y in zip(a, b, strict=True)]
    return Paired(summarize(a), summarize(b), summarize(ratios))


def alternating(n: int) -> list[tuple[str, str]]:
    """The order of `n` pairs of A and B: A B, B A, A B, ... so neither side always goes first."""
    return [("a", "b") if i % 2 == 0 else ("b", "a") for i in range(n)]


_OPS = {
    "<=": lambda v, t: v <= t,
    "<": lambda v, t: v < t,
    ">=": lambda v, t: v >= t,
    ">": lambda v, t: v > t,
}


@dataclass(frozen=True)
class Goal:
    key: str
    title: str
    value: float | None  # None: not measured in this run
    op: str
    target: float
    unit: str = ""
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return _OPS[self.op](self.value, self.target)

    @property
    def shortfall(self) -> str:
        """How far a missed goal is from its target, in words; empty when met or unmeasured."""
        if self.met is not False or self.value is None:
            return ""
        if self.op in ("<=", "<"):
            over = self.value / self.target if self.target else math.inf
            return f"{over:.2f}x the limit"
        under = self.target / self.value if self.value else math.inf
        return f"{under:.2f}x short of the target"


def goal(
    key: str,
    title: str,
    value: float | None,
    op: str,
    target: float,
    unit: str = "",
    note: str = "",
) -> Goal:
    if op not in _OPS:
        raise ValueError(f"unknown comparison {op!r}")
    return Goal(key, title, value, op, target, unit, note)


@dataclass(frozen=True)
class CiStep:
    name: str
    start_s: int
    seconds: int | None  # until the next step started; None for the last one


_CI_STEP = re.compile(r"^=== (?P<name>.+?) \((?P<at>\d+)s\)\s*$")


def ci_steps(log: str) -> list[CiStep]:
    """The `=== name (Ns)` markers that .ci/run prints, with each step's duration."""
    marks = [(m["name"], int(m["at"])) for m in map(_CI_STEP.match, log.splitlines()) if m]
    steps = []
    for i, (name, at) in enumerate(marks):
        end = marks[i + 1][1] if i + 1 < len(marks) else None
        steps.append(CiStep(name, at, end - at if end is not None else None))
    return steps


def parse_du(text: str) -> dict[str, int]:
    """`du -sb PATH...` output: path -> bytes."""
    sizes = {}
    for line in text.splitlines():
        size, sep, path = line.partition("\t")
        if sep and size.strip().isdigit():
            sizes[path.strip()] = int(size)
    return sizes


_CLI_STEP = re.compile(r"^Step (\d+)/(\d+) : (\S+)", re.MULTILINE)


_BK_STEP = re.compile(r"^(#\d+) \[(?:\S+ )?\d+/\d+\] (\S+)", re.MULTILINE)
_BK_CACHED = re.compile(r"^(#\d+) CACHED$", re.MULTILINE)


def cli_cache_counts(output: str) -> tuple[int, int]:
    """From `docker build` output, classic or BuildKit's --progress=plain: (steps that can hit
    the cache, steps that did). FROM is never a cache hit, so it is not counted."""
    if _BK_STEP.search(output):
        ids = {m.group(1) for m in _BK_STEP.finditer(output) if m.group(2).upper() != "FROM"}
        cached = {m.group(1) for m in _BK_CACHED.finditer(output)}
        return len(ids), len(ids & cached)
    steps = [m for m in _CLI_STEP.finditer(output) if m.group(3).upper() != "FROM"]
    return len(steps), output.count(" ---> Using cache")


def cli_cached_workdirs(output: str) -> int:
    """BuildKit's `WORKDIR` steps that `--progress=plain` calls CACHED: BuildKit reports a
    WORKDIR it has seen as cached even under `--no-cache`, so a cold run may have them."""
    ids = {m.group(1) for m in _BK_STEP.finditer(output) if m.group(2).upper() == "WORKDIR"}
    return len(ids & {m.group(1) for m in _BK_CACHED.finditer(output)})


_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$", re.MULTILINE)


def import_times(report: str, package: str = "docker") -> tuple[float, float]:
    """From `python -X importtime`'s report (its stderr): (seconds spent importing, all modules
    together; the part of it that `package` and what it imported first took)."""
    total = part = 0
    for m in _IMPORT_LINE.finditer(report):
        total += int(m.group(1))
        if m.group(4) == package:
            part = int(m.group(2))
    return total / 1e6, part / 1e6


def human_bytes(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def seconds(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |"]
    lines.append("| " + " | ".join("---" for _ in headers) + " |")
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, the table {len(headers)}")
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    return "\n".join(lines)
