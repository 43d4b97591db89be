"""A real ``ampkit serve`` for the MCP tests, and the environment pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ampkit.server import ProjectConfig, RunningServer, ServerConfig, serve_in_thread

API_KEY = "mcp-api-key-0001"
SECRET_KEY = "mcp-secret-key-0001"
PROJECT_ID = 5151


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def amplitude() -> Iterator[RunningServer]:
    config = ServerConfig(host="127.0.0.1", port=0, throttle_enabled=False, projects=[
        ProjectConfig(project_id=PROJECT_ID, api_key=API_KEY, secret_key=SECRET_KEY)])
    srv = serve_in_thread(config)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def amp_env(amplitude: RunningServer) -> dict[str, str]:
    """``AMPLITUDE_*`` for a subprocess: the test server's URL and key pair (fresh data)."""
    httpx.post(f"{amplitude.url}/_ampkit/reset", auth=(API_KEY, SECRET_KEY)).raise_for_status()
    return {"AMPLITUDE_API_KEY": API_KEY, "AMPLITUDE_SECRET_KEY": SECRET_KEY,
            "AMPLITUDE_BASE_URL": amplitude.url}
