"""Dockerfile hints: the lab files, each rule firing and not firing, and files that are broken."""

from __future__ import annotations

import pytest

from dashboard.engine import dockerfile_lint as dl
from dashboard.engine import labs
from dashboard.engine.paths import labs_dir

CACHE_ORDER = labs_dir() / "cache-order"


def rules(text: str, **kwargs) -> dict[str, list[dl.Hint]]:
    report = dl.lint_text(text, **kwargs)
    out: dict[str, list[dl.Hint]] = {}
    for h in report.hints:
        out.setdefault(h.rule, []).append(h)
    return out


# ---------------------------------------------------------------- the lab files


def test_code_first_copies_code_before_the_install():
    report = dl.lint_file(CACHE_ORDER / "Dockerfile.code-first")
    (hint,) = [h for h in report.hints if h.rule == "code-before-deps"]
    lines = (CACHE_ORDER / "Dockerfile.code-first").read_text().splitlines()
    assert lines[hint.line - 1] == "COPY . ."
    assert hint.level == dl.WARNING and hint.lesson == "cache"
    assert "pip install --no-cache-dir -r requirements.txt" in hint.message
    assert f"(line {hint.line + 1})" in hint.message  # the RUN right after it


def test_deps_first_does_not():
    report = dl.lint_file(CACHE_ORDER / "Dockerfile.deps-first")
    assert "code-before-deps" not in report.rule_ids()


@pytest.mark.parametrize(
    "path",
    [p for lab in labs.LABS.values() for p in dl.lab_dockerfiles(lab)],
    ids=lambda p: str(p.relative_to(labs_dir())),
)
def test_every_lab_dockerfile_lints_without_errors(path):
    report = dl.lint_file(path)
    assert report.parse_error is None
    assert report.errors == [], [h.message for h in report.errors]
    assert report.ok
    assert len(report.instructions) >= 5
    # The labs pin their dependencies and use --no-cache-dir, as the lecture teaches.
    assert not {"pip-no-cache-dir", "requirements-unpinned", "base-tag"} & report.rule_ids()
    # Teaching images run as root: said, but only as information.
    assert [h.level for h in report.hints if h.rule == "root-user"] == [dl.INFO]


def test_lint_lab_covers_every_compose_service():
    reports = dl.lint_lab(labs.get("wine"))
    assert sorted(r.file.rsplit("/", 2)[-2] for r in reports) == ["predict", "train"]
    assert all(r.builder == dl.BUILDKIT for r in reports)


def test_the_multistage_lab_parses_into_two_stages():
    report = dl.lint_file(labs_dir() / "iris-multistage" / "Dockerfile")
    froms = [i for i in report.instructions if i.keyword == "FROM"]
    assert [(i.stage, i.args[-1]) for i in froms] == [(0, "trainer"), (1, "predictor")]
    copy_from = next(i for i in report.instructions if i.flags)
    assert copy_from.flags == ("--from=trainer",) and copy_from.stage == 1


# ---------------------------------------------------------------- broken files


@pytest.mark.parametrize(
    "text",
    ["", "   \n\n", "# only a comment\n", "\x00\x01\x02binary", "\ufeff"],
    ids=["empty", "blank", "comment", "binary", "bom"],
)
def test_a_file_without_instructions_gives_a_parse_message(text):
    report = dl.lint_text(text)
    assert report.parse_error
    (hint,) = report.hints
    assert hint.rule == "parse-error" and hint.level == dl.ERROR and hint.line == 0
    assert hint.message.startswith("Docker cannot read this Dockerfile")
    assert not report.ok


def test_unknown_instructions_and_missing_arguments_are_errors():
    found = rules(
        "FROM python:3.11-slim\nRUN pip install --no-cache-dir x==1 && \\\n  pip list\nFOO\n"
    )
    assert [h.line for h in found["unknown-instruction"]] == [4]
    found = rules("FROM python:3.11-slim\nWORKDIR\n")
    assert [h.line for h in found["missing-arguments"]] == [2]


def test_a_continuation_that_was_forgotten_is_an_unknown_instruction():
    text = "FROM python:3.11-slim\nRUN apt-get update &&\n    apt-get install -y curl\n"
    (hint,) = rules(text)["unknown-instruction"]
    assert hint.line == 3 and "backslash" in hint.message


def test_no_from_is_an_error_but_arg_may_come_first():
    assert "no-from" in rules("RUN echo hi\n")
    assert "no-from" not in rules("ARG V=3.11\nFROM python:${V}-slim\n")


def test_broken_json_exec_form_is_an_error():
    (hint,) = rules('FROM python:3.11-slim\nCMD ["python", main.py]\n')["broken-json"]
    assert hint.line == 2 and hint.level == dl.ERROR
    assert "cmd-shell-form" not in rules('FROM python:3.11-slim\nCMD ["python", main.py]\n')


def test_a_missing_file_gives_a_parse_message(tmp_path):
    report = dl.lint_file(tmp_path / "Dockerfile")
    assert report.parse_error and report.hints[0].rule == "parse-error"


def test_heredocs_and_mounts_need_buildkit_only_with_the_classic_builder():
    text = (
        "FROM python:3.11-slim\n"
        "RUN <<EOF\npip install --no-cache-dir numpy==2.4.6\nEOF\n"
        "RUN --mount=type=cache,target=/root/.cache/pip pip install numpy==2.4.6\n"
    )
    classic = rules(text)
    assert [h.line for h in classic["needs-buildkit"]] == [2, 5]
    buildkit = rules(text, builder=dl.BUILDKIT)
    assert "needs-buildkit" not in buildkit
    # The cache mount keeps pip's cache out of the layer: no --no-cache-dir hint for it.
    assert "pip-no-cache-dir" not in buildkit


def test_the_syntax_directive_is_noted_for_the_classic_builder():
    text = "# syntax=docker/dockerfile:1\nFROM python:3.11-slim\n"
    (hint,) = rules(text)["syntax-directive"]
    assert hint.line == 1 and hint.level == dl.INFO
    assert "syntax-directive" not in rules(text, builder=dl.BUILDKIT)
    assert dl.parser_directives(text) == {"syntax": ("docker/dockerfile:1", 1)}


def test_the_escape_directive_and_crlf_line_endings_are_understood():
    text = "# escape=`\r\nFROM python:3.11-slim\r\nRUN pip install `\r\n    numpy==2.4.6\r\n"
    report = dl.lint_text(text)
    run = report.instructions[-1]
    assert (run.line, run.end_line) == (3, 4)
    assert "pip-no-cache-dir" in report.rule_ids()


# ---------------------------------------------------------------- rules


def test_pip_without_no_cache_dir():
    (hint,) = rules("FROM python:3.11-slim\nRUN pip install -r requirements.txt\n")[
        "pip-no-cache-dir"
    ]
    assert hint.line == 2 and hint.lesson == "lesson1"
    found = rules("FROM python:3.11-slim\nRUN python3 -m pip install numpy==1 && pip3 list\n")
    assert len(found["pip-no-cache-dir"]) == 1
    assert "pip-no-cache-dir" not in rules(
        "FROM python:3.11-slim\nENV PIP_NO_CACHE_DIR=1\nRUN pip install numpy==1\n"
    )
    assert "pip-no-cache-dir" not in rules(
        "FROM python:3.11-slim\nRUN echo 'pip install x' && pip --version\n"
    )
    for env in ("ENV A=1 PIP_NO_CACHE_DIR=1", "ENV PIP_NO_CACHE_DIR 1", "ARG PIP_NO_CACHE_DIR=1"):
        assert "pip-no-cache-dir" not in rules(
            f"FROM python:3.11-slim\n{env}\nRUN pip install numpy==1\n"
        ), env
    # ENV in another stage does not count.
    assert "pip-no-cache-dir" in rules(
        "FROM a:1 AS b\nENV PIP_NO_CACHE_DIR=1\nFROM python:3.11-slim\nRUN pip install x==1\n"
    )


def test_code_copied_before_the_install_in_other_shapes():
    py = "FROM python:3.11-slim\nCOPY main.py requirements.txt ./\nRUN pip install -r r.txt\n"
    assert [h.line for h in rules(py)["code-before-deps"]] == [2]
    apt = "FROM python:3.11-slim\nCOPY . /app\nRUN apt-get update && apt-get install -y gcc\n"
    assert "code-before-deps" in rules(apt)
    # Copying only the requirements, or copying from another stage, is fine.
    ok = "FROM python:3.11-slim\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
    assert "code-before-deps" not in rules(ok)
    staged = "FROM a AS b\nFROM python:3.11-slim\nCOPY --from=b /app .\nRUN pip install x==1\n"
    assert "code-before-deps" not in rules(staged)
    # A RUN that does not install anything after the code is fine too.
    assert "code-before-deps" not in rules("FROM python:3.11-slim\nCOPY . .\nRUN python m.py\n")


def test_base_image_tags():
    assert "no tag" in rules("FROM python\n")["base-tag"][0].message
    assert ":latest" in rules("FROM ubuntu:latest\n")["base-tag"][0].message
    assert "base-tag" in rules("FROM localhost:5000/team/python\n")  # a port is not a tag
    for fine in (
        "FROM python:3.11-slim\n",
        "FROM python@sha256:" + "a" * 64 + "\n",
        "FROM scratch\n",
        "ARG BASE=python:3.11\nFROM ${BASE}\n",
        "FROM localhost:5000/team/python:3.11\n",
        "FROM python:3.11-slim AS build\nFROM build\n",
        "FROM --platform=linux/amd64 python:3.11-slim\n",
    ):
        assert "base-tag" not in rules(fine), fine


def test_root_user_is_information_about_the_final_stage():
    (hint,) = rules("FROM python:3.11-slim AS a\nUSER app\nFROM python:3.11-slim\n")["root-user"]
    assert hint.level == dl.INFO and hint.line == 3
    assert "root-user" not in rules("FROM python:3.11-slim\nRUN useradd app\nUSER app\n")
    assert "root-user" in rules("FROM python:3.11-slim\nUSER app\nUSER 0\n")


def test_apt_get_install_hygiene():
    found = rules("FROM debian:12\nRUN apt-get update && apt-get install -y curl\n")
    assert [h.line for h in found["apt-lists"]] == [2]
    assert [h.line for h in found["apt-recommends"]] == [2]
    clean = (
        "FROM debian:12\n"
        "RUN apt-get update \\\n"
        "    && apt-get install -y --no-install-recommends curl \\\n"
        "    && rm -rf /var/lib/apt/lists/*\n"
    )
    assert not {"apt-lists", "apt-recommends"} & set(rules(clean))


def test_add_where_copy_would_do():
    (hint,) = rules("FROM python:3.11-slim\nADD main.py /app/\n")["add-instead-of-copy"]
    assert hint.line == 2
    for fine in ("ADD data.tar.gz /data/", "ADD https://example.org/a.txt /a", "COPY a b"):
        assert "add-instead-of-copy" not in rules(f"FROM python:3.11-slim\n{fine}\n"), fine


def test_cmd_shell_form_suggests_the_exec_form():
    (hint,) = rules("FROM python:3.11-slim\nCMD python main.py\n")["cmd-shell-form"]
    assert 'CMD ["python", "main.py"]' in hint.message
    (hint,) = rules("FROM python:3.11-slim\nENTRYPOINT python main.py | tee log\n")[
        "cmd-shell-form"
    ]
    assert "exec form" in hint.message
    assert "cmd-shell-form" not in rules('FROM python:3.11-slim\nCMD ["python", "main.py"]\n')


def test_multiple_cmd_in_one_stage():
    text = 'FROM python:3.11-slim\nCMD ["a"]\nCMD ["b"]\nFROM python:3.11-slim\nCMD ["c"]\n'
    (hint,) = rules(text)["multiple-cmd"]
    assert hint.line == 2 and "(line 3)" in hint.message


def test_unpinned_requirements_need_the_context(tmp_path):
    (tmp_path / "requirements.txt").write_text(
        "# deps\nnumpy==2.4.6\nscikit-learn>=1.0\npandas  # any\n-r more.txt\n"
        "pkg @ https://example.org/pkg.whl\n"
    )
    text = "FROM python:3.11-slim\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
    assert "requirements-unpinned" not in rules(text)  # no context given: no file to read
    (hint,) = rules(text, context_dir=tmp_path)["requirements-unpinned"]
    assert hint.line == 3
    assert "scikit-learn>=1.0 (line 3)" in hint.message and "pandas (line 4)" in hint.message
    listed = hint.message.split(" lists ", 1)[1].split(" without ", 1)[0]
    assert listed == "scikit-learn>=1.0 (line 3), pandas (line 4)"
    # The lab's own file pins every line.
    assert "requirements-unpinned" not in rules(text, context_dir=labs_dir() / "iris")


def test_unpinned_packages_on_the_pip_command_line():
    (hint,) = rules("FROM python:3.11-slim\nRUN pip install --no-cache-dir numpy pandas==2\n")[
        "requirements-unpinned"
    ]
    assert "installs numpy without a version" in hint.message
    pinned = "FROM python:3.11-slim\nRUN pip install --no-cache-dir -i http://h/simple x==1 .\n"
    assert "requirements-unpinned" not in rules(pinned)


def test_every_rule_names_a_lesson_and_a_level():
    assert set(dl.LESSONS) == {"lesson1", "cache", "multistage", "compose"}
    for rule in dl.RULES.values():
        assert rule.lesson in dl.LESSONS and rule.level in dl.LEVELS and rule.why


def test_hints_are_sorted_by_line_and_carry_the_instruction():
    report = dl.lint_text("FROM python\nADD a.py /\nCMD python a.py\n")
    assert [h.line for h in report.hints] == sorted(h.line for h in report.hints)
    add = next(h for h in report.hints if h.rule == "add-instead-of-copy")
    assert add.instruction == "ADD a.py /" and add.title == "ADD where COPY would do"
    assert report.by_line()[2] == [add]


# ---------------------------------------------------------------- the shell splitter


def test_shell_commands_split_on_operators_and_keep_quotes():
    script = "apt-get update && apt-get install -y 'a b' ; echo \"x && y\" | tee f || true"
    assert dl.shell_commands(script) == [
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "a b"],
        ["echo", "x && y"],
        ["tee", "f"],
        ["true"],
    ]
    assert dl.shell_commands("echo 'unclosed && pip install x") != []  # no exception


def test_pip_install_reads_options_and_files():
    command = "PIP_X=1 python3.11 -m pip install --no-cache-dir -r a.txt --requirement=b.txt"
    found = dl.pip_install([*command.split(), "-i", "http://x/simple", "numpy==1", "-e", "."])
    assert found.requirement_files == ("a.txt", "b.txt")
    assert found.packages == ("numpy==1",)
    assert "--no-cache-dir" in found.options
    assert dl.pip_install(["pip", "list"]) is None
    assert dl.pip_install(["echo", "pip", "install"]) is None
