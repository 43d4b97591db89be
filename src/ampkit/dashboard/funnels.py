"""Funnel analysis — ``GET /api/2/funnels``, one ``e`` per step (reference §10.14)."""

from __future__ import annotations

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard.driver import QueryFlow, one
from ampkit.dashboard.endpoint import Endpoint, register
from ampkit.models.dashboard.funnels import FunnelQuery, FunnelResult

FUNNELS = register(
    Endpoint(
        "funnels",
        "GET",
        "/api/2/funnels",
        FunnelResult,
        kind="funnel",
    )
)


def request(query: FunnelQuery) -> RequestSpec:
    return FUNNELS.spec(query.params())


def parse(raw: RawResponse) -> FunnelResult:
    return FUNNELS.parse(raw)


def flow(query: FunnelQuery) -> QueryFlow[FunnelResult]:
    return one(request(query), parse)
