"""An endpoint described once, as data: method, path, auth, limit class, answer model.

``Endpoint.spec(...)`` builds the :class:`~ampkit.core.spec.RequestSpec`;
``Endpoint.parse(raw)`` turns the answer into its model (or raises our exception).  Every
endpoint is registered in :data:`REGISTRY` (keyed by name); a request's cost is worked out when
it is built (``RequestSpec.cost``).  :func:`checked` is the border where pydantic's
``ValidationError`` on query inputs becomes :class:`~ampkit.errors.InvalidRequest` naming the
field and the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, Protocol, Self, TypeVar
from urllib.parse import quote

import orjson
from pydantic import ValidationError

from ampkit.config import Family
from ampkit.core.flow import Flow, one
from ampkit.core.spec import AuthKind, RawResponse, RequestSpec
from ampkit.errors import APIStatusError, InvalidRequest, error_for
from ampkit.models.dashboard.common import Params
from ampkit.models.dashboard.cost import QueryKind, params_cost


class FromBody(Protocol):
    @classmethod
    def from_body(cls, body: Any) -> Self: ...


R = TypeVar("R", bound=FromBody)
T = TypeVar("T")
P = ParamSpec("P")


def invalid_request(exc: ValidationError, endpoint: str | None = None) -> InvalidRequest:
    """The first validation problem as ``InvalidRequest(field=..., rule=...)``."""
    errors = exc.errors()
    if not errors:
        return InvalidRequest(str(exc), endpoint=endpoint, field="query", rule=str(exc))
    first = errors[0]
    loc = [str(p) for p in first["loc"]]
    ctx = first.get("ctx") or {}
    if first["type"] == "ampkit_rule":
        loc.append(str(ctx.get("field", "")))
        rule = str(ctx.get("rule", first["msg"]))
    else:
        rule = first["msg"]
    name = ".".join(p for p in loc if p) or "query"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return InvalidRequest(
        f"{name}: {rule}{more} — nothing was sent", endpoint=endpoint, field=name, rule=rule
    )


@contextmanager
def checked(endpoint: str | None = None) -> Iterator[None]:
    """Re-raise a ``ValidationError`` from building a query as :class:`InvalidRequest`."""
    try:
        yield
    except ValidationError as exc:
        raise invalid_request(exc, endpoint) from exc


def decode(raw: RawResponse, endpoint: str) -> Any:
    """The JSON body of a successful answer; an error status or an ``{"error": {...}}``
    envelope becomes our exception."""
    if raw.status >= 300:
        raise error_for(raw.status, raw.content, endpoint=endpoint, headers=raw.headers)
    try:
        body = orjson.loads(raw.content) if raw.content.strip() else None
    except orjson.JSONDecodeError as exc:
        raise APIStatusError(
            f"answer is not JSON: {raw.text[:200]!r}", status=raw.status, endpoint=endpoint
        ) from exc
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        status = body["error"].get("http_code")
        code = status if isinstance(status, int) and status >= 400 else 400
        raise error_for(code, raw.content, endpoint=endpoint, headers=raw.headers)
    return body


def shape_error(exc: ValidationError, raw: RawResponse, endpoint: str) -> APIStatusError:
    return APIStatusError(
        f"unexpected answer shape ({exc.error_count()} problem(s); first: "
        f"{'.'.join(str(p) for p in exc.errors()[0]['loc'])}: {exc.errors()[0]['msg']})",
        status=raw.status,
        endpoint=endpoint,
    )


@dataclass(frozen=True, slots=True)
class Endpoint(Generic[R]):
    """One endpoint as data.  ``path`` may hold ``{placeholders}`` filled by ``spec()``."""

    name: str
    method: str
    path: str
    result: type[R]
    kind: QueryKind = "other"
    family: Family = "analytics"
    auth: AuthKind = "basic"
    limit_class: str = "dashboard"
    handled: frozenset[int] = field(default_factory=frozenset)
    timeout: float | None = None

    def url_path(self, **path_args: str | int) -> str:
        return self.path.format(**{k: quote(str(v), safe="") for k, v in path_args.items()})

    def spec(
        self,
        params: Params = (),
        *,
        content: bytes | None = None,
        form: Params | None = None,
        headers: Params = (),
        **path_args: str | int,
    ) -> RequestSpec:
        path = self.url_path(**path_args)
        if self.limit_class == "dashboard":
            cost = params_cost(self.kind, params)
        else:
            cost = 2 if self.limit_class == "taxonomy" and self.method != "GET" else 1
        return RequestSpec(
            method=self.method,
            path=path,
            family=self.family,
            params=params,
            content=content,
            form=form,
            headers=headers,
            auth=self.auth,
            limit_class=self.limit_class,
            cost=cost,
            handled_statuses=self.handled,
            timeout=self.timeout,
        )

    def parse(self, raw: RawResponse) -> R:
        """The answer as :attr:`result` (raw JSON kept on it)."""
        body = decode(raw, self.path)
        try:
            return self.result.from_body(body)
        except ValidationError as exc:
            raise shape_error(exc, raw, self.path) from exc


def one_request(
    request: Callable[P, RequestSpec], parse: Callable[[RawResponse], T]
) -> Callable[P, Flow[T]]:
    """The flow function of a single request: ``request``'s spec (built when called), its
    answer read by ``parse``."""

    def flow(*args: P.args, **kwargs: P.kwargs) -> Flow[T]:
        return one(request(*args, **kwargs), parse)

    return flow


REGISTRY: dict[str, Endpoint[Any]] = {}
"""Every endpoint of the family, by name."""


def register(endpoint: Endpoint[R]) -> Endpoint[R]:
    if endpoint.name in REGISTRY:
        raise ValueError(f"endpoint {endpoint.name!r} registered twice")
    REGISTRY[endpoint.name] = endpoint
    return endpoint


def pairs(params: Mapping[str, Any] | Sequence[tuple[str, str]] | None) -> Params:
    """Query pairs from a mapping (lists repeat the key; booleans as ``true``/``false``)."""
    if params is None:
        return ()
    if not isinstance(params, Mapping):
        return tuple((str(k), str(v)) for k, v in params)
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is None:
                continue
            text = ("true" if item else "false") if isinstance(item, bool) else str(item)
            out.append((str(key), text))
    return tuple(out)
