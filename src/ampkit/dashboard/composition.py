"""User composition — ``GET /api/2/composition`` (reference §10.11)."""

from __future__ import annotations

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard.driver import QueryFlow, one
from ampkit.dashboard.endpoint import Endpoint, register
from ampkit.models.dashboard.composition import CompositionQuery, CompositionResult

COMPOSITION = register(
    Endpoint(
        "composition",
        "GET",
        "/api/2/composition",
        CompositionResult,
    )
)


def request(query: CompositionQuery) -> RequestSpec:
    return COMPOSITION.spec(query.params())


def parse(raw: RawResponse) -> CompositionResult:
    return COMPOSITION.parse(raw)


def flow(query: CompositionQuery) -> QueryFlow[CompositionResult]:
    return one(request(query), parse)
