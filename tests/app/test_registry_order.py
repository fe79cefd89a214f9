"""Issue 24, items 4 and 8 on the registry page: the lesson's order (the 2.0 push waits for the
1.0 push, or "Layer already exists" is lost), the jargon behind a "Why?", and no panel that
still says the registry answers after "Stop the registry"."""

from __future__ import annotations

import pytest

from dashboard.engine.ops import registry
from tests.app.helpers import assert_clean, open_page, wait_for
from tests.lab_images import iris_image, untag_pushed

pytestmark = pytest.mark.docker


@pytest.fixture
def fresh_registry(docker_client):
    """No registry before the test (else it is skipped: another run's); none after it."""
    before = registry.state(docker_client)
    if before.exists:
        pytest.skip("a registry container exists already: this test starts and stops its own")
    yield
    registry.down(docker_client, volume=not before.volume)
    untag_pushed(docker_client)


def _texts(at) -> str:
    parts = [s.value for s in at.success] + [m.value for m in at.markdown]
    return " ".join(parts + [i.value for i in at.info] + [c.value for c in at.caption])


def _pushed(at) -> int:
    return sum(1 for m in at.metric if m.label == "Pushed")


def _start(at):
    at.button(key="registry-up").click().run()
    return wait_for(at, lambda a: "answers on http://" in _texts(a), 300, "the registry")


def test_the_second_push_waits_for_the_first_and_the_jargon_is_behind_why(
    docker_client, app, fresh_registry
):
    iris_image(docker_client)
    at = _start(open_page(app, "registry.py"))
    assert_clean(at)
    # Before the 1.0 push, the 2.0 push is not offered, and the page says why.
    assert at.button(key="registry-push-2").disabled
    assert "Push iris-model:1.0 above first" in _texts(at)

    at.button(key="registry-push-1").click().run()
    assert at.get("progress"), "the 1.0 push (444 MB to an empty registry) runs for seconds"
    # While the 1.0 push runs, an early click on the 2.0 push is impossible.
    assert at.button(key="registry-push-2").disabled
    assert "Wait until the iris-model:1.0 push above is done" in _texts(at)
    wait_for(at, lambda a: _pushed(a) >= 1, 300, "the first push")
    assert_clean(at)
    assert not at.button(key="registry-push-2").disabled

    # The push's jargon sits behind a "Why?", not in the plain text.
    why = [e for e in at.expander if e.label.startswith("Why?")]
    hidden = " ".join(c.value for e in why for c in e.caption)
    assert "graph-driver daemon (overlay2)" in hidden
    outside = [c.value for c in at.caption if "graph-driver" in c.value]
    assert len(outside) == sum(1 for e in why for c in e.caption if "graph-driver" in c.value)


def test_after_stop_no_panel_says_the_registry_answers(docker_client, app, fresh_registry):
    at = _start(open_page(app, "registry.py"))
    at.button(key="registry-down").click().run()
    wait_for(at, lambda a: "Removed container dashboard-registry" in _texts(a), 120, "the stop")
    at.run()  # the page as drawn after the stop, every panel from the same moment
    assert_clean(at)
    said = _texts(at)
    assert "answers on http://" not in " ".join(s.value for s in at.success), said
    assert "runs on 127.0.0.1:5000 yet" not in said  # it ran: "yet" contradicts the start
    assert "does not run now" in said
    assert not registry.state(docker_client).running
