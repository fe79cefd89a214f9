"""Parse BuildKit's `--progress=rawjson` output into the same typed step events as the classic
builder's stream (build_stream.py).

`docker buildx build --progress=rawjson` writes BuildKit's SolveStatus objects to stderr, one
JSON object after another, each pretty-printed over several lines, so they are read with a
streaming decoder (`RawJsonDecoder`), never line by line. After the last object the CLI prints
plain text: for a failed build the Dockerfile excerpt and `ERROR: failed to solve: ...`.

Each object may hold:
- `vertexes`: digest, name, started, completed, cached, error. A vertex is sent again every time
  it changes. Dockerfile steps are named "[2/5] RUN ..." or, in a multi-stage build,
  "[trainer 3/6] COPY ..."; BuildKit numbers every stage from 1 and shares identical vertexes
  between stages (the predictor's FROM and WORKDIR are the trainer's). Everything else
  ("[internal] load build context", "exporting to image", ...) is not a Dockerfile step.
- `statuses`: transfer progress (ignored here);
- `logs`: vertex, stream (1 stdout, 2 stderr), base64 `data`, not split on line breaks.

`docker compose --progress json build` (Compose 2.40) writes the same objects, one per line,
for all services at once, each step named after its service ("[trainer 4/5] RUN ..."). BuildKit
solves an op two services share once, so one digest can carry both services' names, and a
service can see two digests for one step (the shared op, then its own, cached); with
`per_stage=True` steps are kept per (name, digest) and `steps` gives one record per service
and step: the one that did the most (the shared op that ran beats the later cache hit).

This module knows nothing of processes: feed it text, get events.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from dashboard.engine.ops.build_stream import (
    ANSI_RE,
    FROM_AS_RE,
    OUTPUT_KEPT_PER_STEP,
    BuildStep,
    ParseEvent,
    StepFinished,
    StepOutput,
    StepStarted,
)

STEP_NAME_RE = re.compile(
    r"^\[(?:(?P<stage>[^\]\s]+) )?(?P<index>\d+)/(?P<total>\d+)\] (?P<instruction>.*)$", re.S
)
STAGE_N_RE = re.compile(r"^stage-(\d+)$")
TIME_RE = re.compile(r"^(.*?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")
CANCELED_RE = re.compile(r"context canceled|\bcanceled\b", re.IGNORECASE)
MAX_OBJECT_CHARS = 8 << 20  # a buffer this long that still does not parse is not JSON

# A step's status before it ends: "waiting" (announced, not started) then "running".
FINAL = frozenset({"base", "cached", "executed", "failed", "canceled", "skipped"})
# Which record of a merged step wins (per_stage): the strongest thing that happened to it.
STRENGTH = ("failed", "canceled", "executed", "running", "cached", "base", "waiting", "skipped")


def epoch(timestamp: str | None) -> float | None:
    """BuildKit's RFC 3339 time with nanoseconds, as epoch seconds (None when absent)."""
    if not timestamp:
        return None
    m = TIME_RE.match(timestamp)
    if not m:
        return None
    base, fraction, zone = m.group(1), m.group(2) or "0", m.group(3) or "Z"
    zone = "+00:00" if zone == "Z" else zone
    try:
        moment = datetime.fromisoformat(f"{base}{zone}")
    except ValueError:
        return None
    return moment.astimezone(UTC).timestamp() + float("0." + fraction)


def stage_names(dockerfile_text: str) -> list[str | None]:
    """The stages of a Dockerfile in order: the `AS` name of each FROM, None when unnamed."""
    names: list[str | None] = []
    for line in dockerfile_text.splitlines():
        m = FROM_AS_RE.match(line.strip())
        if m:
            names.append(m.group(1).lower() if m.group(1) else None)
    return names


class RawJsonDecoder:
    """Splits buildx's stderr into JSON objects (dicts) and plain text lines (str)."""

    def __init__(self) -> None:
        self._buf = ""
        self._decoder = json.JSONDecoder()

    def feed(self, text: str) -> Iterator[dict | str]:
        self._buf += text
        yield from self._drain(final=False)

    def finish(self) -> Iterator[dict | str]:
        yield from self._drain(final=True)

    def _drain(self, final: bool) -> Iterator[dict | str]:
        buf, i = self._buf, 0
        while True:
            while i < len(buf) and buf[i].isspace():
                i += 1
            if i >= len(buf):
                break
            if buf[i] == "{":
                try:
                    obj, end = self._decoder.raw_decode(buf, i)
                except json.JSONDecodeError:
                    if not final and len(buf) - i < MAX_OBJECT_CHARS:
                        break  # the rest of the object has not arrived yet
                    obj, end = None, -1
                if isinstance(obj, dict):
                    i = end
                    yield obj
                    continue
            newline = buf.find("\n", i)
            if newline < 0 and not final:
                break
            end = len(buf) if newline < 0 else newline
            line = buf[i:end].rstrip("\r")
            i = end + 1
            if line.strip():
                yield line
        self._buf = buf[i:]


class BuildKitStreamParser:
    """Turns rawjson objects into `ParseEvent`s (StepStarted, StepOutput, StepFinished).

    `stages`: the Dockerfile's stage names in order (`stage_names`), so "[predictor 4/6]" gets
    the stage number of its FROM even though BuildKit announces the last steps first.
    """

    def __init__(self, stages: Sequence[str | None] = (), *, per_stage: bool = False) -> None:
        self.stages = [s.lower() if s else None for s in stages]
        self.per_stage = per_stage
        self._by_digest: dict[str, list[BuildStep]] = {}  # where a vertex's logs go
        self.tail: deque[str] = deque(maxlen=40)
        self.text: list[str] = []  # the plain text after the JSON (the CLI's error summary)
        self.internal_errors: list[str] = []
        self._steps: dict[str | tuple[str, str], BuildStep] = {}
        self._unknown_stages: list[str] = []
        self._partial: dict[tuple[str, int], str] = {}
        self.decoder = RawJsonDecoder()

    @property
    def steps(self) -> list[BuildStep]:
        """The Dockerfile's steps BuildKit announced, stage by stage, in order."""
        steps = sorted(self._steps.values(), key=lambda s: s.key)
        if not self.per_stage:
            return steps
        merged: dict[tuple[int, int], list[BuildStep]] = {}
        for step in steps:
            merged.setdefault(step.key, []).append(step)
        return [_merge(group) for group in merged.values()]

    @property
    def error(self) -> str | None:
        """Why the build failed, as BuildKit said it: the failed step's error, else the CLI's."""
        failed = [s for s in self.steps if s.status == "failed" and s.error]
        if failed:
            return min(failed, key=lambda s: s.finished_at or 0.0).error
        for line in reversed(self.text):
            if line.startswith("ERROR:"):
                said = line.removeprefix("ERROR:").strip()
                return said.removeprefix("failed to solve:").strip() or said
        if self.internal_errors:
            return self.internal_errors[0]
        return self.text[-1] if self.text else None

    @property
    def canceled(self) -> bool:
        return any(s.status == "canceled" for s in self._steps.values()) or any(
            "canceled" in line.lower() for line in self.text if line.startswith("ERROR:")
        )

    # -- input ----------------------------------------------------------------------------

    def feed_text(self, text: str) -> Iterator[ParseEvent]:
        """Raw stderr text, in chunks of any size."""
        for item in self.decoder.feed(text):
            yield from self._item(item)

    def feed(self, obj: dict) -> Iterator[ParseEvent]:
        """One decoded SolveStatus object."""
        for vertex in obj.get("vertexes") or ():
            yield from self._vertex(vertex)
        for log in obj.get("logs") or ():
            yield from self._log(log)

    def finish(self, *, canceled: bool = False) -> Iterator[ParseEvent]:
        """Call when the process ended: flushes partial lines, closes what is still open.

        A step still running when the build ended was stopped: "canceled" when the build was
        canceled or another step failed, "failed" otherwise. One never started is "skipped".
        """
        for item in self.decoder.finish():
            yield from self._item(item)
        for (digest, _stream), rest in list(self._partial.items()):
            if rest.strip():
                yield from self._line(digest, rest)
        self._partial.clear()
        failed = any(s.status == "failed" for s in self._steps.values())
        for step in self.steps:
            if step.status == "running":
                stopped = canceled or failed or self.canceled
                step.status = "canceled" if stopped else "failed"
                if step.status == "failed" and not step.error:
                    step.error = self.error or "The build stopped before this step finished."
                yield StepFinished(step)
            elif step.status == "waiting":
                step.status = "skipped"

    # -- parts ----------------------------------------------------------------------------

    def _item(self, item: dict | str) -> Iterator[ParseEvent]:
        if isinstance(item, dict):
            yield from self.feed(item)
        else:
            self.text.append(ANSI_RE.sub("", item))

    def _stage(self, name: str | None) -> int:
        if name is None:
            return 0
        key = name.lower()
        if key in self.stages:
            return self.stages.index(key)
        m = STAGE_N_RE.match(key)
        if m:
            return int(m.group(1))
        if key not in self._unknown_stages:
            self._unknown_stages.append(key)
        return len(self.stages) + self._unknown_stages.index(key)

    def _vertex(self, vertex: dict) -> Iterator[ParseEvent]:
        digest = vertex.get("digest") or ""
        name = vertex.get("name") or ""
        m = STEP_NAME_RE.match(name)
        if not m:
            if vertex.get("error"):
                self.internal_errors.append(f"{name}: {vertex['error']}")
            return
        key = (m.group("stage") or "", digest) if self.per_stage else digest
        step = self._steps.get(key)
        if step is None:
            stage_name = m.group("stage")
            step = BuildStep(
                index=int(m.group("index")),
                total=int(m.group("total")),
                instruction=" ".join(m.group("instruction").split("\n")).strip(),
                stage=self._stage(stage_name),
                stage_name=stage_name,
                status="waiting",
            )
            self._steps[key] = step
            self._by_digest.setdefault(digest, []).append(step)
        started, completed = epoch(vertex.get("started")), epoch(vertex.get("completed"))
        if started is not None and step.status == "waiting":
            step.started_at = started
            step.status = "running"
            yield StepStarted(step)
        error = vertex.get("error")
        if completed is None or (step.status in FINAL and not error):
            return
        if step.status in ("failed", "canceled"):
            return
        if step.started_at is None:
            step.started_at = started or completed
            yield StepStarted(step)
        step.finished_at = completed
        step.seconds = max(completed - (step.started_at or completed), 0.0)
        if error:
            step.error = ANSI_RE.sub("", error)
            step.status = "canceled" if CANCELED_RE.search(error) else "failed"
        elif step.keyword == "FROM":
            step.status = "base"
        else:
            step.status = "cached" if vertex.get("cached") else "executed"
        yield StepFinished(step)

    def _log(self, log: dict) -> Iterator[ParseEvent]:
        digest = log.get("vertex") or ""
        stream = int(log.get("stream") or 1)
        try:
            data = base64.b64decode(log.get("data") or "")
        except (binascii.Error, ValueError):
            return
        text = self._partial.pop((digest, stream), "") + data.decode("utf-8", "replace")
        *lines, rest = text.split("\n")
        if rest:
            self._partial[(digest, stream)] = rest
        for line in lines:
            yield from self._line(digest, line)

    def _line(self, digest: str, line: str) -> Iterator[ParseEvent]:
        # A progress bar redraws itself with \r: only the last drawing counts.
        line = ANSI_RE.sub("", line.rstrip("\r").split("\r")[-1])
        if not line.strip():
            return
        self.tail.append(line)
        for step in self._by_digest.get(digest, ()):
            if len(step.output) < OUTPUT_KEPT_PER_STEP:
                step.output.append(line)
            else:
                step.output_dropped += 1
            yield StepOutput(step.index, line, step.stage)


def _merge(group: list[BuildStep]) -> BuildStep:
    """One service's records of one step as one: the record of the strongest thing that
    happened to it (the shared op that ran, not the cache hit of its own copy after it)."""
    if len(group) == 1:
        return group[0]
    best = min(group, key=lambda s: STRENGTH.index(s.status) if s.status in STRENGTH else 99)
    return replace(best, output=[line for s in group for line in s.output])
