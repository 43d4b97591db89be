"""A query model's wire format, declared on its fields: one declaration read both ways.

Each field that travels in the query string carries a :class:`Wire` in its ``Annotated``
metadata — the parameter's name and how its value is written::

    metric: Annotated[SegmentationMetric, Wire("m")] = "uniques"
    event: Annotated[EventDef, Wire("e", "json", lead=True)]

:func:`to_wire` writes a model as the exact query-string pairs the client sends; :func:`from_wire`
reads such pairs back into the model — what the local server does with a request.  Rules:

- a field whose value is ``None`` (or an empty list/segment) is not sent; every other value is,
  defaults included (Amplitude's documented defaults are written out);
- ``lead`` fields come first (the event definitions), then the others in declaration order (a
  subclass's after its base's);
- ``repeat``: a list sent as one parameter per item (funnel steps, several segments);
- codecs: ``text`` (``str()``; booleans ``true``/``false``; whole floats without ``.0``),
  ``int`` (the same, read back as an integer — for ``Literal`` codes),
  ``day`` (``YYYYMMDD``), ``json`` (compact JSON of the model's own ``to_json``/``param``
  form or of plain data);
- reading back: a parameter given twice keeps its first value (except ``repeat``), an empty
  value is absent, unknown parameters are ignored, a ``day`` is exactly ``YYYYMMDD``; a problem
  is a :class:`WireError` naming the *parameter* (``e``, ``start``…) and where, inside a
  repeated or JSON parameter (``[1]``, ``.filters[0].subprop_op``).

The model is validated with :data:`WIRE_CONTEXT`: validators that accept more from a query
string than from a caller (the server's leniencies, e.g. incomplete custom session bins read
as "no custom bins") ask :func:`reading_wire`.  A rule whose wire parameter is not its field's
own names it (``rule_error(field, rule, param=...)``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ValidationError, ValidationInfo

Codec = Literal["text", "int", "day", "json"]
Params = tuple[tuple[str, str], ...]
M = TypeVar("M", bound=BaseModel)
WIRE_CONTEXT: Mapping[str, Any] = {"wire": True}
"""The validation context of :func:`from_wire`."""
_DAY = re.compile(r"[0-9]{8}")


@dataclass(frozen=True, slots=True)
class Wire:
    """Where a field travels: parameter ``name``, written with ``codec``."""

    name: str
    codec: Codec = "text"
    repeat: bool = False
    lead: bool = False


class WireError(ValueError):
    """A query-string value that does not make a valid query: ``param`` names the parameter,
    ``rule`` what was expected, ``where`` the place inside a JSON parameter."""

    def __init__(self, param: str, rule: str, where: str = "") -> None:
        super().__init__(f"{param}{where}: {rule}")
        self.param = param
        self.rule = rule
        self.where = where


@cache
def wire_fields(model: type[BaseModel]) -> tuple[tuple[str, Wire], ...]:
    """``(field name, Wire)`` of a model, in the order they are sent."""
    found = [(name, meta) for name, info in model.model_fields.items()
             for meta in info.metadata if isinstance(meta, Wire)]
    return tuple([f for f in found if f[1].lead] + [f for f in found if not f[1].lead])


def _json_form(value: Any) -> Any:
    """What a value looks like inside a JSON parameter."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list | tuple):
        return [_json_form(v) for v in value]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}" if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, list | tuple) and not value:
        return True
    conditions = getattr(value, "conditions", None)
    return isinstance(conditions, list) and not conditions


def encode(value: Any, codec: Codec) -> str:
    if codec == "day":
        day = value.date() if isinstance(value, dt.datetime) else value
        return str(day.strftime("%Y%m%d"))
    if codec == "json":
        if hasattr(value, "param"):
            return str(value.param())
        return orjson.dumps(_json_form(value)).decode()
    return _text(value)


def to_wire(query: BaseModel) -> Params:
    """The query-string pairs of ``query`` (see the module docstring)."""
    out: list[tuple[str, str]] = []
    for name, wire in wire_fields(type(query)):
        value = getattr(query, name)
        if _empty(value):
            continue
        items = value if wire.repeat else [value]
        out += [(wire.name, encode(item, wire.codec)) for item in items if not _empty(item)]
    return tuple(out)


def reading_wire(info: ValidationInfo) -> bool:
    """Whether a validator runs on a query string read by :func:`from_wire`."""
    context = info.context
    return isinstance(context, dict) and bool(context.get("wire"))


def _day(raw: str, name: str, where: str) -> dt.date:
    text = raw.strip()
    if not _DAY.fullmatch(text):
        raise WireError(name, "must be a date written YYYYMMDD", where)
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise WireError(name, "must be a real calendar date (YYYYMMDD)", where) from None


def _decode(raw: str, wire: Wire, where: str = "") -> Any:
    if wire.codec == "int":
        text = raw.strip()
        # one optional minus, then digits (--1 is no number); more than 20 digits passes no
        # bound of any field, and Python refuses to read past 4,300: left as text, the field
        # refuses it by its own rule
        digits = text[1:] if text.startswith("-") else text
        return int(text) if digits.isdigit() and digits.isascii() and len(digits) <= 20 else raw
    if wire.codec == "day":
        return _day(raw, wire.name, where)
    if wire.codec != "json":
        return raw
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        rule = ("must nest at most 1,024 levels deep" if "depth limit" in str(exc)
                else "must be valid JSON")
        raise WireError(wire.name, rule, where) from None


def from_wire(model: type[M], pairs: Sequence[tuple[str, str]], **fixed: Any) -> M:
    """``model`` from query-string pairs (``fixed``: values that do not come from the query,
    e.g. a path parameter).  Raises :class:`WireError` naming the parameter."""
    fields = wire_fields(model)
    by_name = {wire.name: (name, wire) for name, wire in fields}
    data: dict[str, Any] = dict(fixed)
    for key, raw in pairs:
        found = by_name.get(key)
        if found is None or not raw.strip():
            continue
        name, wire = found
        if wire.repeat:
            items = data.setdefault(name, [])
            items.append(_decode(raw, wire, f"[{len(items)}]"))
        elif name not in data:
            data[name] = _decode(raw, wire)
    try:
        return model.model_validate(data, context=dict(WIRE_CONTEXT))
    except ValidationError as exc:
        raise wire_error(exc, {name: wire.name for name, wire in fields}) from None


def wire_error(exc: ValidationError, names: dict[str, str]) -> WireError:
    """The first validation problem, named by its query-string parameter (``names``: field →
    parameter) and where inside it: a rule (:func:`~ampkit.models.dashboard.common.rule_error`)
    adds the field it names to the error's place, or names its parameter outright."""
    err = exc.errors()[0]
    ctx = err.get("ctx") or {}
    path = [str(p) for p in err["loc"]]
    rule = err["msg"].removeprefix("Value error, ")
    if err["type"] == "ampkit_rule":
        rule = str(ctx.get("rule", rule))
        if ctx.get("param"):
            return WireError(str(ctx["param"]), rule)
        path += [p for p in str(ctx.get("field", "")).split(".") if p]
    first, rest = (path[0], path[1:]) if path else ("query", [])
    where = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in rest)
    return WireError(names.get(first, first), rule, where)


__all__ = ["WIRE_CONTEXT", "Codec", "Params", "Wire", "WireError", "encode", "from_wire",
           "reading_wire", "to_wire", "wire_error", "wire_fields"]
