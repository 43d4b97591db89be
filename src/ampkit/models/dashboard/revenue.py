"""Revenue LTV — ``GET /api/2/revenue/ltv`` (reference §10.19)."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import Field, field_validator, model_validator

from ampkit.models.base import AmpModel
from ampkit.models.dashboard.common import (
    CoarseBuckets,
    GroupByProperty,
    SegmentedQuery,
    Segments,
)
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import (
    DashboardResult,
    Label,
    Number,
    SeriesMeta,
    label_text,
)
from ampkit.models.wire import Wire

RevenueMetric = Literal[0, 1, 2, 3]
REVENUE_METRICS: dict[str, int] = {"arpu": 0, "arppu": 1, "total": 2, "paying": 3}
"""``m``: 0 = ARPU, 1 = ARPPU, 2 = total revenue, 3 = paying users."""
_RETURN_KEY = re.compile(r"^r(\d+)d$")


class RevenueLtvQuery(SegmentedQuery):
    """``start``, ``end``, ``m`` (0–3 or ``"arpu"``/``"arppu"``/``"total"``/``"paying"``),
    ``i`` (1, 7, 30), ``s``, ``g``."""

    kind: ClassVar[QueryKind] = "other"

    metric: Annotated[RevenueMetric, Wire("m"), Field(description=(
        "0 or 'arpu' (average revenue per user), 1 or 'arppu' (per paying user), 2 or 'total' "
        "(revenue), 3 or 'paying' (paying users)."))] = 0
    interval: CoarseBuckets = 1
    segment: Segments
    group_by: GroupByProperty = None

    @field_validator("metric", mode="before")
    @classmethod
    def _metric(cls, value: object) -> object:
        if isinstance(value, str):
            key = value.strip().lower()
            return REVENUE_METRICS.get(key, int(key) if key.isdigit() else value)
        return value


class LtvValues(AmpModel):
    """One cohort day: ``count`` (users), ``paid`` (paying users), ``total_amount`` and the
    ``r1d`` … ``r90d`` values, gathered into ``returns`` keyed by day (the exact set of days is
    unconfirmed)."""

    count: int | float | None = None
    paid: int | float | None = None
    total_amount: int | float | None = None
    returns: dict[int, float | None] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        returns: dict[int, Any] = dict(value.get("returns") or {})
        for key, item in value.items():
            match = _RETURN_KEY.match(str(key))
            if match:
                returns[int(match.group(1))] = item
            elif key != "returns":
                out[key] = item
        out["returns"] = returns
        return out


class LtvSeries(AmpModel):
    """One group: ``dates`` (``YYYY-MM-DD``, descending) and ``values`` keyed by date."""

    dates: list[str] = Field(default_factory=list)
    values: dict[str, LtvValues] = Field(default_factory=dict)


class LtvRow(NamedTuple):
    label: str
    date: str
    day: int
    value: Number | None


class RevenueLtvResult(DashboardResult):
    """``{"data": {"seriesLabels": [...], "series": [{dates, values}]}}``; the local server
    adds ``seriesMeta`` (``{"segmentIndex"}`` per series), as its other time series do."""

    series_labels: list[Label] | None = None
    series: list[LtvSeries] = Field(default_factory=list)
    series_meta: list[SeriesMeta] | None = None

    def rows(self) -> list[LtvRow]:
        """``(label, cohort date, day N, value of rNd)`` for every value present."""
        out: list[LtvRow] = []
        for i, series in enumerate(self.series):
            labels = self.series_labels or []
            label = label_text(labels[i], i) if i < len(labels) else str(i)
            for date in series.dates or list(series.values):
                values = series.values.get(date)
                if values is None:
                    continue
                out += [LtvRow(label, date, d, v) for d, v in sorted(values.returns.items())]
        return out
