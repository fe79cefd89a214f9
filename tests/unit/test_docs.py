"""The documentation site (mkdocs.yml, docs/): it builds with warnings as errors, its command line
reference is the parser's own, and README.md stays a door into it."""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard import cli

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _hook():
    """docs/hooks/generated.py, the MkDocs hook that writes the generated parts of the pages."""
    spec = importlib.util.spec_from_file_location("docs_generated", DOCS / "hooks/generated.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "mkdocs.yml", "-d", site],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The generated and included parts are in the pages, not their markers.
    reference = (site / "cli/index.html").read_text()
    assert "generated: cli" not in reference and "usage: python -m dashboard registry" in reference
    assert "DASHBOARD_TERMINAL_IDLE" in (site / "configuration/index.html").read_text()
    benchmarks = (site / "benchmarks/index.html").read_text()
    assert "include-markdown" not in benchmarks and "Written by <code>python -m bench</code>" in (
        benchmarks
    )
    assert 'src="images/lesson1.png"' in (site / "index.html").read_text()  # README, the home page


def test_the_command_line_reference_is_made_from_the_parser():
    assert "<!-- generated: cli -->" in (DOCS / "cli.md").read_text()
    reference = _hook().render("<!-- generated: cli -->")
    parser = cli.build_parser()
    verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(verbs.choices) == set(cli.HANDLERS)
    for name, sub in verbs.choices.items():
        assert f"### `{name}`" in reference
        assert f"usage: {sub.prog} [-h]" in reference
        for action in sub._actions:
            for option in action.option_strings:
                if isinstance(action, argparse._HelpAction):
                    continue
                assert f"`{option}" in reference, (name, option)
            for choice in action.choices or ():
                assert f"`{choice}`" in reference, (name, choice)


def test_an_unknown_marker_stops_the_build():
    with pytest.raises(ValueError, match="no such generator"):
        _hook().render("<!-- generated: nothing -->")


def test_readme_is_two_screens_whose_links_all_lead_somewhere():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 100, "README.md is the door: the rest belongs in docs/"
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
            # README is the site's home page too (docs/index.md includes it): it links into docs/
            assert target.startswith("docs/"), target


def test_every_lesson_page_of_the_app_has_its_page_in_the_docs_and_a_row_in_readme():
    readme = (ROOT / "README.md").read_text()
    for page in sorted((ROOT / "dashboard/pages").glob("*.py")):
        if page.stem in {"classroom", "docker_unreachable"}:  # the instructor's, the fallback
            continue
        doc = f"docs/lessons/{page.stem.replace('_', '-')}.md"
        assert (ROOT / doc).is_file(), doc
        assert f"]({doc})" in readme, doc
