"""Revenue LTV — ``GET /api/2/revenue/ltv`` (reference §10.19).

``start``/``end``, ``m`` (0 ARPU, 1 ARPPU, 2 total revenue, 3 paying users), ``i`` (1, 7, 30),
``s``, ``g`` — read with :class:`~ampkit.models.dashboard.revenue.RevenueLtvQuery`.

- **Cohorts**: new users, by the interval (project time zone) of their first active event
  ever, which must lie in the range; the segment applies to that first event, ``g`` takes its
  value there.
- A revenue event is one with an amount (``revenue``, or ``price`` × ``quantity``); its day
  offset is its local day minus the user's first local day.  ``rNd`` covers offsets
  0 … N−1 (``r1d`` is the first day), for N in 1–7, 14, 30, 60, 90:
  m=0 revenue ÷ cohort users, m=1 revenue ÷ users who paid in those days (0 when none),
  m=2 revenue, m=3 users who paid in those days.
- ``count`` = cohort users, ``paid`` = those with any revenue so far, ``total_amount`` = their
  revenue so far (up to now).
- Shape: ``{"data": {"seriesLabels": [...], "series": [{"dates", "values"}]}}``; ``dates``
  ``YYYY-MM-DD`` newest first (every interval of the range); ``seriesLabels`` is ``""``
  without a group-by, else the group values (largest cohorts first, at most 100);
  ``seriesMeta`` adds ``{"segmentIndex": s}`` per element.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ampkit.models.dashboard.revenue import RevenueLtvQuery
from ampkit.server.query.clock import DAILY, Buckets
from ampkit.server.query.common import (
    NONE_LABEL,
    Ctx,
    Sql,
    join,
    ratio,
    sql,
    template,
)
from ampkit.server.query.props import ACTIVE, Scope, base_where, segment_sql, user_prop
from ampkit.server.query.users import is_first_event

DAYS = (1, 2, 3, 4, 5, 6, 7, 14, 30, 60, 90)
MAX_GROUPS = 100


def _query(ctx: Ctx, q: RevenueLtvQuery, scope: Scope, segment: Sql, buckets: Buckets) -> Sql:
    clock = ctx.clock
    local = clock.local_sql("event_time", scope.lo, scope.hi)
    later = clock.local_sql("e.event_time", scope.lo, max(ctx.now, scope.hi))
    daily = Buckets(DAILY, q.start, q.end)
    group = user_prop(q.group_by).label if q.group_by else Sql("NULL::VARCHAR")
    sums = join([sql("sum(r.revenue) FILTER (WHERE r._o < ?), count(DISTINCT r._a) FILTER "
                     "(WHERE r._o < ?)", n, n) for n in DAYS], ", ")
    return template(
        "WITH c AS (SELECT amplitude_id AS _a, any_value({b}) AS _c, any_value({g}) AS _g, "
        "any_value({d}) AS _d0 FROM events WHERE {w} GROUP BY amplitude_id), "
        "r AS (SELECT c._a, date_diff('day', c._d0, {rd}) AS _o, e.revenue FROM c JOIN events "
        "AS e ON e.amplitude_id = c._a AND {rw}) "
        "SELECT c._c, c._g, count(DISTINCT c._a), count(DISTINCT r._a), sum(r.revenue), {s} "
        "FROM c LEFT JOIN r ON r._a = c._a GROUP BY c._c, c._g",
        b=buckets.trunc_sql(local), g=group, d=daily.trunc_sql(local),
        w=base_where(scope) + " AND " + ACTIVE + " AND " + segment + " AND "
        + is_first_event(scope),
        rd=daily.trunc_sql(later), rw=sql("e.project_id = ? AND e.revenue IS NOT NULL AND "
                                          "e.event_time >= ?", ctx.project_id, scope.lo),
        s=sums)


def ltv(ctx: Ctx, q: RevenueLtvQuery) -> dict[str, Any]:
    buckets = Buckets(q.interval, q.start, q.end)
    scope = Scope(ctx.project_id, *buckets.utc_span(ctx.clock))
    starts = buckets.starts()
    labels: list[Any] = []
    series: list[dict[str, Any]] = []
    meta: list[dict[str, Any]] = []
    for seg_index, segment in enumerate(q.segments):
        cells: dict[Any, dict[Any, dict[str, Any]]] = defaultdict(dict)
        sizes: dict[Any, int] = defaultdict(int)
        for row in ctx.rows(_query(ctx, q, scope, segment_sql(segment, scope), buckets)):
            cohort, group, users = row[0], row[1], int(row[2])
            sizes[group] += users
            cells[group][cohort] = _values(q.metric, users, row[3:])
        if not sizes:
            sizes[NONE_LABEL if q.group_by else None] = 0
        for group in sorted(sizes, key=lambda g: (-sizes[g], str(g)))[:MAX_GROUPS]:
            values = {buckets.label(s): cells[group].get(s) or _values(q.metric, 0, ())
                      for s in starts}
            series.append({"dates": [buckets.label(s) for s in reversed(starts)],
                           "values": values})
            labels.append(group if q.group_by else "")
            meta.append({"segmentIndex": seg_index})
    return {"data": {"seriesLabels": labels, "series": series, "seriesMeta": meta}}


def _values(m: int, users: int, row: Any) -> dict[str, Any]:
    paid = int(row[0]) if row else 0
    total = float(row[1] or 0) if row else 0.0
    out: dict[str, Any] = {}
    for k, n in enumerate(DAYS):
        revenue = float(row[2 + 2 * k] or 0) if row else 0.0
        payers = int(row[3 + 2 * k] or 0) if row else 0
        out[f"r{n}d"] = (ratio(revenue, users), ratio(revenue, payers), revenue,
                         payers)[m]
    out.update(count=users, paid=paid, total_amount=total)
    return out
