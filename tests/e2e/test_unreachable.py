"""The dashboard with DOCKER_HOST pointing at a socket that does not exist: the "Docker is not
reachable" page says why and how to fix it, with no traceback; a lesson URL shows the same fix,
and the theory pages stay readable. Needs no daemon (a second `streamlit run`, see conftest.py).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from dashboard.ui import text as T
from tests.e2e.browser import assert_clean, main_text, nav_links, open_url, screenshot

pytestmark = pytest.mark.e2e

SOCKET = "unix:///tmp/nonexistent.sock"


def assert_fix_shown(page) -> None:
    main = page.locator("[data-testid='stMain']")
    expect(main.locator("h1").first).to_have_text(T.TITLE_DOWN)
    # The engine's sentence (why), the endpoint it tried and where that came from, the hint.
    error = main.locator("[data-testid='stAlertContentError']").first
    expect(error).to_contain_text("No Docker daemon socket")
    expect(error).to_contain_text(SOCKET)
    expect(main).to_contain_text("DOCKER_HOST")
    hint = main.locator("[data-testid='stAlertContentInfo']").first
    expect(hint).to_contain_text("sudo systemctl start docker")
    # The per-OS instructions: the Linux tab is open, with the commands to type.
    expect(main.get_by_role("tab", name="Linux")).to_be_visible()
    expect(main.locator("[data-testid='stCode']").first).to_contain_text("docker info")
    expect(main.locator(".st-key-retry-daemon button")).to_be_visible()


def test_unreachable_daemon_page_shows_the_fix(page, down_url):
    open_url(page, down_url + "/")
    assert_fix_shown(page)
    assert_clean(page)
    expect(page.locator("[data-testid='stSidebar']")).to_contain_text("not reachable")
    screenshot(page, "down-1-home")

    # The other tabs hold the other systems' fixes.
    page.get_by_role("tab", name="macOS").click()
    expect(page.locator("[data-testid='stMain']")).to_contain_text("Docker Desktop")
    screenshot(page, "down-2-macos-tab")

    # Retry asks the daemon again; it is still missing, so the same page comes back, clean.
    page.locator(".st-key-retry-daemon button").click()
    assert_fix_shown(page)
    assert_clean(page)


def test_unreachable_lesson_url_shows_the_fix_and_theory_stays_readable(page, down_url):
    open_url(page, down_url + "/lesson1")
    assert_fix_shown(page)
    assert_clean(page)
    screenshot(page, "down-3-lesson1")

    # Only the theory pages are offered while the daemon is down, and they render.
    paths = [link.path for link in nav_links(page)]
    assert "/lesson1" not in paths, paths
    assert "/cicd" in paths, paths
    page.locator("[data-testid='stSidebarNavLink'][href$='/cicd']").click()
    page.wait_for_url(re.compile(r"/cicd/?$"))
    expect(page.locator("[data-testid='stMain'] h1").first).to_have_text(T.TITLE_CICD)
    assert_clean(page)
    assert T.TITLE_DOWN not in main_text(page)
    screenshot(page, "down-4-cicd")
