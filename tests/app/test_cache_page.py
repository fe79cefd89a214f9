"""The cache page: edit a working copy of labs/iris, rebuild, and see which step the edit hit.

The working copy lives in this test's data folder and builds under a tag with the session id.
"""

from __future__ import annotations

import pytest

from dashboard.engine.base.paths import labs_dir
from dashboard.engine.catalog import labs
from dashboard.engine.ops import builds
from dashboard.work import workspace
from tests.app.helpers import assert_clean, metrics, open_page, wait_for

pytestmark = pytest.mark.docker


def rebuild(at, number: int):
    at.button(key="rebuild-copy").click().run()
    return wait_for(
        at,
        lambda a: "Build time" in metrics(a) and not a.get("progress"),
        timeout=300,
        what=f"rebuild {number}",
    )


def test_an_edit_of_main_py_rebuilds_from_its_copy_and_says_why(
    docker_client, app, working_tag, expected_builder
):
    # labs/iris built first: the copy's files are the same, so its first build is all cached
    # (whatever an earlier run or a `./dev engines trim` left in the daemon's cache).
    assert builds.build_lab(docker_client, labs.get("iris")).ok
    at = open_page(app, "cache.py")
    assert_clean(at)
    copy = workspace.copy_path("iris")
    assert (copy / "main.py").read_bytes() == (labs_dir() / "iris" / "main.py").read_bytes()
    assert any(f"-t {working_tag}" in c.value for c in at.code)

    rebuild(at, 1)  # the unedited copy: recorded, so the next build can name what changed
    assert_clean(at)
    first = at.dataframe[0].value
    assert list(first["Result"])[:5] == ["base image"] + ["from cache"] * 4

    at.button(key="append-comment").click().run()
    assert workspace.edits("iris") == 1
    assert (labs_dir() / "iris" / "main.py").read_text().count(workspace.EDIT_MARK) == 0

    rebuild(at, 2)
    assert_clean(at)
    steps = at.dataframe[0].value
    # BuildKit: [5/5] COPY main.py . is the last step; the classic builder also reruns CMD.
    buildkit = expected_builder == "buildkit"
    at_copy, total, ran = (4, 5, 1) if buildkit else (5, 7, 2)
    assert list(steps["Instruction"])[at_copy] == "COPY main.py ."
    assert (
        list(steps["Result"])
        == ["base image"] + ["from cache"] * (at_copy - 1) + ["executed"] * ran
    )
    why = " ".join(i.value for i in at.info)
    assert f"Step {at_copy + 1}" in why
    assert "files it copies changed since the last build: main.py" in why
    assert metrics(at)["Steps from cache"] == f"{at_copy} / {total}"
    assert docker_client.images.get(working_tag).labels["io.dockerml.dashboard.lab"] == "iris"

    at.button(key="reset-copy").click().run()
    assert workspace.edits("iris") == 0
