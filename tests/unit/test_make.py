"""The Makefile without a daemon: its targets (held to `make -pRrq`'s own database), the
variables the dashboard passes, a student's own target and what its recipe may hold, Docker's
refusals as make prints them, and `make` itself run on small Makefiles (lines, exit status,
deadline, cancel).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from dashboard.engine.base import labels, owner
from dashboard.engine.base.paths import labs_dir
from dashboard.engine.base.validation import InvalidInput
from dashboard.engine.catalog import labs
from dashboard.engine.ops import make
from dashboard.work import workspace

LAB_MAKEFILES = [labs_dir() / "iris" / "Makefile", labs_dir() / "iris-multistage" / "Makefile"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
needs_make = pytest.mark.skipif(
    shutil.which("make") is None and not IN_CI,
    reason="make is not installed (CI installs it: .ci/run)",
)


def database(path: Path) -> tuple[set[str], str | None]:
    """The targets and default goal GNU make itself reads from `path` (`make -pRrq`)."""
    done = subprocess.run(
        ["make", "-pRrq", "-f", path.name, ":"],
        cwd=path.parent,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
    )
    text = done.stdout
    goal = re.search(r"^\.DEFAULT_GOAL := (.*)$", text, re.M)
    files = text.split("\n# Files\n", 1)[1].split("\n# files hash-table stats", 1)[0]
    targets = set()
    for block in files.split("\n\n"):
        lines = [line for line in block.strip("\n").splitlines() if line]
        if not lines or lines[0] == "# Not a target:":
            continue
        match = re.match(r"^([^#\s:][^:]*?):", lines[0])
        if match and not match.group(1).startswith("."):
            targets.update(match.group(1).split())
    return targets, goal.group(1).strip() if goal else None


# ---------------------------------------------------------------- reading a Makefile


def test_the_lab_makefiles_targets_in_order_with_the_first_as_default():
    iris = make.read_makefile(LAB_MAKEFILES[0])
    assert iris.names == ("all", "build", "run", "clean")
    assert iris.default_goal == "all"
    assert iris.get("all").prerequisites == ("build", "run")
    assert iris.get("build").recipe == (
        "docker build $(BUILD_FLAGS) -t $(IMAGE):$(TAG) -f Dockerfile .",
    )
    assert iris.variables["IMAGE"] == "iris-model" and iris.variables["TAG"] == "1.0"
    assert iris.variables["NAME"] == "iris-run"
    assert {"BUILD_FLAGS", "RUN_FLAGS"} <= set(iris.variables)
    assert iris.phony == {"all", "build", "run", "clean"}
    multistage = make.read_makefile(LAB_MAKEFILES[1])
    assert multistage.default_goal == "all" and multistage.variables["TAG"] == "2.0"


@needs_make
@pytest.mark.parametrize("path", LAB_MAKEFILES, ids=lambda p: p.parent.name)
def test_the_targets_are_the_ones_make_itself_reads(path, tmp_path):
    parsed = make.read_makefile(path)
    assert database(path) == (set(parsed.names), parsed.default_goal)
    # With a target of one's own appended, too.
    copy = tmp_path / "Makefile"
    copy.write_text(path.read_text() + make.target_block(parsed, "sizes2", "docker images"))
    again = make.read_makefile(copy)
    assert again.names[-1] == "sizes2" and again.default_goal == "all"
    assert database(copy) == (set(again.names), again.default_goal)


@needs_make
def test_harder_makefiles_agree_with_make_too(tmp_path):
    text = (
        "# a comment: not a target\n"
        "X := 1\n"
        ".PHONY: first\n"
        "first second: dep ; echo inline\n"
        "dep:\n"
        "\techo one \\\n"
        "\t  continued\n"
        "# a comment inside a recipe keeps it going\n"
        "\techo two\n"
        "define BLOCK\n"
        "notatarget: x\n"
        "endef\n"
        "twice::\n"
        "\techo a\n"
        "%.o: %.c\n"
        "\tcc $<\n"
    )
    path = tmp_path / "Makefile"
    path.write_text(text)
    parsed = make.read_makefile(path)
    assert parsed.names == ("first", "second", "dep", "twice")
    assert parsed.get("first").recipe == ("echo inline",)
    one, two = parsed.get("dep").recipe  # a continued line is one recipe line
    assert one.startswith("echo one") and one.endswith("continued") and two == "echo two"
    assert database(path) == (set(parsed.names), "first")
    path.write_text(".DEFAULT_GOAL := dep\n" + text)
    parsed = make.read_makefile(path)
    assert parsed.default_goal == "dep"
    assert database(path) == (set(parsed.names), "dep")


def test_what_each_target_removes_through_its_prerequisites():
    iris = make.read_makefile(LAB_MAKEFILES[0])
    assert iris.removes_containers("clean") and iris.removes_images("clean")
    assert iris.removes_containers("run") and not iris.removes_images("run")
    assert iris.removes_containers("all")  # all: build run
    assert iris.removes_containers(None)  # plain make: the default goal, all
    assert not iris.removes_containers("build") and not iris.removes_images("build")


# ---------------------------------------------------------------- what the dashboard passes


def test_variables_carry_our_labels_and_the_lectures_names(monkeypatch):
    monkeypatch.delenv("DASHBOARD_TAG_SUFFIX", raising=False)
    makefile = make.read_makefile(LAB_MAKEFILES[0])
    variables = make.variables_for(labs.get("iris"), makefile, network="host")
    assert (variables["IMAGE"], variables["TAG"], variables["NAME"]) == (
        "iris-model",
        "1.0",
        "iris-run",
    )
    build = variables["BUILD_FLAGS"].split()
    assert build[0] == "--network=host"
    assert f"{labels.MANAGED}=true" in build and f"{labels.LAB}=iris" in build
    assert not any(labels.SESSION in flag for flag in build)  # images are shared by sessions
    run = variables["RUN_FLAGS"].split()
    assert f"{labels.SESSION}={labels.current_session()}" in run
    assert f"{labels.MANAGED}=true" in run
    assert "--network" not in variables["RUN_FLAGS"]
    assert (
        "--network"
        not in make.variables_for(labs.get("iris"), makefile, network=None)["BUILD_FLAGS"]
    )
    # The command line a student types: one word per variable, quoted where it has spaces.
    command = make.make_command("build", variables)
    assert command.startswith("make build IMAGE=iris-model TAG=1.0 NAME=iris-run 'BUILD_FLAGS=")
    run_plan = make.prepare(None, makefile, "build", variables)
    assert run_plan.argv[1:] == make.make_words("build", variables)[1:]
    assert run_plan.goal == "build" and run_plan.folder == LAB_MAKEFILES[0].parent
    assert make.prepare(None, makefile, None, variables).goal == "all"


def test_a_classroom_student_gets_their_own_names_and_label(monkeypatch):
    monkeypatch.delenv("DASHBOARD_TAG_SUFFIX", raising=False)
    makefile = make.read_makefile(LAB_MAKEFILES[1])
    with owner.acting_for(owner.for_student("Ada")):
        variables = make.variables_for(labs.get("iris-multistage"), makefile, network=None)
    assert (variables["IMAGE"], variables["TAG"], variables["NAME"]) == (
        "ada/iris-model",
        "2.0",
        "iris-predict-ada",
    )
    for flags in (variables["BUILD_FLAGS"], variables["RUN_FLAGS"]):
        assert f"{labels.STUDENT}=ada" in flags.split()
    assert f"{labels.SESSION}=student-ada" in variables["RUN_FLAGS"].split()


def test_the_test_suffix_makes_tag_and_name_unique(monkeypatch):
    monkeypatch.setenv("DASHBOARD_TAG_SUFFIX", "t1")
    makefile = make.read_makefile(LAB_MAKEFILES[0])
    variables = make.variables_for(labs.get("iris"), makefile, network=None)
    assert (variables["TAG"], variables["NAME"]) == ("1.0-t1", "iris-run-t1")


def test_prepare_refuses_a_makefile_that_would_run_unlabelled(tmp_path):
    path = tmp_path / "Makefile"
    path.write_text("IMAGE ?= x\nrun:\n\tdocker run --name n $(IMAGE)\n")
    with pytest.raises(make.UnlabelledMakefile, match=r"RUN_FLAGS"):
        make.prepare(None, make.read_makefile(path), "run", {"IMAGE": "x"})
    path.write_text("build:\n\tdocker build -t x .\n")
    with pytest.raises(make.UnlabelledMakefile, match=r"BUILD_FLAGS"):
        make.prepare(None, make.read_makefile(path), None, {})
    with pytest.raises(InvalidInput, match="no target `nope`"):
        make.prepare(None, make.read_makefile(path), "nope", {})


def test_a_missing_make_is_said_with_its_fix(monkeypatch):
    monkeypatch.setattr(make.shutil, "which", lambda name, *a, **k: None)
    problem = make.tools_problem()
    assert isinstance(problem, make.ToolMissing)
    assert "`make` is not installed" in problem.message and "apt-get install make" in problem.hint
    with pytest.raises(make.ToolMissing):
        make.prepare(None, make.read_makefile(LAB_MAKEFILES[0]), "build", {})


def test_in_the_dashboards_own_container_the_fix_is_another_place(monkeypatch):
    """No student can `apt-get install make` in the dashboard's image: the page says where the
    section works instead."""
    monkeypatch.setattr(make.shutil, "which", lambda name, *a, **k: None)
    monkeypatch.setenv("DASHBOARD_IN_CONTAINER", "1")
    problem = make.tools_problem()
    assert isinstance(problem, make.ToolMissing)
    assert "runs in its own container" in problem.message and "./dev start" in problem.message
    assert "apt-get" not in f"{problem.message} {problem.hint}"


# ---------------------------------------------------------------- a target of one's own


REFUSED = [
    ("name", "", "not a target name"),
    ("name", "9lives", "not a target name"),
    ("name", "my target", "not a target name"),
    ("name", "a.b", "not a target name"),
    ("name", "build", "already has a target `build`"),
    ("name", "Makefile", "the Makefile's own name"),
    ("name", "Dockerfile", "is a file in the lab's folder"),
    ("recipe", "", "Type the recipe"),
    ("recipe", "rm -rf ~", "start it with `docker`"),
    ("recipe", "docker rmi python:3.11-slim", "`docker rmi` is not a docker command that only"),
    ("recipe", "docker system prune -af", "`docker system prune`"),
    ("recipe", "docker run --privileged -v /:/host $(IMAGE)", "`docker run`"),
    ("recipe", "docker -H tcp://elsewhere images", "`docker -H`"),
    ("recipe", "docker images; rm -rf ~", "may not contain ';'"),
    ("recipe", "docker images && id", "may not contain '&'"),
    ("recipe", "docker images | sh", "may not contain '|'"),
    ("recipe", "docker images > /etc/motd", "may not contain '>'"),
    ("recipe", "docker images `id`", "may not contain '`'"),
    ("recipe", "docker images $(shell id)", "Only the Makefile's own variables"),
    ("recipe", "docker images $$HOME", "Only the Makefile's own variables"),
    ("recipe", "docker images $(MAKE)", "$(MAKE) is not a variable of this Makefile"),
    ("recipe", "docker images 'open", "cannot be split"),
    ("recipe", "docker images\nrm -rf ~", "one command line"),
]


@pytest.mark.parametrize("kind, text, why", REFUSED)
def test_a_new_targets_name_and_a_recipe_that_could_change_or_escape_are_refused(kind, text, why):
    makefile = make.read_makefile(LAB_MAKEFILES[0])
    with pytest.raises(InvalidInput, match=re.escape(why)):
        if kind == "name":
            make.check_target_name(makefile, text, files=["Dockerfile", "main.py"])
        else:
            make.check_recipe(makefile, text)


@pytest.mark.parametrize(
    "recipe",
    [
        "docker images $(IMAGE)",
        "docker history $(IMAGE):$(TAG)",
        "docker ps -a --filter name=$(NAME)",
        "docker image ls $(IMAGE)",
        "docker system df",
        "docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' $(IMAGE)",
        "echo the image is $(IMAGE):$(TAG)",
    ],
)
def test_recipes_that_only_look_are_taken(recipe):
    makefile = make.read_makefile(LAB_MAKEFILES[0])
    assert make.check_recipe(makefile, recipe) == recipe


CLASS_TAKEN = [
    "docker images $(IMAGE)",
    "docker image ls $(IMAGE)",
    "docker history $(IMAGE):$(TAG)",
    "docker image inspect -f '{{.Size}}' $(IMAGE):$(TAG)",
    "docker ps -a --filter name=$(NAME)",
    "docker container ls -f name=$(NAME) --format '{{.Status}}'",
    "docker logs --tail 5 $(NAME)",
    "docker inspect --format '{{.State.ExitCode}}' $(NAME)",
    "docker system df",
    "docker info",
    "echo my image is $(IMAGE):$(TAG)",
]
CLASS_REFUSED = [
    ("docker logs iris-run-bob", "`iris-run-bob` may be somebody else's"),
    ("docker inspect bob/iris-model:1.0", "`bob/iris-model:1.0` may be somebody else's"),
    ("docker logs $(NAME) iris-run-bob", "`iris-run-bob`"),
    ("docker ps", "add -f name=$(NAME)"),
    ("docker ps -a", "add -f name=$(NAME)"),
    ("docker ps --filter name=bob", "add -f name=$(NAME)"),
    ("docker container ls", "add -f name=$(NAME)"),
    ("docker images", "add $(IMAGE)"),
    ("docker image ls --format '{{.Repository}}'", "add $(IMAGE)"),
    ("docker system df -v", "every student's objects"),
    ("docker logs", "needs the name of a thing of yours"),
    ("docker top $(NAME) aux", "`aux` may be somebody else's"),
]


@pytest.mark.parametrize("recipe", CLASS_TAKEN)
def test_in_a_class_a_recipe_that_looks_at_the_students_own_things_is_taken(recipe):
    makefile = make.read_makefile(LAB_MAKEFILES[0])
    with owner.acting_for(owner.for_student("ada")):
        assert make.check_recipe(makefile, recipe) == recipe


@pytest.mark.parametrize("recipe, why", CLASS_REFUSED)
def test_in_a_class_a_recipe_that_may_read_another_students_things_is_refused(recipe, why):
    makefile = make.read_makefile(LAB_MAKEFILES[0])
    assert make.check_recipe(makefile, recipe) == recipe  # on a laptop, the machine is yours
    with (
        owner.acting_for(owner.for_student("ada")),
        pytest.raises(InvalidInput, match=re.escape(why)) as refused,
    ):
        make.check_recipe(makefile, recipe)
    assert "In a class, a target of your own looks only at your own things" in str(refused.value)


def test_a_target_added_before_the_class_rule_is_checked_again_when_it_runs(tmp_path):
    lab = make.read_makefile(LAB_MAKEFILES[0])
    text = lab.text + "\n.PHONY: peek\npeek: build\n\tdocker logs iris-run-bob\n"
    copy = tmp_path / "Makefile"
    copy.write_text(text)
    makefile = make.read_makefile(copy)
    variables = {"IMAGE": "ada/iris-model", "TAG": "1.0", "NAME": "iris-run-ada"}
    with owner.acting_for(owner.for_student("ada")):
        with pytest.raises(InvalidInput, match="iris-run-bob"):
            make.prepare(None, makefile, "peek", variables, lab)
        # The lab's own targets are not the student's: they run as the lab wrote them.
        if make.find_make() and shutil.which("docker"):
            assert make.prepare(None, makefile, "build", variables, lab).goal == "build"
    if make.find_make() and shutil.which("docker"):
        assert make.prepare(None, makefile, "peek", variables, lab).goal == "peek"


def test_an_own_target_goes_to_the_working_copy_only_and_resets(monkeypatch, tmp_path):
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path))
    lab_text = LAB_MAKEFILES[0].read_text()
    assert workspace.add_make_target("iris", " sizes ", "docker images $(IMAGE)") == "sizes"
    copy = workspace.copy_path("iris") / "Makefile"
    parsed = make.read_makefile(copy)
    assert parsed.names == ("all", "build", "run", "clean", "sizes")
    assert parsed.get("sizes").recipe == ("docker images $(IMAGE)",)
    assert "sizes" in parsed.phony and parsed.default_goal == "all"
    assert LAB_MAKEFILES[0].read_text() == lab_text  # labs/ untouched
    assert workspace.changed_files("iris") == ("Makefile",)
    with pytest.raises(InvalidInput, match="already has a target"):
        workspace.add_make_target("iris", "sizes", "docker ps")
    workspace.reset_file("iris", "Makefile")
    assert copy.read_text() == lab_text and workspace.changed_files("iris") == ()


# ---------------------------------------------------------------- Docker's refusals


def test_the_image_in_use_refusal_as_engine_20_and_26_print_it():
    old = (
        'Error response from daemon: conflict: unable to remove repository reference "iris-model:'
        '1.0" (must force) - container f94fd42bee05 is using its referenced image 9aba55134873'
    )
    new = (
        "Error response from daemon: conflict: unable to delete iris-model:1.0 (must be forced) "
        "- container a672fd4f70f8 is using its referenced image 35d203e20f12"
    )
    by_id = (
        "Error response from daemon: conflict: unable to delete 9aba55134873 (cannot be forced) "
        "- image is being used by running container f94fd42bee05"
    )
    assert make.find_refusals(old) == [
        make.Refusal("image-in-use", old, "iris-model:1.0", "f94fd42bee05")
    ]
    assert make.find_refusals(new) == [
        make.Refusal("image-in-use", new, "iris-model:1.0", "a672fd4f70f8")
    ]
    assert make.find_refusals(by_id)[0].container == "f94fd42bee05"
    assert make.find_refusals("make: [Makefile:21: clean] Error 1 (ignored)") == []


def test_the_taken_name_refusal():
    line = (
        'docker: Error response from daemon: Conflict. The container name "/iris-run" is already '
        'in use by container "3f2a9c". You have to remove (or rename) that container to be able '
        "to reuse that name."
    )
    assert make.find_refusals(line) == [make.Refusal("name-in-use", line, container="iris-run")]


# ---------------------------------------------------------------- running make


def _run(tmp_path: Path, text: str, target: str | None, **kwargs):
    path = tmp_path / "Makefile"
    path.write_text(text)
    plan = make.MakeRun(tmp_path, target, target, {"WHO": "the dashboard"}, shutil.which("make"))
    events = list(make.stream_make(plan, **kwargs))
    assert isinstance(events[-1], make.MakeFinished)
    return [e.text for e in events[:-1]], events[-1].result


@needs_make
def test_make_streams_its_lines_and_says_its_exit_status(tmp_path):
    text = "WHO ?= nobody\nhello:\n\t@echo hello from $(WHO)\n\t@echo to stderr >&2\n"
    text += "fails:\n\t-false\n\tfalse\n\techo never\n"
    lines, result = _run(tmp_path, text, "hello")
    assert lines == ["hello from the dashboard", "to stderr"]
    assert result.ok and result.exit_code == 0 and result.lines_total == 2
    assert result.command == "make hello 'WHO=the dashboard'"
    lines, result = _run(tmp_path, text, "fails")
    assert result.status == make.EXITED and result.exit_code == 2 and not result.ok
    assert "make: [Makefile:6: fails] Error 1 (ignored)" in lines
    assert "never" not in lines and "echo never" not in lines
    assert "failed with exit status 2" in result.message


@needs_make
def test_a_deadline_and_a_cancel_stop_make_and_what_it_started(tmp_path):
    text = "slow:\n\t@echo started\n\tsleep 60\n"
    lines, result = _run(tmp_path, text, "slow", timeout=1, grace=2)
    assert result.status == make.TIMED_OUT and result.seconds < 10
    assert "still running after 1 s" in result.message and "started" in lines
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    lines, result = _run(tmp_path, text, "slow", cancel=cancel, grace=2)
    assert result.status == make.CANCELLED and result.seconds < 10
    assert "Stopped by you" in result.message
