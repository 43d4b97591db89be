"""The generated MCP server, driven in-process by the SDK's own client."""

from __future__ import annotations

from typing import Any

import pytest
from tests.lazy import Lazy

from ampkit.actions import REGISTRY, ActionRunner
from ampkit.config import Settings
from ampkit.core.policy import RetryPolicy

pytestmark = pytest.mark.anyio
mcp_sdk = Lazy("mcp")  # imported by the first test that runs, not at collection
ampkit_mcp = Lazy("ampkit.mcp")


@pytest.fixture
def runner(amp_env: dict[str, str]) -> Any:
    settings = Settings(api_key=amp_env["AMPLITUDE_API_KEY"],
                        secret_key=amp_env["AMPLITUDE_SECRET_KEY"],
                        base_url=amp_env["AMPLITUDE_BASE_URL"])
    with ActionRunner(settings=settings, retry=RetryPolicy.no_wait(2)) as r:
        yield r


async def test_tools_mirror_the_registry(runner: ActionRunner) -> None:
    async with mcp_sdk.Client(ampkit_mcp.build_server(runner)) as client:
        tools = (await client.list_tools()).tools
    assert [t.name for t in tools] == REGISTRY.names()
    for tool in tools:
        action = REGISTRY.get(tool.name)
        assert action is not None
        assert tool.description == action.description
        assert tool.title == action.title
        assert tool.input_schema == action.input_schema()
        assert tool.output_schema == action.output_schema()
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is action.read_only
        assert tool.annotations.open_world_hint is True
    by_name = {t.name: t for t in tools}
    custom = by_name["custom_request"].annotations
    assert custom is not None and custom.destructive_hint is True
    search = by_name["user_search"].annotations
    assert search is not None and search.idempotent_hint is True


async def test_bad_input_is_an_ordinary_result_naming_the_field(runner: ActionRunner) -> None:
    async with mcp_sdk.Client(ampkit_mcp.build_server(runner)) as client:
        result = await client.call_tool("user_activity", {"amplitude_id": -1, "limt": 5})
    assert not result.is_error
    out = result.structured_content
    assert out is not None and out["success"] is False and out["code"] is None
    assert "amplitude_id: Input should be greater than or equal to 0" in out["error"]
    assert "limt: unknown field" in out["error"]


async def test_json_text_arguments_are_decoded(runner: ActionRunner) -> None:
    async with mcp_sdk.Client(ampkit_mcp.build_server(runner)) as client:
        result = await client.call_tool("send_events", {
            "events": '[{"event_type": "Opened", "user_id": "user-0001"}]'})
        named = await client.call_tool("user_search", {"user": "[1]"})
    assert result.structured_content is not None
    assert result.structured_content["success"] is True
    assert result.structured_content["delivered"] == 1
    assert named.structured_content is not None  # a str field is never decoded
    assert "user: Input should be a valid string" not in str(named.structured_content["error"])


async def test_unknown_tool_is_a_protocol_level_error(runner: ActionRunner) -> None:
    async with mcp_sdk.Client(ampkit_mcp.build_server(runner)) as client:
        result = await client.call_tool("no_such_tool", {})
    assert result.is_error
