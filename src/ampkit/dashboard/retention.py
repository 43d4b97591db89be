"""Retention analysis — ``GET /api/2/retention`` (reference §10.15)."""

from __future__ import annotations

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard.driver import QueryFlow, one
from ampkit.dashboard.endpoint import Endpoint, register
from ampkit.models.dashboard.retention import RetentionQuery, RetentionResult

RETENTION = register(
    Endpoint(
        "retention",
        "GET",
        "/api/2/retention",
        RetentionResult,
        kind="retention",
    )
)


def request(query: RetentionQuery) -> RequestSpec:
    return RETENTION.spec(query.params())


def parse(raw: RawResponse) -> RetentionResult:
    return RETENTION.parse(raw)


def flow(query: RetentionQuery) -> QueryFlow[RetentionResult]:
    return one(request(query), parse)
