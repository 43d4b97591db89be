"""Event segmentation — ``GET /api/2/events/segmentation`` (reference §10.13)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Self

from pydantic import Field, model_validator

from ampkit.models.dashboard import formula as fx
from ampkit.models.dashboard.common import (
    DAILY,
    EVENT_HELP,
    MAX_DAYS,
    Buckets,
    EventDef,
    GroupByProperty,
    GroupLimit,
    SegmentedQuery,
    Segments,
    not_new,
    rule_error,
)
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import TimeSeriesResult
from ampkit.models.wire import Wire

SegmentationMetric = Literal[
    "uniques", "totals", "pct_dau", "average", "histogram", "sums", "value_avg", "formula"
]
PROPERTY_METRICS = frozenset({"histogram", "sums", "value_avg"})
"""Metrics that need an event-property group-by in ``e``."""
MAX_ROLLING = MAX_DAYS[DAILY]
"""Longest rolling window or average, in intervals."""
_EVENT_FIELDS = (("event", "e"), ("second_event", "e2"))


class SegmentationQuery(SegmentedQuery):
    """``e`` (+ ``e2``), ``start``, ``end``, ``m``, ``n``, ``i``, ``s``, ``g`` (+ ``g2``),
    ``limit``, ``formula``, ``rollingWindow``, ``rollingAverage``.

    ``user_type`` (``n``) is sent only when given: its default is not documented (Appsmith's
    page says ``active``; unconfirmed).

    Rules: property metrics (and a formula's ``PROP*`` functions) read each event's *measured
    property*, its first ``group_by`` of type ``event``; the events' other group-bys, ``g`` and
    ``g2`` make at most two group-bys, and with a formula only ``g``/``g2`` group; the formula
    parses (:mod:`ampkit.models.dashboard.formula`, ``A`` = ``e``, ``B`` = ``e2``).
    """

    kind: ClassVar[QueryKind] = "segmentation"

    event: Annotated[EventDef, Wire("e", "json", lead=True), Field(description=EVENT_HELP)]
    second_event: Annotated[EventDef | None, Wire("e2", "json", lead=True), Field(
        description="A second event: letter B of a formula, else a second series.")] = None
    metric: Annotated[SegmentationMetric, Wire("m"), Field(description=(
        "uniques (users), totals (events), pct_dau (% of active users), average (events per "
        "user), histogram/sums/value_avg (of the event property in the event's group_by), "
        "formula (with formula)."))] = "uniques"
    user_type: Annotated[Literal["any", "active"] | None, Wire("n"), Field(description=(
        "Count any users, or only active ones (Amplitude's default when absent)."))] = None
    interval: Buckets = 1
    segment: Segments
    group_by: GroupByProperty = None
    group_by2: Annotated[str | None, Wire("g2"), Field(description=(
        "A second user property to group by (with group_by)."))] = None
    limit: GroupLimit = None
    formula: Annotated[str | None, Wire("formula"), Field(description=(
        "With metric 'formula', e.g. 'UNIQUES(A)/UNIQUES(B)' (A = event, B = second_event)."
    ))] = None
    rolling_window: Annotated[int | None, Wire("rollingWindow"), Field(
        ge=1, le=MAX_ROLLING, description="Rolling window, in intervals.")] = None
    rolling_average: Annotated[int | None, Wire("rollingAverage"), Field(
        ge=1, le=MAX_ROLLING, description="Rolling average, in intervals.")] = None

    @property
    def events(self) -> list[EventDef]:
        """``e`` and, when given, ``e2`` (formula letters ``A`` and ``B``)."""
        return [self.event] + ([self.second_event] if self.second_event else [])

    def formula_tree(self) -> fx.Node | None:
        """The parsed formula with ``metric='formula'`` (else ``None``)."""
        if self.metric != "formula" or not self.formula:
            return None
        return fx.parse(self.formula, len(self.events))

    def used(self) -> list[int]:
        """The events computed: those the formula names, else all of them."""
        tree = self.formula_tree()
        if tree is None:
            return list(range(len(self.events)))
        return sorted({c.event for c in fx.calls(tree)})

    def reads_property(self, k: int) -> bool:
        """Whether the query reads event ``k``'s measured property (a property metric, or a
        formula's ``PROP*`` function on it)."""
        tree = self.formula_tree()
        return self.metric in PROPERTY_METRICS or any(
            c.event == k and c.function in fx.PROPERTY_FUNCTIONS
            for c in (fx.calls(tree) if tree else []))

    def measured(self, k: int) -> str | None:
        """Event ``k``'s measured property when the query reads it: its first ``group_by`` of
        type ``event``."""
        if not self.reads_property(k):
            return None
        return next((g.value for g in self.events[k].group_by if g.type == "event"), None)

    def own_groups(self, k: int) -> list[tuple[str, str]]:
        """Event ``k``'s own group-bys ``(type, property)``, its measured property left out."""
        measure = self.measured(k)
        return [(g.type, g.value) for g in self.events[k].group_by
                if not (measure and g.type == "event" and g.value == measure)]

    @model_validator(mode="after")
    def _rules(self) -> Self:
        for field, _ in _EVENT_FIELDS:
            event = getattr(self, field)
            if event is not None:
                not_new(event, field)
        if self.metric == "formula" and not self.formula:
            raise rule_error("formula", "metric 'formula' needs a formula such as "
                                        "UNIQUES(A)/UNIQUES(B)")
        if self.formula and self.metric != "formula":
            raise rule_error("formula", "a formula needs metric='formula' (m=formula)",
                             param="m")
        if self.group_by2 and not self.group_by:
            raise rule_error("group_by2", "needs group_by (g)")
        if self.metric == "histogram" and (self.rolling_window or self.rolling_average):
            raise rule_error("metric", "histogram has no rolling windows")
        try:
            self.formula_tree()
        except fx.FormulaError as exc:
            raise rule_error("formula", str(exc)) from None
        for k in self.used():
            self._event_rules(k)
        return self

    def _event_rules(self, k: int) -> None:
        field, param = _EVENT_FIELDS[k]
        if self.reads_property(k) and self.measured(k) is None:
            what = f"m={self.metric}" if self.metric in PROPERTY_METRICS else "PROP*"
            rule = (f"{what} needs a group_by of type event in {param} (the property to "
                    "measure)")
            raise rule_error("metric", rule, param="e") if k == 0 else rule_error(field, rule)
        own = self.own_groups(k)
        if self.metric == "formula" and own:
            raise rule_error(field, "with a formula, group with g and g2")
        if len(own) + bool(self.group_by) + bool(self.group_by2) > 2:
            name = "group_by2" if self.group_by2 else "group_by" if self.group_by else field
            raise rule_error(name, "at most 2 group-bys in all (the event's group_by, g and g2)")


class SegmentationResult(TimeSeriesResult):
    """One ``series`` row per group (``seriesLabels``; a single ``0`` without a group-by),
    ``seriesCollapsed`` the per-group total as ``[{"value": n}]`` (docs) or ``[n]`` (real data).
    With hourly/real-time intervals ``xValues`` are datetime strings (format unconfirmed)."""
