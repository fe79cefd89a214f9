"""A new student's walk through every lesson in headless Chromium, in order, on a daemon that
already holds other work: an image under the student's lesson-1 name that the dashboard did not
build, and a container that is not the dashboard's. After each action the page must show the
new state, no panel may contradict another, and the check that the action completes must tick.

Lesson 1 (build, run, a detached container that exits), the cache page's two layer orders,
Lesson 3's multi-stage image, Lesson 4's wine pair up and down, the registry (start, push 1.0
then 2.0, rmi, pull, run, stop) and the session clean-up. The student is a classroom student
of this run (their own names on the shared daemon); what they made is removed at the end.
"""

from __future__ import annotations

import contextlib
import re

import docker
import pytest
from playwright.sync_api import expect

from dashboard.engine.base import owner
from dashboard.engine.ops import cleanup
from dashboard.ui import text as T
from tests.e2e.browser import (
    JOB_MS,
    PAGE_MS,
    VIEWPORT,
    assert_clean,
    button,
    main_text,
    metric,
    open_url,
    screenshot,
    serve,
    shows,
    wait_idle,
    watched_page,
)

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

IRIS = "iris-model:1.0"


@pytest.fixture(scope="module")
def student(docker_client, session_id):
    suffix = owner.slug(session_id.removeprefix("test-"))[: owner.MAX_NAME - 5].strip("-")
    name = owner.slug(f"walk-{suffix}")
    yield name
    cleanup.reset(docker_client, student=name)


@pytest.fixture(scope="module")
def walk_url(student, session_id, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("streamlit-walk")
    env = {
        "DASHBOARD_DATA_DIR": str(tmp / "data"),
        "DASHBOARD_COMPOSE_PROJECT": f"wine-walk-{session_id}".lower(),
        "DASHBOARD_TAG_SUFFIX": session_id.lower(),
        "DASHBOARD_SESSION": session_id,
        "DASHBOARD_CLASSROOM": "1",
        "DASHBOARD_INSTRUCTOR_KEY": "",
    }
    try:
        with serve(tmp / "server.log", env) as url:
            yield url
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def other_work(docker_client, student):
    """What the daemon held before the student came: an image of their lesson-1 name that the
    dashboard did not build, and a stopped container that is not the dashboard's."""
    base = docker_client.images.get("python:3.11-slim")
    base.tag(f"{student}/iris-model", "1.0")
    stranger = docker_client.containers.create("python:3.11-slim", ["true"])
    yield
    with contextlib.suppress(docker.errors.NotFound):
        stranger.remove(force=True)


def progress(page) -> tuple[int, int]:
    """The "Your progress: N of M steps done" of the page."""
    summary = page.locator("[data-testid='stExpander'] summary", has_text="Your progress").first
    expect(summary).to_be_visible(timeout=PAGE_MS)
    m = re.search(r"(\d+) of (\d+) steps done", summary.inner_text())
    assert m, summary.inner_text()
    return int(m.group(1)), int(m.group(2))


def ticked(page, title: str, timeout_ms: int = PAGE_MS) -> str:
    """Wait until the check `title` is ticked (its panel renews when a job ends or the daemon
    says something changed); its line and caption as text."""
    expander = page.locator("[data-testid='stExpander']", has_text="Your progress").first
    deadline_ms = timeout_ms
    while True:
        details = expander.locator("details")
        if details.count() and details.first.get_attribute("open") is None:
            expander.locator("summary").first.click()
        text = expander.inner_text()
        line = next((x for x in text.split("\n") if title in x), "")
        if line.startswith("check_circle"):
            return text
        if deadline_ms <= 0:
            raise AssertionError(f"check {title!r} not ticked: {text[:1500]}")
        page.wait_for_timeout(1000)
        deadline_ms -= 1000
        if deadline_ms % 5000 == 0:
            with contextlib.suppress(Exception):
                expander.get_by_role("button", name="Check again").click()


def go(page, url: str, path: str, student: str) -> None:
    open_url(page, f"{url}/{path}?student={student}")
    assert_clean(page)


def test_a_new_student_walks_every_lesson(browser, walk_url, student, other_work, docker_client):
    context = browser.new_context(viewport=VIEWPORT)
    page = watched_page(context)
    try:
        _walk(page, walk_url, student, docker_client)
    finally:
        screenshot(page, "walk-last")
        context.close()


def _walk(page, url, student, docker_client):
    image = f"{student}/{IRIS}"
    # ---------------------------------------------------------------- Lesson 1
    go(page, url, "lesson1", student)
    text = main_text(page)
    assert "outside this dashboard" in text  # the build panel says whose image is there
    assert "Not built from this dashboard yet" not in text
    done, total = progress(page)
    assert done == 0, "a check ticked from an image the dashboard did not build"
    expect(button(page, "build-iris")).to_contain_text(f"Build {image}")
    button(page, "build-iris").click()
    expect(metric(page, "Build time")).to_be_visible(timeout=JOB_MS)
    wait_idle(page)
    ticked(page, f"Build the image {image}")
    button(page, "run-iris").click()
    expect(metric(page, "Predicted class")).to_have_text("setosa", timeout=JOB_MS)
    wait_idle(page)
    ticked(page, "exits with code 0")
    assert progress(page) == (2, 2)
    screenshot(page, "walk-1-lesson1")

    # A detached container whose command ends: the panel follows it.
    name = f"count-{student[-6:]}"
    page.locator(".st-key-detach-name input").fill(name)
    page.locator(".st-key-detach-name input").press("Enter")
    wait_idle(page)
    page.locator(".st-key-detach-cmd input").fill("sleep 3")
    page.locator(".st-key-detach-cmd input").press("Enter")
    wait_idle(page)
    button(page, "start-detached").click()
    shows(page, f"Container {name} is running")
    shows(page, "(exit code 0).")
    shows(page, f"Container {name} started (sleep 3); it has since exited")
    wait_idle(page)
    assert f"Container {name} is running" not in main_text(page)
    assert_clean(page)

    # ---------------------------------------------------------------- the cache page
    go(page, url, "cache", student)
    button(page, "compare-orders").click()
    shows(page, "then rebuilt both images", timeout_ms=2 * JOB_MS)
    wait_idle(page)
    text = ticked(page, "Compare the two layer orders after an edit")
    assert "ran pip install again" in text and "took pip install from the cache" in text
    assert_clean(page)
    screenshot(page, "walk-2-cache")

    # ---------------------------------------------------------------- Lesson 3
    go(page, url, "multistage", student)
    button(page, "build-multistage").click()
    shows(page, "Docker ran", timeout_ms=2 * JOB_MS)
    wait_idle(page)
    ticked(page, "the multi-stage image as taught")
    button(page, "run-multistage").click()
    expect(metric(page, "Predicted class").first).to_have_text("setosa", timeout=JOB_MS)
    wait_idle(page)
    ticked(page, "it predicts with the model trained during the build")
    assert_clean(page)
    screenshot(page, "walk-3-multistage")

    # ---------------------------------------------------------------- Lesson 4
    go(page, url, "compose", student)
    button(page, "compose-up").click()
    shows(page, "Wine #0: predicted", timeout_ms=2 * JOB_MS)
    wait_idle(page)
    ticked(page, "the predictor prints its predictions", timeout_ms=JOB_MS)
    button(page, "compose-down").click()
    shows(page, "then removed by docker compose down")
    wait_idle(page)
    assert "exited (exit 0)\n" not in main_text(page).replace("then removed", "")
    assert_clean(page)
    screenshot(page, "walk-4-compose")

    # ---------------------------------------------------------------- the registry
    go(page, url, "registry", student)
    expect(button(page, "registry-push-2")).to_be_disabled()
    button(page, "registry-up").click()
    shows(page, "answers on http://")
    wait_idle(page)
    expect(button(page, "registry-push-2")).to_be_disabled()  # 1.0 first
    button(page, "registry-push-1").click()
    expect(metric(page, "Took")).to_have_count(1, timeout=JOB_MS)
    wait_idle(page)
    ticked(page, f"Push {image}")
    expect(button(page, "registry-push-2")).to_be_enabled(timeout=PAGE_MS)
    button(page, "registry-push-2").click()
    expect(metric(page, "Took")).to_have_count(2, timeout=2 * JOB_MS)
    wait_idle(page)
    # The lesson's point: 2.0's base layers were in the registry already.
    expect(metric(page, "Layer already exists").nth(1)).not_to_have_text("0")
    button(page, "registry-rmi").click()
    wait_idle(page)
    button(page, "registry-pull").click()
    wait_idle(page)
    button(page, "registry-run").click()
    shows(page, "setosa", timeout_ms=JOB_MS)
    wait_idle(page)
    ticked(page, "back and run it", timeout_ms=JOB_MS)
    # With its volume: what this walk pushed must not be in the next test's registry.
    page.locator(".st-key-registry-volume label").click()
    wait_idle(page)
    button(page, "registry-down").click()
    shows(page, "it does not run now")
    wait_idle(page)
    assert " yet" not in next(
        (x for x in main_text(page).split("\n") if x.startswith("No registry runs")), ""
    )
    assert_clean(page)
    screenshot(page, "walk-5-registry")

    # ---------------------------------------------------------------- clean-up
    go(page, url, "sizes", student)
    expect(button(page, "clean-session")).to_contain_text(T.CLEAN_SESSION)
    button(page, "clean-session").click()
    shows(page, "Removed: container")
    wait_idle(page)
    assert_clean(page)
    left = docker_client.containers.list(
        all=True, filters={"label": [f"io.dockerml.dashboard.student={student}"]}
    )
    assert not left, [c.name for c in left]
    assert docker_client.images.get(image)  # a containers clean-up leaves the images
    screenshot(page, "walk-6-clean-up")
