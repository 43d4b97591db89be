"""Event segmentation — ``GET /api/2/events/segmentation`` (reference §10.13)."""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from ampkit.models.dashboard.common import (
    DateRangeQuery,
    EventDef,
    Interval,
    Params,
    Segment,
    interval_code,
    rule_error,
    segment_params,
)
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import TimeSeriesResult

SegmentationMetric = Literal[
    "uniques", "totals", "pct_dau", "average", "histogram", "sums", "value_avg", "formula"
]
PROPERTY_METRICS = frozenset({"histogram", "sums", "value_avg"})
"""Metrics that need an event-property group-by in ``e``."""


class SegmentationQuery(DateRangeQuery):
    """``e`` (+ ``e2``), ``start``, ``end``, ``m``, ``n``, ``i``, ``s``, ``g`` (+ ``g2``),
    ``limit``, ``formula``, ``rollingWindow``, ``rollingAverage``.

    ``user_type`` (``n``) is sent only when given: its default is not documented (Appsmith's
    page says ``active``; unconfirmed).
    """

    kind: ClassVar[QueryKind] = "segmentation"

    event: EventDef
    second_event: EventDef | None = None
    metric: SegmentationMetric = "uniques"
    user_type: Literal["any", "active"] | None = None
    interval: Interval = 1
    segment: Segment | None = None
    group_by: str | None = None
    group_by2: str | None = None
    limit: int | None = Field(default=None, ge=1, le=1000)
    formula: str | None = None
    rolling_window: int | None = Field(default=None, ge=1)
    rolling_average: int | None = Field(default=None, ge=1)

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> object:
        return interval_code(value)

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.metric in PROPERTY_METRICS and not any(
            g.type == "event" for g in self.event.group_by
        ):
            raise rule_error(
                "metric", f"{self.metric!r} needs an event-property group_by in the event"
            )
        if self.metric == "formula" and not self.formula:
            raise rule_error("formula", "metric 'formula' needs a formula")
        if self.formula and self.metric != "formula":
            raise rule_error("formula", "a formula needs metric='formula'")
        if self.group_by2 and not self.group_by:
            raise rule_error("group_by2", "needs group_by")
        return self

    def params(self) -> Params:
        out: list[tuple[str, str]] = [("e", self.event.param())]
        if self.second_event is not None:
            out.append(("e2", self.second_event.param()))
        out += [*self.date_params(), ("m", self.metric)]
        if self.user_type is not None:
            out.append(("n", self.user_type))
        out.append(("i", str(self.interval)))
        out += segment_params(self.segment, self.group_by)
        for key, value in (
            ("g2", self.group_by2),
            ("limit", self.limit),
            ("formula", self.formula),
            ("rollingWindow", self.rolling_window),
            ("rollingAverage", self.rolling_average),
        ):
            if value is not None:
                out.append((key, str(value)))
        return tuple(out)


class SegmentationResult(TimeSeriesResult):
    """One ``series`` row per group (``seriesLabels``; a single ``0`` without a group-by),
    ``seriesCollapsed`` the per-group total as ``[{"value": n}]`` (docs) or ``[n]`` (real data).
    With hourly/real-time intervals ``xValues`` are datetime strings (format unconfirmed)."""
