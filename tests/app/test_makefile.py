"""The Makefile section of lessons 1 and 3 through the page: a button per target that runs
`make TARGET` in the working copy (the exact command shown), a target of one's own added and
reset, `make clean` meeting a container that still uses the image (Docker's refusal, the
sentence, the fix, then a clean that succeeds), and a page that says when make is missing.

The isolated data folder holds the working copy; DASHBOARD_TAG_SUFFIX gives the Makefile a tag
and a container name of this test run alone.
"""

from __future__ import annotations

import contextlib

import docker
import pytest

from dashboard.engine.base import labels
from dashboard.engine.ops import make
from dashboard.work import workspace
from tests.app.helpers import assert_clean, metrics, open_page, succeeded, wait_for

pytestmark = pytest.mark.docker


def test_lesson1_makefile_buttons_build_run_own_target_and_clean(
    docker_client, app, new_containers, session_id
):
    suffix = session_id.lower()
    tag, name = f"1.0-{suffix}", f"iris-run-{suffix}"
    ref = f"iris-model:{tag}"
    # An image of this test alone: with an edited main.py, no other tag shares it.
    workspace.append_comment("iris")
    at = open_page(app, "lesson1.py")
    assert_clean(at)
    assert at.button(key="make-iris-all").label == "make all (first target)"
    assert [at.button(key=f"make-iris-{t}").label for t in ("build", "run", "clean")] == [
        "make build",
        "make run",
        "make clean",
    ]
    folder = workspace.copy_path("iris")
    command = next(c.value for c in at.code if c.value.startswith(f"cd {folder}\nmake "))
    assert f"make IMAGE=iris-model TAG={tag} NAME={name} 'BUILD_FLAGS=" in command
    assert f"--label {labels.SESSION}={session_id}" in command  # RUN_FLAGS: our labels
    assert any("`main.py` differs from labs/iris" in i.value for i in at.info)

    try:
        at.button(key="make-iris-build").click().run()
        wait_for(
            at, lambda a: succeeded(a, "`make build` finished with exit status 0"), 600, "build"
        )
        assert_clean(at)
        assert any(c.value.startswith(f"cd {folder}\nmake build IMAGE=") for c in at.code)
        assert labels.of_inspect(docker_client.api.inspect_image(ref))[labels.LAB] == "iris"

        at.button(key="make-iris-run").click().run()
        wait_for(at, lambda a: succeeded(a, "`make run` finished"), 180, "make run")
        assert metrics(at)["Predicted class"] == "setosa"
        assert metrics(at)["Accuracy"] == "1.00"

        # A target of one's own: checked as it is typed, added to the copy, a button.
        at.text_input(key="make-new-name-iris").input("build").run()
        assert any("already has a target `build`" in e.value for e in at.error)
        assert at.button(key="make-add-iris").disabled
        at.text_input(key="make-new-name-iris").input("sizes").run()
        assert any(c.value.endswith("sizes:\n\tdocker images $(IMAGE)") for c in at.code)
        at.button(key="make-add-iris").click().run()
        assert at.button(key="make-iris-sizes").label == "make sizes"
        at.button(key="make-iris-sizes").click().run()
        wait_for(at, lambda a: succeeded(a, "`make sizes` finished"), 60, "make sizes")
        assert any(tag in c.value for c in at.code)

        # `docker run --name test1 ...` in class: a container that still uses the image.
        docker_client.containers.create(
            ref, ["true"], name=f"test1-{suffix}", labels=labels.for_lab("iris")
        )
        at.button(key="make-iris-clean").click().run()
        wait_for(
            at, lambda a: succeeded(a, "`make clean` finished with exit status 0"), 60, "clean"
        )
        refusal = next(w.value for w in at.warning if "Docker refused to remove" in w.value)
        assert f"container `test1-{suffix}` (stopped) still uses it" in refusal
        assert any(c.value == f"docker rm test1-{suffix}" for c in at.code)
        docker_client.images.get(ref)  # still there
        at.button(key="make-fix-iris-0").click().run()
        wait_for(at, lambda a: succeeded(a, f"test1-{suffix} removed"), 60, "docker rm")
        assert new_containers() == []
        at.button(key="make-iris-clean").click().run()
        wait_for(at, lambda a: any(f"Untagged: {ref}" in c.value for c in a.code), 60, "clean")
        assert not any("Docker refused" in w.value for w in at.warning)
        with pytest.raises(docker.errors.ImageNotFound):
            docker_client.images.get(ref)

        at.button(key="make-reset-iris").click().run()
        assert "make-iris-sizes" not in {b.key for b in at.button}
        assert_clean(at)
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(ref)


def test_lesson3_has_the_makefile_with_its_own_names(app, session_id):
    at = open_page(app, "multistage.py")
    assert_clean(at)
    suffix = session_id.lower()
    assert at.button(key="make-iris-multistage-sizes").label == "make sizes"
    assert at.button(key="make-iris-multistage-all").label == "make all (first target)"
    folder = workspace.copy_path("iris-multistage")
    command = next(c.value for c in at.code if c.value.startswith(f"cd {folder}\nmake "))
    assert f"TAG=2.0-{suffix} NAME=iris-predict-{suffix}" in command


def test_a_missing_make_is_said_with_its_fix_and_no_button_runs(app, monkeypatch):
    monkeypatch.setattr(make, "find_make", lambda: None)
    at = open_page(app, "lesson1.py")
    assert not at.exception
    warning = next(w.value for w in at.warning if "`make` is not installed" in w.value)
    assert "sudo apt-get install make" in warning
    assert at.button(key="make-iris-build").disabled and at.button(key="make-iris-default").disabled
