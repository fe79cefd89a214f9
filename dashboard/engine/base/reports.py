"""How long engine steps (preparing offline mode, the class registry) say what they are doing:
a Report callback that takes one sentence at a time, and `quiet`, the one that says nothing."""

from __future__ import annotations

from collections.abc import Callable

Report = Callable[[str], None]


def quiet(_: str) -> None:
    """A Report that drops what it is told."""
