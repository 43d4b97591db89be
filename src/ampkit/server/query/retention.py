"""Retention analysis — ``GET /api/2/retention`` (reference §10.15).

``se`` (starting event; also ``_new`` and ``_active``), ``re`` (returning event; also ``_all``
and ``_active``), ``start``/``end``, ``rm`` (``rolling`` a.k.a. unbounded, ``bracket``, or
n-day when absent), ``rb`` (brackets, JSON ``[[start, endExclusive], …]`` in intervals, each
bound 0–366 and at most 366 brackets), ``i`` (1, 7, 30), ``s``, ``g`` — read with
:class:`~ampkit.models.dashboard.retention.RetentionQuery`.

- **Cohorts**: a user joins the cohort of the interval (project time zone) of their *first*
  starting event in ``start``..``end`` (``_new``: their first active event ever, which must
  lie in the range).  The segment applies to that event; ``g`` takes its value there.
- **Returning**: a returning event *after* the starting event (a later event when both are the
  same type); Day N means the N-th calendar interval after the cohort's.  Returns are counted
  up to now, also past ``end``.
- **Cells**: index N is Day N, N = 0 … (intervals in the range).  **Day 0 is the cohort
  itself** (``count == outof``), as in Amplitude's charts and the reference's example response
  (``{"count": 12864, "outof": 12864}``); a return later on the cohort's own day does not make
  a cell of its own.  n-day: Day N ≥ 1 = returned in exactly that interval; rolling: in that
  interval or any later one.  Bracket: index 0 is Day 0, index j+1 bracket j of ``rb``,
  ``[start, endExclusive)`` in Days ("returned in any interval of the bracket"; a bracket that
  starts at Day 0 holds the whole cohort).  ``incomplete`` is true while the cell's (last)
  interval has not ended.
- ``combined`` sums, for each cell, the cohorts whose cell lies within ``start``..``end`` —
  Day N of cohort c when c + N is in the range, bracket j when its last Day (c + end − 1) is
  (a cohort whose last bracket day is ``end`` itself counts); Day 0 sums every cohort.
  ``retainedSetId`` is null; a user belongs to one cohort only, so the sums are deduplicated.
- ``dates`` are ``"Mar 7"``-style, newest first (all intervals of the range, empty ones too);
  ``values`` is keyed by them.  With ``g``: one ``series`` element per group value (at most
  100, largest first), ``seriesMeta`` naming it as ``groupValue``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from ampkit.models.dashboard.retention import RetentionQuery
from ampkit.server.query.clock import MONTHLY, WEEKLY, Buckets
from ampkit.server.query.common import (
    NONE_LABEL,
    Ctx,
    QueryError,
    Sql,
    month_day,
    sql,
    template,
)
from ampkit.server.query.props import ACTIVE, Scope, event_sql, segment_sql, user_prop
from ampkit.server.query.users import is_first_event

MAX_GROUPS = 100
MAX_CELLS = 1_000_000
"""Cells in one answer at most (groups × cohorts × (brackets + 1), over every segment): about
40 MB of JSON.  Past it the query is refused, naming the parameters that shrink it — a year of
daily cohorts by 100 groups would be 13 million cells, half a gigabyte (4 GB while built)."""
MASK_BITS = 128
"""Offsets per user kept as bits of one UHUGEINT when the query spans fewer intervals."""


def _unit(interval: int) -> str:
    return "month" if interval == MONTHLY else "day"


def _query(ctx: Ctx, q: RetentionQuery, scope: Scope, segment: Sql, buckets: Buckets,
           ret_hi: dt.datetime, max_offset: int) -> Sql:
    if q.start_event.event_type == "_new":
        start_match = ACTIVE + " AND " + is_first_event(scope)
    else:
        start_match = event_sql(q.start_event)
    group = user_prop(q.group_by).label if q.group_by else Sql("NULL::VARCHAR")
    pos = "{'t': event_time, 'q': seq}"
    clock = ctx.clock
    c_bucket = buckets.trunc_sql(clock.local_sql("_p.t", scope.lo, scope.hi))
    r_bucket = buckets.trunc_sql(clock.local_sql("event_time", scope.lo, ret_hi))

    def diff(target: Sql) -> Sql:
        days = sql("date_diff(?, s._c, ", _unit(q.interval)) + target + ")"
        return "(" + days + ") // 7" if q.interval == WEEKLY else days

    head = ("WITH st AS (SELECT amplitude_id AS _a, min({pos}) AS _p, arg_min({g}, {pos}) AS _g "
            "FROM events WHERE {w} GROUP BY amplitude_id), "
            "st2 AS MATERIALIZED (SELECT _a, _g, _p, {cb} AS _c FROM st), ")
    if max_offset < MASK_BITS:
        # one pass: per user, a bitmask of the interval offsets with a returning event after
        # the starting event (a 128-bit integer), then one row per set bit — 5x faster than
        # grouping every event by (user, interval) on 10M events
        tail = ("m AS (SELECT s._a, s._c, s._g, bit_or(1::UHUGEINT << ({o})::UHUGEINT) AS _m "
                "FROM st2 AS s JOIN events ON events.amplitude_id = s._a "
                "WHERE {rw} AND {pos} > s._p GROUP BY s._a, s._c, s._g), "
                "ret AS (SELECT _a, _c, _g, _r AS _o FROM m, range({bits}) AS _bits(_r) "
                "WHERE ((_m >> _r::UHUGEINT) & 1::UHUGEINT) = 1) ")
        offset = diff(r_bucket)
    else:
        # per user and interval, the latest returning event: the user returned in that
        # interval when it comes after the starting event
        tail = ("rb AS (SELECT amplitude_id AS _ra, {rb} AS _rb, max({pos}) AS _mp FROM events "
                "WHERE {rw} AND amplitude_id IN (SELECT _a FROM st2) GROUP BY ALL), "
                "ret AS (SELECT s._a, s._c, s._g, {o} AS _o FROM st2 AS s JOIN rb "
                "ON rb._ra = s._a AND rb._mp > s._p) ")
        offset = diff(Sql("rb._rb"))
    return template(
        head + tail,
        pos=Sql(pos), g=group, w=sql("project_id = ? AND event_time >= ? AND event_time < ?",
                                     ctx.project_id, scope.lo, scope.hi) + " AND "
        + start_match + " AND " + segment, cb=c_bucket, o=offset, rb=r_bucket,
        rw=sql("project_id = ? AND event_time >= ? AND event_time < ?", ctx.project_id,
               scope.lo, ret_hi) + " AND " + event_sql(q.return_event),
        bits=Sql(str(MASK_BITS)))


def _cells(q: RetentionQuery, ctx: Ctx, base: Sql, brackets: list[tuple[int, int]]
           ) -> tuple[dict[tuple[Any, Any], int], dict[tuple[Any, Any], list[int]]]:
    """(cohort sizes, retained counts per bracket) keyed ``(cohort start, group)``, from one
    query (the cohort sizes first, kind 0; then the cells, kind 1).  A bracket is
    ``[lo, hi)`` in Days; Day 0 is the cohort itself."""
    width = len(brackets)
    sizes_sql = "SELECT 0 AS _kind, _c, _g, 0 AS _x, count(*) FROM st2 GROUP BY _c, _g"
    if q.method == "rolling":  # users by their last return offset
        cells = Sql("SELECT 1, _c, _g, _m, count(*) FROM (SELECT _a, _c, _g, max(_o) AS _m "
                    "FROM ret GROUP BY _a, _c, _g) GROUP BY _c, _g, _m")
    else:
        lows = [max(lo, 1) for lo, _ in brackets]  # Day 0 is the cohort: counted below
        highs = [hi for _, hi in brackets]
        cells = sql(
            "SELECT 1, _c, _g, b._j, count(DISTINCT _a) FROM ret JOIN (SELECT "
            "unnest(?::INTEGER[]) AS _lo, unnest(?::INTEGER[]) AS _hi, "
            "unnest(?::INTEGER[]) AS _j) AS b ON _o >= b._lo AND _o < b._hi "
            "GROUP BY _c, _g, b._j", lows, highs, list(range(width)))
    sizes: dict[tuple[Any, Any], int] = {}
    retained: dict[tuple[Any, Any], list[int]] = defaultdict(lambda: [0] * width)
    for kind, c, g, x, n in ctx.rows(base + sizes_sql + " UNION ALL " + cells):
        if kind == 0:
            sizes[(c, g)] = int(n)
        elif q.method == "rolling":  # Day N holds the users whose last return is Day N or later
            for j, (lo, _) in enumerate(brackets):
                if lo <= int(x):
                    retained[(c, g)][j] += int(n)
        elif 0 <= x < width:
            retained[(c, g)][int(x)] = int(n)
    for key, size in sizes.items():  # a bracket holding Day 0 holds the whole cohort
        for j, (lo, _) in enumerate(brackets):
            if lo == 0:
                retained[key][j] = size
    return sizes, retained


def _cell(count: int, outof: int, incomplete: bool) -> dict[str, Any]:
    return {"count": count, "outof": outof, "incomplete": incomplete}


def retention(ctx: Ctx, q: RetentionQuery) -> dict[str, Any]:
    buckets = Buckets(q.interval, q.start, q.end)
    starts = buckets.starts()
    count = len(starts)
    scope = Scope(ctx.project_id, *buckets.utc_span(ctx.clock))
    now_local = ctx.clock.to_local(ctx.now)
    brackets = (list(q.brackets or []) if q.method == "bracket"
                else [(n, n + 1) for n in range(1, count + 1)])  # Days 1 … count
    horizon = max(hi for _, hi in brackets) + 1
    ret_hi = max(ctx.clock.to_utc(buckets.step(starts[-1], horizon)), scope.hi)
    series: list[dict[str, Any]] = []
    meta: list[dict[str, Any]] = []
    cells = 0
    for seg_index, segment in enumerate(q.segments):
        base = _query(ctx, q, scope, segment_sql(segment, scope), buckets, ret_hi,
                      count + horizon + 1)
        sizes, retained = _cells(q, ctx, base, brackets)
        groups: dict[Any, int] = defaultdict(int)
        for (_, g), n in sizes.items():
            groups[g] += n
        if not groups:
            groups[NONE_LABEL if q.group_by else None] = 0
        order = sorted(groups, key=lambda g: (-groups[g], str(g)))[:MAX_GROUPS]
        cells += len(order) * count * (len(brackets) + 1)
        if cells > MAX_CELLS:
            raise _too_large(q, len(q.segments), len(order), count, len(brackets) + 1)
        for group in order:
            series.append(_series(buckets, starts, brackets, now_local, group, sizes,
                                  retained))
            item: dict[str, Any] = {"segmentIndex": seg_index, "eventIndex": 0}
            if q.group_by:
                item["groupValue"] = group
            meta.append(item)
    return {"data": {"series": series, "seriesMeta": meta}}


def _too_large(q: RetentionQuery, segments: int, groups: int, cohorts: int,
               columns: int) -> QueryError:
    """The refusal of an answer past :data:`MAX_CELLS`, naming what shrinks it."""
    what = f"{cohorts} cohorts × {columns} columns"
    if groups > 1:
        what = f"{groups} groups × {what}"
    if segments > 1:
        what = f"up to {segments} segments × {what}"
    return QueryError("g" if q.group_by else "end", (
        f"the answer would exceed {MAX_CELLS:,} cells ({what}): shorten start–end, use a "
        "coarser interval (i=7 or 30)" + (", or group by a property with fewer values"
                                           if q.group_by else "")))


def _series(buckets: Buckets, starts: list[dt.datetime], brackets: list[tuple[int, int]],
            now_local: dt.datetime, group: Any, sizes: dict[tuple[Any, Any], int],
            retained: dict[tuple[Any, Any], list[int]]) -> dict[str, Any]:
    values: dict[str, list[dict[str, Any]]] = {}
    dates: list[str] = []
    last = len(starts) - 1
    combined = [[0, 0, False] for _ in range(len(brackets) + 1)]
    for c, start in enumerate(starts):
        size = sizes.get((start, group), 0)
        kept = retained.get((start, group), [0] * len(brackets))
        label = month_day(dt.date.fromisoformat(buckets.label(start)[:10]))
        cells = [_cell(size, size, False)]
        combined[0][0] += size
        combined[0][1] += size
        for j, (_, hi) in enumerate(brackets):
            incomplete = buckets.step(start, hi) > now_local
            cells.append(_cell(kept[j], size, incomplete))
            if c + hi - 1 <= last:  # the cell's last interval lies within the range
                slot = combined[j + 1]
                slot[0] = int(slot[0]) + kept[j]
                slot[1] = int(slot[1]) + size
                slot[2] = bool(slot[2]) or incomplete
        values[label] = cells
        dates.append(label)
    return {"dates": dates[::-1], "values": values,
            "combined": [{"count": n, "outof": o, "retainedSetId": None, "incomplete": inc}
                         for n, o, inc in combined]}

