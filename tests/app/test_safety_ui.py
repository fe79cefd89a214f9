"""Issue 5 as the student sees it: each safety scenario driven through the pages on the real daemon.

The engine's side of each scenario is tested in tests/integration/test_safety_*.py; these tests
check what the page shows (and that it never shows a traceback). Every object a test makes has
this run's session id in its name or labels, and clean-ups are scoped to what the test made, so
the tests can run beside others on the shared daemon.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import tomllib
import uuid
from pathlib import Path

import docker
import pytest

from dashboard.engine.base import labels
from dashboard.engine.catalog import labs
from dashboard.ui import common
from dashboard.ui import text as T
from dashboard.ui.leftovers import age
from dashboard.work import workspace
from dashboard.work.jobs import JobKey
from tests.app.helpers import assert_clean, metrics, new_app, open_page, wait_for

pytestmark = pytest.mark.docker

BASE = "python:3.11-slim"
ROOT = Path(__file__).resolve().parents[2]
# Stops at once on SIGTERM, so a clean-up never waits out a grace period.
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]


@pytest.fixture
def uid(session_id) -> str:
    return f"{session_id}-ui-{uuid.uuid4().hex[:6]}".lower()


@pytest.fixture
def made(docker_client):
    """Containers and volumes a test made by hand: removed at the end (force: test objects)."""
    objects: dict[str, list[str]] = {"containers": [], "volumes": []}
    yield objects
    for ref in objects["containers"]:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(ref).remove(force=True)
    for name in objects["volumes"]:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.volumes.get(name).remove(force=True)


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def rebuild_copy(at, what: str):
    at.button(key="rebuild-copy").click().run()
    return wait_for(
        at,
        lambda a: not a.get("progress") and ("Build time" in metrics(a) or a.error or a.warning),
        timeout=300,
        what=what,
    )


# ---------------------------------------------------------------- 1. ownership


def test_clean_up_reports_what_is_in_use_and_never_forces_it(docker_client, app, made, uid):
    """Our volume held by a container that is not ours: reported "in use", both left alone."""
    volume = docker_client.volumes.create(f"vol-{uid}", labels=labels.for_lab("safety-ui"))
    made["volumes"].append(volume.name)
    holder = docker_client.containers.create(
        BASE, ["true"], name=f"holder-{uid}", volumes={volume.name: {"bind": "/data"}}
    )
    made["containers"].append(holder.id)

    at = open_page(app, "sizes.py")
    at.checkbox(key="clean-session-volumes").check().run()  # volumes are not in the default
    at.button(key="clean-session").click().run()
    wait_for(
        at,
        lambda a: any("Clean-up:" in w.value for w in [*a.success, *a.warning]),
        timeout=120,
        what="the clean-up",
    )
    assert not at.exception
    said = texts(at.warning)
    assert "in use (left alone)" in said, said
    table = next(d.value for d in at.dataframe if "outcome" in d.value.columns)
    row = table[table["name"] == volume.name]
    assert list(row["outcome"]) == ["in use"] and "in use" in list(row["why"])[0]
    assert docker_client.volumes.get(volume.name).name == volume.name  # never forced
    assert docker_client.containers.get(holder.id).status == "created"


# ---------------------------------------------------------------- 2. a crashed dashboard


def test_leftovers_of_a_crashed_session_are_offered_and_cleaned(docker_client, made, uid, isolated):
    crashed = f"crashed-{uid}"
    theirs = docker_client.containers.run(
        BASE,
        SLEEPER,
        name=f"left-{uid}",
        labels=labels.for_lab("iris", session=crashed),
        detach=True,
    )
    made["containers"].append(theirs.id)
    volume = docker_client.volumes.create(
        f"left-{uid}", labels=labels.for_lab("wine", session=crashed)
    )
    made["volumes"].append(volume.name)
    stranger = docker_client.containers.create(BASE, SLEEPER, name=f"stranger-{uid}")
    made["containers"].append(stranger.id)

    # The banner, on the first page of a new browser session.
    at = new_app().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any(w.value.startswith("Leftovers from") for w in at.warning), texts(at.warning)
    listed = texts(at.markdown)
    assert f"**Session `{crashed}`**" in listed
    assert f"container `left-{uid}` (lab iris, running, " in listed
    assert f"volume `left-{uid}` (lab wine, " in listed
    assert f"stranger-{uid}" not in listed
    assert f"={crashed} |" not in texts(at.code)  # nothing is picked for the user

    # Dismissed: gone for this browser session, also on other pages.
    dismissed = new_app().run()
    dismissed.button(key="dismiss-leftovers").click().run()
    assert not [w for w in dismissed.warning if w.value.startswith("Leftovers from")]
    dismissed.switch_page("pages/lesson1.py").run()
    assert not [w for w in dismissed.warning if w.value.startswith("Leftovers from")]
    # The dismissal is kept in the data folder (a reload keeps it): forget it, so that the
    # first browser session below offers the crashed session again.
    from dashboard.ui import leftovers

    assert crashed in leftovers.dismissed_sessions()
    leftovers._dismissed_path().unlink()

    # Clean up only the crashed session (others' test runs may have leftovers of their own).
    at.multiselect(key="leftovers-sessions").set_value([crashed]).run()
    code = texts(at.code)
    assert f"--filter label={labels.SESSION}={crashed} | xargs -r docker stop" in code
    at.button(key="clean-leftovers").click().run()
    wait_for(
        at,
        lambda a: any(s.value.startswith("Leftovers: 2 removed") for s in a.success),
        timeout=60,
        what="the leftovers to be removed",
    )
    assert not at.exception
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(theirs.id)
    with pytest.raises(docker.errors.NotFound):
        docker_client.volumes.get(volume.name)
    assert docker_client.containers.get(stranger.id).status == "created"  # not ours: untouched
    assert f"**Session `{crashed}`**" not in texts(at.markdown)


def test_ages_read_docker_times():
    from datetime import UTC, datetime

    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert age(int(datetime(2026, 11, 29, 9, 0, tzinfo=UTC).timestamp()), now) == "3 h old"
    assert age("2026-11-27T11:00:00.123456789Z", now) == "2 d old"
    assert age("", now) == ""


# ---------------------------------------------------------------- 3. the daemon goes away


def private_daemon(monkeypatch, disk_mb: int | None = None):
    """A second dockerd (tests/fault_daemon.py) that DOCKER_HOST points at; closed at the end."""
    from tests import fault_daemon

    reason = fault_daemon.unavailable_reason()
    if reason:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason)
        pytest.skip(reason)
    daemon = fault_daemon.FaultDaemon(disk_mb=disk_mb)
    try:
        daemon.start()
        monkeypatch.setenv("DOCKER_HOST", daemon.host)
        yield daemon
    finally:
        daemon.close()


@pytest.fixture
def fault(docker_client, isolated, monkeypatch):
    yield from private_daemon(monkeypatch)


@pytest.fixture
def small_disk(docker_client, isolated, monkeypatch):
    """A private daemon whose data root is a 640 MB tmpfs, with the base image loaded."""
    for daemon in private_daemon(monkeypatch, disk_mb=640):
        daemon.load_image(docker_client, BASE)
        yield daemon


def test_daemon_gone_mid_session_fails_the_job_and_offers_retry(fault, app):
    at = open_page(app, "lesson1.py")
    assert not at.exception
    assert at.title[0].value == T.TITLE_LESSON1
    fault.kill()  # Docker stops while the page is open

    at.button(key="build-iris").click().run()
    wait_for(
        at,
        lambda a: any(common.DOCKER_STOPPED in e.value for e in a.error),
        timeout=60,
        what="the build job to fail",
    )
    error = next(e.value for e in at.error if common.DOCKER_STOPPED in e.value)
    assert f"{fault.host} refused the connection" in error, error
    assert at.button(key="retry-build-iris").label == T.RETRY

    # Retry while it is still down: the page says Docker is not reachable, and how to fix it.
    at.button(key="retry-build-iris").click().run()
    assert not at.exception
    assert at.title[0].value == T.TITLE_DOWN

    fault.start()
    at.button(key="retry-daemon").click().run()
    assert not at.exception
    assert at.title[0].value == T.TITLE_LESSON1


def test_daemon_killed_mid_build_marks_the_build_failed(fault, docker_client, app):
    fault.load_image(docker_client, BASE)  # the private daemon starts empty
    at = open_page(app, "cache.py")
    # Stops at once on SIGTERM, so the daemon's shutdown does not wait out a grace period.
    workspace.write(
        "iris",
        "Dockerfile",
        f"FROM {BASE}\nRUN trap 'exit 1' TERM; echo started; sleep 60 & wait\n",
    )
    at.button(key="rebuild-copy").click().run()
    wait_for(
        at,
        lambda a: any(c.value.endswith("started") for c in a.code),
        timeout=120,
        what="the RUN step to start",
    )
    fault.kill()
    wait_for(at, lambda a: not a.get("progress"), timeout=60, what="the build to end")
    assert not at.exception
    error = texts(at.error)
    assert error.startswith(common.DOCKER_STOPPED), error
    assert "The build stopped at step 2" in error and "Lost the connection" in error
    assert at.button(key="retry-build-iris-working-copy").label == T.RETRY
    steps = next(d.value for d in at.dataframe if "Result" in d.value.columns)
    assert list(steps["Result"])[-1] == "failed"


# ---------------------------------------------------------------- 4. a failing build step


def test_a_failing_step_shows_its_output_and_the_tag_keeps_its_image(
    docker_client, app, working_tag, expected_builder
):
    buildkit = expected_builder == "buildkit"
    at = open_page(app, "cache.py")
    rebuild_copy(at, "the first build of the copy")
    assert_clean(at)
    before = docker_client.images.get(working_tag).id

    dockerfile = workspace.read("iris", "Dockerfile")
    workspace.write("iris", "Dockerfile", dockerfile + 'RUN echo "about to fail" && exit 3\n')
    rebuild_copy(at, "the failing build")
    assert not at.exception
    error = texts(at.error)
    # BuildKit's [6/6] (ENV and CMD are no steps there); the classic builder's Step 8/8.
    step = 6 if buildkit else 8
    assert f'The build failed at step {step}: `RUN echo "about to fail" && exit 3`' in error, error
    assert ("exit code: 3" if buildkit else "returned a non-zero code: 3") in error
    assert "about to fail" in texts(at.code)  # the step's last output lines
    kept = texts(at.info)
    assert f"`{working_tag}` still names the previous image `{before[7:19]}`" in kept, kept
    assert docker_client.images.get(working_tag).id == before

    # A Dockerfile Docker cannot parse: refused at once, with Docker's words, tag kept too.
    workspace.write("iris", "Dockerfile", "FROM python:3.11-slim\nRUNN echo typo\n")
    rebuild_copy(at, "the unparsable build")
    assert not at.exception
    assert "unknown instruction: RUNN" in texts(at.error), texts(at.error)
    assert f"still names the previous image `{before[7:19]}`" in texts(at.info)
    assert docker_client.images.get(working_tag).id == before


# ---------------------------------------------------------------- 5. invalid input


def test_invalid_names_and_commands_are_refused_before_any_call(app, new_containers):
    at = open_page(app, "lesson1.py")
    at.text_input(key="detach-name").input("my shell!").run()
    assert not at.exception
    assert "'my shell!' is not a valid container name" in texts(at.error)
    assert at.button(key="start-detached").disabled
    # No command for a bad name (the Makefile shown below has its own `--name $(NAME)`).
    assert not any("my shell" in c.value for c in at.code)

    at.text_input(key="detach-name").input("ok-name").run()
    at.text_input(key="detach-cmd").input("sh -c 'unclosed").run()
    assert not at.exception
    assert "cannot be split into words: No closing quotation" in texts(at.error)
    assert at.button(key="start-detached").disabled
    # The rest of the page still renders (an exception would have cut it off here): down to
    # its last section, the Makefile's command.
    assert any(c.value.startswith("cd ") and "\nmake IMAGE=" in c.value for c in at.code)

    at.text_input(key="detach-cmd").input("/bin/bash").run()
    assert_clean(at)
    assert not at.button(key="start-detached").disabled
    assert new_containers() == []


# ---------------------------------------------------------------- 6. a container that never exits


@pytest.fixture
def sleeper(docker_client, uid):
    """An image whose container never finishes on its own (`sleep 600`), labelled as ours."""
    tag = f"safety-sleeper-{uid}:1"
    docker_client.images.build(
        fileobj=io.BytesIO(f'FROM {BASE}\nCMD ["sleep", "600"]\n'.encode()),
        tag=tag,
        labels=labels.for_lab("iris"),
        rm=True,
    )
    yield tag
    with contextlib.suppress(docker.errors.APIError):
        docker_client.images.remove(tag, force=True)


def test_a_run_past_the_time_limit_says_timed_out(
    docker_client, app, monkeypatch, new_containers, sleeper
):
    iris = labs.get("iris")
    # Lesson 1's run button on a container that never exits, with the lab's limit cut to 1 s
    # (python main.py itself can finish in under a second on a warm machine).
    monkeypatch.setitem(labs.LABS, "iris", dataclasses.replace(iris, run_timeout=1, image=sleeper))
    at = open_page(app, "lesson1.py")
    at.button(key="run-iris").click().run()
    wait_for(at, lambda a: "Exit code" in metrics(a), timeout=120, what="the run to be stopped")
    assert not at.exception
    said = texts(at.warning)
    assert "Timed out after 1 s" in said and "SIGKILL" in said, said
    assert "memory" not in said.lower()  # not OOMKilled: never called out of memory
    (container,) = new_containers()
    assert container.attrs["State"]["OOMKilled"] is False


# ---------------------------------------------------------------- 7. a log flood


def test_an_exec_flood_shows_a_bounded_tail(docker_client, app, new_containers, uid):
    name = f"flood-{uid}"
    at = open_page(app, "lesson1.py")
    at.text_input(key="detach-name").input(name).run()
    at.button(key="start-detached").click().run()
    wait_for(
        at,
        lambda a: any(f"Container {name} is running" in s.value for s in a.success),
        timeout=60,
        what="the detached container",
    )
    at.selectbox(key="exec-container").set_value(name).run()
    at.text_input(key="exec-cmd").input('python -c "for i in range(50000): print(i)"').run()
    at.button(key="run-exec").click().run()
    wait_for(
        at, lambda a: any("exited with code 0" in s.value for s in a.success), 120, "the flood"
    )
    assert_clean(at)
    assert any(c.value == "The last 400 of 50,000 lines." for c in at.caption)
    shown = next(c.value for c in at.code if c.value.endswith("49999")).split("\n")
    assert (len(shown), shown[0]) == (400, "49600")
    docker_client.containers.get(name).stop(timeout=1)


# ---------------------------------------------------------------- 8. two sessions, one build


def test_two_sessions_share_one_build_of_the_same_lab(
    docker_client, working_tag, uid, expected_builder
):
    from dashboard.ui import state

    # A build that takes a few seconds and never comes from the cache (the echo is new).
    workspace.write("iris", "Dockerfile", f'FROM {BASE}\nRUN echo {uid} && sleep 4\nCMD ["true"]\n')
    first = open_page(new_app(), "cache.py")
    second = open_page(new_app(), "cache.py")
    first.button(key="rebuild-copy").click().run()
    job = state.registry().get(JobKey("build", "iris-working-copy"))
    assert job is not None and not job.done

    second.run()  # the other session sees the build in progress, without clicking
    assert second.get("progress"), "the second session does not see the running build"
    second.button(key="rebuild-copy").click().run()
    assert any(f"Already running: build {working_tag}" in t.value for t in second.toast)
    assert (
        state.registry().get(JobKey("build", "iris-working-copy")) is job
    )  # joined, not restarted

    for at in (first, second):
        wait_for(at, lambda a: "Build time" in metrics(a), timeout=120, what="the shared build")
        assert_clean(at)
        # The RUN, and on the classic builder the CMD after it (no step for BuildKit).
        ran = "1" if expected_builder == "buildkit" else "2"
        assert metrics(at)["Steps executed"] == ran


# ---------------------------------------------------------------- 9. image gone, name taken


def test_an_image_deleted_from_a_terminal_says_gone_and_builds_again(
    docker_client, app, working_tag
):
    at = open_page(app, "cache.py")
    rebuild_copy(at, "the build")
    assert_clean(at)
    docker_client.images.remove(working_tag)  # `docker rmi` in a terminal

    at.button(key="refresh-status").click().run()
    assert not at.exception
    assert any(w.value.startswith(f"Image gone: `{working_tag}`") for w in at.warning)
    assert at.button(key="build-again-build-iris-working-copy").label == T.BUILD_AGAIN
    at.button(key="build-again-build-iris-working-copy").click().run()
    wait_for(
        at,
        lambda a: (
            "Build time" in metrics(a) and not any("Image gone" in w.value for w in a.warning)
        ),
        timeout=300,
        what="the build again",
    )
    assert_clean(at)
    assert docker_client.images.get(working_tag).labels[labels.LAB] == "iris"


def test_a_name_held_by_a_container_not_ours_is_left_alone(docker_client, app, made, uid):
    name = f"taken-{uid}"
    stranger = docker_client.containers.create(BASE, SLEEPER, name=name)
    made["containers"].append(stranger.id)
    at = open_page(app, "lesson1.py")
    at.text_input(key="detach-name").input(name).run()
    at.button(key="start-detached").click().run()
    wait_for(at, lambda a: bool(a.error), timeout=60, what="the refusal")
    assert not at.exception
    said = texts(at.error)
    assert f"Container {name} was not made by the dashboard" in said, said
    assert "leaves it alone" in said
    again = docker_client.containers.get(name)
    assert again.id == stranger.id and again.status == "created"


# ---------------------------------------------------------------- 10. disk full


def test_a_full_docker_disk_is_named_with_its_fix(small_disk, app):
    free_mb = small_disk.disk_free_bytes() >> 20
    at = open_page(app, "cache.py")
    workspace.write(
        "iris", "Dockerfile", f"FROM {BASE}\nRUN head -c {free_mb + 40}m /dev/zero > /big\n"
    )
    rebuild_copy(at, "the build on a full disk")
    assert not at.exception
    error = texts(at.error)
    assert "The build failed at step 2" in error and "The Docker disk is full:" in error, error
    assert "no space left on device" in error.lower()
    assert "python -m dashboard reset" in error and "docker system df" in error
    assert common.DOCKER_STOPPED not in error  # a full disk is not a daemon that went away


# ---------------------------------------------------------------- 11. network exposure


def test_the_shipped_config_listens_on_loopback_only():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["address"] == "127.0.0.1"
    assert server["enableXsrfProtection"] is True and server["enableCORS"] is True
    assert config["client"]["showErrorDetails"] == "none"
