"""Offline classroom mode: a stand-in `python:3.11-slim` and a wheelhouse served on loopback.

Classrooms have bad networks and some machines reach no container registry at all. When the
base image cannot be pulled, `ensure_base_image` makes a stand-in from Debian packages
(debootstrap), labelled as such so the UI can say so. Its `/etc/pip.conf` points pip at a
wheelhouse of the labs' requirements that `ensure_wheelhouse_server` serves on 127.0.0.1, and
builds on a stand-in use the host network so `RUN pip install` inside them reaches it. The lab
Dockerfiles stay exactly what a student writes.
"""

from __future__ import annotations

import hashlib
import os
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

from dashboard.engine import labels
from dashboard.engine.labs import requirement_files
from dashboard.engine.paths import data_dir

BASE_IMAGE = "python:3.11-slim"
PYTHON_VERSION = "3.11"
DEBIAN_SUITE = "bookworm"  # Debian 12 ships Python 3.11, as the real image has
WHEELHOUSE_LABEL = f"{labels.PREFIX}.wheelhouse"

Report = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def wheelhouse_port() -> int:
    return int(os.environ.get("DASHBOARD_WHEELHOUSE_PORT", "3141"))


def wheelhouse_url() -> str:
    return f"http://127.0.0.1:{wheelhouse_port()}/"


def wheelhouse_dir() -> Path:
    return data_dir() / "wheelhouse"


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
        image = client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        return BaseImageStatus(BASE_IMAGE, present=False)
    lbls = image.labels or {}
    env = dict(e.split("=", 1) for e in image.attrs.get("Config", {}).get("Env") or [] if "=" in e)
    return BaseImageStatus(
        BASE_IMAGE,
        present=True,
        standin=lbls.get(labels.STANDIN) == "true",
        image_id=image.id,
        size_bytes=image.attrs.get("Size", 0),
        python=env.get("PYTHON_VERSION"),
    )


def is_offline(client: docker.DockerClient) -> bool:
    """True when builds run on the stand-in and so need the wheelhouse and the host network."""
    return base_image_status(client).standin


def build_network(client: docker.DockerClient) -> str | None:
    """The `network_mode` a lab build needs: "host" on the stand-in (wheelhouse on loopback)."""
    if is_offline(client):
        ensure_wheelhouse_server()
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
    if os.environ.get("DASHBOARD_OFFLINE") != "1" and try_pull(client, report):
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
    work = data_dir() / "standin"
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


def _requirements_digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.read_bytes())
    return digest.hexdigest()


def _platform_tags() -> list[str]:
    arch = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)
    return [f"manylinux_2_{minor}_{arch}" for minor in (36, 35, 34, 28, 27, 17)] + [
        f"manylinux2014_{arch}"
    ]


def ensure_wheelhouse(report: Report = _quiet) -> Path:
    """Download wheels for every lab's requirements (for the stand-in's Python), once."""
    files = requirement_files()
    folder = wheelhouse_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / ".requirements.sha256"
    digest = _requirements_digest(files)
    if stamp.exists() and stamp.read_text() == digest:
        return folder
    report(f"Downloading wheels for {len(files)} requirements files into {folder} ...")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(folder)]
    cmd += ["--only-binary=:all:", "--python-version", PYTHON_VERSION]
    cmd += ["--implementation", "cp", "--abi", "cp" + PYTHON_VERSION.replace(".", "")]
    for tag in _platform_tags():
        cmd += ["--platform", tag]
    for f in files:
        cmd += ["-r", str(f)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip download failed: {done.stderr[-1500:]}")
    stamp.write_text(digest)
    return folder


def wheelhouse_serving() -> bool:
    try:
        with urllib.request.urlopen(wheelhouse_url(), timeout=2) as answer:
            return answer.status == 200 and b".whl" in answer.read()
    except OSError:
        return False


def ensure_wheelhouse_server(report: Report = _quiet) -> str:
    """Serve the wheelhouse on loopback in a detached process, unless it already answers."""
    if wheelhouse_serving():
        return wheelhouse_url()
    folder = ensure_wheelhouse(report)
    log = (data_dir() / "wheelhouse-server.log").open("ab")
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
        f"see {data_dir() / 'wheelhouse-server.log'} (is the port taken?)."
    )


def prepare_offline(client: docker.DockerClient, report: Report = _quiet) -> BaseImageStatus:
    """Everything a build needs: the base image and, on a stand-in, the wheelhouse server."""
    status = ensure_base_image(client, report)
    if status.standin:
        ensure_wheelhouse_server(report)
    return status
