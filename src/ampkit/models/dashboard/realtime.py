"""Real-time active users — ``GET /api/2/realtime`` (reference §10.18)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from ampkit.models.dashboard.common import DashboardQuery
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import TimeSeriesResult
from ampkit.models.wire import Wire


class RealtimeQuery(DashboardQuery):
    """No documented parameters.  ampkit sends ``i=5`` (unconfirmed: the raw-HTTP example sends
    it and older docs said 5 is the only accepted value)."""

    kind: ClassVar[QueryKind] = "other"

    interval: Annotated[Literal[5], Wire("i", "int"), Field(description=(
        "The bucket size in minutes: always 5 (the only value Amplitude accepts)."))] = 5


class RealtimeResult(TimeSeriesResult):
    """5-minute buckets: ``xValues`` are ``HH:mm`` (project time zone), ``seriesLabels`` are
    ``["Today", "Yesterday"]``."""
