"""Ownership labels: everything the dashboard creates carries them, and only that is touched."""

from __future__ import annotations

from collections.abc import Mapping

from dashboard.engine.base import owner

PREFIX = "io.dockerml.dashboard"
MANAGED = f"{PREFIX}.managed"
LAB = f"{PREFIX}.lab"
SESSION = f"{PREFIX}.session"
STANDIN = f"{PREFIX}.standin"
STUDENT = f"{PREFIX}.student"  # classroom mode: whose it is (see owner.py)
# The dashboard itself (its container, image and volume; a classroom seat): never cleaned up.
APP = f"{PREFIX}.app"


def process_session() -> str:
    """The session id of this dashboard process (what a laptop's dashboard labels with)."""
    return owner.process_owner().session


def current_session() -> str:
    """The session id of whom the dashboard works for now: the process, or a student."""
    return owner.current().session


def for_lab(lab: str, session: str | None = None) -> dict[str, str]:
    """Labels for a container or volume the dashboard creates for `lab` (as the current owner)."""
    me = owner.current()
    found = {MANAGED: "true", LAB: lab, SESSION: session or me.session}
    if me.student:
        found[STUDENT] = me.student
    return found


def for_image(lab: str) -> dict[str, str]:
    """Labels baked into a lab image. No session: on a laptop an image is shared by every
    session of the dashboard; in classroom mode it carries its student (images are theirs)."""
    me = owner.current()
    found = {MANAGED: "true", LAB: lab}
    if me.student:
        found[STUDENT] = me.student
    return found


def filters(
    lab: str | None = None, session: str | None = None, student: str | None = None
) -> dict[str, list[str]]:
    """Docker API `filters` that select our objects only (optionally one lab, session, student)."""
    wanted = [f"{MANAGED}=true"]
    if lab:
        wanted.append(f"{LAB}={lab}")
    if session:
        wanted.append(f"{SESSION}={session}")
    if student:
        wanted.append(f"{STUDENT}={student}")
    return {"label": wanted}


def of_inspect(attrs: Mapping | None) -> dict[str, str]:
    """The labels in an inspect answer (`Config.Labels`) or a listing entry (`Labels`).

    Engine 29 leaves empty fields out of inspect answers (`Config.Labels`, `Cmd`, `Env`,
    `WorkingDir`, ...), and the SDK's `Image.labels` raises KeyError when `Config` itself is
    missing: read them through here, never as `attrs["Config"]["Labels"]`.
    """
    attrs = attrs or {}
    config = attrs.get("Config") or {}
    return dict(config.get("Labels") or attrs.get("Labels") or {})


def is_ours(labels: Mapping[str, str] | None) -> bool:
    return (labels or {}).get(MANAGED) == "true"


def is_current_owners(labels: Mapping[str, str] | None) -> bool:
    """Ours, and in classroom mode the current student's (an image of the same name built by
    hand or by someone else is neither)."""
    student = owner.current().student
    return is_ours(labels) and (not student or (labels or {}).get(STUDENT) == student)


def container_is_ours(
    container_labels: Mapping[str, str] | None, image_labels: Mapping[str, str] | None = None
) -> bool:
    """A container the dashboard created: the managed label and a session label not inherited.

    `is_ours` alone is not enough for containers: a container inherits its image's labels, and
    lab images carry managed=true, so a student's own `docker run iris-model:1.0` in a terminal
    would pass. What we create always gets a session label (`for_lab`); lab images have none
    (`for_image`), and a session label that equals the image's was inherited, not given by us.
    Pass `image_labels` when known; without them only the first two checks apply.
    """
    lbls = container_labels or {}
    session = lbls.get(SESSION)
    if not is_ours(lbls) or not session:
        return False
    return (image_labels or {}).get(SESSION) != session


def image_is_ours(image_labels: Mapping[str, str] | None, last_step: str | None = None) -> bool:
    """An image the dashboard built: the managed label, and not inherited from a parent of ours.

    The classic builder appends our build labels as the last steps (`LABEL io.dockerml...`), so
    an image we built ends with one. An image a student builds `FROM iris-model:1.0` inherits
    all of our labels but ends with the student's own instructions. Pass `last_step`, the newest
    history entry's `CreatedBy`, for an image that has a recorded parent (classic builds);
    None for one without (BuildKit and Compose builds record none, and their labels cannot be
    told apart from inherited ones).
    """
    if not is_ours(image_labels):
        return False
    if last_step is None:
        return True
    return "LABEL" in last_step and f"{PREFIX}." in last_step
