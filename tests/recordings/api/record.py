"""Re-record what daemons and clients say about API versions (as root: python this_file.py).

Starts a private Engine 26 daemon (tests/fault_daemon.py, with the binary that tests/engines.py
unpacks) with DOCKER_MIN_API_VERSION=1.44, so it refuses older clients as Engine 29 does, and
asks the machine's own daemon (Engine 20.10, API 1.41 at most) for a version newer than it
speaks. Writes, next to this file:
- refusals.json: the HTTP answer (status, headers, body, URL) to `GET /v{old}/_ping` from the
  Engine 26 daemon with its minimum raised ("too old"), and to `GET /v1.45/_ping` from the
  machine's daemon ("too new");
- cli-version.json: `docker version --format '{{json .}}'` (returncode, stdout, stderr) of the
  docker CLIs on this machine against the Engine 26 daemon, with and without
  DOCKER_API_VERSION=1.41.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

import docker  # noqa: E402

from tests import engines, fault_daemon  # noqa: E402

CLIS = ("/usr/bin/docker", "/usr/local/bin/docker")


def answer(base_url: str, version: str) -> dict:
    client = docker.APIClient(base_url=base_url, version=version)
    try:
        response = client._get(client._url("/_ping"))
    finally:
        client.close()
    return {
        "url": response.url,
        "status": response.status_code,
        "reason": response.reason,
        "headers": {k: v for k, v in response.headers.items() if k != "Date"},
        "body": response.text,
    }


def main() -> None:
    dockerd = str(engines.fetch_packages() / "usr/sbin/dockerd")
    daemon = fault_daemon.FaultDaemon(dockerd=dockerd, env={"DOCKER_MIN_API_VERSION": "1.44"})
    try:
        daemon.start()
        refusals = {
            "too-old": answer(daemon.host, "1.41"),
            "too-new": answer("unix:///var/run/docker.sock", "1.45"),
        }
        (HERE / "refusals.json").write_text(json.dumps(refusals, indent=2) + "\n")
        runs = []
        for cli in CLIS:
            if not Path(cli).exists():
                continue
            for pin in (None, "1.41"):
                env = {k: v for k, v in os.environ.items() if k != "DOCKER_API_VERSION"}
                env["DOCKER_HOST"] = daemon.host
                if pin:
                    env["DOCKER_API_VERSION"] = pin
                done = subprocess.run(
                    [cli, "version", "--format", "{{json .}}"],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                runs.append(
                    {
                        "cli": cli,
                        "DOCKER_API_VERSION": pin,
                        "returncode": done.returncode,
                        "stdout": done.stdout.replace(daemon.host, "unix:///DAEMON"),
                        "stderr": done.stderr.replace(daemon.host, "unix:///DAEMON"),
                    }
                )
        (HERE / "cli-version.json").write_text(json.dumps(runs, indent=2) + "\n")
    finally:
        daemon.close()
    print("refusals.json, cli-version.json written")


if __name__ == "__main__":
    main()
