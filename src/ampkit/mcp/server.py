"""Every registered action as an MCP tool — generated, no per-tool code.

A tool's name, title, description, input schema and output schema are the action's own
(:meth:`~ampkit.actions.Action.describe`); its annotations say whether it is read-only.  The
arguments are handed to the action's input model untouched, so bad input comes back as an
ordinary result with ``success: false`` and a message naming the field — the same shape as
every other failure — rather than as a protocol error.  Actions run in worker threads over
one shared client, so Amplitude's concurrency limits and cost budgets hold across calls.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

import anyio.to_thread
import orjson
from mcp.server import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import ToolAnnotations
from pydantic import BaseModel, ConfigDict

from ampkit.actions import REGISTRY, Action, ActionOutput, ActionRegistry, ActionRunner

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

INSTRUCTIONS = (
    "Tools for one Amplitude project (product analytics): send events and user properties, "
    "query charts (segmentation, funnels, retention, users, sessions, revenue), look up users, "
    "export raw events, list cohorts and annotations. Every tool answers with success, error "
    "and code: when success is false, error says what went wrong and how to fix the call. "
    "Days are 'YYYY-MM-DD'; export hours are 'YYYYMMDDTHH' in UTC."
)


class _Arguments(ArgModelBase):
    """Accepts the arguments as they come; the action's input model does the validating."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def _pre_parse(model: type[BaseModel], arguments: dict[str, Any]) -> dict[str, Any]:
    """Lists and objects some clients send as JSON text are decoded (not for ``str`` fields)."""
    out = dict(arguments)
    for key, value in arguments.items():
        field = model.model_fields.get(key)
        if field is None or field.annotation is str or not isinstance(value, str):
            continue
        if value.lstrip().startswith(("[", "{")):
            try:
                out[key] = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
    return out


def tool_annotations(action: Action[Any, Any]) -> ToolAnnotations:
    return ToolAnnotations(
        title=action.title,
        read_only_hint=action.read_only,
        destructive_hint=None if action.read_only else action.destructive,
        idempotent_hint=action.idempotent,
        open_world_hint=True,
    )


def tool_for(action: Action[Any, Any], runner: ActionRunner) -> Tool:
    """The MCP tool of one action."""

    async def call(arguments: dict[str, Any]) -> ActionOutput:
        given = _pre_parse(action.input_model, arguments)
        result: ActionOutput = await anyio.to_thread.run_sync(runner.call, action, given)
        return result

    return Tool(
        fn=call,
        name=action.name,
        title=action.title,
        description=action.description,
        parameters=action.input_schema(),
        fn_metadata=FuncMetadata(arg_model=_Arguments, output_model=action.output_model),
        is_async=True,
        annotations=tool_annotations(action),
    )


def _version() -> str:
    try:
        return version("ampkit")
    except PackageNotFoundError:  # running from a source tree
        return "0"


def build_server(
    runner: ActionRunner | None = None,
    *,
    registry: ActionRegistry = REGISTRY,
    log_level: LogLevel = "WARNING",
) -> MCPServer:
    """An MCP server with one tool per action of ``registry``."""
    runner = runner or ActionRunner(registry=registry)
    return MCPServer(
        "ampkit",
        title="ampkit — Amplitude",
        version=_version(),
        instructions=INSTRUCTIONS,
        tools=[tool_for(action, runner) for action in registry],
        log_level=log_level,
    )


def serve(
    *,
    http_port: int | None = None,
    host: str = "127.0.0.1",
    path: str = "/mcp",
    log_level: LogLevel = "WARNING",
) -> None:
    """Serve every action over stdio, or over streamable HTTP when ``http_port`` is given.
    Credentials come from the ``AMPLITUDE_*`` environment."""
    runner = ActionRunner()
    server = build_server(runner, log_level=log_level)
    try:
        if http_port is None:
            anyio.run(_stdio, server)
        else:
            server.run("streamable-http", host=host, port=http_port,
                       streamable_http_path=path)
    finally:
        runner.close()


async def _stdio(server: MCPServer) -> None:
    """``server`` over stdio, as the SDK's ``run()`` serves it, except that a line the SDK
    cannot read (not JSON, not a JSON-RPC message, a lone surrogate such as ``\\ud800``) is
    answered with JSON-RPC's parse error (id null) — the SDK drops it, and a client waiting for
    the answer hangs."""
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import SessionMessage
    from mcp.types import ErrorData, JSONRPCError

    lowlevel = server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream):
        forward, readable = anyio.create_memory_object_stream[Any](0)

        async def answer_unreadable() -> None:
            async with forward:
                async for item in read_stream:
                    if isinstance(item, Exception):
                        why = " ".join(str(item).split())[:300]
                        await write_stream.send(SessionMessage(JSONRPCError(
                            jsonrpc="2.0", id=None,
                            error=ErrorData(code=-32700, message=f"Parse error: {why}"))))
                        continue
                    await forward.send(item)

        async with anyio.create_task_group() as group:
            group.start_soon(answer_unreadable)
            await lowlevel.run(readable, write_stream, lowlevel.create_initialization_options())
            group.cancel_scope.cancel()
