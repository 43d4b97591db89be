"""Funnel analysis — ``GET /api/2/funnels`` (reference §10.14)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Literal, NamedTuple, Self

from pydantic import Field, field_validator, model_validator

from ampkit.models.base import AmpModel
from ampkit.models.dashboard.common import (
    Buckets,
    EventDef,
    GroupByProperty,
    GroupLimit,
    SegmentedQuery,
    Segments,
    not_new,
)
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import (
    DashboardResult,
    Number,
    SeriesMeta,
    SeriesValue,
    value_of,
)
from ampkit.models.wire import Wire

FunnelMode = Literal["ordered", "unordered", "sequential"]
DEFAULT_CONVERSION_WINDOW = 2_592_000
"""Seconds (30 days), Amplitude's default ``cs``."""
MAX_WINDOW_DAYS = 366
"""Longest conversion window (``cs``), in days: Amplitude's longest window is a year."""
MAX_STEPS = 50


class FunnelQuery(SegmentedQuery):
    """One ``e`` per step (repeated, in order), ``start``, ``end``, ``mode``, ``n``, ``i``,
    ``s``, ``g``, ``cs`` (conversion window in seconds; a ``timedelta`` is accepted), ``limit``.
    """

    kind: ClassVar[QueryKind] = "funnel"

    steps: Annotated[list[EventDef], Wire("e", "json", repeat=True, lead=True),
                     Field(min_length=1, max_length=MAX_STEPS, description=(
                         "The funnel's events, in order; each one as for segmentation's "
                         "event."))]
    mode: Annotated[FunnelMode, Wire("mode"), Field(description=(
        "ordered: steps in this order (others may happen in between); unordered: any order; "
        "sequential: nothing else in between."))] = "ordered"
    user_type: Annotated[Literal["new", "active"] | None, Wire("n"), Field(description=(
        "Only new users (first seen in the range), or active ones (the default)."))] = None
    interval: Buckets = 1
    segment: Segments
    group_by: GroupByProperty = None
    conversion_window: Annotated[int | None, Wire("cs"), Field(
        ge=1, le=MAX_WINDOW_DAYS * 86_400, description=(
            "Seconds a user has to finish the funnel (default 30 days, at most 366)."))] = None
    limit: GroupLimit = None

    @field_validator("conversion_window", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        return int(value.total_seconds()) if isinstance(value, dt.timedelta) else value

    @model_validator(mode="after")
    def _steps(self) -> Self:
        for step in self.steps:
            not_new(step, "steps")
        return self


class DaySeries(AmpModel):
    """``dayFunnels`` / ``dayMedianTransTimes`` / ``dayAvgTransTimes``: rows are x values
    (dates), columns are steps."""

    series: list[list[SeriesValue]] = Field(default_factory=list)
    x_values: list[str] = Field(default_factory=list)
    formatted_x_values: list[str] | None = None


class FunnelStep(NamedTuple):
    step: int
    event: str
    users: Number | None
    cumulative: Number | None
    step_by_step: Number | None
    median_ms: Number | None
    avg_ms: Number | None


def _at(values: list[SeriesValue], i: int) -> Number | None:
    return value_of(values[i]) if i < len(values) else None


class FunnelGroup(AmpModel):
    """One element of ``data``: a segment/group's funnel."""

    meta: SeriesMeta | None = None
    events: list[str] = Field(default_factory=list)
    cumulative_raw: list[SeriesValue] = Field(default_factory=list)
    cumulative: list[SeriesValue] = Field(default_factory=list)
    step_by_step: list[SeriesValue] = Field(default_factory=list)
    median_trans_times: list[SeriesValue] = Field(default_factory=list)
    avg_trans_times: list[SeriesValue] = Field(default_factory=list)
    day_funnels: DaySeries | None = None
    day_median_trans_times: DaySeries | None = None
    day_avg_trans_times: DaySeries | None = None
    step_trans_time_distribution: Any = None
    """Documented without an example (shape unconfirmed): kept as JSON."""
    step_prev_step_count_distribution: Any = None
    bins: Any = None

    def steps(self) -> list[FunnelStep]:
        return [
            FunnelStep(
                i,
                name,
                _at(self.cumulative_raw, i),
                _at(self.cumulative, i),
                _at(self.step_by_step, i),
                _at(self.median_trans_times, i),
                _at(self.avg_trans_times, i),
            )
            for i, name in enumerate(self.events)
        ]


class FunnelRow(NamedTuple):
    segment: str
    step: int
    event: str
    users: Number | None
    conversion: Number | None


class FunnelResult(DashboardResult):
    """``{"data": [one funnel per segment/group]}``."""

    groups: list[FunnelGroup] = Field(default_factory=list)

    @classmethod
    def unwrap(cls, body: Any) -> Any:
        data = super().unwrap(body)
        if isinstance(data, list):
            return {"groups": data}
        if isinstance(data, dict) and "groups" not in data:
            return {"groups": [data]}
        return data

    def rows(self) -> list[FunnelRow]:
        """``(segment, step, event, users, cumulative conversion)`` for every group and step."""
        out: list[FunnelRow] = []
        for i, group in enumerate(self.groups):
            seg = i if group.meta is None or group.meta.segment_index is None else (
                group.meta.segment_index
            )
            out += [
                FunnelRow(str(seg), s.step, s.event, s.users, s.cumulative)
                for s in group.steps()
            ]
        return out
