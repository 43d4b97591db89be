"""Servers for server-side tests: real uvicorn on a free loopback port, raw HTTP calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ampkit.core.transport import tls
from ampkit.server import ProjectConfig, RunningServer, ServerConfig, serve_in_thread
from ampkit.server.limits import DashboardLimitsConfig

KEY, SECRET = "srv-api-key-0001", "srv-secret-key-0001"
KEY2, SECRET2 = "srv-api-key-0002", "srv-secret-key-0002"


def config(**overrides: Any) -> ServerConfig:
    base: dict[str, Any] = {
        "host": "127.0.0.1", "port": 0,
        # these tests check computed answers; test_server_dashboard_limits checks the limits
        "dashboard_limits": DashboardLimitsConfig(enabled=False),
        "projects": [ProjectConfig(project_id=1, api_key=KEY, secret_key=SECRET,
                                   silenced_devices=["silenced-device-1"]),
                     ProjectConfig(project_id=2, api_key=KEY2, secret_key=SECRET2)],
    }
    base.update(overrides)
    return ServerConfig(**base)


class Api:
    """Raw HTTP against one running server."""

    def __init__(self, running: RunningServer) -> None:
        self.running = running
        self.http = httpx.Client(base_url=running.url, timeout=30, verify=tls())

    def post_events(self, events: Any, *, path: str = "/2/httpapi", key: str = KEY,
                    **extra: Any) -> httpx.Response:
        return self.http.post(path, json={"api_key": key, "events": events, **extra})

    def stored(self, key: str = KEY, secret: str = SECRET) -> list[dict[str, Any]]:
        r = self.http.get("/_ampkit/events", params={"limit": 100000}, auth=(key, secret))
        r.raise_for_status()
        out: list[dict[str, Any]] = r.json()
        return out

    def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, path, auth=(KEY, SECRET), **kw)

    def reset(self) -> None:
        for key, secret in ((KEY, SECRET), (KEY2, SECRET2)):
            self.http.post("/_ampkit/reset", auth=(key, secret)).raise_for_status()
        self.admin("POST", "/_ampkit/faults", json={}).raise_for_status()


@pytest.fixture(scope="module")
def plain_server() -> Iterator[RunningServer]:
    srv = serve_in_thread(config(throttle_enabled=False))
    yield srv
    srv.stop()


@pytest.fixture
def api(plain_server: RunningServer) -> Iterator[Api]:
    a = Api(plain_server)
    a.reset()
    yield a
    a.http.close()
