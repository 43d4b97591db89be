"""A real ``ampkit serve`` for the actions, a runner pointed at it, and read-back helpers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ampkit.actions import ActionOutput, ActionRunner
from ampkit.config import Settings
from ampkit.core.policy import RetryPolicy
from ampkit.core.transport import tls
from ampkit.server import ProjectConfig, RunningServer, ServerConfig, serve_in_thread

API_KEY = "act-api-key-0001"
SECRET_KEY = "act-secret-key-0001"
PROJECT_ID = 4242


class Server:
    """The running server plus admin read-back (Basic auth with the project's key pair)."""

    def __init__(self, running: RunningServer) -> None:
        self.url = running.url
        self.http = httpx.Client(base_url=self.url, auth=(API_KEY, SECRET_KEY), timeout=30,
                                 verify=tls())

    def get(self, path: str) -> Any:
        r = self.http.get(path)
        r.raise_for_status()
        return r.json()

    def route_exists(self, path: str) -> bool:
        """False when the server has no such route (Starlette's plain-text 404)."""
        r = self.http.get(path)
        return not (r.status_code == 404 and r.headers.get("content-type", "")
                    .startswith("text/plain"))

    def expect(self, out: ActionOutput, path: str) -> bool:
        """Check a query action's output: success when the server has the route, else the
        clean 404 failure.  Returns whether the route exists."""
        if self.route_exists(path):
            assert out.success, out.error
            return True
        assert not out.success
        assert out.code == 404
        assert out.error and "not found (HTTP 404)" in out.error
        return False

    def set_faults(self, **faults: Any) -> None:
        self.http.post("/_ampkit/faults", json=faults).raise_for_status()

    def reset(self) -> None:
        self.http.post("/_ampkit/reset").raise_for_status()
        self.set_faults()


@pytest.fixture(scope="module")
def running() -> Iterator[RunningServer]:
    config = ServerConfig(host="127.0.0.1", port=0, throttle_enabled=False, projects=[
        ProjectConfig(project_id=PROJECT_ID, api_key=API_KEY, secret_key=SECRET_KEY)])
    srv = serve_in_thread(config)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def server(running: RunningServer) -> Iterator[Server]:
    s = Server(running)
    s.reset()
    yield s
    s.http.close()


def settings_for(url: str, **overrides: Any) -> Settings:
    given: dict[str, Any] = {"api_key": API_KEY, "secret_key": SECRET_KEY, "base_url": url}
    given.update(overrides)
    return Settings(**given)


@pytest.fixture
def make_settings(server: Server) -> Any:
    """``make_settings(**overrides)``: settings for the test server, overridden."""
    return lambda **overrides: settings_for(server.url, **overrides)


@pytest.fixture
def runner(server: Server) -> Iterator[ActionRunner]:
    with ActionRunner(settings=settings_for(server.url), retry=RetryPolicy.no_wait(2)) as r:
        yield r


@pytest.fixture
def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@pytest.fixture
def sent(runner: ActionRunner) -> list[dict[str, Any]]:
    """Three events (two users, a purchase), sent with the send_events action."""
    events: list[dict[str, Any]] = [
        {"event_type": "Sign Up", "user_id": "user-0001", "platform": "iOS",
         "country": "France"},
        {"event_type": "Purchase", "user_id": "user-0001", "price": 4.99, "quantity": 2,
         "product_id": "sku-1", "session_id": 1_700_000_000_000},
        {"event_type": "Sign Up", "user_id": "user-0002", "platform": "Web",
         "country": "Chile"},
    ]
    out = runner.run("send_events", {"events": events})
    assert out.success, out.error
    return events
