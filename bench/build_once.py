"""The CLI's `build` verb as a command of its own, for the whole-process comparison with the CLI.

`python -m bench.build_once FOLDER TAG LAB [--no-cache]` is `python -m dashboard --json build LAB
[--no-cache]`, all of it (dashboard.cli.main: its imports, connecting, the build, one JSON line
per step and the result, the history row), for a lab named LAB whose folder is FOLDER and whose
tag is TAG, so the labs' own folders and tags are never touched. Its output and exit status are
the verb's. Point DASHBOARD_HISTORY_DB elsewhere to keep the row out of the user's history.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dashboard import cli
from dashboard.engine.catalog import labs


def main(argv: list[str]) -> int:
    folder, tag, lab = argv[:3]
    # Lab.path is labs_dir() / folder, and an absolute folder stands for itself.
    labs.LABS[lab] = labs.Lab(lab, str(Path(folder).resolve()), tag)
    return cli.main(["--json", "build", lab, *argv[3:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
