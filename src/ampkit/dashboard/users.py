"""Active and new users — ``GET /api/2/users`` (reference §10.7)."""

from __future__ import annotations

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard.driver import QueryFlow, one
from ampkit.dashboard.endpoint import Endpoint, register
from ampkit.models.dashboard.users import UsersQuery, UsersResult

USERS = register(
    Endpoint(
        "users",
        "GET",
        "/api/2/users",
        UsersResult,
    )
)


def request(query: UsersQuery) -> RequestSpec:
    return USERS.spec(query.params())


def parse(raw: RawResponse) -> UsersResult:
    return USERS.parse(raw)


def flow(query: UsersQuery) -> QueryFlow[UsersResult]:
    return one(request(query), parse)
