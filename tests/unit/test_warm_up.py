"""A seat's warm-up (dashboard/work/warm_up.py): which modules it loads, and that it loads them
once, before its ready route answers."""

from __future__ import annotations

import sys

from dashboard.work import warm_up


def test_it_loads_what_the_pages_import_and_not_the_dashboards_streamlit_side(tmp_path):
    names = warm_up.page_modules()
    assert {"pandas", "plotly.graph_objects", "streamlit", "dashboard.engine.catalog.labs"} <= set(
        names
    )
    # Streamlit registers the terminal's component only when a page run imports it.
    assert not [n for n in names if n.startswith(("dashboard.pages", "dashboard.ui"))]
    page = tmp_path / "page.py"
    page.write_text("import json\nfrom email import message, nothing_such\nfrom . import near\n")
    assert warm_up.page_modules([page]) == [
        "email",
        "email.message",
        "email.nothing_such",
        "json",
    ]
    assert warm_up.load(["json", "email.nothing_such", "email.message"]) == 2


def test_warming_runs_once_and_says_when_it_is_done(monkeypatch):
    calls = []
    monkeypatch.setattr(warm_up, "page_modules", lambda: calls.append(1) or ["json"])
    warming = warm_up.Warming()
    assert not warming.done
    warming.start()
    warming.start()
    warming._thread.join(10)
    assert warming.done and warming.modules == 1 and calls == [1]
    assert warming.seconds is not None and "json" in sys.modules
