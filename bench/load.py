"""Load: a whole class on one classroom server at once, against one student alone.

One server (`streamlit run dashboard/app.py` with DASHBOARD_CLASSROOM=1 and a data folder of its
own) and one headless Chromium with a browser context per student (a Streamlit session each, as
separate computers would be), driven by Playwright's async API so every student acts at once.

1. Setup, students arriving `ARRIVAL_GAP` s apart: open /lesson1 (the welcome page), type
   their name and press Start, press lesson 1's "Run iris-model:1.0" and wait for its exit
   code 0, open two other lessons (cache, multistage) through the sidebar and come back to
   lesson 1, start a detached container that prints a line a second (section 5, under a name
   of their own) and follow its logs (section 6): a live panel redrawn every
   `common.POLL_SECONDS` for the rest of the run. Each student's `NAME/iris-model:1.0` is
   tagged from iris-model:1.0 beforehand (the build queue is the classroom section's subject;
   here every Run finds its image).
2. Idle: the students stay on lesson 1 with the live log open; a driver moves one student at a
   time to "Sizes and clean-up" and back (a move every `MOVE_EVERY` s at most, the same student
   every `STUDENT_REST` s at most), timing each page: from the click to the new page's heading
   shown with the script notRunning. Meanwhile every student's page stamps when each counter
   line first shows (app_probe.LINES_JS) and `docker logs --timestamps` says when it was
   printed: the live panels' delay; and counts the messages it sends the server (the live
   panel asks for a fragment run every `common.POLL_SECONDS`): the load it offers.

A page response is any page a student opened (the first visit, Start, the sidebar moves); the
clicks that start jobs are timed apart ("actions"). Errors: a step that failed or timed out,
exception boxes or the error boundary's message in a page, uncaught JS errors and console
errors, the websocket leaving CONNECTED, tracebacks on the server's console. Chromium runs in
a network namespace of its own (see FORWARDER): in the host's, Docker adding a container's veth
makes it abort the loads in flight (net::ERR_NETWORK_CHANGED), which the students' browsers on
other machines never see; where no namespace can be made, those aborts are counted apart and
not as errors. Every second a sampler thread reads the
server's VmRSS and the CPU time (/proc/PID/stat) of the server, of Chromium, of the driver
(Playwright's node, the browser's forwarder and this process), of the daemon (dockerd,
containerd: shared with any other work), of the students' containers (by cgroup) and the
machine's (/proc/stat), to say what saturated first.

The simulated students' Chromium runs on the server's own machine, where a real class's
browsers would each have a computer of their own: it runs at nice `BROWSER_NICE`, so the
rendering of N pages takes the CPU the server leaves, not the server's. If the browser still
cannot keep up, its live panels ask for fewer fragment runs than a real class would: the send
rate per student (against `EXPECTED_SENDS`) says whether the server got the full load.

Run with one student, then with N, each on a fresh server; the ratios N / 1 of the p50 and p95
page responses are the section's figures. Everything is bounded in time and the students'
containers (session label `student-NAME`) and image tags are removed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import docker

from bench import app_probe, counted_server, stats
from bench.workspace import Workspace
from dashboard.engine.base import labels, owner
from dashboard.engine.base.paths import REPO_ROOT
from dashboard.ui import errors as ui_errors
from dashboard.ui import text as T

IRIS = "iris-model:1.0"
HOME = ("lesson1", T.TITLE_LESSON1)
VISITS = (("cache", T.TITLE_CACHE), ("multistage", T.TITLE_MULTISTAGE))
MOVE_TO = ("sizes", T.TITLE_SIZES)
MOVE_EVERY = 3.0  # seconds at least between the starts of two measured moves
STUDENT_REST = 12.0  # seconds at least between two moves of the same student (one student: idle)
BROWSER_NICE = 10  # Chromium yields the CPU to the server it loads (see the module docstring)
EXPECTED_SENDS = 1 / 0.25  # a live panel asks for a fragment run every common.POLL_SECONDS
PAGE_MS = 90_000  # one page, under load
RUN_MS = 240_000  # lesson 1's run, from the click to exit code 0
# Students arrive this many seconds apart (a class sits down over a minute or two, and 30
# simulated browsers starting at once on the bench's 2 CPUs never got through their setup:
# Chromium took 156 % of 200 %, the server 16 %). The idle phase has them all at once.
ARRIVAL_GAP = 4.0
VIEWPORT = {"width": 1280, "height": 900}
NETWORK_CHANGED = "net::ERR_NETWORK_CHANGED"
BUCKETS = ("server", "browser", "driver", "daemon", "containers")
DAEMON_COMMS = ("dockerd", "containerd")  # comm is cut at 15 chars: containerd-shim-runc-v2
SHIM = "containerd-shim"

# The stApp's connection state, every change with its time (CONNECTED, then anything else is a
# lost websocket).
CONNECTION_JS = f"""
window.__conn = [];
new MutationObserver((records) => {{
  for (const r of records) {{
    const s = r.target.getAttribute('data-test-connection-state');
    const last = window.__conn[window.__conn.length - 1];
    if (s && (!last || last[0] !== s)) window.__conn.push([s, {app_probe.now_js()}]);
  }}
}}).observe(document, {{subtree: true, attributes: true,
  attributeFilter: ['data-test-connection-state']}});
"""

# Every message the page sends the server (a rerun, a fragment's timed rerun, a widget), timed:
# the load a student's browser offers.
SENDS_JS = f"""
window.__sends = [];
const __send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {{
  window.__sends.push({app_probe.now_js()});
  return __send.call(this, data);
}};
"""

# The page `title` is shown: its heading, connected, and no script running.
SHOWN_JS = """
(title) => {
  const app = document.querySelector("[data-testid='stApp']");
  if (!app || app.getAttribute('data-test-connection-state') !== 'CONNECTED') return false;
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const h = document.querySelector("[data-testid='stMainBlockContainer'] h1");
  return !!h && h.textContent.includes(title);
}
"""

# textContent, not innerText: innerText lays the page out on every poll, and N pages polling
# would cost the (already short) browser more than the page itself.
SHOWS_TEXT_JS = """
(text) => { const m = document.querySelector("[data-testid='stMain']");
  return !!m && m.textContent.includes(text); }
"""

COUNTER_LINE = re.compile(r"^step (\d+) of (\d+)$")
COUNTER_SEEN_JS = (
    "() => [...document.querySelectorAll('code')].some(c => /step [0-9]+ of/.test(c.textContent))"
)

PROBLEMS_JS = f"""
() => {{
  const out = [];
  for (const e of document.querySelectorAll("[data-testid='stException']"))
    out.push('exception: ' + e.innerText.slice(0, 300));
  for (const e of document.querySelectorAll("[data-testid='stAlertContentError']"))
    out.push('error box: ' + e.innerText.slice(0, 300));
  const body = document.body ? document.body.innerText : '';
  const unexpected = {ui_errors.UNEXPECTED!r};
  if (body.includes(unexpected)) out.push('error boundary: ' + unexpected);
  return out;
}}
"""


# The browsers' own network: Chromium aborts every load in flight (net::ERR_NETWORK_CHANGED) when
# an address appears on the machine, as each container's veth does; a class's browsers are on
# other computers and never see the server's containers come and go. So Chromium runs in a
# network namespace of its own with only a loopback, where this forwarder listens on the
# server's port and relays every connection to the server on the host's loopback. It listens
# inside that namespace (setns through libc; Python 3.11 has no os.setns), then goes back to
# the host's: the listening socket stays where it was made, the upstream ones are made here.
FORWARDER = r"""
import ctypes, os, socket, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
home = os.open("/proc/self/ns/net", os.O_RDONLY)
away = os.open(sys.argv[1], os.O_RDONLY)
port = int(sys.argv[2])
if libc.setns(away, 0x40000000):
    sys.exit("setns failed: " + os.strerror(ctypes.get_errno()))
listener = socket.create_server(("127.0.0.1", port), backlog=256)
if libc.setns(home, 0x40000000):
    sys.exit("setns back failed: " + os.strerror(ctypes.get_errno()))
print("ready", flush=True)
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
        upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        client.close()
        continue
    upstream.settimeout(None)
    for a, b in ((client, upstream), (upstream, client)):
        threading.Thread(target=pipe, args=(a, b), daemon=True).start()
"""


@contextlib.contextmanager
def browser_network(port: int):
    """Yields the network namespace file for Chromium (its loopback reaches the server's
    `port`), or None where one cannot be made (not root, no unshare): then Chromium shares the
    host's network and its network-change aborts are counted apart."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
        yield None
        return
    holder = subprocess.Popen(
        ["unshare", "--net", "sh", "-c", "ip link set lo up && exec sleep 86400"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    forwarder = None
    try:
        deadline = time.monotonic() + 10
        while _comm(holder.pid) != "sleep":  # lo is up once the shell exec'd sleep
            if holder.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("could not make a network namespace for the browser")
            time.sleep(0.05)  # waiting for the namespace's loopback
        netns = f"/proc/{holder.pid}/ns/net"
        forwarder = subprocess.Popen(
            [sys.executable, "-c", FORWARDER, netns, str(port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        if forwarder.stdout.readline().strip() != "ready":
            raise RuntimeError("the browser's forwarder did not start")
        yield netns
    finally:
        for proc in (forwarder, holder):
            if proc is not None:
                proc.kill()
                proc.wait(10)


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def counter_command(lines: int) -> str:
    return f"sh -c 'for i in $(seq 1 {lines}); do echo \"step $i of {lines}\"; sleep 1; done'"


# ---------------------------------------------------------------- /proc (pure parts tested)


def parse_stat(text: str) -> tuple[str, int, int]:
    """/proc/PID/stat: (comm, ppid, utime + stime in clock ticks). comm may hold spaces and
    parentheses: the fields after it start after the last ')'."""
    head, _, rest = text.rpartition(")")
    comm = head.partition("(")[2]
    fields = rest.split()
    return comm, int(fields[1]), int(fields[11]) + int(fields[12])


def subtree(root: int, parents: dict[int, int]) -> set[int]:
    """`root` and every process below it, from a pid -> ppid map."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, ()))
    return found


def bucket(pid: int, comm: str, trees: dict[str, set[int]]) -> str | None:
    """Whose CPU a process's is: the server's tree, Chromium or the driver (below this process),
    the Docker daemon (shared with any other work), one of the students' containers, or None
    (other work, other containers included)."""
    if pid in trees["server"]:
        return "server"
    if pid in trees["own"]:
        return "browser" if comm.startswith("chrom") else "driver"
    if comm in DAEMON_COMMS or comm.startswith(SHIM):
        return "daemon"
    if pid in trees["containers"]:
        return "containers"
    return None


_CONTAINER_ID = re.compile(r"(?:^|[/-])([0-9a-f]{64})(?:\.scope)?$")


def container_id(cgroup_text: str) -> str | None:
    """The container a process runs in, from /proc/PID/cgroup (`.../docker/ID` with cgroupfs,
    `.../docker-ID.scope` with systemd), or None."""
    for line in cgroup_text.splitlines():
        found = _CONTAINER_ID.search(line.rpartition(":")[2])
        if found:
            return found.group(1)
    return None


def machine_ticks(stat_line: str) -> tuple[int, int]:
    """The first line of /proc/stat: (busy, total) ticks; idle and iowait are not busy, guest
    time is already in user."""
    values = [int(x) for x in stat_line.split()[1:9]]
    total = sum(values)
    return total - values[3] - values[4], total


def pss_bytes(smaps_rollup: str) -> int:
    """The proportional set size in /proc/PID/smaps_rollup (shared pages split among their
    processes, so Chromium's processes add up without counting shared pages twice)."""
    for line in smaps_rollup.splitlines():
        key, _, value = line.partition(":")
        if key == "Pss":
            return int(value.split()[0]) * 1024
    return 0


def cpu_percent(ticks: float, seconds: float, hz: int) -> float:
    """Ticks over a wall-clock interval as percent of one core (100 = one core busy)."""
    return 100.0 * ticks / hz / seconds if seconds > 0 else 0.0


def saturation(cpu: dict[str, float], cpus: int) -> dict:
    """What ran out first in a phase, from its mean CPU (percent of one core) per bucket.

    The server is one Python process: its threads share one GIL, so near 100 % it is saturated
    whatever the machine has left. The machine is saturated near `cpus` x 100 %.
    """
    capacity = 100.0 * cpus
    machine = cpu.get("machine", 0.0)
    shares = {k: cpu.get(k, 0.0) for k in (*BUCKETS, "other")}
    top = max(shares, key=shares.get)
    machine_full = machine >= 0.9 * capacity
    server_full = cpu.get("server", 0.0) >= 90.0
    if server_full:
        verdict = "the server process (about one core: its Python threads share one GIL)"
    elif machine_full:
        verdict = f"the machine's {cpus} CPUs ({machine:.0f} % of {capacity:.0f} %), most by {top}"
    else:
        verdict = "nothing (CPU to spare)"
    return {
        "machine_full": machine_full,
        "server_full": server_full,
        "top": top,
        "browser_over_server": (
            shares["browser"] / shares["server"] if shares["server"] else math.inf
        ),
        "verdict": verdict,
    }


def pct(values: list[float], p: float) -> float | None:
    return stats.percentile(values, p) if values else None


def summary(values: list[float]) -> dict | None:
    """Median, min, max, count, p50 and p95 (None when nothing was measured)."""
    if not values:
        return None
    return {
        **asdict(stats.summarize(values)),
        "p50": stats.percentile(values, 50),
        "p95": stats.percentile(values, 95),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def outside(t_ms: float, windows: list[tuple[float, float]], margin_ms: float = 1000) -> bool:
    """Whether `t_ms` falls in none of the windows (each widened by `margin_ms` at its end)."""
    return all(not (start <= t_ms <= end + margin_ms) for start, end in windows)


# ---------------------------------------------------------------- the sampler


class Sampler(threading.Thread):
    """Every second: the server's VmRSS, Chromium's summed RSS, CPU per bucket and the
    machine's, tagged with the phase the driver is in."""

    def __init__(self, server_pid: int, students: list[str], interval: float = 1.0):
        super().__init__(name="bench-load-sampler", daemon=True)
        self.server_pid = server_pid
        self.students = set(students)
        self._ours: set[str] = set()  # ids of the students' running containers
        self._listed = 0.0
        self.interval = interval
        self.phase = "start"
        self.samples: list[dict] = []
        self._halt = threading.Event()
        self._hz = os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    def _procs(self) -> dict[int, tuple[str, int, int]]:
        found = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            with (
                contextlib.suppress(OSError, ValueError, IndexError),
                open(f"/proc/{entry.name}/stat") as f,
            ):
                found[int(entry.name)] = parse_stat(f.read())
        return found

    def _our_containers(self) -> set[str]:
        """The students' running containers (listed again every 5 s, on a client of its own)."""
        if time.monotonic() - self._listed < 5:
            return self._ours
        self._listed = time.monotonic()
        try:
            if not hasattr(self, "_client"):
                from dashboard.engine.base.connection import connect

                self._client = connect(timeout=10)
            found = self._client.api.containers(filters={"label": [labels.STUDENT]})
            self._ours = {
                c["Id"]
                for c in found
                if (c.get("Labels") or {}).get(labels.STUDENT) in self.students
            }
        except Exception:  # the daemon busy or gone: keep the last list, the sampler goes on
            pass
        return self._ours

    @staticmethod
    def _cgroup_container(pid: int) -> str | None:
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                return container_id(f.read())
        except OSError:
            return None

    @staticmethod
    def _pss(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                return pss_bytes(f.read())
        except OSError:
            return 0

    def run(self) -> None:
        me = os.getpid()
        previous: dict[int, int] = {}
        with open("/proc/stat") as f:
            last_busy, last_total = machine_ticks(f.readline())
        last = time.monotonic()
        first = True
        while not self._halt.wait(0 if first else self.interval):
            procs = self._procs()
            now = time.monotonic()
            with open("/proc/stat") as f:
                busy, total = machine_ticks(f.readline())
            parents = {pid: p[1] for pid, p in procs.items()}
            shims = [pid for pid, p in procs.items() if p[0].startswith(SHIM)]
            ours = self._our_containers()
            in_containers = set().union(*(subtree(s, parents) for s in shims)) - set(shims)
            trees = {
                "server": subtree(self.server_pid, parents),
                "own": subtree(me, parents),
                "containers": {p for p in in_containers if self._cgroup_container(p) in ours},
            }
            ticks = dict.fromkeys(BUCKETS, 0)
            others: dict[str, int] = {}
            browser_pss = 0
            measure_memory = len(self.samples) % 5 == 0  # smaps_rollup walks page tables
            for pid, (comm, _, used) in procs.items():
                which = bucket(pid, comm, trees)
                spent = max(0, used - previous.get(pid, 0)) if not first else 0
                if which is None:
                    if spent:
                        others[comm] = others.get(comm, 0) + spent
                    continue
                ticks[which] += spent
                if which == "browser" and measure_memory:
                    browser_pss += self._pss(pid)
            previous = {pid: p[2] for pid, p in procs.items()}
            seconds = now - last
            if not first:
                cpu = {k: cpu_percent(v, seconds, self._hz) for k, v in ticks.items()}
                span = (total - last_total) or 1
                cpu["machine"] = 100.0 * (os.cpu_count() or 1) * (busy - last_busy) / span
                cpu["other"] = max(0.0, cpu["machine"] - sum(cpu[k] for k in BUCKETS))
                try:
                    rss = app_probe.vm_kib(self.server_pid)["VmRSS"] * 1024
                except (OSError, KeyError):
                    rss = None
                self.samples.append(
                    {
                        "t": now,
                        "phase": self.phase,
                        "rss": rss,
                        "browser_pss": browser_pss if measure_memory else None,
                        "cpu": cpu,
                        "others": {k: cpu_percent(v, seconds, self._hz) for k, v in others.items()},
                    }
                )
            last, last_busy, last_total, first = now, busy, total, False

    def phase_figures(self, phase: str) -> dict | None:
        got = [s for s in self.samples if s["phase"] == phase]
        if not got:
            return None
        keys = (*BUCKETS, "other", "machine")
        others: dict[str, float] = {}
        for s in got:
            for comm, used in s["others"].items():
                others[comm] = others.get(comm, 0.0) + used / len(got)
        return {
            # the other work's biggest processes by name (their mean % of one core)
            "other_top": dict(sorted(others.items(), key=lambda kv: -kv[1])[:4]),
            "seconds": len(got) * self.interval,
            "cpu_mean": {k: sum(s["cpu"][k] for s in got) / len(got) for k in keys},
            "cpu_p95": {k: stats.percentile([s["cpu"][k] for s in got], 95) for k in keys},
            "rss_bytes": summary([s["rss"] for s in got if s["rss"] is not None]),
            "browser_pss_peak_bytes": max(
                (s["browser_pss"] for s in got if s["browser_pss"] is not None), default=0
            ),
        }


# ---------------------------------------------------------------- one student


@dataclass
class Student:
    name: str
    context: object = None
    page: object = None
    responses: list[dict] = field(default_factory=list)  # {phase, step, s}
    actions: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)  # {phase, step, kind, detail}
    flakes: list[str] = field(default_factory=list)
    away: list[tuple[float, float]] = field(default_factory=list)  # epoch ms off lesson 1
    seen_problems: set = field(default_factory=set)
    ready: bool = False
    where: tuple[str, str] = ("-", "-")  # (phase, step) now: what a console error is filed under

    @property
    def container(self) -> str:
        return f"{self.name}-tick"

    def error(self, phase: str, step: str, kind: str, detail: str) -> None:
        self.errors.append(
            {"student": self.name, "phase": phase, "step": step, "kind": kind, "detail": detail}
        )

    async def check(self, phase: str, step: str) -> None:
        """Exception boxes and error messages in the page, each counted once per student."""
        try:
            found = await self.page.evaluate(PROBLEMS_JS)
        except Exception as exc:  # a page that cannot even be read is an error too
            found = [f"page unreadable: {type(exc).__name__}: {str(exc).splitlines()[0]}"]
        for problem in found:
            if problem not in self.seen_problems:
                self.seen_problems.add(problem)
                self.error(phase, step, "page", problem)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _is_probe_404(message) -> bool:
    """Streamlit's frontend, opened at /lesson1, first asks /lesson1/_stcore/health: a 404 it
    expects (tests/e2e/browser.py does the same)."""
    url = (message.location or {}).get("url", "")
    return "404" in message.text and re.search(r"/[^/]+/_stcore/(health|host-config)$", url)


async def new_student(browser, name: str) -> Student:
    s = Student(name)
    s.context = await browser.new_context(viewport=VIEWPORT)
    await s.context.add_init_script(CONNECTION_JS)
    await s.context.add_init_script(app_probe.LINES_JS)
    await s.context.add_init_script(SENDS_JS)
    s.page = await s.context.new_page()

    def console(message) -> None:
        if message.type != "error" or _is_probe_404(message):
            return
        if NETWORK_CHANGED in message.text:
            s.flakes.append(message.text[:200])
        else:
            url = (message.location or {}).get("url", "")
            s.error(
                *s.where,
                "console",
                f"{message.text[:300]} ({url[-80:]})" if url else message.text[:300],
            )

    s.page.on("pageerror", lambda exc: s.error(*s.where, "js", str(exc)[:300]))
    s.page.on("console", console)
    return s


async def shown(page, title: str, timeout_ms: int = PAGE_MS) -> None:
    # On every animation frame: the live panel redraws four times a second, and the script
    # is notRunning only between its runs.
    await page.wait_for_function(SHOWN_JS, arg=title, polling="raf", timeout=timeout_ms)


async def shows_text(page, text: str, timeout_ms: int = PAGE_MS) -> None:
    # Every 100 ms: what this waits for stays (a job's result, a command line), unlike a page's
    # notRunning between two redraws of a live panel.
    await page.wait_for_function(SHOWS_TEXT_JS, arg=text, polling=100, timeout=timeout_ms)


async def idle(page, timeout_ms: int = PAGE_MS) -> None:
    await page.wait_for_selector(app_probe.IDLE, state="attached", timeout=timeout_ms)


async def timed(s: Student, kind: str, phase: str, step: str, action) -> float:
    started = time.monotonic()
    await action()
    took = time.monotonic() - started
    getattr(s, kind).append({"phase": phase, "step": step, "s": took})
    return took


async def navigate(s: Student, target: tuple[str, str], phase: str) -> None:
    path, title = target

    async def go():
        await s.page.locator(f"[data-testid='stSidebarNavLink'][href$='/{path}']").click(
            timeout=PAGE_MS
        )
        await shown(s.page, title)

    await timed(s, "responses", phase, path, go)


async def open_welcome(s: Student, url: str) -> None:
    async def go():
        for attempt in range(3):  # a container's veth appearing aborts a load in flight
            flakes = len(s.flakes)
            try:
                await s.page.goto(f"{url}/lesson1", wait_until="domcontentloaded", timeout=PAGE_MS)
                await shown(s.page, T.TITLE_WELCOME)
                return
            except Exception:
                if attempt == 2 or len(s.flakes) == flakes:
                    raise

    await timed(s, "responses", "setup", "open", go)


async def sign_in(s: Student) -> None:
    async def go():
        await s.page.get_by_role("textbox", name=T.STUDENT_NAME, exact=True).fill(s.name)
        form = s.page.locator("[data-testid='stForm']")
        await form.get_by_role("button", name=T.START_CLASS).click(timeout=PAGE_MS)
        await shown(s.page, HOME[1])

    await timed(s, "responses", "setup", "sign in", go)


async def run_iris(s: Student) -> None:
    async def go():
        await s.page.locator(".st-key-run-iris button").click(timeout=PAGE_MS)
        await shows_text(s.page, "exited with exit code 0", RUN_MS)
        await idle(s.page)

    await timed(s, "actions", "setup", "run", go)


async def start_counter(s: Student, lines: int) -> None:
    """Section 5: a detached container of our own name printing a line a second."""
    name_box = s.page.locator(".st-key-detach-name input")
    await name_box.fill(s.container)
    await name_box.press("Enter")
    await shows_text(s.page, f"--name {s.container}")
    await idle(s.page)
    command_box = s.page.locator(".st-key-detach-cmd input")
    await command_box.fill(counter_command(lines))
    await command_box.press("Enter")
    await shows_text(s.page, f"seq 1 {lines}")
    await idle(s.page)

    async def go():
        await s.page.locator(".st-key-start-detached button").click(timeout=PAGE_MS)
        await s.page.locator(".st-key-follow-logs button").wait_for(timeout=PAGE_MS)

    await timed(s, "actions", "setup", "docker run -d", go)


async def follow(s: Student) -> None:
    async def go():
        await s.page.locator(".st-key-follow-logs button").click(timeout=PAGE_MS)
        await s.page.wait_for_function(COUNTER_SEEN_JS, polling=100, timeout=PAGE_MS)

    await timed(s, "actions", "setup", "docker logs -f", go)


async def setup(s: Student, url: str, lines: int, delay: float = 0.0) -> None:
    await asyncio.sleep(delay)
    steps = (
        ("open", lambda: open_welcome(s, url)),
        ("sign in", lambda: sign_in(s)),
        ("run", lambda: run_iris(s)),
        *((path, lambda t=(path, title): navigate(s, t, "setup")) for path, title in VISITS),
        (HOME[0], lambda: navigate(s, HOME, "setup")),
        ("docker run -d", lambda: start_counter(s, lines)),
        ("docker logs -f", lambda: follow(s)),
    )
    for step, action in steps:
        s.where = ("setup", step)
        try:
            await action()
        except asyncio.CancelledError:
            s.error("setup", step, "deadline", "the setup's deadline passed during this step")
            raise
        except Exception as exc:
            s.error("setup", step, "failed", _short(exc))
            await s.check("setup", step)
            return
        await s.check("setup", step)
    s.ready = True
    s.where = ("idle", "on lesson 1")


async def move_and_back(s: Student) -> None:
    left = time.time() * 1000
    s.where = ("idle", "move")
    try:
        await navigate(s, MOVE_TO, "idle")
        await navigate(s, HOME, "idle")
    except Exception as exc:
        s.error("idle", "move", "failed", _short(exc))
    finally:
        s.away.append((left, time.time() * 1000))
    await s.check("idle", "move")
    s.where = ("idle", "on lesson 1")


async def connection_losses(s: Student) -> list:
    try:
        states = await s.page.evaluate("window.__conn")
    except Exception as exc:
        s.error("end", "connection", "page", _short(exc))
        return []
    lost, connected = [], False
    for state, at in states:
        if state == "CONNECTED":
            connected = True
        elif connected:
            lost.append((state, at))
    return lost


# ---------------------------------------------------------------- one class


def chromium_wrapper(folder: Path, netns: str | None) -> Path:
    """A wrapper that starts Chromium at BROWSER_NICE (its renderers inherit it), in the
    browser's network namespace when there is one."""
    if not Path(app_probe.CHROMIUM).exists():
        raise RuntimeError(f"{app_probe.CHROMIUM} is missing: apt-get install chromium")
    enter = f"nsenter --net={netns} " if netns else ""
    wrapper = folder / "chromium-load"
    wrapper.write_text(f'#!/bin/sh\nexec {enter}nice -n {BROWSER_NICE} {app_probe.CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


async def drive(
    url: str, names: list[str], idle_s: float, sampler: Sampler, lines: int, chromium: Path
) -> dict:
    from playwright.async_api import async_playwright

    setup_budget = setup_seconds(len(names))
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=str(chromium), args=app_probe.CHROMIUM_ARGS
        )
        try:
            students = [await new_student(browser, name) for name in names]
            sampler.phase = "setup"
            started = time.monotonic()
            tasks = [
                asyncio.create_task(setup(s, url, lines, i * ARRIVAL_GAP))
                for i, s in enumerate(students)
            ]
            done, pending = await asyncio.wait(tasks, timeout=setup_budget)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            setup_s = time.monotonic() - started

            sampler.phase = "idle"
            idle_from = time.time() * 1000
            ready = [s for s in students if s.ready]
            end = time.monotonic() + idle_s
            moves = 0
            while time.monotonic() < end:
                began = time.monotonic()
                if ready:
                    await move_and_back(ready[moves % len(ready)])
                    moves += 1
                every = max(MOVE_EVERY, STUDENT_REST / max(1, len(ready)))
                pause = min(every - (time.monotonic() - began), end - time.monotonic())
                await asyncio.sleep(max(0.0, pause))
            idle_to = time.time() * 1000
            sampler.phase = "end"
            for s in students:
                await s.check("end", "last look")
                for state, _ in await connection_losses(s):
                    s.error("-", "-", "connection", f"websocket {state}")
            seen, sends = {}, {}
            for s in ready:
                try:
                    entries = await s.page.evaluate("Array.from(window.__lines.entries())")
                    seen[s.name] = dict(entries)
                    sends[s.name] = await s.page.evaluate("window.__sends")
                except Exception as exc:
                    s.error("end", "lines", "page", _short(exc))
        finally:
            with contextlib.suppress(Exception):
                await browser.close()
    return {
        "students": students,
        "setup_s": setup_s,
        "idle_window_ms": (idle_from, idle_to),
        "moves": moves,
        "seen": seen,
        "sends": sends,
    }


def send_rate(
    sends: list[float], window: tuple[float, float], away: list[tuple[float, float]]
) -> float | None:
    """Messages a page sent per second in the idle window, its student's moves left out."""
    start, end = window
    gone = sum(max(0.0, min(b, end) - max(a, start)) for a, b in away)
    span = (end - start - gone) / 1000
    if span <= 1:
        return None
    inside = [t for t in sends if start <= t <= end and outside(t, away, margin_ms=0)]
    return len(inside) / span


def setup_seconds(n: int) -> float:
    """The setup phase's deadline: generous, but bounded (30 students: 12 min)."""
    return 300.0 + 10.0 * n + ARRIVAL_GAP * (n - 1)


def counter_delays(client, s: Student, seen: dict[str, float], window: tuple[float, float]):
    """Printed-to-shown delays (ms) of the counter's lines printed in the idle window while the
    student was on lesson 1."""
    try:
        raw = client.api.logs(s.container, timestamps=True).decode(errors="replace")
    except docker.errors.DockerException:
        return []
    logged = []
    for line in raw.splitlines():
        parsed = app_probe.docker_log_line(line)
        if parsed and COUNTER_LINE.match(parsed[1].strip()):
            at, text = parsed[0], parsed[1].strip()
            if window[0] <= at <= window[1] - 2000 and outside(at, s.away):
                logged.append((at, text))
    # Lines printed but never shown count as shown at the window's end: a panel that stopped.
    shown_at = {text: seen.get(text, window[1]) for _, text in logged}
    return app_probe.latencies(logged, shown_at)


def one_class(ws: Workspace, n: int, idle_s: float, tag: str) -> dict:
    client = ws.client
    names = [owner.slug(f"ld-{ws.run_id}-{tag}{i + 1:02d}") for i in range(n)]
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-load-{tag}-", dir=ws.tmp))
    env = {
        "DASHBOARD_DATA_DIR": str(tmp / "data"),
        "DASHBOARD_CLASSROOM": "1",
        "DASHBOARD_SESSION": f"{ws.lab}-load-{tag}",
        "DASHBOARD_INSTRUCTOR_KEY": "",
    }
    lines = int(setup_seconds(n) + idle_s + 120)  # the counters outlive the run
    load_before = os.getloadavg()[0]
    try:
        for name in names:
            client.api.tag(IRIS, f"{name}/iris-model", "1.0")
        with (
            app_probe.serve(
                "dashboard/app.py", tmp / "app.log", env, counts=tmp / "runs.jsonl"
            ) as (
                url,
                proc,
            ),
            browser_network(int(url.rsplit(":", 1)[1])) as netns,
        ):
            rss_before = app_probe.vm_kib(proc.pid)["VmRSS"] * 1024
            sampler = Sampler(proc.pid, names)
            sampler.start()
            try:
                got = asyncio.run(
                    asyncio.wait_for(
                        drive(url, names, idle_s, sampler, lines, chromium_wrapper(tmp, netns)),
                        timeout=setup_seconds(n) + idle_s + 300,
                    )
                )
            finally:
                sampler.stop()
            peak = app_probe.vm_kib(proc.pid)["VmHWM"] * 1024
        log_text = (tmp / "app.log").read_text(errors="replace")
        students: list[Student] = got["students"]
        delays, rates = [], []
        for s in students:
            if s.ready:
                delays += counter_delays(
                    client, s, got["seen"].get(s.name, {}), got["idle_window_ms"]
                )
                rate = send_rate(got["sends"].get(s.name, []), got["idle_window_ms"], s.away)
                if rate is not None:
                    rates.append(rate)
    finally:
        for name in names:
            wanted = {"label": [f"{labels.SESSION}={owner.STUDENT_PREFIX}{name}"]}
            for c in client.api.containers(all=True, filters=wanted):
                with contextlib.suppress(docker.errors.NotFound):
                    client.api.remove_container(c["Id"], force=True)
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                client.api.remove_image(f"{name}/iris-model:1.0")
    out = figures(
        students, got, sampler, delays, rates, log_text, rss_before, peak, load_before, idle_s
    )
    w0, w1 = got["idle_window_ms"]
    out["server_runs"] = server_runs(tmp / "runs.jsonl", w0 / 1000, w1 / 1000, n)
    out["browser_network"] = "own namespace, relayed" if netns else "the host's"
    return out


def figures(
    students, got, sampler, delays, rates, log_text, rss_before, peak, load_before, idle_s
) -> dict:
    responses = [r for s in students for r in s.responses]
    errors = [e for s in students for e in s.errors]
    tracebacks = traceback_ends(log_text)
    by_step: dict[str, list[float]] = {}
    for r in responses:
        by_step.setdefault(f"{r['phase']}: {r['step']}", []).append(r["s"])
    actions: dict[str, list[float]] = {}
    for s in students:
        for a in s.actions:
            actions.setdefault(a["step"], []).append(a["s"])
    phases = {p: sampler.phase_figures(p) for p in ("setup", "idle")}
    values = [r["s"] for r in responses]
    return {
        "students": len(students),
        "ready": sum(s.ready for s in students),
        "idle_s": idle_s,
        "setup_s": got["setup_s"],
        "moves": got["moves"],
        "load_before": load_before,
        "response_s": summary(values),
        "p50_s": pct(values, 50),
        "p95_s": pct(values, 95),
        "by_phase": {
            phase: summary([r["s"] for r in responses if r["phase"] == phase])
            for phase in ("setup", "idle")
        },
        "by_step": {k: summary(v) for k, v in by_step.items()},
        "actions_s": {k: summary(v) for k, v in actions.items()},
        "live_delay_ms": summary(delays),
        "sends_per_s": summary(rates),  # per student, while idle on lesson 1
        "sends_per_s_total": sum(rates),
        "sends_expected_per_s": EXPECTED_SENDS,
        "errors": len(errors) + len(tracebacks),
        "error_kinds": _kinds(errors, len(tracebacks)),
        "error_list": errors[:25],
        "server_tracebacks": len(tracebacks),
        "server_traceback_ends": tracebacks[:10],
        "network_flakes": sum(len(s.flakes) for s in students),
        "rss_before_bytes": rss_before,
        "peak_rss_bytes": peak,
        "phases": phases,
        "saturation": {
            p: saturation(f["cpu_mean"], os.cpu_count() or 1) for p, f in phases.items() if f
        },
    }


def server_runs(counts: Path, t0: float, t1: float, students: int) -> dict:
    """What the server's own counter (bench/counted_server.py) saw in the idle window [t0, t1]
    (epoch seconds): script runs per student per minute (every finished run, fragment runs
    included, over the sessions that ran), and the server-side time of the full page runs (the
    moves between pages: the only full runs while idle)."""
    sessions = counted_server.runs_in(counted_server.read(counts), t0, t1)
    per_min = [s["runs_per_min"] for s in sessions.values()]
    full_ms = [ms for s in sessions.values() for ms in s["full_ms"]]
    minutes = max(1e-9, (t1 - t0) / 60)
    return {
        "window_s": t1 - t0,
        "sessions": len(sessions),
        "runs": sum(s["runs"] for s in sessions.values()),
        "runs_per_student_min": summary(per_min),
        "runs_per_min_per_student_all": sum(s["runs"] for s in sessions.values())
        / minutes
        / max(1, students),
        "fragments": sum(s["fragments"] for s in sessions.values()),
        "full_runs": len(full_ms),
        "full_run_ms": summary(full_ms),
    }


def traceback_ends(log_text: str) -> list[str]:
    """The last line (the exception) of every Python traceback in a server log."""
    ends, inside = [], False
    for line in log_text.splitlines():
        if line.startswith("Traceback (most recent call last)"):
            inside = True
        elif inside and line and not line[0].isspace():
            ends.append(line.strip()[:300])
            inside = False
    return ends


def post_script_gc(config_text: str, environ: Mapping[str, str]) -> bool:
    """Whether the server forces a full garbage collection after every script run (Streamlit's
    runner.postScriptGC, on by default): its environment variable, else the config file."""
    value = environ.get("STREAMLIT_RUNNER_POST_SCRIPT_GC")
    if value is not None:
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(tomllib.loads(config_text).get("runner", {}).get("postScriptGC", True))


def _kinds(errors: list[dict], tracebacks: int) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for e in errors:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    if tracebacks:
        kinds["server traceback"] = tracebacks
    return kinds


def run(
    ws: Workspace,
    *,
    students: int,
    idle_s: float,
    class_sizes: tuple[int, ...] = (),
    scenarios: tuple[str, ...] = ("idle", "lecture"),
    log=print,
) -> dict:
    """Chromium with 1 and `students` (the browser-side check), the same scenario played by
    Locust students beside it (bench/locust_load.py), then Locust classes of `class_sizes`
    in each scenario."""
    if students < 2:
        raise ValueError(f"the load section compares N students with one: N={students}")
    try:
        ws.client.images.get(IRIS)
    except docker.errors.ImageNotFound:
        raise RuntimeError(f"{IRIS} is missing: run `python -m dashboard prepare`") from None
    from bench import locust_load

    config = REPO_ROOT / ".streamlit" / "config.toml"
    forced_gc = post_script_gc(config.read_text() if config.exists() else "", os.environ)
    reports = Path(tempfile.mkdtemp(prefix="bench-locust-", dir=ws.tmp))
    version, info = ws.client.version(), ws.client.info()
    store = dict(info.get("DriverStatus") or []).get("driver-type", "")
    engine = f"{version.get('Version')}, storage {info.get('Driver')}" + (
        ", containerd image store" if "containerd" in store else ""
    )
    load_start = os.getloadavg()[0]
    one = one_class(ws, 1, idle_s, "a")
    many = one_class(ws, students, idle_s, "b")
    compared = locust_load.compare(ws, one, many, idle_s, reports, log=log)
    classes = locust_load.run_classes(
        ws, sizes=list(class_sizes), scenarios=list(scenarios), idle_s=idle_s, out=reports, log=log
    )
    kept = REPO_ROOT / "bench" / "out" / "locust"
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(reports, kept, ignore=shutil.ignore_patterns("data"))
    return {
        "students": students,
        "idle_s": idle_s,
        "engine": engine,
        "load_avg": [load_start, os.getloadavg()[0]],
        "shared": os.environ.get("BENCH_SHARED_NOTE", ""),
        "cpus": os.cpu_count(),
        "post_script_gc": forced_gc,
        "pages": [HOME[0], *(p for p, _ in VISITS), MOVE_TO[0]],
        "one": one,
        "many": many,
        "errors": one["errors"] + many["errors"],
        "ratio_p50": ratio(many["p50_s"], one["p50_s"]),
        "ratio_p95": ratio(many["p95_s"], one["p95_s"]),
        "ratio_live_p95": ratio(
            (many["live_delay_ms"] or {}).get("p95"), (one["live_delay_ms"] or {}).get("p95")
        ),
        "locust": {
            "compare": compared,
            "classes": classes,
            "class_rate": locust_load.CLASS_RATE,
            "p95_bound_s": locust_load.P95_BOUND,
            "largest_under_bound": {s: locust_load.largest_under(classes, s) for s in scenarios},
            "reports": str(kept.relative_to(REPO_ROOT)),
        },
    }
