"""What a classroom hub's seat answers besides its pages: its student's progress, and their
clean-up, for the instructor's roster (dashboard/hub/roster.py).

dashboard/app.py adds these routes only in a seat (DASHBOARD_SEAT set). A seat's Streamlit
listens on the seat's own loopback, behind jhsingle-native-proxy, which lets a request through
only with the hub's OAuth for this seat: the student's own browser, or a token that may access
their server (the roster service's). So the instructor reads progress without root on any
node: each seat reads its own student's history and its own node's engine.

- `GET  .../_dashboard/seat/progress`: the student's `StudentRecord`
  (engine/progress/classroom.py) as JSON, with the node's name.
- `GET  .../_dashboard/seat/ready`: answers once the modules the pages import are loaded
  (dashboard/work/warm_up.py), so the student's first page is not the one that loads them. The
  seat's proxy checks readiness there, and counts any answer as ready: this one holds its
  answer until then (at most `READY_WAIT_S`).
- `POST .../_dashboard/seat/clean` (a JSON body, so no other site's form can send it): removes
  what carries the student's label on this node, as the one-machine roster's clean-up does, and
  answers what was removed. The seat itself carries no dashboard-managed label and stays.

No Streamlit here.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime

from dashboard import settings

PATH = "_dashboard/seat"
READY_WAIT_S = 120.0  # then it answers anyway: a seat that loads slowly still opens


def progress() -> dict:
    """The seat's student's record, ready for JSON."""
    from dashboard.engine.base.connection import connect
    from dashboard.engine.progress import classroom

    client = connect()
    try:
        node = client.info().get("Name", "")
        record = classroom.student_record(client, settings.seat_student() or "")
    finally:
        client.close()
    found = dataclasses.asdict(record)
    for key, value in found.items():
        if isinstance(value, datetime):
            found[key] = value.isoformat()
        elif isinstance(value, tuple):
            found[key] = list(value)
    found["node"] = node
    return found


def clean() -> dict:
    """Remove what carries the seat's student's label on this node; what was removed."""
    from dashboard.engine.base.connection import connect
    from dashboard.engine.ops import cleanup

    student = settings.seat_student() or ""
    client = connect()
    try:
        report = cleanup.reset(client, include_images=True, student=student)
    finally:
        client.close()
    return {
        "student": student,
        "ok": report.ok,
        "summary": report.summary,
        "removed": [f"{r.kind} {r.name}" for r in report.removed],
    }


def routes(base: str) -> list:
    """The seat's routes under the URL path `base` (`server.baseUrlPath`), for `st.App`."""
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def get_progress(request):
        return JSONResponse(progress())

    async def get_ready(request):
        import asyncio

        from dashboard.work.warm_up import WARMING

        WARMING.start()
        deadline = time.monotonic() + READY_WAIT_S
        while not WARMING.done and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return JSONResponse(
            {"warm": WARMING.done, "modules": WARMING.modules, "seconds": WARMING.seconds}
        )

    def post_clean(request):
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"error": "send a JSON body"}, status_code=415)
        return JSONResponse(clean())

    at = f"{base.rstrip('/')}/{PATH}"
    return [
        Route(f"{at}/progress", get_progress, methods=["GET"], name="seat-progress"),
        Route(f"{at}/ready", get_ready, methods=["GET"], name="seat-ready"),
        Route(f"{at}/clean", post_clean, methods=["POST"], name="seat-clean"),
    ]
