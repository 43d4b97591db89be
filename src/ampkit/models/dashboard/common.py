"""Shared pieces of Dashboard REST queries and answers (reference §10.3).

Query side: dates, interval codes, the event definition ``e`` (:class:`EventDef` with
:class:`Filter` and :class:`GroupBy`), the segment ``s`` (:class:`Segment` of
:class:`SegmentCondition`) and :class:`DashboardQuery`, whose ``params()`` are the exact
query-string pairs (JSON compact; httpx URL-encodes them once).

Rules are checked by pydantic validators, for the client before it sends and for the local
server when it reads a request (:func:`ampkit.models.wire.from_wire`).  A rule that spans
several fields raises :func:`rule_error`, which names the field and the rule in the error's
context, so the client's border can turn it into ``ampkit.errors.InvalidRequest(field=...,
rule=...)`` (the models layer can't import ``ampkit.errors``) and the server's into a 400
naming the wire parameter.

Days lie in :data:`FIRST_DAY` .. :data:`LAST_DAY` (1970-01-01 .. 2999-12-31): Amplitude's
event times are milliseconds since the Unix epoch, so nothing is stored before 1970; the upper
end leaves room for what a query reads beyond its range (rolling windows, retention brackets,
funnel conversion windows) inside Python's and DuckDB's calendars (years 1–9999).

The answer side lives in :mod:`ampkit.models.dashboard.series`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal, Self, get_args

import orjson
from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ampkit.models.base import StrictAmpModel
from ampkit.models.dashboard.cost import QueryKind, params_cost
from ampkit.models.inputs import read_native
from ampkit.models.wire import Wire, reading_wire, to_wire

Params = tuple[tuple[str, str], ...]
DateLike = dt.date | dt.datetime | str
"""A day: a ``date``/``datetime`` or a ``YYYYMMDD`` / ``YYYY-MM-DD`` string."""
FIRST_DAY = dt.date(1970, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)
"""The earliest and latest day a query may name (see the module docstring)."""

# --- intervals -------------------------------------------------------------------------------

REALTIME = -300000
"""5-minute buckets (at most 2 days)."""
HOURLY = -3600000
"""Hourly buckets (at most 7 days)."""
DAILY = 1
"""Daily (the default; at most 365 days)."""
WEEKLY = 7
MONTHLY = 30
Interval = Literal[-300000, -3600000, 1, 7, 30]
CoarseInterval = Literal[1, 7, 30]
IntervalName = Literal["realtime", "hourly", "daily", "weekly", "monthly"]
INTERVAL_NAMES: dict[str, int] = {
    "realtime": REALTIME,
    "hourly": HOURLY,
    "daily": DAILY,
    "weekly": WEEKLY,
    "monthly": MONTHLY,
}
MAX_DAYS: dict[int, int] = {REALTIME: 2, HOURLY: 7, DAILY: 365}
"""Longest range (days, both ends included) per interval; weekly/monthly have no stated cap."""

FilterOp = Literal[
    "is",
    "is not",
    "contains",
    "does not contain",
    "less",
    "less or equal",
    "greater",
    "greater or equal",
    "set is",
    "set is not",
]
FILTER_OPS: tuple[str, ...] = get_args(FilterOp)
COMPARISONS = frozenset({"less", "less or equal", "greater", "greater or equal"})
"""Operators comparing with their first value: they need one."""
WHO_OPS = (">=", ">", "<=", "<", "=", "==", "!=", "is", "is not", "greater or equal",
           "greater", "less or equal", "less")
"""The operators of a "who performed" segment condition (a count compared with ``value``)."""
MAX_TIME_VALUE = 365
"""Most days a "who performed" condition's ``time_value`` widens the range by."""
UserType = Literal["any", "active", "new"]


def rule_error(field: str, rule: str, param: str | None = None) -> PydanticCustomError:
    """A validation error that names the offending field and the rule it broke.  ``param``:
    the query-string parameter to name when it is not the field's own (a rule about ``m`` that
    the server reports on ``e``)."""
    ctx = {"field": field, "rule": rule} | ({"param": param} if param else {})
    return PydanticCustomError("ampkit_rule", "{field}: {rule}", ctx)


def not_new(event: EventDef, field: str) -> None:
    """``_new`` (new users) is a retention starting event only."""
    if event.event_type == "_new":
        raise rule_error(field, "_new is only valid as a retention starting event (se)")


def parse_day(value: object) -> object:
    """``date``/``datetime``/``YYYYMMDD`` (text or number)/``YYYY-MM-DD`` → ``date`` (others left
    to pydantic); other numbers are refused (pydantic would read them as unix times)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # 20240301 from JSON or a command line; a unix time is refused below
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{8}", text):
            text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
        elif text.isdigit():
            raise ValueError("a day is 'YYYY-MM-DD' or 'YYYYMMDD', not a number of seconds")
        return text
    return value


def yyyymmdd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def compact(value: Any) -> str:
    """Compact JSON text, as sent inside a query string."""
    return orjson.dumps(value).decode()


def interval_code(value: object) -> object:
    """Accept the interval names (``"hourly"``…) and numeric strings as well as the codes."""
    if isinstance(value, str):
        key = value.strip().lower()
        if key in INTERVAL_NAMES:
            return INTERVAL_NAMES[key]
        try:
            return int(key)
        except ValueError:
            return value
    return value


def str_list(value: object) -> object:
    """One value or many → a list of strings (numbers and booleans as Amplitude writes them)."""
    items = value if isinstance(value, list | tuple | set | frozenset) else [value]
    out: list[object] = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, int | float):
            out.append(str(item))
        else:
            out.append(item)
    return out


# --- event definition ``e`` ------------------------------------------------------------------


class Filter(StrictAmpModel):
    """An event-definition filter: ``{"subprop_type", "subprop_key", "subprop_op",
    "subprop_value"}``.  Custom **user** properties need the ``gp:`` prefix."""

    model_config = ConfigDict(frozen=True)

    subprop_type: Literal["event", "user"]
    subprop_key: str = Field(min_length=1)
    subprop_op: FilterOp
    subprop_value: list[str]

    @field_validator("subprop_value", mode="before")
    @classmethod
    def _values(cls, value: object) -> object:
        return str_list(value)

    @model_validator(mode="after")
    def _compared(self) -> Self:
        if self.subprop_op in COMPARISONS and not self.subprop_value:
            raise rule_error("subprop_value", f"operator {self.subprop_op!r} needs a value")
        return self


class GroupBy(StrictAmpModel):
    """An event-definition group-by: ``{"type": "event"|"user", "value": property}``."""

    model_config = ConfigDict(frozen=True)

    type: Literal["event", "user"]
    value: str = Field(min_length=1)


class EventDef(StrictAmpModel):
    """The ``e`` parameter: an event type with optional filters and at most two group-bys.

    Special event types: ``_active``, ``_all``, ``_new`` (retention start only),
    ``revenue_amount``, ``verified_revenue``, ``unverified_revenue``; custom events use ``ce:``.
    A plain string is accepted wherever an ``EventDef`` is expected: an event type's name, or
    the whole definition as JSON text (``'{"event_type":"Purchase","filters":[…]}'``, as
    Amplitude's ``e`` and Appsmith's "Event" field write it).
    """

    model_config = ConfigDict(frozen=True)
    READS_NAME: ClassVar[bool] = True
    """Takes a plain string (:func:`ampkit.models.inputs.accepts_text`)."""

    event_type: str = Field(min_length=1)
    filters: list[Filter] = Field(default_factory=list)
    group_by: list[GroupBy] = Field(default_factory=list, max_length=2)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("{"):
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"an event written as JSON must be valid JSON ({exc})"
                                 ) from None
        return {"event_type": value}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event_type": self.event_type}
        if self.filters:
            out["filters"] = [f.model_dump() for f in self.filters]
        if self.group_by:
            out["group_by"] = [g.model_dump() for g in self.group_by]
        return out

    def param(self) -> str:
        return compact(self.to_json())


EventLike = EventDef | str


# --- segment ``s`` ---------------------------------------------------------------------------


class SegmentCondition(StrictAmpModel):
    """One condition of a segment: a property condition (``prop``/``op``/``values``) or a
    "who performed" condition (``type="event"``, ``event_type``, ``op`` such as ``">="``,
    ``value``, ``time_type``, ``time_value``).  ``prop`` may be ``gp:<custom>`` or
    ``userdata_cohort`` (values = cohort ids)."""

    model_config = ConfigDict(frozen=True)

    prop: str | None = None
    op: str = Field(min_length=1)
    values: list[str] | None = None
    type: Literal["event"] | None = None
    event_type: str | None = None
    filters: list[Filter] | None = None
    value: int | float | None = None
    time_type: Literal["forEachInterval", "currentInterval", "allTime"] | None = None
    time_value: int | None = Field(default=None, ge=0, le=MAX_TIME_VALUE)

    @field_validator("values", mode="before")
    @classmethod
    def _values(cls, value: object) -> object:
        return None if value is None else str_list(value)

    @model_validator(mode="before")
    @classmethod
    def _who_filters(cls, value: object) -> object:
        """A "who performed" condition's filters are a list, empty when none (as sent)."""
        if isinstance(value, Mapping) and value.get("type") == "event" and \
                value.get("filters") is None:
            return {**value, "filters": []}
        return value

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.type == "event":
            if not self.event_type:
                raise rule_error("event_type", "a 'who performed' condition needs event_type")
            if self.op not in WHO_OPS:
                raise rule_error("op", f"{self.op!r} is not one of {', '.join(WHO_OPS)}")
            if self.event_type == "_new":
                raise rule_error("event_type", "_new is only valid as a retention starting "
                                               "event (se)")
        else:
            if not self.prop:
                raise rule_error("prop", "a property condition needs prop")
            if self.values is None:
                raise rule_error("values", "a property condition needs values")
            if self.op not in FILTER_OPS:
                raise rule_error("op", f"operator {self.op!r} is not one of "
                                       f"{', '.join(FILTER_OPS)}")
            if self.op in COMPARISONS and not self.values:
                raise rule_error("values", f"operator {self.op!r} needs a value")
            if self.prop == "userdata_cohort" and self.op not in ("is", "is not"):
                raise rule_error("op", "userdata_cohort takes the operators is / is not")
        return self

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Segment(StrictAmpModel):
    """The ``s`` parameter: a JSON array of conditions (all must hold).

    How several segments are encoded is not documented (reference §10.3, unconfirmed): a query
    holds a list of them (:data:`Segments`), each its own ``s`` parameter — what the local
    server reads; the client's methods send one.  A plain list of conditions is accepted
    wherever a ``Segment`` is expected.
    """

    model_config = ConfigDict(frozen=True)

    conditions: list[SegmentCondition] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, list | tuple):
            return {"conditions": value}
        if reading_wire(info):
            raise ValueError("must be a JSON array of conditions")
        return value

    def param(self) -> str:
        return compact([c.to_json() for c in self.conditions])


SegmentLike = Segment | list[SegmentCondition]


def _one_segment(value: object) -> bool:
    """Whether ``value`` is one segment (a ``Segment``, its conditions, or its ``{"conditions":
    …}`` form) rather than a list of segments."""
    if isinstance(value, Segment | Mapping):
        return True
    if isinstance(value, list | tuple) and value:
        return all(isinstance(v, SegmentCondition) or (
            isinstance(v, Mapping) and "conditions" not in v) for v in value)
    return False


def _inside(exc: ValidationError, wire: bool) -> PydanticCustomError:
    """The first problem of a segment, as a rule naming its place inside the field: its
    conditions on the client (``conditions.0.prop``), the JSON on the wire (``0.0.prop``: the
    first ``s``, its first condition)."""
    err = exc.errors()[0]
    ctx = err.get("ctx") or {}
    path = [str(p) for p in err["loc"]]
    rule = err["msg"].removeprefix("Value error, ")
    if err["type"] == "ampkit_rule":
        path.append(str(ctx.get("field", "")))
        rule = str(ctx.get("rule", rule))
    if wire:
        path = [p for k, p in enumerate(path) if not (k == 1 and p == "conditions")]
    return rule_error(".".join(p for p in path if p), rule)


def _segments(value: object, handler: ValidatorFunctionWrapHandler,
              info: ValidationInfo) -> list[Segment]:
    """A query's segments from ``None`` (none), one segment, or a list of segments (what a
    query string holds: one per ``s``).  A single segment's problems are named inside it
    (``segment.conditions.0.prop``), as when the field held one segment."""
    if value is None:
        return []
    wire = reading_wire(info)
    try:
        if _one_segment(value) and not wire:
            return [Segment.model_validate(value)]
        found: list[Segment] = handler(value)
        return found
    except ValidationError as exc:
        raise _inside(exc, wire) from None


EVENT_HELP = ("An event type name (e.g. 'Purchase'; '_active' = any active event, '_all' = any "
              "event), or {event_type, filters: [{subprop_type: 'event'|'user', subprop_key, "
              "subprop_op: 'is'|'is not'|'contains'|..., subprop_value: [...]}], group_by: "
              "[{type: 'event'|'user', value}]}.")
SEGMENT_HELP = ("Only count users matching all these conditions, e.g. [{prop: 'country', op: "
                "'is', values: ['France']}] (custom user properties take the 'gp:' prefix).")
GROUP_BY_HELP = "A user property to group by (e.g. 'country', 'platform', 'gp:plan')."
INTERVAL_HELP = ("Bucket size: 'realtime' (5 min, ≤ 2 days), 'hourly' (≤ 7 days), 'daily' "
                 "(≤ 365 days), 'weekly' or 'monthly' — or the codes -300000, -3600000, 1, 7, "
                 "30.")
COARSE_HELP = "Bucket size: 'daily', 'weekly' or 'monthly' (or the codes 1, 7, 30)."
LIMIT_HELP = "Most group-by values to return (≤ 1,000)."
SegmentArg = Segment | Sequence[SegmentCondition | Mapping[str, Any]]
"""What the client's methods take for a segment: a :class:`Segment`, or its conditions (models
or dicts)."""
SEGMENTS_DESCRIPTION = SEGMENT_HELP + " Several segments: a list of such lists."
IntervalArg = Interval | IntervalName
CoarseArg = CoarseInterval | IntervalName
GroupByProperty = Annotated[str | None, Wire("g"), Field(description=GROUP_BY_HELP)]
"""The ``group_by`` parameter (``g``) of every query that groups by a user property."""
GroupLimit = Annotated[int | None, Wire("limit"), Field(ge=1, le=1000, description=LIMIT_HELP)]
"""The ``limit`` parameter: most group-by values returned."""
Buckets = Annotated[Interval, Wire("i"), Field(description=INTERVAL_HELP)]
"""The ``interval`` parameter (``i``) of the queries that take any bucket size."""
CoarseBuckets = Annotated[CoarseInterval, Wire("i"), Field(description=COARSE_HELP)]
"""The ``interval`` parameter (``i``) of the queries that take days, weeks or months."""
Segments = Annotated[list[Segment], WrapValidator(_segments), Wire("s", "json", repeat=True),
                     Field(default_factory=list, description=SEGMENTS_DESCRIPTION)]
"""The ``segment`` field of a :class:`SegmentedQuery`: its segments, ``s`` repeated, each one
computed on its own (``segmentIndex``).  Takes ``None``, one segment (or its conditions) or a
list of segments; none by default."""


# --- queries ---------------------------------------------------------------------------------


class DashboardQuery(StrictAmpModel):
    """Base of every ``<Family>Query``: validated inputs whose :meth:`params` are the exact
    query-string pairs, and whose :meth:`cost` is the §10.2 query cost."""

    model_config = ConfigDict(frozen=True)

    kind: ClassVar[QueryKind] = "other"

    @model_validator(mode="before")
    @classmethod
    def _amplitude_names(cls, value: object) -> object:
        """Amplitude's parameter names (``m``, ``i``, ``g``…) and JSON text read as the fields
        they stand for (:func:`ampkit.models.inputs.read_native`)."""
        return read_native(cls, value)

    def params(self) -> Params:
        """The exact query-string pairs (from the fields' :class:`~ampkit.models.wire.Wire`)."""
        return to_wire(self)

    def cost(self) -> int:
        return params_cost(self.kind, self.params())


class DateRangeQuery(DashboardQuery):
    """A query over ``start``..``end`` (days in the project's time zone, both included)."""

    start: Annotated[dt.date, Wire("start", "day"), Field(description=(
        "First day, 'YYYY-MM-DD' or 'YYYYMMDD' (included; the project's time zone)."))]
    end: Annotated[dt.date, Wire("end", "day"), Field(description=(
        "Last day, 'YYYY-MM-DD' or 'YYYYMMDD' (included)."))]

    @field_validator("start", "end", mode="before")
    @classmethod
    def _day(cls, value: object) -> object:
        return parse_day(value)

    @field_validator("start", "end")
    @classmethod
    def _sane(cls, value: dt.date) -> dt.date:
        if not FIRST_DAY <= value <= LAST_DAY:
            raise ValueError(f"must be between {FIRST_DAY:%Y%m%d} and {LAST_DAY:%Y%m%d}")
        return value

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def check_range(self, interval: int | None = None) -> None:
        if self.end < self.start:
            raise rule_error("end", "must not be before start")
        interval = interval if interval is not None else DAILY
        cap = MAX_DAYS.get(interval)
        if cap is not None and self.days > cap:
            raise rule_error("end", f"at most {cap} days for interval {interval}")

    @model_validator(mode="after")
    def _range(self) -> Self:
        self.check_range(getattr(self, "interval", None))
        return self

    def date_params(self) -> Params:
        return (("start", yyyymmdd(self.start)), ("end", yyyymmdd(self.end)))


class SegmentedQuery(DateRangeQuery):
    """A date-range query with segments (a ``segment`` field of :data:`Segments`), a user
    property ``group_by`` and an ``interval`` (a code or its name, :func:`interval_code`): a
    group-by is only allowed with a single segment."""

    @field_validator("interval", mode="before", check_fields=False)
    @classmethod
    def _interval(cls, value: object) -> object:
        return interval_code(value)

    @property
    def segments(self) -> list[Segment]:
        """The segments to compute, in order (one segment of everyone when none is given)."""
        found: list[Segment] = getattr(self, "segment", [])
        return found or [Segment()]

    @model_validator(mode="after")
    def _one_segment_with_group_by(self) -> Self:
        if len(getattr(self, "segment", ())) > 1 and getattr(self, "group_by", None):
            raise rule_error("group_by", "a group-by is only allowed with a single segment")
        return self
