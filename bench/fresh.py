"""`prepare` on a fresh machine, composed from its measured parts, without touching the base image.

A fresh machine's `python -m dashboard prepare` builds the stand-in base image (debootstrap +
`docker import`), downloads the wheelhouse, then builds every lab with nothing cached. Deleting
the shared python:3.11-slim to time that is not an option, so each part is timed on its own:

- the stand-in, built by offline.build_standin exactly, but imported as `bench-standin:<run id>`
  and with its work files in a temporary data folder (a child process: `python -m bench.fresh
  standin TAG`); removed at the end;
- the wheelhouse, downloaded by offline.ensure_wheelhouse into a temporary data folder with
  pip's cache off (`python -m bench.fresh wheelhouse`);
- every lab's Dockerfile built cold (--no-cache) through the engine in a temporary copy
  (the wine pair too, which prepare builds through Compose).

The sum estimates the fresh-machine figure; the parts are reported as measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.overhead import BenchFailure, engine_build
from bench.workspace import Workspace
from dashboard.engine.base.paths import REPO_ROOT
from dashboard.engine.offline import offline

# (lab folder, Dockerfile path inside it): what `prepare` builds.
LAB_BUILDS = (
    ("iris", "Dockerfile"),
    ("cache-order", "Dockerfile.code-first"),
    ("cache-order", "Dockerfile.deps-first"),
    ("iris-multistage", "Dockerfile"),
    ("iris-onnx", "Dockerfile"),
    ("wine", "train/Dockerfile"),
    ("wine", "predict/Dockerfile"),
)


def _child(args: list[str], data_dir: Path) -> dict:
    env = dict(os.environ, DASHBOARD_DATA_DIR=str(data_dir), PIP_NO_CACHE_DIR="1")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.fresh", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=900,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchFailure(f"bench.fresh {args[0]} failed: {(done.stdout + done.stderr)[-800:]}")
    return {"seconds": elapsed, **json.loads(done.stdout.strip().splitlines()[-1])}


def run(ws: Workspace) -> dict:
    data = Path(tempfile.mkdtemp(prefix="data-", dir=ws.tmp))
    tag = ws.tag("standin", "fresh")
    ws.own_tag(tag)
    standin = _child(["standin", tag], data)
    wheelhouse = _child(["wheelhouse"], data)
    builds = []
    copies: dict[str, Path] = {}
    for i, (folder, dockerfile) in enumerate(LAB_BUILDS):
        if folder not in copies:
            copies[folder] = ws.copy_lab(folder, f"fresh-{folder}")
        context = copies[folder] / Path(dockerfile).parent
        name = f"{folder}/{dockerfile}"
        seconds, result = engine_build(
            ws,
            context,
            ws.tag("fresh", str(i)),
            dockerfile=Path(dockerfile).name,
            nocache=True,
        )
        builds.append({"build": name, "seconds": seconds, "size_bytes": result.size_bytes})
    total = standin["seconds"] + wheelhouse["seconds"] + sum(b["seconds"] for b in builds)
    return {
        "standin": standin,
        "wheelhouse": wheelhouse,
        "cold_builds": builds,
        "estimate_s": total,
    }


def _standin(tag: str) -> dict:
    """offline.build_standin, imported under `tag` instead of the shared base image's name."""
    offline.BASE_IMAGE = tag  # read by build_standin when it imports; this process only
    from dashboard.engine.base.connection import connect

    client = connect()
    offline.build_standin(client)
    image = client.images.get(tag)
    return {"image": tag, "size_bytes": image.attrs.get("Size", 0)}


def _wheelhouse() -> dict:
    folder = offline.ensure_wheelhouse()
    wheels = list(folder.glob("*.whl"))
    return {"wheels": len(wheels), "bytes": sum(w.stat().st_size for w in wheels)}


if __name__ == "__main__":
    if os.environ.get("DASHBOARD_DATA_DIR") is None:
        sys.exit("run by bench.fresh.run only: DASHBOARD_DATA_DIR must point to a scratch folder")
    what = sys.argv[1]
    print(json.dumps(_standin(sys.argv[2]) if what == "standin" else _wheelhouse()))
