"""Guided checks on the real daemon: a check ticks after the real action, and not before.

Each test evaluates against a history database of its own (tmp_path) and only against this
test run's session, so containers and progress of other sessions on the daemon do not count.
iris-model:1.0 is built only when it is absent (and then kept: it is the catalog tag others
use); the rebuild goes under a tag of our own, removed at the end, and the container is named
`checks-<session>-...` and removed too.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid

import docker
import pytest

from dashboard.engine.analysis import images
from dashboard.engine.base import owner
from dashboard.engine.catalog import labs
from dashboard.engine.ops import builds, runs
from dashboard.engine.progress import checks
from dashboard.engine.progress.history import History

pytestmark = pytest.mark.docker

IRIS = labs.get("iris")


def by_id(results: list[checks.CheckResult]) -> dict[str, checks.CheckResult]:
    return {r.id: r for r in results}


@pytest.fixture(scope="module")
def prefix(session_id):
    return f"checks-{session_id}-{uuid.uuid4().hex[:4]}"


@pytest.fixture(scope="module")
def iris_image(docker_client):
    """iris-model:1.0 built from labs/iris now (all from the cache when it is warm): an image of
    that name left from earlier need not be in this builder's cache (the classic builder's cache
    is the image's parent chain; BuildKit keeps its own)."""
    result = builds.build_lab(docker_client, IRIS)
    assert result.ok, result.error
    return IRIS.image


@pytest.fixture
def own_session(monkeypatch, session_id):
    """A session of this test's own: other tests of this run may leave iris containers behind."""
    own = f"{session_id}-checks-{uuid.uuid4().hex[:6]}"
    monkeypatch.setattr(owner, "_PROCESS_SESSION", own)
    return own


@pytest.fixture
def history(tmp_path):
    with History.open(tmp_path / "history.sqlite3") as h:
        assert h.enabled, h.disabled_reason
        yield h


@pytest.fixture
def made(docker_client, prefix):
    """Container ids this test made; removed at the end, and none of ours may be left."""
    ids: list[str] = []
    yield ids
    for container_id in ids:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(container_id).remove(force=True)
    left = docker_client.containers.list(all=True, filters={"name": prefix})
    assert left == [], f"left behind: {[c.name for c in left]}"


def test_the_run_check_ticks_only_after_a_container_exited_0(
    docker_client, iris_image, history, own_session, prefix, made
):
    mine = [
        c
        for c in runs.list_lab_containers(docker_client, "iris", own_session)
        if c.status == "exited" and c.exit_code == 0
    ]
    assert mine == [], "a new session has no iris container yet"

    before = by_id(checks.evaluate(docker_client, history, "lesson1", session=own_session))
    assert set(before) == {"iris-image", "iris-run"}
    assert before["iris-image"].true_now and before["iris-image"].newly_done
    assert f"{IRIS.image} exists" in before["iris-image"].detail
    run_check = before["iris-run"]
    assert not run_check.done and not run_check.true_now and run_check.done_at is None
    assert "docker run iris-model:1.0" in run_check.hint

    result = runs.run_container(docker_client, iris_image, lab="iris", name=f"{prefix}-run")
    made.append(result.container_id)
    assert result.ok, result.output

    after = by_id(checks.evaluate(docker_client, history, "lesson1", session=own_session))
    run_check = after["iris-run"]
    assert run_check.done and run_check.true_now and run_check.newly_done
    assert f"{prefix}-run" in run_check.detail and "exited with code 0" in run_check.detail
    ticked_at = run_check.done_at
    assert ticked_at is not None
    assert after["iris-image"].done_before and not after["iris-image"].newly_done

    # Remove the container: the check is no longer true now, but stays done, with its time.
    runs.remove_container(docker_client, result.container_id)
    gone = by_id(checks.evaluate(docker_client, history, "lesson1", session=own_session))
    run_check = gone["iris-run"]
    assert not run_check.true_now and run_check.done and run_check.done_before
    assert run_check.done_at == ticked_at
    assert f"{prefix}-run" in run_check.done_detail
    assert history.check_progress()["iris-run"].first_done_at == ticked_at

    # A fresh history knows nothing of it: the tick lives in the database, not in the daemon.
    with History.open(history.path.with_name("other.sqlite3")) as fresh:
        again = by_id(checks.evaluate(docker_client, fresh, "lesson1", session=own_session))
    assert not again["iris-run"].done


@pytest.mark.engines
def test_the_rebuild_check_ticks_after_a_recorded_cached_rebuild(
    docker_client, iris_image, history, prefix, expected_builder
):
    buildkit = expected_builder == "buildkit"
    before = by_id(checks.evaluate(docker_client, history, "cache"))
    assert not before["iris-rebuild-cached"].done
    assert "No build of iris" in before["iris-rebuild-cached"].detail
    assert not before["cache-order-compared"].done

    tag = f"{prefix}-iris:rebuild"
    result = builds.build(
        docker_client, IRIS.path, dockerfile=IRIS.dockerfile, tag=tag, lab_name=IRIS.name
    )
    try:
        assert result.ok, result.error
        # labs/iris is built already (iris_image), so every step comes from the cache: BuildKit's
        # five, or the classic builder's seven (it counts ENV and CMD too).
        assert result.steps_cached == result.steps_total == (5 if buildkit else 7)
        build_id = history.record_build(result, IRIS.path / IRIS.dockerfile)
        assert build_id is not None
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(tag)  # only our tag: the image stays for iris-model:1.0

    after = by_id(checks.evaluate(docker_client, history, "cache"))
    rebuild = after["iris-rebuild-cached"]
    assert rebuild.true_now and rebuild.newly_done
    cacheable = 4 if buildkit else 6
    assert f"#{build_id}" in rebuild.detail
    assert f"{cacheable} of {cacheable} steps from the cache" in rebuild.detail
    assert "every step up to the pip install" in rebuild.detail
    assert not after["cache-order-compared"].done  # no cache-order builds were recorded


def test_the_lesson3_checks_compare_the_real_sizes(docker_client, history):
    found = by_id(checks.evaluate(docker_client, history, "multistage"))
    assert list(found) == ["multistage-built", "multistage-run", "onnx-smaller", "onnx-run"]
    check = found["onnx-smaller"]
    try:  # the unpacked layers, on every image store (`docker history` adds up to them)
        new = images.image_size(docker_client, "iris-model:2.0-onnx").layers_bytes
        old = images.image_size(docker_client, "iris-model:1.0").layers_bytes
    except images.ImageGone:
        assert not check.true_now
        return
    assert check.true_now == (new < old)
    assert f"{new / 1e6:,.0f} MB" in check.detail and f"{old / 1e6:,.0f} MB" in check.detail


def test_without_a_daemon_the_history_still_answers(history):
    history.mark_check("iris-image", "lesson1", "iris-model:1.0 exists (444 MB)")
    found = by_id(checks.evaluate(None, history, "lesson1"))
    image = found["iris-image"]
    assert image.done and image.done_before and not image.true_now
    assert image.error and "Docker" in image.error
    assert image.done_detail == "iris-model:1.0 exists (444 MB)"
    assert not found["iris-run"].done


def test_an_unknown_lesson_is_refused():
    with pytest.raises(KeyError):
        checks.evaluate(None, None, "lesson9")


def test_the_cache_order_check_ticks_after_an_edit_and_two_rebuilds(
    docker_client, history, prefix, tmp_path
):
    """The cache lesson for real: a copy of labs/cache-order, built, edited, built again."""
    folder = tmp_path / "cache-order"
    shutil.copytree(labs.get("cache-code-first").path, folder)
    orders = {
        "cache-code-first": ("Dockerfile.code-first", f"{prefix}-order:code-first"),
        "cache-deps-first": ("Dockerfile.deps-first", f"{prefix}-order:deps-first"),
    }

    def build_both() -> dict[str, builds.BuildResult]:
        out = {}
        for lab, (dockerfile, tag) in orders.items():
            result = builds.build(
                docker_client, folder, dockerfile=dockerfile, tag=tag, lab_name=lab
            )
            assert result.ok, result.error
            assert history.record_build(result, folder / dockerfile) is not None
            out[lab] = result
        return out

    try:
        build_both()
        assert not by_id(checks.evaluate(docker_client, history, "cache"))[
            "cache-order-compared"
        ].done
        with (folder / "main.py").open("a") as f:
            f.write(f"# edited by {prefix}\n")
        second = build_both()
    finally:
        for _, tag in orders.values():
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_client.images.remove(tag)

    def install(result):
        return next(s for s in result.real_steps if "pip install" in s.instruction)

    # What the lesson is about, as the daemon did it:
    assert install(second["cache-code-first"]).status == "executed"
    assert install(second["cache-deps-first"]).status == "cached"
    copy_code = [
        s for s in second["cache-deps-first"].real_steps if s.instruction == "COPY main.py ."
    ]
    assert [s.status for s in copy_code] == ["executed"]

    compared = by_id(checks.evaluate(docker_client, history, "cache"))["cache-order-compared"]
    assert compared.true_now and compared.newly_done, compared.detail
    assert "ran pip install again" in compared.detail
    assert "took pip install from the cache" in compared.detail
    print(
        f"code-first rebuild {second['cache-code-first'].seconds:.1f} s, "
        f"deps-first rebuild {second['cache-deps-first'].seconds:.1f} s: {compared.detail}"
    )


@pytest.mark.engines
def test_the_rebuild_check_ticks_after_an_edit_of_main_py(
    docker_client, iris_image, history, prefix, tmp_path
):
    """The lesson's own case: only COPY main.py reruns. BuildKit counts 3 of its 4 cacheable
    steps then, the classic builder 4 of 6; both have everything up to the install cached."""
    copy = tmp_path / "iris"
    shutil.copytree(IRIS.path, copy)
    (copy / "main.py").write_text((copy / "main.py").read_text() + f"\n# edit {prefix}\n")
    tag = f"{prefix}-iris:edited"
    result = builds.build(
        docker_client, copy, dockerfile=IRIS.dockerfile, tag=tag, lab_name=IRIS.name
    )
    try:
        assert result.ok, result.error
        copy_main = next(s for s in result.real_steps if s.instruction == "COPY main.py .")
        assert copy_main.status == "executed"
        assert history.record_build(result, copy / IRIS.dockerfile) is not None
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(tag)
    rebuild = by_id(checks.evaluate(docker_client, history, "cache"))["iris-rebuild-cached"]
    assert rebuild.true_now, rebuild.detail
    assert "every step up to the pip install" in rebuild.detail
