"""Classroom mode, two students at once on the real daemon: each picks a name, both build and
run Lesson 1 at the same time, the second build waits in the queue, each gets their own image
and container, and one student's reset leaves the other's untouched.

The two AppTest sessions share this process's job registry and build queue, like two browser
tabs on one classroom server (the browser version is tests/e2e/test_classroom.py).
"""

from __future__ import annotations

import docker
import pytest

from dashboard.engine.base import labels, owner
from dashboard.engine.catalog import labs
from dashboard.engine.ops import cleanup
from tests.app.helpers import assert_clean, metrics, new_app, succeeded, wait_for

pytestmark = pytest.mark.docker


@pytest.fixture
def students(isolated, monkeypatch, session_id, docker_client):
    """Two student names of this test run; whatever they made is removed at the end."""
    monkeypatch.setenv("DASHBOARD_CLASSROOM", "1")
    monkeypatch.setenv("DASHBOARD_BUILD_SLOTS", "1")
    suffix = session_id.lower().removeprefix("test-")
    names = (f"ada-{suffix}", f"bob-{suffix}")
    yield names
    for name in names:
        cleanup.reset(docker_client, student=name)


def sign_in(name: str, page: str):
    at = new_app()
    at.run()
    assert [t.value for t in at.title] == ["Welcome to the Docker class"]
    at.text_input[0].input(name)
    at.button(key="FormSubmitter:student-form-Start").click().run()
    assert_clean(at)
    assert at.query_params["student"] in (name, [name])  # kept in the URL for reloads
    return at.switch_page(f"pages/{page}").run()


def image_of(name: str) -> str:
    return labs.scoped(labs.LABS["iris"], owner.for_student(name)).image


def table(at, column: str):
    """The first dataframe with `column` (AppTest finds dataframes by position, not key)."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with a {column!r} column on the page")


def built(at) -> bool:
    return "Image size" in metrics(at)


def queued(at) -> bool:
    return any("In the queue: number 1" in i.value for i in at.info)


def test_a_bad_name_is_refused_with_the_reason(students):
    at = new_app()
    at.run()
    at.text_input[0].input("  ***  ")
    at.button(key="FormSubmitter:student-form-Start").click().run()
    assert any("at least one letter or digit" in e.value for e in at.error)
    assert [t.value for t in at.title] == ["Welcome to the Docker class"]  # still asking


def test_two_students_build_run_and_reset_apart(docker_client, students):
    ada_name, bob_name = students
    ada = sign_in(ada_name, "lesson1.py")
    bob = sign_in(bob_name, "lesson1.py")
    assert any(f"-t {image_of(ada_name)} " in c.value for c in ada.code)
    assert any(f"-t {image_of(bob_name)} " in c.value for c in bob.code)

    # Ada's build reinstalls every package (--no-cache): Bob, pressing Build right after,
    # waits in the queue and sees his place in it.
    ada.checkbox(key="iris-nocache").check().run()
    ada.button(key="build-iris").click().run()
    assert_clean(ada)
    bob.button(key="build-iris").click().run()
    assert_clean(bob)
    wait_for(bob, lambda a: queued(a) or built(a), timeout=120, what="Bob's build to queue")
    assert queued(bob), "Bob's build did not wait for Ada's"

    teacher = new_app()
    teacher.run()
    teacher.switch_page("pages/classroom.py").run()
    assert_clean(teacher)
    queue = table(teacher, "position")
    assert dict(zip(queue["student"], queue["position"], strict=True)) == {
        ada_name: "building now",
        bob_name: "waiting: 1",
    }

    wait_for(ada, built, timeout=600, what="Ada's build")
    wait_for(bob, built, timeout=600, what="Bob's build after Ada's")
    assert_clean(ada)
    assert_clean(bob)

    images = {}
    for name in students:
        image = docker_client.images.get(image_of(name))
        assert image.labels[labels.STUDENT] == name
        images[name] = image.id
    assert images[ada_name] != images[bob_name]

    for at in (ada, bob):
        at.button(key="run-iris").click().run()
    for at in (ada, bob):
        wait_for(at, lambda a: "Predicted class" in metrics(a), timeout=180, what="the run")
        assert metrics(at)["Predicted class"] == "setosa"
    containers = {}
    for name in students:
        found = docker_client.containers.list(
            all=True, filters={"label": [f"{labels.STUDENT}={name}"]}
        )
        assert len(found) == 1, found
        assert found[0].labels[labels.SESSION] == f"student-{name}"
        assert found[0].image.id == images[name]
        containers[name] = found[0].id
    # Each student's `docker ps -a` on the page lists their container only.
    for at, name in ((ada, ada_name), (bob, bob_name)):
        at.run()
        listed = table(at, "exit code")
        assert list(listed["id"]) == [docker_client.containers.get(containers[name]).short_id]
        assert list(listed["image"]) == [image_of(name)]

    # The instructor sees both, with their progress.
    teacher.run()
    roster = table(teacher, "checks")
    rows = {r["student"]: r for r in roster.to_dict("records")}
    assert set(rows) >= set(students)
    for name in students:
        assert rows[name]["containers"] == 1 and rows[name]["images"] >= 1

    # Ada removes everything she made, images included: Bob keeps all of his.
    ada.switch_page("pages/sizes.py").run()
    ada.checkbox(key="clean-all-sure").check().run()
    ada.button(key="clean-all").click().run()
    wait_for(ada, lambda a: any("Clean-up:" in s.value for s in a.success), 120, "Ada's clean-up")
    assert not docker_client.containers.list(
        all=True, filters={"label": [f"{labels.STUDENT}={ada_name}"]}
    )
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image_of(ada_name))
    assert docker_client.containers.get(containers[bob_name]).status == "exited"
    assert docker_client.images.get(image_of(bob_name)).id == images[bob_name]

    # Bob's page still shows his image and his container.
    bob.run()
    assert_clean(bob)
    assert built(bob)
    assert len(table(bob, "exit code")) == 1


def test_each_student_runs_make_with_their_own_names_in_their_own_copy(students, session_id):
    ada_name, bob_name = students
    ada = sign_in(ada_name, "lesson1.py")
    bob = sign_in(bob_name, "lesson1.py")
    suffix = session_id.lower()
    for at, name in ((ada, ada_name), (bob, bob_name)):
        command = next(
            c.value for c in at.code if c.value.startswith("cd ") and "\nmake " in c.value
        )
        assert f"/students/{name}/workspace/iris\n" in command  # the student's own copy
        assert f"make IMAGE={name}/iris-model TAG=1.0-{suffix} NAME=iris-run-{name}-{suffix} " in (
            command
        )
        assert f"--label {labels.STUDENT}={name}" in command
        assert f"--label {labels.SESSION}=student-{name}" in command

    # Ada's own target is hers: Bob's Makefile has none.
    ada.text_input(key="make-new-name-iris").input("sizes").run()
    ada.button(key="make-add-iris").click().run()
    ada.button(key="make-iris-sizes").click().run()
    wait_for(ada, lambda a: succeeded(a, "`make sizes` finished with exit status 0"), 60, "sizes")
    assert any(c.value.startswith(f"docker images {ada_name}/iris-model") for c in ada.code)
    bob.run()
    assert "make-iris-sizes" not in {b.key for b in bob.button}
    assert_clean(bob)

    # Nor may Bob add one that reads Ada's container: the engine is theirs together.
    bob.text_input(key="make-new-name-iris").input("peek").run()
    bob.text_input(key="make-new-recipe-iris").input(f"docker logs iris-run-{ada_name}").run()
    assert any("looks only at your own things" in e.value for e in bob.error), bob.error
    assert bob.button(key="make-add-iris").disabled
    bob.text_input(key="make-new-recipe-iris").input("docker logs $(NAME)").run()
    assert not bob.error and not bob.button(key="make-add-iris").disabled


def test_a_hub_seat_is_its_students_without_a_name_to_pick(isolated, monkeypatch, session_id):
    """A classroom hub's seat (DASHBOARD_SEAT, set by the hub's spawner): no welcome form, no
    "Change name", the student's namespace on every page, and a ?student= in the URL changes
    nothing (the hub logged this student in; the URL is anybody's to type)."""
    name = f"cy-{session_id.lower().removeprefix('test-')}"
    monkeypatch.setenv("DASHBOARD_SEAT", name)
    at = new_app()
    at.query_params["student"] = "mallory"
    at.run()
    assert_clean(at)
    assert "Welcome to the Docker class" not in [t.value for t in at.title]
    assert not [b for b in at.sidebar.button if b.key == "change-name"]
    assert any("Your own seat" in c.value for c in at.sidebar.caption)
    at = at.switch_page("pages/lesson1.py").run()
    assert_clean(at)
    assert at.button(key="build-iris").label.endswith(f"{name}/iris-model:1.0")


def test_a_seat_lesson_that_starts_beside_another_session_is_still_its_students(
    isolated, monkeypatch, session_id
):
    """A fresh seat, as its student opens it through the hub: the login lands on one page while
    the lesson opens in another session. Until a server's first st.navigation, Streamlit runs a
    page file directly (its legacy pages folder); here the other session's st.navigation comes
    while the lesson's direct run is under way, as it did in the hub test (CI). The lesson still
    renders inside the frame, for the seat's student: her image name on the build button."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import script_runner

    name = f"di-{session_id.lower().removeprefix('test-')}"
    monkeypatch.setenv("DASHBOARD_SEAT", name)
    direct_run = script_runner._mpa_v1

    def beside_another_session(main_script_path):
        PagesManager.uses_pages_directory = False  # the other session's st.navigation
        direct_run(main_script_path)

    monkeypatch.setattr(script_runner, "_mpa_v1", beside_another_session)
    at = new_app()
    at.switch_page("pages/lesson1.py").run()
    assert_clean(at)
    assert at.button(key="build-iris").label == f"Build {name}/iris-model:1.0"
    assert any("Your own seat" in c.value for c in at.sidebar.caption)  # the frame is there
