"""Re-record what the labs print and what the daemon says about runs (python this_file.py).

Needs the daemon and the lab images iris-model:1.0, iris-model:2.0, wine-trainer and
wine-predictor. Writes, next to this file:
- iris.txt, multistage-train.txt, multistage-predict.txt, wine-train.txt, wine-predict.txt:
  the output lines of each lab container, as `runs.run_container` delivers them;
- iris-attach-chunks.json: the raw chunks of the iris run's attach stream (base64), to test
  line splitting on real chunk boundaries;
- states.json: `State` of containers that exited 0, exited 3, timed out and were OOM-killed;
- inspect.json: inspect of a detached `-d -it` container (running) and of an exited one;
- gpu-start-error.json: what starting a GPU container says on a daemon without a GPU.
Everything it creates carries the labels of session "record-runs" and is removed at the end.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))
os.environ.setdefault("DASHBOARD_SESSION", "record-runs")

import docker  # noqa: E402

from dashboard.engine.base import docker_text, labels  # noqa: E402
from dashboard.engine.base.connection import connect  # noqa: E402
from dashboard.engine.base.paths import labs_dir  # noqa: E402
from dashboard.engine.offline import offline  # noqa: E402
from dashboard.engine.ops import runs  # noqa: E402

BASE = "python:3.11-slim"


def write_lines(name: str, lines) -> None:
    (HERE / name).write_text("\n".join(lines) + "\n")
    print(f"{name}: {len(lines)} lines")


def main() -> None:
    client = connect()
    suffix = uuid.uuid4().hex[:6]
    made: list[str] = []
    images: list[str] = []

    def keep(result):
        made.append(result.container_id)
        return result

    try:
        iris = keep(runs.run_container(client, "iris-model:1.0", lab="iris"))
        write_lines("iris.txt", iris.lines)

        # Raw attach chunks of the same program, exactly as the SDK yields them.
        c = client.containers.create(
            "iris-model:1.0", labels=labels.for_lab("iris"), log_config=runs.LOG_CONFIG
        )
        made.append(c.id)
        stream = c.attach(stdout=True, stderr=True, stream=True, logs=False)
        c.start()
        chunks = [base64.b64encode(chunk).decode() for chunk in stream]
        (HERE / "iris-attach-chunks.json").write_text(json.dumps(chunks, indent=0) + "\n")
        print(f"iris-attach-chunks.json: {len(chunks)} chunks")

        write_lines(
            "multistage-predict.txt",
            keep(runs.run_container(client, "iris-model:2.0", lab="iris-multistage")).lines,
        )

        # The trainer stage of lesson 3 (cached layers), run as a container: python model.py.
        tag = f"record-runs-trainer:{suffix}"
        for _ in client.api.build(
            path=str(labs_dir() / "iris-multistage"),
            target="trainer",
            tag=tag,
            decode=True,
            rm=True,
            forcerm=True,
            network_mode=offline.build_network(client),
            labels=labels.for_image("iris-multistage"),
        ):
            pass
        images.append(tag)
        train = runs.run_container(
            client, tag, lab="iris-multistage", command=["python", "model.py"], remove=True
        )
        write_lines("multistage-train.txt", train.lines)

        # Lesson 4 by hand: the predictor waits on a shared volume until the trainer writes.
        volume = client.volumes.create(
            f"record-runs-shared-{suffix}", labels=labels.for_lab("wine")
        )
        try:
            mount = {volume.name: {"bind": "/shared", "mode": "rw"}}
            predictor = client.containers.run(
                "wine-predictor",
                detach=True,
                volumes=mount,
                environment={"POLL_SECONDS": "1"},
                labels=labels.for_lab("wine"),
            )
            made.append(predictor.id)
            trainer = client.containers.run(
                "wine-trainer",
                detach=True,
                volumes=mount,
                environment={"TRAIN_DELAY_SECONDS": "2"},
                labels=labels.for_lab("wine"),
            )
            made.append(trainer.id)
            for name, container in [("wine-train.txt", trainer), ("wine-predict.txt", predictor)]:
                container.wait(timeout=120)
                text = container.logs().decode()
                write_lines(name, [docker_text.clean_line(x) for x in text.splitlines()])
            for container in (trainer, predictor):
                container.remove(force=True)
                made.remove(container.id)
        finally:
            volume.remove(force=True)

        states = {"exited_0": iris.container_id}
        states["exited_3"] = keep(
            runs.run_container(client, BASE, lab="iris", command=["sh", "-c", "exit 3"])
        ).container_id
        states["timed_out"] = keep(
            runs.run_container(client, BASE, lab="iris", command="sleep 600", timeout=1, grace=1)
        ).container_id
        states["oom_killed"] = keep(
            runs.run_container(
                client,
                BASE,
                lab="iris",
                command=["python", "-c", "x = bytearray(300 * 2**20)"],
                mem_limit="64m",
            )
        ).container_id
        recorded = {k: client.api.inspect_container(v)["State"] for k, v in states.items()}
        (HERE / "states.json").write_text(json.dumps(recorded, indent=2) + "\n")
        print(f"states.json: {', '.join(recorded)}")

        detached = runs.start_detached(
            client, "iris-model:1.0", lab="iris", name=f"record-runs-detached-{suffix}"
        )
        made.append(detached.id)
        inspect = {
            "running": client.api.inspect_container(detached.id),
            "exited": client.api.inspect_container(states["exited_3"]),
        }
        (HERE / "inspect.json").write_text(json.dumps(inspect, indent=2) + "\n")
        print("inspect.json")

        try:
            runs.run_container(
                client,
                BASE,
                lab="iris",
                command="true",
                device_requests=[docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])],
            )
        except runs.RunFailed as exc:
            cause = exc.__cause__
            error = {
                "status_code": getattr(cause, "status_code", None),
                "explanation": getattr(cause, "explanation", str(cause)),
                "message": exc.message,
            }
            (HERE / "gpu-start-error.json").write_text(json.dumps(error, indent=2) + "\n")
            print("gpu-start-error.json")
    finally:
        for container_id in made:
            runs.remove_container(client, container_id, force=True)
        left = client.containers.list(all=True, filters=labels.filters(session="record-runs"))
        for tag in images:
            client.images.remove(tag)
        print(f"left behind: {len(left)} containers")


if __name__ == "__main__":
    main()
