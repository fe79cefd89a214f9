"""The registry lesson through its page: start the registry, push 1.0 and 2.0, read the
registry, docker rmi, docker pull, docker run (setosa), stop the registry."""

from __future__ import annotations

import pytest

from dashboard.engine.ops import registry
from dashboard.ui import text as T
from tests.app.helpers import assert_clean, open_page, wait_for
from tests.lab_images import iris_image, untag_pushed

pytestmark = pytest.mark.docker


@pytest.fixture
def fresh_state(docker_client):
    """What the registry was before; the test leaves it so (with its volume when it made it)."""
    before = registry.state(docker_client)
    yield before
    if not before.exists:
        registry.down(docker_client, volume=not before.volume)
        untag_pushed(docker_client)


def _texts(at) -> str:
    parts = [s.value for s in at.success] + [m.value for m in at.markdown]
    return " ".join(parts + [i.value for i in at.info] + [c.value for c in at.caption])


def _metric_values(at, label: str) -> list[str]:
    return [m.value for m in at.metric if m.label == label]


def test_the_registry_page_pushes_pulls_and_runs(docker_client, app, fresh_state, new_containers):
    iris_image(docker_client)
    at = open_page(app, "registry.py")
    assert_clean(at)
    assert [t.value for t in at.title] == [T.TITLE_REGISTRY]
    commands = " ".join(c.value for c in at.code)
    assert "docker run -d --name dashboard-registry -p 127.0.0.1:5000:5000" in commands
    assert "docker push 127.0.0.1:5000/iris-model:1.0" in commands
    assert "curl -s http://127.0.0.1:5000/v2/_catalog" in commands

    at.button(key="registry-up").click().run()
    wait_for(at, lambda a: "answers on http://127.0.0.1:5000/v2/" in _texts(a), 300, "the registry")
    assert_clean(at)

    at.button(key="registry-push-1").click().run()
    wait_for(at, lambda a: len(_metric_values(a, "Pushed")) >= 1, 300, "the first push")
    at.button(key="registry-push-2").click().run()
    wait_for(at, lambda a: len(_metric_values(a, "Pushed")) >= 2, 600, "the second push")
    assert_clean(at)
    already = _metric_values(at, "Layer already exists")
    assert int(already[1]) >= 1, already  # the second image's base layers
    assert "Layer already exists" in _texts(at)

    at.button(key="registry-read").click().run()
    wait_for(at, lambda a: _metric_values(a, "Layers in the manifest"), 120, "the manifest")
    assert_clean(at)
    manifest = _metric_values(at, "Layers in the manifest")[0]
    assert manifest == _metric_values(at, "RootFS.Layers")[0]
    assert manifest == _metric_values(at, "Layers in `docker history`")[0]
    assert "diff id" in _texts(at) and "A **tag**" in _texts(at)

    at.button(key="registry-rmi").click().run()
    wait_for(at, lambda a: "127.0.0.1:5000/iris-model:1.0 removed" in _texts(a), 60, "rmi")
    at.button(key="registry-pull").click().run()
    wait_for(at, lambda a: "Pulled 127.0.0.1:5000/iris-model:1.0" in _texts(a), 300, "pull")
    at.button(key="registry-run").click().run()
    wait_for(at, lambda a: _metric_values(a, "Predicted class"), 300, "the run")
    assert_clean(at)
    assert _metric_values(at, "Predicted class") == ["setosa"]
