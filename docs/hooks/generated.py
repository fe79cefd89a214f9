"""MkDocs hook: the parts of the pages that are made from the code at every build, never by hand.

A page that holds `<!-- generated: cli -->` gets the command line reference there, read from the
parser itself (`dashboard.cli.build_parser()`): every verb, its usage, its arguments, their
choices and defaults. `<!-- generated: settings -->` becomes the table of the `DASHBOARD_*`
variables from `dashboard.settings.SETTINGS`. So neither can drift from the code; a marker that
names nothing known is an error. tests/unit/test_docs.py builds the site with `--strict`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"<!-- generated: ([a-z]+) -->")
WIDTH = 96  # argparse's usage lines wrap at this width, whatever the terminal's


def _dashboard():
    if str(ROOT) not in sys.path:  # `mkdocs` the script does not put the repository on the path
        sys.path.insert(0, str(ROOT))
    from dashboard import cli, settings

    return cli, settings


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _usage(parser: argparse.ArgumentParser) -> str:
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=WIDTH)
    return parser.format_usage().strip()


def _arguments(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        name = ", ".join(action.option_strings) or action.dest
        if action.choices is not None:
            takes = "one of " + ", ".join(f"`{c}`" for c in action.choices)
        elif action.option_strings and action.nargs == 0:
            takes = "a flag"
        else:
            takes = f"`{action.metavar or action.dest.upper()}`"
        if action.nargs == "?":
            takes += " (optional)"
        if action.default not in (None, False, argparse.SUPPRESS):
            takes += f", default `{action.default}`"
        rows.append(f"| `{name}` | {_cell(takes)} | {_cell(action.help or '')} |")
    if not rows:
        return ["No arguments."]
    return ["| argument | takes | what it does |", "| --- | --- | --- |", *rows]


def cli_reference() -> str:
    """The command line reference as Markdown, from the parser the command itself uses."""
    cli, _ = _dashboard()
    parser = cli.build_parser()
    verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    summaries = {a.dest: a.help for a in verbs._choices_actions}
    lines = [
        f"`{parser.prog} --help`: {parser.description}",
        "",
        "```text",
        _usage(parser),
        "```",
        "",
        *_arguments(parser),
    ]
    for name, sub in verbs.choices.items():
        lines += [
            "",
            f"### `{name}`",
            "",
            f"{summaries[name][0].upper()}{summaries[name][1:]}.",
            "",
            "```text",
            _usage(sub),
            "```",
            "",
            *_arguments(sub),
        ]
    return "\n".join(lines)


def settings_table() -> str:
    """The table of every `DASHBOARD_*` variable, its default and what it does."""
    _, settings = _dashboard()
    rows = [f"| `{s.name}` | {_cell(s.default)} | {_cell(s.what)} |" for s in settings.SETTINGS]
    return "\n".join(["| variable | default | what it does |", "| --- | --- | --- |", *rows])


GENERATORS = {"cli": cli_reference, "settings": settings_table}


def render(markdown: str) -> str:
    """`markdown` with each marker replaced by what it names."""

    def generate(match: re.Match) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(
                f"<!-- generated: {name} -->: no such generator ({', '.join(GENERATORS)})"
            )
        return GENERATORS[name]()

    return MARKER.sub(generate, markdown)


def on_page_markdown(markdown: str, **_) -> str:
    return render(markdown)
