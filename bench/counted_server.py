"""`python -m bench.counted_server COUNTS SCRIPT [streamlit run options]`: `streamlit run SCRIPT`
with a server-side counter of script runs per session, for the load section's proof that Locust
students and Chromium pages cost the server the same.

No product code changes: this process patches Streamlit's `ScriptRunner.__init__` (1.67) so
every script runner, as it is made, gets one more receiver on its `on_event` signal, the signal
the server's own AppSession listens to. Per session (ScriptRunner's session id) it counts the
runs that finished (SCRIPT_STOPPED_WITH_SUCCESS, FRAGMENT_STOPPED_WITH_SUCCESS,
SCRIPT_STOPPED_FOR_RERUN, SCRIPT_STOPPED_WITH_COMPILE_ERROR: each a `script_finished` a browser
gets) and keeps the server-side time of each full (non-fragment) run, from SCRIPT_STARTED to its
finish. Every `INTERVAL` s a thread appends one JSON line to COUNTS: `{"t": epoch seconds,
"sessions": {id: {"runs": n, "fragments": n, "full": n, "early": n, "full_ms": [...]}}}`
(cumulative). `runs_in(snapshots, t0, t1)` reads them back for a time window.

The cost, the same whichever client the students use: a dict update under a lock per run and
one small file write a second.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

INTERVAL = 1.0
FULL_MS_KEPT = 500  # full-run times kept per session (the newest)

_lock = threading.Lock()
_sessions: dict[str, dict] = {}
_started: dict[int, float] = {}  # id(runner) -> when its current full run started


def _entry(session: str) -> dict:
    e = _sessions.get(session)
    if e is None:
        e = _sessions[session] = {"runs": 0, "fragments": 0, "full": 0, "early": 0, "full_ms": []}
    return e


def on_event(sender, event=None, **payload) -> None:
    """A receiver on one ScriptRunner's on_event signal (called on the script thread)."""
    name = getattr(event, "name", str(event))
    session = getattr(sender, "_session_id", "?")
    now = time.monotonic()
    with _lock:
        if name == "SCRIPT_STARTED":
            if not payload.get("fragment_ids_this_run"):
                _started[id(sender)] = now
            else:
                _started.pop(id(sender), None)
            return
        if not name.startswith(("SCRIPT_STOPPED", "FRAGMENT_STOPPED")):
            return
        e = _entry(session)
        e["runs"] += 1
        began = _started.pop(id(sender), None)
        if name == "FRAGMENT_STOPPED_WITH_SUCCESS":
            e["fragments"] += 1
        elif name == "SCRIPT_STOPPED_FOR_RERUN":
            e["early"] += 1
        elif began is not None:
            e["full"] += 1
            e["full_ms"] = (e["full_ms"] + [round((now - began) * 1000, 1)])[-FULL_MS_KEPT:]


def snapshot() -> dict:
    with _lock:
        return {
            "t": time.time(),
            "sessions": {k: {**v, "full_ms": list(v["full_ms"])} for k, v in _sessions.items()},
        }


def install() -> None:
    """Patch ScriptRunner so each new runner reports to `on_event`."""
    from streamlit.runtime.scriptrunner import script_runner

    original = script_runner.ScriptRunner.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.on_event.connect(on_event, weak=False)

    script_runner.ScriptRunner.__init__ = __init__


def writer(path: Path, stop: threading.Event) -> None:
    with path.open("a") as out:
        while not stop.wait(INTERVAL):
            out.write(json.dumps(snapshot()) + "\n")
            out.flush()


def read(path: Path) -> list[dict]:
    """The snapshots written to `path` (a half-written last line is skipped)."""
    found = []
    try:
        text = path.read_text()
    except OSError:
        return found
    for line in text.splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def _at(snapshots: list[dict], t: float) -> dict:
    """The sessions as of the last snapshot taken at or before `t` (none: empty)."""
    best: dict = {}
    for snap in snapshots:
        if snap["t"] <= t:
            best = snap["sessions"]
        else:
            break
    return best


def runs_in(snapshots: list[dict], t0: float, t1: float) -> dict[str, dict]:
    """Per session that ran in [t0, t1]: its finished runs, fragment runs, full runs and their
    server-side times (ms) in that window, and runs per minute."""
    before, after = _at(snapshots, t0), _at(snapshots, t1)
    minutes = max(1e-9, (t1 - t0) / 60)
    out = {}
    for session, end in after.items():
        start = before.get(session, {"runs": 0, "fragments": 0, "full": 0, "full_ms": []})
        runs = end["runs"] - start["runs"]
        if runs <= 0:
            continue
        full = end["full"] - start["full"]
        out[session] = {
            "runs": runs,
            "fragments": end["fragments"] - start["fragments"],
            "full": full,
            "full_ms": end["full_ms"][len(end["full_ms"]) - full :] if full > 0 else [],
            "runs_per_min": runs / minutes,
        }
    return out


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit("usage: python -m bench.counted_server COUNTS SCRIPT [streamlit run options]")
    counts, rest = Path(argv[0]), argv[1:]
    install()
    stop = threading.Event()
    threading.Thread(target=writer, args=(counts, stop), daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", *rest]
    try:
        cli.main()
    finally:
        stop.set()


if __name__ == "__main__":
    main(sys.argv[1:])
