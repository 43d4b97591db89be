"""The read actions of the Dashboard query endpoints, made from :data:`ampkit.models.endpoints.DEFS`
— nothing here names a parameter.

For each definition with an ``action``: the input model *is* the definition's query model (its
fields, rules and descriptions; unknown fields refused), the output says ``success`` / ``error``
/ ``code`` and carries the answer — as tidy points for time series (``output="series"``), as the
typed ``result`` otherwise, plus a few conveniences where a definition's answer has them
(:data:`EXTRAS`).  So the MCP tools, ``ampkit actions`` and ``ampkit query`` follow the
definitions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field, create_model

from ampkit.actions.base import ActionInput, ActionOutput, SeriesOutput, points
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


def register_all() -> None:
    """One read action per definition that names one (in :data:`DEFS_LIST`'s order)."""
    for definition in DEFS_LIST:
        if definition.action is None or definition.action in REGISTRY:
            continue
        out = output_model(definition)
        REGISTRY.register(Action(
            name=definition.action, title=definition.summary,
            description=definition.description, input_model=input_model(definition),
            output_model=out, fn=_function(definition, out), read_only=True,
            idempotent=True))


register_all()

__all__ = ["EXTRAS", "input_model", "output_model", "register_all"]
