"""The parsed parameters shared by the Dashboard families, as pydantic models.

``e`` (:class:`EventSpec` with :class:`FilterSpec` and :class:`GroupBySpec`), ``s`` (a list of
:class:`Condition`; one ``s`` parameter per segment — the encoding of several segments is not
documented, repeating ``s`` is ampkit's choice), ``start``/``end`` (``YYYYMMDD``, ``end`` not
before ``start``, at most 2 / 7 / 365 days for real-time / hourly / daily intervals), ``g``
(only with a single segment) and the interval codes.  Dates lie in 1970-01-01 .. 2999-12-31
(see :mod:`ampkit.server.query.clock`); a "who performed" condition's ``time_value`` is at
most 365 days and its ``value`` a finite number.  JSON parameters that don't parse, and
values that break a rule, become a :class:`~ampkit.server.query.common.QueryError` naming the
parameter.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from ampkit.models.dashboard.common import FilterOp, str_list
from ampkit.server.query.clock import DAILY, FIRST_DAY, LAST_DAY, MAX_DAYS
from ampkit.server.query.common import Ctx, QueryError, QueryParams, rule, sql, validate


def from_json(value: object) -> object:
    """A JSON text parameter → its value (``must be valid JSON`` otherwise)."""
    if isinstance(value, str | bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ValueError("must be valid JSON") from None
    return value


def to_int(value: object) -> object:
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return value


def _day(value: object) -> object:
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]{8}", value):
            raise ValueError("must be a date written YYYYMMDD")
        try:
            day = dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
        except ValueError:
            raise ValueError("must be a real calendar date (YYYYMMDD)") from None
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ValueError(f"must be between {FIRST_DAY:%Y%m%d} and {LAST_DAY:%Y%m%d}")
        return day
    return value


DAY_SCHEMA = {"type": "string", "format": "yyyymmdd", "pattern": r"^[0-9]{8}$",
              "description": f"YYYYMMDD, a day from {FIRST_DAY:%Y%m%d} to {LAST_DAY:%Y%m%d} "
                             "in the project's time zone"}
Day = Annotated[dt.date, BeforeValidator(_day), WithJsonSchema(DAY_SCHEMA)]
Int = Annotated[int, BeforeValidator(to_int)]
Interval = Annotated[Literal[-300000, -3600000, 1, 7, 30], BeforeValidator(to_int)]
CoarseInterval = Annotated[Literal[1, 7, 30], BeforeValidator(to_int)]


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class FilterSpec(Model):
    """An ``e`` filter: ``subprop_type`` event/user, ``subprop_key``, ``subprop_op``,
    ``subprop_value`` (a list; one scalar is taken as a list of one)."""

    subprop_type: Literal["event", "user"]
    subprop_key: str = Field(min_length=1)
    subprop_op: FilterOp
    subprop_value: Annotated[list[str], BeforeValidator(str_list)]


class GroupBySpec(Model):
    type: Literal["event", "user"]
    value: str = Field(min_length=1)


class EventSpec(Model):
    """The ``e`` parameter (and ``e2``, ``se``, ``re``, funnel steps)."""

    event_type: str = Field(min_length=1)
    filters: list[FilterSpec] = Field(default_factory=list)
    group_by: list[GroupBySpec] = Field(default_factory=list, max_length=2)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: object) -> object:
        return {"event_type": value} if isinstance(value, str) else value


WHO_OPS = (">=", ">", "<=", "<", "=", "==", "!=", "is", "is not", "greater or equal",
           "greater", "less or equal", "less")


class Condition(Model):
    """One condition of a segment ``s``: a property condition (``prop``/``op``/``values``,
    ``prop="userdata_cohort"`` for cohort membership) or a "who performed" condition
    (``type="event"``, ``event_type``, ``op`` like ``">="``, ``value``, ``time_type``)."""

    prop: str | None = None
    op: str = Field(min_length=1)
    values: Annotated[list[str], BeforeValidator(str_list)] | None = None
    type: Literal["event"] | None = None
    event_type: str | None = None
    filters: list[FilterSpec] = Field(default_factory=list)
    value: float = Field(default=0, allow_inf_nan=False)
    time_type: Literal["forEachInterval", "currentInterval", "allTime"] | None = None
    time_value: int | None = Field(default=None, ge=0, le=MAX_DAYS[DAILY])

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        if self.type == "event":
            if not self.event_type:
                raise ValueError("a 'who performed' condition needs event_type")
            if self.op not in WHO_OPS:
                raise ValueError(f"op {self.op!r} is not one of {', '.join(WHO_OPS)}")
        else:
            if not self.prop:
                raise ValueError("a property condition needs prop")
            if self.values is None:
                raise ValueError("a property condition needs values")
            if self.op not in FilterOp.__args__:  # type: ignore[attr-defined]
                raise ValueError(f"op {self.op!r} is not a known operator")
        return self


JsonEvent = Annotated[EventSpec, BeforeValidator(from_json)]
JsonSegment = Annotated[list[Condition], BeforeValidator(from_json)]


class RangeParams(Model):
    """``start`` and ``end`` (``YYYYMMDD``, both included, project time zone)."""

    start: Day
    end: Day

    @model_validator(mode="after")
    def _order(self) -> RangeParams:
        if self.end < self.start:
            raise rule("end", "must not be before start")
        interval = getattr(self, "i", None)
        cap = MAX_DAYS.get(interval if isinstance(interval, int) else 1)
        if cap is not None and (self.end - self.start).days + 1 > cap:
            raise rule("end", f"at most {cap} days from start for interval {interval or 1}")
        return self


class SegmentedParams(RangeParams):
    """Dates plus segments ``s`` (one ``s`` parameter per segment; repeat ``s`` for more) and
    one group-by ``g`` (only with a single segment)."""

    s: list[JsonSegment] = Field(default_factory=list)
    g: str | None = None

    @field_validator("g")
    @classmethod
    def _g(cls, value: str | None) -> str | None:
        return value or None

    @property
    def segments(self) -> list[list[Condition]]:
        return self.s or [[]]

    @model_validator(mode="after")
    def _one_segment_with_g(self) -> SegmentedParams:
        if self.g and len(self.s) > 1:
            raise rule("g", "a group-by is only allowed with a single segment")
        return self


def segmented(params: QueryParams, *names: str) -> dict[str, Any]:
    """The usual parameters as a dict for a :class:`SegmentedParams` model."""
    data = params.pick("start", "end", "g", *names)
    data["s"] = [s for s in params.getlist("s") if s.strip()]
    return data




class _EventParam(Model):
    e: JsonEvent


def parse_event(raw: str | None, name: str) -> EventSpec:
    """One event-definition parameter (``e``, ``e2``, ``se``…) as an :class:`EventSpec`."""
    if raw is None or not raw.strip():
        raise QueryError(name, "is required: an event definition as JSON")
    return validate(_EventParam, {"e": raw}, {"e": name}).e


def event_params(params: QueryParams) -> list[tuple[str, str]]:
    """``e``, ``e2``, ``e3`` … as long as they follow on (``(name, raw JSON)`` pairs)."""
    out: list[tuple[str, str]] = []
    raw = params.get("e")
    if raw is None:
        return out
    out.append(("e", raw))
    k = 2
    while (raw := params.get(f"e{k}")) is not None:
        out.append((f"e{k}", raw))
        k += 1
    return out


def special_event(event_type: str) -> bool:
    return event_type in ("_all", "_active", "_new", "revenue_amount", "verified_revenue",
                          "unverified_revenue")


def require_known_events(ctx: Ctx, specs: Sequence[tuple[str, EventSpec]]) -> None:
    """400 for an event type never stored in the project (Amplitude answers unknown events
    with 400)."""
    for name, spec in specs:
        if special_event(spec.event_type):
            continue
        event_type = spec.event_type.removeprefix("ce:")
        if ctx.one(sql("SELECT 1 FROM events WHERE project_id = ? AND event_type = ? LIMIT 1",
                       ctx.project_id, event_type)) is None:
            raise QueryError(name, f"unknown event type {event_type!r}")
