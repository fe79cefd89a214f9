"""Parse the classic builder's JSON stream into typed per-step events.

The daemon sends `{"stream": "Step 3/7 : COPY . /app"}`, then `" ---> Using cache"` for a cache
hit or `" ---> Running in <id>"` and the command's output for a miss, then `" ---> <id>"` with
the step's layer. Chunks are not split on line breaks and may carry ANSI colour codes; a failing
step still answers HTTP 200 and only says so in an `error` chunk. This module knows nothing of
the network: feed it decoded chunks, get events.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from dashboard.engine.base import labels

STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
ARROW_RE = re.compile(r"^ ---> (.*)$")
ID_RE = re.compile(r"^[0-9a-f]{12}$")
FROM_AS_RE = re.compile(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", re.IGNORECASE)
ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
NOISE_RE = re.compile(r"^(Removing intermediate container|Successfully built|Successfully tagged)")

OUTPUT_KEPT_PER_STEP = 200  # lines; a pip install prints a few dozen, a flood is cut


class StepKeyword:
    """The one `keyword` of every record of a step (BuildStep here, history's StepRecord, the
    work layer's StepRow): the instruction's first word, upper-case ("RUN", "COPY")."""

    instruction: str

    @property
    def keyword(self) -> str:
        return self.instruction.split(None, 1)[0].upper() if self.instruction else ""


class StepLike(StepKeyword):
    """`key` and `cached` of a live step (BuildStep, and the work layer's copy, StepRow)."""

    index: int
    stage: int
    status: str

    @property
    def key(self) -> tuple[int, int]:
        """Unique within a build: BuildKit numbers each stage's steps from 1."""
        return (self.stage, self.index)

    @property
    def cached(self) -> bool:
        return self.status in ("base", "cached")


@dataclass
class BuildStep(StepLike):
    """One Dockerfile instruction as the builder ran it."""

    index: int
    total: int
    instruction: str
    stage: int = 0  # 0 for the first FROM's stage, 1 for the next, ...
    stage_name: str | None = None
    # "base" (FROM), "cached", "executed", "running", "failed"; BuildKit adds "canceled" (it
    # stopped the step) and "skipped" (never started: an earlier step failed or was canceled)
    status: str = "running"
    seconds: float = 0.0
    output: list[str] = field(default_factory=list)
    output_dropped: int = 0
    layer_id: str | None = None
    synthetic: bool = False  # the LABEL step the classic builder appends for build labels
    miss_reason: str | None = None
    # BuildKit only: the vertex's own start and end (epoch seconds) and its error text
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class StepStarted:
    step: BuildStep


@dataclass(frozen=True)
class StepOutput:
    index: int
    line: str
    stage: int = 0

    @property
    def key(self) -> tuple[int, int]:
        return (self.stage, self.index)


@dataclass(frozen=True)
class StepFinished:
    step: BuildStep


@dataclass(frozen=True)
class StreamEnded:
    """The stream closed: with an image id on success, with an error message otherwise."""

    image_id: str | None
    error: str | None


ParseEvent = StepStarted | StepOutput | StepFinished | StreamEnded


class ClassicStreamParser:
    """Turns decoded classic-builder chunks into `ParseEvent`s, keeping every step."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, appended_steps: int = 0):
        self.clock = clock
        # The classic builder appends one LABEL step per build label and counts them in "M".
        self.appended_steps = appended_steps
        self.steps: list[BuildStep] = []
        self.image_id: str | None = None
        self.error: str | None = None
        self.tail: deque[str] = deque(maxlen=40)
        self._partial = ""
        self._started_at = 0.0
        self._stage = -1
        self._stage_name: str | None = None
        self._open: BuildStep | None = None

    @property
    def current(self) -> BuildStep | None:
        """The step whose layer line has not arrived yet."""
        return self._open

    def _close(self, step: BuildStep, status: str | None = None) -> StepFinished:
        if status:
            step.status = status
        step.seconds = self.clock() - self._started_at
        self._open = None
        return StepFinished(step)

    def feed(self, chunk: dict) -> Iterator[ParseEvent]:
        if "stream" in chunk:
            self._partial += ANSI_RE.sub("", chunk["stream"])
            *lines, self._partial = self._partial.split("\n")
            for line in lines:
                yield from self._line(line.rstrip("\r"))
            # A "Step N/M : ..." header arrives without its newline: act on it at once.
            if STEP_RE.match(self._partial):
                header, self._partial = self._partial, ""
                yield from self._line(header)
        if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
            self.image_id = chunk["aux"]["ID"]
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("errorDetail") or {}
            self.error = ANSI_RE.sub("", chunk.get("error") or detail.get("message") or "")
            if self._open is not None:
                yield self._close(self._open, "failed")

    def finish(self) -> Iterator[ParseEvent]:
        """Call when the stream ends; closes a step left open and reports the outcome."""
        if self._partial.strip():
            yield from self._line(self._partial)
            self._partial = ""
        step = self._open
        if step is not None:
            if self.error is None and self.image_id is not None:
                yield self._close(step, "cached" if step.status == "cached" else "executed")
            else:
                self.error = self.error or "The build stopped before this step finished."
                yield self._close(step, "failed")
        if self.error is None and self.image_id is None:
            self.error = "The daemon ended the build without reporting an image id."
        yield StreamEnded(None if self.error else self.image_id, self.error)

    def _line(self, line: str) -> Iterator[ParseEvent]:
        m = STEP_RE.match(line)
        if m:
            if self._open is not None:  # e.g. a metadata step whose layer line we never saw
                yield self._close(self._open, "executed")
            index, instruction = int(m.group(1)), m.group(3).strip()
            total = max(int(m.group(2)) - self.appended_steps, 1)
            from_match = FROM_AS_RE.match(instruction)
            if from_match:
                self._stage += 1
                self._stage_name = from_match.group(1)
            step = BuildStep(
                index=index,
                total=total,
                instruction=instruction,
                stage=max(self._stage, 0),
                stage_name=self._stage_name,
                synthetic=instruction.upper().startswith("LABEL") and labels.PREFIX in instruction,
            )
            self.steps.append(step)
            self._open = step
            self._started_at = self.clock()
            yield StepStarted(step)
            return
        step = self._open
        arrow = ARROW_RE.match(line)
        if step is not None and arrow:
            what = arrow.group(1).strip()
            if what == "Using cache":
                step.status = "cached"
            elif what.startswith("Running in"):
                pass
            elif ID_RE.match(what):
                step.layer_id = what
                if step.status == "running":
                    step.status = "base" if step.keyword == "FROM" else "executed"
                yield self._close(step)
            return
        if not line.strip() or NOISE_RE.match(line):
            return
        self.tail.append(line)
        step = step or (self.steps[-1] if self.steps else None)
        if step is not None:
            if len(step.output) < OUTPUT_KEPT_PER_STEP:
                step.output.append(line)
            else:
                step.output_dropped += 1
            yield StepOutput(step.index, line, step.stage)
