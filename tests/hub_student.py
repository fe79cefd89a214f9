"""A classroom hub's student with plain HTTP, as the hub's pages drive it: sign up, log in (which
lands on the spawn page and starts the seat), the spawn page's events, stop, and the browser's
login to the seat (the hub's OAuth). The hub tests (tests/e2e/test_classroom_hub.py) and the
hub's benchmark (bench/hub_class.py) use it."""

from __future__ import annotations

import json
import re
import time

import requests


class HubStudent:
    def __init__(self, base: str, name: str, password: str, timeout: float = 60):
        self.base, self.name, self.password = base, name, password
        self.timeout = timeout
        self.http = requests.Session()

    @property
    def server_url(self) -> str:
        return f"{self.base}/hub/api/users/{self.name}/server"

    def _xsrf(self, path: str) -> str:
        page = self.http.get(self.base + path, timeout=self.timeout).text
        found = re.search(r'name="_xsrf" value="([^"]+)"', page)
        # The hub's own cookie (path /hub/): the roster service sets an _xsrf of its own, and
        # requests refuses a lookup by name alone when two match.
        return found.group(1) if found else self.http.cookies.get("_xsrf", "", path="/hub/")

    def _headers(self) -> dict:
        token = self._xsrf("/hub/home")
        return {"X-XSRFToken": token, "Referer": self.base + "/hub/home"}

    def sign_up(self) -> None:
        form = {"username": self.name, "signup_password": self.password}
        form["signup_password_confirmation"] = self.password
        form["_xsrf"] = self._xsrf("/hub/signup")
        self.http.post(self.base + "/hub/signup", data=form, timeout=self.timeout)

    def log_in(self) -> requests.Response:
        """Log in; a student lands on the spawn page, which starts their seat."""
        form = {"username": self.name, "password": self.password}
        form["_xsrf"] = self._xsrf("/hub/login")
        return self.http.post(self.base + "/hub/login", data=form, timeout=self.timeout * 2)

    def sign_up_and_log_in(self) -> None:
        self.sign_up()
        done = self.log_in()
        assert done.status_code == 200 and "/hub/login" not in done.url, done.url

    def progress(self, timeout: float = 300) -> dict:
        """The spawn page's events until the seat is ready or failed: the last one."""
        last: dict = {}
        with self.http.get(
            self.server_url + "/progress",
            headers={"Referer": self.base + "/hub/home"},
            stream=True,
            timeout=timeout,
        ) as events:
            for line in events.iter_lines(decode_unicode=True):
                if line.startswith("data:"):
                    last = json.loads(line[5:])
                    if last.get("ready") or last.get("failed"):
                        break
        return last

    def start(self) -> dict:
        """Ask the hub for the seat and wait for its answer: the events of the spawn page."""
        self.http.post(self.server_url, headers=self._headers(), timeout=self.timeout)
        return self.progress()

    def stop(self) -> None:
        headers = self._headers()
        self.http.delete(self.server_url, headers=headers, timeout=120)
        for _ in range(120):
            if (
                self.http.get(
                    self.server_url + "/progress", headers=headers, timeout=30
                ).status_code
                != 200
            ):
                break
            time.sleep(1)

    def seat_login(self, path: str = "lesson1") -> str:
        """The browser's first visit to the seat (through the hub's OAuth and back); the Cookie
        header that reaches the seat from then on. Raises when the visit does not land."""
        page = self.http.get(f"{self.base}/user/{self.name}/{path}", timeout=120)
        if page.status_code != 200 or f"/user/{self.name}/" not in page.url:
            raise RuntimeError(f"login to the seat: {page.status_code} {page.url}")
        return "; ".join(
            f"{c.name}={c.value}" for c in self.http.cookies if c.name.startswith("jupyterhub")
        )
