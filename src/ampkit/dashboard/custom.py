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
from ampkit.models.inputs import amplitude_url, header_pairs

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
        return self.raw.text  # bytes that are not UTF-8 replaced: see binary

    @property
    def binary(self) -> bool:
        """Whether the body is no text — not UTF-8, or holding a NUL byte — so :attr:`text`
        would change it (its bytes are ``raw.content``)."""
        body = self.raw.content
        if b"\x00" in body:
            return True
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False


def request(
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | Sequence[tuple[str, str]] | None = None,
    json: Any = None,
    family: Family | None = None,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
) -> RequestSpec:
    """``path``: a path, or a URL on one of Amplitude's hosts (``https://amplitude.com/api/2/
    realtime``, as Amplitude's pages write it) whose host gives the family when ``family`` is
    not given and whose query string comes before ``params`` — the request goes to the
    configured host all the same.  ``family`` defaults to analytics.  ``headers``: extra
    headers (not the auth ones, :func:`~ampkit.models.inputs.header_pairs`)."""
    verb = method.upper()
    if verb not in METHODS:
        raise InvalidRequest(
            f"method: {method!r} is not one of {sorted(METHODS)}", field="method",
            rule="unknown HTTP method",
        )
    try:
        url = amplitude_url(path)
    except ValueError as exc:
        raise InvalidRequest(f"path: {exc}", field="path", rule=str(exc)) from None
    try:
        extra = header_pairs(headers)
    except ValueError as exc:
        raise InvalidRequest(f"headers: {exc}", field="headers", rule=str(exc)) from None
    url_params: tuple[tuple[str, str], ...] = ()
    if url is not None:
        if family is not None and family != url.family:
            raise InvalidRequest(
                f"family: {family} does not match the URL's host, an {url.family} host",
                field="family", rule="must match the URL's host")
        family, path, url_params = url.family, url.path, url.params
    family = family or "analytics"
    if not path.startswith("/"):
        raise InvalidRequest(
            f"path: {path!r} must start with '/' (a path on the {family} host) or be an "
            "Amplitude URL", field="path", rule="must be a path starting with '/'",
        )
    auth, limit_class = _FAMILY[family]
    content = orjson.dumps(json) if json is not None else None
    if auth == "json_body_key" and not isinstance(json, dict):
        auth = "none"  # the ingest key can only be added to a JSON object body
    query = url_params + pairs(params)
    known = BY_PATH.get(path)  # a Dashboard query sent raw costs what the typed one would
    cost = params_cost(known.kind, query) if known is not None and limit_class == "dashboard" \
        else 1
    return RequestSpec(
        method=verb,
        path=path,
        family=family,
        params=query,
        content=content,
        headers=((("Content-Type", "application/json"),) if content is not None else ())
        + extra,
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
