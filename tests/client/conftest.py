"""A real ``ampkit serve`` on a free loopback port, and helpers to read back what it stored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ampkit import Amplitude, RetryPolicy, SenderOptions
from ampkit.core.transport import tls
from ampkit.server import ProjectConfig, RunningServer, ServerConfig, serve_in_thread

API_KEY = "test-api-key-0001"
SECRET_KEY = "test-secret-key-0001"


class Server:
    """The running server plus read-back helpers (admin routes, Basic auth)."""

    def __init__(self, running: RunningServer) -> None:
        self.running = running
        self.url = running.url
        self.http = httpx.Client(base_url=self.url, auth=(API_KEY, SECRET_KEY), timeout=30,
                                 verify=tls())

    def events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            r = self.http.get("/_ampkit/events", params={"limit": 5000, "offset": offset})
            r.raise_for_status()
            page = r.json()
            out.extend(page)
            if len(page) < 5000:
                return out
            offset += len(page)

    def stats(self) -> dict[str, Any]:
        r = self.http.get("/_ampkit/stats")
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def user(self, user_id: str) -> dict[str, Any]:
        r = self.http.get(f"/_ampkit/users/{user_id}")
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def group(self, group_type: str, value: str) -> dict[str, Any]:
        r = self.http.get(f"/_ampkit/groups/{group_type}/{value}")
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def set_faults(self, **faults: Any) -> None:
        r = self.http.post("/_ampkit/faults", json=faults)
        r.raise_for_status()

    def reset(self) -> None:
        self.http.post("/_ampkit/reset").raise_for_status()


def make_config(**overrides: Any) -> ServerConfig:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "projects": [ProjectConfig(project_id=100001, api_key=API_KEY, secret_key=SECRET_KEY)],
    }
    base.update(overrides)
    return ServerConfig(**base)


@pytest.fixture(scope="module")
def running() -> Iterator[RunningServer]:
    srv = serve_in_thread(make_config(throttle_enabled=False))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def server(running: RunningServer) -> Iterator[Server]:
    s = Server(running)
    s.reset()
    s.set_faults()
    yield s
    s.http.close()


@pytest.fixture
def client_factory(server: Server) -> Iterator[Any]:
    made: list[Amplitude] = []

    def make(**kw: Any) -> Amplitude:
        kw.setdefault("retry", RetryPolicy.no_wait(max_attempts=20))
        kw.setdefault("sender", SenderOptions(flush_interval=0.05))
        amp = Amplitude(API_KEY, base_url=server.url, **kw)
        made.append(amp)
        return amp

    yield make
    for amp in made:
        amp.close(timeout=5)
