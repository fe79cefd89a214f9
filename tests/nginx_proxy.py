"""nginx (Debian's package) in front of a dashboard, as a classroom puts it: TLS with a
certificate made here, under a path prefix, passing WebSocket upgrades. Loopback only.

`proxy(upstream_port, prefix)` yields the public base URL, `https://127.0.0.1:PORT/PREFIX/`. The
dashboard behind it runs with `server.baseUrlPath` = the prefix, so nginx passes paths as they
are (`proxy_pass` without a URI), the way JupyterHub's proxy does. `Host` is passed as the
browser sent it, as Streamlit's deployment notes for nginx do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONFIG = """
{user}
worker_processes 1;
error_log {tmp}/error.log warn;
pid {tmp}/nginx.pid;
events {{ worker_connections 256; }}
http {{
  access_log {tmp}/access.log;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {tmp}/cert.pem;
    ssl_certificate_key {tmp}/key.pem;
    {terminal_location}
    location /{prefix}/ {{
      proxy_pass http://127.0.0.1:{upstream};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_read_timeout 3600s;
      proxy_buffering off;
    }}
  }}
}}
"""


# A proxy that passes the terminal's path as plain HTTP (no upgrade headers): a set-up mistake,
# for the page's "could not connect" message.
NO_UPGRADE = """location /{prefix}/_dashboard/terminal {{
      proxy_pass http://127.0.0.1:{upstream};
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
    }}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificate(folder: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 (valid one day): `cert.pem`, `key.pem`."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return folder / "cert.pem"


@contextlib.contextmanager
def proxy(
    upstream: int, prefix: str, timeout: float = 30, terminal_upgrade: bool = True
) -> Iterator[str]:
    """nginx on a free loopback port with TLS, `/PREFIX/` proxied to 127.0.0.1:`upstream`;
    with `terminal_upgrade=False` the terminal's path is proxied without WebSocket upgrades."""
    tmp = Path(tempfile.mkdtemp(prefix="nginx-"))
    port = free_port()
    make_certificate(tmp)
    user = "user root;" if os.geteuid() == 0 else ""  # workers read the 0700 temp folder
    prefix = prefix.strip("/")
    broken = "" if terminal_upgrade else NO_UPGRADE.format(prefix=prefix, upstream=upstream)
    (tmp / "nginx.conf").write_text(
        CONFIG.format(
            user=user,
            tmp=tmp,
            port=port,
            upstream=upstream,
            prefix=prefix,
            terminal_location=broken,
        )
    )
    proc = subprocess.Popen(
        [NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"nginx exited ({proc.returncode}): {proc.stderr.read()!r}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not listen")
            time.sleep(0.1)  # polling the port until nginx listens
        yield f"https://127.0.0.1:{port}/{prefix}/"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
