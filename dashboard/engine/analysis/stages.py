"""How the stages of a multi-stage build ran: side by side, shared, waiting, or skipped.

Lesson 3 asks "up to which command did the trainer and predictor stages go together, and where
did the predictor wait?". BuildKit answers it with its own times: it builds a vertex shared by
two stages once (the predictor's FROM and WORKDIR are the trainer's, announced under the
trainer's name only), runs independent stages at the same time, and starts `COPY --from=trainer`
only when the trainer's last step has finished. `analyse` works that out from the steps
(BuildStep or the pages' StepRow: anything with index, instruction, stage, stage_name, status,
seconds, started_at, finished_at) and says it as one sentence. The classic builder reports no
times and builds the stages one after the other; the sentence says that instead.

`needed_stages` reads the Dockerfile: which stages a build of `--target NAME` (or of the last
stage) needs. BuildKit builds only those; the classic builder builds every stage up to the
target.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

FROM_RE = re.compile(r"^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE)
COPY_FROM_RE = re.compile(r"--from=(\S+)", re.IGNORECASE)
MOUNT_FROM_RE = re.compile(r"--mount=\S*\bfrom=([^,\s]+)", re.IGNORECASE)
TOGETHER = 0.05  # seconds: shorter overlaps and waits are clock noise, not parallelism


@dataclass(frozen=True)
class StageSpan:
    """One stage on the build's clock: seconds since the first step started."""

    name: str
    start: float
    end: float
    steps: int
    executed: int


@dataclass(frozen=True)
class Overlap:
    """Two steps of different stages that ran at the same time."""

    first: str  # "trainer 4/6 RUN pip install ..."
    second: str
    seconds: float


@dataclass(frozen=True)
class Wait:
    """A `COPY --from=STAGE` that could start only when STAGE was done."""

    stage: str  # the stage that waited
    index: int
    instruction: str
    source: str  # the stage it copies from
    seconds: float  # from its previous step's end to its own start
    until: str | None  # the source stage's step whose end it waited for
    start: float = 0.0  # the wait on the build's clock (seconds since the first step started)
    end: float = 0.0


@dataclass(frozen=True)
class StagesReport:
    timed: bool  # BuildKit's own start and end times were there
    stages: list[str]
    spans: list[StageSpan] = field(default_factory=list)  # each stage's own steps
    shared: list[str] = field(default_factory=list)  # steps built once for both stages
    shared_span: StageSpan | None = None
    overlap_seconds: float = 0.0  # how long steps of two stages ran at the same time
    overlaps: list[Overlap] = field(default_factory=list)
    waits: list[Wait] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    target: str | None = None
    all_cached: bool = False
    sentence: str = ""


def _stage_blocks(dockerfile_text: str) -> list[tuple[str, str, list[str]]]:
    """(name, FROM reference, the stage's lines) per stage; unnamed stages are "stage N"."""
    blocks: list[tuple[str, str, list[str]]] = []
    for raw in dockerfile_text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = FROM_RE.match(line)
        if m:
            name = (m.group(2) or f"stage {len(blocks)}").lower()
            blocks.append((name, m.group(1).lower(), []))
        elif blocks:
            blocks[-1][2].append(line)
    return blocks


def needed_stages(dockerfile_text: str, target: str | None = None) -> list[str]:
    """The stages a build of `target` (default: the last stage) needs, in Dockerfile order:
    the target, and every stage it names in FROM, `COPY --from=` or `--mount=...,from=`."""
    blocks = _stage_blocks(dockerfile_text)
    names = [name for name, _, _ in blocks]
    if not names:
        return []
    wanted = (target or names[-1]).lower()
    if wanted not in names:
        return []
    needed: set[str] = set()
    todo = [wanted]
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        _, ref, lines = blocks[names.index(name)]
        refs = [ref] + [r.lower() for line in lines for r in COPY_FROM_RE.findall(line)]
        refs += [r.lower() for line in lines for r in MOUNT_FROM_RE.findall(line)]
        for r in refs:
            if r in names:
                todo.append(r)
            elif r.isdigit() and int(r) < len(names):
                todo.append(names[int(r)])
    return [n for n in names if n in needed]


def skipped_stages(dockerfile_text: str, target: str | None, builder: str) -> list[str]:
    """The stages a build leaves out: BuildKit, those the target does not need; the classic
    builder, those after the target (it builds every stage before it, needed or not)."""
    names = [name for name, _, _ in _stage_blocks(dockerfile_text)]
    if builder == "buildkit":
        needed = needed_stages(dockerfile_text, target)
        return [n for n in names if n not in needed] if needed else []
    if target and target.lower() in names:
        return names[names.index(target.lower()) + 1 :]
    return []


def _name(step: Any) -> str:
    stage = f"{step.stage_name} " if step.stage_name else ""
    return f"{stage}{step.index}/{step.total} {step.instruction}"


def _stage_of(step: Any) -> str:
    return (step.stage_name or f"stage {step.stage}").lower()


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _intersection(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(x1, y1) - max(x0, y0)) for x0, x1 in a for y0, y1 in b)


def _code(text: str) -> str:
    return f"`{text}`"


def analyse(
    steps: Sequence[Any], dockerfile_text: str = "", target: str | None = None
) -> StagesReport:
    """The stages of a finished build: what ran together, where a stage waited, what was
    skipped, and the sentence that answers the lesson's question."""
    steps = sorted(steps, key=lambda s: (s.stage, s.index))
    order = [name for name, _, _ in _stage_blocks(dockerfile_text)]
    seen = list(dict.fromkeys(_stage_of(s) for s in steps))
    stages = [n for n in order if n in seen] + [n for n in seen if n not in order]
    timed = bool(steps) and all(
        s.started_at is not None and s.finished_at is not None
        for s in steps
        if s.status not in ("skipped", "waiting")
    )
    builder = "buildkit" if timed else "classic"
    skipped = [
        n
        for n in skipped_stages(dockerfile_text, target, builder)
        if n not in seen  # a stage with announced steps was not skipped, whatever we read
    ]
    all_cached = bool(steps) and all(s.status in ("base", "cached") for s in steps)
    report = StagesReport(
        timed=timed, stages=stages, skipped=skipped, target=target, all_cached=all_cached
    )
    if len(stages) < 2 or not timed:
        return _with_sentence(report, steps)

    zero = min(s.started_at for s in steps if s.started_at is not None)
    by_stage = {n: [s for s in steps if _stage_of(s) == n] for n in stages}
    first, last = stages[0], stages[-1]
    # BuildKit announces a vertex shared by two stages once, under one stage's name (either):
    # the other stage's numbering then starts after them, so the steps before that index are
    # the ones both stages "went together" through.
    starts = {n: min(s.index for s in by_stage[n]) for n in (first, last)}
    late = max((first, last), key=lambda n: starts[n])
    early = last if late == first else first
    shared = [s for s in by_stage[early] if s.index < starts[late]]
    shared_keys = {(s.stage, s.index) for s in shared}

    def span(name: str, chosen: list[Any]) -> StageSpan:
        return StageSpan(
            name,
            min(s.started_at for s in chosen) - zero,
            max(s.finished_at for s in chosen) - zero,
            len(chosen),
            sum(s.status == "executed" for s in chosen),
        )

    spans = []
    for n in stages:
        own = [
            s
            for s in by_stage[n]
            if s.finished_at is not None and (s.stage, s.index) not in shared_keys
        ]
        if own:
            spans.append(span(n, own))
    shared_span = span("both stages", shared) if shared else None

    def intervals(n: str) -> list[tuple[float, float]]:
        return [
            (s.started_at, s.finished_at)
            for s in by_stage[n]
            if (s.stage, s.index) not in shared_keys and s.finished_at is not None
        ]

    overlap = _intersection(_union(intervals(first)), _union(intervals(last)))
    pairs = []
    for a in by_stage[first]:
        for b in by_stage[last]:
            if (a.stage, a.index) in shared_keys or a.finished_at is None or b.finished_at is None:
                continue
            both = min(a.finished_at, b.finished_at) - max(a.started_at, b.started_at)
            if both > TOGETHER:
                pairs.append(Overlap(_name(a), _name(b), both))
    pairs.sort(key=lambda o: -o.seconds)

    waits = []
    for n in stages:
        own = by_stage[n]
        for step in own:
            m = COPY_FROM_RE.search(step.instruction)
            if not m or step.started_at is None:
                continue
            source = m.group(1).lower()
            before = [s for s in own if s.index < step.index and s.finished_at is not None]
            before += [s for s in shared if s.index < step.index]
            ready = max((s.finished_at for s in before), default=step.started_at)
            done = [
                s
                for s in by_stage.get(source, ())
                if s.finished_at is not None and s.finished_at <= step.started_at + TOGETHER
            ]
            until = max(done, key=lambda s: s.finished_at) if done else None
            waits.append(
                Wait(
                    n,
                    step.index,
                    step.instruction,
                    source,
                    max(step.started_at - ready, 0.0),
                    until.instruction if until else None,
                    min(ready, step.started_at) - zero,
                    step.started_at - zero,
                )
            )
    report = StagesReport(
        timed=True,
        stages=stages,
        spans=spans,
        shared=[s.instruction for s in shared],
        shared_span=shared_span,
        overlap_seconds=overlap,
        overlaps=pairs,
        waits=waits,
        skipped=skipped,
        target=target,
        all_cached=all_cached,
    )
    return _with_sentence(report, steps)


def _reused_steps(steps: Sequence[Any], first: str, last: str) -> tuple[list[str], bool]:
    """The classic builder: the `last` stage's leading steps that repeat the `first` stage's on
    the same base (taken from the cache), and whether the first stage ran any of them itself in
    this build."""
    a = [s for s in steps if _stage_of(s) == first]
    b = [s for s in steps if _stage_of(s) == last]
    bases = [FROM_RE.match(x[0].instruction) if x else None for x in (a, b)]
    if not all(bases) or bases[0].group(1).lower() != bases[1].group(1).lower():
        return [], False
    reused, ran = [], False
    for x, y in zip(a[1:], b[1:], strict=False):
        if x.instruction != y.instruction or y.status != "cached":
            break
        reused.append(y.instruction)
        ran = ran or x.status == "executed"
    return reused, ran


def _with_sentence(report: StagesReport, steps: Sequence[Any]) -> StagesReport:
    return replace(report, sentence=_sentence(report, steps))


def _sentence(r: StagesReport, steps: Sequence[Any]) -> str:
    parts: list[str] = []
    if r.target:
        if r.skipped:
            gone = " and ".join(f"**{n}**" for n in r.skipped)
            verb = "was" if len(r.skipped) == 1 else "were"
            parts.append(
                f"Built with `--target {r.target}`: only what **{r.target}** needs ran; the "
                f"{gone} stage {verb} skipped."
            )
        else:
            parts.append(f"Built with `--target {r.target}`.")
    if len(r.stages) < 2:
        return " ".join(parts)
    first, last = r.stages[0], r.stages[-1]
    if not r.timed:
        seconds = {n: sum(s.seconds for s in steps if _stage_of(s) == n) for n in r.stages}
        order = ", then ".join(f"the **{n}** ({seconds[n]:.1f} s)" for n in r.stages)
        parts.append(
            f"The classic builder built the stages one after the other: {order}. Nothing ran "
            f"at the same time, so the {last} never waited for the {first}: its file was there "
            "already."
        )
        reused, just_built = _reused_steps(steps, first, last)
        if reused:
            filled = f" the {first} had just filled" if just_built else ""
            parts.append(
                f"The {last}'s steps up to {_code(reused[-1])} are the {first}'s (the same "
                f"instructions on the same base), so they came from the cache{filled}."
            )
        parts.append("BuildKit (`docker buildx`) builds the stages side by side.")
        return " ".join(parts)
    if r.shared:
        parts.append(
            f"The {first} and {last} stages went together up to {_code(r.shared[-1])} "
            f"(step {len(r.shared)}: the same steps, built once for both)."
        )
    else:
        parts.append(f"The {first} and {last} stages shared no step.")
    if r.all_cached:
        parts.append(
            "Every step came from the cache, so nothing ran side by side this time: build "
            "without the cache to watch the stages run at the same time."
        )
        return " ".join(parts)
    if r.overlap_seconds > TOGETHER:
        parts.append(f"Then they ran at the same time for {r.overlap_seconds:.1f} s.")
    else:
        parts.append("Then they did not run at the same time.")
    for w in r.waits:
        if w.seconds > TOGETHER:
            until = f" until the {w.source}'s {_code(w.until)} had finished" if w.until else ""
            parts.append(
                f"The {w.stage} waited {w.seconds:.1f} s at {_code(w.instruction)} "
                f"(step {w.index}){until}."
            )
        else:
            parts.append(
                f"The {w.stage} did not wait at {_code(w.instruction)} (step {w.index}): the "
                f"{w.source}'s file was ready."
            )
    return " ".join(parts)
