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
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_IMAGE_ID_RE = re.compile(r"^(?:sha256:[0-9a-f]{64}|[0-9a-f]{12,64})$")


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


def check_image_lookup(text: str) -> str:
    """An image to look at (inspect, history): NAME[:TAG], NAME[:TAG]@sha256:DIGEST or an id.

    Unlike `parse_image_ref` (what can be built or tagged) a digest is fine here; anything else
    that is wrong gets the same sentence as there. Returns the text as given (no ":latest"
    added: an image id must stay an id).
    """
    value = (text or "").strip()
    if _IMAGE_ID_RE.match(value):
        return value
    name, at, digest = value.partition("@")
    if at and not _DIGEST_RE.match(digest):
        raise InvalidInput(
            f"{digest!r} is not an image digest: use sha256: and 64 hex digits, e.g. "
            "iris-model@sha256:3f1c...."
        )
    parse_image_ref(name)
    return value


def check_container_name(text: str) -> str:
    value = (text or "").strip()
    if not CONTAINER_NAME_RE.match(value):
        raise InvalidInput(
            f"{value!r} is not a valid container name: start with a letter or digit, then use "
            "letters, digits, _ . - (at least two characters)."
        )
    return value.lstrip("/")
