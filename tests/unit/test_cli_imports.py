"""What the command line imports: each verb its own engine modules, `--help` not the docker SDK.

Every verb pays its imports before it does anything (bench/overhead.py times them), so a
module the CLI loads must not drag in the app, other verbs' engines or the SDK where no verb
needs them. Each case runs in a fresh interpreter: this one has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = {"streamlit", "pandas", "plotly", "dashboard.ui", "dashboard.app"}


def modules_after(code: str) -> set[str]:
    """The top-level and dashboard modules loaded once `code` ran (in a fresh interpreter)."""
    report = "import json, sys; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\n{report}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    names = json.loads(done.stdout.splitlines()[-1])
    return {n for n in names if n.startswith("dashboard.") or "." not in n}


def test_help_needs_no_docker_sdk():
    loaded = modules_after(
        "from dashboard import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert "dashboard.cli" in loaded
    assert not loaded & {"docker", "requests", "urllib3", "dashboard.engine.base.connection"}


def test_the_build_verbs_modules_load_no_app_and_no_other_verbs_engine():
    loaded = modules_after(
        "import dashboard.cli, dashboard.engine.base.connection, dashboard.engine.ops.builds, "
        "dashboard.work.recording"
    )
    assert {"docker", "dashboard.engine.ops.builds", "dashboard.engine.progress.history"} <= loaded
    others = {
        "dashboard.engine.ops.compose",
        "dashboard.engine.ops.runs",
        "dashboard.engine.catalog.lab_output",
        "dashboard.work.tasks",
        "packaging",  # the wheelhouse check imports it when a build on the stand-in needs it
    }
    assert not loaded & (APP | others)


def test_the_image_verbs_load_no_packaging():
    loaded = modules_after(
        "import dashboard.cli, dashboard.engine.analysis.images, dashboard.engine.ops.cleanup, "
        "dashboard.engine.ops.registry"
    )
    assert not loaded & (APP | {"packaging", "dashboard.work.tasks"})
