"""``ampkit mcp --http PORT``: streamable HTTP, driven by the SDK's own client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ampkit.actions import REGISTRY

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def mcp_url(amp_env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ampkit", "mcp", "--http", str(port)],
                            env={**os.environ, **amp_env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[1].decode()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "ampkit mcp --http did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


async def test_streamable_http(mcp_url: str) -> None:
    from mcp import Client  # here, not at collection: tests/lazy.py

    async with Client(mcp_url) as client:
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == REGISTRY.names()
        sent = await client.call_tool("send_events", {"events": [
            {"event_type": "Opened", "user_id": "user-0001"}]})
        search = await client.call_tool("user_search", {"user": ""})
    out: Any = sent.structured_content
    assert not sent.is_error and out["success"] is True and out["delivered"] == 1
    err: Any = search.structured_content
    assert err["success"] is False and err["error"].startswith("invalid input: user:")


@pytest.mark.parametrize(("args", "env", "expected"), [
    (["--log-level", "loud"], {}, "--log-level"),
    (["--http", "8000", "--path", "mcp"], {}, "--path must start with '/'"),
    ([], {"AMPLITUDE_REGION": "mars"}, "region"),
])
def test_cli_refuses_bad_options(args: list[str], env: dict[str, str], expected: str) -> None:
    done = subprocess.run([sys.executable, "-m", "ampkit", "mcp", *args],
                          env={**os.environ, "COLUMNS": "200", **env}, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert expected in done.stderr
