"""The Dashboard endpoints the local server answers: path → computer.

A computer takes the request context and its query parameters and returns the whole JSON
body; it raises :class:`~ampkit.server.query.common.QueryError` for a bad parameter.  Saved
charts (:mod:`ampkit.server.query.charts`) run the same computers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ampkit.server.query import (
    activity,
    funnels,
    retention,
    revenue,
    segmentation,
    sessions,
    users,
)
from ampkit.server.query.common import Ctx, QueryParams
from ampkit.server.query.props import require_known_user_props

Compute = Callable[[Ctx, QueryParams], Any]
USER_PROP_PARAMS = ("g", "g2")
EVENT_PARAMS = ("e", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9", "e10", "se", "re")


def grouped_user_props(path: str, params: QueryParams) -> list[tuple[str, str]]:
    """``(parameter, name)`` of every user property a query groups by: ``g``, ``g2``,
    composition's ``p`` and the ``group_by`` entries of type ``user`` of its event
    definitions (an event definition that does not parse is left to the computer's 400)."""
    named = [(name, value) for name in USER_PROP_PARAMS if (value := params.get(name))]
    if path == "/api/2/composition" and (value := params.get("p")):
        named.append(("p", value))
    for name in EVENT_PARAMS:
        for raw in params.getlist(name):
            try:
                spec = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            groups = spec.get("group_by") if isinstance(spec, dict) else None
            for group in groups if isinstance(groups, list) else []:
                if isinstance(group, dict) and group.get("type") == "user" and isinstance(
                        group.get("value"), str) and group["value"]:
                    named.append((name, group["value"]))
    return named


def _checked(path: str, compute: Compute) -> Compute:
    def run(ctx: Ctx, params: QueryParams) -> Any:
        require_known_user_props(ctx.cur, ctx.project_id, grouped_user_props(path, params))
        return compute(ctx, params)

    return run


_COMPUTERS: dict[str, Compute] = {
    "/api/2/users": users.users,
    "/api/2/composition": users.composition,
    "/api/2/realtime": users.realtime,
    "/api/2/events/segmentation": segmentation.segmentation,
    "/api/2/events/list": sessions.events_list,
    "/api/2/sessions/length": sessions.length,
    "/api/2/sessions/average": sessions.average,
    "/api/2/sessions/peruser": sessions.per_user,
    "/api/2/funnels": funnels.funnels,
    "/api/2/retention": retention.retention,
    "/api/2/revenue/ltv": revenue.ltv,
    "/api/2/usersearch": activity.user_search,
    "/api/2/useractivity": activity.user_activity,
}
ENDPOINTS: dict[str, Compute] = {path: _checked(path, compute)
                                 for path, compute in _COMPUTERS.items()}
"""Every ``GET`` Dashboard path with a computed answer.  An unknown grouped-by user property is
answered first, as Amplitude does (:func:`~ampkit.server.query.props.require_known_user_props`)."""

CHARTABLE = frozenset(ENDPOINTS) - {"/api/2/usersearch", "/api/2/useractivity"}
"""Paths a saved chart may stand for (bodies wrapped in ``data``)."""
