"""Real-time active users — ``GET /api/2/realtime`` (reference §10.18)."""

from __future__ import annotations

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard.driver import QueryFlow, one
from ampkit.dashboard.endpoint import Endpoint, register
from ampkit.models.dashboard.realtime import RealtimeQuery, RealtimeResult

REALTIME = register(
    Endpoint(
        "realtime",
        "GET",
        "/api/2/realtime",
        RealtimeResult,
    )
)


def request(query: RealtimeQuery) -> RequestSpec:
    return REALTIME.spec(query.params())


def parse(raw: RawResponse) -> RealtimeResult:
    return REALTIME.parse(raw)


def flow(query: RealtimeQuery) -> QueryFlow[RealtimeResult]:
    return one(request(query), parse)
