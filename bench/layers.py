"""Layer analysis at scale: time and peak memory of file lists, wasted space and efficiency.

Measured on a lab image (iris-model:1.0) and on a generated image of over 2 GB with thousands
of files (`bench-big:1`, from the base image): one layer writes FILES random files of FILE_KB
each, a later one overwrites OVERWRITE of them and deletes DELETE others, so the analysis has
modified and removed files to find. Each analysis runs in its own process (bench.layer_probe),
both ways: through `docker save` and by the dashboard's choice (analysis.image_files "auto": the
daemon's overlay2 layer store or containerd's content store, read in place, where it applies).
Then every path on every engine here against its floor and dive (bench.layer_paths).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import docker

from bench import stats
from bench.overhead import BenchFailure
from bench.workspace import BIG_IMAGE, BIG_LAB, Workspace
from dashboard.engine.base import labels
from dashboard.engine.base.paths import REPO_ROOT
from dashboard.engine.offline.offline import BASE_IMAGE
from dashboard.engine.ops import builds


@dataclass(frozen=True)
class BigSpec:
    files: int = 4000
    file_kb: int = 512
    overwrite: int = 400
    delete: int = 400

    @property
    def written_bytes(self) -> int:
        return (self.files + self.overwrite) * self.file_kb * 1024


QUICK_BIG = BigSpec(files=400, overwrite=40, delete=40)


def big_dockerfile(spec: BigSpec) -> str:
    size = spec.file_kb * 1024
    loop = "i={a}; while [ $i -lt {b} ]; do {cmd}; i=$((i+1)); done"
    write = f"head -c {size} /dev/urandom > /data/$((i/500))/f$i"
    return "\n".join(
        [
            f"FROM {BASE_IMAGE}",
            # 500 files a directory, as a dataset would be laid out.
            f"RUN mkdir -p $(i=0; while [ $i -lt {spec.files // 500 + 1} ]; do "
            f"echo /data/$i; i=$((i+1)); done) && " + loop.format(a=0, b=spec.files, cmd=write),
            "RUN "
            + loop.format(a=0, b=spec.overwrite, cmd=write)
            + " && "
            + loop.format(a=spec.files - spec.delete, b=spec.files, cmd="rm /data/$((i/500))/f$i"),
            "",
        ]
    )


def ensure_big_image(ws: Workspace, spec: BigSpec, ref: str = BIG_IMAGE) -> dict:
    """Build the generated image, or reuse one a kept earlier run left with the same recipe."""
    recipe = big_dockerfile(spec)
    try:
        image = ws.client.images.get(ref)
        if (image.labels or {}).get(labels.LAB) == BIG_LAB and built_from(image, recipe):
            return {
                "image": ref,
                "reused": True,
                "build_s": None,
                "size_bytes": image.attrs["Size"],
            }
        if (image.labels or {}).get(labels.LAB) != BIG_LAB:
            raise BenchFailure(f"{ref} exists and is not this benchmark's: not touching it")
    except docker.errors.ImageNotFound:
        pass
    folder = ws.tmp / "big"
    folder.mkdir()
    (folder / "Dockerfile").write_text(recipe)
    started = time.perf_counter()
    result = builds.build(ws.client, folder, tag=ref, lab_name=BIG_LAB, nocache=True)
    ws.built(folder, "Dockerfile")
    if not result.ok:
        raise BenchFailure(f"building {ref} failed: {result.error}")
    ws.big_created = True
    return {
        "image": ref,
        "reused": False,
        "build_s": time.perf_counter() - started,
        "size_bytes": result.size_bytes,
    }


def built_from(image, recipe: str) -> bool:
    """Whether the image's history holds every RUN of `recipe` (a kept image is reusable)."""
    runs = [line.removeprefix("RUN ") for line in recipe.splitlines() if line.startswith("RUN ")]
    history = {h.get("CreatedBy", "").removeprefix("/bin/sh -c ") for h in image.history()}
    return all(run in history for run in runs)


def probe(ref: str, method: str = "save", env: dict | None = None) -> dict:
    """One analysis in a process of its own (bench.layer_probe), on the daemon `env` names."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.layer_probe", ref, method],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=900,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchFailure(f"layer analysis of {ref} ({method}) failed: {done.stderr[-800:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_s"] = wall
    return figures


def cli_save(ref: str, folder: Path) -> float:
    """`docker save -o FILE ref`, timed: the floor any analysis that reads a save stands on."""
    target = folder / "cli-save.tar"
    started = time.perf_counter()
    done = subprocess.run(
        ["docker", "save", "-o", str(target), ref], capture_output=True, text=True, timeout=600
    )
    elapsed = time.perf_counter() - started
    target.unlink(missing_ok=True)
    if done.returncode != 0:
        raise BenchFailure(f"docker save {ref} failed: {done.stderr[-500:]}")
    return elapsed


FAST_KEYS = ("process_s", "read_s", "efficiency_s", "analysis_s", "peak_rss_bytes")


def measure(ws: Workspace, ref: str, repeats: int) -> dict:
    """The analysis through `docker save`, the same by the dashboard's choice (a fast path
    where one applies) and a plain `docker save` of the image, in rotating order."""
    runs, fast, saves = [], [], []
    sides = ["save", "fast", "cli"]
    for i in range(repeats):
        for side in sides[i % 3 :] + sides[: i % 3]:
            if side == "save":
                runs.append(probe(ref, "save"))
            elif side == "fast":
                fast.append(probe(ref, "auto"))
            else:
                saves.append(cli_save(ref, ws.tmp))
    last = runs[-1]
    keys = ("process_s", "save_s", "read_s", "efficiency_s", "analysis_s")
    keys += ("analysis_without_save_s", "peak_rss_bytes")
    over_save = stats.paired([r["analysis_s"] for r in runs], saves)
    save_over_fast = stats.paired([r["analysis_s"] for r in runs], [r["analysis_s"] for r in fast])
    same = all(
        (f["entries"], f["score"], f["wasted_bytes"], f["removed_files"])
        == (last["entries"], last["score"], last["wasted_bytes"], last["removed_files"])
        for f in fast
    )
    return {
        "image": ref,
        "runs": repeats,
        **{k: asdict(stats.summarize([r[k] for r in runs])) for k in keys},
        "cli_save_s": asdict(over_save.b),
        "analysis_over_cli_save": asdict(over_save.ratio),
        "fast": {
            "sources": sorted({f["source"] for f in fast}),
            "fallback_reasons": sorted(
                {f["fallback_reason"] for f in fast if f["fallback_reason"]}
            ),
            **{k: asdict(stats.summarize([f[k] for f in fast])) for k in FAST_KEYS},
            "save_over_fast": asdict(save_over_fast.ratio),
            "same_results": same,
        },
        **{
            k: last[k]
            for k in ("archive_bytes", "layers", "entries", "score", "wasted_bytes")
            + ("removed_files", "inefficient_paths")
        },
    }


def run(ws: Workspace, *, repeats: int, big_repeats: int, spec: BigSpec, log=print) -> dict:
    lab = measure(ws, "iris-model:1.0", repeats)
    big = ensure_big_image(ws, spec)
    big_figures = measure(ws, big["image"], big_repeats)
    from bench import layer_paths  # it measures with probe() from here

    paths = layer_paths.run(repeats, log=log)
    return {"lab_image": lab, "big": {**big, "spec": asdict(spec), **big_figures}, "paths": paths}
