"""ampkit as an MCP server: every action of :data:`ampkit.actions.REGISTRY` is a tool.

``ampkit mcp`` serves over stdio; ``ampkit mcp --http 8000`` over streamable HTTP at
``http://127.0.0.1:8000/mcp``.  From Python: ``build_server()`` gives the
:class:`mcp.server.MCPServer` (e.g. for ``mcp.Client(server)`` in tests).
"""

import ampkit._extras.mcp  # noqa: F401  (first: one line naming the extra if it is missing)
from ampkit.mcp.server import INSTRUCTIONS, build_server, serve, tool_annotations, tool_for

__all__ = ["INSTRUCTIONS", "build_server", "serve", "tool_annotations", "tool_for"]
