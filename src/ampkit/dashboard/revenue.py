"""Revenue LTV — ``GET /api/2/revenue/ltv`` (reference §10.19)."""

from __future__ import annotations

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard.driver import QueryFlow, one
from ampkit.dashboard.endpoint import Endpoint, register
from ampkit.models.dashboard.revenue import RevenueLtvQuery, RevenueLtvResult

REVENUE_LTV = register(
    Endpoint(
        "revenue_ltv",
        "GET",
        "/api/2/revenue/ltv",
        RevenueLtvResult,
    )
)


def request(query: RevenueLtvQuery) -> RequestSpec:
    return REVENUE_LTV.spec(query.params())


def parse(raw: RawResponse) -> RevenueLtvResult:
    return REVENUE_LTV.parse(raw)


def flow(query: RevenueLtvQuery) -> QueryFlow[RevenueLtvResult]:
    return one(request(query), parse)
