"""The instructor's roster of a classroom hub: a JupyterHub service at `/services/roster/`.

The one-machine classroom's roster (the dashboard's /classroom page) reads every student's
history from one data folder and their objects from one engine. On a hub each student's things
live on the node their seat landed on, and reading them there would take root on every node.
So the roster asks the seats: the hub runs this service with a token of its own
(jupyterhub_config.py: list the users and their servers, read the seats' state, access and stop
the seats), and for each running seat it reads `/user/NAME/_dashboard/seat/progress` through
the hub's proxy (dashboard/work/seat_routes.py; the seat's proxy lets the service's token in).
The Swarm's nodes (the manager's engine, where the hub runs) say where each seat is pinned and
whether that machine is drained or gone.

Only the hub's admin (the instructor) may open it; the clean-up of one student asks their seat
to remove what carries their label on their node, then stops their seat (its volume stays).

Run by the hub (`python -m dashboard.hub.roster --admin NAME --proxy-url URL`), with
JupyterHub's service environment (JUPYTERHUB_API_URL, JUPYTERHUB_API_TOKEN, ...).
"""

from __future__ import annotations

import asyncio
import html
import json
import os
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlparse

from dashboard.hub import seats
from dashboard.hub.seats import NodeState

FETCH_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RosterRow:
    """One student as the roster shows them."""

    student: str
    seat: str  # running, starting, stopping, stopped
    node: NodeState | None  # where their things are (the pin), None before their first seat
    progress: dict | None  # the seat's answer (seat_routes.progress), None when not running
    problem: str = ""  # why the progress could not be read

    @property
    def lost(self) -> str:
        """The sentence for a student whose machine is drained or gone ("" when it is fine)."""
        if self.node is None or self.node.usable:
            return ""
        images = ", ".join((self.progress or {}).get("image_names", [])) or "their images"
        return (
            f"{self.node.host} is {self.node.describe()}: {images}, history and working copies "
            f"are there, out of reach. Bring it back ({self.node.way_back()}) or give a fresh "
            f"seat elsewhere (`python -m dashboard classroom move {self.student}`)."
        )


def seat_state(server: dict | None) -> str:
    if not server:
        return "stopped"
    if server.get("pending"):
        return "starting" if server["pending"] == "spawn" else "stopping"
    return "running" if server.get("ready") else "stopped"


def rows_from(
    users: list[dict], nodes: dict[str, NodeState], progress: dict[str, dict | str]
) -> list[RosterRow]:
    """The roster from the hub's users (with their servers' state), the Swarm's nodes by id
    and each running seat's progress (a dict) or why it could not be read (a sentence)."""
    rows = []
    for user in users:
        if user.get("admin"):
            continue
        name = user["name"]
        server = (user.get("servers") or {}).get("")
        pinned = ((server or {}).get("state") or {}).get("pinned_node", "")
        node = nodes.get(pinned, NodeState(pinned[:12], "gone", "")) if pinned else None
        got = progress.get(name)
        rows.append(
            RosterRow(
                student=name,
                seat=seat_state(server),
                node=node,
                progress=got if isinstance(got, dict) else None,
                problem=got if isinstance(got, str) else "",
            )
        )
    return sorted(rows, key=lambda r: r.student)


def _cell(value) -> str:
    return f"<td>{html.escape(str(value))}</td>"


def render(rows: list[RosterRow], xsrf_form: str, said: str = "") -> str:
    """The roster page (plain HTML: the hub's pages have no Streamlit)."""
    head = (
        "<tr><th>student</th><th>seat</th><th>machine</th><th>checks</th><th>builds</th>"
        "<th>runs</th><th>containers (running)</th><th>images</th><th>last activity</th>"
        "<th></th></tr>"
    )
    body = []
    for row in rows:
        p = row.progress or {}
        machine = f"{row.node.host} ({row.node.describe()})" if row.node else "not placed yet"
        last = p.get("last_activity") or ""
        if last:
            last = datetime.fromisoformat(last).astimezone().strftime("%H:%M:%S")
        checks = f"{p['checks_done']} of {p['checks_total']}" if p else (row.problem or "")
        clean = ""
        if row.seat == "running":
            clean = (
                f'<form method="post">{xsrf_form}<input type="hidden" name="student" '
                f'value="{html.escape(row.student)}"><button type="submit" '
                f'name="clean" id="clean-{html.escape(row.student)}">Clean up '
                f"{html.escape(row.student)}</button></form>"
            )
        cells = [
            _cell(row.student),
            _cell(row.seat),
            _cell(machine),
            _cell(checks),
            _cell(p.get("builds", "")),
            _cell(p.get("runs", "")),
            _cell(f"{p['containers']} ({p['running']})" if p else ""),
            _cell(p.get("images", "")),
            _cell(last),
            f"<td>{clean}</td>",
        ]
        body.append(f'<tr id="student-{html.escape(row.student)}">{"".join(cells)}</tr>')
        if row.lost:
            body.append(f'<tr class="lost"><td colspan="10">{html.escape(row.lost)}</td></tr>')
    note = f'<p id="said">{html.escape(said)}</p>' if said else ""
    empty = "<p>No student has signed up yet.</p>" if not rows else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Classroom roster</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.3em .8em;text-align:left}}
tr.lost td{{color:#a00}}</style></head><body>
<h1>Classroom roster</h1>
<p>Every student of the hub: their seat, the lab machine that holds their things, and what
their own seat reports (the checks their pages ticked, their builds and runs, what carries their
label on their machine). A stopped seat reports nothing until it runs again.</p>
{note}{empty}<table id="roster">{head}{"".join(body)}</table>
<p><a href="">Refresh</a> · <a href="../../hub/admin">the hub's admin page</a></p>
</body></html>"""


class HubApi:
    """The hub's REST API and the seats' routes, with this service's token."""

    def __init__(self, api_url: str, token: str, proxy_url: str):
        from tornado.httpclient import AsyncHTTPClient

        self.api_url, self.proxy_url = api_url.rstrip("/"), proxy_url.rstrip("/")
        self.headers = {"Authorization": f"token {token}"}
        self.http = AsyncHTTPClient()

    async def _call(self, url: str, method: str = "GET", body: str | None = None) -> dict:
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        answer = await self.http.fetch(
            url,
            method=method,
            body=body,
            headers=headers,
            request_timeout=FETCH_TIMEOUT_S,
            follow_redirects=False,
            allow_nonstandard_methods=True,
        )
        return json.loads(answer.body) if answer.body else {}

    async def users(self) -> list[dict]:
        return await self._call(f"{self.api_url}/users?include_stopped_servers=1")

    async def progress(self, user: dict) -> dict | str:
        server = (user.get("servers") or {}).get("")
        if seat_state(server) != "running":
            return ""
        url = f"{self.proxy_url}{server['url'].rstrip('/')}/_dashboard/seat/progress"
        try:
            return await self._call(url)
        except Exception as exc:  # the seat is starting, or stopped meanwhile
            return f"no answer from the seat ({exc})"

    async def clean(self, student: str) -> dict:
        quoted = quote(student)
        url = f"{self.proxy_url}/user/{quoted}/_dashboard/seat/clean"
        done = await self._call(url, "POST", "{}")
        await self._call(f"{self.api_url}/users/{quoted}/server", "DELETE")
        return done


def nodes_by_id() -> dict[str, NodeState]:
    """The Swarm's nodes, from the manager's engine (DOCKER_HOST)."""
    import docker

    client = docker.from_env()
    try:
        return {
            n["ID"]: NodeState(
                n["Description"]["Hostname"], n["Status"]["State"], n["Spec"]["Availability"]
            )
            for n in client.api.nodes()
        }
    finally:
        client.close()


def make_app(admins: set[str], proxy_url: str):
    """The service's web app: `admins` may open it; seats are read through `proxy_url`."""
    from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
    from jupyterhub.utils import url_path_join
    from tornado import web

    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/roster/")
    api = HubApi(os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"], proxy_url)

    class RosterHandler(HubOAuthenticated, web.RequestHandler):
        def _instructor(self) -> None:
            if self.current_user["name"] not in admins:
                raise web.HTTPError(403, "The roster is the instructor's.")

        async def _page(self, said: str = "") -> None:
            users = await api.users()
            nodes = await asyncio.get_running_loop().run_in_executor(None, nodes_by_id)
            answers = await asyncio.gather(*(api.progress(u) for u in users))
            progress = {u["name"]: a for u, a in zip(users, answers, strict=True) if a}
            self.write(render(rows_from(users, nodes, progress), self.xsrf_form_html(), said))

        @web.authenticated
        async def get(self) -> None:
            self._instructor()
            await self._page()

        @web.authenticated
        async def post(self) -> None:
            self._instructor()
            student = seats.student(self.get_body_argument("student"))
            try:
                done = await api.clean(student)
            except Exception as exc:
                said = f"Could not clean up after {student}: {exc}"
            else:
                removed = ", ".join(done.get("removed", [])) or "nothing"
                said = (
                    f"Cleaned up after {student} on their machine: removed {removed}; their seat "
                    "is stopped (its volume, with their history, stays)."
                )
            await self._page(said)

    return web.Application(
        [
            (prefix, RosterHandler),
            (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
        ],
        cookie_secret=os.urandom(32),
    )


def main(argv: list[str] | None = None) -> None:
    import argparse

    from tornado.httpserver import HTTPServer
    from tornado.ioloop import IOLoop

    parser = argparse.ArgumentParser(prog="python -m dashboard.hub.roster")
    parser.add_argument("--admin", action="append", default=[], help="who may open it")
    parser.add_argument("--proxy-url", required=True, help="the hub's address, from here")
    args = parser.parse_args(argv)
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    HTTPServer(make_app(set(args.admin), args.proxy_url)).listen(url.port, url.hostname)
    IOLoop.current().start()


if __name__ == "__main__":
    main()
