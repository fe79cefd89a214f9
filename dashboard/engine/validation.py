"""User input checked before any Docker call: image references and container names.

The grammar is Docker's own (distribution/reference and the daemon's container-name rule), so a
bad tag gets a sentence from us instead of an API error, and user text never reaches an option
it was not meant for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
REFERENCE_RE = re.compile(rf"^(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?$")
CONTAINER_NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
NAME_MAX = 255


class InvalidInput(ValueError):
    """What the user typed is not valid for Docker; the message says why and what would be."""


@dataclass(frozen=True)
class ImageRef:
    name: str
    tag: str

    def __str__(self) -> str:
        return f"{self.name}:{self.tag}"


def parse_image_ref(text: str) -> ImageRef:
    """`iris-model:1.0` -> ImageRef("iris-model", "1.0"); a missing tag means "latest"."""
    value = (text or "").strip()
    if not value:
        raise InvalidInput("The image name is empty: use NAME or NAME:TAG, e.g. iris-model:1.0.")
    if "@" in value:
        raise InvalidInput("Digests (@sha256:...) cannot be built or tagged: use NAME:TAG.")
    m = REFERENCE_RE.match(value)
    if not m:
        tag = value.rsplit(":", 1)[1] if ":" in value.rsplit("/", 1)[-1] else None
        if value != value.lower() and REFERENCE_RE.match(value.lower()):
            why = "image names must be lowercase"
        elif tag is not None and len(tag) > 128:
            why = f"a tag has at most 128 characters (this one has {len(tag)})"
        elif tag is not None and not re.fullmatch(_TAG, tag):
            why = "a tag starts with a letter, digit or _ and holds only letters, digits, _ . -"
        else:
            why = (
                "a name is lowercase letters and digits, separated by single . _ __ or - "
                "(and / between path parts)"
            )
        raise InvalidInput(f"{value!r} is not a valid image reference: {why}.")
    if len(m.group("name")) > NAME_MAX:
        raise InvalidInput(f"An image name has at most {NAME_MAX} characters.")
    return ImageRef(m.group("name"), m.group("tag") or "latest")


def check_container_name(text: str) -> str:
    value = (text or "").strip()
    if not CONTAINER_NAME_RE.match(value):
        raise InvalidInput(
            f"{value!r} is not a valid container name: start with a letter or digit, then use "
            "letters, digits, _ . - (at least two characters)."
        )
    return value.lstrip("/")
