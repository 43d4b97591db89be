"""Active and new users — ``GET /api/2/users`` (reference §10.7)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from ampkit.models.dashboard.common import (
    CoarseBuckets,
    GroupByProperty,
    SegmentedQuery,
    Segments,
)
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import TimeSeriesResult
from ampkit.models.wire import Wire

UsersMetric = Literal["active", "new"]


class UsersQuery(SegmentedQuery):
    """``start``, ``end``, ``m`` (active/new), ``i`` (1, 7, 30), optional ``s`` and ``g``."""

    kind: ClassVar[QueryKind] = "other"

    metric: Annotated[UsersMetric, Wire("m"), Field(description=(
        "Active users (did anything) or new users (first seen)."))] = "active"
    interval: CoarseBuckets = 1
    segment: Segments
    group_by: GroupByProperty = None


class UsersResult(TimeSeriesResult):
    """Users per ``xValues`` date, one ``series`` row per group.  Labels: strings in
    ``seriesMeta`` (docs) or ``seriesLabels`` (``[0]`` without a group-by; ``"(none)"`` for a
    group without data)."""
