"""Tracking plans: which events a project sends, the JSON Schema of each one's properties, the
user properties it sets — and what to do with events that break them.

A plan is YAML or JSON::

    version: 1
    policy: {unplanned_events: flag, unplanned_properties: flag, violations: reject}
    events:
      Signed Up:
        description: A new account
        properties:                      # property → JSON Schema (Draft 2020-12)
          plan: {type: string, enum: [free, trial, pro]}
          seats: {type: integer, minimum: 1}
        required: [plan]
      Opened App:                        # planned, no properties
    user_properties:
      properties: {country: {type: string, pattern: "^[A-Z]{2}$"}}

Both ``ampkit serve --plan`` and the client (``Amplitude(plan=...)``) enforce it with
:meth:`TrackingPlan.check`.  Event types that start with ``$`` (``$identify``,
``$groupidentify``) are Amplitude's own: never unplanned, their ``event_properties`` are not
checked.  Event property names that start with ``$`` (``$price``, ``$revenue``…) are
Amplitude's too and never unplanned.

``jsonschema`` (the ``plan`` extra; the ``server`` extra has it) is imported when a plan is
first parsed, and PyYAML when a YAML plan is read: a client without a plan loads neither.
"""

from __future__ import annotations

import datetime as dt
import decimal
import difflib
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ampkit.models.base import parse_error_text

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

Disposition = Literal["allow", "flag", "reject"]
"""What happens to an event that breaks a rule: stored quietly, stored and recorded in the
bad-event bucket, or refused (and recorded)."""
FindingKind = Literal["violation", "unplanned_event", "unplanned_property"]
BadEventKind = Literal["violation", "unplanned_event", "unplanned_property", "rejected_request",
                       "properties_limit"]
BAD_EVENT_KINDS: tuple[BadEventKind, ...] = (
    "violation", "unplanned_event", "unplanned_property", "rejected_request", "properties_limit")
MAX_RULE_LENGTH = 300
"""A rule's text is cut here (a schema error quotes the value, which may be 1,000 characters)."""
MAX_ERRORS_PER_EVENT = 20
JSON_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")


class PlanError(ValueError):
    """A plan file that cannot be used: each of :attr:`problems` names its place in the file
    (``events.Signed Up.properties.seats.type: 'integr' is not a valid type …``)."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        head = f"{source}: " if source else ""
        super().__init__(head + "; ".join(problems))


# --- the plan ------------------------------------------------------------------------------
class _PlanModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class PlanPolicy(_PlanModel):
    """The disposition of each kind of finding."""

    unplanned_events: Disposition = "flag"
    unplanned_properties: Disposition = "flag"
    violations: Disposition = "reject"

    def of(self, kind: FindingKind) -> Disposition:
        if kind == "violation":
            return self.violations
        return self.unplanned_events if kind == "unplanned_event" else self.unplanned_properties


PropertySchema = dict[str, Any] | bool
"""A JSON Schema (Draft 2020-12) for one property's value; ``{}`` takes any value."""


class UserPropertiesPlan(_PlanModel):
    """The user properties events may set (``$set``, ``$setOnce``… or a plain map)."""

    description: str | None = None
    properties: dict[str, PropertySchema] = Field(default_factory=dict)


class EventPlan(UserPropertiesPlan):
    """One planned event type: its ``event_properties`` and which of them are required."""

    required: list[str] = Field(default_factory=list)


class TrackingPlan(_PlanModel):
    """A whole tracking plan (see the module's docstring for the file format)."""

    version: Literal[1] = 1
    policy: PlanPolicy = Field(default_factory=PlanPolicy)
    events: dict[str, EventPlan] = Field(default_factory=dict)
    user_properties: UserPropertiesPlan | None = None
    """``None``: user properties are not checked at all."""

    _checkers: dict[str, _EventChecker] = PrivateAttr(default_factory=dict)
    _users: _UserChecker | None = PrivateAttr(default=None)

    @field_validator("events", mode="before")
    @classmethod
    def _bare_names(cls, value: Any) -> Any:
        """``Opened App:`` with nothing under it (YAML's null) is a planned event without
        properties."""
        if isinstance(value, dict):
            return {name: {} if plan is None else plan for name, plan in value.items()}
        return value

    @model_validator(mode="after")
    def _schemas_are_json_schema(self) -> TrackingPlan:
        problems = list(schema_problems(self))
        if problems:
            raise PydanticCustomError("plan_schema", "{detail}",
                                      {"detail": "; ".join(problems), "problems": problems})
        return self

    def summary(self) -> str:
        """``3 events, 1 user property; unplanned events: flag, …``."""
        users = len(self.user_properties.properties) if self.user_properties else 0
        p = self.policy
        return (f"{_plural(len(self.events), 'event')}, {_plural(users, 'user property')}; "
                f"unplanned events: {p.unplanned_events}, unplanned properties: "
                f"{p.unplanned_properties}, violations: {p.violations}")

    # --- checking events -------------------------------------------------------------------
    def check(self, event: Mapping[str, Any]) -> list[PlanFinding]:
        """Every way ``event`` (a wire event, as decoded from JSON) breaks the plan, whatever
        the policy says of it; ``[]`` when it keeps to it.  Never raises."""
        etype = event.get("event_type")
        if etype.__class__ is not str:
            return []  # Amplitude's own rules refuse it (ampkit.models.rules)
        out: list[PlanFinding] = []
        planned = self.events.get(etype)
        if planned is not None:
            checker = self._checkers.get(etype)
            if checker is None:
                checker = self._checkers[etype] = _EventChecker(planned)
            checker.check(event.get("event_properties"), out)
        elif not etype.startswith("$"):
            out.append(PlanFinding("unplanned_event", "/event_type",
                                   f"{etype!r} is not a planned event type"))
        if self.user_properties is not None and event.get("user_properties"):
            users = self._users
            if users is None:
                users = self._users = _UserChecker(self.user_properties)
            users.check(event["user_properties"], out)
        return out

    def triage(self, findings: Iterable[PlanFinding]) -> dict[Disposition, list[PlanFinding]]:
        """``findings`` by what the policy does with them (``allow`` ones included)."""
        out: dict[Disposition, list[PlanFinding]] = {"allow": [], "flag": [], "reject": []}
        for finding in findings:
            out[self.policy.of(finding.kind)].append(finding)
        return out


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"1 {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


@dataclass(frozen=True, slots=True)
class PlanFinding:
    """One way an event breaks a plan: what kind, where (a JSON pointer into the event), and
    the rule.  ``missing``: a required property is absent (Amplitude's
    ``events_with_missing_fields`` rather than ``events_with_invalid_fields``)."""

    kind: FindingKind
    path: str
    rule: str
    missing: bool = False

    @property
    def field(self) -> str:
        """The path as dotted field names (``event_properties.seats``)."""
        return ".".join(unescape(part) for part in self.path.split("/")[1:])


# --- JSON pointers -------------------------------------------------------------------------
def escape(key: object) -> str:
    """One JSON pointer token (RFC 6901)."""
    return str(key).replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def pointer(parts: Iterable[object]) -> str:
    return "".join(f"/{escape(p)}" for p in parts)


def short(text: str, limit: int = MAX_RULE_LENGTH) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


# --- the checkers (a plan's compiled validators, built on first use) -----------------------
def ecma_pattern(pattern: str) -> str:
    """``pattern`` as Python reads it with JSON Schema's meaning (ECMA-262): ``$`` outside a
    character class is the end of the text (Python's ``$`` also matches before a final
    newline, so ``^[A-Z]{2}$`` took ``"FR\\n"``)."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        out.append(char)
        i += 1
    return "".join(out)


def _multiple_of(validator: Any, divisor: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """``multipleOf`` on the decimal values written (19.99 is a multiple of 0.01), where the
    library divides floats (19.99 / 0.01 = 1998.9999999999998: refused)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError as SchemaError

    if not validator.is_type(instance, "number"):
        return
    try:
        quotient = decimal.Decimal(repr(instance)) / decimal.Decimal(repr(divisor))
        failed = quotient != quotient.to_integral_value()
    except (decimal.DecimalException, ValueError):  # past Decimal's range: the library's own
        yield from Draft202012Validator.VALIDATORS["multipleOf"](
            validator, divisor, instance, schema)
        return
    if failed:
        yield SchemaError(f"{instance!r} is not a multiple of {divisor!r}")


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError as SchemaError

    if validator.is_type(instance, "string") and not re.search(ecma_pattern(pattern), instance):
        yield SchemaError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def _plan_validator() -> Any:
    """Draft 2020-12 with ``multipleOf`` and ``pattern`` as JSON Schema means them."""
    from jsonschema import Draft202012Validator, validators

    extend: Any = validators.extend
    return extend(Draft202012Validator, {"multipleOf": _multiple_of, "pattern": _pattern})


def _validator(schema: PropertySchema) -> Validator:
    from jsonschema import Draft202012Validator

    checker: Validator = _plan_validator()(schema,
                                           format_checker=Draft202012Validator.FORMAT_CHECKER)
    return checker


def _errors(validator: Validator, base: str, value: Any) -> Iterator[PlanFinding]:
    """The schema errors of ``value`` as findings (at most :data:`MAX_ERRORS_PER_EVENT`)."""
    try:
        for err in islice(validator.iter_errors(value), MAX_ERRORS_PER_EVENT):
            yield PlanFinding("violation", base + pointer(err.absolute_path), short(err.message))
    except Exception as exc:  # a value the schema library cannot take is a finding, not a crash
        yield PlanFinding("violation", base,
                          f"the plan's schema could not be applied ({type(exc).__name__})")


def _trivial(schema: PropertySchema) -> bool:
    return schema is True or schema == {}


# Most property schemas are a type, an enum of strings, bounds, lengths or a pattern: those are
# first tried as plain Python.  A quick check only ever *accepts* (what it cannot vouch for —
# any other keyword, a value of another class — goes to jsonschema, which words every error).
_PLAIN = frozenset({str, int, float, bool, type(None), list, dict})
_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: v.__class__ is str,
    "integer": lambda v: v.__class__ is int or (v.__class__ is float and v.is_integer()),
    "number": lambda v: v.__class__ is int or v.__class__ is float,
    "boolean": lambda v: v.__class__ is bool,
    "null": lambda v: v is None,
    "array": lambda v: v.__class__ is list,
    "object": lambda v: v.__class__ is dict,
}
_BOUNDS: dict[str, Callable[[Any, Any], bool]] = {
    "minimum": lambda v, b: v >= b, "maximum": lambda v, b: v <= b,
    "exclusiveMinimum": lambda v, b: v > b, "exclusiveMaximum": lambda v, b: v < b}
_QUICK_KEYS = frozenset({"type", "enum", "minLength", "maxLength", "pattern", *_BOUNDS,
                         "title", "description", "default", "examples", "deprecated",
                         "readOnly", "writeOnly", "$comment"})


def _quick(schema: dict[str, Any]) -> Callable[[Any], bool] | None:
    """A plain-Python check that is true only of values ``schema`` accepts (``None``: the
    schema has a keyword it does not know)."""
    if not schema.keys() <= _QUICK_KEYS:
        return None
    checks: list[Callable[[Any], bool]] = []
    kind = schema.get("type")
    if kind is not None:
        tests = [_TYPES[k] for k in ([kind] if isinstance(kind, str) else kind)]
        checks.append(lambda v: any(t(v) for t in tests))
    if "enum" in schema:
        if not all(isinstance(e, str) for e in schema["enum"]):
            return None
        allowed = frozenset(schema["enum"])
        checks.append(lambda v: v.__class__ is str and v in allowed)
    bounds = [(_BOUNDS[k], schema[k]) for k in _BOUNDS if k in schema]
    if bounds:
        checks.append(lambda v: (v.__class__ is not int and v.__class__ is not float)
                      or all(ok(v, b) for ok, b in bounds))
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    pattern = re.compile(ecma_pattern(schema["pattern"])) if "pattern" in schema else None
    if low or high is not None or pattern is not None:
        checks.append(lambda v: v.__class__ is not str or (
            low <= len(v) and (high is None or len(v) <= high)
            and (pattern is None or pattern.search(v) is not None)))
    return lambda v: v.__class__ in _PLAIN and all(check(v) for check in checks)


class _Schema:
    """One property's schema, compiled: its quick check, and jsonschema's validator (made on
    first need) for what the quick check does not accept."""

    __slots__ = ("_validator", "quick", "schema")

    def __init__(self, schema: PropertySchema) -> None:
        self.schema = schema
        self.quick = _quick(schema) if isinstance(schema, dict) else None
        self._validator: Validator | None = None

    def errors(self, value: Any, path: str) -> Iterator[PlanFinding]:
        if self.quick is not None and self.quick(value):
            return
        if self._validator is None:
            self._validator = _validator(self.schema)
        yield from _errors(self._validator, path, value)


def _schemas(properties: dict[str, PropertySchema]) -> dict[str, _Schema]:
    return {name: _Schema(schema) for name, schema in properties.items()
            if not _trivial(schema)}


class _EventChecker:
    """One event type's compiled rules."""

    def __init__(self, plan: EventPlan) -> None:
        self.names = frozenset(plan.properties)
        self.required = tuple(plan.required)
        self.schemas = _schemas(plan.properties)

    def check(self, props: Any, out: list[PlanFinding]) -> None:
        if props is None:
            props = {}
        if not isinstance(props, dict):
            out.append(PlanFinding("violation", "/event_properties", "must be an object"))
            return
        for name in self.required:
            if name not in props:
                out.append(PlanFinding("violation", f"/event_properties/{escape(name)}",
                                       f"{name!r} is a required property", missing=True))
        for key in props:
            if key not in self.names and not str(key).startswith("$"):
                out.append(PlanFinding("unplanned_property", f"/event_properties/{escape(key)}",
                                       f"{short(str(key), 100)!r} is not a planned property"))
        found = (finding for name, schema in self.schemas.items() if name in props
                 for finding in schema.errors(props[name], f"/event_properties/{escape(name)}"))
        out.extend(islice(found, MAX_ERRORS_PER_EVENT))


_SETS_VALUE = frozenset({"$set", "$setOnce"})


class _UserChecker:
    """The plan's user properties, compiled: each set value is checked against its schema."""

    def __init__(self, plan: UserPropertiesPlan) -> None:
        self.names = frozenset(plan.properties)
        self.schemas = _schemas(plan.properties)

    def check(self, ops: Any, out: list[PlanFinding]) -> None:
        if not isinstance(ops, dict):
            return
        if not any(str(k).startswith("$") for k in ops):
            self._values(ops, "/user_properties", True, out)
            return
        for op, body in ops.items():
            if isinstance(body, dict):
                self._values(body, f"/user_properties/{escape(op)}", op in _SETS_VALUE, out)

    def _values(self, values: dict[Any, Any], base: str, check_values: bool,
                out: list[PlanFinding]) -> None:
        for key, value in values.items():
            path = f"{base}/{escape(key)}"
            if key not in self.names:
                out.append(PlanFinding("unplanned_property", path,
                                       f"{short(str(key), 100)!r} is not a planned user "
                                       "property"))
            elif check_values and (schema := self.schemas.get(key)) is not None:
                out.extend(schema.errors(value, path))


# --- checking the plan's own schemas -------------------------------------------------------
_ANNOTATIONS = frozenset({
    "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
    "$comment", "$schema", "$id", "$anchor", "$defs", "$vocabulary", "$dynamicAnchor",
    "contentEncoding", "contentMediaType", "contentSchema", "then", "else"})
_UNSUPPORTED = frozenset({"$ref", "$dynamicRef"})
_ONE_SCHEMA = ("items", "not", "if", "then", "else", "contains", "additionalProperties",
               "propertyNames", "unevaluatedItems", "unevaluatedProperties", "contentSchema")
_SCHEMA_MAP = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SCHEMA_LIST = ("allOf", "anyOf", "oneOf", "prefixItems")


def schema_problems(plan: TrackingPlan) -> Iterator[str]:
    """Each property schema of ``plan`` that is not a usable JSON Schema, as
    ``events.<type>.properties.<name>[.<where>]: <what>``; and each required property that is
    not planned."""
    from ampkit._extras import require

    require("plan", "a tracking plan", ("jsonschema",))
    from jsonschema import Draft202012Validator

    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)
    known = (frozenset(Draft202012Validator.VALIDATORS) | _ANNOTATIONS) - _UNSUPPORTED
    places: list[tuple[str, UserPropertiesPlan]] = [
        (f"events.{name}.properties", event) for name, event in plan.events.items()]
    for name, event in plan.events.items():
        for required in event.required:
            if required not in event.properties:
                yield f"events.{name}.required: {required!r} is not among the properties"
    if plan.user_properties is not None:
        places.append(("user_properties.properties", plan.user_properties))
    for where, part in places:
        for name, schema in part.properties.items():
            yield from _one_schema(meta, known, f"{where}.{name}", schema)


def _one_schema(meta: Validator, known: frozenset[str], where: str,
                schema: PropertySchema) -> Iterator[str]:
    from jsonschema.exceptions import best_match

    err = best_match(meta.iter_errors(schema))
    if err is not None:
        at = ".".join([where, *(str(p) for p in err.path)])
        if err.validator == "anyOf" and err.path and err.path[-1] == "type":
            yield (f"{at}: {err.instance!r} is not a valid type (one of "
                   f"{', '.join(JSON_TYPES)})")
        else:
            yield f"{at}: {short(err.message)}"
        return
    yield from _keywords(known, where, schema)


def _checked_formats() -> frozenset[str]:
    """The ``format`` names jsonschema asserts here (the others it would pass silently)."""
    from jsonschema import Draft202012Validator

    return frozenset(Draft202012Validator.FORMAT_CHECKER.checkers)


def _keywords(known: frozenset[str], where: str, schema: Any) -> Iterator[str]:
    """Keywords JSON Schema does not know (a typo would be ignored: ``typ: string``), and the
    ones a plan does not support (``$ref``: write the schema in place), all the way down."""
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key in _UNSUPPORTED:
            yield f"{where}.{key}: references are not supported in a plan; write the schema inline"
        elif key == "format" and isinstance(value, str) and value not in _checked_formats():
            yield (f"{where}.format: {value!r} is not checked here (JSON Schema would ignore "
                   f"it); checked: {', '.join(sorted(_checked_formats()))}")
        elif key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield f"{where}: unknown keyword {key!r}{hint}"
        elif key in _ONE_SCHEMA:
            yield from _keywords(known, f"{where}.{key}", value)
        elif key in _SCHEMA_MAP:
            for name, sub in value.items():
                yield from _keywords(known, f"{where}.{key}.{name}", sub)
        elif key in _SCHEMA_LIST:
            for i, sub in enumerate(value):
                yield from _keywords(known, f"{where}.{key}.{i}", sub)


# --- reading a plan ------------------------------------------------------------------------
def _problems(exc: ValidationError) -> list[str]:
    out: list[str] = []
    for err in exc.errors():
        listed = (err.get("ctx") or {}).get("problems")
        if listed:
            out.extend(listed)
            continue
        where = ".".join(str(p) for p in err["loc"])
        out.append(f"{where}: {err['msg']}" if where else err["msg"])
    return out


def parse_plan(data: Any, source: str | None = None) -> TrackingPlan:
    """A plan from its decoded document; :class:`PlanError` names every problem."""
    if isinstance(data, TrackingPlan):
        return data
    if not isinstance(data, dict):
        raise PlanError(["the top level must be a mapping (version, policy, events, "
                         "user_properties)"], source)
    try:
        return TrackingPlan.model_validate(data)
    except ValidationError as exc:
        raise PlanError(_problems(exc), source) from None


def read_plan_text(text: bytes | str, name: str) -> Any:
    """The document of a plan file: JSON when ``name`` ends in ``.json``, else YAML (a JSON
    text is YAML too)."""
    if name.lower().endswith(".json"):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise PlanError([f"not JSON: {exc}"], name) from None
    from ampkit._extras import require

    require("plan", "reading a YAML tracking plan", ("yaml",))
    import yaml

    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date like 2024-02-30
        raise PlanError([f"not YAML: {parse_error_text(exc)}"], name) from None


def load_plan(path: str | Path) -> TrackingPlan:
    """Read a plan file (YAML, or JSON for a ``.json`` file)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlanError([f"cannot read the plan: {exc.strerror or exc}"], str(path)) from None
    return parse_plan(read_plan_text(raw, path.name), str(path))


def as_plan(value: TrackingPlan | Mapping[str, Any] | str | Path) -> TrackingPlan:
    """A plan from a :class:`TrackingPlan`, its document (a mapping) or a file path."""
    if isinstance(value, TrackingPlan):
        return value
    if isinstance(value, Mapping):
        return parse_plan(dict(value))
    return load_plan(value)


# --- the bad-event bucket, as ``GET /_ampkit/bad-events`` answers -------------------------
class BadEventRequest(BaseModel):
    """The request a bad event came in: its id (shared by every row of the request) and path."""

    id: str
    path: str


class BadEvent(BaseModel):
    """One entry of the server's bad-event bucket."""

    id: int
    received_at: dt.datetime
    kind: BadEventKind
    event_type: str | None = None
    insert_id: str | None = None
    rule: str
    path: str
    """A JSON pointer into ``event`` (into the request body when ``event`` is null)."""
    disposition: Literal["stored", "rejected"]
    event: dict[str, Any] | None = None
    request: BadEventRequest

    def line(self) -> str:
        """One readable line: ``violation 'Signed Up' /event_properties/seats: 0 is less
        than the minimum of 1 (rejected, /2/httpapi)``."""
        what = "" if self.event_type is None else f" {short(self.event_type, 80)!r}"
        where = f" {self.path}" if self.path else ""
        return (f"{self.kind}{what}{where}: {self.rule} ({self.disposition}, "
                f"{self.request.path})")


class BadEventsPage(BaseModel):
    """``GET /_ampkit/bad-events``: newest first; ``total`` counts every match."""

    bad_events: list[BadEvent]
    total: int


class BadRequest(BaseModel):
    """``GET /_ampkit/bad-requests/{id}``: the body a bad event came in (the API key in it
    replaced by ``***``), cut at the server's cap."""

    id: str
    path: str
    received_at: dt.datetime
    size: int
    """The whole body's size in bytes."""
    truncated: bool
    body: str


__all__ = [
    "BAD_EVENT_KINDS",
    "BadEvent",
    "BadEventKind",
    "BadEventRequest",
    "BadEventsPage",
    "BadRequest",
    "Disposition",
    "EventPlan",
    "FindingKind",
    "PlanError",
    "PlanFinding",
    "PlanPolicy",
    "TrackingPlan",
    "UserPropertiesPlan",
    "as_plan",
    "load_plan",
    "parse_plan",
]
