"""The instructor's command line: `python -m dashboard [--json] VERB [--json]`.

Verbs: doctor, prepare, build LAB, run LAB, layers IMAGE, reset, registry up|down|push LAB,
classroom up|status|doctor|move|down.
With `--json` (before or after the verb), every verb prints JSON Lines (documented in
docs/cli.md); without it, short human lines. Builds and runs are kept in the history the app
shows (through dashboard/work). Exit status is non-zero on any failure; what it is given is
checked as the pages check it, before any Docker call; and a daemon that cannot be reached (or
refuses our API version) is one clear sentence, never a traceback.

Start-up is part of every verb's time, so each verb imports the engine modules it uses inside
its own function, and the docker SDK (with requests and urllib3, most of a verb's imports) comes
in once the arguments have parsed: `--help` or a mistyped verb does not wait for it, and `build`
loads no Compose, run or Streamlit code. bench/overhead.py measures what each verb imports.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict, is_dataclass

from dashboard import settings
from dashboard.engine.base import validation
from dashboard.engine.catalog import labs


class Output:
    def __init__(self, as_json: bool):
        self.as_json = as_json

    def emit(self, record: dict, text: str | None = None) -> None:
        if self.as_json:
            print(json.dumps(record, default=str), flush=True)
        elif text is not None:
            print(text, flush=True)

    def say(self, text: str) -> None:
        self.emit({"type": "message", "text": text}, text)


def human_size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def connect():
    """A client that answered a ping (engine/base/connection.py, which imports the docker SDK)."""
    from dashboard.engine.base import connection

    return connection.connect()


def _plain(obj):
    return asdict(obj) if is_dataclass(obj) else obj


def cmd_doctor(args, out: Output) -> int:
    from dashboard.engine import doctor

    checks = doctor.run_checks()
    for check in checks:
        mark = "ok " if check.ok else ("-- " if check.optional else "!! ")
        text = f"{mark}{check.name}: {check.detail}"
        if not check.ok and check.fix:
            text += f"\n    fix: {check.fix}"
        out.emit({"type": "check", **_plain(check)}, text)
    return 0 if all(c.ok or c.optional for c in checks) else 1


def cmd_prepare(args, out: Output) -> int:
    from dashboard.engine.offline import offline

    client = connect()
    status = offline.prepare_offline(client, out.say)
    out.emit({"type": "base_image", **_plain(status)}, status.summary)
    if args.no_build:
        return 0
    failed = 0
    for lab in labs.LABS.values():
        ok = _build_compose(client, lab, out, quiet=True) if lab.compose else None
        if ok is None:
            ok = _build(client, lab, out, quiet_steps=True).ok
        failed += not ok
    return 1 if failed else 0


_FLAGS = {
    "base": "base  ",
    "cached": "cached",
    "executed": "built ",
    "failed": "FAILED",
    "canceled": "CANCELED",
}


def _emit_step(out: Output, lab_name: str, s, quiet: bool) -> None:
    """One finished build step, as a JSON record and a line (`[stage i/n] cached 0.00s ...`)."""
    record = {
        "type": "step",
        "lab": lab_name,
        "index": s.index,
        "total": s.total,
        "stage": s.stage_name or s.stage,
        "instruction": s.instruction,
        "cached": s.cached,
        "status": s.status,
        "seconds": round(s.seconds, 3),
        "layer_id": s.layer_id,
        "miss_reason": s.miss_reason,
        "stage_name": s.stage_name,
        "started_at": s.started_at,
        "finished_at": s.finished_at,
        "error": s.error,
    }
    stage = f"{s.stage_name} " if s.stage_name and s.started_at is not None else ""
    text = (
        None
        if quiet
        else (
            f"[{stage}{s.index}/{s.total}] {_FLAGS.get(s.status, s.status)} "
            f"{s.seconds:6.2f}s  {s.instruction}"
        )
    )
    out.emit(record, text)


def _steps(events, out: Output, lab_name: str, quiet: bool):
    """Emit each finished step of a build's events; the build's result."""
    from dashboard.engine.ops.build_stream import StepFinished

    result = None
    for event in events:
        if isinstance(event, StepFinished) and not event.step.synthetic:
            _emit_step(out, lab_name, event.step, quiet)
        elif hasattr(event, "result"):
            result = event.result
    return result


def _build_compose(client, lab, out: Output, *, quiet: bool = False) -> bool:
    """`docker compose build` of a Compose lab, step by step, kept in the history per image."""
    from dashboard.engine.ops import compose
    from dashboard.work.tasks import ComposeBuildOutcome, compose_project_name

    project = compose.ComposeProject(client, compose_project_name(), lab=lab.name)
    command = project.build_command().display
    out.emit({"type": "command", "command": command}, None)
    result = _steps(project.build_steps(), out, lab.name, quiet)
    if result is None or not result.ok:
        error = result.error if result else "The build did not finish."
        out.emit(
            {"type": "result", "lab": lab.name, "ok": False, "error": error},
            f"{lab.name}: `{command}` failed: {error}",
        )
        return False
    images = project.service_builds(result)
    out.emit(
        {
            "type": "result",
            "lab": lab.name,
            "ok": True,
            "command": command,
            "seconds": round(result.seconds, 3),
            "steps_cached": result.steps_cached,
            "steps_total": result.steps_total,
            "images": {name: b.tags[0] if b.tags else None for name, b in images.items()},
        },
        f"{lab.name}: built {', '.join(b.tags[0] for b in images.values() if b.tags)} in "
        f"{result.seconds:.1f}s, {result.steps_cached}/{result.steps_total} steps cached"
        f"\n    {command}",
    )
    _record(ComposeBuildOutcome(result, images))
    return True


def _build(client, lab, out: Output, *, nocache: bool = False, quiet_steps: bool = False):
    import shlex

    from dashboard.engine.ops import builds

    result = _steps(
        builds.stream_lab_build(client, lab, nocache=nocache), out, lab.name, quiet_steps
    )
    assert result is not None
    for miss in result.cache_misses:
        out.emit(
            {"type": "cache_miss", "lab": lab.name, **_plain(miss)},
            None if quiet_steps else f"first rebuilt step {miss.step_index}: {miss.reason}",
        )
    record = {
        "type": "result",
        "lab": lab.name,
        "ok": result.ok,
        "image": lab.image,
        "image_id": result.image_id,
        "tags": result.tags,
        "size_bytes": result.size_bytes,
        "size": result.size.as_dict() if result.size else None,
        "steps_cached": result.steps_cached,
        "steps_total": result.steps_total,
        "seconds": round(result.seconds, 3),
        "command": result.command,
        "error": result.error,
        "builder": result.builder,
        "builder_reason": result.builder_reason,
        "argv": result.argv,
        "canceled": result.canceled,
        "note": result.note,
    }
    ran = f"\n    builder: {result.builder_reason}" if result.builder_reason else ""
    if result.argv:
        ran += "\n    ran: " + shlex.join(result.argv)
    if result.ok:
        text = (
            f"{lab.name}: {lab.image} built in {result.seconds:.1f}s, "
            f"{result.steps_cached}/{result.steps_total} steps cached, "
            f"{result.size.sentence() if result.size else f'{result.size_bytes / 1e6:.0f} MB'}"
            f"\n    {result.command}{ran}"
        )
        if result.note:
            text += f"\n    note: {result.note}"
    else:
        step = result.failed_step
        text = f"{lab.name}: build FAILED" + (
            f" at step {step.index}: {step.instruction}" if step else ""
        )
        text += f"\n    {result.error}{ran}"
        if step and step.output:
            text += "\n    " + "\n    ".join(step.output[-10:])
    out.emit(record, text)
    _record(result)
    return result


def _record(result) -> None:
    """Keep a build or run in the history, as the pages' jobs do (the History page shows it)."""
    from dashboard.work import recording

    with recording.open_history() as history:
        recording.record_quietly(history, result)


def cmd_build(args, out: Output) -> int:
    client = connect()
    lab = labs.get(args.lab)
    if lab.compose:
        return 0 if _build_compose(client, lab, out) else 1
    return 0 if _build(client, lab, out, nocache=args.no_cache).ok else 1


def cmd_run(args, out: Output) -> int:
    from dashboard.engine.catalog import lab_output
    from dashboard.engine.ops import runs
    from dashboard.work.tasks import RunOutcome

    client = connect()
    lab = labs.get(args.lab)
    if lab.compose:
        return _run_compose(client, lab, args, out)
    result = runs.run_container(
        client,
        lab.image,
        lab=lab.name,
        timeout=args.timeout or lab.run_timeout,
        on_line=lambda line: out.emit({"type": "log", "line": line.text}, line.text),
    )
    parsed = lab_output.parse_lab_output(result.lines)
    _record(RunOutcome(result, parsed))
    out.emit(
        {
            "type": "result",
            "lab": lab.name,
            "container": result.name,
            "exit_code": result.exit_code,
            "status": result.status,
            "message": result.message,
            "seconds": round(result.duration_s, 3),
            "parsed": _plain(parsed),
        },
        f"{lab.name}: {result.message}",
    )
    return 0 if result.ok else 1


def _run_compose(client, lab, args, out: Output) -> int:
    from dashboard.engine.catalog import lab_output
    from dashboard.engine.ops import compose
    from dashboard.work.tasks import compose_project_name

    project = compose.ComposeProject(client, compose_project_name(), lab=lab.name)
    out.emit(
        {"type": "command", "command": project.up_command().display}, project.up_command().display
    )
    project.up()
    lines = []
    for line in project.follow_logs():
        lines.append(line.text)
        out.emit(
            {"type": "log", "service": line.service, "at": line.at, "line": line.text},
            f"{line.service:>10} | {line.text}",
        )
    waited = project.wait(timeout=args.timeout or lab.run_timeout)
    parsed = lab_output.parse_lab_output(lines)
    states = {name: state.exit_code for name, state in waited.states.items()}
    out.emit(
        {
            "type": "result",
            "lab": lab.name,
            "exit_codes": states,
            "timed_out": waited.timed_out,
            "seconds": round(waited.seconds, 3),
            "parsed": _plain(parsed),
        },
        f"{lab.name}: exit codes {states}" + (" (timed out)" if waited.timed_out else ""),
    )
    from dashboard.work import recording

    logs = {name: project.logs(name) for name in waited.states}
    with recording.open_history() as history:
        recording.quietly(recording.record_services, history, waited.states, logs, lab=lab.name)
    return 0 if waited.succeeded else 1


def cmd_layers(args, out: Output) -> int:
    from dashboard.engine.analysis import images

    validation.check_image_lookup(args.image)  # InvalidInput, as the pages say it, before any call
    client = connect()
    report = images.image_layers(client, args.image)
    for layer in report.layers:
        out.emit(
            {"type": "layer", **_plain(layer)},
            f"{human_size(layer.size_bytes):>9}  {'(empty) ' if layer.empty else ''}"
            f"{layer.title[:90]}",
        )
    out.emit(
        {"type": "image", "image": args.image, "size_bytes": report.size_bytes},
        f"{human_size(report.size_bytes):>9}  total",
    )
    _emit_efficiency(client, args.image, out)
    return 0


def _emit_efficiency(client, image: str, out: Output) -> None:
    """dive's efficiency and wasted bytes, as the Sizes page shows them."""
    from dashboard.engine.analysis import layerfiles
    from dashboard.engine.analysis.layerfiles import efficiency

    files = layerfiles.image_files(client, image)
    report = efficiency.efficiency(files.layers)
    why = f": no fast path, {files.fallback_reason}" if files.fallback_reason else ""
    out.emit(
        {
            "type": "efficiency",
            "image": image,
            "score": report.score,
            "wasted_bytes": report.wasted_bytes,
            "inefficient_paths": report.inefficient_paths,
            "removed_files": report.removed_files,
            "source": files.source,
            "fallback_reason": files.fallback_reason,
        },
        f"{report.score:>9.1%}  efficiency, {human_size(report.wasted_bytes)} wasted, files in "
        f"2+ layers: {report.inefficient_paths} (read from {files.source}{why})",
    )


def cmd_reset(args, out: Output) -> int:
    from dashboard.engine.ops import cleanup

    client = connect()
    report = cleanup.reset(client, session=args.session)
    for removal in report.removals:
        text = f"{removal.outcome:>8}  {removal.kind} {removal.name}"
        if removal.outcome in ("in use", "failed"):
            text += f": {removal.detail}"
        out.emit({"type": "removal", **_plain(removal)}, text)
    out.emit(
        {"type": "reset", **_plain(report), "ok": report.ok, "summary": report.summary},
        f"reset: {report.summary}"
        + ("" if report.ok else " (nothing was forced: stop what uses them, then reset again)"),
    )
    return 0 if report.ok else 1


def cmd_registry(args, out: Output) -> int:
    """`registry up` (its image first: pulled, or built from Debian's package), `registry down
    [--volume]`, `registry push LAB` (tag and push the lab's image, one line per layer)."""
    from dashboard.engine.ops import registry

    if args.action == "push" and not args.lab:  # before any Docker call, as the pages check
        raise validation.InvalidInput(
            "registry push needs a lab: python -m dashboard registry push iris"
        )
    client = connect()
    if args.action == "up":
        done = registry.up(client, lambda line: out.emit({"type": "message", "text": line}, line))
        out.emit(
            {
                "type": "registry",
                "running": done.state.running,
                "address": registry.ADDRESS,
                "image": done.image.name,
                "source": done.image.source,
                "note": done.image.note,
                "started": done.started,
                "seconds": round(done.seconds, 3),
                "command": done.command,
            },
            f"registry: {done.state.sentence}",  # the note was said as it happened
        )
        return 0 if done.state.running else 1
    if args.action == "down":
        done = registry.down(client, volume=args.volume)
        for line in done.lines:
            out.emit({"type": "message", "text": line}, line)
        out.emit({"type": "registry", "running": False, "command": done.command}, None)
        return 0
    lab = labs.get(args.lab)  # argparse offers the image labs only
    pushed = registry.push(
        client, lab.image, lambda line: out.emit({"type": "log", "line": line}, line)
    )
    for layer in pushed.layers:
        out.emit(
            {"type": "layer", "id": layer.id, "status": layer.status, "seen": layer.seen}, None
        )
    out.emit(
        {
            "type": "result",
            "lab": lab.name,
            "ok": pushed.ok,
            "ref": pushed.ref,
            "digest": pushed.digest,
            "layers": len(pushed.layers),
            "already_existed": len(pushed.already_existed),
            "seconds": round(pushed.seconds, 3),
            "command": pushed.command,
            "error": pushed.error,
        },
        f"{lab.name}: pushed {pushed.ref} in {pushed.seconds:.1f}s, {len(pushed.layers)} layers, "
        f"{len(pushed.already_existed)} already in the registry, digest {pushed.digest}"
        if pushed.ok
        else f"{lab.name}: push FAILED: {pushed.error}",
    )
    return 0 if pushed.ok else 1


def cmd_classroom(args, out: Output) -> int:
    """A class on many machines (dashboard/hub): the hub on this Swarm manager, its seats."""
    from dashboard.hub import classroom, seats

    say = out.say
    try:
        if args.action == "move":
            if not args.student:
                raise classroom.ClassroomError("classroom move needs a student: move NAME")
            classroom.move(args.student, say)
            return 0
        client = connect()
        if args.action == "up":
            limits = seats.Limits(
                cpu_limit=args.cpu_limit,
                cpu_reserve=args.cpu_reserve,
                mem_limit=args.mem_limit << 20,
                mem_reserve=args.mem_reserve << 20,
                pids=args.pids,
            )
            options = classroom.Options(
                port=args.port,
                advertise_addr=args.advertise_addr,
                seat_image=args.seat_image,
                node_socket=args.node_socket,
                idle_s=args.idle,
                cull_every_s=args.cull_every,
                open_signup=not args.approve,
                limits=limits,
                build_cgroup=args.build_cgroup,
            )
            url = classroom.up(client, options, say)
            out.emit({"type": "classroom", "url": url}, None)
        elif args.action == "status":
            classroom.status(client, say, as_json=out.as_json)
        elif args.action == "doctor":
            reports = classroom.doctor(client, args.seat_image, args.node_socket, say=say)
            for report in reports:
                out.emit({"type": "node", **asdict(report), "ok": report.ok}, None)
            return 0 if all(r.ok for r in reports) else 1
        else:
            classroom.down(client, say)
    except classroom.ClassroomError as exc:
        out.emit({"type": "error", "kind": "ClassroomError", "message": str(exc)}, f"error: {exc}")
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dashboard", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON Lines")
    # `--json` after the verb too. SUPPRESS: a verb's parser that was not given `--json` sets
    # nothing, so it cannot undo a `--json` given before the verb.
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON Lines"
    )
    verbs = parser.add_subparsers(dest="verb", required=True)

    def verb(name: str, summary: str) -> argparse.ArgumentParser:
        return verbs.add_parser(name, help=summary, parents=[after])

    verb("doctor", "check the daemon, Compose, base image, wheelhouse, GPU, disk")
    p = verb("prepare", "offline classroom mode and a prebuild of every lab")
    p.add_argument("--no-build", action="store_true", help="only the base image and wheelhouse")
    p = verb("build", "build a lab image, one line per step")
    p.add_argument("lab", choices=list(labs.LABS))
    p.add_argument("--no-cache", action="store_true")
    p = verb("run", "run a lab and parse what it printed")
    p.add_argument("lab", choices=list(labs.LABS))
    p.add_argument("--timeout", type=int, default=None, help="seconds before it is stopped")
    p = verb("layers", "an image's layers and their sizes")
    p.add_argument("image", help="NAME[:TAG], NAME@sha256:DIGEST or an image id")
    p = verb("reset", "remove what the dashboard created (nothing else)")
    p.add_argument("--session", default=None, help="only this session's resources")
    p = verb("registry", "the local registry on 127.0.0.1:5000: up, down, push LAB")
    p.add_argument("action", choices=["up", "down", "push"])
    images = [name for name, lab in labs.LABS.items() if not lab.compose]
    p.add_argument("lab", nargs="?", choices=images, help="push: the lab whose image to push")
    p.add_argument("--volume", action="store_true", help="down: also remove the registry's data")
    p = verb("classroom", "a class on many machines: JupyterHub seats on a Docker Swarm")
    p.add_argument("action", choices=["up", "status", "doctor", "move", "down"])
    p.add_argument("student", nargs="?", help="move: the student whose next seat may go anywhere")
    p.add_argument("--port", type=int, default=8000, help="up: the hub's port (default 8000)")
    p.add_argument("--advertise-addr", help="up: this manager's address, when no Swarm exists")
    p.add_argument("--seat-image", default="docker-ml-dashboard-seat:latest", help="up, doctor")
    p.add_argument(
        "--node-socket", default="/var/run/docker.sock", help="up, doctor: on each machine"
    )
    p.add_argument("--idle", type=int, default=3600, help="up: seconds before an idle seat stops")
    p.add_argument("--cull-every", type=int, default=60, help="up: how often idle seats are sought")
    p.add_argument("--approve", action="store_true", help="up: new accounts wait for approval")
    p.add_argument("--cpu-limit", type=float, default=1.0, help="up: CPUs one seat may use")
    p.add_argument("--cpu-reserve", type=float, default=0.25, help="up: CPUs kept per seat")
    p.add_argument("--mem-limit", type=int, default=1536, help="up: MiB one seat may use")
    p.add_argument("--mem-reserve", type=int, default=384, help="up: MiB kept per seat")
    p.add_argument("--pids", type=int, default=512, help="up: processes one seat may run")
    p.add_argument(
        "--build-cgroup",
        help="up: the cgroup each machine's owner limits; every student's builds run below it "
        "(/dml-builds or dml-builds.slice; see the classroom guide)",
    )
    return parser


HANDLERS: dict[str, Callable] = {
    "doctor": cmd_doctor,
    "prepare": cmd_prepare,
    "build": cmd_build,
    "run": cmd_run,
    "layers": cmd_layers,
    "reset": cmd_reset,
    "registry": cmd_registry,
    "classroom": cmd_classroom,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(args.json)
    from dashboard.engine.base.connection import (
        DaemonUnavailable,  # the SDK: after parsing, see above
    )

    try:
        from dashboard.engine.base import paths

        paths.data_dir()  # an earlier version's history moves to the data folder first, once
        return HANDLERS[args.verb](args, out)
    except DaemonUnavailable as exc:
        out.emit(
            {"type": "error", "reason": exc.reason, "message": exc.message, "hint": exc.hint},
            f"error: {exc.message}\n  {exc.hint}",
        )
        return 2
    except validation.InvalidInput as exc:
        out.emit({"type": "error", "kind": "InvalidInput", "message": str(exc)}, f"error: {exc}")
        return 1
    except BrokenPipeError:  # `python -m dashboard build iris | head`
        return 0
    except Exception as exc:  # engine errors carry sentences; a class sees those, not tracebacks
        if settings.debug():
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        out.emit(
            {"type": "error", "kind": type(exc).__name__, "message": message}, f"error: {message}"
        )
        return 1
    finally:
        _say_data_move()


def _say_data_move() -> None:
    """Once, on stderr: an earlier version's history was moved to the data folder."""
    import sys

    from dashboard.engine.base import paths

    moved = paths.data_move()
    if moved is not None:
        print(f"note: {moved.sentence}", file=sys.stderr)
