"""A raw request to any path of an API family: the escape hatch for what ampkit doesn't model.

Auth and limit class follow the family (analytics: Basic + the Dashboard cost budget, priced by
path when the path is a known query endpoint; profile: ``Api-Key`` header; ingest: the API key
added to a JSON object body).  Error statuses raise as everywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ampkit.config import Family
from ampkit.core.flow import Flow, one
from ampkit.core.spec import AuthKind, RawResponse, RequestSpec
from ampkit.dashboard.endpoint import pairs
from ampkit.errors import InvalidRequest
from ampkit.models.dashboard.cost import params_cost
from ampkit.models.endpoints import BY_PATH

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
_FAMILY: dict[str, tuple[AuthKind, str]] = {
    "analytics": ("basic", "dashboard"),
    "profile": ("api_key_header", "profile"),
    "ingest": ("json_body_key", "ingest"),
}


@dataclass(frozen=True, slots=True)
class CustomResponse:
    """The answer as received, plus its JSON when the body is JSON (else ``None``)."""

    raw: RawResponse
    data: Any = None

    @property
    def status(self) -> int:
        return self.raw.status

    @property
    def headers(self) -> dict[str, str]:
        return self.raw.headers

    @property
    def text(self) -> str:
        return self.raw.text


def request(
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | Sequence[tuple[str, str]] | None = None,
    json: Any = None,
    family: Family = "analytics",
) -> RequestSpec:
    verb = method.upper()
    if verb not in METHODS:
        raise InvalidRequest(
            f"method: {method!r} is not one of {sorted(METHODS)}", field="method",
            rule="unknown HTTP method",
        )
    if not path.startswith("/") or "://" in path:
        raise InvalidRequest(
            f"path: {path!r} must start with '/' (a path on the {family} host)",
            field="path", rule="must be a path starting with '/'",
        )
    auth, limit_class = _FAMILY[family]
    content = orjson.dumps(json) if json is not None else None
    if auth == "json_body_key" and not isinstance(json, dict):
        auth = "none"  # the ingest key can only be added to a JSON object body
    query = pairs(params)
    known = BY_PATH.get(path)  # a Dashboard query sent raw costs what the typed one would
    cost = params_cost(known.kind, query) if known is not None and limit_class == "dashboard" \
        else 1
    return RequestSpec(
        method=verb,
        path=path,
        family=family,
        endpoint=path,
        params=query,
        content=content,
        headers=(("Content-Type", "application/json"),) if content is not None else (),
        auth=auth,
        limit_class=limit_class,
        cost=cost,
    )


def parse(raw: RawResponse) -> CustomResponse:
    try:
        data = orjson.loads(raw.content) if raw.content.strip() else None
    except orjson.JSONDecodeError:
        data = None
    return CustomResponse(raw, data)


def flow(spec: RequestSpec) -> Flow[CustomResponse]:
    return one(spec, parse)
