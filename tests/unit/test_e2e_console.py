"""The e2e harness's reading of Chromium's console: a script chunk lost to a network change
(Docker adding a container's veth) is the machine's doing; any other failed import is an error."""

from tests.e2e.browser import lost_to_network_change

CHUNK = "http://127.0.0.1:8501/static/js/Metric.MSVuxtnf.js"


def test_a_chunk_whose_load_a_network_change_aborted_is_a_flake():
    text = f"TypeError: Failed to fetch dynamically imported module: {CHUNK}"
    assert lost_to_network_change(text, {CHUNK})


def test_a_chunk_that_failed_otherwise_is_an_error():
    text = f"TypeError: Failed to fetch dynamically imported module: {CHUNK}"
    assert not lost_to_network_change(text, set())
    assert not lost_to_network_change(text, {CHUNK.replace("Metric", "Table")})
    assert not lost_to_network_change("TypeError: x is undefined", {CHUNK})
