"""The Dashboard endpoints the local server answers: path → computer.

A computer takes the request context and its query parameters and returns the whole JSON
body; it raises :class:`~ampkit.server.query.common.QueryError` for a bad parameter.  Saved
charts (:mod:`ampkit.server.query.charts`) run the same computers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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

Compute = Callable[[Ctx, QueryParams], Any]

ENDPOINTS: dict[str, Compute] = {
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
"""Every ``GET`` Dashboard path with a computed answer."""

CHARTABLE = frozenset(ENDPOINTS) - {"/api/2/usersearch", "/api/2/useractivity"}
"""Paths a saved chart may stand for (bodies wrapped in ``data``)."""
