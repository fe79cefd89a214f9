"""`make` in a lab's working copy: the Makefile's targets, and `make TARGET` run as a subprocess.

The lecture wraps its commands in a Makefile: variables for the image name, targets `build`,
`run`, `clean` and `all`, and plain `make` runs the first one. Here a page lists a Makefile's
targets (`read_makefile`: its rule lines, read as GNU make reads a plain Makefile; the tests
hold the result to `make -pRrq`'s own database), and runs one (`stream_make`) in the lab's
working copy (work/workspace.py), yielding each line make and docker print as a `MakeLine` and
then a `MakeFinished` with the exit status, with a deadline and a cancel that stop the whole
process group as Ctrl-C would.

What make runs stays the dashboard's: `variables_for` passes IMAGE, TAG and NAME (a classroom
student's own names) and BUILD_FLAGS / RUN_FLAGS with the dashboard's `--label` flags on the
make command line, which overrides the Makefile's `?=` defaults and the environment, and
`prepare` refuses a Makefile whose `docker build` or `docker run` line leaves those flags out.
Before a target that removes something (`make clean`: `docker rm -f $(NAME)`, `docker rmi
$(IMAGE):$(TAG)`), `prepare` checks that the container and the image those names point at are
ours, so make never removes what the dashboard did not make. A target of the student's own
(`target_block`) may hold one `docker` command that only looks (or `echo`): its recipe runs in
this machine's shell, not in a container.

`find_refusals` reads Docker's refusal to remove an image a container still uses (make's `-`
prefix ignores the error, so make exits 0 while docker printed it) and a taken container name;
`explain_refusals` says each as a sentence with its fix.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from dashboard import settings
from dashboard.engine.base import child_process, labels, owner, validation
from dashboard.engine.base.docker_text import LineSplitter
from dashboard.engine.base.validation import InvalidInput
from dashboard.engine.catalog.lessons import Lab
from dashboard.engine.ops import runs

MAKE_TIMEOUT = 900  # seconds: a cold `make all` builds (pip install) and then runs
STOP_GRACE = 10  # seconds between Ctrl-C (SIGINT) and SIGKILL of make's process group
TAIL_LINES = 2000
MAKEFILE = "Makefile"

TARGET_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
# Names GNU make would treat as the Makefile itself: a rule for one runs before every goal.
MAKEFILE_NAMES = frozenset({"Makefile", "makefile", "GNUmakefile"})
_ASSIGNMENT_RE = re.compile(
    r"^(?:override\s+|export\s+)?([A-Za-z_.][A-Za-z0-9_.]*)\s*(\?=|::=|:=|\+=|!=|=)\s*(.*)$"
)
_RULE_RE = re.compile(r"^([^:=#\t][^:=#]*?)\s*(::?)(?!=)\s*(.*)$")
_DIRECTIVES = (
    "ifeq",
    "ifneq",
    "ifdef",
    "ifndef",
    "else",
    "endif",
    "include",
    "-include",
    "sinclude",
    "vpath",
    "unexport",
    "undefine",
)
_VARIABLE_REF_RE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_REMOVES_CONTAINER_RE = re.compile(r"\bdocker\s+(?:container\s+)?rm\b")
_REMOVES_IMAGE_RE = re.compile(r"\bdocker\s+(?:rmi|image\s+rm)\b")
_DOCKER_BUILD_RE = re.compile(r"\bdocker\s+(?:image\s+|buildx\s+)?build\b")
_DOCKER_RUN_RE = re.compile(r"\bdocker\s+(?:container\s+)?run\b")

# What a student's own recipe may run: docker commands that only look, and echo.
READ_ONLY_DOCKER = frozenset(
    {"images", "ps", "history", "inspect", "logs", "version", "info", "top", "port", "diff"}
)
READ_ONLY_GROUPS = {
    "image": frozenset({"ls", "list", "inspect", "history"}),
    "container": frozenset({"ls", "list", "inspect", "logs", "top", "port", "diff"}),
    "system": frozenset({"df", "info"}),
}
# Outside the Makefile's own $(VARIABLE)s: no way to start a second command, redirect, or
# reach make's functions ($(shell ...)).
_SHELL_SPECIAL = set(";&|`<>()$\\\n\r")

# Docker's refusals, as 20.10 and Engine 26 word them.
IMAGE_IN_USE_RE = re.compile(
    r'conflict: unable to (?:remove repository reference|delete) "?(?P<ref>[^"\s]+)"?\s*'
    r"\([^)]*forc[^)]*\) - (?:container (?P<container>[0-9a-f]{6,64}) is using its referenced "
    r"image|image is being used by (?:running|stopped) container (?P<other>[0-9a-f]{6,64}))"
)
NAME_IN_USE_RE = re.compile(
    r'The container name "/?(?P<name>[^"]+)" is already in use by container "(?P<id>[0-9a-f]+)"'
)

# How a make run ended.
EXITED = "exited"
TIMED_OUT = "timed_out"
CANCELLED = "cancelled"

MAKE_MISSING = (
    "`make` is not installed on the machine the dashboard runs on, so the Makefile's targets "
    "cannot run here."
)
MAKE_MISSING_FIX = (
    "Install it, then reload the page: `sudo apt-get install make` (Debian, Ubuntu, WSL), "
    "`xcode-select --install` (macOS). Until then, type the commands the Makefile wraps."
)
DOCKER_CLI_MISSING = (
    "The `docker` command is not on this machine's PATH, and every recipe of the Makefile calls it."
)
DOCKER_CLI_MISSING_FIX = (
    "Install the Docker CLI (Docker Desktop, or `sudo apt-get install docker.io`) and reload. "
    "The dashboard's own image has no docker CLI: run the Makefile on the host."
)


# ---------------------------------------------------------------- errors


class MakeError(Exception):
    """Why a make target cannot run; `message` (and `hint`) are sentences for the page."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(f"{message} {hint}".strip())
        self.message = message
        self.hint = hint


class ToolMissing(MakeError):
    """`make` (or the docker CLI its recipes call) is not installed."""


class NotOursToRemove(MakeError):
    """The target would remove a container or image the dashboard did not make."""


class UnlabelledMakefile(MakeError):
    """A `docker build` or `docker run` line lacks the flags the dashboard labels with."""


# ---------------------------------------------------------------- the Makefile


@dataclass(frozen=True)
class MakeTarget:
    name: str
    prerequisites: tuple[str, ...]
    recipe: tuple[str, ...]  # the recipe lines as written, without the leading tab
    line: int  # 1-based line of its rule


@dataclass(frozen=True)
class Makefile:
    path: Path | None
    text: str
    targets: tuple[MakeTarget, ...]  # in the file's order
    variables: dict[str, str]  # the values as written (`NAME ?= iris-run`: "iris-run")
    default_goal: str | None  # what plain `make` runs
    phony: frozenset[str] = frozenset()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.targets)

    def get(self, name: str) -> MakeTarget | None:
        return next((t for t in self.targets if t.name == name), None)

    def reached(self, goal: str | None) -> list[MakeTarget]:
        """The targets `make GOAL` may run: the goal's prerequisites first, then the goal."""
        found: list[MakeTarget] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            target = self.get(name)
            if name in seen or target is None:
                return
            seen.add(name)
            for prerequisite in target.prerequisites:
                visit(prerequisite)
            found.append(target)

        if goal or self.default_goal:
            visit(goal or self.default_goal or "")
        return found

    def recipe_lines(self, goal: str | None) -> list[str]:
        """Every recipe line `make GOAL` may run: the goal's and its prerequisites', in order."""
        return [line for target in self.reached(goal) for line in target.recipe]

    def removes_containers(self, goal: str | None) -> bool:
        return any(_REMOVES_CONTAINER_RE.search(line) for line in self.recipe_lines(goal))

    def removes_images(self, goal: str | None) -> bool:
        return any(_REMOVES_IMAGE_RE.search(line) for line in self.recipe_lines(goal))


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, text) with backslash continuations joined, as make reads them."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.endswith("\\") and not raw.endswith("\\\\"):
            pending += raw[:-1] + " "
            continue
        yield start, pending + raw
        pending = ""
    if pending:
        yield start, pending


def parse_makefile(text: str, path: Path | None = None) -> Makefile:
    """The targets, `?=`/`=` variables and default goal of a plain Makefile.

    Reads rule lines (`name: prerequisites`), recipe lines (a tab first) and assignments the way
    GNU make does; conditionals, includes and computed target names are not expanded (the labs'
    Makefiles have none). The default goal is `.DEFAULT_GOAL` when the file sets it, else the
    first target of the first rule whose name does not start with a dot.
    """
    targets: dict[str, MakeTarget] = {}
    order: list[str] = []
    variables: dict[str, str] = {}
    phony: set[str] = set()
    default: str | None = None
    explicit_default: str | None = None
    current: list[str] = []  # the targets whose recipe the next tab lines belong to
    in_define = False
    for number, line in _logical_lines(text):
        if in_define:
            in_define = line.strip() != "endef"
            continue
        if line.startswith("\t"):
            if current:
                recipe_line = line[1:]
                for name in current:
                    old = targets[name]
                    targets[name] = MakeTarget(
                        name, old.prerequisites, (*old.recipe, recipe_line), old.line
                    )
            continue
        stripped = line.split("#", 1)[0].rstrip()
        if not stripped.strip():
            continue  # blank lines and comments keep the rule's recipe going
        word = stripped.split()[0]
        if word == "define":
            in_define, current = True, []
            continue
        if word in _DIRECTIVES:
            current = []
            continue
        assignment = _ASSIGNMENT_RE.match(stripped)
        if assignment:
            name, _, value = assignment.groups()
            if name == ".DEFAULT_GOAL":
                explicit_default = value.strip() or None
            else:
                variables[name] = value.strip()
            current = []
            continue
        rule = _RULE_RE.match(stripped)
        if not rule:
            current = []
            continue
        names_text, _, rest = rule.groups()
        prerequisites_text, _, inline = rest.partition(";")
        names = names_text.split()
        prerequisites = tuple(prerequisites_text.split())
        if names and all(n == ".PHONY" for n in names):
            phony.update(prerequisites)
            current = []
            continue
        real = [n for n in names if not n.startswith(".") and "%" not in n and "$" not in n]
        for name in real:
            if name not in targets:
                targets[name] = MakeTarget(name, (), (), number)
                order.append(name)
            old = targets[name]
            targets[name] = MakeTarget(
                name,
                old.prerequisites + prerequisites,
                old.recipe + ((inline.strip(),) if inline.strip() else ()),
                old.line,
            )
        if default is None and real:
            default = real[0]
        current = real
    return Makefile(
        path=path,
        text=text,
        targets=tuple(targets[n] for n in order),
        variables=variables,
        default_goal=explicit_default or default,
        phony=frozenset(phony),
    )


def read_makefile(path: Path) -> Makefile:
    return parse_makefile(Path(path).read_text(), Path(path))


# ---------------------------------------------------------------- a target of the student's own


def check_target_name(makefile: Makefile, name: str, files: Iterable[str] = ()) -> str:
    """A new target's name: letters, digits, _ and -, not a target already, not a file's name."""
    value = (name or "").strip()
    if not TARGET_NAME_RE.match(value):
        raise InvalidInput(
            f"{value!r} is not a target name for the dashboard: start with a letter, then use "
            "letters, digits, _ and - (e.g. sizes)."
        )
    if makefile.get(value) is not None:
        raise InvalidInput(f"The Makefile already has a target `{value}`: pick another name.")
    if value in MAKEFILE_NAMES:
        raise InvalidInput(
            f"`{value}` is the Makefile's own name: make would run its recipe before every "
            "target. Pick another name."
        )
    if value in set(files):
        raise InvalidInput(
            f"`{value}` is a file in the lab's folder: make would call that target up to date "
            "and never run it. Pick another name."
        )
    return value


def check_recipe(makefile: Makefile, recipe: str) -> str:
    """A recipe of one command line that only looks: `docker images $(IMAGE)`, `echo ...`.

    The recipe runs in this machine's shell, outside any container, so it may hold one `docker`
    command that reads (images, ps, history, inspect, logs, system df, ...) or `echo`, the
    Makefile's own `$(VARIABLES)`, and no `;`, `&&`, `|`, redirection or `$(shell ...)`.
    """
    value = (recipe or "").strip()
    if not value:
        raise InvalidInput("Type the recipe: one command line, e.g. docker images $(IMAGE).")
    if "\n" in value or "\r" in value:
        raise InvalidInput("A recipe here is one command line.")
    unknown = [ref for ref in _VARIABLE_REF_RE.findall(value) if ref not in makefile.variables]
    if unknown:
        raise InvalidInput(
            f"$({unknown[0]}) is not a variable of this Makefile; it has "
            + ", ".join(f"$({v})" for v in makefile.variables)
            + "."
        )
    bare = _VARIABLE_REF_RE.sub("VALUE", value)
    if "$" in bare:
        raise InvalidInput(
            "Only the Makefile's own variables may follow a `$` here ("
            + ", ".join(f"$({v})" for v in makefile.variables)
            + "): make would run anything else, $(shell ...) too, on this machine."
        )
    special = sorted(set(bare) & _SHELL_SPECIAL)
    if special:
        raise InvalidInput(
            f"The recipe runs in this machine's shell, so it may not contain {special[0]!r}: "
            "one command, no ; && | > < or backquotes."
        )
    try:
        words = shlex.split(bare)
    except ValueError as exc:
        raise InvalidInput(f"The recipe cannot be split into words: {exc}.") from None
    if not words:
        raise InvalidInput("Type the recipe: one command line, e.g. docker images $(IMAGE).")
    if words[0] == "echo":
        return value
    if words[0] != "docker" or len(words) < 2:
        raise InvalidInput(
            "The recipe runs outside any container, on this machine: start it with `docker` "
            "(a command that only looks, e.g. docker images $(IMAGE)) or `echo`."
        )
    command, rest = words[1], words[2:]
    allowed = command in READ_ONLY_DOCKER or (
        command in READ_ONLY_GROUPS and bool(rest) and rest[0] in READ_ONLY_GROUPS[command]
    )
    if not allowed:
        shown = " ".join(words[:3] if command in READ_ONLY_GROUPS else words[:2])
        raise InvalidInput(
            f"`{shown}` is not a docker command that only looks. A target of your own here may "
            "run docker images, ps, history, inspect, logs, system df, ... or echo: the "
            "dashboard never lets it remove or start what it cannot label."
        )
    if owner.current().student:
        _check_classroom_recipe(shlex.split(value))
    return value


# In a class, many students share one engine: a recipe of a student's own may look only at
# their own things, named by the variables the dashboard sets for them on make's command line.
OWN_REFS = frozenset({"$(NAME)", "$(IMAGE)", "$(IMAGE):$(TAG)"})
_NODE_WIDE = frozenset({"version", "info"})  # counts and versions, no object of anybody's
_LISTS = {"ps": "container", "images": "image"}
_OPTION_VALUES = {  # options that take the next word as their value, per kind of command
    "container": {"-f", "--filter", "--format", "-n", "--last"},
    "image": {"-f", "--filter", "--format"},
    "logs": {"-n", "--tail", "--since", "--until"},
    "look": {"-f", "--format", "--type"},
}


def _classroom_refusal(detail: str) -> InvalidInput:
    return InvalidInput(
        f"In a class, a target of your own looks only at your own things: {detail} Name your "
        "container $(NAME) and your image $(IMAGE):$(TAG) (the dashboard sets both to your "
        "names), e.g. docker logs $(NAME), docker images $(IMAGE), docker ps -f name=$(NAME)."
    )


def _check_classroom_recipe(words: list[str]) -> None:
    """Refuse a recipe that would read another student's objects (raises InvalidInput)."""
    if words[0] == "echo":
        return
    command, rest = words[1], words[2:]
    if command in READ_ONLY_GROUPS and rest:
        group, command, rest = command, rest[0], rest[1:]
        if group == "system":
            if any(word in {"-v", "--verbose"} for word in rest):
                raise _classroom_refusal("`docker system df -v` lists every student's objects.")
            return
        if command in {"ls", "list"}:
            command = {"container": "ps", "image": "images"}[group]
    if command in _NODE_WIDE:
        return
    kind = _LISTS.get(command) or ("logs" if command == "logs" else "look")
    takes_value = _OPTION_VALUES[kind]
    positional, filters = [], []
    index = 0
    while index < len(rest):
        word = rest[index]
        option, eq, attached = word.partition("=")
        if word.startswith("-") and option in takes_value:
            value = attached if eq else (rest[index + 1] if index + 1 < len(rest) else "")
            index += 1 if eq else 2
            if option in {"-f", "--filter"} and kind in _LISTS.values():
                filters.append(value)
            continue
        if not word.startswith("-"):
            positional.append(word)
        index += 1
    others = [word for word in positional if word not in OWN_REFS]
    if others:
        raise _classroom_refusal(f"`{others[0]}` may be somebody else's.")
    if kind == "container" and not any(f == "name=$(NAME)" for f in filters):
        raise _classroom_refusal(
            "`docker ps` lists every student's containers; add -f name=$(NAME)."
        )
    if kind == "image" and not positional:
        raise _classroom_refusal("`docker images` lists every student's images; add $(IMAGE).")
    if kind in {"logs", "look"} and not positional:
        raise _classroom_refusal(f"`docker {command}` needs the name of a thing of yours.")


def target_block(makefile: Makefile, name: str, recipe: str, files: Iterable[str] = ()) -> str:
    """The lines that add target `name` with `recipe` to the end of the Makefile (checked)."""
    name = check_target_name(makefile, name, files)
    recipe = check_recipe(makefile, recipe)
    return (
        f"\n# A target of your own, added in the dashboard\n.PHONY: {name}\n{name}:\n\t{recipe}\n"
    )


# ---------------------------------------------------------------- what make runs


def find_make() -> str | None:
    return shutil.which("make")


IN_CONTAINER_MISSING = (
    "The dashboard runs in its own container here (`docker compose up`), which has neither "
    "`make` nor the docker CLI, and nothing can be installed in it: this section needs the "
    "dashboard run on the machine itself (`./dev start`)."
)
IN_CONTAINER_FIX = (
    "Until then, read the Makefile below and type its commands in a terminal on your machine "
    "(`make build`, `make run`, `make clean` in labs/iris)."
)


def tools_problem() -> ToolMissing | None:
    """What keeps the Makefile from running here: make missing, or the docker CLI; else None.
    In the dashboard's own container no install is possible, so the fix is another place."""
    missing = find_make() is None or shutil.which("docker") is None
    if missing and settings.in_container():
        return ToolMissing(IN_CONTAINER_MISSING, IN_CONTAINER_FIX)
    if find_make() is None:
        return ToolMissing(MAKE_MISSING, MAKE_MISSING_FIX)
    if shutil.which("docker") is None:
        return ToolMissing(DOCKER_CLI_MISSING, DOCKER_CLI_MISSING_FIX)
    return None


def _flags(option: str, values: Mapping[str, str]) -> list[str]:
    return [f"{option} {key}={value}" for key, value in values.items()]


def variables_for(lab: Lab, makefile: Makefile, *, network: str | None) -> dict[str, str]:
    """The variables the dashboard passes on the make command line for `lab` (scoped, see
    engine/catalog/labs.py): the image and container names of the current owner, and its labels.

    DASHBOARD_TAG_SUFFIX (tests) makes the tag and the container name unique, as it does for
    the working copies' tags (work/workspace.py).
    """
    ref = validation.parse_image_ref(lab.image)
    suffix = settings.tag_suffix()
    who = owner.current()
    name = makefile.variables.get("NAME") or f"{lab.folder}-run"
    if who.student:
        name = f"{name}-{who.student}"
    tag = ref.tag
    if suffix:
        name, tag = f"{name}-{suffix}", f"{tag}-{suffix}"
    build = (["--network=" + network] if network else []) + _flags(
        "--label", labels.for_image(lab.name)
    )
    return {
        "IMAGE": ref.name,
        "TAG": tag,
        "NAME": name,
        "BUILD_FLAGS": " ".join(build),
        "RUN_FLAGS": " ".join(_flags("--label", labels.for_lab(lab.name))),
    }


def make_words(target: str | None, variables: Mapping[str, str]) -> list[str]:
    """`make [TARGET] VAR=value ...`: what a student types in the working copy."""
    return ["make", *([target] if target else []), *(f"{k}={v}" for k, v in variables.items())]


def make_command(target: str | None, variables: Mapping[str, str]) -> str:
    return shlex.join(make_words(target, variables))


@dataclass(frozen=True)
class MakeRun:
    """One `make` to run: where, which target (None: plain `make`), with which variables."""

    folder: Path
    target: str | None
    goal: str | None  # the target that runs: `target`, or the default goal
    variables: dict[str, str]
    make: str = "make"  # the make executable

    @property
    def argv(self) -> list[str]:
        return [self.make, *make_words(self.target, self.variables)[1:]]

    @property
    def command(self) -> str:
        return make_command(self.target, self.variables)


def _unlabelled(makefile: Makefile, goal: str | None) -> list[str]:
    lines = makefile.recipe_lines(goal)
    missing = [
        line
        for line in lines
        if (_DOCKER_BUILD_RE.search(line) and "$(BUILD_FLAGS)" not in line)
        or (_DOCKER_RUN_RE.search(line) and "$(RUN_FLAGS)" not in line)
    ]
    return missing


def _student_matches(found: Mapping[str, str]) -> bool:
    return found.get(labels.STUDENT) == owner.current().student


def _check_container(client: docker.DockerClient, name: str, goal: str) -> None:
    try:
        record = runs.owned_container(client, name)
    except runs.NotOurs:
        mine = False
    else:
        mine = record is None or _student_matches(record.labels)
    if not mine:
        raise NotOursToRemove(
            f"Container {name} exists and was not made by the dashboard for you, and `make "
            f"{goal}` would remove it (`docker rm {name}`), so the dashboard does not run it.",
            f"Rename or remove that container yourself (`docker rename {name} OTHER`), then "
            "try again.",
        )


def _check_image(client: docker.DockerClient, ref: str, goal: str) -> None:
    from dashboard.engine.ops import cleanup

    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        return
    if cleanup.image_is_ours(client, image) and _student_matches(labels.of_inspect(image.attrs)):
        return
    raise NotOursToRemove(
        f"Image {ref} was not built by the dashboard, and `make {goal}` would remove it "
        f"(`docker rmi {ref}`), so the dashboard does not run it.",
        "Build it from the dashboard (or with `make build` here) first, or remove it yourself.",
    )


def _own_targets(makefile: Makefile, lab_makefile: Makefile, goal: str) -> list[MakeTarget]:
    """The targets `make GOAL` reaches that the lab's own Makefile does not hold as they are."""

    def as_the_lab_has_it(target: MakeTarget) -> bool:
        lab = lab_makefile.get(target.name)
        return lab is not None and (lab.prerequisites, lab.recipe) == (
            target.prerequisites,
            target.recipe,
        )

    return [t for t in makefile.reached(goal) if not as_the_lab_has_it(t)]


def prepare(
    client: docker.DockerClient | None,
    makefile: Makefile,
    target: str | None,
    variables: Mapping[str, str],
    lab_makefile: Makefile | None = None,
) -> MakeRun:
    """The run of `make TARGET`, after every check that can refuse it (no Docker call but
    the ownership checks of a target that removes things).

    With `lab_makefile` (the lab's own), every target the working copy added is checked again
    as a new one is (`check_recipe`), under today's rules: in a class, a recipe added before a
    rule existed does not outlive it.

    Raises ToolMissing, InvalidInput (no such target, a recipe that may not run),
    UnlabelledMakefile, NotOursToRemove.
    """
    problem = tools_problem()
    if problem is not None:
        raise problem
    if target is not None and makefile.get(target) is None:
        raise InvalidInput(
            f"The Makefile has no target `{target}`; it has {', '.join(makefile.names)}."
        )
    goal = target or makefile.default_goal
    if goal is None:
        raise InvalidInput("The Makefile has no target: plain `make` has nothing to run.")
    if lab_makefile is not None:
        for own in _own_targets(makefile, lab_makefile, goal):
            for line in own.recipe:
                check_recipe(makefile, line)
    missing = _unlabelled(makefile, goal)
    if missing:
        raise UnlabelledMakefile(
            f"`{missing[0].strip()}` leaves out $(BUILD_FLAGS) / $(RUN_FLAGS), through which the "
            "dashboard labels what make builds and runs, so it does not run this target.",
            "Add them back to the Makefile (or reset the working copy's Makefile).",
        )
    if client is not None:
        if makefile.removes_containers(goal) and variables.get("NAME"):
            _check_container(client, variables["NAME"], goal)
        if makefile.removes_images(goal) and variables.get("IMAGE"):
            _check_image(client, f"{variables['IMAGE']}:{variables.get('TAG') or 'latest'}", goal)
    folder = makefile.path.parent if makefile.path else Path.cwd()
    return MakeRun(folder, target, goal, dict(variables), find_make() or "make")


# ---------------------------------------------------------------- running it


@dataclass(frozen=True)
class Refusal:
    """Docker refused something make asked for, in Docker's words."""

    kind: str  # "image-in-use" or "name-in-use"
    line: str
    image: str = ""  # image-in-use: the reference docker rmi was given
    container: str = ""  # the container's id (image-in-use) or name (name-in-use)


def find_refusals(line: str) -> list[Refusal]:
    found = []
    match = IMAGE_IN_USE_RE.search(line)
    if match:
        container = match.group("container") or match.group("other") or ""
        found.append(Refusal("image-in-use", line.strip(), match.group("ref"), container))
    match = NAME_IN_USE_RE.search(line)
    if match:
        found.append(Refusal("name-in-use", line.strip(), container=match.group("name")))
    return found


@dataclass(frozen=True)
class MakeLine:
    number: int  # 1-based
    text: str
    elapsed: float  # seconds since make started


@dataclass(frozen=True)
class MakeResult:
    command: str
    argv: tuple[str, ...]
    folder: Path
    target: str | None
    goal: str | None
    status: str  # exited, timed_out, cancelled
    exit_code: int | None
    seconds: float
    lines: tuple[str, ...]  # the last TAIL_LINES
    lines_total: int
    refusals: tuple[Refusal, ...] = ()
    timeout_s: float = MAKE_TIMEOUT

    @property
    def ok(self) -> bool:
        return self.status == EXITED and self.exit_code == 0

    @property
    def message(self) -> str:
        shown = f"make {self.target}" if self.target else "make"
        if self.status == TIMED_OUT:
            return (
                f"`{shown}` was still running after {self.timeout_s:g} s: the dashboard stopped "
                "it (Ctrl-C, then SIGKILL)."
            )
        if self.status == CANCELLED:
            return f"Stopped by you after {self.seconds:.1f} s (Ctrl-C to make and docker)."
        if self.exit_code == 0:
            return f"`{shown}` finished with exit status 0 after {self.seconds:.1f} s."
        return (
            f"`{shown}` failed with exit status {self.exit_code} after {self.seconds:.1f} s: "
            "make stops at the first command that fails (unless its line starts with `-`)."
        )


@dataclass(frozen=True)
class MakeFinished:
    result: MakeResult


MakeEvent = MakeLine | MakeFinished


def make_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment make runs in: no make variables of a make that started the dashboard,
    and make's own messages in English (the page reads them)."""
    env = dict(os.environ if base is None else base)
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES", "GNUMAKEFLAGS"):
        env.pop(name, None)
    env["LC_MESSAGES"] = "C"
    return env


def _stop(proc: subprocess.Popen, grace: float) -> None:
    """Ctrl-C to make and the docker commands it started, SIGKILL to all after `grace`."""
    child_process.stop(proc, grace=grace, first=signal.SIGINT, group=True)


def _pump(stream, lines: queue.Queue) -> None:
    splitter = LineSplitter()
    try:
        for chunk in iter(lambda: stream.read1(65536), b""):
            for text in splitter.feed(chunk):
                lines.put(text)
        for text in splitter.flush():
            lines.put(text)
    except (OSError, ValueError):
        pass
    finally:
        lines.put(None)


def stream_make(
    run: MakeRun,
    *,
    env: Mapping[str, str] | None = None,
    cancel: threading.Event | None = None,
    timeout: float = MAKE_TIMEOUT,
    grace: float = STOP_GRACE,
    tail_lines: int = TAIL_LINES,
) -> Iterator[MakeEvent]:
    """Run `make [TARGET] VAR=value ...` in `run.folder`: a MakeLine per line of its output
    (stdout and stderr together, as a terminal shows them), then MakeFinished.

    At the deadline, or when `cancel` is set, make's process group gets SIGINT (Ctrl-C) and,
    `grace` seconds later, SIGKILL. Raises ToolMissing when make cannot be started.
    """
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            run.argv,
            cwd=run.folder,
            env=make_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: our Ctrl-C reaches only it
        )
    except FileNotFoundError as exc:
        raise ToolMissing(MAKE_MISSING, MAKE_MISSING_FIX) from exc
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
    reader.start()
    tail: deque[str] = deque(maxlen=tail_lines)
    refusals: list[Refusal] = []
    total = 0
    status = EXITED
    stopper: threading.Thread | None = None
    try:
        while True:
            if stopper is None:
                if cancel is not None and cancel.is_set():
                    status = CANCELLED
                elif time.monotonic() - started > timeout:
                    status = TIMED_OUT
                if status != EXITED:
                    stopper = threading.Thread(target=_stop, args=(proc, grace), daemon=True)
                    stopper.start()
            try:
                text = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if text is None:
                break
            total += 1
            tail.append(text)
            refusals += find_refusals(text)
            yield MakeLine(total, text, time.monotonic() - started)
        code = proc.wait()
    finally:
        _stop(proc, grace)  # also when the consumer closed this generator
        proc.stdout.close()
    yield MakeFinished(
        MakeResult(
            command=run.command,
            argv=tuple(run.argv),
            folder=run.folder,
            target=run.target,
            goal=run.goal,
            status=status,
            exit_code=code,
            seconds=time.monotonic() - started,
            lines=tuple(tail),
            lines_total=total,
            refusals=tuple(refusals),
            timeout_s=timeout,
        )
    )


# ---------------------------------------------------------------- refusals, explained


@dataclass(frozen=True)
class RefusalNote:
    """A refusal as the page says it: a sentence, the fix to type, and the container it names
    (ours or not: the page offers to remove only ours)."""

    kind: str
    sentence: str
    fix: str
    docker_said: str
    container_id: str = ""
    container_name: str = ""
    running: bool = False
    ours: bool = False


@dataclass(frozen=True)
class _Holder:
    id: str
    name: str
    running: bool
    ours: bool


def _holder(client: docker.DockerClient, container: str) -> _Holder:
    """The container a refusal names: its name, whether it runs, whether it is ours."""
    try:
        record = runs.owned_container(client, container)
        ours = record is not None and _student_matches(record.labels)
    except runs.NotOurs:
        record, ours = None, False
    if record is None:
        try:
            other = client.containers.get(container)
        except docker.errors.NotFound:
            return _Holder(container, container[:12], False, False)
        return _Holder(other.id, other.name, other.status == "running", False)
    return _Holder(record.id, record.name, record.running, ours)


def explain_refusals(
    client: docker.DockerClient, refusals: Iterable[Refusal]
) -> tuple[RefusalNote, ...]:
    notes: list[RefusalNote] = []
    seen: set[tuple[str, str]] = set()
    for refusal in refusals:
        if (refusal.kind, refusal.container) in seen:
            continue
        seen.add((refusal.kind, refusal.container))
        holder = _holder(client, refusal.container)
        if refusal.kind == "image-in-use":
            state = "running" if holder.running else "stopped"
            fix = runs.docker_rm_command(holder.name, force=holder.running)
            sentence = (
                f"Docker refused to remove `{refusal.image}`: container `{holder.name}` "
                f"({state}) still uses it, and an image stays as long as a container made from "
                "it exists, even a stopped one. The `-` in front of `docker rmi` in the Makefile "
                "tells make to ignore the error, so make still exited 0. Remove the container "
                f"first (`{fix}`{'' if holder.running else ', or `docker rm -f` if it runs'}), "
                "then `make clean` again."
            )
        else:
            fix = runs.docker_rm_command(holder.name, force=holder.running)
            sentence = (
                f"`docker run --name {refusal.container}` failed: a container of that name "
                "already exists (an earlier run that did not get to its `docker rm`). Remove "
                f"it first (`{fix}`, or `make clean`), then run again."
            )
        notes.append(
            RefusalNote(
                refusal.kind,
                sentence,
                fix,
                refusal.line,
                holder.id,
                holder.name,
                holder.running,
                holder.ours,
            )
        )
    return tuple(notes)
