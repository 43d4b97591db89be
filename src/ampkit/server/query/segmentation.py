"""Event segmentation — ``GET /api/2/events/segmentation`` (reference §10.13).

Parameters: ``e`` (and ``e2``, ``e3`` … for formulas or more series), ``start``/``end``,
``m``, ``n``, ``i``, ``s`` (repeat for more segments), ``g``/``g2``, ``limit`` (group values
per series, default 100, at most 1000, busiest first), ``formula``, ``rollingWindow``,
``rollingAverage``.

Metrics, per bucket (and, in ``seriesCollapsed``, over the whole range):

- ``uniques`` distinct users who did the event; ``totals`` events; ``average`` events per
  user; ``pct_dau`` uniques as a **percentage** (0–100) of the segment's active users;
- property metrics read the event's *measured property* — its first ``group_by`` of type
  ``event`` (the other group-bys still group): ``sums`` total, ``value_avg`` mean of the
  numeric values; ``histogram`` counts events per equal-width bin of the value (10 bins between
  the smallest and largest value in the range; ``xValues`` are ``"lo-hi"`` bin labels);
- ``formula``: see :mod:`ampkit.server.query.formula` (group with ``g``/``g2`` only).

Groups: the event's own group-bys, then ``g``, then ``g2`` — at most two in all.  ``n`` is
``active`` (default) or ``any``: ``active`` counts only users with an active event (anything
but ``$identify``/``$groupidentify``) in the range, ``any`` every user.  The two differ only
where the event can be inactive (``_all``, ``$identify``, ``$groupidentify``): whoever did an
active event is active, so for those the restriction is not even queried.  ``rollingWindow=N``
computes each bucket over the N buckets ending there (distinct users over the window);
``rollingAverage=N`` averages the metric over the N buckets ending there; both read buckets
before ``start`` as needed.

Shape: ``{"data": {"series", "seriesLabels", "seriesCollapsed", "xValues", "seriesMeta"}}``;
one row per (segment, event, group); ``seriesLabels`` is the segment index without a group-by,
else the group value (``[v1, v2]`` with two group-bys); ``seriesCollapsed`` rows are
``[{"value": n}]`` (as documented); ``seriesMeta`` rows are
``{"segmentIndex": s, "eventIndex": k}``.  An event type never stored answers 400.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ampkit.server.query import formula as fx
from ampkit.server.query.clock import Buckets
from ampkit.server.query.common import (
    IDENTIFY_EVENTS,
    Ctx,
    QueryError,
    QueryParams,
    Sql,
    number,
    ratio,
    rule,
    sql,
    validate,
)
from ampkit.server.query.metrics import ZERO, Agg, EventQuery, aggregate, histogram
from ampkit.server.query.params import (
    Condition,
    EventSpec,
    Int,
    Interval,
    SegmentedParams,
    event_params,
    parse_event,
    require_known_events,
    segmented,
)
from ampkit.server.query.props import (
    ACTIVE,
    Prop,
    Scope,
    event_prop,
    event_sql,
    prop_of,
    segment_sql,
    user_prop,
)
from ampkit.server.query.series import Grid, Key, key_label

Metric = Literal["uniques", "totals", "pct_dau", "average", "histogram", "sums", "value_avg",
                 "formula"]
PROPERTY_METRICS = frozenset({"histogram", "sums", "value_avg"})
INACTIVE_CAPABLE = frozenset({"_all", *IDENTIFY_EVENTS})
"""Event selections that can match inactive events, where ``n=active`` restricts the users."""


class SegmentationParams(SegmentedParams):
    events: list[EventSpec] = Field(min_length=1)
    m: Metric = "uniques"
    n: Literal["any", "active"] = "active"
    i: Interval = 1
    g2: str | None = None
    limit: Int = Field(default=100, ge=1, le=1000)
    formula: str | None = None
    rolling_window: Int | None = Field(default=None, ge=1, le=365, alias="rollingWindow")
    rolling_average: Int | None = Field(default=None, ge=1, le=365, alias="rollingAverage")

    @model_validator(mode="after")
    def _rules(self) -> SegmentationParams:
        if self.m == "formula" and not self.formula:
            raise rule("formula", "m=formula needs a formula such as UNIQUES(A)/UNIQUES(B)")
        if self.formula and self.m != "formula":
            raise rule("m", "a formula needs m=formula")
        if self.g2 and not self.g:
            raise rule("g2", "needs g")
        if self.rolling_window and self.rolling_average:
            raise rule("rollingAverage", "use either rollingWindow or rollingAverage")
        if self.m == "histogram" and (self.rolling_window or self.rolling_average):
            raise rule("m", "histogram has no rolling windows")
        return self


def _measure(spec: EventSpec) -> str | None:
    return next((g.value for g in spec.group_by if g.type == "event"), None)


def _plan(p: SegmentationParams, spec: EventSpec, name: str,
          needs_measure: bool) -> tuple[list[Prop], Sql | None]:
    """(group-by properties, measured number) of one event."""
    measure = _measure(spec) if needs_measure else None
    if needs_measure and measure is None:
        raise QueryError(name, f"m={p.m} needs a group_by of type event in {name} (the "
                               "property to measure)")
    own = [g for g in spec.group_by if not (measure and g.type == "event" and g.value == measure)]
    if p.m == "formula" and own:
        raise QueryError(name, "with a formula, group with g and g2")
    props = [prop_of(g.type, g.value) for g in own]
    props += [user_prop(g) for g in (p.g, p.g2) if g]
    if len(props) > 2:
        raise QueryError("g2" if p.g2 else "g" if p.g else name,
                         "at most 2 group-bys in all (the event's group_by, g and g2)")
    return props, event_prop(measure).number if measure else None


def _metric(m: str, agg: Agg, dau: Agg) -> float:
    if m == "totals":
        return agg.totals
    if m == "average":
        return ratio(agg.totals, agg.uniques)
    if m == "pct_dau":
        return 100.0 * ratio(agg.uniques, dau.uniques)
    if m == "sums":
        return agg.sum
    if m == "value_avg":
        return agg.avg
    return agg.uniques


_FUNCS = {"UNIQUES": "uniques", "TOTALS": "totals", "PROPSUM": "sum", "PROPAVG": "avg",
          "PROPMIN": "min", "PROPMAX": "max", "PROPCOUNT": "valued"}


def _call(call: fx.Call, agg: Agg) -> float:
    if call.function == "AVERAGE":
        return ratio(agg.totals, agg.uniques)
    return float(getattr(agg, _FUNCS[call.function]))


class _Out:
    def __init__(self) -> None:
        self.series: list[list[Any]] = []
        self.labels: list[Any] = []
        self.collapsed: list[list[Any]] = []
        self.meta: list[Any] = []

    def add(self, values: list[float], total: float, label: Any, seg: int, event: int) -> None:
        self.series.append([number(v) for v in values])
        self.collapsed.append([{"value": number(total)}])
        self.labels.append(label)
        self.meta.append({"segmentIndex": seg, "eventIndex": event})

    def body(self, x_values: list[str]) -> dict[str, Any]:
        return {"data": {"series": self.series, "seriesLabels": self.labels,
                         "seriesCollapsed": self.collapsed, "xValues": x_values,
                         "seriesMeta": self.meta}}


def _keys(grid: Grid, width: int, limit: int, score: Any) -> list[Key]:
    if width == 0:
        grid.row((None, None))
        return [(None, None)]
    if not grid.rows:
        grid.row(tuple("(none)" if k < width else None for k in range(2)))
    return grid.ordered(limit, score)


def _smooth(values: list[float], shown: int, average: int | None) -> list[float]:
    if not average:
        return values[len(values) - shown:]
    before = len(values) - shown
    return [sum(values[before + j - average + 1:before + j + 1]) / average
            for j in range(shown)]


class _Run:
    """One segmentation request, segment by segment."""

    def __init__(self, ctx: Ctx, p: SegmentationParams, specs: list[tuple[str, EventSpec]],
                 node: fx.Node | None) -> None:
        self.ctx, self.p, self.specs, self.node = ctx, p, specs, node
        self.used = sorted({c.event for c in fx.calls(node)}) if node else \
            list(range(len(specs)))
        self.shown = Buckets(p.i, p.start, p.end, zone=ctx.clock.zone)
        self.window = p.rolling_window or 1
        self.before = (p.rolling_window or p.rolling_average or 1) - 1
        self.buckets = Buckets(p.i, p.start, p.end, self.before, ctx.clock.zone)
        lo, hi = self.shown.utc_span(ctx.clock)
        self.scope = Scope(ctx.project_id, lo, hi)
        self.n_shown = len(self.shown.starts())
        self.x_values = self.shown.labels()
        self.out = _Out()

    def plans(self) -> dict[int, tuple[list[Prop], Sql | None]]:
        calls = fx.calls(self.node) if self.node else []
        out = {}
        for k in self.used:
            name, spec = self.specs[k]
            needs = self.p.m in PROPERTY_METRICS or any(
                c.event == k and c.function in fx.PROPERTY_FUNCTIONS for c in calls)
            out[k] = _plan(self.p, spec, name, needs)
        return out

    def query(self, k: int, plan: tuple[list[Prop], Sql | None], seg_sql: Sql) -> EventQuery:
        props, measure = plan
        name, spec = self.specs[k][0], self.specs[k][1]
        uniques = self.p.m in ("uniques", "average", "pct_dau") or any(
            c.event == k and c.function in ("UNIQUES", "AVERAGE")
            for c in (fx.calls(self.node) if self.node else []))
        condition = event_sql(spec, name) + " AND " + seg_sql
        if self.p.n == "active" and spec.event_type in INACTIVE_CAPABLE:
            condition = condition + " AND " + sql(
                "amplitude_id IN (SELECT amplitude_id FROM events WHERE project_id = ? AND "
                "event_time >= ? AND event_time < ? AND ", self.scope.project_id,
                self.scope.lo, self.scope.hi) + ACTIVE + ")"
        return EventQuery(condition,
                          tuple(prop.label for prop in props), measure, uniques,
                          all(prop.plain for prop in props))

    def label(self, key: Key, width: int, seg: int) -> Any:
        return key_label(key[:width]) if width else seg

    def segment(self, seg: int, conditions: list[Condition]) -> None:
        p = self.p
        seg_sql = segment_sql(conditions, self.scope)
        plans = self.plans()
        if p.m == "histogram":
            hist = histogram(self.ctx, self.query(0, plans[0], seg_sql), self.scope)
            self.x_values = hist.labels
            width = len(plans[0][0])
            for key in _keys(hist.grid, width, p.limit, None):
                self.out.add(hist.grid.rows[key], hist.grid.collapsed.get(key, 0),
                             self.label(key, width, seg), seg, 0)
            return
        grids = {k: aggregate(self.ctx, self.query(k, plans[k], seg_sql), self.scope,
                              self.buckets, self.window) for k in self.used}
        if self.node is not None:
            width = len(plans[self.used[0]][0]) if self.used else 0
            self.formula_rows(seg, grids, width, self.node)
            return
        dau: tuple[list[Agg], Agg] = ([], ZERO)
        if p.m == "pct_dau":
            grid = aggregate(self.ctx, EventQuery(ACTIVE + " AND " + seg_sql), self.scope,
                             self.buckets, self.window)
            dau = (grid.rows.get((None, None), []), grid.collapsed.get((None, None), ZERO))
        for k in self.used:
            self.event_rows(seg, k, grids[k], len(plans[k][0]), dau)

    def event_rows(self, seg: int, k: int, grid: Grid, width: int,
                   dau: tuple[list[Agg], Agg]) -> None:
        m, row_dau, total_dau = self.p.m, dau[0], dau[1]

        def score(key: Key) -> float:
            return _metric(m, grid.collapsed.get(key, ZERO), total_dau)

        for key in _keys(grid, width, self.p.limit, score):
            values = [_metric(m, agg, row_dau[j] if j < len(row_dau) else ZERO)
                      for j, agg in enumerate(grid.rows[key])]
            self.out.add(_smooth(values, self.n_shown, self.p.rolling_average), score(key),
                         self.label(key, width, seg), seg, k)

    def formula_rows(self, seg: int, grids: dict[int, Grid], width: int,
                     node: fx.Node) -> None:
        merged = Grid(0)
        for g in grids.values():
            for key in g.rows:
                merged.rows.setdefault(key, [])

        def cell(key: Key, j: int | None) -> float:
            def value(call: fx.Call) -> float:
                g = grids[call.event]
                if j is None:
                    return _call(call, g.collapsed.get(key, ZERO))
                row = g.rows.get(key)
                return _call(call, row[j] if row is not None else ZERO)

            return fx.evaluate(node, value)

        columns = self.n_shown + (self.before if self.window == 1 else 0)
        for key in _keys(merged, width, self.p.limit, lambda k: cell(k, None)):
            values = [cell(key, j) for j in range(columns)]
            self.out.add(_smooth(values, self.n_shown, self.p.rolling_average),
                         cell(key, None), self.label(key, width, seg), seg, 0)


def segmentation(ctx: Ctx, params: QueryParams) -> dict[str, Any]:
    named = event_params(params)
    if not named:
        raise QueryError("e", "is required: an event definition as JSON")
    specs = [(name, parse_event(raw, name)) for name, raw in named]
    data = segmented(params, "m", "n", "i", "g2", "limit", "formula", "rollingWindow",
                     "rollingAverage")
    p = validate(SegmentationParams, {**data, "events": [s for _, s in specs]})
    node = fx.parse(p.formula or "", len(specs)) if p.m == "formula" else None
    run = _Run(ctx, p, specs, node)
    require_known_events(ctx, [specs[k] for k in run.used])
    for seg, conditions in enumerate(p.segments):
        run.segment(seg, conditions)
    return run.out.body(run.x_values)
