"""``ampkit mcp`` over stdio, spawned as a subprocess and driven by the SDK's own client."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import httpx
import pytest

from ampkit.actions import REGISTRY
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.anyio


def server_params(env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "ampkit", "mcp"], env=env)


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    out: dict[str, Any] = result.structured_content
    assert out is not None
    assert set(out) >= {"success", "error", "code"}
    return out


async def test_stdio_tools_calls_and_errors(amp_env: dict[str, str], amplitude: Any) -> None:
    today = dt.datetime.now(dt.UTC).date()
    async with Client(server_params(amp_env), read_timeout_seconds=60) as client:
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == REGISTRY.names()
        read_only = {t.name for t in tools if t.annotations and t.annotations.read_only_hint}
        assert read_only == {a.name for a in REGISTRY if a.read_only}
        assert "user_search" in read_only and "send_events" not in read_only

        sent = structured(await client.call_tool("send_events", {"events": [
            {"event_type": "Sign Up", "user_id": "user-0001", "country": "France"},
            {"event_type": "Purchase", "user_id": "user-0001", "price": 9.5}]}))
        assert (sent["success"], sent["delivered"], sent["failed"]) == (True, 2, [])

        ident = structured(await client.call_tool("identify_user", {
            "user_id": "user-0001", "user_properties": {"$set": {"plan": "pro"}}}))
        assert ident["success"] is True

        profile = structured(await client.call_tool("user_profile", {
            "user_id": "user-0001", "get_amp_props": True}))
        assert profile["success"] is True, profile["error"]
        assert profile["amp_props"]["plan"] == "pro"

        made = structured(await client.call_tool("create_annotation", {
            "label": "Launch", "date": today.isoformat(), "app_id": 5151}))
        assert made["success"] is True, made["error"]
        listed = structured(await client.call_tool("list_annotations", {}))
        assert [a["label"] for a in listed["annotations"]] == ["Launch"]

        seg = structured(await client.call_tool("event_segmentation", {
            "event": "Sign Up", "start": today.isoformat(), "end": today.isoformat()}))
        route = httpx.get(f"{amplitude.url}/api/2/events/segmentation",
                          auth=(amp_env["AMPLITUDE_API_KEY"], amp_env["AMPLITUDE_SECRET_KEY"]))
        if route.status_code == 404 and route.headers["content-type"].startswith("text/plain"):
            assert (seg["success"], seg["code"]) == (False, 404)
            assert "not found" in seg["error"]
        else:
            assert seg["success"] is True, seg["error"]
            assert seg["x_values"] == [today.isoformat()] and seg["series"] == [[1]]

        bad = structured(await client.call_tool("send_events", {"events": [
            {"event_type": "Bad", "user_id": "abc"}]}))
        assert bad["success"] is False and "event[0].user_id" in bad["error"]
        missing = structured(await client.call_tool("funnel", {"steps": ["A"]}))
        assert missing["success"] is False
        assert "start: Field required" in missing["error"]


async def test_stdio_without_secret_key(amp_env: dict[str, str]) -> None:
    env = {k: v for k, v in amp_env.items() if k != "AMPLITUDE_SECRET_KEY"}
    async with Client(server_params(env), read_timeout_seconds=60) as client:
        out = structured(await client.call_tool("list_cohorts", {}))
        sent = structured(await client.call_tool("send_events", {"events": [
            {"event_type": "Opened", "device_id": "device-0001"}]}))
    assert out["success"] is False and out["code"] is None
    assert "no secret key" in out["error"] and "AMPLITUDE_SECRET_KEY" in out["error"]
    assert sent["success"] is True  # sending needs only the API key


def test_a_line_the_sdk_cannot_read_is_answered_not_dropped(amp_env: dict[str, str]) -> None:
    """Not JSON, not a JSON-RPC message, or a lone surrogate (``\\ud800``): the SDK dropped
    such a line, and the client waiting for its answer hung. Each gets JSON-RPC's parse error
    (id null), and the server goes on answering."""
    import json
    import selectors
    import subprocess

    process = subprocess.Popen([sys.executable, "-m", "ampkit", "mcp"], env=amp_env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    assert process.stdin is not None and process.stdout is not None
    watch = selectors.DefaultSelector()
    watch.register(process.stdout, selectors.EVENT_READ)

    def ask(line: str) -> dict[str, Any]:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(line.encode() + b"\n")
        process.stdin.flush()
        assert watch.select(timeout=30), f"no answer to {line!r}"
        answer: dict[str, Any] = json.loads(process.stdout.readline())
        return answer

    try:
        hello = ask(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}}))
        assert hello["id"] == 1 and "result" in hello
        process.stdin.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')
        for bad in ("{not json", "[]", '{"jsonrpc": "2.0", "id": 2, "method": "tools/call", '
                    '"params": {"name": "send_event", "arguments": {"event_type": "\\ud800"}}}'):
            answer = ask(bad)
            assert answer["id"] is None and answer["error"]["code"] == -32700, answer
        listed = ask('{"jsonrpc": "2.0", "id": 3, "method": "tools/list"}')
        assert [t["name"] for t in listed["result"]["tools"]] == REGISTRY.names()
    finally:
        process.stdin.close()
        process.wait(timeout=30)
        watch.close()
