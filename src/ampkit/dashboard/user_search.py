"""User search — ``GET /api/2/usersearch`` (own limit bucket: 10 concurrent, 360/hour)."""

from __future__ import annotations

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard.driver import QueryFlow, one
from ampkit.dashboard.endpoint import Endpoint, register
from ampkit.models.dashboard.user_search import UserSearchQuery, UserSearchResult

USER_SEARCH = register(
    Endpoint(
        "user_search",
        "GET",
        "/api/2/usersearch",
        UserSearchResult,
        limit_class="user",
    )
)


def request(query: UserSearchQuery) -> RequestSpec:
    return USER_SEARCH.spec(query.params())


def parse(raw: RawResponse) -> UserSearchResult:
    return USER_SEARCH.parse(raw)


def flow(query: UserSearchQuery) -> QueryFlow[UserSearchResult]:
    return one(request(query), parse)
