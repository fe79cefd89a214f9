"""`make TARGET` in the iris lab's working copy on the real daemon, through the job the page
starts: what make and docker printed, the exit status, and what Docker did (the image and its
labels, the run's report, a target of one's own, `make clean` meeting a container that still
uses the image, a taken name, and the ownership checks before anything is removed).

Each test works in a data folder of its own with a unique tag suffix, and appends a comment to
the copy's main.py, so its image is its own (no other tag shares it: `docker rmi` of a tag that
another tag shares only untags, and Docker refuses nothing).
"""

from __future__ import annotations

import contextlib
import uuid

import docker
import pytest

from dashboard.engine.base import labels
from dashboard.engine.catalog import labs
from dashboard.engine.offline.offline import BASE_IMAGE as BASE
from dashboard.engine.ops import make, runs
from dashboard.work import tasks, workspace
from dashboard.work.jobs import JobKey, JobRegistry, JobSnapshot

pytestmark = [pytest.mark.docker, pytest.mark.engines]


@pytest.fixture
def lab(monkeypatch, tmp_path, docker_client):
    """The working copy's variables; whatever the test made is removed at the end."""
    suffix = f"mk{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DASHBOARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DASHBOARD_TAG_SUFFIX", suffix)
    workspace.append_comment("iris")
    makefile = make.read_makefile(workspace.copy_path("iris") / make.MAKEFILE)
    variables = make.variables_for(labs.get("iris"), makefile, network=None)
    made: list[str] = []
    yield variables, made
    for container in made:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.api.remove_container(container, force=True)
    with contextlib.suppress(docker.errors.NotFound):
        docker_client.api.remove_container(variables["NAME"], force=True)
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(f"{variables['IMAGE']}:{variables['TAG']}")


def make_job(target: str | None) -> JobSnapshot:
    job, _ = JobRegistry().start(JobKey("make", "iris"), tasks.make_target("iris", target))
    assert job.wait(600), f"make {target} did not finish"
    return job.snapshot()


def ok(snap: JobSnapshot) -> tasks.MakeOutcome:
    assert snap.ok, snap.error
    outcome = snap.result
    assert outcome.result.ok, (outcome.result.message, outcome.result.lines[-20:])
    assert snap.lines() == list(outcome.result.lines)  # each line reached the job
    return outcome


def test_build_run_own_target_then_clean_meets_a_container(docker_client, lab, session_id):
    variables, made = lab
    ref = f"{variables['IMAGE']}:{variables['TAG']}"

    built = ok(make_job("build"))
    assert built.result.command.startswith(f"make build IMAGE=iris-model TAG={variables['TAG']}")
    echoed = next(line for line in built.result.lines if line.startswith("docker build "))
    assert f"--label {labels.MANAGED}=true" in echoed and f"-t {ref}" in echoed
    assert "main.py" in built.changed  # the page says the copy differs from labs/iris
    image_labels = labels.of_inspect(docker_client.api.inspect_image(ref))
    assert image_labels[labels.MANAGED] == "true" and image_labels[labels.LAB] == "iris"

    ran = ok(make_job("run"))
    assert "Accuracy: 1.00" in ran.result.lines
    assert ran.parsed.predicted_class == "setosa" and ran.parsed.report is not None
    assert f"docker rm {variables['NAME']}" in ran.result.lines
    assert docker_client.containers.list(all=True, filters={"name": variables["NAME"]}) == []

    workspace.add_make_target("iris", "sizes", "docker images $(IMAGE)")
    sizes = ok(make_job("sizes"))
    assert sizes.result.lines[0] == "docker images iris-model"
    assert any(variables["TAG"] in line for line in sizes.result.lines[1:])

    # `docker run --name test1 ...` as in class: an exited container that still uses the image.
    test1 = runs.run_container(
        docker_client, ref, lab="iris", name=f"test1-{variables['TAG']}", command=["true"]
    )
    made.append(test1.container_id)
    cleaned = ok(make_job("clean"))  # exit status 0: make ignored docker's error (`-`)
    assert any("(ignored)" in line for line in cleaned.result.lines)
    (note,) = cleaned.notes
    assert note.kind == "image-in-use" and note.ours and not note.running
    assert note.container_name == test1.name and note.container_id == test1.container_id
    assert note.fix == f"docker rm {test1.name}"
    assert f"Docker refused to remove `{ref}`: container `{test1.name}`" in note.sentence
    assert "make still exited 0" in note.sentence
    assert "conflict: unable to" in note.docker_said
    docker_client.images.get(ref)  # still there

    runs.remove_container(docker_client, note.container_id)
    again = ok(make_job("clean"))
    assert again.notes == ()
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(ref)


def test_a_taken_name_and_what_is_not_ours_are_refused(docker_client, lab):
    variables, made = lab
    ref = f"{variables['IMAGE']}:{variables['TAG']}"
    ok(make_job("build"))

    # A run that did not get to its `docker rm`: the name is taken by one of ours.
    left = runs.run_container(
        docker_client, ref, lab="iris", name=variables["NAME"], command=["true"]
    )
    made.append(left.container_id)
    snap = make_job("run")
    result = snap.result.result
    assert result.exit_code == 2 and not result.ok
    assert any("Conflict. The container name" in line for line in result.lines)
    (note,) = snap.result.notes
    assert note.kind == "name-in-use" and note.container_name == variables["NAME"] and note.ours
    assert note.fix == f"docker rm {variables['NAME']}"
    runs.remove_container(docker_client, left.container_id)

    # A container of that name the dashboard did not make: make clean and make run would
    # remove it (`docker rm -f $(NAME)`, `docker rm $(NAME)`): neither runs.
    theirs = docker_client.containers.create(BASE, ["true"], name=variables["NAME"])
    made.append(theirs.id)
    for target in ("clean", "run"):
        snap = make_job(target)
        assert not snap.ok and snap.error_type == "NotOursToRemove"
        assert f"Container {variables['NAME']} exists and was not made by the dashboard" in (
            snap.error
        )
        assert snap.lines() == []  # make never started
    docker_client.containers.get(theirs.id)
    docker_client.images.get(ref)
    docker_client.api.remove_container(theirs.id)

    # An image under the Makefile's name the dashboard did not build: make clean leaves it.
    foreign_tag = f"{variables['TAG']}-theirs"
    docker_client.api.tag(BASE, variables["IMAGE"], foreign_tag)
    try:
        makefile = make.read_makefile(workspace.copy_path("iris") / make.MAKEFILE)
        with pytest.raises(make.NotOursToRemove, match="was not built by the dashboard"):
            make.prepare(docker_client, makefile, "clean", {**variables, "TAG": foreign_tag})
        assert make.prepare(docker_client, makefile, "build", {**variables, "TAG": foreign_tag})
    finally:
        docker_client.images.remove(f"{variables['IMAGE']}:{foreign_tag}")
