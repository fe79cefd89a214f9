"""child_process.stop on real child processes: the first signal, SIGKILL after the grace, and a
process group that takes the grandchildren with it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from dashboard.engine.base import child_process

IGNORES_SIGINT = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def _python(code: str, **kw) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, **kw)
    assert proc.stdout.readline().strip() == "ready"
    return proc


STOPS_ON_SIGINT = (  # Python's own Ctrl-C handler, set: a child started from a process that
    # ignores SIGINT (a background job of a shell) inherits the ignoring, and Python keeps it
    "import signal, time\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_a_child_that_stops_on_the_first_signal_is_not_killed():
    proc = _python(STOPS_ON_SIGINT)
    child_process.stop(proc, grace=10, first=signal.SIGINT)
    assert proc.returncode != -signal.SIGKILL  # KeyboardInterrupt ended it, within the grace


def test_a_child_that_ignores_the_first_signal_is_killed_after_the_grace():
    proc = _python(IGNORES_SIGINT)
    started = time.monotonic()
    child_process.stop(proc, grace=0.5, first=signal.SIGINT)
    assert proc.returncode == -signal.SIGKILL
    assert time.monotonic() - started >= 0.5


def test_the_group_takes_the_grandchild_along():
    parent = (  # both ignore Ctrl-C: only the group's SIGKILL after the grace ends them
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        f"child = subprocess.Popen([sys.executable, '-c', {IGNORES_SIGINT!r}],"
        " stdout=subprocess.PIPE, text=True)\n"
        "child.stdout.readline()\n"
        "print(child.pid, flush=True)\n"
        "print('ready', flush=True)\n"
        "child.wait()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    grandchild = int(proc.stdout.readline())
    assert proc.stdout.readline().strip() == "ready"
    child_process.stop(proc, grace=0.5, first=signal.SIGINT, group=True)
    for _ in range(50):
        if not _alive(grandchild):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the grandchild outlived its group's SIGKILL")


def _alive(pid: int) -> bool:
    """Running: a killed orphan may stay a zombie until whoever adopted it reaps it."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_stopping_a_child_that_already_exited_does_nothing():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    child_process.stop(proc, grace=0.1, group=True)
    assert proc.returncode == 0
