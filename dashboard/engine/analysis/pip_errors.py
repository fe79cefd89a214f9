"""pip's "no matching distribution" in a build's output, said as a sentence with its fix.

A `RUN pip install` whose index lacks a package ends with

    ERROR: Could not find a version that satisfies the requirement numpy==2.4.6 (from versions:
    none)
    ERROR: No matching distribution found for numpy==2.4.6

and the step's exit code is all Docker reports. This finds those lines (with BuildKit's
`#8 1.23 ` prefix or without), the index pip said it looked in ("Looking in links: URL" on the
stand-in, whose pip.conf has find-links; "Looking in indexes: URL" for another index; neither
for PyPI), and says which package, which index, and what to do.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

NOT_FOUND_RE = re.compile(
    r"ERROR: Could not find a version that satisfies the requirement (?P<rest>.+?)\s*$"
)
VERSIONS_RE = re.compile(r"\s*\(from versions: (?P<versions>[^)]*)\)\s*$")
FROM_RE = re.compile(r"^\s*\(from (?P<parent>.*)\)\s*$")
NO_MATCH_RE = re.compile(r"ERROR: No matching distribution found for (?P<req>\S.*?)\s*$")
LOOKING_RE = re.compile(r"Looking in (?P<kind>links|indexes): (?P<urls>\S.*?)\s*$")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class NoDistribution:
    """pip found no file for `requirement` in the index it used."""

    requirement: str  # as pip wrote it: "numpy==2.4.6", "altair!=5.4.0,<7,>=5.0.0"
    versions: tuple[str, ...] = ()  # what the indexes have of it
    indexes: tuple[str, ...] = ()  # where pip said it looked; none: its default, PyPI
    needed_by: str | None = None  # "streamlit": pulled in by another package

    @property
    def index(self) -> str | None:
        """The offline wheelhouse when pip looked there (a loopback URL), else the first."""
        for url in self.indexes:
            if urllib.parse.urlsplit(url).hostname in LOOPBACK:
                return url
        return self.indexes[0] if self.indexes else None

    @property
    def name(self) -> str:
        m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.requirement)
        return m.group(0) if m else self.requirement

    @property
    def loopback(self) -> bool:
        """The index is served on this machine's loopback: the offline wheelhouse."""
        host = urllib.parse.urlsplit(self.index or "").hostname
        return host in LOOPBACK


def _split_not_found(rest: str) -> tuple[str, tuple[str, ...], str | None]:
    versions: tuple[str, ...] = ()
    m = VERSIONS_RE.search(rest)
    if m:
        listed = m.group("versions").strip()
        versions = () if listed in ("", "none") else tuple(v.strip() for v in listed.split(","))
        rest = rest[: m.start()]
    requirement, _, parent = rest.partition(" (from ")
    needed_by = None
    if parent:
        m = FROM_RE.match("(from " + parent)
        parent = m.group("parent") if m else parent.rstrip(")")
        # "-r requirements.txt (line 1)" is where it was asked for, not a package needing it
        if not parent.startswith("-"):
            needed_by = parent
    return requirement.strip(), versions, needed_by


def find_no_distribution(lines: Iterable[str]) -> NoDistribution | None:
    """The first requirement pip found no distribution for in `lines`, with its index."""
    indexes: list[str] = []
    found = None
    for line in lines:
        for part in (line or "").splitlines():
            looking = LOOKING_RE.search(part)
            if looking:  # "Looking in indexes: A, B" and "Looking in links: C" may both come
                urls = [u.strip() for u in looking.group("urls").split(",")]
                indexes += [u for u in urls if u and u not in indexes]
            m = NOT_FOUND_RE.search(part)
            if m and found is None:
                found = _split_not_found(m.group("rest"))
            m = NO_MATCH_RE.search(part)
            if m and found is None:
                found = (m.group("req"), (), None)
    if found is None:
        return None
    requirement, versions, needed_by = found
    return NoDistribution(requirement, versions, tuple(indexes), needed_by)


PREPARE = "`python -m dashboard prepare --no-build`"


def sentence(
    missing: NoDistribution,
    error: str | None = None,
    *,
    wheelhouse_holds: Callable[[str], bool] = lambda _: True,
) -> str:
    """Which package, which index, and the fix. `wheelhouse_holds(name)`: whether the offline
    wheelhouse is meant to hold that package (a lab's or the dashboard's pin, or one they pull
    in): then the server on the port lacks it; otherwise nobody asked for it."""
    needed = f" (needed by {missing.needed_by})" if missing.needed_by else ""
    had = ", ".join(missing.versions) if missing.versions else "none"
    if missing.loopback:
        where = f"the offline wheelhouse at {missing.index}"
    elif missing.indexes:
        where = f"the package index {', '.join(missing.indexes)}"
    else:
        where = "the default package index (PyPI)"
    said = (
        f"pip found no distribution of `{missing.requirement}`{needed} in {where} "
        f"(versions there: {had})."
    )
    if missing.loopback and (missing.needed_by or wheelhouse_holds(missing.name)):
        port = urllib.parse.urlsplit(missing.index or "").port
        fix = (
            f"The wheelhouse should hold it: `python -m dashboard doctor` says what the server on "
            f"port {port} lacks and who that server is, and {PREPARE} serves one that holds "
            "every pin of the labs and the dashboard's image."
        )
    elif missing.loopback:
        fix = (
            "The offline wheelhouse holds only what the labs' requirements files pin (and what "
            f"those need): add `{missing.requirement}` to a requirements file under labs/, then "
            f"run {PREPARE} on a machine that reaches PyPI, which downloads it."
        )
    else:
        fix = (
            f"Check the name and the version of `{missing.name}` against that index (pip lists "
            "the versions it found); if pip warned that it could not reach the index, the "
            "machine is offline: see README's offline classroom mode."
        )
    return f"{said} {fix}" + (f" ({error.strip()})" if error and error.strip() else "")
