"""Image sizes: every lab image, the base, multi-stage vs single-stage, and the size floor.

The floor of the multi-stage predictor is the base image plus what its imports need installed:
numpy and joblib and the packages they require (found from their metadata inside the image),
measured with `du -sb` in a labelled throwaway container of the built image.
"""

from __future__ import annotations

import json

import docker

from bench import stats
from bench.workspace import Workspace
from dashboard.engine import labels, labs, offline

PREDICTOR_IMPORTS = ("numpy", "joblib")

# Runs inside the image: the installed files of the packages and their requirements, then du.
FLOOR_SCRIPT = """
import importlib.metadata as md, os, re, subprocess, sys
seen, todo, paths = set(), sys.argv[1:], set()
while todo:
    name = todo.pop()
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in seen:
        continue
    seen.add(key)
    dist = md.distribution(name)
    for req in dist.requires or []:
        if "extra ==" not in req:
            todo.append(re.split(r"[\\s;<>=!~\\[(]", req, maxsplit=1)[0])
    for f in dist.files or []:
        if f.parts[0] == "..":
            paths.add(os.path.normpath(str(f.locate())))
        else:
            paths.add(os.path.join(str(dist.locate_file("")), f.parts[0]))
print("#packages " + " ".join(sorted(seen)), flush=True)
subprocess.run(["du", "-sb", *sorted(paths)], check=True)
"""


def image_size(client: docker.DockerClient, ref: str) -> int | None:
    try:
        return client.images.get(ref).attrs.get("Size", 0)
    except docker.errors.ImageNotFound:
        return None


def lab_images(client: docker.DockerClient) -> list[dict]:
    """Each lab's image(s) as the lecture tags them; a Compose lab has one per service."""
    rows = []
    for lab in labs.LABS.values():
        if not lab.compose:
            rows.append(
                {"lab": lab.name, "image": lab.image, "size_bytes": image_size(client, lab.image)}
            )
            continue
        found = client.api.images(filters={"label": [f"{labels.LAB}={lab.name}"]})
        tags = sorted(t for i in found for t in i.get("RepoTags") or [] if t != "<none>:<none>")
        for tag in tags or [lab.image]:
            rows.append({"lab": lab.name, "image": tag, "size_bytes": image_size(client, tag)})
    return rows


def installed_sizes(ws: Workspace, image: str, packages=PREDICTOR_IMPORTS) -> dict:
    """Sizes of the installed files of `packages` and their requirements, inside `image`."""
    container = ws.client.containers.run(
        image,
        ["python", "-c", FLOOR_SCRIPT, *packages],
        detach=True,
        labels=ws.container_labels,
        network_mode="none",
    )
    try:
        status = container.wait(timeout=120)
        output = container.logs(stdout=True, stderr=True).decode()
    finally:
        container.remove(force=True)
    if status.get("StatusCode") != 0:
        raise RuntimeError(f"measuring installed packages in {image} failed: {output[-500:]}")
    first = next((line for line in output.splitlines() if line.startswith("#packages")), "")
    paths = stats.parse_du(output)
    return {
        "packages": first.split()[1:],
        "paths": paths,
        "bytes": sum(paths.values()),
    }


def run(ws: Workspace) -> dict:
    client = ws.client
    base = offline.base_image_status(client)
    single = labs.get("iris").image
    multi = labs.get("iris-multistage").image
    single_size, multi_size = image_size(client, single), image_size(client, multi)
    result = {
        "base": {"image": base.name, "standin": base.standin, "size_bytes": base.size_bytes},
        "labs": lab_images(client),
        "single_stage": {"image": single, "size_bytes": single_size},
        "multi_stage": {"image": multi, "size_bytes": multi_size},
    }
    if single_size and multi_size:
        result["multi_over_single"] = multi_size / single_size
    if multi_size:
        installed = installed_sizes(ws, multi)
        floor = base.size_bytes + installed["bytes"]
        result["floor"] = {
            "imports": list(PREDICTOR_IMPORTS),
            "installed": installed,
            "floor_bytes": floor,
            "final_over_floor": multi_size / floor,
        }
    return result


if __name__ == "__main__":  # a quick look: python -m bench.sizes
    from dashboard.engine.connection import connect

    workspace = Workspace(connect())
    try:
        print(json.dumps(run(workspace), indent=2))
    finally:
        workspace.cleanup()
