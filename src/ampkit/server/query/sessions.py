"""User sessions (``/api/2/sessions/length``, ``/average``, ``/peruser``) and the events list
(``/api/2/events/list``).

- A session is one ``(amplitude_id, session_id)`` with ``session_id`` not ``-1``; its length is
  its last event time minus its first (ms), capped at one day (86,400,000 ms).  A session
  belongs to the local day (project time zone) on which it started, and is counted when that
  day is within ``start``..``end`` (its events are read from :data:`LOOKBACK`, 8 days, before
  the range: a session whose events span more than that is seen from there).
- ``length``: one row of session counts per bin, ``xValues`` ``"<startSeconds>s-<endSeconds>s"``.
  Custom bins need ``timeHistogramConfigBinMin``, ``…Max`` and ``…TimeUnit`` (``seconds``,
  ``minutes``, ``hours``, ``days``); ``…Size`` defaults to a tenth of the range.  Bins are
  half-open, ``[start, end)``, like Amplitude's documented default bins: a 600 s session is not
  in a custom bin that ends at 600 s.  Sessions outside all bins are not counted.  Missing or
  invalid bin parameters (read as none by
  :class:`~ampkit.models.dashboard.sessions.SessionLengthQuery`) give Amplitude's default bins
  (ms) 0, 3000, 10000, 30000, 60000, 180000, 600000, 1800000, 3600000, 86400000; their last
  bin also holds the sessions capped at one day (its end), which would otherwise fall in no
  bin.
- ``average``: mean session length in **seconds** per day; ``peruser``: sessions per user per
  day, over users who had a session that day.  Days without sessions are 0.
  ``seriesCollapsed`` holds the value over the whole range.
- Events list: every event type stored for the project except ``$identify`` /
  ``$groupidentify``, busiest first.  ``totals`` counts this week's events (the local week, from
  Sunday 00:00, up to now); ``totals_delta`` is ``totals`` minus last week's count; ``id`` is
  the type's rank by first appearance (stable); the flags are all false (nothing is hidden,
  deleted or inactive locally).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from typing import Any

from ampkit.models.dashboard.common import DateRangeQuery
from ampkit.models.dashboard.events import EventsListQuery
from ampkit.models.dashboard.sessions import (
    DEFAULT_BINS_MS,
    SessionAverageQuery,
    SessionLengthQuery,
    SessionsPerUserQuery,
)
from ampkit.server.query.clock import DAILY, WEEKLY, Buckets
from ampkit.server.query.common import Ctx, Sql, number, ratio, sql, template
from ampkit.server.query.props import ACTIVE
from ampkit.server.query.series import time_series

DAY_MS = 86_400_000
LOOKBACK = dt.timedelta(days=8)
"""How long before the range a session's events are read: a session that began up to this long
before the range is seen whole (its start, and so its day, is right)."""
UNITS_MS = {"seconds": 1000, "minutes": 60_000, "hours": 3_600_000, "days": DAY_MS}


def _sessions(ctx: Ctx, buckets: Buckets) -> Sql:
    """CTE body: sessions starting in the range — ``_b`` (start bucket), ``_a`` (user),
    ``_len`` (ms, capped)."""
    lo, hi = buckets.utc_span(ctx.clock)
    bucket = buckets.trunc_sql(ctx.clock.local_sql("_s0", lo, hi))
    # read from LOOKBACK before the range: a session that began up to that long before it
    # is seen whole, and not counted as starting inside the range (read from a day before
    # only, a 54-hour session seemed to start on its last day) — a bound in days, so the cost
    # follows the range, not the project's whole history
    inner = sql("SELECT amplitude_id AS _a, session_id, min(event_time) AS _s0, "
                "max(event_time) AS _s1 FROM events WHERE project_id = ? AND session_id "
                "IS NOT NULL AND session_id <> -1 AND event_time >= ? AND event_time < ? "
                "GROUP BY amplitude_id, session_id",
                ctx.project_id, lo - LOOKBACK, hi + dt.timedelta(days=1))
    return template("SELECT {b} AS _b, _a, least(date_diff('millisecond', _s0, _s1), {cap}) "
                    "AS _len FROM ({inner}) WHERE _s0 >= {lo} AND _s0 < {hi}",
                    b=bucket, cap=sql("?", DAY_MS), inner=inner, lo=sql("?", lo),
                    hi=sql("?", hi))


def _edges(q: SessionLengthQuery) -> list[float]:
    """Bin edges in ms: the custom ones when given (the model checked them), else the
    defaults."""
    unit, lo, hi = q.bin_unit, q.bin_min, q.bin_max
    if unit is None or lo is None or hi is None:
        return list(DEFAULT_BINS_MS)
    size = q.bin_size or (hi - lo) / 10
    scale = UNITS_MS[unit]
    count = math.ceil((hi - lo) / size - 1e-9)
    return [min(lo + size * k, hi) * scale for k in range(count)] + [hi * scale]


def _seconds(ms: float) -> str:
    s = ms / 1000
    return str(int(s)) if float(s).is_integer() else f"{s:g}"


def length(ctx: Ctx, q: SessionLengthQuery) -> dict[str, Any]:
    edges = _edges(q)
    buckets = Buckets(DAILY, q.start, q.end)
    cases = " ".join("WHEN _len < ? THEN ?" for _ in edges[1:-1])
    args: list[Any] = []
    for k, edge in enumerate(edges[1:-1]):
        args += [edge, k]
    last = "<=" if edges == list(DEFAULT_BINS_MS) else "<"  # the cap (one day) is the last end
    binned = Sql(f"CASE {cases} WHEN _len {last} ? THEN ? END" if cases else
                 f"CASE WHEN _len {last} ? THEN ? END", (*args, edges[-1], len(edges) - 2))
    rows = ctx.rows(template(
        "WITH s AS ({s}) SELECT {k} AS _k, count(*) FROM s WHERE _len >= {lo} GROUP BY _k",
        s=_sessions(ctx, buckets), k=binned, lo=sql("?", edges[0])))
    counts = [0] * (len(edges) - 1)
    for k, n in rows:
        if k is not None:
            counts[int(k)] = int(n)
    labels = [f"{_seconds(a)}s-{_seconds(b)}s" for a, b in itertools.pairwise(edges)]
    return {"data": {"series": [counts], "xValues": labels, "seriesLabels": [0],
                     "seriesMeta": [{"segmentIndex": 0}]}}


def _daily(ctx: Ctx, q: DateRangeQuery, value: str) -> dict[str, Any]:
    buckets = Buckets(DAILY, q.start, q.end)
    index = buckets.index()
    found = ctx.rows(template(
        "WITH s AS ({s}) SELECT _b, count(*), count(DISTINCT _a), avg(_len) FROM s "
        "GROUP BY GROUPING SETS ((_b), ())", s=_sessions(ctx, buckets)))
    row: list[Any] = [0] * len(index)
    total: Any = 0
    seen = False
    for bucket, sessions, users, avg_ms in found:
        cell = ratio(sessions, users) if value == "peruser" else (avg_ms or 0) / 1000
        if bucket is None:
            total = cell
        elif bucket in index:
            row[index[bucket]] = cell
            seen = True
    # no session in the range: Amplitude answers no row at all, the collapsed value still 0
    # (tests/fixtures/airbyte/responses/sessions_average__empty_series.json)
    return time_series(buckets.labels(), [row] if seen else [], [[number(total)]], [0],
                       [{"segmentIndex": 0}])


def average(ctx: Ctx, q: SessionAverageQuery) -> dict[str, Any]:
    return _daily(ctx, q, "average")


def per_user(ctx: Ctx, q: SessionsPerUserQuery) -> dict[str, Any]:
    return _daily(ctx, q, "peruser")


def events_list(ctx: Ctx, q: EventsListQuery) -> dict[str, Any]:
    now_local = ctx.clock.to_local(ctx.now)
    week = Buckets(WEEKLY, now_local.date(), now_local.date())
    this_week = ctx.clock.to_utc(week.trunc(now_local))
    last_week = ctx.clock.to_utc(week.step(week.trunc(now_local), -1))
    rows = ctx.rows(sql(
        "SELECT event_type, count(*) FILTER (WHERE event_time >= ? AND event_time <= ?), "
        "count(*) FILTER (WHERE event_time >= ? AND event_time < ?), min(seq) "
        "FROM events WHERE project_id = ? AND ", this_week, ctx.now, last_week, this_week,
        ctx.project_id) + ACTIVE + " GROUP BY event_type")
    ids = {name: i for i, (name, *_rest) in enumerate(sorted(rows, key=lambda r: r[3]), 1)}
    rows.sort(key=lambda r: (-r[1], r[0]))
    return {"data": [
        {"id": ids[name], "name": name, "value": name, "display": name, "totals": int(now),
         "totals_delta": int(now) - int(before), "non_active": False, "deleted": False,
         "hidden": False, "flow_hidden": False, "autohidden": False, "in_waitroom": False,
         "clusters_hidden": False, "timeline_hidden": False, "waitroom_approved": True}
        for name, now, before, _ in rows]}
