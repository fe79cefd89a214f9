"""Cleaning up after the dashboard, and only after it.

Everything the dashboard creates carries `io.dockerml.dashboard.managed=true` (see labels.py);
`list_ours` finds those objects with the daemon's label filters and `reset` stops and removes
them: containers first (they hold volumes, networks and images), then networks, volumes and
images. Nothing is forced: an object still in use (409, or an image others were built on) is
reported and left alone, and one already gone (404) counts as done, so a reset can run twice,
or beside another one. Labels can be inherited, so a container counts as ours only with a
session label its image did not give it, and an image only if its labels are not its parent's
(labels.container_is_ours, labels.image_is_ours).

`leftovers` lists what other sessions left behind (a dashboard killed mid-run), for the next
start to offer `remove_all`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

import docker

from dashboard.engine.base import labels
from dashboard.engine.offline import offline

Kind = Literal["container", "image", "volume", "network"]
Outcome = Literal["removed", "gone", "in use", "failed"]


@dataclass(frozen=True)
class OwnedObject:
    kind: Kind
    id: str
    name: str  # container/volume/network name, or the image's first tag (short id if none)
    labels: dict[str, str] = field(default_factory=dict)
    status: str = ""  # containers: running, exited, ...
    tags: tuple[str, ...] = ()  # images only
    created: str | int = ""  # epoch seconds (containers) or Docker's RFC 3339 time

    @property
    def lab(self) -> str | None:
        return self.labels.get(labels.LAB)

    @property
    def session(self) -> str | None:
        return self.labels.get(labels.SESSION)

    @property
    def student(self) -> str | None:
        return self.labels.get(labels.STUDENT)


@dataclass(frozen=True)
class Inventory:
    containers: tuple[OwnedObject, ...] = ()
    images: tuple[OwnedObject, ...] = ()
    volumes: tuple[OwnedObject, ...] = ()
    networks: tuple[OwnedObject, ...] = ()

    @property
    def all(self) -> tuple[OwnedObject, ...]:
        return self.containers + self.images + self.volumes + self.networks

    @property
    def sessions(self) -> set[str]:
        """The session ids found on these objects (images carry none)."""
        return {o.session for o in self.all if o.session}

    def only_session(self, session: str) -> Inventory:
        """The part of this inventory that one session created."""

        def keep(objs: tuple[OwnedObject, ...]) -> tuple[OwnedObject, ...]:
            return tuple(o for o in objs if o.session == session)

        return Inventory(
            keep(self.containers), keep(self.images), keep(self.volumes), keep(self.networks)
        )

    @property
    def counts(self) -> dict[str, int]:
        return {
            "containers": len(self.containers),
            "images": len(self.images),
            "volumes": len(self.volumes),
            "networks": len(self.networks),
        }


@dataclass(frozen=True)
class Removal:
    kind: Kind
    id: str
    name: str
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True)
class ResetReport:
    removals: tuple[Removal, ...]
    session: str | None = None

    def _with(self, outcome: Outcome) -> list[Removal]:
        return [r for r in self.removals if r.outcome == outcome]

    @property
    def removed(self) -> list[Removal]:
        return self._with("removed")

    @property
    def gone(self) -> list[Removal]:
        return self._with("gone")

    @property
    def in_use(self) -> list[Removal]:
        return self._with("in use")

    @property
    def failed(self) -> list[Removal]:
        return self._with("failed")

    @property
    def ok(self) -> bool:
        """Everything we own (in scope) is gone; nothing was in use or failed."""
        return not self.in_use and not self.failed

    @property
    def removed_names(self) -> str:
        """What was removed, by kind and name: "container iris-shell, volume wine_shared"."""
        return ", ".join(f"{r.kind} {r.name}" for r in self.removed)

    @property
    def summary(self) -> str:
        parts = [f"{len(self.removed)} removed"]
        if self.gone:
            parts.append(f"{len(self.gone)} already gone")
        if self.in_use:
            parts.append(f"{len(self.in_use)} in use (left alone)")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts)


def _base_image_id(client: docker.DockerClient) -> str | None:
    try:
        return client.images.get(offline.BASE_IMAGE).id
    except docker.errors.ImageNotFound:
        return None


def _last_step(client: docker.DockerClient, image) -> str | None:
    """The newest history entry of a classic-builder image (one with a parent), else None."""
    if not image.attrs.get("Parent"):
        return None
    try:
        history = client.api.history(image.id)
    except docker.errors.NotFound:
        return None
    return (history[0].get("CreatedBy") or "") if history else ""


def image_is_ours(client: docker.DockerClient, image) -> bool:
    """`labels.image_is_ours` for a docker-py Image, its last step read where it has a parent."""
    return labels.image_is_ours(labels.of_inspect(image.attrs), _last_step(client, image))


def _image_name(image) -> str:
    return image.tags[0] if image.tags else image.short_id.removeprefix("sha256:")


def _labelled(kind: str, objects, created_field: str) -> tuple[OwnedObject, ...]:
    """The volumes or networks among `objects` that carry our label."""
    return tuple(
        OwnedObject(
            kind,
            o.id,
            o.name,
            dict(o.attrs.get("Labels") or {}),
            created=o.attrs.get(created_field) or "",
        )
        for o in objects
        if labels.is_ours(o.attrs.get("Labels"))
    )


def list_ours(
    client: docker.DockerClient,
    session: str | None = None,
    lab: str | None = None,
    include_base: bool = False,
    student: str | None = None,
) -> Inventory:
    """Our containers, images, volumes and networks (optionally one session's, one lab's or
    one classroom student's).

    The python:3.11-slim base is left out unless `include_base`: every lab builds on it, and as
    an offline stand-in it cannot be pulled again. (Images built on the stand-in inherit its
    labels, so it is told apart by id, not by label.)
    """
    wanted = labels.filters(lab=lab, session=session, student=student)
    image_labels: dict[str, dict[str, str]] = {}

    def labels_of_image(image_id: str) -> dict[str, str]:
        if image_id not in image_labels:
            try:
                image_labels[image_id] = labels.of_inspect(client.api.inspect_image(image_id))
            except docker.errors.NotFound:
                image_labels[image_id] = {}
        return image_labels[image_id]

    # The low-level listing has names, labels and state without one inspect per container.
    containers = tuple(
        OwnedObject(
            "container",
            c["Id"],
            (c.get("Names") or ["/" + c["Id"][:12]])[0].lstrip("/"),
            dict(c.get("Labels") or {}),
            status=c.get("State", ""),
            created=c.get("Created", ""),
        )
        for c in client.api.containers(all=True, filters=wanted)
        if labels.container_is_ours(c.get("Labels"), labels_of_image(c.get("ImageID", "")))
    )
    base_id = _base_image_id(client)
    images = []
    for image in client.images.list(all=True, filters=wanted):
        found_labels = labels.of_inspect(image.attrs)
        if not image_is_ours(client, image):
            continue
        if image.id == base_id and not include_base:
            continue
        images.append(
            OwnedObject(
                "image",
                image.id,
                _image_name(image),
                found_labels,
                tags=tuple(image.tags),
                created=image.attrs.get("Created", ""),
            )
        )
    if include_base and base_id and all(i.id != base_id for i in images):
        base = client.images.get(base_id)
        # Only a stand-in is ours to remove; a pulled python:3.11-slim belongs to the user.
        whole = lab is None and session is None and student is None
        base_labels = labels.of_inspect(base.attrs)
        if base_labels.get(labels.STANDIN) == "true" and whole:
            images.append(
                OwnedObject("image", base.id, _image_name(base), base_labels, tuple(base.tags))
            )
    # Volumes say when they were made in CreatedAt, networks in Created.
    volumes = _labelled("volume", client.volumes.list(filters=wanted), "CreatedAt")
    networks = _labelled("network", client.networks.list(filters=wanted), "Created")
    # Newest first: an image built on another of ours must go before its parent.
    images.sort(key=lambda i: str(i.created), reverse=True)
    return Inventory(containers, tuple(images), volumes, networks)


def classify(exc: docker.errors.APIError) -> tuple[Outcome, str]:
    """What a failed removal means: gone (404), in use (409, or 403 for a busy network), failed."""
    status = exc.status_code
    text = str(exc.explanation or exc)
    if status == 404:
        return "gone", text
    if status == 409 and "already in progress" in text:
        return "gone", text  # someone else (or --rm) is removing it right now
    if status in (403, 409):
        return "in use", text
    return "failed", text


class _InUse(Exception):
    """Found in use before trying: nothing was touched."""


def _attempt(kind: Kind, obj: OwnedObject, action) -> Removal:
    try:
        action()
    except _InUse as exc:
        return Removal(kind, obj.id, obj.name, "in use", str(exc))
    except docker.errors.NotFound as exc:
        return Removal(kind, obj.id, obj.name, "gone", str(exc.explanation or exc))
    except docker.errors.APIError as exc:
        outcome, detail = classify(exc)
        return Removal(kind, obj.id, obj.name, outcome, detail)
    return Removal(kind, obj.id, obj.name, "removed")


def remove_container(
    client: docker.DockerClient, obj: OwnedObject, stop_timeout: int = 5
) -> Removal:
    def action():
        container = client.containers.get(obj.id)
        if container.status in {"running", "restarting", "paused"}:
            if container.status == "paused":
                container.unpause()
            container.stop(timeout=stop_timeout)
        container.remove(v=True)

    return _attempt("container", obj, action)


def remove_image(client: docker.DockerClient, obj: OwnedObject) -> Removal:
    def action():
        users = client.api.containers(all=True, filters={"ancestor": obj.id}, quiet=True)
        if users:
            ids = ", ".join(u["Id"][:12] for u in users)
            raise _InUse(f"image {obj.name} is used by container(s) {ids}")
        # Untagging first would strip the name off an image that then cannot be deleted.
        children = [i["Id"] for i in client.api.images(all=True) if i.get("ParentId") == obj.id]
        if children:
            ids = ", ".join(c.removeprefix("sha256:")[:12] for c in children)
            raise _InUse(f"image {obj.name} has images built on it ({ids})")
        # Untag one name at a time (the last one deletes the image): removing by id an image
        # with several names needs force, which we never use.
        for tag in obj.tags:
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(tag, noprune=False)
        if not obj.tags:
            client.images.remove(obj.id, noprune=False)
        else:
            try:
                client.images.get(obj.id)
            except docker.errors.ImageNotFound:
                return
            client.images.remove(obj.id, noprune=False)

    return _attempt("image", obj, action)


def remove_volume(client: docker.DockerClient, obj: OwnedObject) -> Removal:
    return _attempt("volume", obj, lambda: client.api.remove_volume(obj.name))


def remove_network(client: docker.DockerClient, obj: OwnedObject) -> Removal:
    return _attempt("network", obj, lambda: client.api.remove_network(obj.id))


def leftovers(client: docker.DockerClient, current_session: str) -> Inventory:
    """Our containers, volumes and networks that other sessions made (a crashed dashboard's).

    What a dashboard killed mid-run leaves behind still carries our labels, with its own
    session id: the next start lists them here and offers `remove_all`. Images are left out:
    they carry no session and are the build cache every session shares. Another dashboard that
    is still running (another terminal, another machine user) also shows up here: a running
    container may be its, so the caller should show `status` before offering to remove it.
    """
    found = list_ours(client)

    def other(objs: tuple[OwnedObject, ...]) -> tuple[OwnedObject, ...]:
        return tuple(o for o in objs if o.session and o.session != current_session)

    return Inventory(other(found.containers), (), other(found.volumes), other(found.networks))


def remove_all(client: docker.DockerClient, inventory: Inventory) -> ResetReport:
    """Remove exactly these objects: containers first, then networks, volumes, images."""
    removals: list[Removal] = []
    removals += [remove_container(client, c) for c in inventory.containers]
    removals += [remove_network(client, n) for n in inventory.networks]
    removals += [remove_volume(client, v) for v in inventory.volumes]
    removals += [remove_image(client, i) for i in inventory.images]
    sessions = inventory.sessions
    return ResetReport(tuple(removals), sessions.pop() if len(sessions) == 1 else None)


def reset(
    client: docker.DockerClient,
    session: str | None = None,
    include_images: bool = True,
    lab: str | None = None,
    student: str | None = None,
    *,
    containers_only: bool = False,
    keep_volumes: Collection[str] = (),
) -> ResetReport:
    """Stop and remove what we own (one session's, one student's, or all of it): never forced,
    never others'. `containers_only`: containers and nothing else (no volume, network or
    image); `keep_volumes`: volumes left alone by name (the registry's pushed images)."""
    found = list_ours(client, session=session, lab=lab, student=student)
    volumes = tuple(v for v in found.volumes if v.name not in set(keep_volumes))
    if containers_only:
        found = Inventory(found.containers)
    else:
        found = Inventory(
            found.containers, found.images if include_images else (), volumes, found.networks
        )
    report = remove_all(client, found)
    return ResetReport(report.removals, session)


def reset_commands(
    wanted: str,
    *,
    containers_only: bool = False,
    include_images: bool = True,
    keep_volumes: Collection[str] = (),
    stop_timeout: int = 5,
) -> str:
    """The `docker` commands that do what `reset` does for the label filter `wanted` (e.g.
    `io.dockerml.dashboard.session=abc`): stop, then remove, never `-f`."""
    only = f"--filter label={labels.MANAGED}=true"
    if wanted != f"{labels.MANAGED}=true":
        only += f" --filter label={wanted}"
    lines = [
        f"docker ps -q {only} | xargs -r docker stop -t {stop_timeout}",
        f"docker ps -aq {only} | xargs -r docker rm -v",
    ]
    if containers_only:
        return "\n".join(lines)
    lines.append(f"docker network ls -q {only} | xargs -r docker network rm")
    volumes = f"docker volume ls -q {only}"
    for name in keep_volumes:
        volumes += f" | grep -vx {name}"
    lines.append(f"{volumes} | xargs -r docker volume rm")
    if include_images:
        lines.append(
            f"docker images {only} --format '{{{{.Repository}}}}:{{{{.Tag}}}}' "
            "| xargs -r docker rmi"
        )
    return "\n".join(lines)
