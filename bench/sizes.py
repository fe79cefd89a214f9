"""Image sizes: every lab image, the base, Lesson 3's three images, and each one's size floor.

Lesson 3 compares the single-stage iris-model:1.0, the multi-stage iris-model:2.0 as taught (its
predictor installs scikit-learn to load the fitted pipeline) and iris-model:2.0-onnx (its
predictor serves an ONNX model with onnxruntime). Each image's floor is measured twice:
- from its `docker history`, as the dashboard shows it (`images.size_floor`: the base image's
  layers plus the last stage's RUN layers);
- from inside it: the base image plus the installed files of what its program imports and the
  packages they require (found from their metadata), measured with `du -sb` in a labelled
  throwaway container of the built image.
"""

from __future__ import annotations

import json

import docker

from bench import stats
from bench.workspace import Workspace
from dashboard.engine.analysis import images
from dashboard.engine.base import labels
from dashboard.engine.catalog import labs
from dashboard.engine.offline import offline

# Lesson 3's images, by lab: the distributions its program imports (the du floor's roots).
LESSON3 = {
    "iris": ("scikit-learn", "numpy"),
    "iris-multistage": ("joblib", "scikit-learn"),
    "iris-onnx": ("onnxruntime", "numpy"),
}
SLIM = "iris-onnx"

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


def installed_sizes(ws: Workspace, image: str, packages: tuple[str, ...]) -> dict:
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


def floors(ws: Workspace, base_size: int) -> list[dict]:
    """Lesson 3's images against their floors: from `docker history` and from `du` inside."""
    client = ws.client
    base = images.image_layers(client, offline.BASE_IMAGE)
    rows = []
    for name, imports in LESSON3.items():
        image = labs.get(name).image
        try:
            report = images.image_layers(client, image)
        except images.ImageGone:
            continue
        floor = images.size_floor(report, base)
        installed = installed_sizes(ws, image, imports)
        du_floor = base_size + installed["bytes"]
        rows.append(
            {
                "lab": name,
                "image": image,
                "size_bytes": report.size_bytes,
                "history": {
                    "base_bytes": floor.base_bytes,
                    "installed_bytes": floor.installed_bytes,
                    "floor_bytes": floor.floor_bytes,
                    "above_floor_bytes": floor.above_floor_bytes,
                },
                "imports": list(imports),
                "installed": installed,
                "floor_bytes": du_floor,
                "final_over_floor": report.size_bytes / du_floor,
            }
        )
    return rows


def run(ws: Workspace) -> dict:
    client = ws.client
    base = offline.base_image_status(client)
    single = labs.get("iris").image
    multi = labs.get("iris-multistage").image
    slim = labs.get(SLIM).image
    sizes = {ref: image_size(client, ref) for ref in (single, multi, slim)}
    result = {
        "base": {"image": base.name, "standin": base.standin, "size_bytes": base.size_bytes},
        "labs": lab_images(client),
        "single_stage": {"image": single, "size_bytes": sizes[single]},
        "multi_stage": {"image": multi, "size_bytes": sizes[multi]},
        "slim_stage": {"image": slim, "size_bytes": sizes[slim]},
    }
    if sizes[single] and sizes[multi]:
        result["multi_over_single"] = sizes[multi] / sizes[single]
    if sizes[single] and sizes[slim]:
        result["slim_over_single"] = sizes[slim] / sizes[single]
    result["floors"] = floors(ws, base.size_bytes)
    slim_floor = next((f for f in result["floors"] if f["lab"] == SLIM), None)
    if slim_floor:  # the goal: the slim image is no bigger than what it must hold
        result["floor"] = slim_floor
    return result


if __name__ == "__main__":  # a quick look: python -m bench.sizes
    from dashboard.engine.base.connection import connect

    workspace = Workspace(connect())
    try:
        print(json.dumps(run(workspace), indent=2))
    finally:
        workspace.cleanup()
