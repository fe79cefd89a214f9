"""A build whose `pip install` finds nothing in the offline wheelhouse says so on the page."""

from __future__ import annotations

import uuid

import pytest

from dashboard.engine.offline import offline
from dashboard.work import workspace
from tests.app.helpers import assert_clean, open_page
from tests.app.test_safety_ui import rebuild_copy, texts

pytestmark = pytest.mark.docker


def test_a_package_the_wheelhouse_lacks_is_named_with_its_index_and_fix(
    docker_client, app, working_tag
):
    if not offline.is_offline(docker_client):
        pytest.skip("the base image is the real one: pip would ask PyPI, not the wheelhouse")
    at = open_page(app, "cache.py")
    assert_clean(at)
    wanted = f"dashboard-no-such-package-{uuid.uuid4().hex[:6]}==1.2"
    dockerfile = workspace.read("iris", "Dockerfile")
    workspace.write("iris", "Dockerfile", dockerfile + f"RUN pip install {wanted}\n")
    rebuild_copy(at, "the build that pip fails")
    assert not at.exception
    error = texts(at.error)
    assert "The build failed at step" in error and f"`RUN pip install {wanted}`" in error, error
    assert (
        f"pip found no distribution of `{wanted}` in the offline wheelhouse at "
        f"{offline.wheelhouse_url()} (versions there: none)"
    ) in error
    assert f"add `{wanted}` to a requirements file under labs/" in error
