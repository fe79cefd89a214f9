"""What one benchmark run creates, and removing exactly that at the end.

Every image the run builds carries `labels.for_image(ws.lab)` with a lab name unique to the run
(`bench-<run id>`), and is tagged `bench-<what>:<role>-<run id>`; containers carry
`labels.for_lab(ws.lab)`. Labs are built from temporary copies, so their own folders, tags
(iris-model:1.0 ...) and python:3.11-slim are never touched. `cleanup()` removes only the
objects carrying this run's labels (dangling images from repeated builds included) and the big
layer-analysis image `bench-big:1` unless it is kept.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import docker

from dashboard.engine.base import labels
from dashboard.engine.base.paths import labs_dir
from dashboard.engine.offline import offline
from dashboard.engine.ops import build_context, builds

BIG_IMAGE = "bench-big:1"
BIG_LAB = "bench-big"  # a fixed lab label, so a kept bench-big:1 is found again by a later run


class Workspace:
    def __init__(self, client: docker.DockerClient, *, run_id: str | None = None, keep=False):
        self.client = client
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.lab = f"bench-{self.run_id}"
        self.keep = keep
        self.tmp = Path(tempfile.mkdtemp(prefix=f"bench-{self.run_id}-"))
        self.network = offline.build_network(client)
        # The CLI side of the comparisons uses the builder the engine uses (builds.py decides).
        self.builder = builds.choose_builder(client)
        self._contexts: set[tuple[Path, str]] = set()
        self._own_tags: list[str] = []  # images made without our labels (an imported stand-in)
        self._stage_images: set[str] = set()  # earlier stages of our multi-stage builds
        self.big_created = False
        self.removed: list[str] = []
        self.errors: list[str] = []

    def tag(self, what: str, role: str) -> str:
        return f"bench-{what}:{role}-{self.run_id}"

    @property
    def image_labels(self) -> dict[str, str]:
        return labels.for_image(self.lab)

    @property
    def container_labels(self) -> dict[str, str]:
        return labels.for_lab(self.lab)

    def copy_lab(self, folder: str, name: str | None = None) -> Path:
        """A private copy of labs/<folder> (without generated files) to build and edit."""
        target = self.tmp / (name or folder)
        shutil.copytree(
            labs_dir() / folder,
            target,
            ignore=shutil.ignore_patterns("model_pipeline.joblib", "__pycache__", "*.pyc"),
        )
        return target

    def built(self, folder: Path, dockerfile: str) -> None:
        """Note an engine build, so its build-context record is deleted at the end."""
        self._contexts.add((Path(folder), dockerfile))

    def note_stages(self, steps) -> None:
        """Note the images that end the earlier stages of a multi-stage build we ran.

        The classic builder leaves each unnamed earlier stage behind as a dangling image without
        our labels; our --no-cache builds made them, so they are ours to remove.
        """
        last_stage = max((s.stage for s in steps), default=0)
        for stage in range(last_stage):
            ids = [s.layer_id for s in steps if s.stage == stage and s.layer_id]
            if ids:
                self._stage_images.add(ids[-1])

    def own_tag(self, tag: str) -> None:
        """Note an image tag this run creates that carries none of our labels."""
        if not tag.startswith("bench-"):
            raise ValueError(f"benchmark tags start with bench-: {tag}")
        self._own_tags.append(tag)

    def cli_build_args(self, folder: Path, tag: str, *, dockerfile="Dockerfile", nocache=False):
        """The `docker build` that does the same work as the engine's build: `docker buildx
        build` (plain progress, to count CACHED) where the engine uses BuildKit, else the
        classic builder."""
        if self.builder.kind == "buildkit":
            args = ["docker", "buildx", "build", "--progress=plain"]
        else:
            args = ["docker", "build", "--force-rm"]
        if nocache:
            args.append("--no-cache")
        if self.network:
            args += ["--network", self.network]
        args += ["-t", tag, "-f", str(Path(folder) / dockerfile)]
        for key, value in self.image_labels.items():
            args += ["--label", f"{key}={value}"]
        return [*args, str(folder)]

    def cleanup(self) -> None:
        api = self.client.api
        for c in api.containers(all=True, filters={"label": [f"{labels.LAB}={self.lab}"]}):
            self._try(lambda c=c: api.remove_container(c["Id"], force=True), c["Id"][:12])
        for image in self._images(self.lab):
            self._remove_image(image)
        for tag in self._own_tags:
            self._try(lambda t=tag: api.remove_image(t), tag)
        for image_id in self._stage_images:
            try:
                tagged = api.inspect_image(image_id).get("RepoTags") or []
            except docker.errors.NotFound:
                continue
            if not tagged:  # a stage someone tagged since is theirs now
                self._try(lambda i=image_id: api.remove_image(i), image_id[:12])
        for image in self._images(BIG_LAB):
            tagged = any(t != "<none>:<none>" for t in image.get("RepoTags") or [])
            if not (self.keep and tagged):
                self._remove_image(image)
        for folder, dockerfile in self._contexts:
            key = build_context.context_key(folder, dockerfile)
            build_context._store(key).unlink(missing_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _images(self, lab: str) -> list[dict]:
        return self.client.api.images(filters={"label": [f"{labels.LAB}={lab}"]})

    def _remove_image(self, image: dict) -> None:
        api = self.client.api
        tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
        for tag in tags:
            if tag.startswith("bench-"):  # only the names this benchmark gives
                self._try(lambda t=tag: api.remove_image(t), tag)
        if not tags:
            self._try(lambda: api.remove_image(image["Id"]), image["Id"][7:19])

    def _try(self, action, name: str) -> None:
        try:
            action()
            self.removed.append(name)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            self.errors.append(f"{name}: {exc.explanation or exc}")


def run_cli(args: list[str], *, timeout: float = 900) -> subprocess.CompletedProcess:
    """A `docker build` as a student on this daemon would type it (output: stdout + stderr).

    `docker build` runs the classic builder only with DOCKER_BUILDKIT=0 (no buildx here)."""
    env = dict(os.environ)
    if args[1:2] == ["build"]:
        env["DOCKER_BUILDKIT"] = "0"
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    done.stdout = (done.stdout or "") + (done.stderr or "")  # BuildKit writes progress on stderr
    return done
