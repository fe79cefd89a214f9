"""`python -m dashboard classroom up|status|doctor|move|down`: the class's hub on a Swarm manager.

`up` makes the engine it talks to (DOCKER_HOST) a Swarm manager if it is not one yet, starts
JupyterHub (jupyterhub_config.py) with its proxy and idle culler in the background, waits until
it answers, and prints the hub's address and the `docker swarm join ...` line for the lab
machines. `status` lists the machines, the seats on each and the students. `doctor` asks every
machine whether it is ready for seats (`doctor` of the dashboard, run there in a seat's image by
a one-shot global service), and names a machine that lacks the seat image, the stand-in base
image or the wheelhouse. `move NAME` lets a student whose machine is gone start afresh
elsewhere. `down` stops the hub and removes the seats
(the services labelled as the classroom's), nothing else; the students' volumes stay on their
machines (each line printed says how to remove one).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dashboard.engine.base import paths
from dashboard.hub import seats

HUB_CONFIG = Path(__file__).with_name("jupyterhub_config.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
PROXY = REPO_ROOT / "docker" / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
OPTIONS_FILE = "hub-options.json"  # what jupyterhub_config.py reads
MOVED = "moved"  # state/moved/NAME: the next start of NAME's seat may land anywhere
HUB_STOP_S = 30.0  # how long `down` lets the hub stop by itself


class ClassroomError(RuntimeError):
    """A sentence for the instructor: what is wrong and what to type."""


def state_dir() -> Path:
    folder = paths.data_dir() / "classroom-hub"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Options:
    port: int = 8000
    advertise_addr: str | None = None
    seat_image: str = seats.SEAT_IMAGE
    node_socket: str = seats.NODE_SOCKET
    docker_gid: int | None = None
    idle_s: int = 3600
    cull_every_s: int = 60
    open_signup: bool = True
    admin: str = "instructor"
    limits: seats.Limits = field(default_factory=seats.Limits)
    build_cgroup: str | None = None  # the seats' DASHBOARD_BUILD_CGROUP (builds capped below it)


@dataclass(frozen=True)
class Seat:
    student: str
    node: str
    state: str
    address: str


@dataclass(frozen=True)
class Node:
    host: str
    address: str
    state: str
    availability: str
    role: str
    seats: tuple[Seat, ...]


def _hub_pid(state: Path) -> int | None:
    try:
        pid = int((state / "jupyterhub.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def ensure_manager(client, advertise_addr: str | None) -> str:
    """The manager's address in the Swarm (making this engine a manager when it is not)."""
    swarm = client.info().get("Swarm", {})
    if swarm.get("LocalNodeState") != "active":
        if not advertise_addr:
            raise ClassroomError(
                "This Docker engine is not in a Swarm. Say which address the lab machines reach "
                "it at: `python -m dashboard classroom up --advertise-addr ADDRESS`."
            )
        client.swarm.init(advertise_addr=advertise_addr)
        swarm = client.info()["Swarm"]
    if not swarm.get("ControlAvailable"):
        raise ClassroomError(
            "This Docker engine is a Swarm worker: run `classroom up` on a manager "
            "(`docker node ls` there lists the machines)."
        )
    return swarm["NodeAddr"]


def join_line(client) -> str:
    client.swarm.reload()
    token = client.swarm.attrs["JoinTokens"]["Worker"]
    addr = client.info()["Swarm"]["RemoteManagers"][0]["Addr"]
    return f"docker swarm join --token {token} {addr}"


def up(client, options: Options, say=print) -> str:
    """Start the hub (idempotent); returns its URL."""
    manager_addr = ensure_manager(client, options.advertise_addr)
    state = state_dir()
    url = f"http://127.0.0.1:{options.port}/hub/"
    if _hub_pid(state) and _answers(url + "health"):
        say(f"The classroom hub already runs: {url}")
        return url
    if not PROXY.exists():
        raise ClassroomError(
            "The hub's proxy is not installed: `(cd docker/hub && npm ci)` installs "
            "configurable-http-proxy from its lock file."
        )
    if options.docker_gid is None:
        options.docker_gid = _socket_gid()
    record = asdict(options) | {"manager_addr": manager_addr}
    (state / OPTIONS_FILE).write_text(json.dumps(record, indent=2) + "\n")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    log = (state / "hub.log").open("ab")
    subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG)],
        cwd=state,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not _answers(url + "health"):
        if time.monotonic() > deadline:
            tail = (state / "hub.log").read_text(errors="replace").splitlines()[-15:]
            raise ClassroomError("The hub did not answer in 60 s:\n" + "\n".join(tail))
        time.sleep(0.5)
    say(f"The classroom hub is up: {url} (log: {state / 'hub.log'})")
    say(f"Sign up as '{options.admin}' first: that account is the instructor's (the hub's admin).")
    say(f"The instructor's roster: http://127.0.0.1:{options.port}/services/roster/")
    say(f"Seats: {options.limits.describe()}.")
    if options.build_cgroup:
        say(
            f"Builds: each student's below {options.build_cgroup} on their machine, within the "
            "limits its owner gave that cgroup."
        )
    say("Lab machines join the class with:")
    say("  " + join_line(client))
    return url


def _socket_gid() -> int:
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("DOCKER_HOST", ""))
    path = host.path if host.scheme == "unix" else "/var/run/docker.sock"
    try:
        return os.stat(path).st_gid
    except OSError:
        return 0


def seats_by_node(client) -> list[Node]:
    """The Swarm's machines, each with the classroom's seats running or starting there."""
    label = f"{seats.CLASSROOM_LABEL}={seats.CLASSROOM_VALUE}"
    services = client.api.services(filters={"label": label})
    nodes = {n["ID"]: n for n in client.api.nodes()}
    placed: dict[str, list[Seat]] = {}
    for service in services:
        student = service["Spec"]["Labels"].get("io.dockerml.dashboard.student", "?")
        tasks = client.api.tasks(filters={"service": service["ID"]})
        tasks.sort(key=lambda t: t.get("CreatedAt", ""))
        if not tasks:
            continue
        task = tasks[-1]
        node = nodes.get(task.get("NodeID", ""))
        host = node["Description"]["Hostname"] if node else "(not placed)"
        addr = node["Status"]["Addr"] if node else ""
        placed.setdefault(task.get("NodeID", ""), []).append(
            Seat(student, host, task["Status"]["State"], addr)
        )
    out = []
    for node_id, node in nodes.items():
        out.append(
            Node(
                node["Description"]["Hostname"],
                node["Status"]["Addr"],
                node["Status"]["State"],
                node["Spec"]["Availability"],
                node["Spec"]["Role"],
                tuple(sorted(placed.get(node_id, []), key=lambda s: s.student)),
            )
        )
    if placed.get(""):
        out.append(Node("(waiting)", "", "", "", "", tuple(placed[""])))
    return sorted(out, key=lambda n: n.host)


def status(client, say=print, as_json: bool = False) -> list[Node]:
    state = state_dir()
    nodes = seats_by_node(client)
    hub = "running" if _hub_pid(state) else "not running"
    if as_json:
        print(json.dumps({"hub": hub, "nodes": [_plain(n) for n in nodes]}), flush=True)
        return nodes
    say(f"hub: {hub} ({state})")
    for n in nodes:
        names = ", ".join(f"{s.student} ({s.state})" for s in n.seats) or "no seats"
        say(f"{n.host:12} {n.address:15} {n.state:6} {n.availability:7} {n.role:8} {names}")
    return nodes


def _plain(node: Node) -> dict:
    return asdict(node)


def move(username: str, say=print) -> None:
    """Let NAME's next seat start on any machine (their things stay where they were)."""
    student = seats.student(username)
    folder = state_dir() / MOVED
    folder.mkdir(exist_ok=True)
    (folder / student).write_text(str(time.time()))
    say(
        f"{student}'s next seat may start on any lab machine, with a fresh history and "
        "working copies; what they had stays on their old machine."
    )


def down(client, say=print) -> int:
    """Stop the hub and remove every seat; returns how many seats were removed."""
    state = state_dir()
    pid = _hub_pid(state)
    if pid:
        # The hub stops its proxy and services first; what is left after the wait is killed
        # with its process group (`up` started it in a session of its own).
        os.kill(pid, signal.SIGTERM)
        for _ in range(int(HUB_STOP_S * 10)):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        say("The hub is stopped.")
    label = f"{seats.CLASSROOM_LABEL}={seats.CLASSROOM_VALUE}"
    removed = 0
    for service in client.api.services(filters={"label": label}):
        client.api.remove_service(service["ID"])
        say(f"Removed seat {service['Spec']['Name']}.")
        removed += 1
    say(
        "The students' volumes (dml-seat-NAME-data) stay on their machines: "
        "`docker volume rm dml-seat-NAME-data` on a machine removes one."
    )
    return removed


# ---------------------------------------------------------------- doctor, on every machine

DOCTOR = "dml-doctor"
DOCTOR_WAIT_S = 180.0
_DONE = {"complete", "failed", "rejected", "shutdown", "orphaned", "remove"}
# Runs in the seat's image on each machine: the dashboard's `doctor --json`, each line tagged
# with the machine (the container's host name, which the Swarm fills in from its template).
_DOCTOR_SCRIPT = (
    "import json, os, socket, subprocess, sys\n"
    "env = dict(os.environ, PYTHONPATH='/opt/deps')\n"
    "done = subprocess.run([sys.executable, '-m', 'dashboard', 'doctor', '--json'], env=env,\n"
    "                      capture_output=True, text=True)\n"
    "for line in done.stdout.splitlines():\n"
    "    print(json.dumps({'node': socket.gethostname(), **json.loads(line)}), flush=True)\n"
)


@dataclass(frozen=True)
class NodeDoctor:
    """One machine's answer: its doctor's checks, or why it could not be asked."""

    host: str
    checks: tuple[dict, ...] = ()  # the dashboard's doctor checks (name, ok, detail, fix, ...)
    problem: str = ""  # the machine could not run the doctor (no seat image, drained, ...)

    @property
    def ok(self) -> bool:
        return not self.problem and all(c["ok"] or c.get("optional") for c in self.checks)


def _doctor_spec(seat_image: str, node_socket: str, docker_gid: int):
    from docker.types import ContainerSpec, Mount, TaskTemplate

    container = ContainerSpec(
        image=seat_image,
        command=["python", "-c", _DOCTOR_SCRIPT],
        hostname="{{.Node.Hostname}}",
        groups=[str(docker_gid)],
        mounts=[Mount("/var/run/docker.sock", node_socket, type="bind")],
        labels={seats.CLASSROOM_LABEL: seats.CLASSROOM_VALUE},
    )
    return TaskTemplate(container_spec=container, restart_policy={"Condition": "none"})


def doctor(
    client,
    seat_image: str = seats.SEAT_IMAGE,
    node_socket: str = seats.NODE_SOCKET,
    docker_gid: int | None = None,
    say=print,
    timeout: float = DOCTOR_WAIT_S,
) -> list[NodeDoctor]:
    """Ask every machine of the Swarm, in the seat's image, whether it is ready for seats."""
    from docker.types import ServiceMode

    label = {seats.CLASSROOM_LABEL: seats.CLASSROOM_VALUE}
    for old in client.api.services(filters={"name": DOCTOR}):
        client.api.remove_service(old["ID"])
    gid = _socket_gid() if docker_gid is None else docker_gid
    service = client.api.create_service(
        _doctor_spec(seat_image, node_socket, gid),
        name=DOCTOR,
        labels=label,
        mode=ServiceMode("global"),
    )["ID"]
    try:
        nodes = {n["ID"]: n for n in client.api.nodes()}
        asked = {i for i, n in nodes.items() if n["Spec"]["Availability"] == "active"}
        asked &= {i for i, n in nodes.items() if n["Status"]["State"] == "ready"}
        deadline = time.monotonic() + timeout
        while True:
            tasks = {}
            for task in client.api.tasks(filters={"service": service}):
                if task.get("NodeID") in asked:  # the newest task of each machine
                    known = tasks.get(task["NodeID"])
                    if known is None or task["CreatedAt"] > known["CreatedAt"]:
                        tasks[task["NodeID"]] = task
            finished = {i for i, t in tasks.items() if t["Status"]["State"] in _DONE}
            if finished >= asked or time.monotonic() > deadline:
                break
            time.sleep(1)
        lines = b"".join(client.api.service_logs(service, stdout=True, stderr=False))
        answers: dict[str, list[dict]] = {}
        for line in lines.decode(errors="replace").splitlines():
            try:
                record = json.loads(line[line.index("{") :])
            except ValueError:
                continue
            if record.get("type") == "check":
                answers.setdefault(record["node"], []).append(record)
        reports = []
        for node_id, node in sorted(nodes.items(), key=lambda n: n[1]["Description"]["Hostname"]):
            host = node["Description"]["Hostname"]
            task = tasks.get(node_id)
            if node_id not in asked:
                state = f"{node['Status']['State']}, {node['Spec']['Availability']}"
                reports.append(NodeDoctor(host, problem=f"not asked: the machine is {state}"))
            elif answers.get(host):
                reports.append(NodeDoctor(host, tuple(answers[host])))
            elif task is None or task["Status"]["State"] not in _DONE:
                reports.append(NodeDoctor(host, problem=f"no answer in {timeout:.0f} s"))
            else:
                err = task["Status"].get("Err") or task["Status"].get("Message") or "no output"
                if "No such image" in err or "not found" in err:
                    err = (
                        f"the seat image {seat_image} is not on {host} ({err}). Build it there "
                        f"(docker/seat/Dockerfile) or copy it: `docker save {seat_image} | ssh "
                        f"{host} docker load`"
                    )
                reports.append(NodeDoctor(host, problem=err))
    finally:
        client.api.remove_service(service)
    for report in reports:
        mark = "ok " if report.ok else "!! "
        if report.problem:
            say(f"{mark}{report.host}: {report.problem}")
            continue
        bad = [c for c in report.checks if not c["ok"] and not c.get("optional")]
        say(f"{mark}{report.host}: " + ("ready for seats" if not bad else "not ready"))
        for check in report.checks:
            if check["ok"] or check.get("optional"):
                say(f"     {check['name']}: {check['detail']}")
            else:
                fix = f" (fix: {check['fix']})" if check.get("fix") else ""
                say(f"  !! {check['name']}: {check['detail']}{fix}")
    return reports
