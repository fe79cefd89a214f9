"""A class on many machines, for real: JupyterHub on a Swarm of three namespaced engines
(tests/swarm.py), a seat per student placed by the Swarm, and a Chromium student who signs up
through the hub, builds and runs lesson 1 to setosa on the worker machine their seat landed on.

The hub is started as the README's classroom guide says (`python -m dashboard classroom up`),
inside the manager's network namespace, and reached from the host through a loopback forward.
Each seat reserves 2 CPUs, all of a node's: three seats fill the class, and a fourth student
reads the hub's "The class is full" sentence within seconds. A drained machine stops its
student's next start with a sentence, and takes nothing from the others. An idle seat is culled
and its volume stays.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time

import docker
import pytest
from playwright.sync_api import expect

from tests import cgroups, engines, swarm
from tests.e2e.browser import (
    ARTIFACTS,
    JOB_MS,
    PAGE_MS,
    VIEWPORT,
    button,
    metric,
    screenshot,
    wait_idle,
)
from tests.e2e.terminal_page import KEY, choose, terminal_frame, wait_text
from tests.hub_student import HubStudent

pytestmark = pytest.mark.hub
PASSWORD = "class-pw-1"
IRIS = "iris-model:1.0"
STUDENT_LABEL = "io.dockerml.dashboard.student"


def _classroom(tmp, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return swarm.classroom(tmp, *args, check=check, timeout=180)


@pytest.fixture(scope="module")
def build_cgroup():
    """The machines' owner capped the students' builds (the classroom guide's step; the three
    machines share this one's cgroups): 1.5 GiB and 1.5 CPUs, pip's install fits."""
    reason = cgroups.unavailable_reason()
    if reason:
        pytest.fail(reason)
    with cgroups.capped(1536, 1.5, prefix="dml-test-hub-builds") as name:
        yield name


@pytest.fixture(scope="module")
def hub(tmp_path_factory, build_cgroup):
    swarm.up()
    data = tmp_path_factory.mktemp("hub")
    up = _classroom(
        data,
        "up",
        "--node-socket",
        swarm.NODE_SOCKET,
        "--build-cgroup",
        f"/{build_cgroup}",
        "--cpu-reserve",
        "2",
        "--cpu-limit",
        "2",
        "--mem-reserve",
        "512",
    )
    assert "docker swarm join --token" in up.stdout, up.stdout + up.stderr
    with engines.netns_port(swarm.netns_path(swarm.MANAGER), 8000) as port:
        yield f"http://127.0.0.1:{port}", data
    down = _classroom(data, "down", check=False)
    print(down.stdout, down.stderr)
    # What this test's students made on each machine: their seats' containers go a few seconds
    # after their services, then their lab containers, images and the seats' volumes.
    for node in swarm.NODES:
        client = docker.DockerClient(base_url=swarm.docker_host(node), version="auto")
        for _ in range(60):
            if not client.containers.list(all=True, filters={"name": "dml-seat-"}):
                break
            time.sleep(1)
        for container in client.containers.list(all=True, filters={"label": STUDENT_LABEL}):
            container.remove(force=True)
        for image in client.images.list(filters={"label": STUDENT_LABEL}):
            client.images.remove(image.id, force=True)
        for volume in client.volumes.list(filters={"name": "dml-seat-"}):
            volume.remove(force=True)
        client.close()


@pytest.fixture(scope="module")
def manager():
    client = docker.DockerClient(base_url=swarm.docker_host(swarm.MANAGER), version="auto")
    yield client
    client.close()


class HttpStudent(HubStudent):
    """A student who signs up, logs in and starts a seat with plain HTTP (as the hub's pages)."""

    def __init__(self, base: str, name: str):
        super().__init__(base, name, PASSWORD, timeout=30)


def _seat_node(manager, name: str) -> str:
    tasks = manager.api.tasks(filters={"service": f"dml-seat-{name}", "desired-state": "running"})
    assert tasks, f"no running seat for {name}"
    return manager.api.inspect_node(tasks[0]["NodeID"])["Description"]["Hostname"]


def _wait_for_seat(page, manager, name: str) -> None:
    """The spawn page moves on to the student's seat; when it does not, what the page said and
    what the Swarm did with the seat's task, so a failure says why."""
    try:
        page.wait_for_url(re.compile(rf"/user/{name}/"), timeout=JOB_MS)
    except Exception as error:
        said = page.locator("body").inner_text()[-1500:]
        tasks = manager.api.tasks(filters={"service": f"dml-seat-{name}"})
        states = [
            (t["Status"]["State"], t["Status"].get("Err", ""), t["Status"]["Message"])
            for t in tasks
        ]
        raise AssertionError(
            f"{name}'s seat did not open: the page says {said!r}; tasks {states}"
        ) from error


@contextlib.contextmanager
def _drained(manager, host: str):
    """Machine `host` takes no new seat for the body (what the instructor's
    `docker node update --availability drain` does), then takes them again."""
    node = next(n for n in manager.nodes.list() if n.attrs["Description"]["Hostname"] == host)
    node.update(dict(node.attrs["Spec"], Availability="drain"))
    try:
        yield
    finally:
        node.reload()
        node.update(dict(node.attrs["Spec"], Availability="active"))


def _keep_seat_log(name: str) -> None:
    """The seat's own log (jhsingle-native-proxy's and Streamlit's) beside the screenshots, from
    whichever machine holds it: what a failing page looked like from the inside."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for node in swarm.NODES:
        client = docker.DockerClient(base_url=swarm.docker_host(node), version="auto")
        for container in client.containers.list(all=True, filters={"name": f"dml-seat-{name}"}):
            log = container.logs(timestamps=True)
            (ARTIFACTS / f"hub-seat-{name}-{node}.log").write_bytes(log)
        client.close()


def test_a_student_builds_and_runs_lesson_1_on_the_machine_of_their_seat(
    hub, manager, browser, build_cgroup
):
    base, _ = hub
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(base + "/hub/signup", timeout=PAGE_MS)
        page.fill("input[name=username]", "ada")
        page.fill("input[name=signup_password]", PASSWORD)
        page.fill("input[name=signup_password_confirmation]", PASSWORD)
        page.click("input[type=submit], button[type=submit]")
        page.goto(base + "/hub/login", timeout=PAGE_MS)
        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", PASSWORD)
        page.click("input[type=submit], button[type=submit]")
        # Her seat lands on a worker, as most of a class's do: the hub on the manager reaches
        # it at that machine's address, and her builds run on that machine's engine.
        with _drained(manager, swarm.MANAGER):
            page.goto(base + "/hub/spawn/ada", timeout=PAGE_MS)
            _wait_for_seat(page, manager, "ada")
        page.goto(base + "/user/ada/lesson1", timeout=PAGE_MS)
        wait_idle(page)
        expect(button(page, "build-iris")).to_contain_text(f"ada/{IRIS}", timeout=PAGE_MS)
        button(page, "build-iris").click()
        expect(metric(page, "Build time")).to_be_visible(timeout=JOB_MS)
        wait_idle(page)
        # BuildKit, as her own `docker build` on Engine 26 is: 5 steps as the lecture counts them
        # (the classic builder, without the seat's docker CLI, ran 7).
        summary = page.locator("[data-testid='stAlertContentSuccess']", has_text="Dockerfile steps")
        expect(summary).to_contain_text("Docker ran 5 Dockerfile steps")
        button(page, "run-iris").click()
        expect(metric(page, "Predicted class")).to_have_text("setosa", timeout=JOB_MS)
        screenshot(page, "hub-ada-setosa")
        # The terminal, on the page's own address under the hub's prefix (through the hub's
        # proxy and the seat's): a shell in a container of hers, on her machine.
        wait_idle(page)
        page.locator(".st-key-detach-name input").fill("ada-shell")
        page.locator(".st-key-detach-name input").press("Enter")
        wait_idle(page)
        button(page, "start-detached").click()
        wait_idle(page)
        choose(page, "ada-shell")
        button(page, f"{KEY}-button").click()
        wait_idle(page)
        frame = terminal_frame(page)
        assert frame.evaluate("window.__terminal.url").endswith("/user/ada/_dashboard/terminal")
        wait_text(frame, r"root@\w+:/app# $", timeout_ms=PAGE_MS)
        frame.locator(".xterm").click()
        page.keyboard.type("python -c 'print(6*7)'\n")
        wait_text(frame, r"^42\s*$")
        screenshot(page, "hub-ada-terminal")
    except Exception:
        screenshot(page, "hub-ada-failed")
        _keep_seat_log("ada")
        raise
    finally:
        context.close()
    node = _seat_node(manager, "ada")
    assert node != swarm.MANAGER
    # The build landed on the seat's machine, and on no other.
    for other in swarm.NODES:
        client = docker.DockerClient(base_url=swarm.docker_host(other), version="auto")
        tags = {t for image in client.images.list() for t in image.tags}
        client.close()
        assert (f"ada/{IRIS}" in tags) == (other == node), (other, node, sorted(tags))
    # Her build's steps ran below the classroom's capped cgroup, in one of her own.
    below = sorted(str(p) for p in cgroups.CGROUP.glob(f"*/{build_cgroup}/*"))
    assert cgroups.student_cgroup(build_cgroup, "ada").is_dir(), below
    # Its limits are in force on the seat's service.
    spec = manager.api.inspect_service("dml-seat-ada")["Spec"]["TaskTemplate"]
    assert f"DASHBOARD_BUILD_CGROUP=/{build_cgroup}" in spec["ContainerSpec"]["Env"]
    assert spec["Resources"]["Limits"]["Pids"] == 512
    assert spec["Resources"]["Reservations"]["NanoCPUs"] == 2_000_000_000

    # The instructor (the hub's admin) sees her in the roster, read from her seat on her machine.
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        for path, password in (("/hub/signup", "signup_password"), ("/hub/login", "password")):
            page.goto(base + path, timeout=PAGE_MS)
            page.fill("input[name=username]", "instructor")
            page.fill(f"input[name={password}]", PASSWORD)
            if path == "/hub/signup":
                page.fill("input[name=signup_password_confirmation]", PASSWORD)
            page.click("input[type=submit], button[type=submit]")
        page.goto(base + "/services/roster/", timeout=PAGE_MS)
        row = page.locator("#student-ada")
        expect(row).to_contain_text(f"{node} (ready)", timeout=PAGE_MS)
        cells = row.locator("td").all_inner_texts()
        assert cells[1] == "running", cells
        assert int(cells[4]) >= 1 and int(cells[5]) >= 1, cells  # builds, runs
        assert int(cells[3].split(" of ")[0]) >= 1, cells  # checks ticked on her pages
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "hub-roster.png"), full_page=True)  # not Streamlit
    finally:
        context.close()


def test_a_full_class_is_said_within_seconds_and_a_drained_machine_is_said(hub, manager):
    base, data = hub
    students = [HttpStudent(base, name) for name in ("bob", "cy", "dan")]
    for s in students:
        s.sign_up_and_log_in()
    # ada's seat (the test before) or a fresh one: three seats fill three machines.
    started = [s.start() for s in students[:2]]
    assert all(e.get("ready") for e in started), started
    began = time.monotonic()
    full = students[2].start()
    waited = time.monotonic() - began
    assert full.get("failed"), full
    assert "The class is full" in full["message"], full["message"]
    assert waited < 30, f"the full class was said after {waited:.0f} s"
    status = _classroom(data, "status").stdout
    assert all(name in status for name in ("ada", "bob", "cy")), status

    # bob's machine is drained while his seat is stopped: his next start says so, the others
    # keep theirs.
    bob = students[0]
    node = _seat_node(manager, "bob")
    bob.stop()
    node_id = next(n.id for n in manager.nodes.list() if n.attrs["Description"]["Hostname"] == node)
    drained = manager.nodes.get(node_id)
    spec = dict(drained.attrs["Spec"], Availability="drain")
    drained.update(spec)
    try:
        again = bob.start()
        assert again.get("failed"), again
        assert f"lab machine {node}, which is drained" in again["message"], again["message"]
        assert _seat_node(manager, "cy")
        # The roster says it too, with the way on.
        instructor = HttpStudent(base, "instructor")
        instructor.sign_up_and_log_in()
        roster = instructor.http.get(base + "/services/roster/", timeout=60)
        assert roster.status_code == 200, roster.text[:500]
        assert f"{node} is drained" in roster.text and "classroom move bob" in roster.text
    finally:
        drained.reload()
        drained.update(dict(drained.attrs["Spec"], Availability="active"))

    # A student cannot read the roster; the instructor's clean-up of ada takes what carries
    # her label on her machine and stops her seat, and nobody else's.
    assert cy_cannot_read_roster(base, students[1])
    ada_node = _seat_node(manager, "ada")
    form = {"student": "ada", "_xsrf": instructor._xsrf("/services/roster/")}
    done = instructor.http.post(base + "/services/roster/", data=form, timeout=120)
    assert "Cleaned up after ada on their machine: removed" in done.text, done.text[-1500:]
    client = docker.DockerClient(base_url=swarm.docker_host(ada_node), version="auto")
    try:
        hers = {"label": [f"{STUDENT_LABEL}=ada", "io.dockerml.dashboard.managed=true"]}
        assert not client.images.list(filters=hers)
        assert not client.containers.list(all=True, filters=hers)  # her seat's own goes after
        assert client.volumes.get("dml-seat-ada-data")  # her history stays
    finally:
        client.close()
    assert not manager.api.services(filters={"name": "dml-seat-ada"})
    assert _seat_node(manager, "cy")


def cy_cannot_read_roster(base: str, student: HttpStudent) -> bool:
    answer = student.http.get(base + "/services/roster/", timeout=60)
    return answer.status_code == 403 or "Classroom roster" not in answer.text


def test_an_idle_seat_is_culled_and_its_volume_stays(hub, manager):
    """The hub again with a short idle time: a seat nobody uses is stopped by the idle culler,
    and the student's volume stays on the machine for their next seat."""
    base, data = hub
    _classroom(data, "down")
    up = _classroom(
        data, "up", "--node-socket", swarm.NODE_SOCKET, "--idle", "20", "--cull-every", "10"
    )
    assert "docker swarm join" in up.stdout
    _classroom(data, "status")  # answers with the hub up again
    eli = HttpStudent(base, "eli")
    eli.sign_up_and_log_in()
    assert eli.start().get("ready")
    node = _seat_node(manager, "eli")
    for _ in range(30):
        if not manager.api.services(filters={"name": "dml-seat-eli"}):
            break
        time.sleep(5)
    else:
        raise AssertionError("the idle seat was not culled in 150 s")
    log = (data / "classroom-hub" / "hub.log").read_text()
    assert "Culling server eli" in log
    client = docker.DockerClient(base_url=swarm.docker_host(node), version="auto")
    try:
        assert client.volumes.get("dml-seat-eli-data")
    finally:
        client.close()


def test_the_doctor_asks_every_machine_and_names_one_without_the_seat_image(hub):
    """`classroom doctor` runs the dashboard's doctor in the seat's image on every machine; a
    machine without that image is named, with the way to get it there."""
    _, data = hub
    probe = "dml-doctor-probe:1"  # the seat image under a name only node1 and node2 have
    clients = {
        node: docker.DockerClient(base_url=swarm.docker_host(node), version="auto")
        for node in swarm.NODES
    }
    try:
        for node in swarm.NODES[:2]:
            clients[node].images.get(swarm.SEAT_IMAGE).tag(probe)
        args = ("doctor", "--json", "--seat-image", probe, "--node-socket", swarm.NODE_SOCKET)
        done = _classroom(data, *args, check=False)
        records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        nodes = {r["host"]: r for r in records if r.get("type") == "node"}
        assert set(nodes) == set(swarm.NODES), done.stdout + done.stderr
        assert done.returncode == 1, done.stdout
        for node in swarm.NODES[:2]:
            names = {c["name"] for c in nodes[node]["checks"]}
            assert {"daemon", "buildx", "base image", "wheelhouse"} <= names, nodes[node]
            assert nodes[node]["ok"], nodes[node]
        assert f"the seat image {probe} is not on node3" in nodes["node3"]["problem"], nodes
        assert not nodes["node3"]["ok"]
    finally:
        for node in swarm.NODES[:2]:
            with contextlib.suppress(docker.errors.ImageNotFound):
                clients[node].images.remove(probe)
        for client in clients.values():
            client.close()


def _node_state(manager, host: str) -> str:
    node = next(n for n in manager.nodes.list() if n.attrs["Description"]["Hostname"] == host)
    return node.attrs["Status"]["State"]


def test_a_machine_that_goes_down_is_said_and_its_student_comes_back_with_it(hub, manager):
    """A lab machine switched off (its engine stopped, not drained): its student's next start
    and the roster say so; once it is back, the student's seat starts there again."""
    base, _ = hub
    gus = HttpStudent(base, "gus")
    # gus's first seat lands on a worker (the manager cannot go down: the Swarm lives there).
    with _drained(manager, swarm.MANAGER):
        gus.sign_up_and_log_in()
        assert gus.start().get("ready")
        node = _seat_node(manager, "gus")
    assert node != swarm.MANAGER
    gus.stop()
    swarm.stop_node(node)
    try:
        for _ in range(90):
            if _node_state(manager, node) == "down":
                break
            time.sleep(1)
        else:
            raise AssertionError(f"the Swarm did not see {node} go down in 90 s")
        again = gus.start()
        assert again.get("failed"), again
        assert f"lab machine {node}, which is down" in again["message"], again["message"]
        assert f"start {node} and its Docker engine again" in again["message"]
        instructor = HttpStudent(base, "instructor")
        instructor.sign_up_and_log_in()
        roster = instructor.http.get(base + "/services/roster/", timeout=60).text
        assert f"{node} is down" in roster and "classroom move gus" in roster, roster[-2000:]
    finally:
        swarm.start_node(node)
    for _ in range(90):
        if _node_state(manager, node) == "ready":
            break
        time.sleep(1)
    back = gus.start()
    assert back.get("ready"), back
    assert _seat_node(manager, "gus") == node  # back where his things are
