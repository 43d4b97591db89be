"""The action registry: every action declared once, as data plus one function.

An action is a function ``(client, input) -> output`` decorated with
:meth:`ActionRegistry.action`; its input and output models are read from the function's type
hints, its description from its docstring.  The MCP tool list, ``ampkit actions`` and the
contract tests are all generated from :data:`REGISTRY`.

Declaring one::

    @REGISTRY.action("list_events", title="List events", read_only=True, idempotent=True)
    def list_events(client: Amplitude, args: NoInput) -> EventsListOutput:
        '''Event types of the project with this week's totals.'''
        return EventsListOutput(result=client.events_list())
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_type_hints

from pydantic import ValidationError

from ampkit.actions.base import ActionInput, ActionOutput
from ampkit.client import Amplitude

In = TypeVar("In", bound=ActionInput)
Out = TypeVar("Out", bound=ActionOutput)
ActionFn = Callable[[Amplitude, In], Out]


@dataclass(frozen=True, slots=True)
class Action(Generic[In, Out]):
    """One registered action.  ``read_only``: it changes nothing (in Amplitude or on disk);
    ``destructive``: it may overwrite or delete; ``idempotent``: calling it twice with the same
    input has no further effect."""

    name: str
    title: str
    description: str
    input_model: type[In]
    output_model: type[Out]
    fn: ActionFn[In, Out]
    read_only: bool
    destructive: bool = False
    idempotent: bool = False

    def input_schema(self) -> dict[str, Any]:
        return self.input_model.model_json_schema()

    def output_schema(self) -> dict[str, Any]:
        return self.output_model.model_json_schema()

    def failure(self, error: str, code: int | None = None) -> Out:
        """This action's output model saying ``success=False``."""
        return self.output_model(success=False, error=error, code=code)

    def describe(self, *, schemas: bool = True) -> dict[str, Any]:
        """The action as plain data (what ``ampkit actions --json`` prints)."""
        out: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "read_only": self.read_only,
            "destructive": self.destructive,
            "idempotent": self.idempotent,
        }
        if schemas:
            out["input_schema"] = self.input_schema()
            out["output_schema"] = self.output_schema()
        return out


class ActionRegistry:
    """Actions by name, in registration order."""

    def __init__(self) -> None:
        self._actions: dict[str, Action[Any, Any]] = {}

    def __iter__(self) -> Iterator[Action[Any, Any]]:
        return iter(self._actions.values())

    def __len__(self) -> int:
        return len(self._actions)

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    def names(self) -> list[str]:
        return list(self._actions)

    def get(self, name: str) -> Action[Any, Any] | None:
        return self._actions.get(name)

    def register(self, action: Action[Any, Any]) -> None:
        if action.name in self._actions:
            raise ValueError(f"action {action.name!r} is already registered")
        if not action.name.isidentifier() or action.name != action.name.lower():
            raise ValueError(f"action name {action.name!r} must be a lower_snake_case identifier")
        try:  # every output field but success/error/code must have a default
            action.failure("check")
        except ValidationError as exc:
            raise TypeError(
                f"{action.output_model.__name__}: every field needs a default ({exc})"
            ) from None
        self._actions[action.name] = action

    def action(
        self,
        name: str,
        *,
        title: str,
        read_only: bool,
        destructive: bool = False,
        idempotent: bool = False,
    ) -> Callable[[ActionFn[In, Out]], ActionFn[In, Out]]:
        """Register ``fn(client, input) -> output``; models come from its type hints and the
        description from its docstring."""

        def decorator(fn: ActionFn[In, Out]) -> ActionFn[In, Out]:
            hints = get_type_hints(fn)
            params = list(inspect.signature(fn).parameters)
            if len(params) != 2:
                raise TypeError(f"action {name!r}: the function takes (client, input)")
            input_model, output_model = hints[params[1]], hints["return"]
            if not (isinstance(input_model, type) and issubclass(input_model, ActionInput)):
                raise TypeError(f"action {name!r}: input must be an ActionInput subclass")
            if not (isinstance(output_model, type) and issubclass(output_model, ActionOutput)):
                raise TypeError(f"action {name!r}: output must be an ActionOutput subclass")
            description = inspect.getdoc(fn)
            if not description:
                raise TypeError(f"action {name!r}: the function needs a docstring")
            self.register(Action(
                name=name, title=title, description=description, input_model=input_model,
                output_model=output_model, fn=fn, read_only=read_only,
                destructive=destructive, idempotent=idempotent,
            ))
            return fn

        return decorator

    def describe(self, *, schemas: bool = True) -> list[dict[str, Any]]:
        return [a.describe(schemas=schemas) for a in self]


REGISTRY = ActionRegistry()
"""Every action ampkit offers (filled when :mod:`ampkit.actions` is imported)."""
