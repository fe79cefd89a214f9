"""The flow runs one way: pages -> ui -> work -> engine. The work layer and the engine never
import Streamlit (so the CLI and the tests use them without it) nor anything above them."""

from __future__ import annotations

import ast
import graphlib
import json
import subprocess
import sys
from pathlib import Path

import dashboard

PACKAGE = Path(dashboard.__file__).parent
ROOT = PACKAGE.parent
# A layer may import itself and those below it; dashboard.settings sits below them all.
ABOVE = {
    "engine": (
        "dashboard.work",
        "dashboard.ui",
        "dashboard.pages",
        "dashboard.app",
        "dashboard.hub",
        "streamlit",
    ),
    # The classroom hub's side (JupyterHub's spawner and config) uses the engine, never the app.
    "hub": ("dashboard.work", "dashboard.ui", "dashboard.pages", "dashboard.app", "streamlit"),
    "work": ("dashboard.ui", "dashboard.pages", "dashboard.app", "streamlit"),
}


def modules(layer: str) -> list[str]:
    return sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in (PACKAGE / layer).rglob("*.py")
    )


def imported_names(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_importing_the_work_layer_and_the_engine_loads_no_streamlit():
    names = modules("work") + modules("engine") + ["dashboard.settings", "dashboard.cli"]
    script = (
        "import importlib, json, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'streamlit'"
        " or m.startswith(('streamlit.', 'dashboard.ui', 'dashboard.pages')))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_no_module_imports_a_layer_above_its_own():
    wrong = []
    for layer, above in ABOVE.items():
        for path in (PACKAGE / layer).rglob("*.py"):
            for name in imported_names(path):
                if name.startswith(above):
                    wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


def engine_imports() -> dict[str, set[str]]:
    """Each engine module and the engine modules it imports (at the top or inside a function);
    `from dashboard.engine.analysis.layerfiles import records` is an import of the module records,
    not of the package."""
    known = set(modules("engine"))
    graph: dict[str, set[str]] = {}
    for name in known:
        stem = name.replace(".", "/")
        path = ROOT / (f"{stem}/__init__.py" if (ROOT / stem).is_dir() else f"{stem}.py")
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in known else node.module)
        graph[name] = {n for n in found if n in known and n != name}
    return graph


def test_the_engine_has_no_import_circle():
    """Every import inside the engine goes down or sideways: a circle (even through an import
    inside a function) would tie its modules into one knot."""
    try:
        order = list(graphlib.TopologicalSorter(engine_imports()).static_order())
    except graphlib.CycleError as circle:
        knot = " -> ".join(circle.args[1])
        raise AssertionError(f"an import circle in the engine: {knot}") from None
    assert "dashboard.engine.catalog.lessons" in order


# The engine's wings, bottom up: a wing imports itself and the wings below it; analysis and
# offline stand side by side and never import each other. doctor.py sits on top of them all.
WINGS = ("base", "catalog", ("analysis", "offline"), "ops", "progress")


def _floor(module: str) -> tuple[int, str]:
    """A module's floor and wing: dashboard.engine.ops.builds -> (3, "ops")."""
    parts = module.split(".")
    wing = parts[2] if len(parts) > 2 else ""
    for floor, wings in enumerate(WINGS):
        if wing == wings or wing in wings:
            return floor, wing
    return len(WINGS), wing  # doctor and the package itself


def test_every_import_in_the_engine_goes_down_its_wings():
    wrong = []
    for module, imported in engine_imports().items():
        floor, wing = _floor(module)
        for other in imported:
            other_floor, other_wing = _floor(other)
            if other_wing != wing and other_floor >= floor:
                wrong.append(f"{module} ({wing}) imports {other} ({other_wing})")
    assert wrong == []
    assert {p.name for p in (PACKAGE / "engine").iterdir() if p.is_dir()} - {"__pycache__"} == {
        "base",
        "catalog",
        "analysis",
        "offline",
        "ops",
        "progress",
    }
