"""A class's lab machines on one machine: a Docker Swarm of three namespaced engines.

What a school has is a few machines in swarm mode, one of them the manager where the hub runs.
This module makes that here, for the classroom's tests and for an instructor trying it out:
three Engine 26 daemons (Debian 13's packages, as the engine matrix unpacks them), each in a
network namespace, a UTS namespace (its own host name, `node1` ...) and a mount namespace of its
own, wired by veth pairs to a bridge in a fourth namespace, on addresses that exist only inside
those namespaces. Node 1 inits the swarm, nodes 2 and 3 join it.

Each node's mount namespace shows the node's own socket at `NODE_SOCKET` (what
`/var/run/docker.sock` is on a real lab machine), so a seat that mounts "the engine of the node
it lands on" gets that node's, whichever node it is. Each node also has the stand-in base image
and the offline wheelhouse on its own loopback, as `prepare` gives a real lab machine.

    python -m tests.swarm up        # idempotent; prints the nodes
    python -m tests.swarm status
    python -m tests.swarm env       # `export DOCKER_HOST=...` for the manager
    python -m tests.swarm hub [--port 8000]   # `classroom up` on the manager, the hub on the
                                    # host's 127.0.0.1:PORT until Ctrl-C, then `classroom down`
    python -m tests.swarm down [--purge]

Facts this rests on (found on these machines): no IPVS in this kernel, so services use
`--endpoint-mode dnsrr` and host-mode published ports; `ip netns exec` breaks dockerd, so it
starts under `nsenter`; no second dockerd ever runs in the host's own network namespace.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests import engines

NODES = ("node1", "node2", "node3")
MANAGER = NODES[0]
BRIDGE_NETNS = "dml-swarm-net"
SUBNET = "10.213.0"  # node i has SUBNET.i; nothing outside the namespaces has these addresses
NODE_SOCKET = "/run/dml-node/docker.sock"  # inside each node's mount namespace
ROOT = engines.ROOT / "swarm"
RUN = Path("/run/dml-swarm")


def address(node: str) -> str:
    return f"{SUBNET}.{NODES.index(node) + 1}"


def netns_path(node: str) -> str:
    return f"/var/run/netns/dml-{node}"


def socket_path(node: str) -> Path:
    return RUN / node / "docker.sock"


def docker_host(node: str) -> str:
    return f"unix://{socket_path(node)}"


def engine(node: str) -> engines.Engine:
    """The node as the engine matrix's helpers take it (its namespace, folder, socket)."""
    return _NodeEngine(node)


class _NodeEngine(engines.Engine):
    def __init__(self, node: str):
        super().__init__(f"swarm-{node}", {"storage-driver": "overlay2"}, "overlay2")
        object.__setattr__(self, "node", node)

    @property
    def netns(self) -> str:
        return f"dml-{self.node}"

    @property
    def netns_path(self) -> str:
        return netns_path(self.node)

    @property
    def folder(self) -> Path:
        return ROOT / self.node

    @property
    def socket(self) -> Path:
        return socket_path(self.node)

    @property
    def pidfile(self) -> Path:
        return RUN / self.node / "dockerd.pid"


def env_for(node: str = MANAGER) -> dict[str, str]:
    return {
        "DOCKER_HOST": docker_host(node),
        "DOCKER_CONFIG": str(engines.docker_config()),
        "COMPOSE_BAKE": "false",
    }


def _say(text: str) -> None:
    print(text, flush=True)


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kwargs)


def _in_ns(ns_path: str, *cmd: str) -> subprocess.CompletedProcess:
    return _run(["nsenter", f"--net={ns_path}", "--", *cmd])


def wire() -> None:
    """The namespaces and the bridge between them (idempotent)."""
    bridge_ns = f"/var/run/netns/{BRIDGE_NETNS}"
    if not Path(bridge_ns).exists():
        _run(["ip", "netns", "add", BRIDGE_NETNS])
    _in_ns(bridge_ns, "ip", "link", "set", "lo", "up")
    links = _in_ns(bridge_ns, "ip", "-o", "link").stdout
    if " br0:" not in links:
        _in_ns(bridge_ns, "ip", "link", "add", "br0", "type", "bridge")
    _in_ns(bridge_ns, "ip", "link", "set", "br0", "up")
    for node in NODES:
        ns = f"dml-{node}"
        if not Path(netns_path(node)).exists():
            _run(["ip", "netns", "add", ns])
        _in_ns(netns_path(node), "ip", "link", "set", "lo", "up")
        if "eth0" in _in_ns(netns_path(node), "ip", "-o", "link").stdout:
            continue
        peer = f"veth-{node}"
        # Made in the bridge's namespace, then one end moved into the node's.
        _in_ns(bridge_ns, "ip", "link", "add", peer, "type", "veth", "peer", "name", "eth0")
        _in_ns(bridge_ns, "ip", "link", "set", "eth0", "netns", ns)
        _in_ns(bridge_ns, "ip", "link", "set", peer, "master", "br0", "up")
        _in_ns(netns_path(node), "ip", "addr", "add", f"{address(node)}/24", "dev", "eth0")
        _in_ns(netns_path(node), "ip", "link", "set", "eth0", "up")


def _answers(node: str, timeout: float = 2) -> bool:
    import docker

    try:
        client = docker.DockerClient(base_url=docker_host(node), version="auto", timeout=timeout)
        return bool(client.ping())
    except Exception:
        return False


def start_node(node: str, timeout: float = 90) -> None:
    if _answers(node):
        return
    root = engines.fetch_packages()
    folder = ROOT / node
    for sub in (folder / "data", RUN / node / "exec"):
        sub.mkdir(parents=True, exist_ok=True)
    config = folder / "daemon.json"
    config.write_text(json.dumps({"storage-driver": "overlay2"}, indent=2) + "\n")
    socket_path(node).unlink(missing_ok=True)
    (RUN / node / "exec" / "containerd" / "containerd.pid").unlink(missing_ok=True)
    env = dict(os.environ, PATH=f"{root}/usr/sbin:{root}/usr/bin:{os.environ.get('PATH', '')}")
    dockerd = " ".join(
        [str(root / "usr/sbin/dockerd"), "--config-file", str(config)]
        + ["--data-root", str(folder / "data"), "--exec-root", str(RUN / node / "exec")]
        + ["--pidfile", str(RUN / node / "dockerd.pid"), "-H", docker_host(node)]
        + ["--log-level", "warn"]
    )
    # Its own host name (what `docker node ls` shows) and its own view of NODE_SOCKET.
    script = (
        f"hostname {node} && mkdir -p {Path(NODE_SOCKET).parent} && "
        f"mount --bind {RUN / node} {Path(NODE_SOCKET).parent} && exec {dockerd}"
    )
    command = ["nsenter", f"--net={netns_path(node)}", "--"]
    command += ["unshare", "--uts", "--mount", "--propagation", "private", "sh", "-c", script]
    engines.spawn_daemon(
        command, folder / "dockerd.log", env, lambda: _answers(node), node, timeout
    )


def _client(node: str):
    import docker

    return docker.DockerClient(base_url=docker_host(node), version="auto", timeout=120)


def form_swarm() -> None:
    manager = _client(MANAGER)
    info = manager.info()["Swarm"]
    if info.get("LocalNodeState") != "active":
        manager.swarm.init(advertise_addr=address(MANAGER), listen_addr=f"{address(MANAGER)}:2377")
    manager.swarm.reload()
    token = manager.swarm.attrs["JoinTokens"]["Worker"]
    for node in NODES[1:]:
        worker = _client(node)
        if worker.info()["Swarm"].get("LocalNodeState") != "active":
            worker.swarm.join(
                remote_addrs=[f"{address(MANAGER)}:2377"],
                join_token=token,
                advertise_addr=address(node),
                listen_addr=f"{address(node)}:2377",
            )
        worker.close()
    deadline = time.monotonic() + 60
    while True:
        ready = [n for n in manager.nodes.list() if n.attrs["Status"]["State"] == "ready"]
        if len(ready) >= len(NODES):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(ready)} of {len(NODES)} nodes ready")
        time.sleep(0.5)
    manager.close()


REPO = Path(__file__).resolve().parents[1]
DASHBOARD_IMAGE = "docker-ml-dashboard:latest"
SEAT_IMAGE = "docker-ml-dashboard-seat:latest"


def _docker(node: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, **env_for(node))
    return subprocess.run(["docker", *args], env=env, check=True, text=True, **kwargs)


CLI_IMAGE = "docker:26.1-cli"  # docker/seat/Dockerfile's DOCKER_CLI_IMAGE
CLI_DOCKERFILE = """FROM scratch
COPY usr/bin/docker /usr/local/bin/docker
COPY usr/libexec/docker/cli-plugins/docker-buildx \\
    /usr/local/libexec/docker/cli-plugins/docker-buildx
LABEL io.dockerml.dashboard.standin=true
"""


def cli_image() -> None:
    """A stand-in for Docker's CLI image on the manager, offline: Debian's docker-cli and
    docker-buildx (the engine matrix's packages) at the official image's paths."""
    root = engines.packages_root()
    with tempfile.TemporaryDirectory() as context:
        for path in ("usr/bin/docker", "usr/libexec/docker/cli-plugins/docker-buildx"):
            (Path(context) / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / path, Path(context) / path)
        _docker(
            MANAGER,
            *("buildx", "build", "-q", "-f", "-", "-t", CLI_IMAGE, context),
            input=CLI_DOCKERFILE,
            capture_output=True,
        )


def seat_image() -> None:
    """The seat image on every node: built on the manager (the dashboard's image, then the
    seat's, with the wheelhouse on the node's loopback), then copied to the others."""
    cli_image()
    for image, dockerfile in (
        (DASHBOARD_IMAGE, "docker/Dockerfile"),
        (SEAT_IMAGE, "docker/seat/Dockerfile"),
    ):
        _docker(
            MANAGER,
            "buildx",
            "build",
            "--network",
            "host",
            "-q",
            "-f",
            dockerfile,
            "-t",
            image,
            ".",
            cwd=REPO,
            capture_output=True,
        )
    copy_image(SEAT_IMAGE)


def copy_image(image: str, say=_say) -> None:
    """`image` from the manager to every other node that lacks it (or has another build)."""
    want = _docker(
        MANAGER, "image", "inspect", "-f", "{{.Id}}", image, capture_output=True
    ).stdout.strip()
    for node in NODES[1:]:
        have = subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Id}}", image],
            env=dict(os.environ, **env_for(node)),
            capture_output=True,
            text=True,
        ).stdout.strip()
        if have == want:
            continue
        say(f"{node}: copying {image} from {MANAGER}")
        save = subprocess.Popen(
            ["docker", "save", image],
            env=dict(os.environ, **env_for(MANAGER)),
            stdout=subprocess.PIPE,
        )
        _docker(node, "load", "-q", stdin=save.stdout, capture_output=True)
        save.wait()


CACHE_KEPT = "2GB"  # a node's build cache: the seat image's and the hub tests' lab builds


def trim(node: str) -> str:
    """Keep a node's disk in bounds between CI runs: every run whose source differs rebuilds
    the seat image and leaves the last one dangling on each node (seven of 1 GB each, and 7 GB
    of build cache on the manager, after a day's runs here). A node's engine is the tests'
    alone: its dangling images go, and its build cache beyond CACHE_KEPT."""
    env = {**os.environ, **env_for(node)}
    return f"{node}: " + "; ".join(
        engines.docker_said(args, env)
        for args in (
            ["image", "prune", "--force"],
            ["builder", "prune", "--force", "--keep-storage", CACHE_KEPT],
        )
    )


@contextlib.contextmanager
def _one_at_a_time() -> Iterator[None]:
    """One `up` at a time on this machine: CI starts the Swarm beside the suite, whose hub
    tests call `up` too (they then wait, and find it up)."""
    import fcntl

    ROOT.mkdir(parents=True, exist_ok=True)
    with (ROOT / "up.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up() -> None:
    with _one_at_a_time():
        _up()


def _up() -> None:
    started = time.monotonic()
    engines.fetch_packages()
    engines.prepare_docker_config()
    wire()
    for node in NODES:
        start_node(node)
    form_swarm()
    for node in NODES:
        engines.serve_wheelhouse(engine(node))
        engines.copy_base_image(engine(node))
    seat_image()
    for node in NODES:
        _say(trim(node))
    _say(f"swarm: up in {time.monotonic() - started:.1f} s")
    status()


def status() -> None:
    if not _answers(MANAGER):
        _say("swarm: the manager does not answer (python -m tests.swarm up)")
        return
    manager = _client(MANAGER)
    for n in manager.nodes.list():
        spec, st = n.attrs["Spec"], n.attrs["Status"]
        _say(
            f"{n.attrs['Description']['Hostname']:8} {st['Addr']:12} {st['State']:6} "
            f"{spec['Availability']:7} {spec['Role']}"
        )
    manager.close()


def stop_node(node: str) -> None:
    """Stop a node's engine (a lab machine switched off); `start_node` brings it back, and it
    rejoins the Swarm by itself."""
    import signal

    pid = engines._pid(RUN / node / "dockerd.pid")
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(150):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.2)


def down(purge: bool = False) -> None:
    import signal

    for node in NODES:
        stop_node(node)
        wh = engines._pid(engines.RUN / f"swarm-{node}.wheelhouse.pid")
        if wh:
            with contextlib.suppress(ProcessLookupError):
                os.kill(wh, signal.SIGTERM)
    for ns in (*(f"dml-{n}" for n in NODES), BRIDGE_NETNS):
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
    if purge:
        subprocess.run(["rm", "-rf", str(ROOT)], check=False)
    _say("swarm: down" + (" (data deleted)" if purge else ""))


def classroom(data: Path, *args: str, check: bool = True, timeout: float = 300):
    """`python -m dashboard classroom ARGS` on the manager (in its network namespace, on its
    engine), with the hub's folder under `data`; the finished process."""
    env = dict(os.environ, DOCKER_HOST=docker_host(MANAGER), DASHBOARD_DATA_DIR=str(data))
    env.pop("DOCKER_CONFIG", None)
    return subprocess.run(
        ["nsenter", f"--net={netns_path(MANAGER)}", "--"]
        + [sys.executable, "-m", "dashboard", "classroom", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
        cwd=REPO,
    )


def hub(port: int, classroom_args: list[str]) -> None:
    """The classroom hub as the classroom guide starts it, on the manager (inside its network
    namespace, where the nodes' addresses are), reachable at the host's 127.0.0.1:`port`."""
    command = ["nsenter", f"--net={netns_path(MANAGER)}", "--", sys.executable, "-m", "dashboard"]
    env = dict(os.environ, DOCKER_HOST=docker_host(MANAGER))
    env.pop("DOCKER_CONFIG", None)
    subprocess.run(
        [*command, "classroom", "up", "--node-socket", NODE_SOCKET, *classroom_args],
        env=env,
        check=True,
        cwd=REPO,
    )
    import signal

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops it as Ctrl-C does
    with engines.netns_port(netns_path(MANAGER), 8000, port):
        _say(f"The hub, from this machine: http://127.0.0.1:{port}/hub/ (Ctrl-C stops it)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    subprocess.run([*command, "classroom", "down"], env=env, cwd=REPO)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.swarm", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("up")
    sub.add_parser("status")
    sub.add_parser("env")
    h = sub.add_parser("hub")
    h.add_argument("--port", type=int, default=8000)
    h.add_argument("classroom_args", nargs=argparse.REMAINDER, help="more for `classroom up`")
    d = sub.add_parser("down")
    d.add_argument("--purge", action="store_true")
    args = parser.parse_args(argv)
    if args.verb == "up":
        up()
    elif args.verb == "status":
        status()
    elif args.verb == "hub":
        hub(args.port, args.classroom_args)
    elif args.verb == "env":
        for key, value in env_for().items():
            print(f"export {key}={value}")
    else:
        down(args.purge)
    return 0


if __name__ == "__main__":
    sys.exit(main())
