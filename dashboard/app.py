"""The dashboard: `streamlit run dashboard/app.py` (what `./dev start` runs).

This one file is both halves of the app:

- `streamlit run` finds the `app = st.App(...)` below and serves it: Streamlit's own ASGI
  server (Starlette under uvicorn) with the browser terminal's WebSocket added as a route
  (dashboard/work/terminals.py), so the terminal lives on the dashboard's own address, port,
  scheme and `server.baseUrlPath`, with no second port; a classroom hub's seat adds its
  student's progress and clean-up (dashboard/work/seat_routes.py). Imported that way,
  `__name__` is "app".
- For every page view Streamlit runs this file as the script (`__name__` is "__main__"): one
  page per lesson (dashboard/pages/), a sidebar with the daemon's status, and a "Docker is not
  reachable" page in place of the lessons when the daemon cannot be reached. Pages render inside
  an error boundary, so Docker's refusals appear as messages. The frame (navigation, theme,
  sidebar) is in dashboard/ui/shell.py. AppTest runs it the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

if __name__ == "__main__":
    from dashboard.ui import shell

    shell.main()
else:
    from streamlit import config
    from streamlit.url_util import make_url_path

    from dashboard import settings
    from dashboard.work import seat_routes, terminals

    base = config.get_option("server.baseUrlPath") or ""
    routes = [terminals.route(make_url_path(base, terminals.PATH))]
    if settings.seat_student():  # a classroom hub's seat: its student's progress for the roster
        routes += seat_routes.routes(make_url_path(base, ""))
    app = st.App(__file__, routes=routes)
