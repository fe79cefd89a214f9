"""Ownership labels: everything the dashboard creates carries them, and only that is touched."""

from __future__ import annotations

import os
import uuid

PREFIX = "io.dockerml.dashboard"
MANAGED = f"{PREFIX}.managed"
LAB = f"{PREFIX}.lab"
SESSION = f"{PREFIX}.session"
STANDIN = f"{PREFIX}.standin"

# One id per process unless the caller pins one (tests, classroom sessions).
_PROCESS_SESSION = os.environ.get("DASHBOARD_SESSION") or uuid.uuid4().hex[:12]


def process_session() -> str:
    return _PROCESS_SESSION


def for_lab(lab: str, session: str | None = None) -> dict[str, str]:
    """Labels for a container or volume the dashboard creates for `lab`."""
    return {MANAGED: "true", LAB: lab, SESSION: session or _PROCESS_SESSION}


def for_image(lab: str) -> dict[str, str]:
    """Labels baked into a lab image. No session: an image is shared by every session's cache."""
    return {MANAGED: "true", LAB: lab}


def filters(lab: str | None = None, session: str | None = None) -> dict[str, list[str]]:
    """Docker API `filters` that select our objects only (optionally one lab or session)."""
    wanted = [f"{MANAGED}=true"]
    if lab:
        wanted.append(f"{LAB}={lab}")
    if session:
        wanted.append(f"{SESSION}={session}")
    return {"label": wanted}


def is_ours(labels: dict[str, str] | None) -> bool:
    return (labels or {}).get(MANAGED) == "true"
