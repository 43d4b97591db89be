"""Event segmentation — ``GET /api/2/events/segmentation`` (reference §10.13).

Parameters (:class:`~ampkit.models.dashboard.segmentation.SegmentationQuery`, which also
holds the rules): ``e`` (and ``e2``, a second series or formula letter ``B``),
``start``/``end``, ``m``, ``n``, ``i``, ``s`` (repeat for more segments), ``g``/``g2``,
``limit`` (group values per series, default 100, at most 1000, busiest first), ``formula``,
``rollingWindow``, ``rollingAverage`` (not both).

Metrics, per bucket (and, in ``seriesCollapsed``, over the whole range):

- ``uniques`` distinct users who did the event; ``totals`` events; ``average`` events per
  user; ``pct_dau`` uniques as a **percentage** (0–100) of the segment's active users;
- property metrics read the event's *measured property* — its first ``group_by`` of type
  ``event`` (the other group-bys still group): ``sums`` total, ``value_avg`` mean of the
  numeric values; ``histogram`` counts events per equal-width bin of the value (10 bins between
  the smallest and largest value in the range; ``xValues`` are ``"lo-hi"`` bin labels);
- ``formula``: see :mod:`ampkit.models.dashboard.formula` (group with ``g``/``g2`` only);
  each function reads its event's aggregate of the cell (``AVERAGE`` = totals per user, the
  ``PROP*`` ones the measured property's sum, mean, minimum, maximum, count); a division by
  zero gives 0.

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

from collections.abc import Callable
from typing import Any

from ampkit.models.dashboard import formula as fx
from ampkit.models.dashboard.common import Segment
from ampkit.models.dashboard.segmentation import SegmentationQuery
from ampkit.server.query.clock import Buckets
from ampkit.server.query.common import (
    IDENTIFY_EVENTS,
    Ctx,
    QueryError,
    Sql,
    number,
    ratio,
    sql,
)
from ampkit.server.query.metrics import ZERO, Agg, EventQuery, aggregate, histogram
from ampkit.server.query.props import (
    ACTIVE,
    Prop,
    Scope,
    event_prop,
    event_sql,
    prop_of,
    require_known_events,
    segment_sql,
    user_prop,
)
from ampkit.server.query.series import Grid, Key, key_label

INACTIVE_CAPABLE = frozenset({"_all", *IDENTIFY_EVENTS})
"""Event selections that can match inactive events, where ``n=active`` restricts the users."""
EVENT_PARAMS = ("e", "e2")
DEFAULT_LIMIT = 100
Plan = tuple[list[Prop], Sql | None]
"""One event's group-by properties and measured number."""


def _plan(q: SegmentationQuery, k: int) -> Plan:
    """(group-by properties, measured number) of event ``k`` (the model checked the rules)."""
    measure = q.measured(k)
    props = [prop_of(kind, name) for kind, name in q.own_groups(k)]
    props += [user_prop(g) for g in (q.group_by, q.group_by2) if g]
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


def evaluate(node: fx.Node, value: Callable[[fx.Call], float]) -> float:
    """The formula's value, each call's from ``value`` (a division by zero is 0)."""
    if isinstance(node, fx.Num):
        return node.value
    if isinstance(node, fx.Call):
        return value(node)
    if isinstance(node, fx.Neg):
        return -evaluate(node.operand, value)
    left, right = evaluate(node.left, value), evaluate(node.right, value)
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    return left / right if right else 0.0


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

    def __init__(self, ctx: Ctx, q: SegmentationQuery) -> None:
        self.ctx, self.q, self.node = ctx, q, q.formula_tree()
        self.calls = fx.calls(self.node) if self.node else []
        self.used = q.used()
        self.metric = q.metric
        self.user_type = q.user_type or "active"
        self.limit = q.limit or DEFAULT_LIMIT
        self.shown = Buckets(q.interval, q.start, q.end, zone=ctx.clock.zone)
        self.window = q.rolling_window or 1
        self.before = (q.rolling_window or q.rolling_average or 1) - 1
        self.buckets = Buckets(q.interval, q.start, q.end, self.before, ctx.clock.zone)
        lo, hi = self.shown.utc_span(ctx.clock)
        self.scope = Scope(ctx.project_id, lo, hi)
        self.n_shown = len(self.shown.starts())
        self.x_values = self.shown.labels()
        self.out = _Out()

    def plans(self) -> dict[int, Plan]:
        return {k: _plan(self.q, k) for k in self.used}

    def query(self, k: int, plan: Plan, seg_sql: Sql) -> EventQuery:
        props, measure = plan
        event = self.q.events[k]
        uniques = self.metric in ("uniques", "average", "pct_dau") or any(
            c.event == k and c.function in ("UNIQUES", "AVERAGE") for c in self.calls)
        condition = event_sql(event) + " AND " + seg_sql
        if self.user_type == "active" and event.event_type in INACTIVE_CAPABLE:
            condition = condition + " AND " + sql(
                "amplitude_id IN (SELECT amplitude_id FROM events WHERE project_id = ? AND "
                "event_time >= ? AND event_time < ? AND ", self.scope.project_id,
                self.scope.lo, self.scope.hi) + ACTIVE + ")"
        return EventQuery(condition,
                          tuple(prop.label for prop in props), measure, uniques,
                          all(prop.plain for prop in props))

    def label(self, key: Key, width: int, seg: int) -> Any:
        return key_label(key[:width]) if width else seg

    def segment(self, seg: int, segment: Segment) -> None:
        seg_sql = segment_sql(segment, self.scope)
        plans = self.plans()
        if self.metric == "histogram":
            hist = histogram(self.ctx, self.query(0, plans[0], seg_sql), self.scope)
            self.x_values = hist.labels
            width = len(plans[0][0])
            for key in _keys(hist.grid, width, self.limit, None):
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
        if self.metric == "pct_dau":
            grid = aggregate(self.ctx, EventQuery(ACTIVE + " AND " + seg_sql), self.scope,
                             self.buckets, self.window)
            dau = (grid.rows.get((None, None), []), grid.collapsed.get((None, None), ZERO))
        for k in self.used:
            self.event_rows(seg, k, grids[k], len(plans[k][0]), dau)

    def event_rows(self, seg: int, k: int, grid: Grid, width: int,
                   dau: tuple[list[Agg], Agg]) -> None:
        m, row_dau, total_dau = self.metric, dau[0], dau[1]

        def score(key: Key) -> float:
            return _metric(m, grid.collapsed.get(key, ZERO), total_dau)

        for key in _keys(grid, width, self.limit, score):
            values = [_metric(m, agg, row_dau[j] if j < len(row_dau) else ZERO)
                      for j, agg in enumerate(grid.rows[key])]
            self.out.add(_smooth(values, self.n_shown, self.q.rolling_average), score(key),
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

            return evaluate(node, value)

        columns = self.n_shown + (self.before if self.window == 1 else 0)
        for key in _keys(merged, width, self.limit, lambda k: cell(k, None)):
            values = [cell(key, j) for j in range(columns)]
            self.out.add(_smooth(values, self.n_shown, self.q.rolling_average),
                         cell(key, None), self.label(key, width, seg), seg, 0)


def segmentation(ctx: Ctx, q: SegmentationQuery) -> dict[str, Any]:
    if q.rolling_window and q.rolling_average:
        raise QueryError("rollingAverage", "use either rollingWindow or rollingAverage")
    run = _Run(ctx, q)
    require_known_events(ctx, [(EVENT_PARAMS[k], q.events[k]) for k in run.used])
    for seg, segment in enumerate(q.segments):
        run.segment(seg, segment)
    return run.out.body(run.x_values)
