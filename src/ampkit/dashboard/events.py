"""Events list — ``GET /api/2/events/list`` (reference §10.12)."""

from __future__ import annotations

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard.driver import QueryFlow, one
from ampkit.dashboard.endpoint import Endpoint, register
from ampkit.models.dashboard.events import EventsListQuery, EventsListResult

EVENTS_LIST = register(
    Endpoint(
        "events_list",
        "GET",
        "/api/2/events/list",
        EventsListResult,
    )
)


def request(query: EventsListQuery) -> RequestSpec:
    return EVENTS_LIST.spec(query.params())


def parse(raw: RawResponse) -> EventsListResult:
    return EVENTS_LIST.parse(raw)


def flow(query: EventsListQuery) -> QueryFlow[EventsListResult]:
    return one(request(query), parse)
