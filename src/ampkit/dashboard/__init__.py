"""The Dashboard REST family and its neighbours on the analytics host: one module per family
(users, sessions, composition, events, segmentation, funnels, retention, realtime, revenue,
user_search, user_activity, charts, annotations, cohorts, taxonomy, custom).

Each module describes its endpoint(s) once — an :class:`~ampkit.dashboard.endpoint.Endpoint`
in :data:`~ampkit.dashboard.endpoint.REGISTRY` — with ``request(query) -> RequestSpec``,
``parse(RawResponse) -> Model`` and ``flow(query)``; :mod:`ampkit.dashboard.driver` runs the
flows (sync or async) under the client's query-cost budget.
"""

from ampkit.dashboard import (
    annotations,
    charts,
    cohorts,
    composition,
    custom,
    events,
    funnels,
    realtime,
    retention,
    revenue,
    segmentation,
    sessions,
    taxonomy,
    user_activity,
    user_search,
    users,
)
from ampkit.dashboard.custom import CustomResponse
from ampkit.dashboard.driver import (
    AsyncQueryRunner,
    QueryFlow,
    QueryRunner,
    Wait,
    spec_cost,
)
from ampkit.dashboard.endpoint import REGISTRY, Endpoint, checked, invalid_request
from ampkit.dashboard.user_activity import ActivityPager

__all__ = [
    "REGISTRY",
    "ActivityPager",
    "AsyncQueryRunner",
    "CustomResponse",
    "Endpoint",
    "QueryFlow",
    "QueryRunner",
    "Wait",
    "annotations",
    "charts",
    "checked",
    "cohorts",
    "composition",
    "custom",
    "events",
    "funnels",
    "invalid_request",
    "realtime",
    "retention",
    "revenue",
    "segmentation",
    "sessions",
    "spec_cost",
    "taxonomy",
    "user_activity",
    "user_search",
    "users",
]
