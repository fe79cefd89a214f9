"""Builds the terminal component's vendored files from the npm lock file, reproducibly.

`./dev python frontend/terminal/build.py` runs `npm ci` here (the versions and integrity hashes
of package-lock.json; no install scripts), copies the few files the component serves into
dashboard/ui/terminal_component/vendor/ unchanged, and writes vendor/MANIFEST.json: each
package's version and lock-file integrity, and each file's sha256.
tests/unit/test_terminal_assets.py checks the committed files against that manifest and the
lock file (and against node_modules when it is there), so a clean clone needs no npm and a
changed pin cannot go unnoticed. `--no-install` copies from an existing node_modules.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENDOR = HERE.parents[1] / "dashboard" / "ui" / "terminal_component" / "vendor"
# package -> the files of it the component serves (paths inside the package)
FILES = {
    "@xterm/xterm": ["lib/xterm.mjs", "css/xterm.css", "LICENSE"],
    "@xterm/addon-fit": ["lib/addon-fit.mjs"],
}


def vendored_name(package: str, path: str) -> str:
    """`xterm.mjs`, `xterm.css`, `xterm-LICENSE`, `addon-fit.mjs`."""
    name = Path(path).name
    return f"{package.split('/')[-1]}-{name}" if name == "LICENSE" else name


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str]) -> int:
    if "--no-install" not in argv:
        subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=HERE, check=True
        )
    lock = json.loads((HERE / "package-lock.json").read_text())["packages"]
    VENDOR.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict] = {}
    for package, paths in FILES.items():
        entry = lock[f"node_modules/{package}"]
        files = {}
        for path in paths:
            name = vendored_name(package, path)
            shutil.copyfile(HERE / "node_modules" / package / path, VENDOR / name)
            files[name] = {"from": path, "sha256": sha256(VENDOR / name)}
        manifest[package] = {
            "version": entry["version"],
            "integrity": entry["integrity"],
            "files": files,
        }
    (VENDOR / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {VENDOR}: " + ", ".join(f"{p}@{m['version']}" for p, m in manifest.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
