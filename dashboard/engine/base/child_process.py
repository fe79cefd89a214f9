"""Stopping the command-line tools the engine runs as children (`docker buildx build`,
`docker compose`, `make`): a first signal, then SIGKILL when the child has not exited after a
grace, to the child alone or to the process group it leads."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def send(proc: subprocess.Popen, sig: int, *, group: bool = False) -> None:
    """`sig` to the child, or to its whole process group (a child started with
    start_new_session=True leads one); a child already gone is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)


def stop(
    proc: subprocess.Popen, *, grace: float, first: int = signal.SIGTERM, group: bool = False
) -> None:
    """`first` (SIGINT is a terminal's Ctrl-C), SIGKILL after `grace` seconds, and reap it.
    Nothing to do when the child has already exited."""
    if proc.poll() is not None:
        return
    send(proc, first, group=group)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        send(proc, signal.SIGKILL, group=group)
        proc.wait()
