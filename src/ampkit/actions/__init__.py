"""Typed actions: one per job (send events, query, export…), each with an input model, an
output model that always says ``success``/``error``/``code``, and a function
``(client, input) -> output``.  Actions never raise: missing keys, bad input, HTTP errors and
timeouts all come back as ``success=False`` with a message saying what to do.

>>> from ampkit.actions import REGISTRY, run_action
>>> "event_segmentation" in REGISTRY.names()
True
>>> out = run_action("user_search", {"user": ""})
>>> out.success, out.error
(False, 'invalid input: user: String should have at least 1 character')

Credentials and hosts come from ``AMPLITUDE_API_KEY``, ``AMPLITUDE_SECRET_KEY``,
``AMPLITUDE_REGION`` and ``AMPLITUDE_BASE_URL`` (see :mod:`ampkit.config`) unless a client or
settings are passed.  ``ampkit mcp`` serves every action as an MCP tool.
"""

# Importing registers the actions; this order is the order they (and the tools) are listed in.
# isort: off
from ampkit.actions import ingest, queries, users, exports, project  # noqa: F401
# isort: on
from ampkit.actions.base import (
    ActionInput,
    ActionOutput,
    PointsOutput,
    SeriesOutput,
    SeriesPoint,
)
from ampkit.actions.registry import REGISTRY, Action, ActionRegistry
from ampkit.actions.runner import ACTION_RETRY, ActionRunner, run_action

__all__ = [
    "ACTION_RETRY",
    "REGISTRY",
    "Action",
    "ActionInput",
    "ActionOutput",
    "ActionRegistry",
    "ActionRunner",
    "PointsOutput",
    "SeriesOutput",
    "SeriesPoint",
    "run_action",
]
