"""Overhead: the same lab built through the engine and through the `docker build` CLI.

Both use the builder the engine chose (builds.choose_builder): BuildKit where buildx answers
(the engine runs `docker buildx build --progress=rawjson`, the CLI side `docker buildx build
--progress=plain`), else the classic builder (the engine through the API, the CLI with
DOCKER_BUILDKIT=0 and --force-rm); the same network mode and labels, so they do the same work.
Runs alternate in pairs (engine first, then CLI first, ...), cold (`--no-cache`) and warm (all
cached). The engine is timed around `builds.build(...)` in this process (as the dashboard calls
it), the CLI around the whole `docker build` process; then again with the engine as a whole
process too: the dashboard's own CLI verb, `python -m dashboard --json build` (through
`python -m bench.build_once`, which points it at the copy and tag: Python start-up, imports and
the history row included). Each run is checked to have been really cold or really warm.

`startup` times what a command pays before its first Docker call: `python -c pass`, the docker
SDK's import alone, and each CLI verb against no daemon (`python -X importtime` for the imports),
with the warm build's own imports next to them.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from bench import stats
from bench.workspace import Workspace, run_cli
from dashboard import settings
from dashboard.engine.base.paths import REPO_ROOT
from dashboard.engine.ops import builds

# The verbs of `python -m dashboard`, as the start-up table runs them (against no daemon).
VERBS = (
    ("--help",),
    ("doctor",),
    ("prepare", "--no-build"),
    ("build", "iris"),
    ("run", "iris"),
    ("layers", "iris-model:1.0"),
    ("reset",),
    ("registry", "push", "iris"),
)


class BenchFailure(RuntimeError):
    pass


def engine_build(ws: Workspace, folder: Path, tag: str, *, dockerfile="Dockerfile", nocache=False):
    """One engine build, timed from outside; returns (seconds, BuildResult)."""
    started = time.perf_counter()
    result = builds.build(
        ws.client, folder, dockerfile=dockerfile, tag=tag, lab_name=ws.lab, nocache=nocache
    )
    elapsed = time.perf_counter() - started
    ws.built(folder, dockerfile)
    if nocache:  # a cached earlier stage may be someone else's image: only cold builds' are ours
        ws.note_stages(result.steps)
    if not result.ok:
        raise BenchFailure(f"engine build of {folder.name} failed: {result.error}")
    return elapsed, result


def cli_build(ws: Workspace, folder: Path, tag: str, *, dockerfile="Dockerfile", nocache=False):
    """One `docker build` CLI run, timed around the process; returns (seconds, output)."""
    args = ws.cli_build_args(folder, tag, dockerfile=dockerfile, nocache=nocache)
    started = time.perf_counter()
    done = run_cli(args)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchFailure(f"`{' '.join(args)}` failed: {done.stderr[-500:]}")
    return elapsed, done.stdout


def command_args(ws: Workspace, folder: Path, tag: str, *, nocache=False) -> list[str]:
    """`python -m dashboard --json build` for the copy `folder` as `tag` (bench/build_once.py)."""
    return [
        sys.executable,
        "-m",
        "bench.build_once",
        str(folder),
        tag,
        ws.lab,
        *(["--no-cache"] if nocache else []),
    ]


def command_env(ws: Workspace, **more: str) -> dict[str, str]:
    """The commands' environment: the history rows they write go to this run's folder, and
    bytecode is cached (in this run's folder) as an installed package's is: with
    PYTHONDONTWRITEBYTECODE set, every command would compile the dashboard's source again while
    the docker SDK, installed by pip, loads its compiled files."""
    env = {**os.environ, settings.HISTORY_DB: str(ws.tmp / "history.sqlite3"), **more}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(ws.tmp / "pycache")
    return env


def engine_command_build(ws: Workspace, folder: Path, tag: str, *, nocache=False):
    """One build by the CLI verb as a whole process (bench.build_once); returns (seconds, counts:
    the steps that could hit the cache, those that did, and the cached WORKDIRs among them)."""
    args = command_args(ws, folder, tag, nocache=nocache)
    started = time.perf_counter()
    done = subprocess.run(
        args, capture_output=True, text=True, cwd=REPO_ROOT, env=command_env(ws), timeout=900
    )
    elapsed = time.perf_counter() - started
    ws.built(folder, "Dockerfile")
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    result = next((r for r in reversed(records) if r["type"] == "result"), {})
    if done.returncode != 0 or not result.get("ok"):
        raise BenchFailure(f"`{' '.join(args)}` failed: {(done.stdout + done.stderr)[-500:]}")
    steps = [r for r in records if r["type"] == "step" and r["status"] != "base"]
    cached = [r for r in steps if r["status"] == "cached"]
    # BuildKit reports a WORKDIR it has seen as cached even under --no-cache
    workdirs = sum(
        1
        for r in cached
        if result["builder"] == "buildkit" and r["instruction"].split()[0].upper() == "WORKDIR"
    )
    return elapsed, (len(steps), len(cached), workdirs)


def _check(
    kind: str, nocache: bool, cacheable: int, cached: int, problems: list[str], workdirs: int = 0
) -> None:
    """`workdirs`: cached WORKDIR steps, which BuildKit reports even under --no-cache."""
    if nocache and cached > workdirs:
        problems.append(f"{kind}: a --no-cache run had {cached} cached steps")
    if not nocache and cached != cacheable:
        problems.append(f"{kind}: a warm run had {cached}/{cacheable} cached steps")


IMPORT_DOCKER = (sys.executable, "-c", "import docker")  # the floor of any Python client


def import_docker(env: dict[str, str]) -> float:
    """`python -c 'import docker'` as a process of its own; returns its wall seconds."""
    started = time.perf_counter()
    done = subprocess.run(IMPORT_DOCKER, capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchFailure(f"`{' '.join(IMPORT_DOCKER)}` failed: {done.stderr[-500:]}")
    return elapsed


def measure_pairs(
    ws: Workspace,
    folder: Path,
    *,
    nocache: bool,
    pairs: int,
    warmup: int,
    whole: bool = False,
    with_import: bool = False,
) -> dict:
    """Engine and CLI builds in alternating pairs; `whole`: the engine as a command of its own;
    `with_import`: the CLI side is `python -c 'import docker'` then `docker build`, back to
    back, timed together (the floor of a Python command that builds)."""
    engine_tag, cli_tag = ws.tag("iris", "engine"), ws.tag("iris", "cli")
    engine_times: list[float] = []
    cli_times: list[float] = []
    cpu: dict[str, list[float]] = {"a": [], "b": []}
    problems: list[str] = []
    import_times: list[float] = []
    for i, order in enumerate(stats.alternating(warmup + pairs)):
        counted = i >= warmup
        for side in order:
            # The client's own CPU: this process for the in-process engine, else the child.
            who = resource.RUSAGE_SELF if side == "a" and not whole else resource.RUSAGE_CHILDREN
            before = _cpu(who)
            if side == "a" and whole:
                seconds, counts = engine_command_build(ws, folder, engine_tag, nocache=nocache)
                cacheable, cached, workdirs = counts
                _check("engine", nocache, cacheable, cached, problems, workdirs)
            elif side == "a":
                seconds, result = engine_build(ws, folder, engine_tag, nocache=nocache)
                cacheable = sum(1 for s in result.steps if s.status != "base")
                cached = sum(1 for s in result.steps if s.status == "cached")
                _check("engine", nocache, cacheable, cached, problems, _cached_workdirs(result))
            else:
                imported = import_docker(command_env(ws)) if with_import else 0.0
                seconds, output = cli_build(ws, folder, cli_tag, nocache=nocache)
                seconds += imported
                if counted and with_import:
                    import_times.append(imported)
                workdirs = stats.cli_cached_workdirs(output)
                _check("cli", nocache, *stats.cli_cache_counts(output), problems, workdirs)
            if counted:
                (engine_times if side == "a" else cli_times).append(seconds)
                cpu[side].append(_cpu(who) - before)
    pair = stats.paired(engine_times, cli_times)
    return {
        "nocache": nocache,
        "pairs": pairs,
        "warmup_pairs": warmup,
        "engine": asdict(pair.a),
        "cli": asdict(pair.b),
        "ratio": asdict(pair.ratio),
        "ratio_of_medians": pair.ratio_of_medians,
        "engine_client_cpu_s": asdict(stats.summarize(cpu["a"])),
        "cli_client_cpu_s": asdict(stats.summarize(cpu["b"])),
        "import_docker_s": asdict(stats.summarize(import_times)) if import_times else None,
        "problems": problems,
    }


def _cached_workdirs(result) -> int:
    if result.builder != "buildkit":
        return 0
    return sum(1 for s in result.steps if s.status == "cached" and s.keyword == "WORKDIR")


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _command_run(args: list[str], env: dict[str, str]):
    """One command: (wall seconds, its CPU seconds, the finished process)."""
    before = _cpu(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=300)
    return time.perf_counter() - started, _cpu(resource.RUSAGE_CHILDREN) - before, done


def startup_row(name: str, args: list[str], env: dict[str, str], repeats: int) -> dict:
    """`args` (a Python command) `repeats` times as it is, and as many under `-X importtime`."""
    wall, cpu, imports, sdk = [], [], [], []
    for _ in range(repeats):
        seconds, used, done = _command_run(args, env)
        wall.append(seconds)
        cpu.append(used)
        _, _, timed = _command_run([args[0], "-X", "importtime", *args[1:]], env)
        total, docker = stats.import_times(timed.stderr)
        imports.append(total)
        sdk.append(docker)
    return {
        "command": name,
        "exit_status": done.returncode,
        "output": done.stdout + done.stderr,
        "wall_s": asdict(stats.summarize(wall)),
        "cpu_s": asdict(stats.summarize(cpu)),
        "imports_s": asdict(stats.summarize(imports)),
        "docker_sdk_s": asdict(stats.summarize(sdk)),
    }


def startup(ws: Workspace, folder: Path, *, repeats: int) -> dict:
    """What a command pays before its first Docker call: Python's start-up, the docker SDK's
    import, each verb of `python -m dashboard` against no daemon (DOCKER_HOST a socket that is
    not there: a verb ends at its first Docker call, doctor after its other checks), and the
    warm build of `folder` on the daemon through the CLI verb (all that the verb imports)."""
    python = sys.executable
    no_daemon = command_env(ws, DOCKER_HOST=f"unix://{ws.tmp}/no-docker.sock")
    rows = [
        startup_row("python -c pass", [python, "-c", "pass"], no_daemon, repeats),
        startup_row(
            "python -c 'import docker'", [python, "-c", "import docker"], no_daemon, repeats
        ),
    ]
    problems = []
    for verb in VERBS:
        row = startup_row(
            f"python -m dashboard {' '.join(verb)}",
            [python, "-m", "dashboard", *verb],
            no_daemon,
            repeats,
        )
        row["verb"] = verb[0]
        rows.append(row)
        said = row.pop("output")
        if verb != ("--help",) and "No Docker daemon socket" not in said:
            # it stopped before its first Docker call, or needs no daemon: another measure
            problems.append(f"{row['command']} did not stop at the daemon: {said[-120:]}")
    warm = startup_row(
        "python -m dashboard --json build (warm, on the daemon)",
        command_args(ws, folder, ws.tag("iris", "engine")),
        command_env(ws),
        repeats,
    )
    ws.built(folder, "Dockerfile")
    warm["verb"] = "build"
    warm["on_daemon"] = True
    said = warm.pop("output")
    if warm["exit_status"] != 0:
        problems.append(f"the warm build failed: {said[-200:]}")
    rows.append(warm)
    return {"repeats": repeats, "rows": rows, "problems": problems}


def run(
    ws: Workspace,
    *,
    cold_pairs: int,
    warm_pairs: int,
    warmup: int,
    command_cold_pairs: int,
    startup_repeats: int,
) -> dict:
    folder = ws.copy_lab("iris", "iris-overhead")
    cli_example = " ".join(ws.cli_build_args(folder, ws.tag("iris", "cli"), nocache=True))
    cold = measure_pairs(ws, folder, nocache=True, pairs=cold_pairs, warmup=warmup)
    # The cold runs left both tags on fully built images: the warm runs are all cache hits.
    warm = measure_pairs(ws, folder, nocache=False, pairs=warm_pairs, warmup=max(warmup, 1))
    # The same, with the engine started as a command (Python start-up and imports included).
    whole_cold = measure_pairs(
        ws, folder, nocache=True, pairs=command_cold_pairs, warmup=0, whole=True
    )
    whole_warm = measure_pairs(
        ws, folder, nocache=False, pairs=warm_pairs, warmup=max(warmup, 1), whole=True
    )
    # The same command against `docker build` plus `python -c 'import docker'`.
    whole_warm_floor = measure_pairs(
        ws,
        folder,
        nocache=False,
        pairs=warm_pairs,
        warmup=max(warmup, 1),
        whole=True,
        with_import=True,
    )
    return {
        "lab": "iris",
        "engine_call": "builds.build(client, copy_of_labs/iris, tag=..., lab_name=..., "
        "nocache=...) in this process",
        "engine_command": "python -m bench.build_once FOLDER TAG LAB [--no-cache], which is "
        "python -m dashboard --json build LAB [--no-cache] on a lab entry for FOLDER and TAG",
        "builder": ws.builder.kind,
        "builder_reason": ws.builder.reason,
        "cli_command": ("" if ws.builder.kind == "buildkit" else "DOCKER_BUILDKIT=0 ")
        + cli_example,
        "cold": cold,
        "warm": warm,
        "whole_cold": whole_cold,
        "whole_warm": whole_warm,
        "whole_warm_floor": whole_warm_floor,
        "startup": startup(ws, folder, repeats=startup_repeats),
    }
