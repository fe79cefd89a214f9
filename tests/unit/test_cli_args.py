"""The command line's arguments: `--json` before or after every verb, and input checked first.

No daemon: DOCKER_HOST points at a socket that does not exist, so a verb that reached Docker
would end with "No Docker daemon socket" and exit status 2; an invalid image reference must end
before that, with the sentence the pages show.
"""

from __future__ import annotations

import json

import pytest

from dashboard import cli
from dashboard.engine.base import validation

VERBS = {
    "doctor": [],
    "prepare": ["--no-build"],
    "build": ["iris", "--no-cache"],
    "run": ["iris", "--timeout", "5"],
    "layers": ["iris-model:1.0"],
    "reset": ["--session", "s1"],
    "registry": ["push", "iris"],
}


@pytest.mark.parametrize("verb", VERBS)
def test_json_goes_before_or_after_the_verb(verb):
    parse = cli.build_parser().parse_args
    rest = VERBS[verb]
    assert parse([verb, *rest]).json is False
    assert parse(["--json", verb, *rest]).json is True
    assert parse([verb, *rest, "--json"]).json is True
    assert parse([verb, "--json", *rest]).json is True
    assert parse(["--json", verb, *rest, "--json"]).json is True


def test_the_verbs_other_arguments_are_kept():
    args = cli.build_parser().parse_args(["run", "iris", "--json", "--timeout", "7"])
    assert (args.verb, args.lab, args.timeout, args.json) == ("run", "iris", 7, True)
    args = cli.build_parser().parse_args(["layers", "iris-model:1.0", "--json"])
    assert (args.verb, args.image, args.json) == ("layers", "iris-model:1.0", True)


@pytest.fixture
def no_daemon(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.delenv("DOCKER_API_VERSION", raising=False)


def ui_sentence(ref: str) -> str:
    with pytest.raises(validation.InvalidInput) as caught:
        validation.parse_image_ref(ref)
    return str(caught.value)


@pytest.mark.parametrize("ref", ["BAD IMAGE!!", "Iris-Model:1.0", "iris:bad tag", ""])
def test_an_invalid_reference_gets_the_pages_sentence_before_any_call(no_daemon, capsys, ref):
    assert cli.main(["layers", ref]) == 1
    out = capsys.readouterr().out
    assert out == f"error: {ui_sentence(ref)}\n"
    assert "No Docker daemon socket" not in out

    assert cli.main(["layers", ref, "--json"]) == 1
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record == {"type": "error", "kind": "InvalidInput", "message": ui_sentence(ref)}


def test_the_sentence_for_bad_image_is_the_validation_modules():
    assert ui_sentence("BAD IMAGE!!") == (
        "'BAD IMAGE!!' is not a valid image reference: a name is lowercase letters and digits, "
        "separated by single . _ __ or - (and / between path parts)."
    )


def test_a_valid_reference_goes_on_to_docker(no_daemon, capsys):
    assert cli.main(["layers", "iris-model:1.0", "--json"]) == 2
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["type"] == "error" and record["reason"] == "missing"


@pytest.mark.parametrize(
    "ref",
    [
        "iris-model",
        "iris-model:1.0",
        "localhost:5000/team/iris-model:1.0",
        "iris-model@sha256:" + "a" * 64,
        "iris-model:1.0@sha256:" + "0" * 64,
        "sha256:" + "b" * 64,
        "3f1c2d4e5a6b",
    ],
)
def test_what_layers_may_look_at(ref):
    assert validation.check_image_lookup(f" {ref} ") == ref


@pytest.mark.parametrize(
    "ref, words",
    [
        ("iris-model@sha256:abc", "is not an image digest"),
        ("iris-model@md5:" + "a" * 32, "is not an image digest"),
        ("BAD IMAGE!!", "is not a valid image reference"),
        ("Bad@sha256:" + "a" * 64, "image names must be lowercase"),
    ],
)
def test_what_layers_refuses(ref, words):
    with pytest.raises(validation.InvalidInput, match=words):
        validation.check_image_lookup(ref)


def test_registry_push_needs_an_image_lab_and_says_so_before_any_call(no_daemon, capsys):
    assert cli.main(["registry", "push", "--json"]) == 1
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["kind"] == "InvalidInput" and "registry push iris" in record["message"]
    with pytest.raises(SystemExit):  # a Compose lab is no image to push: argparse's choices
        cli.build_parser().parse_args(["registry", "push", "wine"])
    capsys.readouterr()
    args = cli.build_parser().parse_args(["registry", "down", "--volume"])
    assert (args.action, args.volume, args.lab) == ("down", True, None)
    assert cli.main(["registry", "up"]) == 2  # no daemon: the one sentence, exit status 2
    assert "No Docker daemon socket" in capsys.readouterr().out
