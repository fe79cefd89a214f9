"""Process-wide and cached things the pages share: the job registry, a Docker client for quick
reads, the sidebar's facts and short-lived caches of what the daemon lists.

Reads are cached for a few seconds, keyed by the daemon endpoint (pointing DOCKER_HOST
elsewhere never serves another daemon's answer) and by how many jobs have finished (a finished
build or run is seen at once). Anything slow goes through a job instead (dashboard/jobs.py).
"""

from __future__ import annotations

import streamlit as st

from dashboard.jobs import JobRegistry, JobSnapshot
from dashboard.ui import recording
from dashboard.ui.facts import DaemonFacts, read_facts

FACTS_TTL = 20  # seconds: the sidebar's daemon status, versions and GPU
READS_TTL = 5  # seconds: container lists, image layers, disk use


@st.cache_resource(show_spinner=False)
def registry() -> JobRegistry:
    """One job registry per process, shared by every browser session (it has its own locks)."""
    return JobRegistry()


def endpoint() -> str:
    from dashboard.engine.connection import resolve_endpoint

    return resolve_endpoint().base_url


@st.cache_data(ttl=FACTS_TTL, show_spinner=False)
def _facts(endpoint_url: str) -> DaemonFacts:
    return read_facts()


def facts() -> DaemonFacts:
    return _facts(endpoint())


@st.cache_resource(show_spinner=False)
def _client(endpoint_url: str):
    from dashboard.engine.connection import connect

    return connect(timeout=30)


def client():
    """A client for quick reads on the script thread (lists, inspects). Builds and runs use jobs."""
    return _client(endpoint())


# ---------------------------------------------------------------- cached reads
# Each is also keyed by the registry's generation: when any job finishes (a build, a run, a
# clean-up), the next read asks the daemon again instead of showing the list from before it.


def _generation() -> int:
    return registry().generation


@st.cache_data(ttl=READS_TTL, show_spinner=False)
def _lab_containers(endpoint_url: str, generation: int, lab: str | None, session: str | None):
    from dashboard.engine import runs

    return runs.list_lab_containers(client(), lab=lab, session=session)


def lab_containers(lab: str | None, session: str | None = None):
    """`docker ps -a` of our containers of `lab` (this dashboard process's by default)."""
    from dashboard.engine import labels

    return _lab_containers(endpoint(), _generation(), lab, session or labels.process_session())


@st.cache_data(ttl=READS_TTL, show_spinner=False)
def _image_report(endpoint_url: str, generation: int, ref: str):
    from dashboard.engine import images

    try:
        return images.image_layers(client(), ref)
    except images.ImageGone:
        return None


def image_report(ref: str):
    """The image's layers (`docker history`), or None when it has not been built."""
    return _image_report(endpoint(), _generation(), ref)


@st.cache_data(ttl=READS_TTL, show_spinner=False)
def _lab_images(endpoint_url: str, generation: int):
    from dashboard.engine import images

    return images.list_images(client())


def lab_images():
    return _lab_images(endpoint(), _generation())


@st.cache_data(ttl=READS_TTL, show_spinner=False)
def _disk_usage(endpoint_url: str, generation: int):
    from dashboard.engine import diskuse

    return diskuse.disk_usage(client())


def disk_usage():
    return _disk_usage(endpoint(), _generation())


@st.cache_data(ttl=READS_TTL, show_spinner=False)
def _inventory(endpoint_url: str, generation: int, session: str | None):
    from dashboard.engine import cleanup

    return cleanup.list_ours(client(), session=session)


def inventory(session: str | None = None):
    return _inventory(endpoint(), _generation(), session)


def refresh_reads() -> None:
    """Forget the cached lists: the next read asks the daemon (after an action changed things)."""
    for cached in (_lab_containers, _image_report, _lab_images, _disk_usage, _inventory):
        cached.clear()


def refresh_all() -> None:
    refresh_reads()
    _facts.clear()
    _client.clear()


# ---------------------------------------------------------------- jobs


def start(key: tuple, target, label: str) -> None:
    """Start a job, or join the one running for `key`, then rerun the page.

    The rerun matters: a job's panel may sit above the button that started it, and it must be
    drawn again (now polling) to show the job.
    """
    job, started = registry().start(key, recording.recorded(target, history()), label=label)
    if started:
        _targets()[job.key] = (target, label)
    else:
        st.toast(f"Already running: {job.label}. Showing that one.")
    st.rerun()


@st.cache_resource(show_spinner=False)
def _targets() -> dict[tuple, tuple]:
    """key -> (target, label) of the last job started for it, so a panel can run it again."""
    return {}


def can_restart(key: tuple) -> bool:
    return key in _targets()


def restart(key: tuple) -> None:
    """Start the last job of `key` again (the "Build again" of an image deleted meanwhile)."""
    target, label = _targets()[key]
    start(key, target, label)


def snapshot(key: tuple) -> JobSnapshot | None:
    return registry().snapshot(key)


def presenting() -> bool:
    return bool(st.session_state.get("presentation", False))


# ---------------------------------------------------------------- history


@st.cache_resource(show_spinner=False)
def _history(path: str):
    from dashboard.engine.history import History

    return History.open(path)  # never raises: a damaged or locked file gives a disabled one


def history():
    """The history database of this process (builds, runs, check ticks), or a disabled one.

    Keyed by its path, so pointing DASHBOARD_DATA_DIR / DASHBOARD_HISTORY_DB elsewhere opens
    another file.
    """
    from dashboard.engine.history import default_path

    return _history(str(default_path()))


def reopen_history() -> None:
    """Forget the open history (after its file was moved aside): the next call opens it anew."""
    _history.clear()
