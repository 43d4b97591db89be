"""The client side of the Dashboard query endpoints declared in
:data:`ampkit.models.endpoints.DEFS`: one :class:`~ampkit.dashboard.endpoint.Endpoint` per
definition (request spec, answer parsing, cost kind), and the flow that runs a query.

Nothing here names an endpoint: a query model is enough to find its definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from ampkit.core.flow import Flow, one
from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard.endpoint import Endpoint, checked, register
from ampkit.models.dashboard.common import DashboardQuery
from ampkit.models.endpoints import DEFS_LIST, EndpointDef

R = TypeVar("R")

ENDPOINTS: Mapping[str, Endpoint[Any]] = MappingProxyType({
    d.name: register(Endpoint(d.name, d.method, d.path, d.result, kind=d.kind,
                              limit_class=d.limit_class))
    for d in DEFS_LIST
})
"""Each definition's endpoint, by name."""
_BY_QUERY: Mapping[type[DashboardQuery], EndpointDef] = MappingProxyType(
    {d.query: d for d in DEFS_LIST})
_BY_RESULT: Mapping[type[Any], EndpointDef] = MappingProxyType({d.result: d for d in DEFS_LIST})


def definition_of(query: DashboardQuery) -> EndpointDef:
    """The definition whose query model ``query`` is (or derives from: an action's input)."""
    for cls in type(query).__mro__:
        found = _BY_QUERY.get(cls)
        if found is not None:
            return found
    raise TypeError(f"{type(query).__name__} is no Dashboard query endpoint's")


def request(query: DashboardQuery) -> RequestSpec:
    """The request that asks ``query``."""
    return ENDPOINTS[definition_of(query).name].spec(query.params())


def parse(result: type[R], raw: RawResponse) -> R:
    """An answer as ``result`` (the result model of one definition), or our exception."""
    parsed: R = ENDPOINTS[_BY_RESULT[result].name].parse(raw)
    return parsed


def flow(query: DashboardQuery, result: type[R]) -> Flow[R]:
    """Ask ``query``; its answer as ``result``."""
    if definition_of(query).result is not result:
        raise TypeError(f"{type(query).__name__} answers {definition_of(query).result}")
    return one(request(query), lambda raw: parse(result, raw))


def build(definition: EndpointDef, args: Mapping[str, object]) -> DashboardQuery:
    """A definition's query from keyword arguments; a broken rule is
    :class:`~ampkit.errors.InvalidRequest` naming the field (nothing is sent)."""
    with checked(definition.path):
        return definition.query.model_validate(dict(args))


__all__ = ["ENDPOINTS", "build", "definition_of", "flow", "parse", "request"]
