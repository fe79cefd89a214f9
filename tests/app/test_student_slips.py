"""What a new student met (issue 24), each clicked as the student clicks it, on the real daemon.

A classroom student of this test run gives each test a clean slate on a shared daemon: their own
image names (`NAME/iris-model:1.0`), containers and progress, whatever other work the daemon
holds, and the test removes what the student made at the end.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

import docker
import pytest

from dashboard.engine.base import owner
from dashboard.engine.base.docker_text import parse_docker_time
from dashboard.engine.catalog import labs
from dashboard.engine.ops import cleanup
from dashboard.ui import guide
from dashboard.ui import text as T
from tests.app.helpers import assert_clean, metrics, new_app, succeeded, wait_for

pytestmark = pytest.mark.docker


@pytest.fixture
def student(isolated, monkeypatch, session_id, docker_client):
    """A classroom student of this test run; whatever they made is removed at the end."""
    monkeypatch.setenv("DASHBOARD_CLASSROOM", "1")
    name = f"slip-{session_id.lower().removeprefix('test-')}"
    yield name
    cleanup.reset(docker_client, student=name)


def sign_in(name: str, page: str):
    at = new_app()
    at.run()
    at.text_input[0].input(name)
    at.button(key="FormSubmitter:student-form-Start").click().run()
    assert_clean(at)
    return at.switch_page(f"pages/{page}").run()


def image_of(name: str, lab: str = "iris") -> str:
    return labs.scoped(labs.LABS[lab], owner.for_student(name)).image


def check_line(at, title_part: str) -> tuple[bool, str, str]:
    """(ticked, the line, its caption) of the progress check whose title holds `title_part`."""
    markdowns = [m.value for m in at.markdown]
    for line in markdowns:
        if title_part in line and (line.startswith(guide.DONE) or line.startswith(guide.TODO)):
            # the caption right after the line, in the same expander
            for expander in at.expander:
                if not expander.label.startswith("Your progress"):
                    continue
                values = [e.value for e in expander.children.values() if hasattr(e, "value")]
                if line in values:
                    i = values.index(line)
                    caption = values[i + 1] if i + 1 < len(values) else ""
                    return line.startswith(guide.DONE), line, caption
            return line.startswith(guide.DONE), line, ""
    raise AssertionError(f"no check {title_part!r} on the page: {markdowns[:8]}")


def flat(block) -> list:
    """The page's elements in the order the student sees them."""
    out = []
    for child in block.children.values():
        out.append(child)
        if hasattr(child, "children") and child.type not in ("markdown", "button"):
            out += flat(child)
    return out


def built(at) -> bool:
    """The page's build finished (section 1's report, not section 2's existing image)."""
    return "Build time" in metrics(at) and not at.get("progress")


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


# ---------------------------------------------------------------- item 1


def test_the_compare_button_ticks_the_layer_order_check(app, docker_client, session_id):
    """The cache page's own button, not the CLI: its builds are recorded under the labs the
    check reads, so "Compare the two layer orders" ticks, and the progress says 2 of 2 once the
    iris rebuild is done too."""
    from dashboard.work import workspace

    at = app
    at.run()
    at.switch_page("pages/cache.py").run()
    assert_clean(at)
    ticked, _, caption = check_line(at, "Compare the two layer orders")
    assert not ticked
    try:
        at.button(key="compare-orders").click().run()
        wait_for(
            at,
            lambda a: succeeded(a, "then rebuilt both images") or bool(a.error),
            timeout=900,
            what="the cache-order comparison",
        )
        assert_clean(at)
        at.run()
        ticked, line, caption = check_line(at, "Compare the two layer orders")
        assert ticked, (line, caption)
        assert "Code-first build #" in caption and "ran pip install again" in caption
        assert "deps-first build #" in caption and "from the cache" in caption
        # done at the time of the builds, not of the page
        assert "(done " in line
    finally:
        for dockerfile in ("Dockerfile.code-first", "Dockerfile.deps-first"):
            tag = workspace.working_tag("cache-order", dockerfile)
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_client.images.remove(tag, force=True)


# ---------------------------------------------------------------- item 2 (and 10: sizes default)


def test_an_image_built_elsewhere_ticks_nothing_until_built_here(docker_client, student):
    """An image of the lesson's name that the dashboard did not build: the check says what it
    saw (it exists, when it was built, not by this dashboard), the build panel agrees, and only
    the page's own build ticks it, done at the image's creation time."""
    base = docker_client.images.get("python:3.11-slim")
    ref = image_of(student)
    repo, tag = ref.rsplit(":", 1)
    base.tag(repo, tag)  # "somebody else's" iris-model:1.0
    at = sign_in(student, "lesson1.py")
    assert_clean(at)
    ticked, line, caption = check_line(at, "Build the image")
    assert not ticked, line
    assert "not by this dashboard" in caption and "build it here" in caption
    panel = captions(at)
    assert "outside this dashboard" in panel, panel
    assert "Not built from this dashboard yet" not in panel

    # The button says what it builds: the student's own name.
    assert at.button(key="build-iris").label == f"Build {ref}"
    at.button(key="build-iris").click().run()
    wait_for(at, built, timeout=900, what="the build")
    assert_clean(at)
    at.run()
    ticked, line, caption = check_line(at, "Build the image")
    assert ticked, (line, caption)
    assert "by this dashboard" in caption and "not by" not in caption
    created = parse_docker_time(docker_client.api.inspect_image(ref)["Created"])
    assert f"(done {created.astimezone():%d %b %H:%M})" in line

    # Sizes and clean-up: the analysis starts on the lesson's image, not a registry copy of it.
    docker_client.images.get(ref).tag(f"127.0.0.1:5000/{repo}", tag)
    try:
        at.switch_page("pages/sizes.py").run()
        assert_clean(at)
        assert at.selectbox(key="analyse-ref").value == ref
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(f"127.0.0.1:5000/{ref}")


# ---------------------------------------------------------------- items 4 and 5


def test_the_detached_container_panel_follows_it_and_a_taken_name_has_a_working_fix(
    docker_client, student
):
    at = sign_in(student, "lesson1.py")
    at.button(key="build-iris").click().run()
    wait_for(at, built, timeout=900, what="the build")
    name = "shell-" + student[-6:]

    def start(command: str):
        at.text_input(key="detach-name").input(name).run()
        at.text_input(key="detach-cmd").input(command).run()
        at.button(key="start-detached").click().run()

    def shown(text: str):
        return lambda a: any(text in e.value for e in (*a.success, *a.info, *a.error))

    # A container whose command ends: the panel says it exited, as the table does.
    start("sleep 2")
    wait_for(at, shown(f"Container {name} is running"), 60, "the container to run")
    wait_for(at, shown("it has since exited (exit code 0)"), 60, "the panel to see it exit")
    assert not any(f"Container {name} is running" in s.value for s in at.success)

    # The name is taken by that (stopped) container: refused beside the button, with the fix.
    start("/bin/bash")
    wait_for(at, lambda a: bool(a.error), 60, "the refusal")
    (error,) = [e.value for e in at.error]
    assert f"The name {name} is already used" in error and f"`docker rm {name}`" in error
    elements = flat(at.main)
    kinds = [
        (getattr(e, "type", ""), getattr(e, "key", None), getattr(e, "value", "")) for e in elements
    ]
    button_at = next(i for i, k in enumerate(kinds) if k[1] == "start-detached")
    error_at = next(i for i, k in enumerate(kinds) if k[0] == "error" and name in str(k[2]))
    shell_at = next(i for i, k in enumerate(kinds) if "A shell inside" in str(k[2]))
    assert button_at < error_at < shell_at, "the error is not next to its button"
    at.button(key="detach-fix").click().run()
    wait_for(at, shown(f"The name {name} is free now"), 60, "the fix")

    # Running under that name: the fix offered is `docker rm -f`, and it works.
    start("/bin/bash")
    wait_for(at, shown(f"Container {name} is running"), 60, "the shell container")
    start("/bin/bash")
    wait_for(at, lambda a: bool(a.error), 60, "the second refusal")
    (error,) = [e.value for e in at.error]
    assert "still running" in error and f"`docker rm -f {name}`" in error
    at.button(key="detach-fix").click().run()
    wait_for(at, shown(f"The name {name} is free now"), 60, "the forced fix")
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(name)

    # With every container removed, the list says none are left (not "yet").
    for container in docker_client.containers.list(
        all=True, filters={"label": [f"io.dockerml.dashboard.student={student}"]}
    ):
        container.remove(force=True)
    at.button(key="refresh-containers").click().run() if any(
        b.key == "refresh-containers" for b in at.button
    ) else at.run()
    wait_for(at, lambda a: "None left" in captions(a), 30, "the empty list")
    assert "No containers of this lab yet" not in captions(at)


def test_a_refused_rmi_offers_the_fix_and_does_not_go_stale(docker_client, student):
    """Cache page, section 3: `docker rmi` refused while a container uses the image: the
    refusal names it (in plain grammar), a button removes it, and the panel then says the
    containers are gone instead of repeating the refusal."""
    at = sign_in(student, "lesson1.py")
    at.button(key="build-iris").click().run()
    wait_for(at, built, timeout=900, what="the build")
    at.button(key="run-iris").click().run()
    wait_for(at, lambda a: "Predicted class" in metrics(a), 300, "the run")
    at.switch_page("pages/cache.py").run()
    at.button(key="rmi-rebuild").click().run()
    wait_for(at, lambda a: bool(a.error), 120, "the refusal")
    (error,) = [e.value for e in at.error]
    assert "still uses the image" in error
    at.button(key="rmi-fix").click().run()
    wait_for(
        at,
        lambda a: any("none of them is left now" in i.value for i in a.info),
        60,
        "the refusal to be said as past",
    )
    assert not at.error
    assert docker_client.images.get(image_of(student))  # nothing but the container went


# ---------------------------------------------------------------- item 6


def test_the_first_rebuild_of_a_copy_names_the_edit_and_no_cache_says_no_cache(
    app, docker_client, working_tag
):
    from dashboard.engine.ops import builds

    assert builds.build_lab(docker_client, labs.get("iris")).ok  # lesson 1's build of the lab
    at = app
    at.run()
    at.switch_page("pages/cache.py").run()
    at.button(key="append-comment").click().run()
    assert "(1 dashboard comment)" in " ".join(m.value for m in at.markdown)
    at.button(key="rebuild-copy").click().run()
    wait_for(at, lambda a: "Build time" in metrics(a) and not a.get("progress"), 600, "rebuild")
    why = " ".join(i.value for i in at.info)
    assert "no earlier build of this lab was recorded" not in why
    assert "files it copies changed since the last build: main.py" in why

    at.button(key="rebuild-from-zero").click().run()
    wait_for(
        at,
        lambda a: "Rebuild from zero" in metrics(a) and not a.get("progress"),
        900,
        "the --no-cache build",
    )
    frames = [f.value for f in at.dataframe if "Why it ran" in f.value.columns]
    reasons = {r for r in frames[-1]["Why it ran"] if r}
    assert reasons == {builds.NOCACHE_REASON}, reasons


# ---------------------------------------------------------------- item 10, 11


def test_the_ci_page_lists_every_step_it_draws(app):
    from dashboard.ui import diagrams

    at = app
    at.run()
    at.switch_page("pages/cicd.py").run()
    assert_clean(at)
    from dashboard.engine.base.paths import REPO_ROOT

    script = diagrams.read_ci_script(REPO_ROOT / ".ci" / "run")
    steps = [s for s in diagrams.ci_steps(script) if s != "done"]
    listed = next(m.value for m in at.markdown if "Each step of `.ci/run`" in m.value)
    assert [line.split(". ", 1)[0] for line in listed.splitlines()[1:]] == [
        str(i) for i in range(1, len(steps) + 1)
    ]
    for name in steps:
        assert f"**{name}**" in listed


def test_dismissed_leftovers_stay_dismissed_after_a_reload(app, docker_client, monkeypatch):
    from dashboard.engine.base import labels

    old = "test-old-" + datetime.now().strftime("%H%M%S%f")
    container = docker_client.containers.create(
        "python:3.11-slim",
        ["true"],
        labels={labels.MANAGED: "true", labels.LAB: "iris", labels.SESSION: old},
    )
    try:
        at = app
        at.run()
        banner = " ".join(w.value for w in at.warning)
        assert "Leftovers from" in banner
        assert any(old in m.value for m in at.markdown)

        # Presentation mode: no banner at the top of the shared screen.
        at.sidebar.toggle(key="presentation").set_value(True).run()
        assert not any("Leftovers from" in w.value for w in at.warning)
        at.sidebar.toggle(key="presentation").set_value(False).run()
        assert any("Leftovers from" in w.value for w in at.warning)

        at.button(key="dismiss-leftovers").click().run()
        reloaded = new_app()  # a reload: a new browser session
        reloaded.run()
        assert not any(old in m.value for m in reloaded.markdown)
    finally:
        container.remove(force=True)


def test_the_history_diff_compares_two_builds_of_one_lab(app):
    """With builds of several labs, the diff starts on the newest build and the one before it
    of the same lab and Dockerfile, not on two different labs' Dockerfiles."""
    import dataclasses

    from dashboard.engine.progress.history import History, default_path
    from tests.unit.test_history import recorded_build

    def build(lab: str, path: str, text: str):
        return dataclasses.replace(recorded_build("iris-cold", lab=lab), dockerfile_text=text)

    with History.open(default_path()) as h:
        for lab, path, text in (
            ("iris", "labs/iris/Dockerfile", "FROM a\nRUN y\n"),
            ("wine-trainer", "labs/wine/train/Dockerfile", "FROM b\n"),
            ("wine-predictor", "labs/wine/predict/Dockerfile", "FROM c\n"),
            ("iris", "labs/iris/Dockerfile", "FROM a\nRUN z\n"),
            ("wine-trainer", "labs/wine/train/Dockerfile", "FROM b\n"),
            ("wine-predictor", "labs/wine/predict/Dockerfile", "FROM d\n"),
        ):
            h.record_build(build(lab, path, text), path, dockerfile_text=text)
    at = app
    at.run()
    at.switch_page("pages/history.py").run()
    assert_clean(at)
    older, newer = at.selectbox(key="diff-a").value, at.selectbox(key="diff-b").value
    assert "wine-predictor" in older and "wine-predictor" in newer and older != newer
    diff = next(c.value for c in at.code if c.language == "diff")
    assert "-FROM c" in diff and "+FROM d" in diff


def test_the_run_button_says_the_students_image(student):
    at = sign_in(student, "lesson1.py")
    assert at.button(key="run-iris").label == T.run_label(image_of(student))
