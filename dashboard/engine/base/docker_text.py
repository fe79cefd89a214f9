"""What the daemon sends as text, read one way everywhere: output chunks into lines, and its
RFC 3339 times.

runs.py (a container's output) and compose.py (each service's log stream) both split with
`LineSplitter`; every `State.StartedAt`, `Created` or log timestamp goes through
`parse_docker_time`.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from datetime import datetime

MAX_LINE_CHARS = 64 * 1024  # a "line" longer than this is cut, so one endless line cannot grow

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_line(raw: str) -> str:
    """A line as a terminal would show it: no ANSI codes, and after a `\\r` only what follows."""
    text = _ANSI.sub("", raw).rstrip("\r")
    if "\r" in text:  # progress bars redraw the line: keep the last drawing
        text = text.rsplit("\r", 1)[-1]
    return _CONTROL.sub("", text)


class LineSplitter:
    """Turns output chunks (split anywhere, even inside a UTF-8 character) into lines, cleaned
    by `clean` (`clean_line`, as a terminal shows them; None keeps them as they came).

    A "line" longer than `max_chars` is cut there, so one endless line cannot grow a buffer.
    """

    def __init__(
        self,
        max_chars: int = MAX_LINE_CHARS,
        clean: Callable[[str], str] | None = clean_line,
    ):
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._max = max_chars
        self._clean = clean or (lambda line: line)

    def feed(self, chunk: bytes | str) -> list[str]:
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        if "\n" not in text:
            self._pending += text
            return self._cut_long()
        head, *rest = text.split("\n")
        complete = [self._pending + head, *rest[:-1]]
        self._pending = rest[-1]
        return [self._clean(line) for line in complete] + self._cut_long()

    def _cut_long(self) -> list[str]:
        out = []
        while len(self._pending) > self._max:
            out.append(self._clean(self._pending[: self._max]))
            self._pending = self._pending[self._max :]
        return out

    def flush(self) -> list[str]:
        text = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return [self._clean(text)] if text else []


def parse_docker_time(value: str | None) -> datetime | None:
    """Docker's RFC 3339 times with nanoseconds; the zero time means "never"."""
    if not value or value.startswith("0001-01-01"):
        return None
    m = re.match(r"(.*?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", value)
    if not m:
        return None
    base, frac, zone = m.groups()
    text = base + (f".{frac[:6]}" if frac else "") + ("+00:00" if zone in (None, "Z") else zone)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
