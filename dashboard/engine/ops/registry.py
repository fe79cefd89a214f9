"""The registry lesson: a local registry on 127.0.0.1:5000, and pushes and pulls through it.

The registry is the real one: Docker's `registry:2` image where it can be pulled, otherwise
(offline classrooms) the same program from Debian's `docker-registry` package, fetched with
`apt-get download`, unpacked with `dpkg -x` and built into `dashboard-registry:2.8.2` on the base
image (`registry_image`). Its build context holds the binary, a config and a Dockerfile only.

One registry serves the whole machine (`CONTAINER`, its blobs in the named volume `VOLUME`),
labelled as the dashboard's, published on the daemon's 127.0.0.1:5000 only: an address every
Docker daemon trusts without TLS. In classroom mode the students share it and keep apart by
repository name (`127.0.0.1:5000/alice/iris-model:1.0`), as they would on a company registry.

The registry's HTTP API is read from inside the registry container (`docker exec` of a small
Python script, `_PROBE`): the daemon may live in another network namespace than this process
(the dashboard's own container, the test matrix), and from inside the container
127.0.0.1:5000 is the registry on every engine.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker

from dashboard import settings
from dashboard.engine.analysis import images
from dashboard.engine.base import labels, validation
from dashboard.engine.base.paths import cache_dir
from dashboard.engine.base.reports import Report, quiet
from dashboard.engine.offline import offline

UPSTREAM_IMAGE = "registry:2"
DEBIAN_PACKAGE = "docker-registry"
LOCAL_IMAGE = "dashboard-registry:2.8.2"
CONTAINER = "dashboard-registry"
VOLUME = "dashboard-registry-data"
HOST = "127.0.0.1"
PORT = 5000
ADDRESS = f"{HOST}:{PORT}"
LAB = "registry"  # the lab label of the registry's container, volume and image
PULLED_LAB = "registry-pull"  # the lab label of containers run from a pulled image
DATA_PATH = "/var/lib/registry"
READY_SECONDS = 30.0

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
INDEX_TYPES = MANIFEST_TYPES[1::2]
ALREADY_EXISTS = "Layer already exists"

CONFIG_YML = """\
# Written by the dashboard: the registry lesson's local registry (no TLS, no auth, loopback).
version: 0.1
log:
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
"""

DOCKERFILE = """\
FROM {base}
COPY docker-registry /usr/bin/docker-registry
COPY config.yml /etc/docker/registry/config.yml
VOLUME /var/lib/registry
EXPOSE 5000
ENTRYPOINT ["/usr/bin/docker-registry"]
CMD ["serve", "/etc/docker/registry/config.yml"]
"""


class RegistryError(RuntimeError):
    """The registry could not be started, reached or used: a sentence with its fix."""


def registry_ref(image: str) -> str:
    """`iris-model:1.0` as it is named in the local registry: `127.0.0.1:5000/iris-model:1.0`."""
    ref = validation.parse_image_ref(image)
    return f"{ADDRESS}/{ref.name}:{ref.tag}"


def _split(ref: str) -> tuple[str, str]:
    parsed = validation.parse_image_ref(ref)
    return parsed.name, parsed.tag


def repository_of(ref: str) -> str:
    """The repository inside the registry: `127.0.0.1:5000/iris-model:1.0` -> `iris-model`."""
    return _split(ref)[0].removeprefix(ADDRESS + "/")


def _labels() -> dict[str, str]:
    # One registry for the machine: no student label (a student's reset leaves it alone).
    return {labels.MANAGED: "true", labels.LAB: LAB, labels.SESSION: labels.process_session()}


# ---------------------------------------------------------------- commands shown


def run_command(image: str) -> str:
    return (
        f"docker run -d --name {CONTAINER} -p {ADDRESS}:{PORT} "
        f"-v {VOLUME}:{DATA_PATH} --restart no {image}"
    )


def down_command(volume: bool) -> str:
    cmd = f"docker rm -f {CONTAINER}"
    return cmd + (f"\ndocker volume rm {VOLUME}" if volume else "")


def push_command(image: str) -> str:
    target = registry_ref(image)
    return f"docker tag {image} {target}\ndocker push {target}"


def pull_command(image: str) -> str:
    return f"docker pull {registry_ref(image)}"


def rmi_command(image: str) -> str:
    return f"docker rmi {registry_ref(image)}"


def api_command(path: str) -> str:
    accept = ""
    if "/manifests/" in path:
        accept = " -H 'Accept: " + ", ".join(MANIFEST_TYPES[::2]) + "'"
    return f"curl -s{accept} http://{ADDRESS}{path}"


# ---------------------------------------------------------------- the registry's image


@dataclass(frozen=True)
class RegistryImage:
    name: str  # what the container runs
    source: str  # "registry:2" (pulled) or "debian" (built from the Debian package)
    note: str = ""  # why it is not registry:2, when it is not


def _present(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.api.inspect_image(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def _pull_upstream(client: docker.DockerClient, report: Report) -> str | None:
    """Pull registry:2; None when it came, else Docker's words why not."""
    report(f"docker pull {UPSTREAM_IMAGE}")
    try:
        client.images.pull(UPSTREAM_IMAGE)
    except docker.errors.APIError as exc:
        return str(exc.explanation or exc).strip()
    return None


def fallback_note(why: str) -> str:
    return (
        f"`docker pull {UPSTREAM_IMAGE}` failed ({why}), so the registry runs from Debian's "
        f"`{DEBIAN_PACKAGE}` package (the same program, version 2.8.2), built into {LOCAL_IMAGE}."
    )


def registry_image(client: docker.DockerClient, report: Report = quiet) -> RegistryImage:
    """registry:2 when it is here or can be pulled; otherwise `dashboard-registry:2.8.2`, built
    from the Debian package once. The pull is tried each time registry:2 is missing (it fails
    at once offline, and the note says why); DASHBOARD_OFFLINE=1: never."""
    if _present(client, UPSTREAM_IMAGE):
        return RegistryImage(UPSTREAM_IMAGE, "registry:2")
    why = "offline mode: DASHBOARD_OFFLINE=1" if settings.offline() else None
    if why is None:
        why = _pull_upstream(client, report)  # fails at once without a network
        if why is None:
            return RegistryImage(UPSTREAM_IMAGE, "registry:2")
    report(fallback_note(why))
    if not _present(client, LOCAL_IMAGE):
        build_registry_image(client, report)
    return RegistryImage(LOCAL_IMAGE, "debian", fallback_note(why))


def _work_dir() -> Path:
    return cache_dir() / "registry"


def fetch_package(report: Report = quiet) -> Path:
    """Debian's docker-registry package in the cache folder (`apt-get download`, once)."""
    folder = _work_dir() / "debs"
    folder.mkdir(parents=True, exist_ok=True)
    found = sorted(folder.glob(f"{DEBIAN_PACKAGE}_*.deb"))
    if found:
        return found[-1]
    if shutil.which("apt-get") is None:
        raise RegistryError(
            f"{UPSTREAM_IMAGE} cannot be pulled and apt-get is missing to fetch Debian's "
            f"{DEBIAN_PACKAGE} package: pull {UPSTREAM_IMAGE} on a machine that can "
            f"(`docker save {UPSTREAM_IMAGE} | docker load` here), or run this on Debian/Ubuntu."
        )
    report(f"apt-get download {DEBIAN_PACKAGE}  (into {folder})")
    done = subprocess.run(
        ["apt-get", "download", DEBIAN_PACKAGE], cwd=folder, capture_output=True, text=True
    )
    found = sorted(folder.glob(f"{DEBIAN_PACKAGE}_*.deb"))
    if done.returncode != 0 or not found:
        raise RegistryError(
            f"`apt-get download {DEBIAN_PACKAGE}` failed: {(done.stderr or done.stdout)[-600:]} "
            "Fix: `apt-get update`, then `python -m dashboard registry up` again."
        )
    return found[-1]


def registry_context(deb: Path, base: str = offline.BASE_IMAGE) -> Path:
    """A build context of three files: the registry binary from `deb`, its config, a Dockerfile."""
    work = _work_dir()
    unpacked = work / "unpacked"
    context = work / "context"
    for folder in (unpacked, context):
        if folder.exists():
            shutil.rmtree(folder)
    context.mkdir(parents=True)
    subprocess.run(["dpkg", "-x", str(deb), str(unpacked)], check=True, capture_output=True)
    shutil.copy2(unpacked / "usr/bin/docker-registry", context / "docker-registry")
    (context / "config.yml").write_text(CONFIG_YML)
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    shutil.rmtree(unpacked)
    return context


def build_registry_image(client: docker.DockerClient, report: Report = quiet) -> str:
    """`docker build -t dashboard-registry:2.8.2` from the Debian package; returns the image id."""
    offline.ensure_base_image(client, report)
    context = registry_context(fetch_package(report))
    report(f"docker build -t {LOCAL_IMAGE} {context}")
    image_id = None
    errors = []
    for chunk in client.api.build(
        path=str(context),
        tag=LOCAL_IMAGE,
        labels={labels.MANAGED: "true", labels.LAB: LAB},
        rm=True,
        forcerm=True,
        decode=True,
    ):
        if "error" in chunk:
            errors.append(str(chunk["error"]).strip())
        image_id = (chunk.get("aux") or {}).get("ID") or image_id
    if errors or not image_id:
        raise RegistryError(f"Building {LOCAL_IMAGE} failed: {' '.join(errors) or 'no image'}")
    report(f"{LOCAL_IMAGE} built ({image_id[7:19]}).")
    return image_id


# ---------------------------------------------------------------- the container


@dataclass(frozen=True)
class RegistryState:
    running: bool
    exists: bool
    image: str = ""
    status: str = ""  # Docker's: running, exited, created
    volume: bool = False  # the data volume exists

    @property
    def sentence(self) -> str:
        if self.running:
            return f"The registry {CONTAINER} runs on {ADDRESS} ({self.image})."
        if self.exists:
            return f"The registry container {CONTAINER} is {self.status}, not running."
        if self.volume:  # it ran before: its volume outlives the container
            return (
                f"No registry runs on {ADDRESS} now; its volume {VOLUME} keeps what was pushed: "
                "start it to serve those images again."
            )
        return f"No registry runs on {ADDRESS}: start it to push to it."


def _container(client: docker.DockerClient):
    """Our registry container, None when there is none; RegistryError when the name is taken
    by a container the dashboard did not make (it is never touched)."""
    try:
        found = client.containers.get(CONTAINER)
    except docker.errors.NotFound:
        return None
    if not labels.is_ours(found.labels) or found.labels.get(labels.LAB) != LAB:
        raise RegistryError(
            f"A container named {CONTAINER} exists and was not made by the dashboard, so it is "
            f"left alone. Fix: rename or remove it yourself (`docker rm -f {CONTAINER}`)."
        )
    return found


def state(client: docker.DockerClient) -> RegistryState:
    try:
        container = _container(client)
    except RegistryError:
        container = None
    try:
        client.api.inspect_volume(VOLUME)
        volume = True
    except docker.errors.NotFound:
        volume = False
    if container is None:
        return RegistryState(False, False, volume=volume)
    image = (container.attrs.get("Config") or {}).get("Image") or ""
    return RegistryState(container.status == "running", True, image, container.status, volume)


PORT_TAKEN_HINTS = ("port is already allocated", "address already in use", "bind for")


def port_taken_sentence(said: str) -> str:
    return (
        f"Port {PORT} on {HOST} is taken, so the registry cannot listen there. Docker said: "
        f"{said.strip()} Fix: stop what holds it (`docker ps --filter publish={PORT}` lists a "
        f"container; `ss -ltnp 'sport = :{PORT}'` any other program), then start the registry "
        "again."
    )


def _volume(client: docker.DockerClient) -> None:
    try:
        found = client.api.inspect_volume(VOLUME)
    except docker.errors.NotFound:
        client.volumes.create(VOLUME, labels=_labels())
        return
    if not labels.is_ours(found.get("Labels")):
        raise RegistryError(
            f"A volume named {VOLUME} exists and was not made by the dashboard, so it is left "
            f"alone. Fix: remove it yourself (`docker volume rm {VOLUME}`) if it is not needed."
        )


@dataclass(frozen=True)
class RegistryUp:
    state: RegistryState
    image: RegistryImage
    command: str
    seconds: float
    started: bool  # False: it was running already


def up(client: docker.DockerClient, report: Report = quiet) -> RegistryUp:
    """Start the registry (its image first, when missing) and wait until its API answers."""
    began = time.monotonic()
    image = registry_image(client, report)
    command = run_command(image.name)
    container = _container(client)
    started = True
    if container is not None and container.status == "running":
        started = False
    elif container is not None:
        report(f"docker start {CONTAINER}")
        _start(container)
    else:
        _volume(client)
        report(command)
        container = client.containers.create(
            image.name,
            name=CONTAINER,
            detach=True,
            ports={f"{PORT}/tcp": (HOST, PORT)},
            volumes={VOLUME: {"bind": DATA_PATH, "mode": "rw"}},
            labels=_labels(),
            restart_policy={"Name": "no"},
            log_config=docker.types.LogConfig(
                type="json-file", config={"max-size": "1m", "max-file": "2"}
            ),
        )
        _start(container)
    wait_ready(client)
    return RegistryUp(state(client), image, command, time.monotonic() - began, started)


def _start(container) -> None:
    try:
        container.start()
    except docker.errors.APIError as exc:
        said = str(exc.explanation or exc)
        if any(hint in said.lower() for hint in PORT_TAKEN_HINTS):
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
            raise RegistryError(port_taken_sentence(said)) from exc
        raise


def wait_ready(client: docker.DockerClient, timeout: float = READY_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            answer = get(client, "/v2/")
        except RegistryError as exc:
            last = str(exc)
        else:
            if answer.status == 200:
                return
            last = f"HTTP {answer.status}"
        time.sleep(0.3)
    raise RegistryError(
        f"The registry did not answer on {ADDRESS} within {timeout:.0f} s ({last}). "
        f"Its log: `docker logs {CONTAINER}`."
    )


@dataclass(frozen=True)
class RegistryDown:
    lines: tuple[str, ...]
    command: str


def down(client: docker.DockerClient, volume: bool = False) -> RegistryDown:
    """Remove the registry container (and with `volume`, its data); only ours, never forced
    past a volume in use."""
    lines = []
    container = _container(client)
    if container is None:
        lines.append(f"No container {CONTAINER}.")
    else:
        container.remove(force=True)
        lines.append(f"Removed container {CONTAINER}.")
    if volume:
        try:
            found = client.api.inspect_volume(VOLUME)
        except docker.errors.NotFound:
            lines.append(f"No volume {VOLUME}.")
        else:
            if labels.is_ours(found.get("Labels")):
                client.api.remove_volume(VOLUME)
                lines.append(f"Removed volume {VOLUME} (the pushed images are gone with it).")
            else:
                lines.append(f"Volume {VOLUME} is not the dashboard's: left alone.")
    else:
        lines.append(f"Kept volume {VOLUME}: the next start serves the same images.")
    return RegistryDown(tuple(lines), down_command(volume))


# ---------------------------------------------------------------- the HTTP API

# Run inside the registry container (`docker exec`): what does the registry answer at these paths?
_PROBE = """\
import json, sys, urllib.error, urllib.request
out = []
for ask in json.loads(sys.argv[1]):
    request = urllib.request.Request("http://127.0.0.1:5000" + ask["path"], method=ask["method"])
    if ask.get("accept"):
        request.add_header("Accept", ask["accept"])
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            out.append({"status": answer.status, "headers": dict(answer.headers),
                        "body": answer.read(4 << 20).decode("utf-8", "replace")})
    except urllib.error.HTTPError as exc:
        out.append({"status": exc.code, "headers": dict(exc.headers),
                    "body": exc.read(1 << 16).decode("utf-8", "replace")})
    except Exception as exc:
        out.append({"status": None, "headers": {}, "body": f"{type(exc).__name__}: {exc}"})
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Answer:
    path: str
    status: int | None
    headers: dict[str, str]
    body: str

    def json(self) -> dict:
        try:
            return json.loads(self.body)
        except ValueError:
            return {}

    def header(self, name: str) -> str:
        lowered = {k.lower(): v for k, v in self.headers.items()}
        return lowered.get(name.lower(), "")


def ask(client: docker.DockerClient, *requests_: tuple[str, str, str]) -> list[Answer]:
    """(method, path, accept) requests to the registry's API, asked from inside its container."""
    container = _container(client)
    if container is None or container.status != "running":
        raise RegistryError(
            f"The registry is not running: start it (`{run_command(LOCAL_IMAGE)}`)."
        )
    wanted = [{"method": m, "path": p, "accept": a} for m, p, a in requests_]
    try:
        done = container.exec_run(["python3", "-c", _PROBE, json.dumps(wanted)], demux=True)
    except docker.errors.APIError as exc:
        raise RegistryError(f"Could not ask the registry: {exc.explanation or exc}") from exc
    said = (done.output[0] or b"").decode("utf-8", "replace").strip().splitlines()
    if done.exit_code != 0 or not said:
        err = (done.output[1] or b"").decode("utf-8", "replace")[-300:]
        raise RegistryError(f"Could not ask the registry (exit {done.exit_code}): {err}")
    return [
        Answer(w["path"], a["status"], a.get("headers") or {}, a.get("body") or "")
        for w, a in zip(wanted, json.loads(said[-1]), strict=True)
    ]


def get(client: docker.DockerClient, path: str, accept: str = "") -> Answer:
    return ask(client, ("GET", path, accept))[0]


@dataclass(frozen=True)
class LayerRef:
    digest: str  # sha256 of the compressed blob: what the registry stores and a pull fetches
    size: int  # compressed bytes
    media_type: str


@dataclass(frozen=True)
class Manifest:
    repository: str
    tag: str
    digest: str  # Docker-Content-Digest of the manifest that `tag` names
    media_type: str
    config_digest: str  # sha256 of the image config: the image id on a graph-driver daemon
    layers: tuple[LayerRef, ...]
    index_digest: str = ""  # when the tag names an index: its digest (`digest` is the platform's)
    platforms: tuple[str, ...] = ()  # the index's entries, e.g. linux/amd64, unknown/unknown
    raw: str = ""

    @property
    def compressed_bytes(self) -> int:
        return sum(layer.size for layer in self.layers)


def _accept() -> str:
    return ", ".join(MANIFEST_TYPES)


def _platform(entry: dict) -> str:
    p = entry.get("platform") or {}
    return f"{p.get('os', '?')}/{p.get('architecture', '?')}"


def _pick(index: dict) -> dict | None:
    """The image manifest of an index for this machine's Linux (not an attestation)."""
    arch = images_arch()
    for entry in index.get("manifests") or []:
        p = entry.get("platform") or {}
        if p.get("os") == "linux" and p.get("architecture") == arch:
            return entry
    return next(iter(index.get("manifests") or []), None)


def images_arch() -> str:
    import platform

    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def manifest(client: docker.DockerClient, repository: str, tag: str) -> Manifest:
    """What the registry holds under `repository:tag`: an image manifest (an index's entry for
    this platform, when the tag names an index) and its layers' digests."""
    answer = get(client, f"/v2/{repository}/manifests/{tag}", _accept())
    if answer.status != 200:
        raise RegistryError(
            f"The registry has no {repository}:{tag} (HTTP {answer.status}): push it first."
        )
    body = answer.json()
    media = body.get("mediaType") or answer.header("Content-Type")
    index_digest, platforms = "", ()
    if media in INDEX_TYPES:
        index_digest = answer.header("Docker-Content-Digest")
        platforms = tuple(_platform(e) for e in body.get("manifests") or [])
        entry = _pick(body)
        if entry is None:
            raise RegistryError(f"{repository}:{tag} names an empty index.")
        answer = get(client, f"/v2/{repository}/manifests/{entry['digest']}", _accept())
        body = answer.json()
        media = body.get("mediaType") or answer.header("Content-Type")
    return Manifest(
        repository=repository,
        tag=tag,
        digest=answer.header("Docker-Content-Digest"),
        media_type=media,
        config_digest=(body.get("config") or {}).get("digest", ""),
        layers=tuple(
            LayerRef(layer.get("digest", ""), int(layer.get("size") or 0), layer.get("mediaType"))
            for layer in body.get("layers") or []
        ),
        index_digest=index_digest,
        platforms=platforms,
        raw=answer.body,
    )


@dataclass(frozen=True)
class Catalog:
    repositories: tuple[str, ...]
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)


def catalog(client: docker.DockerClient) -> Catalog:
    """`GET /v2/_catalog`, then each repository's `GET /v2/NAME/tags/list`."""
    repos = tuple(get(client, "/v2/_catalog").json().get("repositories") or ())
    answers = ask(client, *(("GET", f"/v2/{r}/tags/list", "") for r in repos)) if repos else []
    tags = {r: tuple(a.json().get("tags") or ()) for r, a in zip(repos, answers, strict=True)}
    return Catalog(repos, tags)


# ---------------------------------------------------------------- push and pull


@dataclass(frozen=True)
class LayerStatus:
    id: str  # the short id Docker prints (12 hex digits of the layer's digest)
    status: str  # the last word: Pushed, Layer already exists, Pull complete, Already exists
    seen: tuple[str, ...] = ()  # every status it went through, in order


@dataclass(frozen=True)
class Transfer:
    """A push or a pull, as `docker push` / `docker pull` print it."""

    kind: str  # "push" or "pull"
    ref: str  # 127.0.0.1:5000/iris-model:1.0
    source: str  # the image it came from (push) or ""
    layers: tuple[LayerStatus, ...]
    digest: str  # the manifest digest the registry answered
    lines: tuple[str, ...]  # the CLI's lines, without the progress bars
    seconds: float
    command: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def with_status(self, status: str) -> tuple[LayerStatus, ...]:
        return tuple(layer for layer in self.layers if layer.status == status)

    @property
    def downloaded(self) -> tuple[LayerStatus, ...]:
        """A pull's layers that came over the wire: "Pull complete" on a graph driver, "Download
        complete" on the containerd image store (which says nothing of the layers it has)."""
        return tuple(x for x in self.layers if x.status in ("Pull complete", "Download complete"))

    @property
    def already_existed(self) -> tuple[LayerStatus, ...]:
        return self.with_status(ALREADY_EXISTS if self.kind == "push" else "Already exists")


def _follow(kind: str, ref: str, chunks, on_line: Callable[[str], None]) -> tuple:
    """Read a push or pull stream: per-layer statuses, the lines, the digest, an error."""
    seen: dict[str, list[str]] = {}
    lines: list[str] = []
    digest, error = "", None
    for chunk in chunks:
        if "error" in chunk:
            error = str(chunk.get("error")).strip()
            lines.append(error)
            on_line(error)
            continue
        aux = chunk.get("aux") or {}
        if aux.get("Digest"):
            digest = aux["Digest"]
        status = str(chunk.get("status") or "").strip()
        if not status:
            continue
        layer = chunk.get("id")
        if "digest: sha256:" in status and not digest:
            digest = "sha256:" + status.split("digest: sha256:")[1].split()[0]
        if status.startswith("Digest: sha256:"):
            digest = status.removeprefix("Digest: ")
        progress = status in ("Pushing", "Downloading", "Extracting", "Waiting")
        if layer and progress and seen.get(layer, [""])[-1] == status:
            continue  # progress of the same step: the CLI redraws one bar
        line = f"{layer}: {status}" if layer else status
        if layer and not _is_ref_line(layer, ref):
            seen.setdefault(layer, []).append(status)
        lines.append(line)
        on_line(line)
    layers = tuple(LayerStatus(k, v[-1], tuple(v)) for k, v in seen.items())
    return layers, tuple(lines), digest, error


def _is_ref_line(layer_id: str, ref: str) -> bool:
    """`{"status": "Pulling from iris-model", "id": "1.0"}`: the tag, not a layer."""
    return layer_id == _split(ref)[1] or not all(c in "0123456789abcdef" for c in layer_id)


def _transfer(kind: str, image: str, on_line: Callable[[str], None], start) -> Transfer:
    """Run `start(name, tag)` (the SDK's push or pull stream) for `image`'s registry name."""
    target = registry_ref(image)
    began = time.monotonic()
    chunks = start(*_split(target))
    layers, lines, digest, error = _follow(kind, target, chunks, on_line)
    command = push_command(image) if kind == "push" else pull_command(image)
    source = image if kind == "push" else ""
    seconds = time.monotonic() - began
    return Transfer(kind, target, source, layers, digest, lines, seconds, command, error)


def push(
    client: docker.DockerClient, image: str, on_line: Callable[[str], None] = quiet
) -> Transfer:
    """`docker tag IMAGE 127.0.0.1:5000/IMAGE` and `docker push` it, layer by layer."""
    try:
        client.api.inspect_image(image)
    except docker.errors.ImageNotFound:
        raise RegistryError(f"There is no image {image}: build it first.") from None

    def start(name: str, tag: str):
        client.api.tag(image, name, tag)
        on_line(f"docker tag {image} {name}:{tag}")
        return client.api.push(name, tag, stream=True, decode=True)

    return _transfer("push", image, on_line, start)


def pull(
    client: docker.DockerClient, image: str, on_line: Callable[[str], None] = quiet
) -> Transfer:
    """`docker pull 127.0.0.1:5000/IMAGE`, layer by layer."""

    def start(name: str, tag: str):
        return client.api.pull(name, tag, stream=True, decode=True)

    return _transfer("pull", image, on_line, start)


@dataclass(frozen=True)
class Untagged:
    ref: str
    removed: bool  # False: there was no such tag
    command: str
    lines: tuple[str, ...] = ()


def remove_local(client: docker.DockerClient, image: str, *, also_source: bool = False) -> Untagged:
    """`docker rmi 127.0.0.1:5000/IMAGE`: the registry's name on this machine only (the image
    keeps its other names, so this untags; the registry keeps its copy).

    `also_source`: `docker rmi IMAGE` too, so that the pull back really downloads the layers.
    Only an image the dashboard built, never forced: one a container still uses stays, with
    Docker's words and the fix.
    """
    target = registry_ref(image)
    command = rmi_command(image) + (f"\ndocker rmi {image}" if also_source else "")
    lines: list[str] = []
    removed = _untag(client, target, lines)
    if also_source:
        try:
            found = labels.of_inspect(client.api.inspect_image(image))
        except docker.errors.ImageNotFound:
            found = None
        if found is not None and not labels.is_ours(found):
            raise RegistryError(f"{image} was not built by the dashboard, so it is left alone.")
        if found is not None:
            try:
                _untag(client, image, lines)
            except docker.errors.APIError as exc:
                raise RegistryError(
                    f"`docker rmi {image}` refused: {exc.explanation or exc}. Fix: remove the "
                    f"containers made from it first (`docker ps -a --filter ancestor={image}`), "
                    "or leave its layers here."
                ) from exc
    return Untagged(target, removed, command, tuple(lines))


def _untag(client: docker.DockerClient, ref: str, lines: list[str]) -> bool:
    try:
        said = client.api.remove_image(ref)
    except docker.errors.ImageNotFound:
        lines.append(f"No image {ref} here.")
        return False
    lines += [f"{k}: {v}" for entry in said or [] for k, v in entry.items()]
    return True


def restore_name(client: docker.DockerClient, image: str) -> str | None:
    """After a pull that followed `also_source`: `docker tag 127.0.0.1:5000/IMAGE IMAGE`, so
    the lessons find their image again (the same image id). The command, or None when the name
    was still there."""
    try:
        client.api.inspect_image(image)
        return None
    except docker.errors.ImageNotFound:
        pass
    ref = validation.parse_image_ref(image)
    client.api.tag(registry_ref(image), ref.name, ref.tag)
    return f"docker tag {registry_ref(image)} {image}"


# ---------------------------------------------------------------- digests side by side


@dataclass(frozen=True)
class LayerRow:
    index: int
    instruction: str  # the `docker history` entry that made the layer ("" when unmatched)
    diff_id: str  # RootFS.Layers: sha256 of the uncompressed tar
    digest: str  # the manifest's: sha256 of the compressed blob
    size: int  # compressed bytes (the manifest's)


@dataclass(frozen=True)
class Comparison:
    ref: str
    image_id: str
    repo_digests: tuple[str, ...]
    manifest: Manifest
    rows: tuple[LayerRow, ...]
    history_layers: int  # history entries that made a filesystem layer
    rootfs_layers: int

    @property
    def counts_agree(self) -> bool:
        return len(self.manifest.layers) == self.rootfs_layers == self.history_layers


def compare(client: docker.DockerClient, image: str) -> Comparison:
    """The pushed manifest's layer digests next to `docker history` and RootFS.Layers."""
    target = registry_ref(image)
    name, tag = _split(target)
    found = manifest(client, repository_of(target), tag)
    try:
        report = images.image_layers(client, target)
        inspect = client.api.inspect_image(target)
    except (images.ImageGone, docker.errors.ImageNotFound):
        report = images.image_layers(client, image)
        inspect = client.api.inspect_image(image)
    made = [layer for layer in report.layers if layer.has_layer]
    if not any(layer.has_layer is not None for layer in report.layers):
        made = list(report.non_empty_layers)
    rows = []
    for i, diff_id in enumerate(report.rootfs_layers):
        blob = found.layers[i] if i < len(found.layers) else LayerRef("", 0, "")
        step = made[i].title if i < len(made) else ""
        rows.append(LayerRow(i + 1, step, diff_id, blob.digest, blob.size))
    return Comparison(
        ref=target,
        image_id=inspect["Id"],
        repo_digests=tuple(inspect.get("RepoDigests") or ()),
        manifest=found,
        rows=tuple(rows),
        history_layers=len(made),
        rootfs_layers=len(report.rootfs_layers),
    )
