"""Active and new users (``/api/2/users``), user composition (``/api/2/composition``) and
real-time active users (``/api/2/realtime``).

- **Active**: a user (Amplitude ID) with at least one event in the bucket, ``$identify`` and
  ``$groupidentify`` excluded (Amplitude does not count identify calls as activity).
- **New**: the user's first such event *ever* falls in the bucket.  A segment and the group-by
  are evaluated on that first event.
- ``seriesCollapsed`` holds the whole range's value per row: distinct active users over the
  range, or the number of new users.  With ``g`` the group labels go to ``seriesLabels`` and
  (as in the docs' example) ``seriesMeta``.  An active user whose events carry two values of
  the group-by property counts in both groups.
- Composition: users active in the range, each counted once under the value the property had
  on the user's latest event in the range; values ordered by users, ``(none)`` when unset.
- Realtime: active users per 5-minute bucket of today (local time) up to now, and of the same
  times yesterday; ``xValues`` ``HH:mm``; ``i`` may be omitted or ``5``.

Parameters: :class:`~ampkit.models.dashboard.users.UsersQuery`,
:class:`~ampkit.models.dashboard.composition.CompositionQuery`,
:class:`~ampkit.models.dashboard.realtime.RealtimeQuery`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ampkit.models.dashboard.composition import CompositionQuery
from ampkit.models.dashboard.realtime import RealtimeQuery
from ampkit.models.dashboard.users import UsersQuery
from ampkit.server.query.clock import REALTIME, Buckets
from ampkit.server.query.common import (
    NONE_LABEL,
    Ctx,
    Sql,
    label,
    number,
    sql,
    template,
)
from ampkit.server.query.metrics import ZERO, EventQuery, aggregate
from ampkit.server.query.props import ACTIVE, Scope, base_where, segment_sql, user_prop
from ampkit.server.query.series import plain, time_series


def first_events(scope: Scope) -> Sql:
    """Subquery: each user's first active event time ``_t`` (``_a`` = amplitude_id), for
    users whose first one lies in the scope's range."""
    return sql("SELECT amplitude_id AS _a, min(event_time) AS _t FROM events "
               "WHERE project_id = ? AND ", scope.project_id) + ACTIVE + \
        sql(" GROUP BY amplitude_id HAVING min(event_time) >= ? AND min(event_time) < ?",
            scope.lo, scope.hi)


def is_first_event(scope: Scope) -> Sql:
    """Row condition: this row is its user's first active event, and that lies in range."""
    return "EXISTS (SELECT 1 FROM (" + first_events(scope) + \
        ") AS f WHERE f._a = events.amplitude_id AND f._t = events.event_time)"


def users(ctx: Ctx, q: UsersQuery) -> dict[str, Any]:
    buckets = Buckets(q.interval, q.start, q.end, zone=ctx.clock.zone)
    scope = Scope(ctx.project_id, *buckets.utc_span(ctx.clock))
    prop = user_prop(q.group_by) if q.group_by else None
    groups = (prop.label,) if prop else ()
    rows: list[list[Any]] = []
    collapsed: list[list[Any]] = []
    labels: list[Any] = []
    meta: list[Any] = []
    seen = False
    for seg_index, segment in enumerate(q.segments):
        cond = ACTIVE + " AND " + segment_sql(segment, scope)
        if q.metric == "new":
            cond = cond + " AND " + is_first_event(scope)
        grid = aggregate(ctx, EventQuery(cond, groups, cheap_groups=bool(prop and prop.plain)),
                         scope, buckets)
        seen = seen or bool(grid.rows)
        if not q.group_by:
            grid.row((None, None))
        elif not grid.rows:
            grid.row((NONE_LABEL, None))
        totals = {k: float(a.uniques) for k, a in grid.collapsed.items()}
        for key in grid.ordered(score=totals.get):
            rows.append([a.uniques for a in grid.rows[key]])
            collapsed.append(plain(grid.collapsed.get(key, ZERO).uniques))
            labels.append(key[0] if q.group_by else seg_index)
            meta.append(key[0] if q.group_by else {"segmentIndex": seg_index})
    if not seen and not q.group_by:
        # no active user in any segment: Amplitude answers no row at all, the collapsed value
        # still 0 (tests/fixtures/airbyte/responses/users__empty_series.json)
        rows = []
    return time_series(buckets.labels(), rows, collapsed, labels, meta)


def composition(ctx: Ctx, q: CompositionQuery) -> dict[str, Any]:
    lo, hi = ctx.clock.day_start(q.start), ctx.clock.day_start(q.end + dt.timedelta(days=1))
    scope = Scope(ctx.project_id, lo, hi)
    prop = user_prop(q.prop)
    query = template(
        "SELECT _v, count(*) AS _n FROM (SELECT amplitude_id, arg_max({v}, event_time) AS _v "
        "FROM events WHERE {w} GROUP BY amplitude_id) GROUP BY _v ORDER BY _n DESC, _v",
        v=prop.text, w=base_where(scope) + " AND " + ACTIVE)
    found = ctx.rows(query)
    return {"data": {"series": [[number(n) for _, n in found]], "seriesLabels": [q.prop],
                     "xValues": [label(v) for v, _ in found]}}


def realtime(ctx: Ctx, q: RealtimeQuery) -> dict[str, Any]:
    now_local = ctx.clock.to_local(ctx.now)
    today = now_local.date()
    yesterday = today - dt.timedelta(days=1)
    buckets = Buckets(REALTIME, yesterday, today, zone=ctx.clock.zone)
    lo, hi = buckets.utc_span(ctx.clock)
    scope = Scope(ctx.project_id, lo, min(hi, ctx.now + dt.timedelta(seconds=1)))
    bucket = buckets.trunc_sql(ctx.clock.local_sql("event_time", lo, hi))
    query = template("SELECT {b} AS _b, count(DISTINCT amplitude_id) FROM events WHERE {w} "
                     "GROUP BY _b", b=bucket, w=base_where(scope) + " AND " + ACTIVE)
    counts = {b: n for b, n in ctx.rows(query)}
    current = buckets.trunc(now_local)
    day0 = dt.datetime.combine(today, dt.time())
    x_values: list[str] = []
    series: list[list[Any]] = [[], []]
    t = day0
    while t <= current:
        x_values.append(t.strftime("%H:%M"))
        series[0].append(number(counts.get(t, 0)))
        series[1].append(number(counts.get(t - dt.timedelta(days=1), 0)))
        t = buckets.step(t)
    return {"data": {"xValues": x_values, "seriesLabels": ["Today", "Yesterday"],
                     "series": series}}
