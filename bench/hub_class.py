"""A class on many machines, measured: Locust students through the classroom hub, beside the
one-process classroom at the same count (the `hub` section of `python -m bench`).

The hub side: the Swarm of three namespaced Engine 26 nodes (tests/swarm.py, what the hub tests
use), the hub started as the classroom guide says (`python -m dashboard classroom up` on the
manager, seats reserving `HUB_LIMITS`), every student signing up, logging in and starting their
seat through the hub's REST API, arriving `RATE` a second: the seat start time is the student's
wait on the spawn page, from the request to the hub's "ready" event. Each student's
`NAME/iris-model:1.0` is tagged on the machine their seat landed on (the idle scenario runs it),
and their browser's login (the hub's OAuth to the seat) is done once with plain HTTP; then
bench/locustfile.py plays each of them on their own seat (BENCH_LOAD_SEATS), the idle scenario,
through the hub's proxy and the seat's. A sampler reads, every 2 s, the CPU of each node (its
engine and the processes in its containers: seats and the students' lab containers), of the
hub (JupyterHub, its proxy, its services), of Locust and of the machine; at the end, each
seat's memory (its cgroup's, less the page cache it may drop: what `docker stats` shows).

The one-process side: bench/locust_run.py's idle class on one classroom server (one Streamlit
process, the host's engine), the same students, arrival rate and idle time.

Everything the hub side made goes at the end: `classroom down`, then on every node the
students' containers and images and their seats' volumes.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import docker

from bench import load, locust_run, stats
from dashboard.engine.base.paths import REPO_ROOT

RATE = 1.0  # students arriving per second (a class sits down in a minute)
PREFIX = "hc"
PASSWORD = "bench-pw-1"
IRIS = "iris-model:1.0"
# Small reservations so a class of 60 fits 3 machines of 2 CPUs (20 seats x 0.1 CPU each);
# the limits are what one seat may take when the others are quiet.
HUB_LIMITS = ("--cpu-reserve", "0.1", "--cpu-limit", "1", "--mem-reserve", "192")
HUB_LIMITS += ("--mem-limit", "1024")
SEAT_START_S = 300  # a seat that is not ready by then is a student who never got in
STUDENT_LABEL = "io.dockerml.dashboard.student"


def names_for(students: int) -> list[str]:
    return [f"{PREFIX}{i:02d}" for i in range(1, students + 1)]


def run(ws, *, sizes: tuple[int, ...], idle_s: float, out: Path, log=print) -> dict:
    """The hub at every size (its largest class is `hub`, the others in `smaller`), then one
    process at the largest; a smaller class failing does not lose the others."""
    students = max(sizes)
    smaller = []
    for n in sorted(sizes)[:-1]:
        try:
            smaller.append(
                one_hub_class(students=n, idle_s=idle_s, out_dir=out / f"hub{n}", log=log)
            )
        except Exception as exc:
            smaller.append({"students_asked": n, "failed": f"{type(exc).__name__}: {exc}"[:300]})
    hub = one_hub_class(students=students, idle_s=idle_s, out_dir=out / f"hub{students}", log=log)
    log(f"hub: the one-process classroom, {students} students")
    one = locust_run.one_class(
        ws.client,
        students=students,
        scenario="idle",
        out_dir=out / "one",
        prefix=f"ho{ws.run_id[:4]}x",
        rate=RATE,
        idle_s=idle_s,
    )
    return {
        "students": students,
        "idle_s": idle_s,
        "rate": RATE,
        "hub": hub,
        "smaller": smaller,
        "one": one,
    }


# ---------------------------------------------------------------- the hub's side


def _classroom(state: Path, *args: str) -> subprocess.CompletedProcess:
    from tests import swarm

    return swarm.classroom(state, *args, check=False)


def _node_client(node: str) -> docker.DockerClient:
    from tests import swarm

    return docker.DockerClient(base_url=swarm.docker_host(node), version="auto", timeout=120)


def iris_on_every_node(log=print) -> None:
    """Lesson 1's image on every node, built once on the manager (its wheelhouse on the node's
    loopback) and copied to the others."""
    from tests import swarm

    env = dict(os.environ, **swarm.env_for(swarm.MANAGER))
    subprocess.run(
        ["docker", "buildx", "build", "--network", "host", "-q", "-t", IRIS, "labs/iris"],
        env=env,
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    swarm.copy_image(IRIS, say=log)


class Seat:
    """One student through the hub: sign up, log in (the spawn page starts the seat), wait for
    the seat, log in to the seat (tests/hub_student.py)."""

    def __init__(self, base: str, name: str):
        from tests.hub_student import HubStudent

        self.student = HubStudent(base, name, PASSWORD)
        self.name = name
        self.start_s: float | None = None
        self.message = ""
        self.cookie = ""

    def arrive(self) -> None:
        self.student.sign_up()
        began = time.monotonic()  # the student's wait starts at login
        self.student.log_in()
        last = self.student.progress(timeout=SEAT_START_S)
        if not last.get("ready"):
            self.message = last.get("message", "no answer")[:300]
            return
        self.start_s = time.monotonic() - began
        try:
            self.cookie = self.student.seat_login()
        except RuntimeError as exc:
            self.start_s, self.message = None, str(exc)


def start_seats(base: str, names: list[str], rate: float) -> list[Seat]:
    seats = [Seat(base, n) for n in names]

    def arrive(i: int) -> None:
        time.sleep(i / rate)
        try:
            seats[i].arrive()
        except Exception as exc:  # one student's failure is a figure, not the end of the run
            seats[i].message = f"{type(exc).__name__}: {exc}"[:300]

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(seats)) as pool:
        list(pool.map(arrive, range(len(seats))))
    return seats


def seat_nodes(names: list[str]) -> dict[str, str]:
    """student -> the node their running seat is on."""
    from tests import swarm

    manager = _node_client(swarm.MANAGER)
    try:
        hosts = {n.id: n.attrs["Description"]["Hostname"] for n in manager.nodes.list()}
        found = {}
        for name in names:
            tasks = manager.api.tasks(
                filters={"service": f"dml-seat-{name}", "desired-state": "running"}
            )
            if tasks:
                found[name] = hosts.get(tasks[0]["NodeID"], "?")
        return found
    finally:
        manager.close()


class HubSampler(threading.Thread):
    """Every `interval` s: CPU (percent of one core) per node (its engine, its shims, the
    processes in its containers), the hub's tree, the students' side (Locust, this process),
    the loopback forward to the hub, the machine, and the rest ("other")."""

    def __init__(self, hub_pid: int, driver_pid_file: Path, interval: float = 2.0):
        super().__init__(name="bench-hub-sampler", daemon=True)
        from tests import swarm

        self.nodes = list(swarm.NODES)
        self.engine_pids = {n: _pid(swarm.RUN / n / "dockerd.pid") for n in self.nodes}
        self.hub_pid = hub_pid
        self.driver_pid_file = driver_pid_file
        self.interval = interval
        self.phase = "setup"
        self.samples: list[dict] = []
        self._halt = threading.Event()
        self._hz = os.sysconf("SC_CLK_TCK")
        self._containers: dict[str, str] = {}  # container id -> node
        self._listed = 0.0
        self._shim_node: dict[int, str | None] = {}

    def stop(self) -> None:
        self._halt.set()
        self.join(30)

    def _list_containers(self) -> None:
        if time.monotonic() - self._listed < 3:
            return
        self._listed = time.monotonic()
        for node in self.nodes:
            with contextlib.suppress(Exception):  # a busy engine: keep the last list
                client = _node_client(node)
                for c in client.api.containers():
                    self._containers[c["Id"]] = node
                client.close()

    def _shim(self, pid: int) -> str | None:
        if pid not in self._shim_node:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                cmdline = ""
            self._shim_node[pid] = next(
                (n for n in self.nodes if f"/dml-swarm/{n}/" in cmdline), None
            )
        return self._shim_node[pid]

    def _bucket(self, pid, comm, trees, cgroup_of) -> str | None:
        for node in self.nodes:
            if pid in trees[node]:
                return node
        if pid in trees["hub"]:
            return "hub"
        if pid in trees["driver"]:
            return "driver"
        if pid in trees["forward"]:
            return "forward"
        if comm.startswith(load.SHIM):
            return self._shim(pid)
        node = self._containers.get(cgroup_of(pid) or "")
        return node

    def run(self) -> None:
        previous: dict[int, int] = {}
        with open("/proc/stat") as f:
            last_busy, last_total = load.machine_ticks(f.readline())
        last = time.monotonic()
        first = True
        while not self._halt.wait(0 if first else self.interval):
            self._list_containers()
            procs = {}
            for entry in os.scandir("/proc"):
                if entry.name.isdigit():
                    with (
                        contextlib.suppress(OSError, ValueError, IndexError),
                        open(f"/proc/{entry.name}/stat") as f,
                    ):
                        procs[int(entry.name)] = load.parse_stat(f.read())
            now = time.monotonic()
            with open("/proc/stat") as f:
                busy, total = load.machine_ticks(f.readline())
            parents = {pid: p[1] for pid, p in procs.items()}
            trees = {n: load.subtree(self.engine_pids[n] or -1, parents) for n in self.nodes}
            trees["hub"] = load.subtree(self.hub_pid, parents)
            me = os.getpid()
            trees["driver"] = load.subtree(_pid(self.driver_pid_file) or -1, parents) | {me}
            # This process's other children: the loopback forward into the manager's namespace
            # (a test set-up's, not a class's: students reach the hub directly).
            trees["forward"] = load.subtree(me, parents) - trees["driver"]
            ticks = dict.fromkeys([*self.nodes, "hub", "driver", "forward"], 0)
            for pid, (comm, _, used) in procs.items():
                spent = max(0, used - previous.get(pid, 0)) if not first else 0
                if not spent:
                    continue
                which = self._bucket(pid, comm, trees, load.Sampler._cgroup_container)
                if which is not None:
                    ticks[which] += spent
            previous = {pid: p[2] for pid, p in procs.items()}
            seconds = now - last
            if not first:
                cpu = {k: load.cpu_percent(v, seconds, self._hz) for k, v in ticks.items()}
                span = (total - last_total) or 1
                cpu["machine"] = 100.0 * (os.cpu_count() or 1) * (busy - last_busy) / span
                cpu["other"] = max(0.0, cpu["machine"] - sum(cpu[k] for k in ticks))
                self.samples.append({"t": now, "phase": self.phase, "cpu": cpu})
            last, last_busy, last_total, first = now, busy, total, False

    def phase_figures(self, phase: str) -> dict | None:
        got = [s for s in self.samples if s["phase"] == phase]
        if not got:
            return None
        keys = list(got[0]["cpu"])
        return {
            "seconds": len(got) * self.interval,
            "cpu_mean": {k: sum(s["cpu"][k] for s in got) / len(got) for k in keys},
            "cpu_p95": {k: stats.percentile([s["cpu"][k] for s in got], 95) for k in keys},
        }


def _pid(path: Path) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def seat_memory(names: list[str]) -> dict[str, int]:
    """Each running seat's memory now, as `docker stats` shows it: the cgroup's usage less its
    inactive page cache (cgroup v1 or v2)."""
    from tests import swarm

    found = {}
    for node in swarm.NODES:
        client = _node_client(node)
        try:
            for c in client.api.containers(filters={"name": "dml-seat-"}):
                name = c["Names"][0].lstrip("/").removeprefix("dml-seat-").split(".")[0]
                if name not in names:
                    continue
                with contextlib.suppress(docker.errors.APIError, KeyError):
                    mem = client.api.stats(c["Id"], stream=False, one_shot=True)["memory_stats"]
                    cache = mem.get("stats", {})
                    cache = cache.get("total_inactive_file", cache.get("inactive_file", 0))
                    found[name] = mem["usage"] - cache
        finally:
            client.close()
    return found


def remove_students(names: list[str]) -> None:
    """What these students made on every node: their seats' containers (once their services
    are gone), their lab containers and images, their seats' volumes."""
    from tests import swarm

    owned = set(names)
    gone = (docker.errors.NotFound, docker.errors.APIError)  # went meanwhile (--rm, a service)
    for node in swarm.NODES:
        client = _node_client(node)
        api = client.api  # listings without an inspect per item: items go while they are read
        try:
            for _ in range(60):
                if not api.containers(all=True, filters={"name": f"dml-seat-{PREFIX}"}):
                    break
                time.sleep(1)
            for c in api.containers(all=True, filters={"label": STUDENT_LABEL}):
                if (c.get("Labels") or {}).get(STUDENT_LABEL) in owned:
                    with contextlib.suppress(*gone):
                        api.remove_container(c["Id"], force=True)
            for image in api.images():
                for tag in image.get("RepoTags") or []:
                    if tag.split("/", 1)[0] in owned:
                        with contextlib.suppress(*gone):
                            api.remove_image(tag, force=True)
            for volume in api.volumes(filters={"name": f"dml-seat-{PREFIX}"}).get("Volumes") or []:
                with contextlib.suppress(*gone):
                    api.remove_volume(volume["Name"], force=True)
        finally:
            client.close()


def one_hub_class(*, students: int, idle_s: float, out_dir: Path, log=print) -> dict:
    from tests import engines, swarm

    out_dir.mkdir(parents=True, exist_ok=True)
    log("hub: the Swarm and lesson 1's image on every node")
    swarm.up()
    iris_on_every_node(log)
    names = names_for(students)
    state = out_dir / "hub-state"
    state.mkdir(parents=True, exist_ok=True)
    up = _classroom(state, "up", "--node-socket", swarm.NODE_SOCKET, "--idle", "86400", *HUB_LIMITS)
    if up.returncode != 0:
        raise RuntimeError(f"classroom up failed: {(up.stdout + up.stderr)[-1500:]}")
    hub_pid = _pid(state / "classroom-hub" / "jupyterhub.pid")  # classroom.state_dir()
    driver_pid = out_dir / "locust.pid"
    sampler = HubSampler(hub_pid or -1, driver_pid)
    started = time.time()
    try:
        with engines.netns_port(swarm.netns_path(swarm.MANAGER), 8000) as port:
            base = f"http://127.0.0.1:{port}"
            sampler.start()
            log(f"hub: {students} students arrive and start their seats")
            seats = start_seats(base, names, RATE)
            ready = [s for s in seats if s.start_s is not None]
            where = seat_nodes(names)
            for node in swarm.NODES:
                client = _node_client(node)
                for s in ready:
                    if where.get(s.name) == node:
                        client.api.tag(IRIS, f"{s.name}/iris-model", "1.0")
                client.close()
            seats_file = out_dir / "seats.json"
            seats_file.write_text(
                json.dumps(
                    [
                        {"name": s.name, "base": f"{base}/user/{s.name}", "cookie": s.cookie}
                        for s in ready
                    ]
                )
            )
            log(f"hub: {len(ready)} seats ready; Locust plays their students")
            out_file = out_dir / "students.json"
            limit_s = locust_run.default_limit(len(ready), "idle", RATE, idle_s)
            env = {
                **os.environ,
                "PYTHONPATH": str(REPO_ROOT),
                "BENCH_LOAD_SCENARIO": "idle",
                "BENCH_LOAD_SEATS": str(seats_file),
                "BENCH_LOAD_OUT": str(out_file),
                "BENCH_LOAD_IDLE_S": str(idle_s),
                "BENCH_LOAD_LINES": str(int(limit_s + 120)),
            }
            locust_started = time.time()
            clock = time.time() - time.monotonic()
            sampler.phase = "locust"
            proc = subprocess.Popen(
                locust_run.locust_command(base, len(ready), RATE, limit_s, out_dir),
                env=env,
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            driver_pid.write_text(str(proc.pid))
            memory_at_end: dict[str, int] = {}
            try:
                output, _ = proc.communicate(timeout=limit_s + 120)
            finally:
                memory_at_end = seat_memory(names)
                sampler.stop()
            (out_dir / "locust.log").write_text(output)
    finally:
        down = _classroom(state, "down")
        (out_dir / "classroom-down.log").write_text(down.stdout + down.stderr)
        try:
            remove_students(names)
            cleanup_error = None
        except Exception as exc:  # keep the figures, say what was left
            cleanup_error = f"{type(exc).__name__}: {exc}"[:300]
    got = json.loads(out_file.read_text())
    phases = got.get("phases") or {}
    for s in sampler.samples:
        wall = s["t"] + clock
        if s["phase"] == "locust":
            idle = phases.get("settled", 1e18) <= wall <= phases.get("end", 0)
            s["phase"] = "idle" if idle else "locust setup"
    figures = locust_run.figures(got, len(ready), "", sampler, locust_started)
    figures["saturation"] = {}  # the one-process judgement does not apply: see "cpu"
    seat_starts = sorted(s.start_s for s in ready)
    per_node: dict[str, int] = {}
    for name in where.values():
        per_node[name] = per_node.get(name, 0) + 1
    mem = sorted(memory_at_end.values())
    figures.update(
        students_asked=students,
        seats_ready=len(ready),
        seats_failed={s.name: s.message for s in seats if s.start_s is None},
        seat_start_s=locust_run.percentiles(seat_starts),
        seats_per_node=per_node,
        seat_memory_bytes=load.summary(mem) if mem else None,
        seat_memory_total_bytes=sum(mem),
        cpu={p: sampler.phase_figures(p) for p in ("setup", "locust setup", "idle")},
        arrive_to_class_s=time.time() - started,
        locust_exit=proc.returncode,
        cleanup_error=cleanup_error,
        idle_s=idle_s,
        reports=str(out_dir),
    )
    return figures
