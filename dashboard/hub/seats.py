"""What a seat is, shared by the hub's spawner and the `classroom` command: its names, labels,
port and limits, and the sentences a student or the instructor reads about it.

A seat is one Swarm service per student (`dml-seat-NAME`), running the seat image
(docker/seat/Dockerfile) with the engine of the node it lands on mounted, and a volume of that
node (`dml-seat-NAME-data`) for the student's history and working copies.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.engine.base import labels, owner

CLASSROOM_LABEL = "io.dockerml.dashboard.classroom"  # on the seats the hub made (value: "hub")
CLASSROOM_VALUE = "hub"
SEAT_IMAGE = "docker-ml-dashboard-seat:latest"
SEAT_PORT = 8888  # the hub's single-user port: jhsingle-native-proxy listens there
NODE_SOCKET = "/var/run/docker.sock"  # the engine of the node a seat lands on, on that node
SEAT_DATA = "/data"  # DASHBOARD_DATA_DIR in the seat image
SEAT_ENV = "DASHBOARD_SEAT"  # the student a seat works for (settings.seat_student)
FULL_AFTER_S = 3.0  # a seat no node can take for this long: the class is full


@dataclass(frozen=True)
class Limits:
    """What one seat may use, and what the scheduler keeps free for it on its node."""

    cpu_limit: float = 1.0
    cpu_reserve: float = 0.25
    mem_limit: int = 1536 << 20
    mem_reserve: int = 384 << 20
    pids: int = 512

    def describe(self) -> str:
        return (
            f"{self.cpu_reserve:g} CPU and {self.mem_reserve >> 20} MiB kept for each seat, "
            f"at most {self.cpu_limit:g} CPU, {self.mem_limit >> 20} MiB and {self.pids} processes"
        )


@dataclass(frozen=True)
class NodeState:
    host: str
    state: str  # ready, down, ...; "gone" when it left the Swarm
    availability: str  # active, pause, drain

    @property
    def usable(self) -> bool:
        return self.state == "ready" and self.availability == "active"

    def describe(self) -> str:
        if self.state == "gone":
            return "no longer in the Swarm"
        if self.availability == "drain":
            return "drained"
        return self.state if self.availability == "active" else f"{self.state}, {self.availability}"

    def way_back(self) -> str:
        """How the instructor brings the machine back."""
        if self.state == "gone":
            return f"join {self.host} to the Swarm again (`classroom up` prints the line)"
        if self.state != "ready":
            return f"start {self.host} and its Docker engine again"
        return f"`docker node update --availability active {self.host}`"


def student(username: str) -> str:
    """The dashboard's name for a hub user (raises owner.BadStudentName)."""
    return owner.slug(username)


def service_name(username: str) -> str:
    return f"dml-seat-{student(username)}"


def volume_name(username: str) -> str:
    return f"{service_name(username)}-data"


def seat_labels(username: str) -> dict[str, str]:
    """The labels on a seat's service and its container: the classroom's, the dashboard's
    app label (no clean-up button ever removes a seat) and the student's."""
    return {
        CLASSROOM_LABEL: CLASSROOM_VALUE,
        labels.APP: "true",
        labels.STUDENT: student(username),
    }


def class_full(reason: str, limits: Limits) -> str:
    """What the hub's spawn page says when no lab machine can take one more seat."""
    return (
        "The class is full: no lab machine has room for one more seat "
        f"({limits.describe()}; Docker Swarm says: {reason.strip()}). "
        "Ask your instructor to add a machine (`docker swarm join ...`) or to free a seat, "
        "then press Start again."
    )


def machine_gone(node: NodeState, username: str) -> str:
    """What a student reads when the machine that holds their things is drained or lost."""
    return (
        f"Your seat lives on lab machine {node.host}, which is {node.describe()}: your history, "
        "working copies and images are there, out of reach until it is back. Ask your "
        f"instructor to bring it back ({node.way_back()}), or to give you a fresh seat on "
        f"another machine (`python -m dashboard classroom move {username}`): your things on "
        f"{node.host} stay there."
    )
