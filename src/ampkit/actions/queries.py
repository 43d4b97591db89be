"""The read actions of the Dashboard query endpoints, made from :data:`ampkit.models.endpoints.DEFS`
— nothing here names a parameter.

For each definition with an ``action``: the input model *is* the definition's query model (its
fields, rules and descriptions; unknown fields refused), the output says ``success`` / ``error``
/ ``code`` and carries the answer — as tidy points for time series (``output="series"``), as the
typed ``result`` otherwise, plus a few conveniences where a definition's answer has them
(:data:`EXTRAS`).  So the MCP tools, ``ampkit actions`` and ``ampkit query`` follow the
definitions.

ModuleX's query actions (seed 001: ``event_segmentation``, ``get_active_users``, ``get_revenue``…)
are made here too, from the same definitions, with the seed's contract on top
(:data:`ampkit.actions.modulex.QUERY_CONTRACTS`): one action per name, so where ModuleX and
ampkit share a name the seed's contract is the base and ampkit's options are extra.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field, create_model

from ampkit.actions.base import ActionInput, ActionOutput, SeriesOutput, points
from ampkit.actions.modulex import QUERY_CONTRACTS, QueryContract, seed_input
from ampkit.actions.registry import REGISTRY, Action
from ampkit.client import Amplitude
from ampkit.dashboard.queries import flow
from ampkit.models.dashboard import EventsListResult, TimeSeriesResult, UserSearchResult
from ampkit.models.endpoints import DEFS_LIST, EndpointDef

Extra = tuple[dict[str, Any], Callable[[Any], dict[str, Any]]]
EXTRAS: dict[str, Extra] = {
    "events_list": (
        {"names": (list[str], Field(default_factory=list,
                                    description="The event types' names."))},
        lambda r: {"names": r.names() if isinstance(r, EventsListResult) else []}),
    "user_search": (
        {"amplitude_ids": (list[int], Field(default_factory=list,
                                            description="Amplitude IDs of the users found."))},
        lambda r: {"amplitude_ids": r.amplitude_ids() if isinstance(r, UserSearchResult)
                   else []}),
}
"""Fields some outputs add beside ``result`` (and how they are filled from the answer)."""


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def input_model(definition: EndpointDef) -> type[ActionInput]:
    """The definition's query model, as an action input (unknown fields refused)."""
    model: type[ActionInput] = type(  # the query model's fields, validators and rules
        f"{_pascal(definition.action or definition.name)}Input",
        (definition.query, ActionInput), {"__module__": __name__,
                                          "__doc__": definition.query.__doc__})
    return model


def output_model(definition: EndpointDef) -> type[ActionOutput]:
    if definition.output == "series":
        return SeriesOutput
    fields, _ = EXTRAS.get(definition.name, ({}, dict))
    optional: Any = definition.result | None
    model: type[ActionOutput] = create_model(
        f"{_pascal(definition.action or definition.name)}Output", __base__=ActionOutput,
        __module__=__name__,
        result=(optional,
                Field(default=None, description=f"The answer as Amplitude gave it: "
                      f"{definition.summary.lower()}.")),
        **fields)
    return model


def _function(definition: EndpointDef, output: type[ActionOutput]
              ) -> Callable[[Amplitude, ActionInput], ActionOutput]:
    _, extra = EXTRAS.get(definition.name, ({}, lambda r: {}))

    def run(client: Amplitude, args: ActionInput) -> ActionOutput:
        client.settings.require_secret_key()
        result = client._run(flow(args, definition.result))  # type: ignore[arg-type]
        if definition.output == "series" and isinstance(result, TimeSeriesResult):
            return SeriesOutput(points=points(result), result=result)
        return output(result=result, **extra(result))

    run.__doc__ = definition.description
    return run


def _seed_function(definition: EndpointDef, contract: QueryContract
                   ) -> Callable[[Amplitude, ActionInput], ActionOutput]:
    def run(client: Amplitude, args: ActionInput) -> ActionOutput:
        client.settings.require_secret_key()
        result = client._run(flow(args, definition.result))  # type: ignore[arg-type]
        return contract.output(**contract.adapt(result))

    return run


def _register_seed(definition: EndpointDef, contract: QueryContract) -> None:
    base = input_model(definition)
    description = " ".join(p for p in (definition.description, contract.note) if p)
    fn = _seed_function(definition, contract)
    fn.__doc__ = description
    REGISTRY.register(Action(
        name=contract.action, title=definition.summary, description=description,
        input_model=seed_input(contract.action, base), output_model=contract.output,
        fn=fn, read_only=True, idempotent=True))


def register_all() -> None:
    """One read action per definition that names one, and ModuleX's actions on it (in
    :data:`DEFS_LIST`'s order); a name ModuleX has is made with its contract."""
    seeded = {c.action for c in QUERY_CONTRACTS}
    for definition in DEFS_LIST:
        name = definition.action
        if name is not None and name not in seeded and name not in REGISTRY:
            out = output_model(definition)
            REGISTRY.register(Action(
                name=name, title=definition.summary,
                description=definition.description, input_model=input_model(definition),
                output_model=out, fn=_function(definition, out), read_only=True,
                idempotent=True))
        for contract in QUERY_CONTRACTS:
            if contract.endpoint == definition.name and contract.action not in REGISTRY:
                _register_seed(definition, contract)


register_all()

__all__ = ["EXTRAS", "input_model", "output_model", "register_all"]
