"""Amplitude's ingestion validation rules, written once and shared by the client and the server.

Every function here is pure and total: given any decoded JSON value it returns a list of
:class:`Violation` (empty when the value is valid) and never raises.  The client turns the first
violation into a typed :class:`ampkit.errors.InvalidEventError`; the local server turns them into
Amplitude's 400 body (``events_with_invalid_fields`` / ``events_with_missing_fields``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

MAX_STRING_LENGTH = 1024
MAX_DEPTH = 40
MAX_GROUP_TYPES = 5
MAX_GROUP_VALUES = 10
DEFAULT_MIN_ID_LENGTH = 5
MIN_PLAUSIBLE_MS = 100_000_000_000  # 1973-03-03 in ms; anything smaller is seconds, not ms
MAX_TIME_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: the last millisecond a timestamp column (and Python) can hold."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""``time``, ``session_id`` and ``event_id`` are Amplitude "long"s: signed 64-bit integers."""
JSON_UINT_MAX = 2**64 - 1
"""The largest integer a property value keeps as an integer (orjson's range); ``$add`` past it
gives a float."""

RESERVED_EVENT_TYPES = frozenset(
    {
        "[Amplitude] Start Session",
        "[Amplitude] End Session",
        "[Amplitude] Revenue",
        "[Amplitude] Revenue (Verified)",
        "[Amplitude] Revenue (Unverified)",
        "[Amplitude] Merged User",
    }
)
# Matched case-insensitively (the reference leaves case open; we take the safer reading).
INVALID_ID_VALUES = frozenset(
    {
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        '""',
        "00000000-0000-0000-0000-000000000000",
        "{}",
        "lmy47d",
        "0",
        "-1",
    }
)
USER_PROPERTY_OPERATIONS = frozenset(
    {
        "$set",
        "$setOnce",
        "$add",
        "$append",
        "$prepend",
        "$unset",
        "$preInsert",
        "$postInsert",
        "$remove",
        "$clearAll",
    }
)
GROUP_PROPERTY_OPERATIONS = frozenset({"$set", "$setOnce", "$add", "$append", "$prepend", "$unset"})
PLAN_KEYS = frozenset({"branch", "source", "version", "versionId"})

DEVICE_FIELDS = (
    "app_version",
    "platform",
    "os_name",
    "os_version",
    "device_brand",
    "device_manufacturer",
    "device_model",
    "carrier",
    "country",
    "region",
    "city",
    "dma",
    "language",
)
"""The device and location keys an event and an identification share (all strings)."""
STRING_FIELDS = (
    "user_agent",
    *DEVICE_FIELDS,
    "productId",
    "revenueType",
    "ip",
    "idfa",
    "idfv",
    "adid",
    "android_id",
    "android_app_set_id",
    "insert_id",
    "partner_id",
    "library",
)
INT_FIELDS = ("time", "event_id", "session_id", "quantity")
NUMBER_FIELDS = ("price", "revenue", "location_lat", "location_lng")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_FIELD_KINDS: dict[str, int] = {
    **dict.fromkeys(STRING_FIELDS, 1), **dict.fromkeys(INT_FIELDS, 2),
    **dict.fromkeys(NUMBER_FIELDS, 3),
}


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: which field (dotted path), what rule, and whether it is missing/invalid."""

    field: str
    rule: str
    kind: Literal["missing", "invalid"] = "invalid"

    @property
    def top_field(self) -> str:
        return self.field.split(".", 1)[0].split("[", 1)[0]


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return (is_int(value) or isinstance(value, float)) and not (
        isinstance(value, float) and not math.isfinite(value)
    )


_ID_OK: dict[tuple[str, int], bool] = {}


def check_id(value: object, field: str, min_id_length: int) -> Violation | None:
    """Rules for ``user_id`` / ``device_id`` (reference §2.4)."""
    if value.__class__ is str:  # ids repeat: remember the ones that passed (bounded)
        key = (value, min_id_length)
        if key in _ID_OK:
            return None
        found = _check_id(value, field, min_id_length)
        if found is None:
            if len(_ID_OK) >= 8192:
                _ID_OK.clear()
            _ID_OK[key] = True
        return found
    return _check_id(value, field, min_id_length)


def _check_id(value: object, field: str, min_id_length: int) -> Violation | None:
    if not isinstance(value, str):
        return Violation(field, "must be a string")
    if value.strip().lower() in INVALID_ID_VALUES:
        return Violation(field, f"{value!r} is one of Amplitude's invalid id values")
    if len(value) < min_id_length:
        return Violation(field, f"must be at least {min_id_length} characters (min_id_length)")
    if len(value) > MAX_STRING_LENGTH:
        return Violation(field, f"must be at most {MAX_STRING_LENGTH} characters")
    return None


def check_ids(
    obj: Mapping[str, Any], min_id_length: int, strip_short_ids: bool = False
) -> list[Violation]:
    """``user_id`` and ``device_id`` of an event or identification: each one given must be a
    valid id (:func:`check_id`), and one of them is required.  With ``strip_short_ids`` an id
    that is only too short is ignored, as if absent."""
    out: list[Violation] = []
    present = False
    stripped: list[str] = []
    for field in ("user_id", "device_id"):
        value = obj.get(field)
        if value is None:
            continue
        v = check_id(value, field, min_id_length)
        if v is None:
            present = True
        elif (strip_short_ids and isinstance(value, str) and len(value) < min_id_length
              and value.strip().lower() not in INVALID_ID_VALUES):
            stripped.append(f"{field} {value!r}")
        else:
            out.append(v)
    if not present and not out:
        why = (f" — {' and '.join(stripped)} counted as absent: shorter than {min_id_length} "
               "characters (min_id_length)" if stripped else "")
        out.append(Violation("user_id", "is required when device_id is absent (one of the two)"
                             + why, "missing"))
    return out


def _plain_json(value: object, depth: int) -> bool:
    """``True`` when :func:`check_json_value` finds nothing in ``value`` (a quick walk that
    builds no paths; the full check runs only to name what is wrong)."""
    if depth > MAX_DEPTH:
        return False
    kind = value.__class__
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    if kind is dict:
        for k, v in value.items():  # type: ignore[attr-defined]
            if k.__class__ is not str or not (
                    v.__class__ in _SCALARS or _plain_json(v, depth + 1)):
                return False
        return depth < MAX_DEPTH or not value
    if kind is list:
        for v in value:  # type: ignore[attr-defined]
            if not (v.__class__ in _SCALARS or _plain_json(v, depth + 1)):
                return False
        return depth < MAX_DEPTH or not value
    return False


_SCALARS = frozenset({str, int, bool, type(None)})


def check_json_value(value: object, path: str, depth: int = 0) -> Violation | None:
    """A property value must be JSON (str, finite number, bool, null, list, object)."""
    if _plain_json(value, depth):
        return None
    return _check_json_value(value, path, depth)


def _check_json_value(value: object, path: str, depth: int = 0) -> Violation | None:
    if depth > MAX_DEPTH:
        return Violation(path, f"nests deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | str | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else Violation(path, "must be a finite number")
    if isinstance(value, list):
        for i, item in enumerate(value):
            v = _check_json_value(item, f"{path}[{i}]", depth + 1)
            if v:
                return v
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return Violation(path, "keys must be strings")
            v = _check_json_value(item, f"{path}.{key}", depth + 1)
            if v:
                return v
        return None
    return Violation(path, f"is not a JSON value (got {type(value).__name__})")


def check_property_map(value: object, field: str, json_checked: bool = False) -> Violation | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        return Violation(field, "must be an object")
    return None if json_checked else check_json_value(value, field)


def check_operations(
    value: object,
    field: str,
    allowed: frozenset[str] = USER_PROPERTY_OPERATIONS,
    json_checked: bool = False,
) -> Violation | None:
    """Rules for property operations (reference §2.3)."""
    base = check_property_map(value, field, json_checked)
    if base is not None or not isinstance(value, dict):
        return base
    ops = [k for k in value if k.startswith("$")]
    if not ops:
        return None
    unknown = [k for k in ops if k not in allowed]
    if unknown:
        return Violation(
            f"{field}.{unknown[0]}",
            f"unknown operation; allowed: {', '.join(sorted(allowed))}",
        )
    plain = [k for k in value if not k.startswith("$")]
    if plain:
        return Violation(
            f"{field}.{plain[0]}",
            "plain properties cannot be mixed with operations; put them under $set",
        )
    if "$clearAll" in value and len(value) > 1:
        return Violation(f"{field}.$clearAll", "$clearAll cannot be combined with other operations")
    seen: dict[str, str] = {}
    for op, body in value.items():
        if op == "$clearAll":
            continue
        if not isinstance(body, dict):
            return Violation(f"{field}.{op}", "must be an object of property → value")
        for key, item in body.items():
            if key in seen:
                return Violation(
                    f"{field}.{op}.{key}",
                    f"property already used by {seen[key]} in the same request",
                )
            seen[key] = op
            if op == "$add" and not is_number(item):
                return Violation(f"{field}.{op}.{key}", "$add takes a number")
    return None


def check_groups(value: object) -> Violation | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        return Violation("groups", "must be an object of group type → value(s)")
    if len(value) > MAX_GROUP_TYPES:
        return Violation("groups", f"at most {MAX_GROUP_TYPES} group types per event")
    total = 0
    for gtype, gval in value.items():
        values = gval if isinstance(gval, list) else [gval]
        for item in values:
            if not isinstance(item, str | int) or isinstance(item, bool):
                return Violation(f"groups.{gtype}", "group values must be strings")
        total += len(values)
    if total > MAX_GROUP_VALUES:
        return Violation("groups", f"at most {MAX_GROUP_VALUES} group values per event")
    return None


def check_event(
    event: object,
    *,
    min_id_length: int = DEFAULT_MIN_ID_LENGTH,
    allow_reserved: bool = False,
    strip_short_ids: bool = False,
    json_checked: bool = False,
) -> list[Violation]:
    """All violations of one event object (as decoded from JSON), in a stable order.

    With ``strip_short_ids`` (the server's behaviour) an id shorter than ``min_id_length`` is
    ignored rather than reported; the event is then invalid only if no id is left.
    """
    if not isinstance(event, dict):
        return [Violation("event", "must be a JSON object")]
    out: list[Violation] = []
    etype = event.get("event_type")
    if etype is None or etype == "":
        out.append(Violation("event_type", "is required", "missing"))
    elif not isinstance(etype, str):
        out.append(Violation("event_type", "must be a string"))
    elif len(etype) > MAX_STRING_LENGTH:
        out.append(Violation("event_type", f"must be at most {MAX_STRING_LENGTH} characters"))
    elif etype in RESERVED_EVENT_TYPES and not allow_reserved:
        out.append(Violation("event_type", f"{etype!r} is reserved for Amplitude's internal use"))

    out += check_ids(event, min_id_length, strip_short_ids)

    kinds = _FIELD_KINDS
    for field, value in event.items():
        kind = kinds.get(field)
        if kind is None or value is None:
            continue
        if kind == 1:  # string
            if value.__class__ is str:
                if len(value) > MAX_STRING_LENGTH:
                    out.append(Violation(field, f"must be at most {MAX_STRING_LENGTH} characters"))
            elif not isinstance(value, str):
                out.append(Violation(field, "must be a string"))
            elif len(value) > MAX_STRING_LENGTH:
                out.append(Violation(field, f"must be at most {MAX_STRING_LENGTH} characters"))
        elif kind == 2:  # integer
            if not is_int(value):
                out.append(Violation(field, "must be an integer" + (
                    " of milliseconds since epoch" if field in ("time", "session_id") else ""
                )))
            elif field == "time":
                if 0 <= value < MIN_PLAUSIBLE_MS:
                    out.append(Violation(
                        "time", "must be milliseconds since epoch (this looks like seconds)"
                    ))
                elif not 0 <= value <= MAX_TIME_MS:
                    out.append(Violation("time", "must be milliseconds since epoch between "
                                         f"1970-01-01 and 9999-12-31 (0 to {MAX_TIME_MS})"))
            elif not INT64_MIN <= value <= INT64_MAX:
                out.append(Violation(field, "must fit a signed 64-bit integer "
                                     f"({INT64_MIN} to {INT64_MAX})"))
        elif not is_number(value):  # number
            out.append(Violation(field, "must be a finite number"))
    if "quantity" in event:
        v = _check_amount(event.get("price"), event["quantity"])
        if v:
            out.append(v)
    rare = event.keys() & _RARE_KEYS  # most events have none of these: one set operation
    if rare:
        out.extend(_check_rare(event, rare, json_checked))
    props = event.get("event_properties")
    if props is not None and (props.__class__ is not dict or not json_checked):
        v = check_property_map(props, "event_properties", json_checked)
        if v:
            out.append(v)
    return out


_RARE_KEYS = frozenset({"currency", "productId", "revenueType", "user_properties",
                        "group_properties", "groups", "plan", "$skip_user_properties_sync"})


def _check_rare(event: Mapping[str, Any], rare: set[str], json_checked: bool) -> list[Violation]:
    """Rules of the less common keys (revenue, property operations, groups, plan)."""
    out: list[Violation] = []
    currency = event.get("currency")
    if currency is not None and not (isinstance(currency, str) and _CURRENCY.match(currency)):
        out.append(Violation("currency", "must be a 3-letter upper-case ISO 4217 code"))
    if (event.get("productId") is not None or event.get("revenueType") is not None) and (
        event.get("price") is None and event.get("revenue") is None
    ):
        out.append(Violation("revenue", "productId/revenueType need price or revenue", "missing"))
    ops = event.get("user_properties")
    if ops is not None:
        v = check_operations(ops, "user_properties", json_checked=json_checked)
        if v:
            out.append(v)
    ops = event.get("group_properties")
    if ops is not None:
        v = check_operations(ops, "group_properties", GROUP_PROPERTY_OPERATIONS, json_checked)
        if v:
            out.append(v)
    groups = event.get("groups")
    if groups is not None:
        v = check_groups(groups)
        if v:
            out.append(v)
    plan = event.get("plan")
    if plan is not None:
        if not isinstance(plan, dict):
            out.append(Violation("plan", "must be an object"))
        else:
            for key, value in plan.items():
                if key not in PLAN_KEYS:
                    out.append(Violation(f"plan.{key}", "only branch, source, version allowed"))
                elif not isinstance(value, str):
                    out.append(Violation(f"plan.{key}", "must be a string"))
    skip = event.get("$skip_user_properties_sync")
    if skip is not None and not isinstance(skip, bool):
        out.append(Violation("$skip_user_properties_sync", "must be a boolean"))
    return out


def _check_amount(price: object, quantity: object) -> Violation | None:
    """``price × quantity`` (the revenue amount when ``revenue`` is absent) must be finite."""
    if is_number(price) and is_int(quantity):
        try:
            amount = float(price) * float(quantity)  # type: ignore[arg-type]
        except OverflowError:
            amount = math.inf
        if not math.isfinite(amount):
            return Violation("price", "price × quantity must be a finite number")
    return None


def check_identification(
    ident: object, *, min_id_length: int = DEFAULT_MIN_ID_LENGTH
) -> list[Violation]:
    """Rules for one object of the Identify API's ``identification`` parameter."""
    if not isinstance(ident, dict):
        return [Violation("identification", "must be a JSON object")]
    out = check_ids(ident, min_id_length)
    v = check_operations(ident.get("user_properties"), "user_properties")
    if v:
        out.append(v)
    v = check_groups(ident.get("groups"))
    if v:
        out.append(v)
    for field in (*DEVICE_FIELDS, "paying", "start_version"):
        value = ident.get(field)
        if value is not None and not isinstance(value, str):
            out.append(Violation(field, "must be a string"))
    return out


def check_group_identification(ident: object) -> list[Violation]:
    """Rules for one object of the Group Identify API's ``identification`` parameter."""
    if not isinstance(ident, dict):
        return [Violation("identification", "must be a JSON object")]
    out: list[Violation] = []
    for field in ("group_type", "group_value"):
        value = ident.get(field)
        if value is None or value == "":
            out.append(Violation(field, "is required", "missing"))
        elif not isinstance(value, str):
            out.append(Violation(field, "must be a string"))
        elif len(value) > MAX_STRING_LENGTH:  # as every other string value (reference §2.2)
            out.append(Violation(field, f"must be at most {MAX_STRING_LENGTH} characters"))
    props = ident.get("group_properties")
    if props is None:
        out.append(Violation("group_properties", "is required", "missing"))
    else:
        v = check_operations(props, "group_properties", GROUP_PROPERTY_OPERATIONS)
        if v:
            out.append(v)
    return out


def index_violations(
    per_event: Mapping[int, list[Violation]],
) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Group per-event violations into Amplitude's ``events_with_invalid_fields`` and
    ``events_with_missing_fields`` maps (field → sorted event indexes)."""
    invalid: dict[str, list[int]] = {}
    missing: dict[str, list[int]] = {}
    for index in sorted(per_event):
        for v in per_event[index]:
            target = missing if v.kind == "missing" else invalid
            lst = target.setdefault(v.top_field, [])
            if not lst or lst[-1] != index:
                lst.append(index)
    return invalid, missing


def apply_operations(current: dict[str, Any], ops: Mapping[str, Any]) -> dict[str, Any]:
    """Apply user/group property operations (or a plain property map) to ``current``.

    Returns a new dict; ``current`` is not changed.  Semantics follow reference §2.3.
    """
    props = dict(current)
    if not any(k.startswith("$") for k in ops):
        props.update(ops)
        return props
    if "$clearAll" in ops:
        return {}
    for op, body in ops.items():
        if not isinstance(body, dict):
            continue
        for key, value in body.items():
            if op == "$set":
                props[key] = value
            elif op == "$setOnce":
                props.setdefault(key, value)
            elif op == "$add":
                base = props.get(key, 0)
                base = base if is_number(base) else 0
                total = base + value if is_number(value) else base
                if is_int(total) and not INT64_MIN <= total <= JSON_UINT_MAX:
                    total = float(total)  # past what JSON numbers hold as integers
                if isinstance(total, float) and not math.isfinite(total):
                    total = base  # past ±1.8e308: JSON has no infinity, the value stays
                props[key] = total
            elif op == "$unset":
                props.pop(key, None)
            else:
                items = value if isinstance(value, list) else [value]
                existing = props.get(key)
                lst = list(existing) if isinstance(existing, list) else (
                    [] if existing is None else [existing]
                )
                if op == "$append":
                    lst = lst + items
                elif op == "$prepend":
                    lst = items + lst
                elif op in ("$postInsert", "$preInsert"):
                    new: list[Any] = []  # values not present yet, each once, in their order
                    for i in items:
                        if i not in lst and i not in new:
                            new.append(i)
                    lst = lst + new if op == "$postInsert" else new + lst
                elif op == "$remove":
                    if existing is None:
                        continue  # nothing to remove from: no property is made
                    lst = [i for i in lst if i not in items]
                props[key] = lst
    return props
