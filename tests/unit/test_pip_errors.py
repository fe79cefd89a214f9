"""pip's "no matching distribution", read from real pip output and said as a sentence.

The texts below are what pip printed on this machine: pip 23.0.1 in the stand-in
python:3.11-slim (its /etc/pip.conf: no-index, find-links http://127.0.0.1:3141/) and pip 26.3
on the host. BuildKit's plain progress prefixes each line with the step and the seconds.
"""

from __future__ import annotations

from dashboard.engine.analysis import pip_errors
from dashboard.engine.ops import builds

STANDIN_NONE = """\
Looking in links: http://127.0.0.1:3141/
ERROR: Could not find a version that satisfies the requirement nosuch==1.2 (from versions: none)
ERROR: No matching distribution found for nosuch==1.2""".splitlines()

STANDIN_OTHER_VERSION = """\
Looking in links: http://127.0.0.1:3141/
ERROR: Could not find a version that satisfies the requirement requests>=99 (from versions: 2.34.2)
ERROR: No matching distribution found for requests>=99""".splitlines()

# A server with the streamlit wheel only: pip fails on the first package it pulls in.
STANDIN_DEPENDENCY = """\
Looking in links: http://127.0.0.1:3199/
Collecting streamlit==1.67.0
  Downloading http://127.0.0.1:3199/streamlit-1.67.0-py3-none-any.whl (11.2 MB)
     ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 11.2/11.2 MB 497.2 MB/s eta 0:00:00
ERROR: Could not find a version that satisfies the requirement altair!=5.4.0,!=5.4.1,<7,>=5.0.0 \
(from streamlit) (from versions: none)
ERROR: No matching distribution found for altair!=5.4.0,!=5.4.1,<7,>=5.0.0""".splitlines()

# pip 26.3 on the host with an --index-url nobody answers (127.0.0.1:9 there; written as another
# host here, since a loopback index reads as the offline wheelhouse) besides the machine's own.
HOST_UNREACHABLE = """\
Looking in indexes: http://pypi.example:9/simple, file:///opt/pypi/simple
Looking in links: /opt/wheels
WARNING: Location 'file:///opt/pypi/simple/nosuch/' is ignored: it is neither a file nor a \
directory.
WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after \
connection broken by 'NewConnectionError("HTTPConnection(host='pypi.example', port=9): Failed to \
establish a new connection: [Errno 111] Connection refused")': /simple/nosuch/
ERROR: Could not find a version that satisfies the requirement nosuch==1.2 (from versions: none)
ERROR: No matching distribution found for nosuch==1.2""".splitlines()

CLASSIC_ERROR = "The command '/bin/sh -c pip install nosuch==1.2' returned a non-zero code: 1"


def test_the_standins_pip_names_the_package_and_the_wheelhouse():
    found = pip_errors.find_no_distribution(STANDIN_NONE)
    assert found == pip_errors.NoDistribution("nosuch==1.2", (), ("http://127.0.0.1:3141/",), None)
    assert found.loopback and found.name == "nosuch"
    said = pip_errors.sentence(found, CLASSIC_ERROR, wheelhouse_holds=lambda name: False)
    assert said == (
        "pip found no distribution of `nosuch==1.2` in the offline wheelhouse at "
        "http://127.0.0.1:3141/ (versions there: none). The offline wheelhouse holds only what "
        "the labs' requirements files pin (and what those need): add `nosuch==1.2` to a "
        "requirements file under labs/, then run `python -m dashboard prepare --no-build` on a "
        "machine that reaches PyPI, which downloads it. (" + CLASSIC_ERROR + ")"
    )


def test_a_package_the_wheelhouse_should_hold_points_at_doctor_and_prepare():
    found = pip_errors.find_no_distribution(STANDIN_OTHER_VERSION)
    assert found.versions == ("2.34.2",)
    said = pip_errors.sentence(found, wheelhouse_holds=lambda name: name == "requests")
    assert said.startswith(
        "pip found no distribution of `requests>=99` in the offline wheelhouse at "
        "http://127.0.0.1:3141/ (versions there: 2.34.2). The wheelhouse should hold it: "
        "`python -m dashboard doctor` says what the server on port 3141 lacks"
    )


def test_a_missing_dependency_names_who_needs_it():
    found = pip_errors.find_no_distribution(STANDIN_DEPENDENCY)
    assert found.requirement == "altair!=5.4.0,!=5.4.1,<7,>=5.0.0"
    assert found.needed_by == "streamlit" and found.index == "http://127.0.0.1:3199/"
    said = pip_errors.sentence(found, wheelhouse_holds=lambda name: False)
    assert "`altair!=5.4.0,!=5.4.1,<7,>=5.0.0` (needed by streamlit)" in said
    assert "The wheelhouse should hold it" in said  # a pin pulls it in


def test_a_requirements_file_line_is_not_a_package_needing_it():
    line = (
        "ERROR: Could not find a version that satisfies the requirement numpy==2.4.6 "
        "(from -r /tmp/requirements.txt (line 1)) (from versions: none)"
    )
    found = pip_errors.find_no_distribution([line])
    assert (found.requirement, found.needed_by, found.versions) == ("numpy==2.4.6", None, ())


def test_another_index_is_named_with_the_check_to_make():
    found = pip_errors.find_no_distribution(HOST_UNREACHABLE)
    assert found.indexes == (
        "http://pypi.example:9/simple",
        "file:///opt/pypi/simple",
        "/opt/wheels",
    )
    said = pip_errors.sentence(found)
    assert said.startswith(
        "pip found no distribution of `nosuch==1.2` in the package index "
        "http://pypi.example:9/simple, file:///opt/pypi/simple, /opt/wheels (versions there: none)."
    )
    assert "machine is offline" in said
    pypi = pip_errors.find_no_distribution(STANDIN_NONE[1:])  # no "Looking in" line
    assert "in the default package index (PyPI)" in pip_errors.sentence(pypi)


def test_buildkit_prefixed_lines_are_read_too():
    lines = [f"#8 0.{i}12 {line}" for i, line in enumerate(STANDIN_NONE)]
    found = pip_errors.find_no_distribution(lines)
    assert found.requirement == "nosuch==1.2" and found.index == "http://127.0.0.1:3141/"


def test_explain_error_turns_a_failed_pip_step_into_the_sentence():
    buildkit = (
        'process "/bin/sh -c pip install nosuch==1.2" did not complete successfully: exit code: 1'
    )
    # The failed step's first lines name the index, its last the package.
    said = builds.explain_error(buildkit, STANDIN_NONE[-2:], log=STANDIN_NONE)
    assert said.startswith("pip found no distribution of `nosuch==1.2` in the offline wheelhouse")
    assert said.endswith(f"({buildkit})")
    # Anything else is left as it was, and a full disk still comes first.
    assert builds.explain_error(CLASSIC_ERROR, ["some other failure"]) == CLASSIC_ERROR
    full = builds.explain_error("write /x: no space left on device", STANDIN_NONE)
    assert full.startswith("The Docker disk is full")
