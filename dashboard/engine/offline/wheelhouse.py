"""Does the index on the wheelhouse port serve what the builds need? Read it, check it, say it.

Offline builds on the stand-in install from whatever answers at the wheelhouse URL (its
`/etc/pip.conf` says `no-index` and `find-links`), so another server left on the port (an older
checkout's wheelhouse, or another tool) makes `pip install` fail deep inside a build. This reads
the page pip would read, lists the archive files it links to, and checks every pinned
requirement of the labs and the dashboard's image against them as pip on the stand-in (CPython
3.11 on this machine's architecture, glibc 2.36) would: a wheel whose tags it accepts, or a
source archive. What the pins pull in is checked by name, as this dashboard's own wheelhouse
folder (filled by `pip download`, which resolves them) holds them.

Nothing here calls Docker; engine/offline/offline.py decides what to do about the answer.
`packaging` (about 10 ms to import) is imported where a pin or a file name is parsed: what only
imports offline.py (for the base image's name: the CLI's `layers`, `reset`, `registry`) never loads
it, nor does a build on the real base image.
"""

from __future__ import annotations

import http.client
import platform
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from packaging.requirements import Requirement
    from packaging.tags import Tag
    from packaging.version import Version

SERVED_MARK = ".wheelhouse-folder"  # in the wheelhouse: which folder a running server serves
PYTHON = (3, 11)
GLIBC_MINOR = 36  # Debian 12, the stand-in's base: manylinux_2_36 and older wheels install
ARCHIVES = (".whl", ".tar.gz", ".zip")
SHOWN = 8  # missing packages named in a sentence; the rest are counted


@dataclass(frozen=True)
class Fetched:
    """One GET: the HTTP status and body, or why no HTTP answer came (status None)."""

    status: int | None
    body: bytes = b""
    error: str = ""


def http_get(url: str, timeout: float = 3) -> Fetched:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return Fetched(answer.status, answer.read(2 << 20))
    except urllib.error.HTTPError as exc:
        return Fetched(exc.code)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ConnectionRefusedError):
            return Fetched(None, error="refused")
        return Fetched(None, error=f"no HTTP answer ({reason})")
    except (http.client.HTTPException, ConnectionError, TimeoutError) as exc:
        return Fetched(None, error=f"no HTTP answer ({type(exc).__name__}: {exc})".strip())
    except OSError as exc:
        return Fetched(None, error=f"no HTTP answer ({exc})")


@dataclass(frozen=True)
class IndexAnswer:
    """What answered at a wheelhouse URL: the archives its page links to, and the folder a
    dashboard's server names in `SERVED_MARK` (None: it names none)."""

    url: str
    status: int | None
    files: tuple[str, ...] = ()
    folder: Path | None = None
    error: str = ""

    @property
    def refused(self) -> bool:
        return self.status is None and self.error == "refused"


HREF_RE = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def listed_files(body: bytes) -> tuple[str, ...]:
    """The archive file names a page links to, as pip's find-links reads it."""
    text = body.decode("utf-8", "replace")
    names = []
    for href in HREF_RE.findall(text):
        name = urllib.parse.unquote(href.split("#", 1)[0].split("?", 1)[0].rstrip("/"))
        name = name.rsplit("/", 1)[-1]
        if name.lower().endswith(ARCHIVES):
            names.append(name)
    return tuple(sorted(set(names)))


def read_index(url: str, get: Callable[[str], Fetched] = http_get) -> IndexAnswer:
    """GET the page pip reads at `url`, and the folder mark a dashboard's server serves."""
    page = get(url)
    if page.status is None:
        return IndexAnswer(url, None, error=page.error)
    files = listed_files(page.body) if page.status == 200 else ()
    mark = get(url + SERVED_MARK)
    folder = None
    if mark.status == 200:
        text = mark.body.decode("utf-8", "replace").strip()
        if text.startswith("/") and "\n" not in text:
            folder = Path(text)
    return IndexAnswer(url, page.status, files, folder)


# ---------------------------------------------------------------- what pip on the stand-in takes


def _arch() -> str:
    arch = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)


def supported_tags(arch: str | None = None) -> frozenset[Tag]:
    """The wheel tags pip on the stand-in accepts (CPython 3.11, manylinux up to glibc 2.36)."""
    from packaging import tags

    arch = arch or _arch()
    platforms = [f"manylinux_2_{m}_{arch}" for m in range(GLIBC_MINOR, 4, -1)]
    platforms += [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]
    platforms.append(f"linux_{arch}")
    found = set(tags.cpython_tags(PYTHON, abis=[f"cp{PYTHON[0]}{PYTHON[1]}"], platforms=platforms))
    found |= set(tags.compatible_tags(PYTHON, f"cp{PYTHON[0]}{PYTHON[1]}", platforms))
    return frozenset(found)


def distributions(files: Iterable[str], accepted: frozenset[Tag]) -> dict[str, set[Version]]:
    """The versions of each package (canonical name) that pip on the stand-in could install
    from `files`: wheels with a tag it accepts, and source archives."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )
    from packaging.version import InvalidVersion

    found: dict[str, set[Version]] = {}
    for name in files:
        try:
            if name.endswith(".whl"):
                dist, version, _, wheel_tags = parse_wheel_filename(name)
                if not wheel_tags & accepted:
                    continue
            else:
                dist, version = parse_sdist_filename(name)
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            continue
        found.setdefault(dist, set()).add(version)
    return found


def canonical_name(name: str) -> str:
    """A package's name as pip compares names (`Scikit_Learn` is `scikit-learn`)."""
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


def requirement_lines(text: str) -> list[str]:
    """The requirement specifiers of a requirements file (no comments, options, blank lines)."""
    lines = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            lines.append(line)
    return lines


def pins_of(files: Iterable[Path]) -> list[Requirement]:
    """Every requirement of `files`, once each (pip would refuse two that disagree)."""
    from packaging.requirements import InvalidRequirement, Requirement

    seen: dict[str, Requirement] = {}
    for path in files:
        for line in requirement_lines(path.read_text()):
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            seen.setdefault(str(req), req)
    return list(seen.values())


def missing_pins(pins: Iterable[Requirement], offered: dict[str, set[Version]]) -> list[str]:
    """The pins no listed file satisfies, as written (`streamlit==1.67.0`)."""
    missing = []
    for req in pins:
        versions = offered.get(canonical_name(req.name), set())
        if not any(req.specifier.contains(v) for v in versions):  # no pre-releases, as pip
            missing.append(str(req))
    return missing


# ---------------------------------------------------------------- the check and its sentences

# Who answers on the port.
NOTHING = "nothing"  # connection refused
OURS = "ours"  # a server that names this dashboard's wheelhouse folder
DASHBOARD = "dashboard"  # a dashboard's server, another folder (an older checkout, a test's)
OTHER = "other"  # lists archives but names no folder
NOT_WHEELHOUSE = "not-wheelhouse"  # answers, but lists no archive (or no HTTP at all)


def _named(items: tuple[str, ...]) -> str:
    shown = ", ".join(items[:SHOWN])
    more = len(items) - SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class WheelhouseCheck:
    url: str
    holder: str
    folder: Path | None = None  # the folder the server names
    ours: Path | None = None  # this dashboard's wheelhouse folder
    missing_pins: tuple[str, ...] = ()  # pins no listed file satisfies: "streamlit==1.67.0"
    missing_pulled: tuple[str, ...] = ()  # packages they pull in, not listed at all: "altair"
    pinned: int = 0  # pinned requirements checked
    pulled_in: int = 0  # packages they pull in, checked by name
    status: int | None = None
    error: str = ""
    explicit_port: bool = False  # DASHBOARD_WHEELHOUSE_PORT chose the port
    in_container: bool = False

    @property
    def missing(self) -> tuple[str, ...]:
        return self.missing_pins + self.missing_pulled

    @property
    def ok(self) -> bool:
        return self.holder not in (NOTHING, NOT_WHEELHOUSE) and not self.missing

    @property
    def port(self) -> int:
        return urllib.parse.urlsplit(self.url).port or 80

    @property
    def who(self) -> str:
        if self.holder == OURS:
            return f"this dashboard's wheelhouse server, serving {self.folder}"
        if self.holder == DASHBOARD:
            return (
                f"another dashboard's wheelhouse server, serving {self.folder} "
                f"(this dashboard's is {self.ours})"
            )
        if self.holder == OTHER:
            return "a server that is not this dashboard's (it does not name the folder it serves)"
        if self.holder == NOT_WHEELHOUSE:
            if self.status is None:
                return f"something that is not a wheelhouse ({self.error})"
            return f"something that is not a wheelhouse (HTTP {self.status}, no wheel files listed)"
        return "nothing"

    def _checked(self) -> str:
        pulled = f" and the {self.pulled_in} packages they pull in" if self.pulled_in else ""
        return (
            f"the {self.pinned} pinned requirements of the labs and the dashboard's image{pulled}"
        )

    @property
    def detail(self) -> str:
        where = "the Docker host's " if self.in_container else ""
        if self.holder == NOTHING:
            return f"nothing answers at {where}{self.url}"
        if self.holder == NOT_WHEELHOUSE:
            return f"{where}{self.url} is {self.who}: builds cannot install from it"
        if self.missing:
            lacks = []
            if self.missing_pins:
                lacks.append(
                    f"{len(self.missing_pins)} of the {self.pinned} pinned requirements of the "
                    f"labs and the dashboard's image ({_named(self.missing_pins)})"
                )
            if self.missing_pulled:
                lacks.append(
                    f"{len(self.missing_pulled)} of the {self.pulled_in} packages they pull in "
                    f"({_named(self.missing_pulled)})"
                )
            return f"{where}{self.url} is {self.who}. It lacks {' and '.join(lacks)}"
        return f"{where}{self.url} serves {self._checked()}: it is {self.who}"

    @property
    def fix(self) -> str:
        if self.ok:
            return ""
        on_host = "On the Docker host, run" if self.in_container else "Run"
        prepare = "`python -m dashboard prepare --no-build`"
        if self.holder == NOTHING and self.in_container:
            return (
                "Lab builds run on the Docker host's network, where the wheelhouse is served "
                "on its loopback: on the host, run `./dev python -m dashboard prepare "
                "--no-build`, which serves it."
            )
        if self.holder == NOTHING:
            return f"Run {prepare} to serve it."
        if self.holder == OURS:
            return (
                f"{on_host} {prepare}: it downloads what is missing into {self.ours}, "
                "which that server serves."
            )
        stop = (
            f"stop that server (`ss -ltnp 'sport = :{self.port}'` names its process)"
            if not self.in_container
            else "stop that server on the host"
        )
        if self.explicit_port:
            return (
                f"DASHBOARD_WHEELHOUSE_PORT={self.port} is set: {stop}, or set "
                f"DASHBOARD_WHEELHOUSE_PORT to a free port (or unset it), then run {prepare}."
            )
        return (
            f"{on_host} {prepare}: it serves this dashboard's wheelhouse on a free port and "
            f"points the stand-in python:3.11-slim at it. Or {stop}, then run it."
        )

    @property
    def sentence(self) -> str:
        return f"The offline wheelhouse cannot serve the builds: {self.detail}. {self.fix}"


def check(
    answer: IndexAnswer,
    pins: list[Requirement],
    *,
    ours: Path,
    local_files: Iterable[str] = (),
    needed_names: Iterable[str] = (),
    explicit_port: bool = False,
    in_container: bool = False,
    arch: str | None = None,
) -> WheelhouseCheck:
    """Check what answered at the wheelhouse URL against the builds' pins.

    `local_files`: this dashboard's wheelhouse folder; the packages it holds beyond the pins
    (what `pip download` resolved them to) must be listed too, by name. `needed_names`: more
    packages needed by name (the build backends of source-only packages).
    """
    common = dict(
        url=answer.url,
        ours=ours,
        status=answer.status,
        error=answer.error,
        explicit_port=explicit_port,
        in_container=in_container,
    )
    if answer.refused:
        return WheelhouseCheck(holder=NOTHING, **common)
    if not answer.files:
        return WheelhouseCheck(holder=NOT_WHEELHOUSE, folder=answer.folder, **common)
    if answer.folder is None:
        holder = OTHER
    elif answer.folder == ours:
        holder = OURS
    else:
        holder = DASHBOARD
    accepted = supported_tags(arch)
    offered = distributions(answer.files, accepted)
    pinned_names = {canonical_name(r.name) for r in pins}
    extra = set(distributions(local_files, accepted)) | {canonical_name(n) for n in needed_names}
    extra -= pinned_names
    return WheelhouseCheck(
        holder=holder,
        folder=answer.folder,
        missing_pins=tuple(missing_pins(pins, offered)),
        missing_pulled=tuple(sorted(name for name in extra if name not in offered)),
        pinned=len(pins),
        pulled_in=len(extra),
        **common,
    )
