"""dashboard/settings.py is the one place the dashboard reads its DASHBOARD_* variables."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from dashboard import settings
from dashboard.engine.base import paths
from dashboard.work import slots

ROOT = Path(__file__).resolve().parents[2]
READ = re.compile(r"(environ\.get\(|environ\[|getenv\()\s*[\"']?([A-Z_]*)")


def test_no_other_module_reads_the_environment_for_a_dashboard_setting():
    readers = []
    for path in (ROOT / "dashboard").rglob("*.py"):
        if path.name == "settings.py":
            continue
        for match in READ.finditer(path.read_text()):
            # Docker's own, read where it talks; JupyterHub's service environment, where it serves
            if not match.group(2).startswith(("DOCKER_", "JUPYTERHUB_")):
                readers.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert readers == []


def test_the_docs_list_every_setting():
    """docs/configuration.md's table is generated from SETTINGS (docs/hooks/generated.py)."""
    assert "<!-- generated: settings -->" in (ROOT / "docs/configuration.md").read_text()
    spec = importlib.util.spec_from_file_location("generated", ROOT / "docs/hooks/generated.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    table = hook.settings_table()
    names = {s.name for s in settings.SETTINGS}
    assert names == {
        v
        for k, v in vars(settings).items()
        if k.isupper() and k != "SETTINGS" and isinstance(v, str)
    }
    assert [n for n in sorted(names) if f"| `{n}` |" not in table] == []


def test_settings_are_read_when_asked_not_at_import(monkeypatch, tmp_path):
    monkeypatch.setenv(settings.BUILD_SLOTS, "3")
    assert settings.build_slots() == 3 and slots.default_slots() == 3
    monkeypatch.setenv(settings.BUILD_SLOTS, "many")
    assert settings.build_slots() is None and slots.default_slots() >= 1
    monkeypatch.setenv(settings.DATA_DIR, str(tmp_path / "data"))
    assert paths.data_dir() == tmp_path / "data" and (tmp_path / "data").is_dir()
    monkeypatch.setenv(settings.CLASSROOM, " Yes ")
    assert settings.classroom()
    monkeypatch.delenv(settings.CLASSROOM)
    assert not settings.classroom()
