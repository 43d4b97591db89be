"""Shared pieces of Dashboard REST queries and answers (reference §10.3).

Query side: dates, interval codes, the event definition ``e`` (:class:`EventDef` with
:class:`Filter` and :class:`GroupBy`), the segment ``s`` (:class:`Segment` of
:class:`SegmentCondition`) and :class:`DashboardQuery`, whose ``params()`` are the exact
query-string pairs (JSON compact; httpx URL-encodes them once).

Rules are checked by pydantic validators.  A rule that spans several fields raises
:func:`rule_error`, which names the field and the rule in the error's context, so the client's
border can turn it into ``ampkit.errors.InvalidRequest(field=..., rule=...)`` (the models layer
can't import ``ampkit.errors``).

The answer side lives in :mod:`ampkit.models.dashboard.series`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, ClassVar, Literal, Self

import orjson
from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ampkit.models.base import StrictAmpModel
from ampkit.models.dashboard.cost import QueryKind, params_cost

Params = tuple[tuple[str, str], ...]
DateLike = dt.date | dt.datetime | str
"""A day: a ``date``/``datetime`` or a ``YYYYMMDD`` / ``YYYY-MM-DD`` string."""

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
UserType = Literal["any", "active", "new"]


def rule_error(field: str, rule: str) -> PydanticCustomError:
    """A validation error that names the offending field and the rule it broke."""
    return PydanticCustomError(
        "ampkit_rule", "{field}: {rule}", {"field": field, "rule": rule}
    )


def parse_day(value: object) -> object:
    """``date``/``datetime``/``YYYYMMDD``/``YYYY-MM-DD`` → ``date`` (others left to pydantic)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{8}", text):
            text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
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


class GroupBy(StrictAmpModel):
    """An event-definition group-by: ``{"type": "event"|"user", "value": property}``."""

    model_config = ConfigDict(frozen=True)

    type: Literal["event", "user"]
    value: str = Field(min_length=1)


class EventDef(StrictAmpModel):
    """The ``e`` parameter: an event type with optional filters and at most two group-bys.

    Special event types: ``_active``, ``_all``, ``_new`` (retention start only),
    ``revenue_amount``, ``verified_revenue``, ``unverified_revenue``; custom events use ``ce:``.
    A plain string is accepted wherever an ``EventDef`` is expected.
    """

    model_config = ConfigDict(frozen=True)

    event_type: str = Field(min_length=1)
    filters: list[Filter] = Field(default_factory=list)
    group_by: list[GroupBy] = Field(default_factory=list, max_length=2)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: object) -> object:
        return {"event_type": value} if isinstance(value, str) else value

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
    time_value: int | None = Field(default=None, ge=0)

    @field_validator("values", mode="before")
    @classmethod
    def _values(cls, value: object) -> object:
        return None if value is None else str_list(value)

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.type == "event":
            if not self.event_type:
                raise rule_error("event_type", "a 'who performed' condition needs event_type")
        else:
            if not self.prop:
                raise rule_error("prop", "a property condition needs prop")
            if self.values is None:
                raise rule_error("values", "a property condition needs values")
        return self

    def to_json(self) -> dict[str, Any]:
        out = self.model_dump(exclude_none=True)
        if self.type == "event" and "filters" not in out:
            out["filters"] = []
        return out


class Segment(StrictAmpModel):
    """The ``s`` parameter: a JSON array of conditions (all must hold).

    Only one segment per query is sent: how several segments are encoded is not documented
    (reference §10.3, unconfirmed), so ampkit does not guess.  A plain list of conditions is
    accepted wherever a ``Segment`` is expected.
    """

    model_config = ConfigDict(frozen=True)

    conditions: list[SegmentCondition] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: object) -> object:
        return {"conditions": value} if isinstance(value, list | tuple) else value

    def param(self) -> str:
        return compact([c.to_json() for c in self.conditions])


SegmentLike = Segment | list[SegmentCondition]


# --- queries ---------------------------------------------------------------------------------


class DashboardQuery(StrictAmpModel):
    """Base of every ``<Family>Query``: validated inputs whose :meth:`params` are the exact
    query-string pairs, and whose :meth:`cost` is the §10.2 query cost."""

    model_config = ConfigDict(frozen=True)

    kind: ClassVar[QueryKind] = "other"

    def params(self) -> Params:
        return ()

    def cost(self) -> int:
        return params_cost(self.kind, self.params())


class DateRangeQuery(DashboardQuery):
    """A query over ``start``..``end`` (days in the project's time zone, both included)."""

    start: dt.date
    end: dt.date

    @field_validator("start", "end", mode="before")
    @classmethod
    def _day(cls, value: object) -> object:
        return parse_day(value)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def check_range(self, interval: int | None = None) -> None:
        if self.end < self.start:
            raise rule_error("end", "must not be before start")
        cap = MAX_DAYS.get(interval if interval is not None else DAILY)
        if cap is not None and self.days > cap:
            raise rule_error("end", f"at most {cap} days for interval {interval}")

    @model_validator(mode="after")
    def _range(self) -> Self:
        self.check_range(getattr(self, "interval", None))
        return self

    def date_params(self) -> Params:
        return (("start", yyyymmdd(self.start)), ("end", yyyymmdd(self.end)))


def segment_params(segment: Segment | None, group_by: str | None) -> Params:
    out: list[tuple[str, str]] = []
    if segment is not None and segment.conditions:
        out.append(("s", segment.param()))
    if group_by:
        out.append(("g", group_by))
    return tuple(out)
