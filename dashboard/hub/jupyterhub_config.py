"""The classroom hub's JupyterHub configuration (`jupyterhub -f` this file).

`python -m dashboard classroom up` writes the class's options to `hub-options.json` in the hub's
folder (classroom.OPTIONS_FILE) and starts the hub there with this file; run by hand, write that
file yourself (`classroom.Options`, as JSON). Everything here is pinned by
docker/hub/requirements.txt and docker/hub/package.json.

- **Authenticator: NativeAuthenticator** (`jupyterhub-nativeauthenticator`). A class needs
  accounts that no other student can take, and this needs no outside service: students sign up
  with a name and a password on the hub's own page, the passwords are kept hashed in the hub's
  database, and the instructor is the hub's admin. `--approve` makes every new
  account wait for the instructor's approval (/hub/authorize). A school with a course system
  uses `jupyterhub-ltiauthenticator` (LTI 1.3 from Moodle, Canvas ...) or an OAuth provider
  (`oauthenticator`) instead: one line here (`c.JupyterHub.authenticator_class`).
- **Spawner: SeatSpawner** (spawner.py), on the Swarm the manager's engine leads.
- **Idle culler** (`jupyterhub-idle-culler`, a hub service): a seat nobody used for
  `--idle` seconds is stopped; its volume and its pin to the node stay.
- **Roster** (roster.py, a hub service at /services/roster/, the admin's only): every student's
  seat, machine and progress, read from the seats themselves with the service's own token.
"""

# ruff: noqa: F821  (`c` is given by JupyterHub)

import json
import os
import sys
from pathlib import Path

from dashboard.hub import classroom

state = Path.cwd()  # `classroom up` starts the hub in its folder
o = json.loads((state / classroom.OPTIONS_FILE).read_text())

c.JupyterHub.bind_url = f"http://0.0.0.0:{o['port']}"
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = f"http://{o['manager_addr']}:8081"  # where seats reach the hub
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [str(classroom.PROXY)]
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")

c.JupyterHub.authenticator_class = "native"
c.NativeAuthenticator.open_signup = o["open_signup"]
c.NativeAuthenticator.minimum_password_length = 6
c.NativeAuthenticator.check_common_password = False
c.Authenticator.allow_all = True  # every account the authenticator lets in (approved ones)
c.Authenticator.admin_users = {o["admin"]}
# Hub user names become image names (NAME/iris-model:1.0): lowercase letters, digits, dashes.
c.Authenticator.username_pattern = r"^[a-z0-9][a-z0-9-]{0,23}$"

limits = o["limits"]
c.JupyterHub.spawner_class = "dashboard.hub.spawner.SeatSpawner"
c.SeatSpawner.image = o["seat_image"]
c.SeatSpawner.node_socket = o["node_socket"]
c.SeatSpawner.docker_gid = o["docker_gid"] or 0
c.SeatSpawner.state_dir = str(state)
c.SeatSpawner.build_cgroup = o.get("build_cgroup") or ""
c.SeatSpawner.cpu_limit = float(limits["cpu_limit"])
c.SeatSpawner.cpu_guarantee = float(limits["cpu_reserve"])
c.SeatSpawner.mem_limit = int(limits["mem_limit"])
c.SeatSpawner.mem_guarantee = int(limits["mem_reserve"])
c.SeatSpawner.pids_limit = int(limits["pids"])
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 120  # the seat's proxy, then Streamlit, start inside it
c.Spawner.default_url = "/"


def _arrival(handler) -> str:
    """Where a login lands: the instructor on the roster (no seat of their own taken from the
    class), a student on the start of their seat."""
    user = handler.current_user
    return "/services/roster/" if user is not None and user.admin else "/hub/spawn"


c.JupyterHub.default_url = _arrival

c.JupyterHub.load_roles = [
    {
        "name": "dml-idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    },
    {  # the instructor's roster (roster.py): reads each seat's progress, cleans up, stops seats
        "name": "dml-roster",
        "scopes": [
            "list:users",
            "read:users",
            "read:servers",
            "admin:server_state",
            "access:servers",
            "servers",
        ],
        "services": ["roster"],
    },
]
culler = [sys.executable, "-m", "jupyterhub_idle_culler"]
culler += [f"--timeout={o['idle_s']}", f"--cull-every={o['cull_every_s']}"]
c.JupyterHub.services = [
    {"name": "idle-culler", "command": culler},
    {
        "name": "roster",
        "url": "http://127.0.0.1:10101",
        "command": [sys.executable, "-m", "dashboard.hub.roster", "--admin", o["admin"]]
        + ["--proxy-url", f"http://127.0.0.1:{o['port']}"],
        "oauth_no_confirm": True,
        "display": True,
        "environment": {"DOCKER_HOST": os.environ.get("DOCKER_HOST", "")},
    },
]
