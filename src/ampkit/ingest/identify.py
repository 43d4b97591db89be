"""A builder for user/group property operations (``$set``, ``$add``, … ``$clearAll``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ampkit.errors import InvalidEventError
from ampkit.models.rules import GROUP_PROPERTY_OPERATIONS, check_operations


class Identify:
    """Collects property operations; each property may appear under one operation only.

    >>> Identify().set("plan", "pro").add("logins", 1).operations()
    {'$set': {'plan': 'pro'}, '$add': {'logins': 1}}
    """

    def __init__(self, operations: Mapping[str, Any] | None = None) -> None:
        self._ops: dict[str, dict[str, Any]] = {}
        self._clear_all = False
        if operations:
            for op, body in operations.items():
                if op == "$clearAll":
                    self._clear_all = True
                elif op.startswith("$") and isinstance(body, Mapping):
                    for key, value in body.items():
                        self._put(op, key, value)
                elif not op.startswith("$"):
                    self._put("$set", op, body)
                else:
                    raise InvalidEventError(f"user_properties.{op}", "must be an object")

    def __repr__(self) -> str:
        return f"Identify({self.operations()!r})"

    def _put(self, op: str, key: str, value: Any) -> Identify:
        if not isinstance(key, str) or not key:
            raise InvalidEventError(f"user_properties.{op}", "property names must be non-empty")
        for other, body in self._ops.items():
            if key in body and other != op:
                raise InvalidEventError(
                    f"user_properties.{op}.{key}", f"property already used by {other}"
                )
        self._ops.setdefault(op, {})[key] = value
        return self

    def set(self, key: str, value: Any) -> Identify:
        return self._put("$set", key, value)

    def set_once(self, key: str, value: Any) -> Identify:
        return self._put("$setOnce", key, value)

    def add(self, key: str, value: int | float) -> Identify:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidEventError(f"user_properties.$add.{key}", "$add takes a number")
        return self._put("$add", key, value)

    def append(self, key: str, value: Any) -> Identify:
        return self._put("$append", key, value)

    def prepend(self, key: str, value: Any) -> Identify:
        return self._put("$prepend", key, value)

    def pre_insert(self, key: str, value: Any) -> Identify:
        return self._put("$preInsert", key, value)

    def post_insert(self, key: str, value: Any) -> Identify:
        return self._put("$postInsert", key, value)

    def remove(self, key: str, value: Any) -> Identify:
        return self._put("$remove", key, value)

    def unset(self, key: str) -> Identify:
        return self._put("$unset", key, "-")

    def clear_all(self) -> Identify:
        self._clear_all = True
        return self

    def operations(self, *, group: bool = False) -> dict[str, Any]:
        """The operations object, checked (group properties allow fewer operations)."""
        ops: dict[str, Any] = {"$clearAll": "-"} if self._clear_all else {}
        ops.update({op: dict(body) for op, body in self._ops.items()})
        field = "group_properties" if group else "user_properties"
        violation = (
            check_operations(ops, field, GROUP_PROPERTY_OPERATIONS)
            if group
            else check_operations(ops, field)
        )
        if violation:
            raise InvalidEventError(violation.field, violation.rule)
        return ops
