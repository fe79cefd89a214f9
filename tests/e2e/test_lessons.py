"""The dashboard in headless Chromium against the real daemon: every page loads clean, the sidebar
navigation works, lesson 1 builds and runs the iris image and shows "setosa", and presentation
mode makes the type bigger. Screenshots of each page and stage go to test-artifacts/screenshots.

The build of iris-model:1.0 reuses the lab tag other tests use; its steps come from the cache when
the image was built before, and the image content stays the same either way.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from dashboard.ui import shell
from tests.e2e.browser import (
    JOB_MS,
    PAGE_MS,
    assert_clean,
    button,
    main_text,
    metric,
    nav_link,
    nav_links,
    open_url,
    screenshot,
    slug,
    wait_idle,
)

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


def page_path(spec: shell.PageSpec) -> str:
    return "/" if spec is shell.WHY else f"/{spec.url_path}"


# Every page the frame registers, plus the default page's twin at its own name.
PATHS = [page_path(spec) for spec in shell.PAGES] + [f"/{shell.WHY.url_path}"]


def title(page) -> str:
    return page.locator("[data-testid='stMainBlockContainer'] h1").first.inner_text()


@pytest.mark.parametrize("path", PATHS)
def test_page_loads_clean_by_url(page, app_url, path):
    open_url(page, app_url + path)
    assert_clean(page)
    assert title(page)
    screenshot(page, f"page-{slug(path)}")


def test_sidebar_navigation_reaches_every_page(page, app_url):
    open_url(page, app_url + "/")
    links = nav_links(page)
    paths = [link.path for link in links]
    # The navigation is the list to click through; it must offer every page the frame declares.
    assert {page_path(spec) for spec in shell.PAGES} <= set(paths), links
    assert len(paths) == len(set(paths)), links

    seen_titles = {title(page)}
    # From the first page to each other one, then back to the first.
    for index, link in enumerate(links[1:] + links[:1], start=1):
        before = title(page)
        nav_link(page, link).click()
        page.wait_for_url(re.compile(re.escape(link.href) + r"/?$"), timeout=PAGE_MS)
        expect(page.locator("[data-testid='stMainBlockContainer'] h1").first).not_to_have_text(
            before, timeout=PAGE_MS
        )
        wait_idle(page)
        assert_clean(page)
        seen_titles.add(title(page))
        active = page.locator("[data-testid='stSidebarNavLink'][aria-current='page']")
        expect(active).to_have_attribute("href", link.href)
        screenshot(page, f"nav-{index:02d}-{slug(link.title)}")
    # Each page has its own title: the clicks really changed the page.
    assert len(seen_titles) == len(links), seen_titles


def test_lesson1_build_then_run_shows_setosa(page, app_url, expected_builder):
    # BuildKit counts [1/5]..[5/5] as the lecture does; the classic builder Step 1/7..7/7.
    buildkit = expected_builder == "buildkit"
    total = 5 if buildkit else 7
    live_line = r"\[\d/5\]" if buildkit else r"Step \d/7"
    open_url(page, app_url + "/lesson1")
    assert_clean(page)
    screenshot(page, "lesson1-1-before-build")
    build_time = metric(page, "Build time")
    expect(build_time).to_have_count(0)  # a fresh server: no build job yet

    button(page, "build-iris").click()
    # The job shows live (a progress bar and the log), unless every step came from the cache so
    # fast that the report is already there.
    progress = page.locator("[data-testid='stProgress']")
    expect(progress.or_(build_time).first).to_be_visible(timeout=JOB_MS)
    if progress.count():
        # Live: the log shows the builder's own step lines as they come.
        live_step = page.locator("[data-testid='stCode']", has_text=re.compile(live_line))
        expect(live_step.first.or_(build_time).first).to_be_visible(timeout=JOB_MS)
        if progress.count():
            screenshot(page, "lesson1-2-building")
    expect(build_time).to_be_visible(timeout=JOB_MS)
    wait_idle(page)
    assert_clean(page)

    expect(metric(page, "Image size").first).to_have_text(re.compile(r"^\d+(\.\d)? (MB|GB)$"))
    cached = re.compile(rf"^[0-{total}] / {total}$")
    expect(metric(page, "Steps from cache")).to_have_text(cached)
    summary = page.locator("[data-testid='stAlertContentSuccess']", has_text="Dockerfile steps")
    expect(summary).to_contain_text(f"Docker ran {total} Dockerfile steps")
    expect(summary).to_contain_text("iris-model:1.0")
    # The steps table and the timeline chart come after the summary, in the build's panel.
    after_summary = page.locator(
        "[data-testid='stElementContainer']:has([data-testid='stAlertContentSuccess']"
        ":has-text('Dockerfile steps')) ~ [data-testid='stElementContainer']"
    )
    expect(after_summary.locator("[data-testid='stDataFrame']").first).to_be_visible()
    timeline = after_summary.locator("[data-testid='stPlotlyChart']").first
    expect(timeline).to_contain_text("FROM ")
    expect(timeline).to_contain_text("COPY main.py" if buildkit else "CMD")
    screenshot(page, "lesson1-3-built")

    predicted = metric(page, "Predicted class")
    expect(predicted).to_have_count(0)
    button(page, "run-iris").click()
    expect(predicted).to_have_text("setosa", timeout=JOB_MS)
    wait_idle(page)
    assert_clean(page)
    assert "setosa" in main_text(page)
    expect(metric(page, "Exit code")).to_have_text("0")
    expect(metric(page, "Accuracy")).to_have_text(re.compile(r"^(0\.\d\d|1\.00)$"))
    screenshot(page, "lesson1-4-ran")


def _font_px(page, selector: str) -> float:
    size = page.locator(selector).first.evaluate("e => getComputedStyle(e).fontSize")
    return float(size.removesuffix("px"))


def cut_nav_labels(page) -> list[str]:
    """Page names in the sidebar that are cut off with an ellipsis."""
    return page.evaluate(
        """() => [...document.querySelectorAll(
                '[data-testid="stSidebarNavLink"] [data-testid="stMarkdownContainer"]')]
            .filter(e => [e, ...e.querySelectorAll('*')]
                .some(x => x.scrollWidth > x.clientWidth + 1))
            .map(e => e.innerText)"""
    )


def test_presentation_mode_makes_type_bigger(page, app_url):
    open_url(page, app_url + "/lesson1")
    paragraph = "[data-testid='stMainBlockContainer'] [data-testid='stMarkdownContainer'] p"
    heading = "[data-testid='stMainBlockContainer'] h1"
    before = _font_px(page, paragraph), _font_px(page, heading)
    root_before = _font_px(page, "html")
    assert not cut_nav_labels(page)
    toggle = page.locator(".st-key-presentation input[type='checkbox']")
    expect(toggle).not_to_be_checked()

    page.locator(".st-key-presentation label").first.click()
    expect(toggle).to_be_checked()
    wait_idle(page)
    page.wait_for_function(
        "([sel, px]) => parseFloat(getComputedStyle(document.querySelector(sel)).fontSize) > px",
        arg=[paragraph, before[0]],
        timeout=PAGE_MS,
    )
    after = _font_px(page, paragraph), _font_px(page, heading)
    assert after[0] >= before[0] * 1.2, (before, after)
    assert after[1] > before[1], (before, after)
    assert_clean(page)
    assert not cut_nav_labels(page)  # the sidebar grows with the type
    screenshot(page, "presentation-lesson1")

    # It stays on while moving to another page (session state), and that page is clean too.
    page.locator("[data-testid='stSidebarNavLink']", has_text="Layers and the cache").click()
    page.wait_for_url(re.compile(r"/cache/?$"), timeout=PAGE_MS)
    wait_idle(page)
    expect(toggle).to_be_checked()
    assert _font_px(page, "html") > root_before
    assert_clean(page)
    screenshot(page, "presentation-cache")
