"""The hub's spawner: one seat per student, a Swarm service placed by the Swarm on a lab machine.

dockerspawner's SwarmSpawner, with what a class needs on top:

- **No IPVS, no routing mesh.** Many kernels (this machine's among them) lack IPVS, and then
  Swarm's virtual IPs and ingress publishing do not work. A seat publishes its port in host
  mode on the node it runs on (a port the node picks) with `--endpoint-mode dnsrr`, and the hub
  reaches it at that node's address: no overlay network and no VIP between the hub and a seat,
  which works the same where IPVS exists.
- **The node's own engine.** A seat mounts `NODE_SOCKET` of the node it lands on: its builds
  and runs stay on that node, in its build cache.
- **Limits.** CPU, memory and pids limits and reservations on every seat (dockerspawner #357,
  #451: one user must not take a node down).
- **A full class is said, not spun.** A seat that no node can take for `FULL_AFTER_S` seconds
  is removed and the spawn fails with `seats.class_full`, which the hub's page shows.
- **A student stays where their things are.** The first placement is kept in the spawner's
  state (the hub's database); later starts are pinned to that node, so a restart or a culled and
  respawned seat finds its volume. A pinned node that is drained or down fails the start with
  `seats.machine_gone`, and removes nothing.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from docker.types import (
    ContainerSpec,
    EndpointSpec,
    Mount,
    Placement,
    Resources,
    TaskTemplate,
)
from dockerspawner import SwarmSpawner
from tornado import web
from traitlets import Float, Int, Unicode, default

from dashboard import settings
from dashboard.hub import seats

_WAITING = {"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting"}
_NO_ROOM = ("insufficient resources", "no suitable node")
TASK_APPEARS_S = 15.0  # a new service with no task yet after this long has vanished


class SeatSpawner(SwarmSpawner):
    """A student's dashboard as a Swarm service on the node the Swarm picks (then keeps)."""

    node_socket = Unicode(seats.NODE_SOCKET, config=True, help="the engine socket on each node")
    docker_gid = Int(0, config=True, help="the group of NODE_SOCKET on the nodes")
    pids_limit = Int(seats.Limits.pids, config=True, help="processes one seat may run")
    full_after = Float(seats.FULL_AFTER_S, config=True, help="seconds unplaced = class full")
    state_dir = Unicode("", config=True, help="the hub's folder (`classroom move` marks there)")
    build_cgroup = Unicode("", config=True, help="DASHBOARD_BUILD_CGROUP of every seat")
    pinned_node = Unicode("", help="the node id that holds this student's things")

    @default("image")
    def _default_image(self):
        return seats.SEAT_IMAGE

    @default("name_template")
    def _default_name_template(self):
        return "dml-seat-{username}"

    @default("port")
    def _default_port(self):
        return seats.SEAT_PORT

    @default("remove")
    def _default_remove(self):
        return True

    # ---------------------------------------------------------------- state (the pin)

    def load_state(self, state):
        super().load_state(state)
        self.pinned_node = state.get("pinned_node", "")

    def get_state(self):
        state = super().get_state()
        if self.pinned_node:
            state["pinned_node"] = self.pinned_node
        return state

    def clear_state(self):
        # The pin outlives a stopped seat: it is where the student's volume is.
        pinned = self.pinned_node
        super().clear_state()
        self.pinned_node = pinned

    @default("object_name")
    def _default_object_name(self):  # the slug, whatever the hub allows in user names
        return seats.service_name(self.user.name)

    # ---------------------------------------------------------------- the service

    def limits(self) -> seats.Limits:
        return seats.Limits(
            cpu_limit=self.cpu_limit or seats.Limits.cpu_limit,
            cpu_reserve=self.cpu_guarantee or seats.Limits.cpu_reserve,
            mem_limit=int(self.mem_limit or seats.Limits.mem_limit),
            mem_reserve=int(self.mem_guarantee or seats.Limits.mem_reserve),
            pids=self.pids_limit,
        )

    def get_env(self):
        env = super().get_env()
        env[seats.SEAT_ENV] = seats.student(self.user.name)
        env["DASHBOARD_CLASSROOM"] = "1"
        env["DASHBOARD_DATA_DIR"] = seats.SEAT_DATA
        if self.build_cgroup:  # each student's builds run below it, capped by the machine
            env[settings.BUILD_CGROUP] = self.build_cgroup
        return env

    async def _node_state(self, node_id: str) -> seats.NodeState:
        """A node's host name, state and availability; state "gone" when it left the Swarm."""
        try:
            node = await self.docker("inspect_node", node_id)
        except Exception:
            return seats.NodeState(node_id[:12], "gone", "")
        return seats.NodeState(
            node["Description"]["Hostname"], node["Status"]["State"], node["Spec"]["Availability"]
        )

    def _moved(self) -> bool:
        """`classroom move NAME` was said: forget the pin, once."""
        if not self.state_dir:
            return False
        mark = Path(self.state_dir) / "moved" / seats.student(self.user.name)
        if mark.exists():
            mark.unlink()
            return True
        return False

    async def create_object(self):
        if self.pinned_node and self._moved():
            self.log.info("%s moved off node %s", self.user.name, self.pinned_node)
            self.pinned_node = ""
        if self.pinned_node:
            node = await self._node_state(self.pinned_node)
            if not node.usable:
                raise web.HTTPError(503, seats.machine_gone(node, seats.student(self.user.name)))
        limits = self.limits()
        name = self.user.name
        container = ContainerSpec(
            image=self.image,
            env=self.get_env(),
            args=await self.get_command(),
            labels=seats.seat_labels(name),
            groups=[str(self.docker_gid)],
            mounts=[
                Mount("/var/run/docker.sock", self.node_socket, type="bind"),
                Mount(seats.SEAT_DATA, seats.volume_name(name), type="volume"),
            ],
        )
        resources = Resources(
            cpu_limit=int(limits.cpu_limit * 1e9),
            cpu_reservation=int(limits.cpu_reserve * 1e9),
            mem_limit=limits.mem_limit,
            mem_reservation=limits.mem_reserve,
        )
        resources["Limits"]["Pids"] = limits.pids  # API 1.41+; docker-py has no argument for it
        constraints = [f"node.id=={self.pinned_node}"] if self.pinned_node else None
        task = TaskTemplate(
            container_spec=container,
            resources=resources,
            placement=Placement(constraints=constraints),
            restart_policy={"Condition": "none"},  # the hub restarts seats, not the Swarm
        )
        # Host mode with no published port: the node picks a free one (get_ip_and_port reads it).
        ports = [{"Protocol": "tcp", "TargetPort": self.port, "PublishMode": "host"}]
        endpoint = EndpointSpec(mode="dnsrr", ports=ports)
        service = await self.docker(
            "create_service",
            task,
            name=self.object_name,
            labels=seats.seat_labels(name),
            endpoint_spec=endpoint,
        )
        return service

    async def start_object(self):
        """Wait until the seat runs; a seat no node takes is a full class, said in seconds."""
        unplaced_since = None
        began = time.monotonic()
        deadline = began + self.start_timeout
        while True:
            task = await self.get_task()
            if task is None:
                # The Swarm makes a new service's task a moment after the service.
                if time.monotonic() - began < TASK_APPEARS_S:
                    await asyncio.sleep(0.5)
                    continue
                raise web.HTTPError(500, f"Your seat {self.object_name} vanished while starting.")
            status = task["Status"]
            state = status["State"].lower()
            if state == "running":
                break
            err = status.get("Err") or status.get("Message") or ""
            if state == "pending" and any(word in err for word in _NO_ROOM):
                unplaced_since = unplaced_since or time.monotonic()
                if time.monotonic() - unplaced_since >= self.full_after:
                    await self.remove_object()
                    self.object_id = ""
                    raise web.HTTPError(503, seats.class_full(err, self.limits()))
            elif state not in _WAITING:
                raise web.HTTPError(500, f"Your seat did not start ({state}): {err}")
            if time.monotonic() > deadline:
                raise web.HTTPError(504, f"Your seat did not start in {self.start_timeout} s.")
            await asyncio.sleep(0.5)
        self.pinned_node = task["NodeID"]

    async def get_ip_and_port(self):
        """The address of the node the seat runs on, and the port that node published."""
        task = await self.get_task()
        node = await self.docker("inspect_node", task["NodeID"])
        for port in task["Status"].get("PortStatus", {}).get("Ports", []):
            if port.get("TargetPort") == self.port:
                return node["Status"]["Addr"], port["PublishedPort"]
        raise web.HTTPError(500, f"Your seat {self.object_name} published no port.")

    async def progress(self):
        """What the spawn page says while a seat is placed and started."""
        yield {"progress": 10, "message": "Asking the lab machines for a seat ..."}
        told = set()
        while True:
            await asyncio.sleep(1)
            task = await self.get_task() if self.object_id else None
            if task is None:
                continue
            state = task["Status"]["State"].lower()
            if state in told:
                continue
            told.add(state)
            host = ""
            if task.get("NodeID"):
                host = (await self._node_state(task["NodeID"])).host
            where = f" on {host}" if host else ""
            yield {"progress": 50 if state == "running" else 30, "message": f"Seat {state}{where}"}
