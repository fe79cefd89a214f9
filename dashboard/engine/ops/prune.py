"""The cache after `docker rmi` and after a prune, for the cache page.

`remove_tag` is `docker rmi IMAGE` of a lab image the dashboard built: the name goes, and with
its last name the image, but the build cache keeps every layer, so the next build of the lab
takes its steps from the cache. It refuses an image that is not ours, and says Docker's refusal
of an image a container still uses as a sentence with the fix.

`preview` answers "what would `docker builder prune -a` and `docker system prune -a` remove
here?" from one `client.df()` and the network listing, removing nothing. The dashboard never
runs either: they take every stopped container, every image no running container uses, every
unused network and the whole build cache, the user's and other students' included (build cache
records carry no labels, so none can be told apart as ours). The preview lists what they would
take, ours and not ours, so the page can say it in numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import docker

from dashboard.engine.base import labels, validation
from dashboard.engine.base.connection import DAEMON_ERRORS
from dashboard.engine.ops import cleanup

PREDEFINED_NETWORKS = frozenset({"bridge", "host", "none"})


class RemoveRefused(Exception):
    """`docker rmi` was not run (not ours) or Docker refused it; `str()` is a sentence.
    `users`: the containers (names) that still use the image, when that was the reason."""

    refusal = True  # expected: the job log says it in a line, no traceback (work/jobs.py)

    def __init__(self, message: str, fix: str = "", users: tuple[str, ...] = ()):
        super().__init__(f"{message} {fix}".strip())
        self.message = message
        self.fix = fix
        self.users = users


@dataclass(frozen=True)
class RmiResult:
    ref: str
    cli: str  # `docker rmi REF`
    untagged: tuple[str, ...]  # what `docker rmi` prints: "Untagged: ..." names
    deleted: tuple[str, ...]  # "Deleted: sha256:..." ids (the image and layers it alone had)

    @property
    def lines(self) -> list[str]:
        return [f"Untagged: {u}" for u in self.untagged] + [f"Deleted: {d}" for d in self.deleted]


def remove_tag(client: docker.DockerClient, ref: str) -> RmiResult:
    """`docker rmi REF` of an image the dashboard built (never forced)."""
    name = str(validation.parse_image_ref(ref))  # InvalidInput before any call
    cli = f"docker rmi {name}"
    try:
        image = client.images.get(name)
    except docker.errors.ImageNotFound:
        raise RemoveRefused(f"There is no image {name} to remove.", "Build it first.") from None
    if not cleanup.image_is_ours(client, image):
        raise RemoveRefused(
            f"{name} was not built by the dashboard, so it is not the dashboard's to remove.",
            f"Remove it yourself in a terminal if you mean to: `{cli}`.",
        )
    users = client.api.containers(all=True, filters={"ancestor": image.id})
    try:
        answer = client.api.remove_image(name, force=False, noprune=False)
    except docker.errors.APIError as exc:
        if exc.status_code == 409:
            found = tuple((c.get("Names") or ["?"])[0].lstrip("/") for c in users)
            names = _listed(found) or "one"
            one = len(found) <= 1
            which, uses = ("container", "uses") if one else ("containers", "use")
            raise RemoveRefused(
                f"Docker refused `{cli}`: {which} {names} still {uses}"
                f" the image ({exc.explanation or exc}).",
                f"Remove {'it' if one else 'them'} first (`docker rm "
                f"{' '.join(found) or 'NAME'}`, or the button below), then remove the image.",
                users=found,
            ) from exc
        raise RemoveRefused(f"Docker refused `{cli}`: {exc.explanation or exc}.") from exc
    except DAEMON_ERRORS as exc:
        raise RemoveRefused(f"Lost the Docker daemon during `{cli}` ({exc}).") from exc
    untagged = tuple(a["Untagged"] for a in answer or () if a.get("Untagged"))
    deleted = tuple(a["Deleted"] for a in answer or () if a.get("Deleted"))
    return RmiResult(name, cli, untagged, deleted)


def _listed(names: tuple[str, ...]) -> str:
    """a; a and b; a, b and c."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


# ---------------------------------------------------------------- what a prune would take


@dataclass(frozen=True)
class Doomed:
    """One object a prune would remove."""

    kind: str  # container, image, network, cache
    name: str
    size_bytes: int
    ours: bool | None  # None: cannot be told (build cache records carry no labels)


@dataclass(frozen=True)
class PrunePreview:
    builder: tuple[Doomed, ...]  # `docker builder prune -a`: every cache record not in use
    system: tuple[Doomed, ...]  # `docker system prune -a`: the above, and more

    def of_kind(self, kind: str) -> tuple[Doomed, ...]:
        return tuple(d for d in self.system if d.kind == kind)

    @property
    def not_ours(self) -> tuple[Doomed, ...]:
        return tuple(d for d in self.system if d.ours is False)

    @property
    def builder_bytes(self) -> int:
        return sum(d.size_bytes for d in self.builder)


def _size(value) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def preview(df: dict, networks: list[dict]) -> PrunePreview:
    """What the two prunes would remove, from `client.df()` and `client.api.networks()`.

    `docker system prune -a` removes, in this order: stopped containers, networks no container
    uses (the predefined ones never), images no (remaining) container uses, the build cache.
    Volumes stay unless `--volumes` is given, so they are left out here.
    """
    cache = tuple(
        Doomed("cache", r.get("Description") or r.get("ID", ""), _size(r.get("Size")), None)
        for r in df.get("BuildCache") or []
        if not r.get("InUse")
    )
    images = df.get("Images") or []
    image_labels = {i["Id"]: i.get("Labels") or {} for i in images}
    containers = df.get("Containers") or []
    running = [c for c in containers if c.get("State") in ("running", "paused", "restarting")]
    stopped = tuple(
        Doomed(
            "container",
            (c.get("Names") or ["/" + c["Id"][:12]])[0].lstrip("/"),
            _size(c.get("SizeRw")),
            labels.container_is_ours(c.get("Labels"), image_labels.get(c.get("ImageID", ""))),
        )
        for c in containers
        if c not in running
    )
    used_networks = {
        net for c in running for net in ((c.get("NetworkSettings") or {}).get("Networks") or {})
    }
    unused_networks = tuple(
        Doomed("network", n.get("Name", ""), 0, labels.is_ours(n.get("Labels")))
        for n in networks
        if n.get("Name") not in PREDEFINED_NETWORKS
        and n.get("Name") not in used_networks
        and n.get("Scope", "local") == "local"
        and not n.get("Ingress")
    )
    used_images = {c.get("ImageID") for c in running}
    unused_images = tuple(
        Doomed(
            "image",
            next((t for t in i.get("RepoTags") or [] if t != "<none>:<none>"), None)
            or i["Id"].removeprefix("sha256:")[:12],
            max(0, _size(i.get("Size")) - _size(i.get("SharedSize"))),
            labels.is_ours(i.get("Labels")),
        )
        for i in images
        if i["Id"] not in used_images
    )
    return PrunePreview(cache, stopped + unused_networks + unused_images + cache)


def prune_preview(client: docker.DockerClient) -> PrunePreview:
    """`preview` of this daemon (reads only)."""
    return preview(client.df(), client.api.networks())
