"""User sessions — ``/api/2/sessions/length``, ``/average``, ``/peruser`` (§10.8–10.10).

Query-type cost 4 each.
"""

from __future__ import annotations

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard.driver import QueryFlow, one
from ampkit.dashboard.endpoint import Endpoint, register
from ampkit.models.dashboard.sessions import (
    SessionAverageQuery,
    SessionAverageResult,
    SessionLengthQuery,
    SessionLengthResult,
    SessionsPerUserQuery,
    SessionsPerUserResult,
)

LENGTH = register(
    Endpoint("sessions_length", "GET", "/api/2/sessions/length", SessionLengthResult,
             kind="sessions")
)
AVERAGE = register(
    Endpoint("sessions_average", "GET", "/api/2/sessions/average", SessionAverageResult,
             kind="sessions")
)
PER_USER = register(
    Endpoint("sessions_per_user", "GET", "/api/2/sessions/peruser", SessionsPerUserResult,
             kind="sessions")
)


def length_request(query: SessionLengthQuery) -> RequestSpec:
    return LENGTH.spec(query.params())


def length_parse(raw: RawResponse) -> SessionLengthResult:
    return LENGTH.parse(raw)


def length_flow(query: SessionLengthQuery) -> QueryFlow[SessionLengthResult]:
    return one(length_request(query), length_parse)


def average_request(query: SessionAverageQuery) -> RequestSpec:
    return AVERAGE.spec(query.params())


def average_parse(raw: RawResponse) -> SessionAverageResult:
    return AVERAGE.parse(raw)


def average_flow(query: SessionAverageQuery) -> QueryFlow[SessionAverageResult]:
    return one(average_request(query), average_parse)


def per_user_request(query: SessionsPerUserQuery) -> RequestSpec:
    return PER_USER.spec(query.params())


def per_user_parse(raw: RawResponse) -> SessionsPerUserResult:
    return PER_USER.parse(raw)


def per_user_flow(query: SessionsPerUserQuery) -> QueryFlow[SessionsPerUserResult]:
    return one(per_user_request(query), per_user_parse)
