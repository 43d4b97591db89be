"""Taxonomy API, read side — ``GET /api/2/taxonomy/...`` (reference §14).

Its own limits (concurrent cost 4, 7,200 cost per hour; GET costs 1): limit class
``"taxonomy"``.  ``event_type`` for the event-property list goes in a form body even on GET, as
documented.  Failures answer ``{"success": false, "errors": [{"message"}]}`` with 400, 404 or
409; those statuses are read here so the messages reach the exception.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard.endpoint import Endpoint, one_request, register
from ampkit.errors import InvalidRequest, NoData
from ampkit.models.dashboard.series import DashboardResult
from ampkit.models.dashboard.taxonomy import (
    TaxonomyCategories,
    TaxonomyEventProperties,
    TaxonomyEventTypes,
    TaxonomyQuery,
    TaxonomyUserProperties,
)

R = TypeVar("R", bound=DashboardResult)
FAILURE_STATUSES = frozenset({400, 404, 409})
BASE = "/api/2/taxonomy"


class _TaxonomyEndpoint(Endpoint[R]):
    """A taxonomy endpoint: a failure status is read for Amplitude's messages first."""

    def parse(self, raw: RawResponse) -> R:
        _failure(raw, self.path)
        return super().parse(raw)


def _endpoint(name: str, path: str, result: type[R]) -> Endpoint[R]:
    return register(
        _TaxonomyEndpoint(name, "GET", BASE + path, result, limit_class="taxonomy",
                          handled=FAILURE_STATUSES)
    )


def _failure(raw: RawResponse, endpoint: str) -> None:
    if raw.status not in FAILURE_STATUSES:
        return
    try:
        body: Any = orjson.loads(raw.content) if raw.content else {}
    except orjson.JSONDecodeError:
        body = {"errors": [{"message": raw.text[:500]}]}
    body = body if isinstance(body, dict) else {}
    errors = body.get("errors") if isinstance(body.get("errors"), list) else []
    message = "; ".join(
        str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message")
    ) or f"HTTP {raw.status}"
    if raw.status == 404:
        raise NoData(message, status=404, endpoint=endpoint, body=body)
    rule = "conflict" if raw.status == 409 else None
    raise InvalidRequest(message, status=raw.status, endpoint=endpoint, body=body, rule=rule)


CATEGORIES = _endpoint("taxonomy_categories", "/category", TaxonomyCategories)
EVENT_TYPES = _endpoint("taxonomy_event_types", "/event", TaxonomyEventTypes)
EVENT_PROPERTIES = _endpoint(
    "taxonomy_event_properties", "/event-property", TaxonomyEventProperties
)
USER_PROPERTIES = _endpoint("taxonomy_user_properties", "/user-property", TaxonomyUserProperties)


def categories_request() -> RequestSpec:
    return CATEGORIES.spec()


def event_types_request(query: TaxonomyQuery) -> RequestSpec:
    return EVENT_TYPES.spec(query.params())


def event_properties_request(query: TaxonomyQuery) -> RequestSpec:
    return EVENT_PROPERTIES.spec(query.params(), form=query.form())


def user_properties_request(query: TaxonomyQuery) -> RequestSpec:
    return USER_PROPERTIES.spec(query.params())


categories_parse = CATEGORIES.parse
event_types_parse = EVENT_TYPES.parse
event_properties_parse = EVENT_PROPERTIES.parse
user_properties_parse = USER_PROPERTIES.parse

categories_flow = one_request(categories_request, categories_parse)
event_types_flow = one_request(event_types_request, event_types_parse)
event_properties_flow = one_request(event_properties_request, event_properties_parse)
user_properties_flow = one_request(user_properties_request, user_properties_parse)
