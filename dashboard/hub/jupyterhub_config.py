"""The classroom hub's JupyterHub configuration (`jupyterhub -f` this file).

`python -m dashboard classroom up` starts the hub with this file and the `DML_HUB_*` variables
below; run by hand, set them yourself. Everything here is pinned by docker/hub/requirements.txt
and docker/hub/package.json.

- **Authenticator: NativeAuthenticator** (`jupyterhub-nativeauthenticator`). A class needs
  accounts that no other student can take, and this needs no outside service: students sign up
  with a name and a password on the hub's own page, the passwords are kept hashed in the hub's
  database, and the instructor is the hub's admin. `DML_HUB_OPEN_SIGNUP=0` makes every new
  account wait for the instructor's approval (/hub/authorize). A school with a course system
  uses `jupyterhub-ltiauthenticator` (LTI 1.3 from Moodle, Canvas ...) or an OAuth provider
  (`oauthenticator`) instead: one line here (`c.JupyterHub.authenticator_class`).
- **Spawner: SeatSpawner** (spawner.py), on the Swarm the manager's engine leads.
- **Idle culler** (`jupyterhub-idle-culler`, a hub service): a seat nobody used for
  `DML_HUB_IDLE_S` seconds is stopped; its volume and its pin to the node stay.
"""

# ruff: noqa: F821  (`c` is given by JupyterHub)

import os
import sys
from pathlib import Path

from dashboard.hub import seats

state = Path(os.environ.get("DML_HUB_STATE", ".")).resolve()
manager = os.environ.get("DML_HUB_ADDRESS", "127.0.0.1")  # where seats reach the hub's API
proxy = os.environ.get("DML_HUB_PROXY", "configurable-http-proxy")

c.JupyterHub.bind_url = os.environ.get("DML_HUB_URL", "http://0.0.0.0:8000")
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = f"http://{manager}:8081"
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [proxy]
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.ConfigurableHTTPProxy.auth_token = os.environ.get("DML_HUB_PROXY_TOKEN", "")

c.JupyterHub.authenticator_class = "native"
c.NativeAuthenticator.open_signup = os.environ.get("DML_HUB_OPEN_SIGNUP", "1") == "1"
c.NativeAuthenticator.minimum_password_length = 6
c.NativeAuthenticator.check_common_password = False
c.Authenticator.allow_all = True  # every account the authenticator lets in (approved ones)
c.Authenticator.admin_users = {os.environ.get("DML_HUB_ADMIN", "instructor")}
# Hub user names become image names (NAME/iris-model:1.0): lowercase letters, digits, dashes.
c.Authenticator.username_pattern = r"^[a-z0-9][a-z0-9-]{0,23}$"

c.JupyterHub.spawner_class = "dashboard.hub.spawner.SeatSpawner"
c.SeatSpawner.image = os.environ.get("DML_HUB_SEAT_IMAGE", seats.SEAT_IMAGE)
c.SeatSpawner.node_socket = os.environ.get("DML_HUB_NODE_SOCKET", seats.NODE_SOCKET)
c.SeatSpawner.docker_gid = int(os.environ.get("DML_HUB_DOCKER_GID", "0"))
c.SeatSpawner.cpu_limit = float(os.environ.get("DML_HUB_CPU_LIMIT", seats.Limits.cpu_limit))
c.SeatSpawner.cpu_guarantee = float(os.environ.get("DML_HUB_CPU_RESERVE", seats.Limits.cpu_reserve))
c.SeatSpawner.mem_limit = int(os.environ.get("DML_HUB_MEM_LIMIT", seats.Limits.mem_limit))
c.SeatSpawner.mem_guarantee = int(os.environ.get("DML_HUB_MEM_RESERVE", seats.Limits.mem_reserve))
c.SeatSpawner.state_dir = str(state)
c.SeatSpawner.pids_limit = int(os.environ.get("DML_HUB_PIDS", seats.Limits.pids))
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 120  # the seat's proxy, then Streamlit, start inside it
c.Spawner.default_url = "/"

idle = int(os.environ.get("DML_HUB_IDLE_S", "3600"))
every = int(os.environ.get("DML_HUB_CULL_EVERY_S", "60"))
c.JupyterHub.load_roles = [
    {
        "name": "dml-idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
]
c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={idle}",
            f"--cull-every={every}",
        ],
    }
]
