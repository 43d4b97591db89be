"""What every action shares: the input and output bases, and the argument types the actions'
input models are written with (days, export hours, event definitions, segments, intervals).

Input models refuse unknown fields, so a misspelt argument is named in the error instead of
being ignored.  Output models always carry ``success``, ``error`` and ``code``; every other field
has a default, so a failure is the same model with ``success=False``.
"""

from __future__ import annotations

import datetime as dt
import re
from types import UnionType
from typing import Annotated, Literal, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ampkit.models.dashboard import EventDef, SegmentCondition, TimeSeriesResult
from ampkit.models.dashboard.common import parse_day, rule_error
from ampkit.models.inputs import read_native


class ActionInput(BaseModel):
    """Base of every action's input: unknown fields are refused (and named); Amplitude's own
    parameter names and JSON text where an object or a list is expected are read
    (:func:`ampkit.models.inputs.read_native`)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _amplitude_forms(cls, value: object) -> object:
        value = read_native(cls, value)
        if isinstance(value, dict):
            for name, given in value.items():
                field = cls.model_fields.get(name)
                if isinstance(given, bool) and field is not None and _numeric(field.annotation):
                    # pydantic's lax mode reads true as 1: a number was meant, or a mistake
                    raise rule_error(name, "must be a number, not true or false")
        return value


def _numeric(annotation: object) -> bool:
    """Whether a field's type is a number (optional or not, constrained or not) that takes no
    bool of its own."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (
        annotation,)
    return any(o in (int, float) for o in options) and bool not in options


class ActionOutput(BaseModel):
    """Base of every action's output."""

    success: bool = Field(default=True, description="True when the action did what was asked.")
    error: str | None = Field(
        default=None,
        description="When success is false: what went wrong and what to do about it.",
    )
    code: int | None = Field(
        default=None,
        description="HTTP status of the failing answer (or of the custom request) when known.",
    )


# --- argument types ------------------------------------------------------------------------

Day = Annotated[
    dt.date,
    BeforeValidator(parse_day),
    Field(description="A day: 'YYYY-MM-DD' or 'YYYYMMDD' (the project's time zone)."),
]

_HOUR = re.compile(r"^\d{8}T\d{2}$")


def _hour(value: object) -> object:
    """``YYYYMMDDTHH`` → a UTC datetime; ISO datetimes are left to pydantic (numbers, which
    pydantic would take as unix timestamps, are refused)."""
    if isinstance(value, str) and _HOUR.match(value.strip()):
        return dt.datetime.strptime(value.strip(), "%Y%m%dT%H").replace(tzinfo=dt.UTC)
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        raise ValueError("an hour is 'YYYYMMDDTHH' (UTC) or an ISO datetime")
    return value


Hour = Annotated[
    dt.datetime,
    BeforeValidator(_hour),
    Field(description="An hour in UTC: 'YYYYMMDDTHH' (e.g. '20240301T05') or an ISO datetime."),
]

EventArg = Annotated[
    str | EventDef,
    Field(
        description="An event type name (e.g. 'Purchase'; '_active' = any active event, '_all' "
        "= any event), or {event_type, filters: [{subprop_type: 'event'|'user', subprop_key, "
        "subprop_op: 'is'|'is not'|'contains'|..., subprop_value: [...]}], group_by: [{type: "
        "'event'|'user', value}]}.",
    ),
]

SegmentArg = Annotated[
    list[SegmentCondition] | None,
    Field(
        description="Only count users matching all these conditions, e.g. [{prop: 'country', "
        "op: 'is', values: ['France']}] (custom user properties take the 'gp:' prefix).",
    ),
]

GroupByArg = Annotated[
    str | None,
    Field(description="A user property to group by (e.g. 'country', 'platform', 'gp:plan')."),
]

CoarseInterval = Annotated[
    Literal["daily", "weekly", "monthly"],
    Field(description="Bucket size of the series."),
]

FineInterval = Annotated[
    Literal["realtime", "hourly", "daily", "weekly", "monthly"],
    Field(description="Bucket size: realtime (5 min, ≤ 2 days), hourly (≤ 7 days), daily "
          "(≤ 365 days), weekly or monthly."),
]

UserTypeArg = Annotated[
    Literal["any", "active", "new"] | None,
    Field(description="Count any users (default), only active ones, or only new ones."),
]


class SeriesPoint(BaseModel):
    """One tidy cell of a time series."""

    x: str = Field(description="The x value, usually a date.")
    label: str = Field(description="The series (group or segment) this value belongs to.")
    value: float | int | None = Field(description="The value (None when Amplitude gave none).")


def points(result: TimeSeriesResult) -> list[SeriesPoint]:
    """A time series as tidy ``(x, label, value)`` points."""
    return [SeriesPoint(x=r.x, label=r.label, value=r.value) for r in result.rows()]


class PointsOutput(ActionOutput):
    """An output with a time series as tidy points (what ``ampkit query --csv/--chart``
    draw)."""

    points: list[SeriesPoint] = Field(
        default_factory=list, description="Every value as (x, label, value), series by series."
    )


class SeriesOutput(PointsOutput):
    """A time series: tidy points plus the typed answer as Amplitude gave it."""

    result: TimeSeriesResult | None = Field(
        default=None, description="The answer as Amplitude gave it (xValues, series, labels)."
    )
