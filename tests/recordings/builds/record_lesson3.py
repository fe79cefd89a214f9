"""Re-record Lesson 3's builds for the unit tests (python this_file.py buildkit|classic).

`buildkit` (against an Engine with buildx, e.g. after `eval "$(./dev engines env e26-overlay2)"`):
a `--no-cache` `docker buildx build --progress=rawjson` of labs/iris-multistage and of
labs/iris-onnx, written to buildkit/multistage-cold.rawjson and buildkit/onnx-cold.rawjson, and
the steps the dashboard parses from each, to buildkit-multistage-nocache-steps.json and
buildkit-onnx-nocache-steps.json.

`classic` (the host's Engine 20.10): a warm classic-builder build (`POST /build`) of
labs/iris-multistage, each streamed object one JSON line, to multistage-warm.jsonl.

The images get the labs' own tags and labels, as the dashboard builds them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

import docker  # noqa: E402

from dashboard.engine.base import labels  # noqa: E402
from dashboard.engine.catalog import labs  # noqa: E402
from dashboard.engine.ops.buildkit_stream import BuildKitStreamParser, stage_names  # noqa: E402

FIELDS = ("index", "total", "instruction", "stage", "stage_name", "status", "seconds")


def buildkit(lab_name: str, name: str) -> None:
    lab = labs.get(lab_name)
    flags = [w for k, v in labels.for_image(lab.name).items() for w in ("--label", f"{k}={v}")]
    argv = ["docker", "buildx", "build", "--network", "host", "--no-cache", "-t", lab.image]
    argv += [*flags, "--progress=rawjson", "-f", str(lab.path / lab.dockerfile), str(lab.path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    (HERE / "buildkit" / f"{name}-cold.rawjson").write_text(done.stderr)
    parser = BuildKitStreamParser(stage_names((lab.path / lab.dockerfile).read_text()))
    list(parser.feed_text(done.stderr))
    list(parser.finish())
    rows = [
        {
            **{f: getattr(s, f) for f in FIELDS},
            "started_at": s.started_at,
            "finished_at": s.finished_at,
        }
        for s in parser.steps
    ]
    (HERE / f"buildkit-{name}-nocache-steps.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(f"{name}: {len(parser.steps)} steps")


def classic() -> None:
    lab = labs.get("iris-multistage")
    api = docker.APIClient(version="auto")
    kwargs = dict(
        path=str(lab.path),
        dockerfile=lab.dockerfile,
        tag=lab.image,
        decode=True,
        rm=True,
        forcerm=True,
        network_mode="host",
        labels=labels.for_image(lab.name),
    )
    for _ in api.build(**kwargs):  # warm the cache first
        pass
    chunks = list(api.build(**kwargs))
    (HERE / "multistage-warm.jsonl").write_text("".join(json.dumps(c) + "\n" for c in chunks))
    print(f"multistage-warm.jsonl: {len(chunks)} objects")


if __name__ == "__main__":
    if sys.argv[1:] == ["buildkit"]:
        buildkit("iris-multistage", "multistage")
        buildkit("iris-onnx", "onnx")
    elif sys.argv[1:] == ["classic"]:
        classic()
    else:
        raise SystemExit(__doc__)
