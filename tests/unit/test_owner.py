"""Classroom mode's owner without a daemon: student names as namespaces (slug), the current owner
as a context variable, and what it scopes: labels, lab image names and Compose projects, the data
folder, the history database, working-copy tags and the students found on disk.
"""

from __future__ import annotations

import re
import threading

import pytest

from dashboard.engine.base import labels, owner, paths
from dashboard.engine.catalog import labs
from dashboard.engine.progress import classroom, history
from dashboard.work import workspace

# Docker's grammar for one path component of a repository name, and Compose's project name.
DOCKER_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*")
COMPOSE_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]*")

SAMPLE_NAMES = [
    "Ada Lovelace",
    "  ÉVA_2 ",
    "O'Brien",
    "jean--luc",
    "x.y",
    "a__b",
    "__Bob__",
    "42",
    "Grace Hopper (CS 101)",
    "z" * owner.MAX_NAME,
]


@pytest.fixture
def ada() -> owner.Owner:
    return owner.for_student("Ada")


# slug


def test_slug_lowercases_and_joins_words_with_a_dash():
    assert owner.slug("Ada Lovelace") == "ada-lovelace"
    assert owner.slug("ada") == "ada"
    assert owner.slug("Grace  Hopper!!") == "grace-hopper"


def test_slug_turns_every_run_outside_a_z_0_9_into_one_dash_and_trims_them():
    assert owner.slug("  ÉVA_2 ") == "eva-2"
    assert owner.slug("jean--luc") == "jean-luc"
    assert owner.slug("a__b") == "a-b"
    assert owner.slug("x.y") == "x-y"
    assert owner.slug("__Bob__") == "bob"
    assert owner.slug("O'Brien") == "o-brien"


def test_accents_are_taken_off_not_dropped():
    assert owner.slug("José") == "jose"
    assert owner.slug("Zoë Ñandú") == "zoe-nandu"


@pytest.mark.parametrize("name", ["", "   ", "!!!", "--", "_.-_", "日本"])
def test_a_name_without_letters_or_digits_is_refused_with_a_sentence(name):
    with pytest.raises(owner.BadStudentName, match="at least one letter or digit"):
        owner.slug(name)


def test_a_name_too_long_is_refused_and_the_limit_is_inclusive():
    assert owner.slug("a" * owner.MAX_NAME) == "a" * owner.MAX_NAME
    with pytest.raises(owner.BadStudentName, match=f"Keep it to {owner.MAX_NAME}"):
        owner.slug("a" * (owner.MAX_NAME + 1))
    # The length is the slug's: separators that collapse do not count twice.
    assert len(owner.slug("ab  " * 8)) == len("ab-" * 7 + "ab") <= owner.MAX_NAME


def test_bad_student_name_is_a_value_error():
    assert issubclass(owner.BadStudentName, ValueError)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_a_slug_is_a_docker_repository_component_and_a_compose_project(name):
    text = owner.slug(name)
    assert DOCKER_COMPONENT.fullmatch(text), text
    assert COMPOSE_PROJECT.fullmatch(text), text
    assert 0 < len(text) <= owner.MAX_NAME
    # The scoped names built from it stay valid too.
    student = owner.for_student(name)
    assert DOCKER_COMPONENT.fullmatch(student.compose_project("wine"))
    assert COMPOSE_PROJECT.fullmatch(student.compose_project("wine"))
    repository, tag = student.image("iris-model:1.0").split(":")
    assert tag == "1.0"
    assert all(DOCKER_COMPONENT.fullmatch(part) for part in repository.split("/"))


# for_student, student_of_session, Owner's names


def test_for_student_makes_a_student_session_from_the_slug():
    student = owner.for_student("Ada Lovelace")
    assert student == owner.Owner("student-ada-lovelace", "ada-lovelace")
    assert student.session == owner.STUDENT_PREFIX + student.student


def test_for_student_refuses_a_bad_name():
    with pytest.raises(owner.BadStudentName):
        owner.for_student("???")


def test_student_of_session_round_trips_and_ignores_other_sessions():
    for name in SAMPLE_NAMES:
        student = owner.for_student(name)
        assert owner.student_of_session(student.session) == student.student
    assert owner.student_of_session(owner.process_owner().session) is None
    assert owner.student_of_session("test-1234abcd") is None
    assert owner.student_of_session(None) is None
    assert owner.student_of_session("") is None
    assert owner.student_of_session("student-") is None


def test_a_student_names_images_projects_and_folders_after_themselves(ada, tmp_path):
    assert ada.image("iris-model:1.0") == "ada/iris-model:1.0"
    assert ada.compose_project("wine") == "wine-ada"
    assert ada.data_dir(tmp_path) == tmp_path / "students" / "ada"
    me = owner.process_owner()
    assert me.student is None
    assert me.image("iris-model:1.0") == "iris-model:1.0"
    assert me.compose_project("wine") == "wine"
    assert me.data_dir(tmp_path) == tmp_path


# acting_for, current


def test_the_process_is_the_owner_by_default(session_id):
    assert owner.current() == owner.process_owner()
    assert owner.current().student is None
    # tests/conftest.py pins DASHBOARD_SESSION before the dashboard is imported.
    assert owner.current().session == session_id


def test_acting_for_sets_the_owner_inside_and_restores_it_after(ada):
    before = owner.current()
    with owner.acting_for(ada) as me:
        assert me == ada
        assert owner.current() == ada
    assert owner.current() == before == owner.process_owner()


def test_acting_for_nests(ada):
    bob = owner.for_student("Bob")
    with owner.acting_for(ada):
        with owner.acting_for(bob):
            assert owner.current() == bob
            with owner.acting_for(None) as me:  # None: the process again
                assert me == owner.current() == owner.process_owner()
            assert owner.current() == bob
        assert owner.current() == ada
    assert owner.current() == owner.process_owner()


def test_acting_for_restores_the_owner_after_an_exception(ada):
    with pytest.raises(RuntimeError), owner.acting_for(ada):
        raise RuntimeError("boom")
    assert owner.current() == owner.process_owner()


def test_a_new_thread_does_not_inherit_the_owner(ada):
    seen: list[owner.Owner] = []
    with owner.acting_for(ada):
        worker = threading.Thread(target=lambda: seen.append(owner.current()))
        worker.start()
        worker.join(5)
        assert owner.current() == ada
    assert seen == [owner.process_owner()]


@pytest.mark.parametrize(
    ("value", "on"),
    [("1", True), ("true", True), (" YES ", True), ("on", True), ("0", False), ("", False)],
)
def test_classroom_mode_follows_the_environment(monkeypatch, value, on):
    monkeypatch.setenv(owner.CLASSROOM_ENV, value)
    assert owner.classroom_mode() is on


def test_classroom_mode_is_off_without_the_variable(monkeypatch):
    monkeypatch.delenv(owner.CLASSROOM_ENV, raising=False)
    assert owner.classroom_mode() is False


# labels


def test_labels_of_a_student_carry_the_student_and_their_session(ada):
    with owner.acting_for(ada):
        assert labels.current_session() == "student-ada"
        assert labels.for_lab("iris") == {
            labels.MANAGED: "true",
            labels.LAB: "iris",
            labels.SESSION: "student-ada",
            labels.STUDENT: "ada",
        }
        # Images carry the student but no session: a session label on an image would make the
        # containers run from it look inherited (labels.container_is_ours).
        assert labels.for_image("iris") == {
            labels.MANAGED: "true",
            labels.LAB: "iris",
            labels.STUDENT: "ada",
        }
        made = labels.for_lab("iris")
        assert labels.container_is_ours(made, labels.for_image("iris"))


def test_labels_outside_classroom_have_no_student(session_id):
    assert labels.current_session() == session_id
    assert labels.for_lab("iris") == {
        labels.MANAGED: "true",
        labels.LAB: "iris",
        labels.SESSION: session_id,
    }
    assert labels.for_image("iris") == {labels.MANAGED: "true", labels.LAB: "iris"}


def test_filters_select_one_student():
    assert labels.filters(student="ada") == {
        "label": [f"{labels.MANAGED}=true", f"{labels.STUDENT}=ada"]
    }
    assert labels.filters("iris", "student-ada", "ada") == {
        "label": [
            f"{labels.MANAGED}=true",
            f"{labels.LAB}=iris",
            f"{labels.SESSION}=student-ada",
            f"{labels.STUDENT}=ada",
        ]
    }
    assert labels.filters() == {"label": [f"{labels.MANAGED}=true"]}


# labs


def test_a_student_builds_and_runs_their_own_iris_image(ada):
    with owner.acting_for(ada):
        iris = labs.get("iris")
        assert labs.find("iris") == iris
    assert iris.image == "ada/iris-model:1.0"
    assert iris.project == ""
    assert iris.build_command == "docker build -t ada/iris-model:1.0 -f Dockerfile ."
    assert iris.run_command == "docker run ada/iris-model:1.0"
    # Everything but the names is the catalog's.
    catalog = labs.LABS["iris"]
    assert (iris.name, iris.folder, iris.dockerfile, iris.path) == (
        catalog.name,
        catalog.folder,
        catalog.dockerfile,
        catalog.path,
    )


def test_every_image_lab_of_a_student_is_under_their_name(ada):
    with owner.acting_for(ada):
        for name, catalog in labs.LABS.items():
            if catalog.compose:
                continue
            lab = labs.get(name)
            assert lab.image == f"ada/{catalog.image}"
            assert f"-t ada/{catalog.image} -f {catalog.dockerfile} " in lab.build_command


def test_a_student_has_their_own_compose_project_for_wine(ada):
    with owner.acting_for(ada):
        wine = labs.get("wine")
    assert wine.project == "wine-ada"
    assert wine.image == "wine-ada-trainer"
    assert "-p wine-ada " in wine.build_command
    assert "-p wine-ada " in wine.run_command
    assert wine.build_command == "docker compose -p wine-ada -f wine/compose.yaml build"
    assert wine.run_command == "docker compose -p wine-ada -f wine/compose.yaml up"


def test_scoped_takes_an_explicit_owner(ada):
    assert labs.scoped(labs.LABS["iris"], ada).image == "ada/iris-model:1.0"
    assert labs.scoped(labs.LABS["wine"], ada).project == "wine-ada"
    with owner.acting_for(ada):  # an explicit process owner wins over the current student
        assert labs.scoped(labs.LABS["iris"], owner.process_owner()) == labs.LABS["iris"]


def test_outside_classroom_the_labs_are_the_catalogs():
    for name, catalog in labs.LABS.items():
        lab = labs.get(name)
        assert lab == catalog
        assert lab.build_command == catalog.build_command
        assert lab.run_command == catalog.run_command
    assert labs.get("wine").project == ""
    assert "-p" not in labs.get("wine").build_command.split()
    assert labs.find("no-such-lab") is None
    with pytest.raises(KeyError, match="No lab named"):
        labs.get("no-such-lab")


# data folder, history database, working copies


def test_a_student_has_a_data_folder_of_their_own(monkeypatch, tmp_path, ada):
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path))
    with owner.acting_for(ada):
        mine = paths.owner_data_dir()
    assert mine == tmp_path / "students" / "ada"
    assert mine.is_dir()
    assert paths.owner_data_dir() == tmp_path


def test_a_student_has_a_history_database_of_their_own(monkeypatch, tmp_path, ada):
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.delenv(history.ENV_VAR, raising=False)
    with owner.acting_for(ada):
        assert history.default_path() == tmp_path / "students" / "ada" / history.FILE_NAME
    assert history.default_path() == tmp_path / history.FILE_NAME


def test_an_explicit_history_database_gets_a_student_sibling(monkeypatch, tmp_path, ada):
    explicit = tmp_path / "elsewhere" / "run.sqlite3"
    monkeypatch.setenv(history.ENV_VAR, str(explicit))
    with owner.acting_for(ada):
        assert history.default_path() == explicit.parent / "students" / "ada" / "run.sqlite3"
    assert history.default_path() == explicit


def test_a_students_working_copy_builds_under_their_name(monkeypatch, ada):
    monkeypatch.delenv("DASHBOARD_TAG_SUFFIX", raising=False)
    with owner.acting_for(ada):
        tag = workspace.working_tag("iris", "Dockerfile")
    assert tag.startswith("ada/")
    assert tag == "ada/" + workspace.WORKING_TAGS["iris"]["Dockerfile"]
    assert workspace.working_tag("iris", "Dockerfile") == "iris-model:edited"


def test_a_students_working_copies_live_in_their_folder(monkeypatch, tmp_path, ada):
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path))
    with owner.acting_for(ada):
        assert workspace.root() == tmp_path / "students" / "ada" / "workspace"


# students on disk


def test_students_on_disk_lists_valid_student_folders_only(tmp_path):
    assert classroom.students_on_disk(tmp_path) == set()  # no students folder yet
    folder = tmp_path / "students"
    for name in ["ada", "bob-2", "Bad Name", "UPPER", "-dash", "z" * (owner.MAX_NAME + 1)]:
        (folder / name).mkdir(parents=True)
    (folder / "carl").write_text("a file, not a student")
    assert classroom.students_on_disk(tmp_path) == {"ada", "bob-2"}


def test_a_student_folder_made_by_the_dashboard_is_found(monkeypatch, tmp_path):
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path))
    with owner.acting_for(owner.for_student("Ada Lovelace")):
        paths.owner_data_dir()
    assert classroom.students_on_disk(tmp_path) == {"ada-lovelace"}
