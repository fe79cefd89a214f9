"""A disposable second Docker daemon for fault injection: kill it, restart it, fill its disk.

Other tests and engineers share the daemon at /var/run/docker.sock, so faults are never injected
there. `FaultDaemon` starts a private `dockerd` with its own data root, exec root, socket,
pidfile and containerd namespace, inside a network namespace of its own: dockerd touches host
interfaces at start (with `--bridge=none` it even deletes the host's `docker0`, which the shared
daemon's containers need), and in its own namespace it cannot. The data root can sit on a
size-limited tmpfs to make "no space left on device" happen on demand.

Builds on it use the host network of *its* namespace, so `serve_wheelhouse()` starts a copy of
the loopback wheelhouse server in there (lab builds with `pip install` need it).

Everything it starts is a child process whose pid it keeps; `close()` stops them by pid,
unmounts what is mounted below its folder and removes the folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker


def unavailable_reason(dockerd: str | None = "dockerd") -> str | None:
    """Why a fault daemon cannot run here (None when it can); `dockerd` None: not checked yet."""
    if sys.platform != "linux":
        return "fault injection needs Linux"
    if os.geteuid() != 0:
        return "fault injection needs root (a second dockerd, tmpfs mounts, namespaces)"
    for tool in (dockerd, "unshare", "nsenter", "mount", "umount"):
        if tool is not None and shutil.which(tool) is None:
            return f"fault injection needs `{tool}`"
    return None


def _mounts_below(folder: Path) -> list[str]:
    prefix = str(folder) + "/"
    found = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            point = line.split()[1].replace("\\040", " ")
            if point.startswith(prefix) or point == str(folder):
                found.append(point)
    return sorted(set(found), key=len, reverse=True)  # deepest first


def _pids_mentioning(text: str) -> list[int]:
    """Processes whose command line names our private folder (containerd, shims we caused)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            pids.append(int(entry.name))
    return pids


class FaultDaemon:
    """A private dockerd. `start()`, `kill()`, `stop()` as often as a test needs, then `close()`.

    `dockerd`: the binary (default: the one on PATH; e.g. Engine 26's from tests/engines.py, whose
    folder then goes first on its PATH so its own docker-proxy is used). `env`: extra environment
    of the daemon, e.g. {"DOCKER_MIN_API_VERSION": "1.44"} to refuse older clients as Engine 29
    does.
    """

    def __init__(
        self,
        disk_mb: int | None = None,
        dockerd: str = "dockerd",
        env: dict[str, str] | None = None,
    ):
        # Short paths: a unix socket path has at most 107 bytes, containerd's below exec-root too.
        self.folder = Path(tempfile.mkdtemp(prefix="fd", dir="/tmp"))
        self.name = self.folder.name
        self.data_root = self.folder / "r"
        self.exec_root = self.folder / "e"
        self.socket = self.folder / "d.sock"
        self.log_path = self.folder / "dockerd.log"
        self.data_root.mkdir()
        self.exec_root.mkdir()
        self.disk_mb = disk_mb
        self.dockerd = dockerd
        self.env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.holder: subprocess.Popen | None = None
        self.wheelhouse: subprocess.Popen | None = None
        self._log = None
        if disk_mb:
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={disk_mb}m", "tmpfs", str(self.data_root)],
                check=True,
                capture_output=True,
            )
        # A process that only holds the network namespace, so it outlives daemon restarts.
        self.holder = subprocess.Popen(
            [
                "unshare",
                "--net",
                "--",
                "sh",
                "-c",
                "ip link set lo up 2>/dev/null; exec sleep 3600",
            ],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.netns = f"/proc/{self.holder.pid}/ns/net"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def client(self, timeout: int = 60) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.host, version="auto", timeout=timeout)

    def _wait_netns(self) -> None:
        deadline = time.monotonic() + 5
        while os.readlink(self.netns) == os.readlink("/proc/self/ns/net"):
            if time.monotonic() > deadline:
                raise RuntimeError("the network namespace holder did not start")
            time.sleep(0.02)

    def start(self, timeout: float = 60) -> None:
        if self.running:
            return
        self._wait_netns()
        self._log = self.log_path.open("ab")
        cmd = [
            "nsenter",
            f"--net={self.netns}",
            "--",
            self.dockerd,
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.exec_root),
            "--pidfile",
            str(self.folder / "dockerd.pid"),
            "-H",
            self.host,
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--containerd-namespace",
            self.name,
            "--containerd-plugins-namespace",
            self.name + "-plugins",
            "--log-level",
            os.environ.get("FD_LOG", "warn"),
        ]
        environ = dict(os.environ, **self.env)
        if os.sep in self.dockerd:
            folder = os.path.dirname(os.path.abspath(self.dockerd))
            environ["PATH"] = f"{folder}{os.pathsep}{environ.get('PATH', '')}"
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, env=environ
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited at start:\n{self.log_tail()}")
            try:
                probe = docker.DockerClient(base_url=self.host, version="auto", timeout=5)
                probe.ping()
                probe.close()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dockerd did not answer:\n{self.log_tail()}") from None
                time.sleep(0.1)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to dockerd and wait until it is gone (its containerd dies with it)."""
        if not self.running:
            return
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        self._forget_containerd()

    def _forget_containerd(self) -> None:
        """Wait for the managed containerd to die with dockerd, then drop its pid file.

        An orphaned containerd stays a zombie until init reaps it, and dockerd takes a zombie's
        pid for a live containerd ("containerd is still running") and waits for it in vain.
        """
        pidfile = self.exec_root / "containerd" / "containerd.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                break
            if state in ("Z", "X"):
                break
            time.sleep(0.05)
        pidfile.unlink(missing_ok=True)

    def stop(self) -> None:
        """A clean shutdown: SIGTERM, then SIGKILL if it takes longer than 30 s."""
        if not self.running:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def load_image(self, source: docker.DockerClient, ref: str) -> None:
        """`docker save ref` on `source` piped into `docker load` here, through a disk file."""
        with tempfile.TemporaryFile(dir="/tmp") as tar:
            for chunk in source.api.get_image(ref, chunk_size=1 << 20):
                tar.write(chunk)
            tar.seek(0)
            client = self.client(timeout=300)
            try:
                for _ in client.api.load_image(tar):
                    pass
            finally:
                client.close()

    def serve_wheelhouse(self, folder: Path, port: int) -> None:
        """The offline wheelhouse on 127.0.0.1:`port` of the daemon's network namespace."""
        if self.wheelhouse is not None and self.wheelhouse.poll() is None:
            return
        self.wheelhouse = subprocess.Popen(
            ["nsenter", f"--net={self.netns}", "--", sys.executable, "-m", "http.server"]
            + [str(port), "--bind", "127.0.0.1", "--directory", str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = [
            sys.executable,
            "-c",
            f"import urllib.request as u; u.urlopen('http://127.0.0.1:{port}/', timeout=1)",
        ]
        deadline = time.monotonic() + 10
        while subprocess.run(
            ["nsenter", f"--net={self.netns}", "--", *probe], capture_output=True
        ).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError("the wheelhouse server in the fault namespace did not answer")
            time.sleep(0.1)

    def disk_free_bytes(self) -> int:
        return shutil.disk_usage(self.data_root).free

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def close(self) -> None:
        """Stop everything this daemon started, unmount, remove the folder."""
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        for child in (self.wheelhouse, self.holder):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait(timeout=10)
        # A containerd or shim that outlived a killed dockerd names our folder on its command
        # line: stop those (by pid), never anything else.
        for pid in _pids_mentioning(str(self.folder) + "/"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for point in _mounts_below(self.folder):
            done = subprocess.run(["umount", point], capture_output=True)
            if done.returncode:
                subprocess.run(["umount", "-l", point], capture_output=True)
        if self._log is not None:
            self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


ENGINE_29_MIN_API = "1.44"  # the oldest API version Engine 29 takes


def refusing_old_clients(min_api: str = ENGINE_29_MIN_API) -> FaultDaemon:
    """A private Engine 26 daemon (started) that refuses API versions below `min_api`, as
    Engine 29 refuses everything below 1.44: Engine 26's dockerd reads its minimum from
    DOCKER_MIN_API_VERSION. The binary is Debian 13's, unpacked by tests/engines.py (fetched
    on first use). Raises RuntimeError with the reason when it cannot run here.
    """
    from tests import engines

    reason = unavailable_reason(dockerd=None)
    if reason:
        raise RuntimeError(reason)
    try:
        dockerd = str(engines.fetch_packages() / "usr/sbin/dockerd")
    except Exception as exc:  # no mirror, no apt: say why rather than a traceback
        raise RuntimeError(f"Engine 26's packages could not be fetched: {exc}") from exc
    reason = unavailable_reason(dockerd)
    if reason:
        raise RuntimeError(reason)
    daemon = FaultDaemon(dockerd=dockerd, env={"DOCKER_MIN_API_VERSION": min_api})
    try:
        daemon.start()
    except BaseException:
        daemon.close()
        raise
    return daemon
