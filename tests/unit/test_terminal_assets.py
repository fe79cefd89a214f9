"""The terminal component's vendored xterm.js files are what the npm lock file gives.

frontend/terminal/build.py copies them unchanged from `npm ci` and records each package's version
and integrity (from package-lock.json) and each file's sha256 in vendor/MANIFEST.json. Here: the
manifest agrees with package.json's pins and the lock file, the committed files with the
manifest, and, where node_modules is installed, the files with the packages' own bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend" / "terminal"
COMPONENT = ROOT / "dashboard" / "ui" / "terminal_component"
VENDOR = COMPONENT / "vendor"
MANIFEST = json.loads((VENDOR / "MANIFEST.json").read_text())
LOCK = json.loads((FRONTEND / "package-lock.json").read_text())["packages"]
PINS = json.loads((FRONTEND / "package.json").read_text())["dependencies"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pins_are_exact_and_the_manifest_is_the_lock_files():
    assert set(PINS) == set(MANIFEST)
    for package, pin in PINS.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", pin), f"{package}: pin an exact version, not {pin}"
        locked = LOCK[f"node_modules/{package}"]
        assert locked["version"] == pin == MANIFEST[package]["version"]
        assert locked["integrity"] == MANIFEST[package]["integrity"]


def test_the_committed_files_are_the_manifests_and_nothing_else():
    listed = {name for entry in MANIFEST.values() for name in entry["files"]}
    on_disk = {p.name for p in VENDOR.iterdir()} - {"MANIFEST.json"}
    assert on_disk == listed
    for entry in MANIFEST.values():
        for name, file in entry["files"].items():
            assert sha256(VENDOR / name) == file["sha256"], name
    # Kept small: the minified ES module, its stylesheet, the fit addon and the licence.
    assert sum((VENDOR / n).stat().st_size for n in listed) < 400_000


def test_the_files_equal_the_installed_packages_when_node_modules_is_there():
    modules = FRONTEND / "node_modules"
    if not modules.is_dir():
        if os.environ.get("CI"):  # .ci/run installs them from the lock file: this must not skip
            pytest.fail("no frontend/terminal/node_modules: .ci/run's `npm ci` did not run")
        pytest.skip("no node_modules: run `./dev python frontend/terminal/build.py`")
    for package, entry in MANIFEST.items():
        installed = json.loads((modules / package / "package.json").read_text())
        assert installed["version"] == entry["version"]
        for name, file in entry["files"].items():
            assert sha256(modules / package / file["from"]) == file["sha256"], name


def test_the_page_loads_only_vendored_files():
    html = (COMPONENT / "index.html").read_text()
    js = (COMPONENT / "terminal.js").read_text()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r'from "([^"]+)"', js)
    assert refs and all(not re.match(r"\w+://|//", ref) for ref in refs), refs
    for ref in refs:
        assert (COMPONENT / ref).is_file(), ref
