"""The Dashboard REST family and its neighbours on the analytics host.

The query endpoints (users, sessions, composition, events list, segmentation, funnels,
retention, real-time, revenue LTV, user search, user activity) are declared once, in
:data:`ampkit.models.endpoints.DEFS`; :mod:`ampkit.dashboard.queries` gives each its
:class:`~ampkit.dashboard.endpoint.Endpoint`.  The others have a module each (charts,
annotations, cohorts, taxonomy, custom requests, user-activity paging) with their own flows;
:mod:`ampkit.core.flow` drives their flows (sync or async) under the client's query-cost budget.
"""

from ampkit.core.flow import AsyncDriver, Driver, Flow, Wait
from ampkit.dashboard import (
    annotations,
    charts,
    cohorts,
    custom,
    queries,
    taxonomy,
    user_activity,
)
from ampkit.dashboard.custom import CustomResponse
from ampkit.dashboard.endpoint import REGISTRY, Endpoint, checked, invalid_request
from ampkit.dashboard.user_activity import ActivityPager

__all__ = [
    "REGISTRY",
    "ActivityPager",
    "AsyncDriver",
    "CustomResponse",
    "Driver",
    "Endpoint",
    "Flow",
    "Wait",
    "annotations",
    "charts",
    "checked",
    "cohorts",
    "custom",
    "invalid_request",
    "queries",
    "taxonomy",
    "user_activity",
]
