"""Active and new users — ``GET /api/2/users`` (reference §10.7)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import field_validator

from ampkit.models.dashboard.common import (
    CoarseInterval,
    DateRangeQuery,
    Params,
    Segment,
    interval_code,
    segment_params,
)
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import TimeSeriesResult

UsersMetric = Literal["active", "new"]


class UsersQuery(DateRangeQuery):
    """``start``, ``end``, ``m`` (active/new), ``i`` (1, 7, 30), optional ``s`` and ``g``."""

    kind: ClassVar[QueryKind] = "other"

    metric: UsersMetric = "active"
    interval: CoarseInterval = 1
    segment: Segment | None = None
    group_by: str | None = None

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> object:
        return interval_code(value)

    def params(self) -> Params:
        return (
            *self.date_params(),
            ("m", self.metric),
            ("i", str(self.interval)),
            *segment_params(self.segment, self.group_by),
        )


class UsersResult(TimeSeriesResult):
    """Users per ``xValues`` date, one ``series`` row per group.  Labels: strings in
    ``seriesMeta`` (docs) or ``seriesLabels`` (``[0]`` without a group-by; ``"(none)"`` for a
    group without data)."""
