"""Locust students for a classroom server: `locust -f bench/locustfile.py --host URL ...`.

Each Locust user is one student's browser tab (bench/st_client.py: Streamlit's protocol, no
browser). What a person waits for is timed from the message sent to the run's script_finished
and reported as a Locust request: type "page" (a page opened: first visit, sign in, a move
through the navigation) or "action" (a button, a typed field; "wait" for what a job shows
later: the run's exit code 0, a build done, the first log line). A step fails on a timeout, a
lost WebSocket, a missing button, or a problem in the page (exception element, error box).

Scenarios (BENCH_LOAD_SCENARIO):
- "idle" (a): open /lesson1, sign in, run lesson 1's image (the bench tags NAME/iris-model:1.0
  beforehand), visit two lessons through the navigation and come back, start a detached
  container that prints a line a second and follow its logs: the live panel stays open (its
  fragment asks for a run every 0.25 s). Then idle; one student at a time (every MOVE_EVERY s at
  most, the same one every STUDENT_REST s at most) moves to "Sizes and clean-up" and back.
- "lecture" (b): open /lesson1 and sign in; when the whole class has signed in (or after
  GATHER_S), everyone presses Build within SPREAD_S seconds and watches the live panel until
  the build is done, then presses Run and waits for exit code 0. Then stays on the page.

The run ends by itself: the lecture once every student is done (or failed), the idle scenario
BENCH_LOAD_IDLE_S seconds after every student finished setting up (or failed).

Names are BENCH_LOAD_PREFIX + a number from 01, in the order the users start. With
BENCH_LOAD_SEATS (a JSON file: a list of {"name", "base", "cookie"}, bench/hub_class.py writes
it) each user is instead the next student of a classroom hub, on their own seat
(`--host` is then the hub): already logged in (the hub's cookies), nobody signs in on the page.
At the end each process writes BENCH_LOAD_OUT (JSON): every timed sample, and per student the
messages sent (fragment timers apart), the runs the server started for it, the bytes received,
its problems.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from pathlib import Path

import gevent
from locust import User, events, task
from locust.exception import StopUser

from bench.st_client import Client
from dashboard.ui import text as T

SCENARIO = os.environ.get("BENCH_LOAD_SCENARIO", "idle")
PREFIX = os.environ.get("BENCH_LOAD_PREFIX", "ls")
OUT = os.environ.get("BENCH_LOAD_OUT", "")
_SEATS_FILE = os.environ.get("BENCH_LOAD_SEATS", "")
SEATS = json.loads(Path(_SEATS_FILE).read_text()) if _SEATS_FILE else []
COUNTER_LINES = int(os.environ.get("BENCH_LOAD_LINES", "600"))
PAGE_S = 90.0  # one page, under load
JOB_S = float(os.environ.get("BENCH_LOAD_JOB_S", "600"))  # a run or a build, to its end
MOVE_EVERY = 3.0
STUDENT_REST = 12.0
GATHER_S = float(os.environ.get("BENCH_LOAD_GATHER_S", "120"))
SPREAD_S = 3.0
HOME = "lesson1"
VISITS = ("cache", "multistage")
MOVE_TO = "sizes"
TITLES = {
    HOME: T.TITLE_LESSON1,
    "cache": T.TITLE_CACHE,
    "multistage": T.TITLE_MULTISTAGE,
    MOVE_TO: T.TITLE_SIZES,
}
BUILD_DONE = "Dockerfile steps:"  # views.build_summary
RUN_DONE = "exited with exit code 0"  # views.run_panel
COUNTER_SEEN = "step 1 of"

_numbers = itertools.count(1)
SAMPLES: list[dict] = []
STUDENTS: dict[str, dict] = {}


def counter_command(lines: int) -> str:
    return f"sh -c 'for i in $(seq 1 {lines}); do echo \"step $i of {lines}\"; sleep 1; done'"


class StepFailed(Exception):
    pass


class Turns:
    """Whose move it is in the idle phase: one student at a time, round robin."""

    def __init__(self) -> None:
        self.ready: list[str] = []
        self.turn = 0
        self.next_at = 0.0

    def mine(self, name: str) -> bool:
        now = time.monotonic()
        if not self.ready or now < self.next_at or self.ready[self.turn % len(self.ready)] != name:
            return False
        self.turn += 1
        self.next_at = now + max(MOVE_EVERY, STUDENT_REST / len(self.ready))
        return True


TURNS = Turns()
SIGNED_IN: set[str] = set()
IDLE_S = float(os.environ.get("BENCH_LOAD_IDLE_S", "60"))
PHASES: dict[str, float] = {}  # epoch seconds: "settled" (every student ready or failed), "end"


class Settling:
    """Ends the run by itself: once every student is ready or has failed, the lecture ends at
    once and the idle scenario after IDLE_S more seconds (Locust's -t stays the upper bound)."""

    def __init__(self) -> None:
        self.done: set[str] = set()

    def settle(self, name: str, environment) -> None:
        self.done.add(name)
        runner = environment.runner
        target = (runner.target_user_count if runner else 0) or 1
        if len(self.done) >= target and "settled" not in PHASES:
            PHASES["settled"] = time.time()
            snapshot("at_settled")  # the idle window's counts start here
            wait = IDLE_S if SCENARIO == "idle" else 1.0
            gevent.spawn_later(wait, self._quit, environment)

    @staticmethod
    def _quit(environment) -> None:
        PHASES["end"] = time.time()
        snapshot("at_end")  # users go on until Locust has stopped them: the window ends here
        if environment.runner:
            environment.runner.quit()


SETTLING = Settling()
CLIENTS: dict[str, Client] = {}


def snapshot(key: str) -> None:
    """Every student's counts now (messages its fragment timers sent, runs the server began)."""
    for name, client in CLIENTS.items():
        STUDENTS[name][key] = {
            "auto_sent": client.auto_sent,
            "runs": sum(client.tab.runs.values()),
        }


class Student(User):
    """One student's tab (see the module docstring)."""

    def on_start(self) -> None:
        number = next(_numbers)
        if SEATS:  # a hub's student on their own seat (wraps round if Locust starts more users)
            seat = SEATS[(number - 1) % len(SEATS)]
            self.name = seat["name"]
            self.client = Client(seat["base"], cookie=seat["cookie"])
        else:
            self.name = f"{PREFIX}{number:02d}"
            self.client = Client(self.host)
        CLIENTS[self.name] = self.client
        self.record = STUDENTS.setdefault(
            self.name,
            {"ready": False, "failed_steps": [], "problems": [], "started": time.time()},
        )

    def on_stop(self) -> None:
        self._account()
        self.client.close()

    def _account(self) -> None:
        c = self.client
        self.record.update(
            sent=c.sent,
            auto_sent=c.auto_sent,
            runs=dict(c.tab.runs),
            received_bytes=c.tab.received_bytes,
            closed=c.closed,
            last=time.time(),
        )

    # ------------------------------------------------------------ timing and reporting

    def step(self, kind: str, name: str, action) -> float:
        """Do `action`, report it to Locust as (kind, name), fail on page problems."""
        started = time.monotonic()
        error: Exception | None = None
        try:
            action()
        except Exception as exc:  # a timeout, a lost socket, a missing button: a failed step
            error = exc
        took = time.monotonic() - started
        problems = self.client.take_problems()
        if problems:
            self.record["problems"].extend(problems)
            error = error or StepFailed("; ".join(problems)[:300])
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=took * 1000,
            response_length=0,
            exception=error,
            context={"student": self.name},
        )
        SAMPLES.append(
            {
                "student": self.name,
                "kind": kind,
                "name": name,
                "s": took,
                "ok": error is None,
                "at": time.time(),
            }
        )
        if error is not None:
            self.record["failed_steps"].append(f"{kind} {name}: {type(error).__name__}: {error}")
            if self.name in TURNS.ready:
                TURNS.ready.remove(self.name)
            SETTLING.settle(self.name, self.environment)
            raise StopUser()
        return took

    def page(self, path: str, name: str | None = None) -> None:
        def go():
            self.client.run(page=path, timeout=PAGE_S)
            self._expect_title(path)

        self.step("page", name or path, go)

    def _expect_title(self, path: str) -> None:
        headings = self.client.headings()
        if not headings or TITLES[path] not in headings[0]:
            raise StepFailed(f"expected {TITLES[path]!r}, the page shows {headings[:1]}")

    # ------------------------------------------------------------ the scenarios

    def arrive(self) -> None:
        def open_page():
            self.client.open(HOME, timeout=PAGE_S)
            if SEATS:  # a seat knows its student: the lesson itself
                self._expect_title(HOME)
            elif T.TITLE_WELCOME not in (self.client.headings() or [""])[0]:
                raise StepFailed(f"no welcome page: {self.client.headings()[:1]}")

        self.step("page", "open lesson1", open_page)
        if SEATS:
            SIGNED_IN.add(self.name)
            return

        def sign_in():
            self.client.submit(T.START_CLASS, {T.STUDENT_NAME: self.name}, timeout=PAGE_S)
            self._expect_title(HOME)

        self.step("page", "sign in", sign_in)
        SIGNED_IN.add(self.name)

    @property
    def image(self) -> str:
        """Lesson 1's image under this student's name: its buttons say it."""
        from dashboard.engine.base import owner
        from dashboard.engine.catalog import labs

        return labs.scoped(labs.LABS["iris"], owner.for_student(owner.slug(self.name))).image

    def job(self, button: str, done: str, name: str) -> None:
        self.step("action", f"click: {name}", lambda: self.client.click(button, timeout=PAGE_S))
        self.step("wait", f"{name}: done", lambda: self.client.wait_for(done, timeout=JOB_S))

    def idle_setup(self) -> None:
        self.arrive()
        self.job(T.run_label(self.image), RUN_DONE, "run")
        for path in (*VISITS, HOME):
            self.page(path)
        c = self.client
        self.step(
            "action",
            "type: container name",
            lambda: c.type(f"{self.name}-tick", key="detach-name", timeout=PAGE_S),
        )
        self.step(
            "action",
            "type: command",
            lambda: c.type(counter_command(COUNTER_LINES), key="detach-cmd", timeout=PAGE_S),
        )

        def start_detached():
            c.click(T.START_DETACHED, timeout=PAGE_S)
            deadline = time.monotonic() + JOB_S
            while c.tab.widget(T.FOLLOW_LOGS, kind="button") is None:
                if time.monotonic() > deadline:
                    raise StepFailed("no Follow logs button")
                gevent.sleep(0.1)  # the action panel's fragment reruns the page when done

        self.step("action", "click: docker run -d", start_detached)
        self.job(T.FOLLOW_LOGS, COUNTER_SEEN, "docker logs -f")  # its first line

    @task
    def lesson(self) -> None:
        if SCENARIO == "lecture":
            self.lecture()
        else:
            self.idle()

    def idle(self) -> None:
        self.idle_setup()
        self.record["ready"] = True
        TURNS.ready.append(self.name)
        SETTLING.settle(self.name, self.environment)
        while True:
            self._account()
            if TURNS.mine(self.name):
                self.page(MOVE_TO)
                self.page(HOME, "lesson1 (back)")
            gevent.sleep(0.2)

    def lecture(self) -> None:
        self.arrive()
        target = self.environment.runner.target_user_count if self.environment.runner else 1
        deadline = time.monotonic() + GATHER_S
        while len(SIGNED_IN) < (target or 1) and time.monotonic() < deadline:
            gevent.sleep(0.2)
        gevent.sleep(random.uniform(0, SPREAD_S))
        self.job(T.build_label(self.image), BUILD_DONE, "build")
        self.job(T.run_label(self.image), RUN_DONE, "run")
        self.record["ready"] = True
        SETTLING.settle(self.name, self.environment)
        while True:
            self._account()
            gevent.sleep(1)


@events.quitting.add_listener
def _write_out(environment, **_kwargs) -> None:
    if not OUT:
        return
    with open(OUT, "w") as f:
        json.dump(
            {"scenario": SCENARIO, "phases": PHASES, "samples": SAMPLES, "students": STUDENTS}, f
        )
