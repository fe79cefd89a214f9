"""Classroom mode in headless Chromium against the real daemon: two students, each in a browser of
their own, pick a name on the welcome page, build Lesson 1's image at the same time (the second
build waits in the server's queue and says so), and the instructor's page lists both, in the
queue and then in the roster. Each student gets an image under their own name with their student
label, a reload keeps the name, and "Change name" asks for it again.

The server is one of this module's own, started with DASHBOARD_CLASSROOM=1 and one build slot
(the session-wide `app_url` one is not in classroom mode). Screenshots go to
test-artifacts/screenshots like the other e2e tests. The AppTest twin is
tests/app/test_classroom.py.
"""

from __future__ import annotations

import contextlib
import re
import shutil

import pytest
from playwright.sync_api import expect

from dashboard.engine.base import labels, owner
from dashboard.engine.ops import cleanup
from dashboard.ui import text as T
from tests.e2e.browser import (
    ARTIFACTS,
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
H1 = "[data-testid='stMainBlockContainer'] h1"


@pytest.fixture(scope="module")
def students(docker_client, session_id):
    """Two student slugs of this run; whatever they made on the daemon is removed at the end."""
    suffix = owner.slug(session_id.removeprefix("test-"))[: owner.MAX_NAME - 4].strip("-")
    names = (owner.slug(f"ada-{suffix}"), owner.slug(f"bob-{suffix}"))
    yield names
    for name in names:
        cleanup.reset(docker_client, student=name)


@pytest.fixture(scope="module")
def classroom_url(students, session_id, tmp_path_factory):
    """A dashboard of its own in classroom mode, one build at a time, with its own data folder."""
    tmp = tmp_path_factory.mktemp("streamlit-classroom")
    env = {
        "DASHBOARD_DATA_DIR": str(tmp / "data"),
        "DASHBOARD_COMPOSE_PROJECT": f"wine-{session_id}".lower(),
        "DASHBOARD_TAG_SUFFIX": session_id.lower(),
        "DASHBOARD_SESSION": session_id,
        "DASHBOARD_CLASSROOM": "1",
        "DASHBOARD_BUILD_SLOTS": "1",
        "DASHBOARD_INSTRUCTOR_KEY": "",  # the page must not ask for one
    }
    log = tmp / "server.log"
    try:
        with serve(log, env) as url:
            yield url
    except RuntimeError as exc:
        pytest.fail(str(exc))
    finally:
        # The server's console (tracebacks the page hides are logged there), next to the shots.
        if log.exists():
            ARTIFACTS.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, ARTIFACTS.parent / "e2e-server-classroom.log")


@pytest.fixture
def new_page(browser):
    """Pages in browser contexts of their own (one Streamlit session each, like separate
    computers), recording uncaught JS errors as tests/e2e/conftest.py's `page` does."""
    contexts = []

    def make():
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        return watched_page(context)

    yield make
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()


def title(page):
    return page.locator(H1).first


def student_param(name: str) -> re.Pattern:
    return re.compile(rf"[?&]student={re.escape(name)}(&|$)")


def sign_in(page, url: str, name: str) -> None:
    """The welcome form: type the name, press Start; the name goes into the URL."""
    open_url(page, url + "/")
    expect(title(page)).to_have_text(T.TITLE_WELCOME)
    assert_clean(page)
    name_box(page).fill(name)
    page.locator("[data-testid='stForm']").get_by_role("button", name=T.START_CLASS).click()
    page.wait_for_url(student_param(name), timeout=PAGE_MS)
    expect(title(page)).not_to_have_text(T.TITLE_WELCOME, timeout=PAGE_MS)
    wait_idle(page)
    assert_clean(page)
    expect(sidebar_student(page, name)).to_be_visible()


def name_box(page):
    return page.get_by_role("textbox", name=T.STUDENT_NAME, exact=True)


def sidebar_student(page, name: str):
    """The sidebar's "Student `NAME`" line."""
    return page.locator("[data-testid='stSidebarContent'] code", has_text=re.compile(f"^{name}$"))


def running_now(page, name: str):
    """The sidebar's "Running now" line of the student's build (drawn by the page's full run,
    so it stays put while the build panel's fragment redraws)."""
    return page.locator(
        "[data-testid='stSidebarContent'] [data-testid='stCaptionContainer']",
        has_text=f"build {name}/{IRIS}",
    )


def build_command(page):
    """The build button's command (not the Makefile, whose recipe also says `docker build`)."""
    return page.locator("[data-testid='stCode']", has_text=re.compile(r"^\s*docker build")).first


def table_rows(page, column: str) -> list[dict[str, str]]:
    """The rows of the first st.dataframe with a `column` column, as text. The grid draws on a
    canvas; its cells are also in the grid's accessible table, which is what this reads."""
    header = page.locator("[role='columnheader']", has_text=re.compile(f"^{re.escape(column)}$"))
    grid = page.locator("[data-testid='stDataFrame']").filter(has=header).first.locator("table")
    grid.first.wait_for(state="attached", timeout=PAGE_MS)
    names = grid.first.locator("[role='columnheader']").all_text_contents()
    return [
        dict(zip(names, row.locator("[role='gridcell']").all_text_contents(), strict=True))
        for row in grid.first.locator("tbody tr").all()
    ]


def test_two_students_queue_and_instructor_sees_both(
    new_page, classroom_url, students, docker_client
):
    ada_name, bob_name = students
    ada, bob = new_page(), new_page()
    for page, name in ((ada, ada_name), (bob, bob_name)):
        sign_in(page, classroom_url, name)
    screenshot(ada, "classroom-1-signed-in")

    # Ada opens Lesson 1 by URL (the name rides along in ?student=); Bob through the sidebar
    # (his browser session knows the name).
    open_url(ada, f"{classroom_url}/lesson1?student={ada_name}")
    bob.locator("[data-testid='stSidebarNavLink'][href$='/lesson1']").click()
    bob.wait_for_url(re.compile(r"/lesson1"), timeout=PAGE_MS)
    expect(title(bob)).to_contain_text("Lesson 1", timeout=PAGE_MS)
    wait_idle(bob)
    for page, name in ((ada, ada_name), (bob, bob_name)):
        expect(title(page)).to_contain_text("Lesson 1")
        expect(build_command(page)).to_contain_text(f"-t {name}/{IRIS} ")
        expect(metric(page, "Image size")).to_have_count(0)  # nothing of theirs built yet
        assert_clean(page)

    teacher = new_page()
    open_url(teacher, f"{classroom_url}/classroom")
    expect(title(teacher)).to_have_text(T.TITLE_CLASSROOM)
    expect(teacher.locator(".st-key-instructor-key")).to_have_count(0)  # no key configured
    assert_clean(teacher)

    # Ada rebuilds every step (slow: it reinstalls the packages); Bob presses right after her.
    ada.locator(".st-key-iris-nocache label").click()
    expect(build_command(ada)).to_contain_text("--no-cache")
    wait_idle(ada)
    button(ada, "build-iris").click()
    expect(running_now(ada, ada_name)).to_be_visible(timeout=PAGE_MS)
    button(bob, "build-iris").click()
    expect(running_now(bob, bob_name)).to_be_visible(timeout=PAGE_MS)
    shows(bob, "In the queue: number 1 (you are next)")
    screenshot(bob, "classroom-2-queue")

    # The instructor sees who builds and who waits.
    button(teacher, "classroom-refresh").click()
    wait_idle(teacher)
    queue = {row["student"]: row["position"] for row in table_rows(teacher, "position")}
    assert queue == {ada_name: "building now", bob_name: "waiting: 1"}, queue
    screenshot(teacher, "classroom-3-instructor-queue")

    for page in (ada, bob):
        # Bob's build starts only after Ada's: up to two builds' time.
        expect(metric(page, "Image size").first).to_be_visible(timeout=2 * JOB_MS)
        wait_idle(page)
        assert_clean(page)
    expect(bob.get_by_text("In the queue")).to_have_count(0)
    screenshot(ada, "classroom-4-ada-built")

    image_ids = {}
    for name in students:
        image = docker_client.images.get(f"{name}/{IRIS}")
        assert image.labels[labels.STUDENT] == name, image.labels
        image_ids[name] = image.id
    # Ada's --no-cache build made new layers: two images, not one under two names.
    assert image_ids[ada_name] != image_ids[bob_name]

    # Other students of other runs may be on the daemon too: these two are there, one build
    # and one image each. Refresh until the page shows it (a click's rerun may not have
    # started yet when the app still looks idle).
    def built_rows() -> dict:
        button(teacher, "classroom-refresh").click()
        wait_idle(teacher)
        return {row["student"]: row for row in table_rows(teacher, "checks")}

    roster = built_rows()
    for _ in range(20):
        if all(roster.get(n, {}).get("images") == "1" for n in students):
            break
        teacher.wait_for_timeout(1000)
        roster = built_rows()
    for name in students:
        assert name in roster, roster
        assert roster[name]["builds"] == "1" and roster[name]["images"] == "1", roster[name]
    expect(teacher.get_by_text("Nobody is building right now.")).to_be_visible()
    assert_clean(teacher)
    screenshot(teacher, "classroom-5-instructor-roster")

    # Bob's URL keeps his name: opened again (a reload, or the link the next day, is a new
    # browser session) it is his page, his image, no welcome form. (A new context rather
    # than bob.reload(): Chromium then reports the old session's download buttons as 404s,
    # their files gone with that session.)
    expect(bob).to_have_url(student_param(bob_name))
    again = new_page()
    open_url(again, bob.url)
    expect(title(again)).to_contain_text("Lesson 1", timeout=PAGE_MS)
    expect(sidebar_student(again, bob_name)).to_be_visible()
    expect(build_command(again)).to_contain_text(f"-t {bob_name}/{IRIS} ")
    expect(metric(again, "Image size").first).to_be_visible()
    assert_clean(again)
    screenshot(again, "classroom-6-bob-reopened")

    # "Change name" forgets Ada's name: the welcome form again, and no name in the URL.
    button(ada, "change-name").click()
    expect(title(ada)).to_have_text(T.TITLE_WELCOME, timeout=PAGE_MS)
    wait_idle(ada)
    assert "student=" not in ada.url, ada.url
    expect(name_box(ada)).to_be_visible()
    assert_clean(ada)
    screenshot(ada, "classroom-7-change-name")

    for page in (ada, bob, teacher):
        assert_clean(page)


def test_each_student_page_names_only_their_own_images(new_page, classroom_url, students):
    pages = {name: new_page() for name in students}
    for name, page in pages.items():
        sign_in(page, classroom_url, name)
        open_url(page, f"{classroom_url}/lesson1?student={name}")
        assert_clean(page)
    for name, page in pages.items():
        text = main_text(page)
        owners = set(re.findall(r"([a-z0-9][a-z0-9-]*)/iris-model", text))
        assert owners == {name}, f"{name}'s Lesson 1 names the images of {owners}"
        # The progress checks too (a bare iris-model:1.0 there is the laptop's name).
        assert f"Build the image {name}/{IRIS}" in text, text[:1500]
