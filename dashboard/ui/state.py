"""Process-wide and cached things the pages share: the job registry, a Docker client for quick
reads, the sidebar's facts and short-lived caches of what the daemon lists.

Reads are cached, keyed by the daemon endpoint (pointing DOCKER_HOST elsewhere never serves
another daemon's answer), by how many jobs have finished (a finished build or run is seen at
once) and by the daemon's event stream (engine/base/daemon_events.py: anything that changes, the
student's own `docker` commands too, is seen at the next rerun). So a rerun that changed nothing
makes no Docker call. Anything slow goes through a job instead (dashboard/work/jobs.py).
"""

from __future__ import annotations

import streamlit as st

from dashboard import settings
from dashboard.engine.base import owner
from dashboard.work import recording
from dashboard.work.facts import DaemonFacts, read_facts
from dashboard.work.jobs import DEFAULT_MAX_JOBS, AnyKey, JobKey, JobRegistry, JobSnapshot
from dashboard.work.slots import SlotQueue, server_queue

# Upper bounds only: the event stream renews the caches when something changes (and every few
# seconds while it is down). Something the daemon reports no event for (the build cache growing)
# is read again after this long at the latest.
FACTS_TTL = 300  # seconds: the sidebar's daemon status, versions and GPU
READS_TTL = 300  # seconds: container lists, image layers, disk use
# While events keep coming (other students' builds), read again at most this often.
FACTS_INTERVAL = 5.0  # the sidebar's counts
READS_INTERVAL = 1.0  # what a page lists
# While the event stream is down (the daemon stopped, or never answered): plain time limits.
FACTS_UNWATCHED = 20.0
READS_UNWATCHED = 5.0


@st.cache_resource(show_spinner=False)
def registry() -> JobRegistry:
    """One job registry per process, shared by every browser session (it has its own locks).

    A classroom keeps more finished jobs: each student has their own keys, and a student's
    panel shows their last build only while the registry still holds it.
    """
    return JobRegistry(max_jobs=DEFAULT_MAX_JOBS * 8 if classroom() else DEFAULT_MAX_JOBS)


def endpoint() -> str:
    from dashboard.engine.base.connection import resolve_endpoint

    return resolve_endpoint().base_url


def _stop_watch(watch) -> None:
    watch.stop(timeout=1)


@st.cache_resource(show_spinner=False, on_release=_stop_watch)  # cleared: the thread ends
def _watch(endpoint_url: str):
    """One `docker events` stream per daemon and server process (engine/base/daemon_events.py)."""
    from dashboard.engine.base.connection import connect
    from dashboard.engine.base.daemon_events import DaemonWatch

    watch = DaemonWatch(lambda: connect(timeout=10)).start()
    watch.settle(timeout=2)  # a daemon that is down answers at once; one that hangs, not
    return watch


def watch():
    return _watch(endpoint())


@st.cache_data(ttl=FACTS_TTL, show_spinner=False)
def _cli_check(endpoint_url: str, connection: tuple[int, int]):
    from dashboard.engine.base import api_versions

    return api_versions.check_docker_cli(endpoint_url)


@st.cache_data(ttl=FACTS_TTL, show_spinner=False)
def _facts(endpoint_url: str, changes: tuple[int, int]) -> DaemonFacts:
    connection = watch().facts_key()
    return read_facts(cli_check=lambda url: _cli_check(url, connection))


def facts() -> DaemonFacts:
    """The sidebar's facts: read again when the daemon reports a change (its counts move)."""
    return _facts(endpoint(), watch().key(FACTS_INTERVAL, FACTS_UNWATCHED))


@st.cache_resource(show_spinner=False)
def _client(endpoint_url: str):
    from dashboard.engine.base.connection import connect

    return connect(timeout=30)


def client():
    """A client for quick reads on the script thread (lists, inspects). Builds and runs use jobs."""
    return _client(endpoint())


# ---------------------------------------------------------------- cached reads
# Each is also keyed by the registry's generation: when any job finishes (a build, a run, a
# clean-up), the next read asks the daemon again instead of showing the list from before it.


def generation() -> tuple[int, int, int]:
    """What a cached read is keyed by: finished jobs, then the daemon's events."""
    return (registry().generation, *watch().key(READS_INTERVAL, READS_UNWATCHED))


@st.cache_data(ttl=READS_TTL, show_spinner=False)
def _lab_containers(endpoint_url: str, generation: tuple, lab: str | None, session: str | None):
    from dashboard.engine.ops import runs

    return runs.list_lab_containers(client(), lab=lab, session=session)


def lab_containers(lab: str | None, session: str | None = None):
    """`docker ps -a` of our containers of `lab` (the current owner's by default)."""
    from dashboard.engine.base import labels

    return _lab_containers(endpoint(), generation(), lab, session or labels.current_session())


@st.cache_data(ttl=READS_TTL, show_spinner=False)
def _image_report(endpoint_url: str, generation: tuple, ref: str):
    from dashboard.engine.analysis import images

    try:
        return images.image_layers(client(), ref)
    except images.ImageGone:
        return None


def image_report(ref: str):
    """The image's layers (`docker history`), or None when it has not been built."""
    return _image_report(endpoint(), generation(), ref)


@st.cache_data(ttl=READS_TTL, show_spinner=False)
def _registry_state(endpoint_url: str, generation: tuple):
    from dashboard.engine.ops import registry as local_registry

    return local_registry.state(client())


def registry_state():
    """Whether the registry lesson's registry runs on 127.0.0.1:5000 (`docker ps`)."""
    return _registry_state(endpoint(), generation())


@st.cache_data(ttl=READS_TTL, show_spinner=False)
def _lab_images(endpoint_url: str, generation: tuple, student: str | None):
    from dashboard.engine.analysis import images

    return images.list_images(client(), student=student)


def lab_images():
    """Our lab images and the base (a classroom student's own only)."""
    return _lab_images(endpoint(), generation(), owner.current().student)


@st.cache_data(ttl=READS_TTL, show_spinner=False)
def _disk_usage(endpoint_url: str, generation: tuple):
    from dashboard.engine.analysis import diskuse

    return diskuse.disk_usage(client())


def disk_usage():
    return _disk_usage(endpoint(), generation())


@st.cache_data(ttl=READS_TTL, show_spinner=False)
def _inventory(endpoint_url: str, generation: tuple, session: str | None, student: str | None):
    from dashboard.engine.ops import cleanup

    return cleanup.list_ours(client(), session=session, student=student)


def inventory(session: str | None = None):
    """What we made (one session's when given); a classroom student's own only."""
    return _inventory(endpoint(), generation(), session, owner.current().student)


@st.cache_data(ttl=READS_TTL, show_spinner=False)
def _roster(endpoint_url: str, generation: tuple):
    from dashboard.engine.base.paths import data_dir
    from dashboard.engine.progress import classroom

    return classroom.roster(client(), data_dir())


def roster():
    """Every classroom student with their progress and resources (the instructor's page)."""
    return _roster(endpoint(), generation())


def refresh_reads() -> None:
    """Forget the cached lists: the next read asks the daemon (after an action changed things)."""
    for cached in (_lab_containers, _image_report, _lab_images, _disk_usage, _inventory, _roster):
        cached.clear()


def refresh_all() -> None:
    refresh_reads()
    _facts.clear()
    _cli_check.clear()
    _client.clear()


# ---------------------------------------------------------------- classroom mode

STUDENT_PARAM = "student"  # ?student=alice keeps a student's name across reloads
# Jobs that wait for a slot ("make": the Makefile's targets, `make build` and `make all` build).
QUEUED_KINDS = frozenset({"build", "cache-pair", "compose-build", "make"})


def classroom() -> bool:
    return owner.classroom_mode()


def student_name() -> str | None:
    """The name this browser session chose (classroom mode), from the session or the URL; in a
    hub's seat, the seat's student (the hub logged them in)."""
    name = settings.seat_student() or (
        st.session_state.get(STUDENT_PARAM) or st.query_params.get(STUDENT_PARAM)
    )
    return str(name) if name else None


def choose_student(name: str) -> owner.Owner:
    """Take `name` as this browser's student (raises owner.BadStudentName with the reason)."""
    who = owner.for_student(name)
    st.session_state[STUDENT_PARAM] = who.student
    st.query_params[STUDENT_PARAM] = who.student
    return who


def bind_owner() -> None:
    """At the top of every script (and fragment) run: act for this browser's student in
    classroom mode (none until a name is chosen), else for the process."""
    who = None
    if classroom():
        name = student_name()
        try:
            who = owner.for_student(name) if name else None
        except owner.BadStudentName:
            who = None
        missing_from_url = st.query_params.get(STUDENT_PARAM) != who.student if who else False
        if missing_from_url and not settings.seat_student():
            st.query_params[STUDENT_PARAM] = who.student  # a page switch dropped it: reloads
    owner.set_current(who)


def build_slots() -> int:
    return build_queue().slots


@st.cache_resource(show_spinner=False)
def build_queue() -> SlotQueue:
    """One queue per server: DASHBOARD_BUILD_SLOTS builds at a time (default: one per CPU); in
    a hub's seat, the machine's queue that the seats on it share (work/slots.server_queue)."""
    return server_queue()


def scoped_key(key: AnyKey) -> JobKey:
    """A job key of the current owner: a classroom student's jobs are theirs alone."""
    return JobKey.of(key).for_student(owner.current().student)


def _as_owner(target, who: owner.Owner, queue: SlotQueue | None):
    """The job's worker thread acts for `who`; a queued job first waits for its slot."""

    def run(job):
        with owner.acting_for(who):
            if queue is None:
                return target(job)

            def waiting(position: int) -> None:
                job.update(queue_position=position)
                job.progress(None, f"Waiting for a build slot: number {position} in the queue")

            with queue.admit(job.key, cancel=job.cancel_event, on_wait=waiting) as admitted:
                if not admitted:
                    return None
                job.update(queue_position=0)
                job.progress(None, "")
                return target(job)

    return run


# ---------------------------------------------------------------- jobs


def start(key: AnyKey, target, label: str) -> None:
    """Start a job, or join the one running for `key`, then rerun the page.

    The rerun matters: a job's panel may sit above the button that started it, and it must be
    drawn again (now polling) to show the job. In classroom mode the key is the student's own
    and builds wait their turn in the server's queue.
    """
    who = owner.current()
    key = scoped_key(JobKey.of(key).unscoped)
    queue = build_queue() if who.student and key.kind in QUEUED_KINDS else None
    work = _as_owner(recording.recorded(target, history()), who, queue)
    job, started = registry().start(key, work, label=label)
    if started:
        _targets()[job.key] = (target, label)
    else:
        st.toast(f"Already running: {job.label}. Showing that one.")
    st.rerun()


@st.cache_resource(show_spinner=False)
def _targets() -> dict[JobKey, tuple]:
    """key -> (target, label) of the last job started for it, so a panel can run it again."""
    return {}


def can_restart(key: AnyKey) -> bool:
    return scoped_key(JobKey.of(key).unscoped) in _targets()


def restart(key: AnyKey) -> None:
    """Start the last job of `key` again (the "Build again" of an image deleted meanwhile)."""
    key = JobKey.of(key).unscoped
    target, label = _targets()[scoped_key(key)]
    start(key, target, label)


def snapshot(key: AnyKey) -> JobSnapshot | None:
    return registry().snapshot(scoped_key(key))


def previous(key: AnyKey) -> JobSnapshot | None:
    """The run of `key` before the current one (the build before an edit)."""
    return registry().previous(scoped_key(key))


def my_running() -> list[JobSnapshot]:
    """Running jobs of the current owner (a classroom student sees only their own)."""
    who = owner.current()
    jobs = registry().running()
    if not who.student:
        return jobs
    return [j for j in jobs if j.key.student == who.student]


def presenting() -> bool:
    return bool(st.session_state.get("presentation", False))


# ---------------------------------------------------------------- history


@st.cache_resource(show_spinner=False)
def _history(path: str):
    from dashboard.engine.progress.history import History

    return History.open(path)  # never raises: a damaged or locked file gives a disabled one


def history():
    """The history database of this process (builds, runs, check ticks), or a disabled one.

    Keyed by its path, so pointing DASHBOARD_DATA_DIR / DASHBOARD_HISTORY_DB elsewhere opens
    another file.
    """
    from dashboard.engine.progress.history import default_path

    return _history(str(default_path()))


def reopen_history() -> None:
    """Forget the open history (after its file was moved aside): the next call opens it anew."""
    _history.clear()
