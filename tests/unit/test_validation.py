"""Image references and container names against Docker's grammar, before any call."""

import pytest

from dashboard.engine.base.validation import (
    ImageRef,
    InvalidInput,
    check_container_name,
    parse_image_ref,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("iris-model:1.0", ImageRef("iris-model", "1.0")),
        ("iris-model", ImageRef("iris-model", "latest")),
        ("cache-order:deps-first", ImageRef("cache-order", "deps-first")),
        ("localhost:5000/team/iris_model:v2", ImageRef("localhost:5000/team/iris_model", "v2")),
        ("a__b.c-d:_x", ImageRef("a__b.c-d", "_x")),
        ("x:" + "t" * 128, ImageRef("x", "t" * 128)),
    ],
)
def test_valid_references(text, expected):
    assert parse_image_ref(text) == expected


@pytest.mark.parametrize(
    "text, why",
    [
        ("Lab", "lowercase"),
        ("lab:-x", "a tag starts with"),
        ("lab:" + "t" * 129, "at most 128 characters"),
        ("../x", "not a valid image reference"),
        ("lab;rm", "not a valid image reference"),
        ("", "empty"),
        ("   ", "empty"),
        ("lab@sha256:abc", "Digests"),
        ("lab:1 0", "tag"),
        ("-lab", "not a valid image reference"),
    ],
)
def test_invalid_references_say_why(text, why):
    with pytest.raises(InvalidInput, match=why):
        parse_image_ref(text)


@pytest.mark.parametrize("name", ["iris-run", "test1", "a.b_c-d", "/leading-slash"])
def test_valid_container_names(name):
    assert check_container_name(name) == name.lstrip("/")


@pytest.mark.parametrize("name", ["", "x", "-x", "a b", "a;rm -rf", "../x", "é-name"])
def test_invalid_container_names(name):
    with pytest.raises(InvalidInput, match="not a valid container name"):
        check_container_name(name)
