"""Turn what a user passes into a valid wire event, or a typed error naming field and rule.

* keys may be snake_case or camelCase (``userId``, ``product_id``…);
* client defaults (user_id, device_id, platform…) fill only what the event leaves empty;
* ``time`` and ``session_id`` accept a ``datetime`` (converted to ms);
* property values that JSON cannot hold are converted where the meaning is unambiguous
  (datetime/date/time → ISO 8601, Decimal → float, UUID → str, Enum → its value, tuple/set →
  list, Path → str) and reported otherwise — never dropped silently;
* every event gets an ``insert_id`` and a ``time`` so retries never double-count.  Generated
  insert ids are UUID-shaped: 80 random bits drawn once per process (again after a fork) and
  a 48-bit counter — unique like a UUID4, without a system call per event.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import math
import os
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Literal

import orjson
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ampkit.errors import InvalidEventError
from ampkit.models import Event, GroupIdentification, Identification
from ampkit.models.rules import (
    INT64_MAX,
    INT64_MIN,
    MAX_DEPTH,
    MAX_STRING_LENGTH,
    MAX_TIME_MS,
    MIN_PLAUSIBLE_MS,
    NUMBER_FIELDS,
    RESERVED_EVENT_TYPES,
    STRING_FIELDS,
    check_event,
    check_group_identification,
    check_id,
    check_identification,
)

LIBRARY = "ampkit-python/0.1.0"
PROPERTY_FIELDS = ("event_properties", "user_properties", "group_properties", "groups", "plan")


class EventDefaults(BaseModel):
    """Values set once on a client and applied to every event that lacks them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: str | None = None
    device_id: str | None = None
    session_id: int | None = None
    app_version: str | None = None
    platform: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    device_brand: str | None = None
    device_manufacturer: str | None = None
    device_model: str | None = None
    carrier: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    language: str | None = None
    library: str | None = LIBRARY
    partner_id: str | None = None


class NormalizeOptions(BaseModel):
    """How strictly events are checked before sending."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_id_length: int = Field(default=5, ge=1)
    long_strings: Literal["error", "truncate"] = "error"
    allow_reserved_event_types: bool = False


class _InsertIds:
    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        p = os.urandom(10).hex()
        self.head = f"{p[:8]}-{p[8:12]}-{p[12:16]}-{p[16:20]}-"
        self.counter = itertools.count()

    def next(self) -> str:
        return self.head + format(next(self.counter) & 0xFFFFFFFFFFFF, "012x")


_INSERT_IDS = _InsertIds()
new_insert_id = _INSERT_IDS.next


_LAST_DEFAULTS: list[Any] = [None, ()]


def _defaults_items(defaults: EventDefaults) -> tuple[tuple[str, Any], ...]:
    """The set fields of ``defaults`` (frozen), remembered for the last object seen — a client
    passes the same one for every event, and hashing a model per event costs more than the
    rest of the lookup."""
    last = _LAST_DEFAULTS
    if last[0] is defaults:
        items: tuple[tuple[str, Any], ...] = last[1]
        return items
    items = tuple(defaults.model_dump(exclude_none=True).items())
    last[0], last[1] = defaults, items
    return items


def to_ms(value: dt.datetime | dt.date) -> int:
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1000)


def _json_safe_item(
    key: Any, item: Any, path: str, options: NormalizeOptions, depth: int
) -> tuple[str, Any]:
    if isinstance(key, enum.Enum):
        key = key.value
    if not isinstance(key, str):
        raise InvalidEventError(path, f"keys must be strings, got {type(key).__name__}")
    return key, json_safe(item, f"{path}.{key}", options, depth + 1)


def json_safe(value: Any, path: str, options: NormalizeOptions, depth: int = 0) -> Any:
    """A JSON-safe copy of ``value``, or :class:`InvalidEventError` naming the path."""
    if depth > MAX_DEPTH:
        raise InvalidEventError(path, f"nests deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING_LENGTH:
            if options.long_strings == "truncate":
                return value[:MAX_STRING_LENGTH]
            raise InvalidEventError(
                path, f"is longer than {MAX_STRING_LENGTH} characters ({len(value)})"
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidEventError(path, f"must be a finite number, got {value}")
        return value
    if value.__class__ is dict:  # fast path: plain values are copied without a call
        for key, item in value.items():
            cls = item.__class__
            if key.__class__ is not str or not (
                (cls is str and len(item) <= MAX_STRING_LENGTH) or cls is int or cls is bool
                or item is None or (cls is float and math.isfinite(item))
            ):
                break
        else:
            return value  # already JSON-safe: shared, not copied (it is encoded at once)
        out: dict[str, Any] = {}
        for key, item in value.items():
            cls = item.__class__
            if key.__class__ is str and (
                (cls is str and len(item) <= MAX_STRING_LENGTH) or cls is int or cls is bool
                or item is None or (cls is float and math.isfinite(item))
            ):
                out[key] = item
            else:
                safe_key, out_value = _json_safe_item(key, item, path, options, depth)
                out[safe_key] = out_value
        return out
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            safe_key, out_value = _json_safe_item(key, item, path, options, depth)
            out[safe_key] = out_value
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [json_safe(v, f"{path}[{i}]", options, depth + 1) for i, v in enumerate(items)]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        # Decimal('1e999') is finite, its float is not (and sNaN cannot be converted at all)
        if not value.is_finite() or not math.isfinite(number := float(value)):
            raise InvalidEventError(path, f"must be a finite number (a double), got {value}")
        return number
    if isinstance(value, uuid.UUID | PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return json_safe(value.value, path, options, depth)
    raise InvalidEventError(
        path,
        f"is not JSON-serialisable ({type(value).__name__}); convert it to a string, number, "
        "bool, list or dict",
    )


def _wire_aliases() -> dict[str, str]:
    """Every accepted spelling of an :class:`Event` key → its wire spelling."""
    out: dict[str, str] = {}
    for name, info in Event.model_fields.items():
        wire = info.serialization_alias or name
        choices = info.validation_alias
        spellings = {name, wire, to_camel(name)}
        if isinstance(choices, AliasChoices):
            spellings.update(c for c in choices.choices if isinstance(c, str))
        for spelling in spellings:
            out[spelling] = wire
    return out


_WIRE = _wire_aliases()
_DEFAULT_OPTIONS = NormalizeOptions()


# The fast path: a plain dict whose keys are all common ones with plain, valid values is
# renamed, checked and completed in one pass.  It only ever *accepts*: on the first key or value
# it is not sure of, it gives up and the full path below (``_as_dict``, ``json_safe``,
# ``check_event``) does the work, so every error is the full path's, word for word.
_STR, _ETYPE, _ID, _TIME, _INT64, _NUM, _PROPS = range(7)


def _fast_keys() -> dict[str, tuple[str, int]]:
    """Accepted spelling → (wire key, kind), for the keys the fast path checks itself (the
    revenue, property-operation, group and plan keys are left to the full path)."""
    kinds = dict.fromkeys(set(STRING_FIELDS) - {"productId", "revenueType"}, _STR)
    kinds.update(dict.fromkeys(NUMBER_FIELDS, _NUM))
    kinds.update(event_type=_ETYPE, user_id=_ID, device_id=_ID, time=_TIME, session_id=_INT64,
                 event_id=_INT64, event_properties=_PROPS)
    return {spelling: (wire, kinds[wire]) for spelling, wire in _WIRE.items() if wire in kinds}


def _plain_ok(kind: int, value: Any, wire: str, options: NormalizeOptions) -> bool:
    """``value`` (not ``None``) certainly passes the rules of ``wire`` as it is."""
    cls = value.__class__
    if kind == _STR:
        return cls is str and len(value) <= MAX_STRING_LENGTH
    if kind == _ID:
        return cls is str and check_id(value, wire, options.min_id_length) is None
    if kind == _ETYPE:
        return cls is str and 0 < len(value) <= MAX_STRING_LENGTH and (
            options.allow_reserved_event_types or value not in RESERVED_EVENT_TYPES)
    if kind == _TIME:
        return cls is int and MIN_PLAUSIBLE_MS <= value <= MAX_TIME_MS
    if kind == _INT64:
        return cls is int and INT64_MIN <= value <= INT64_MAX
    if kind == _NUM:
        return cls is int or (cls is float and math.isfinite(value))
    return cls is dict and _plain_props(value)  # _PROPS: shared as it is


def _plain_props(value: dict[Any, Any]) -> bool:
    """An object of plain values: string keys; short strings, ints, bools, None, finite floats."""
    max_len = MAX_STRING_LENGTH
    for key, item in value.items():
        cls = item.__class__
        if key.__class__ is not str or not (
            (cls is str and len(item) <= max_len) or cls is int or cls is bool
            or item is None or (cls is float and math.isfinite(item))
        ):
            return False
    return True


_FAST_DEFAULTS: list[Any] = [None, None, ()]


def _fast_defaults(
    defaults: EventDefaults, options: NormalizeOptions
) -> tuple[tuple[str, Any], ...] | None:
    """The defaults' items if every one passes its rules as it is (else ``None``), remembered
    for the last pair seen — a client passes the same two objects for every event."""
    last = _FAST_DEFAULTS
    if last[0] is defaults and last[1] is options:
        items: tuple[tuple[str, Any], ...] | None = last[2]
        return items
    items = _defaults_items(defaults)
    for key, value in items:
        spec = _FAST.get(key)
        if spec is None or not _plain_ok(spec[1], value, key, options):
            items = None
            break
    last[0], last[1], last[2] = defaults, options, items
    return items


def _fast_event(
    event: dict[Any, Any], defaults: EventDefaults | None, options: NormalizeOptions,
    now_ms: int | None,
) -> dict[str, Any] | None:
    """The wire form of a plain, valid ``event``, or ``None``: take the full path."""
    fast, max_len = _FAST, MAX_STRING_LENGTH
    out: dict[str, Any] = {}
    for key, value in event.items():
        if value is None:
            continue
        spec = fast.get(key)
        if spec is None:
            return None
        wire, kind = spec
        cls = value.__class__
        if kind == _STR:  # the common kinds inline, the others in _plain_ok
            if cls is not str or len(value) > max_len:
                return None
        elif kind == _ID:
            if cls is not str or check_id(value, wire, options.min_id_length) is not None:
                return None
        elif kind == _ETYPE:
            if cls is not str or not 0 < len(value) <= max_len or (
                    value in RESERVED_EVENT_TYPES and not options.allow_reserved_event_types):
                return None
        elif kind == _PROPS and cls is dict:
            if not _plain_props(value):
                return None
        elif not _plain_ok(kind, value, wire, options):
            return None
        out[wire] = value
    if defaults is not None:
        items = _fast_defaults(defaults, options)
        if items is None:
            return None
        for key, value in items:
            if key not in out:
                out[key] = value
    if "event_type" not in out or ("user_id" not in out and "device_id" not in out):
        return None
    if "time" not in out:
        out["time"] = now_ms if now_ms is not None else to_ms(dt.datetime.now(dt.UTC))
    if out.get("insert_id") in (None, ""):  # "" names nothing: deduplication needs an id
        out["insert_id"] = new_insert_id()
    return out


def _as_dict(event: Event | Mapping[str, Any] | BaseModel, index: int | None) -> dict[str, Any]:
    if isinstance(event, Event):
        return event.wire()
    if isinstance(event, Mapping):
        # fast path (no model building): rename known spellings, keep unknown keys as they are
        wire = _WIRE
        out: dict[str, Any] = {}
        for key, value in event.items():
            if value is not None:
                if not isinstance(key, str):
                    raise InvalidEventError("event", "keys must be strings", index=index)
                out[wire.get(key, key)] = value
        return out
    if isinstance(event, BaseModel):
        return _as_dict(event.model_dump(by_alias=True, exclude_none=True), index)
    raise InvalidEventError("event", f"must be an Event or a dict, got {type(event).__name__}",
                            index=index)


_FAST = _fast_keys()


def normalize_event(
    event: Event | Mapping[str, Any],
    defaults: EventDefaults | None = None,
    options: NormalizeOptions | None = None,
    *,
    index: int | None = None,
    now_ms: int | None = None,
) -> dict[str, Any]:
    """The wire form of one event; raises :class:`InvalidEventError` on the first broken rule."""
    options = options or _DEFAULT_OPTIONS
    if event.__class__ is dict:
        fast = _fast_event(event, defaults, options, now_ms)
        if fast is not None:
            return fast
    data = _as_dict(event, index)
    if defaults is not None:
        for key, value in _defaults_items(defaults):
            if data.get(key) is None:
                data[key] = value
    for key in ("time", "session_id"):
        value = data.get(key)
        if value is not None and isinstance(value, dt.datetime | dt.date):
            data[key] = to_ms(value)
    if data.get("time") is None:
        data["time"] = now_ms if now_ms is not None else to_ms(dt.datetime.now(dt.UTC))
    if data.get("insert_id") in (None, ""):
        data["insert_id"] = new_insert_id()
    try:
        for key, value in data.items():  # values are replaced in place, no key is added
            cls = value.__class__
            if cls is str:
                if len(value) > MAX_STRING_LENGTH:
                    data[key] = json_safe(value, key, options)
            elif cls is int or cls is bool:
                continue
            elif cls is not float or not math.isfinite(value):
                data[key] = json_safe(value, key, options)
    except InvalidEventError as exc:
        raise InvalidEventError(exc.field, exc.rule, index=index) from None
    violations = check_event(
        data,
        min_id_length=options.min_id_length,
        allow_reserved=options.allow_reserved_event_types,
        json_checked=True,
    )
    if violations:
        first = violations[0]
        raise InvalidEventError(first.field, first.rule, index=index)
    return data


def normalize_identification(
    ident: Identification | Mapping[str, Any],
    options: NormalizeOptions | None = None,
    *,
    group: bool = False,
) -> dict[str, Any]:
    """The wire form of one Identify (or Group Identify) object, validated."""
    options = options or NormalizeOptions()
    model: type[Identification] | type[GroupIdentification] = (
        GroupIdentification if group else Identification
    )
    data = (
        ident.wire()
        if isinstance(ident, Identification | GroupIdentification)
        else model.model_validate(dict(ident)).wire()
    )
    for key in ("user_properties", "group_properties", "groups"):
        if data.get(key) is not None:
            data[key] = json_safe(data[key], key, options)
    violations = (
        check_group_identification(data)
        if group
        else check_identification(data, min_id_length=options.min_id_length)
    )
    if violations:
        raise InvalidEventError(violations[0].field, violations[0].rule)
    return data


_BIG_INT = "is an integer past 64 bits; send it as a string or a float"
_SURROGATE = "holds a lone surrogate (such as \\ud800), which is not valid UTF-8"


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unencodable(value: Any, path: str) -> tuple[str, str] | None:
    """The path and rule of the first value in ``value`` that JSON cannot carry — an integer
    past 64 bits, a string (or key) with a lone surrogate: what orjson refuses — or ``None``."""
    if value.__class__ is int:
        return None if -(2**63) <= value < 2**64 else (path, _BIG_INT)
    if isinstance(value, str):
        return None if _utf8(value) else (path, _SURROGATE)
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and not _utf8(key):
                return where.encode("utf-8", "backslashreplace").decode(), "key " + _SURROGATE
            found = unencodable(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = unencodable(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def encode_event(event: dict[str, Any], index: int | None = None) -> bytes:
    """``event`` (normalized) as JSON bytes; what only the encoder finds (an integer past 64
    bits, a lone surrogate) is an :class:`InvalidEventError` naming its path."""
    try:
        return bytes(memoryview(orjson.dumps(event)))
    except TypeError:
        found = unencodable(event, "")
        if found is None:
            raise
        where, rule = found
        raise InvalidEventError(where.encode("utf-8", "backslashreplace").decode(), rule,
                                index=index) from None
