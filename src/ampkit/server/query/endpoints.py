"""The Dashboard endpoints the local server answers: path → computer.

Each request is read here, once, with its endpoint's query model — the one
:data:`ampkit.models.endpoints.BY_PATH` declares, which the client writes its requests with —
by :func:`~ampkit.models.wire.from_wire`; a :class:`~ampkit.models.wire.WireError` is the
:class:`~ampkit.server.query.common.QueryError` naming the wire parameter (``e``, ``start``…)
and where inside it.  A computer then takes the request context and the typed query
(``def segmentation(ctx: Ctx, q: SegmentationQuery)``) and returns the whole JSON body; it
raises :class:`~ampkit.server.query.common.QueryError` for what only the data can tell (an
unknown event type).  Saved charts (:mod:`ampkit.server.query.charts`) run the same path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ampkit.models.dashboard.common import DashboardQuery, EventDef
from ampkit.models.dashboard.composition import CompositionQuery
from ampkit.models.dashboard.events import EventsListQuery
from ampkit.models.dashboard.funnels import FunnelQuery
from ampkit.models.dashboard.realtime import RealtimeQuery
from ampkit.models.dashboard.retention import RetentionQuery
from ampkit.models.dashboard.revenue import RevenueLtvQuery
from ampkit.models.dashboard.segmentation import SegmentationQuery
from ampkit.models.dashboard.sessions import (
    SessionAverageQuery,
    SessionLengthQuery,
    SessionsPerUserQuery,
)
from ampkit.models.dashboard.user_activity import UserActivityQuery
from ampkit.models.dashboard.user_search import UserSearchQuery
from ampkit.models.dashboard.users import UsersQuery
from ampkit.models.endpoints import BY_PATH
from ampkit.models.wire import WireError, from_wire, wire_fields
from ampkit.server.query import (
    activity,
    funnels,
    retention,
    revenue,
    segmentation,
    sessions,
    users,
)
from ampkit.server.query.common import Ctx, QueryError, QueryParams
from ampkit.server.query.props import require_known_user_props

Compute = Callable[[Ctx, QueryParams], Any]
"""What a route runs: the request's context and its query string → the JSON body."""
Q = TypeVar("Q", bound=DashboardQuery)
USER_PROP_PARAMS = ("g", "g2", "p")
"""Parameters naming a user property to group by (composition's ``p`` too)."""


def read(model: type[Q], params: QueryParams) -> Q:
    """The request as its query model; a bad parameter is a :class:`QueryError` naming it."""
    try:
        return from_wire(model, params.items)
    except WireError as exc:
        raise QueryError(exc.param, exc.rule, where=exc.where) from None


def grouped_user_props(q: DashboardQuery) -> list[tuple[str, str]]:
    """``(parameter, name)`` of every user property a query groups by: ``g``, ``g2``,
    composition's ``p``, then the ``group_by`` entries of type ``user`` of its event
    definitions (``e``, ``e2``, funnel steps, ``se``, ``re``)."""
    fields = wire_fields(type(q))
    named = [(wire.name, value) for name, wire in fields
             if wire.name in USER_PROP_PARAMS and isinstance(value := getattr(q, name), str)
             and value]
    for name, wire in fields:
        value = getattr(q, name)
        for event in value if isinstance(value, list) else [value]:
            if isinstance(event, EventDef):
                named += [(wire.name, g.value) for g in event.group_by if g.type == "user"]
    return named


def endpoint(path: str, model: type[Q], compute: Callable[[Ctx, Q], Any]) -> Compute:
    """The route's computer: ``path``'s query model (``model``, checked against its
    definition) read from the query string, an unknown grouped-by user property answered
    first, as Amplitude does (:func:`~ampkit.server.query.props.require_known_user_props`),
    then ``compute``."""
    if BY_PATH[path].query is not model:
        raise TypeError(f"{path} is declared with {BY_PATH[path].query.__name__}, "
                        f"not {model.__name__}")

    def run(ctx: Ctx, params: QueryParams) -> Any:
        q = read(model, params)
        require_known_user_props(ctx.cur, ctx.project_id, grouped_user_props(q))
        return compute(ctx, q)

    return run


ENDPOINTS: dict[str, Compute] = {
    "/api/2/users": endpoint("/api/2/users", UsersQuery, users.users),
    "/api/2/composition": endpoint("/api/2/composition", CompositionQuery, users.composition),
    "/api/2/realtime": endpoint("/api/2/realtime", RealtimeQuery, users.realtime),
    "/api/2/events/segmentation": endpoint("/api/2/events/segmentation", SegmentationQuery,
                                           segmentation.segmentation),
    "/api/2/events/list": endpoint("/api/2/events/list", EventsListQuery,
                                   sessions.events_list),
    "/api/2/sessions/length": endpoint("/api/2/sessions/length", SessionLengthQuery,
                                       sessions.length),
    "/api/2/sessions/average": endpoint("/api/2/sessions/average", SessionAverageQuery,
                                        sessions.average),
    "/api/2/sessions/peruser": endpoint("/api/2/sessions/peruser", SessionsPerUserQuery,
                                        sessions.per_user),
    "/api/2/funnels": endpoint("/api/2/funnels", FunnelQuery, funnels.funnels),
    "/api/2/retention": endpoint("/api/2/retention", RetentionQuery, retention.retention),
    "/api/2/revenue/ltv": endpoint("/api/2/revenue/ltv", RevenueLtvQuery, revenue.ltv),
    "/api/2/usersearch": endpoint("/api/2/usersearch", UserSearchQuery, activity.user_search),
    "/api/2/useractivity": endpoint("/api/2/useractivity", UserActivityQuery,
                                    activity.user_activity),
}
"""Every ``GET`` Dashboard path with a computed answer: one per definition of
:data:`~ampkit.models.endpoints.DEFS`."""
if set(ENDPOINTS) != set(BY_PATH):
    raise RuntimeError(f"computers and definitions differ: {set(ENDPOINTS) ^ set(BY_PATH)}")

CHARTABLE = frozenset(ENDPOINTS) - {"/api/2/usersearch", "/api/2/useractivity"}
"""Paths a saved chart may stand for (bodies wrapped in ``data``)."""
