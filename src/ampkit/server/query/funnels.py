"""Funnel analysis — ``GET /api/2/funnels`` (reference §10.14).

One ``e`` per step (repeated, in order), ``start``/``end``, ``mode``, ``n``, ``i``, ``s``
(repeat for more segments), ``g``, ``cs`` (conversion window, seconds, default 30 days),
``limit``.

- **Entry**: a user enters on their *first* step-1 event inside ``start``..``end`` (project
  time zone); the conversion window is counted from that event's time, and later steps may
  happen after ``end`` as long as they are inside the window.  The segment applies to every
  step event; the group-by value is the one on the entering event; the entry's bucket (``i``)
  places the user in ``dayFunnels``.  ``n=new`` keeps users whose first active event ever lies
  in the range.
- ``ordered``: each step is the first matching event after the previous step's event (ties in
  time are broken by arrival order), within the window.
- ``sequential``: like ``ordered``, but each step must be the user's very next active event
  (``$identify``/``$groupidentify`` don't interrupt).
- ``unordered``: the window starts at the user's first event of *any* step in the range and
  lasts ``cs`` rounded down to whole days (at least one); a user reaches step k when steps
  1..k all happen inside it, in any order.  Transition times are measured between the moments
  steps 1..k-1 and 1..k were first all done.
- Times are ms: ``medianTransTimes``/``avgTransTimes`` per step from the previous step (first
  0); ``day*`` objects have one row per ``xValues`` entry and one column per step;
  ``formattedXValues`` are ``"Mar 7"``-style.  ``cumulative`` and ``stepByStep`` are fractions
  (0 when the previous count is 0).  ``data`` holds one object per segment — or, with ``g``,
  per group value (busiest first, ``limit`` of them), ``meta.groupValue`` naming it.
- ``stepTransTimeDistribution`` (documented without an example; this shape is our choice): one
  list per step (empty for the first) of bins ``{"start", "end", "bin_dist": {"users", "count",
  "propsum"}}`` over the time from the previous step in ms — edges 0, 10 s, 30 s, 1 min, 3 min,
  10 min, 30 min, 1 h, 3 h, 1 day, 7 days, up to the conversion window; ``users`` and ``count``
  are the users converting in that time (one conversion per user and step), ``propsum`` the sum
  of their times.
- ``stepPrevStepCountDistribution`` (documented without an example; our choice, same bin shape):
  one list per step (empty for the first) over how many times each converting user did the
  previous step's event before converting — from their previous-step event up to (not
  including) this step's event in ``ordered``/``sequential`` mode (so always 1 in
  ``sequential``), from the window's start up to the moment this step was reached in
  ``unordered`` mode.  Bins ``[1,2)``, ``[2,3)``, ``[3,4)``, ``[4,5)``, ``[5,6)``, ``[6,11)``,
  ``[11,21)``, ``[21,51)``, ``[51,101)`` and ``[101, null)`` (no upper end); ``users`` and
  ``count`` are the users in the bin, ``propsum`` the sum of their counts.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from itertools import pairwise
from typing import Any, Literal

from pydantic import Field

from ampkit.server.query.clock import DAILY, MONTHLY, WEEKLY, Buckets
from ampkit.server.query.common import (
    NONE_LABEL,
    Ctx,
    QueryError,
    QueryParams,
    Sql,
    all_of,
    any_of,
    join,
    month_day,
    number,
    ratio,
    sql,
    template,
    validate,
)
from ampkit.server.query.params import (
    EventSpec,
    Int,
    Interval,
    SegmentedParams,
    parse_event,
    segmented,
)
from ampkit.server.query.props import Scope, active_events, event_sql, segment_sql, user_prop
from ampkit.server.query.users import first_events

BIN_EDGES_MS = (0, 10_000, 30_000, 60_000, 180_000, 600_000, 1_800_000, 3_600_000,
                10_800_000, 86_400_000, 604_800_000)
"""Lower edges of the conversion-time bins; the last bin ends at the conversion window."""
COUNT_EDGES = (1, 2, 3, 4, 5, 6, 11, 21, 51, 101)
"""Lower edges of the previous-step count bins; the last bin has no upper end."""

DISPLAY = {"_active": "[Amplitude] Any Active Event", "_all": "[Amplitude] Any Event",
           "revenue_amount": "[Amplitude] Revenue"}


class FunnelParams(SegmentedParams):
    steps: list[EventSpec] = Field(min_length=1, max_length=50)
    mode: Literal["ordered", "unordered", "sequential"] = "ordered"
    n: Literal["new", "active"] = "active"
    i: Interval = 1
    cs: Int = Field(default=2_592_000, ge=1)
    limit: Int = Field(default=100, ge=1, le=1000)


def step_name(spec: EventSpec) -> str:
    return DISPLAY.get(spec.event_type, spec.event_type.removeprefix("ce:"))


def _pos(alias: str = "") -> str:
    return f"{{'t': {alias}_t, 'q': {alias}_q}}"


def _ordered(p: FunnelParams, count: int, window_ms: int) -> list[Sql]:
    """CTE bodies ``s0``, ``s1``…: per user ``_a``, ``_g``, ``_t0`` (entry time), ``_p``
    (position of this step: time, then arrival order), ``_pp`` (the previous step's, from
    ``s1`` on), ``_d`` (ms since the previous step).  In sequential mode step k is the event at
    ``n{k}._n``, the user's next active event after step k-1 (see :func:`_next_active`)."""
    seq = p.mode == "sequential"
    first = (f"SELECT _a, arg_min(_g, {_pos()}) AS _g, min(_t) AS _t0, min({_pos()}) AS _p, "
             "0 AS _d FROM ev WHERE _m0 AND _in GROUP BY _a")
    steps = [Sql(first)]
    for k in range(1, count):
        if seq:  # one event per user at most: the next one, if it is this step's
            steps.append(
                Sql(f"SELECT s._a, s._g, s._t0, s._p AS _pp, {_pos('e.')} AS _p, "
                    "date_diff('millisecond', s._p.t, e._t) AS _d "
                    f"FROM s{k - 1} AS s JOIN n{k} AS n ON n._a = s._a JOIN ev AS e "
                    f"ON e._a = s._a AND e._t = n._n.t AND e._q = n._n.q AND e._m{k} "
                    "AND e._t <= s._t0 + to_milliseconds(") + sql("?::BIGINT)", window_ms))
            continue
        steps.append(
            Sql(f"SELECT s._a, s._g, s._t0, s._p AS _pp, min({_pos('e.')}) AS _p, "
                "date_diff('millisecond', s._p.t, min(e._t)) AS _d"
                f" FROM s{k - 1} AS s JOIN ev AS e ON e._a = s._a AND e._m{k} "
                f"AND {_pos('e.')} > s._p "
                "AND e._t <= s._t0 + to_milliseconds(")
            + sql("?::BIGINT) GROUP BY s._a, s._g, s._t0, s._p", window_ms))
    return steps


def _next_active(k: int, where: Sql) -> Sql:
    """CTE body ``n{k}``: per user of ``s{k-1}``, the position ``_n`` of their next active
    event after step k-1 (among the events ``where`` selects, any type, segment or not).

    A join of the few step users with the events, instead of ranking every event of every
    user by time (a window over all of them took 1.3 s on 10M events)."""
    return (Sql(f"SELECT s._a, min({{'t': x.event_time, 'q': x.seq}}) AS _n FROM s{k - 1} AS s "
                "JOIN events AS x ON x.amplitude_id = s._a AND x.event_time >= s._p.t "
                "AND {'t': x.event_time, 'q': x.seq} > s._p WHERE ")
            + where + " GROUP BY s._a")


def _unordered(count: int, window_ms: int) -> list[Sql]:
    """``u`` (per user: entry time ``_t0`` and the first time ``_fk`` of each step inside the
    window), then one body per step: users who did steps 1..k, with ``_d`` and ``_c`` (their
    previous-step events from the window's start until step k was reached)."""
    firsts = join([sql(f"min(e._t) FILTER (WHERE e._m{k} AND e._t >= u._t0 AND e._t <= "
                       f"u._t0 + to_milliseconds(?::BIGINT)) AS _f{k}", window_ms)
                   for k in range(count)], ", ")
    base = "SELECT u._a, u._g, u._t0, " + firsts + Sql(
        " FROM (SELECT _a, arg_min(_g, " + _pos() + ") AS _g, min(_t) AS _t0 FROM ev "
        "WHERE _in GROUP BY _a) AS u JOIN ev AS e ON e._a = u._a GROUP BY u._a, u._g, u._t0")
    out = []
    for k in range(count):
        done = f"greatest({', '.join(f'u._f{j}' for j in range(k + 1))})"
        before = f"greatest({', '.join(f'u._f{j}' for j in range(k))})" if k else "u._t0"
        present = " AND ".join(f"u._f{j} IS NOT NULL" for j in range(k + 1))
        prev = (f"(SELECT count(*) FROM ev AS e WHERE e._a = u._a AND e._m{k - 1} "
                f"AND e._t >= u._t0 AND e._t <= {done})" if k else "NULL::BIGINT")
        out.append(Sql(f"SELECT u._a, u._g, u._t0, date_diff('millisecond', {before}, {done}) "
                       f"AS _d, {prev} AS _c FROM u WHERE {present}"))
    return [base, *out]


def _window_ms(p: FunnelParams) -> int:
    if p.mode == "unordered":
        return max(p.cs // 86_400, 1) * 86_400_000
    return p.cs * 1000


def _bins(window_ms: int) -> list[tuple[int, int]]:
    """[start, end) of each conversion-time bin inside the window."""
    edges = [e for e in BIN_EDGES_MS if e < window_ms] + [window_ms]
    return list(pairwise(edges))


def _count_bins() -> list[tuple[int, int | None]]:
    """[start, end) of each previous-step count bin; the last is open (end None)."""
    return [*pairwise(COUNT_EDGES), (COUNT_EDGES[-1], None)]


def _query(ctx: Ctx, p: FunnelParams, scope: Scope, segment: Sql, buckets: Buckets) -> Sql:
    window_ms = _window_ms(p)
    matches = [event_sql(spec, "e") for spec in p.steps]
    group = user_prop(p.g).label if p.g else Sql("NULL::VARCHAR")
    flags = join([m.wrap() + f" AS _m{k}" for k, m in enumerate(matches)], ", ")
    entry = sql("event_time >= ? AND event_time < ?", scope.lo, scope.hi)
    if p.n == "new":
        entry = entry + " AND amplitude_id IN (SELECT _a FROM (" + first_events(scope) + "))"
    hi = scope.hi + dt.timedelta(milliseconds=window_ms)
    where = sql("project_id = ? AND event_time >= ? AND event_time < ?", ctx.project_id,
                scope.lo, hi)
    rows = template("SELECT amplitude_id AS _a, event_time AS _t, seq AS _q, {g} AS _g, "
                    "{f}, {e} AS _in FROM events WHERE {w}", g=group, f=flags,
                    e=entry.wrap(), w=all_of([where, segment, any_of(matches)]))
    if p.mode == "unordered":
        base, *steps = _unordered(len(matches), window_ms)
        ctes = [Sql("ev AS MATERIALIZED (") + rows + ")", Sql("u AS (") + base + ")"]
    else:
        ctes = [Sql("ev AS MATERIALIZED (") + rows + ")"]
        steps = _ordered(p, len(matches), window_ms)
        for k, body in enumerate(steps):
            if k and p.mode == "sequential":
                active = all_of([sql("x.project_id = ? AND x.event_time < ?", ctx.project_id,
                                     hi), active_events("x.")])
                ctes.append(Sql(f"n{k} AS (") + _next_active(k, active) + ")")
            ctes.append(Sql(f"s{k} AS (") + body + ")")
        # previous-step events from the previous step's event up to this step's
        ctes += [Sql(f"c{k} AS (SELECT s._a, count(*) AS _c FROM s{k} AS s JOIN ev AS e "
                     f"ON e._a = s._a AND e._m{k - 1} AND {_pos('e.')} >= s._pp "
                     f"AND {_pos('e.')} < s._p GROUP BY s._a)") for k in range(1, len(steps))]
        steps = [Sql("SELECT _a, _g, _t0, _d, NULL::BIGINT AS _c FROM s0")] + [
            Sql(f"SELECT s._a, s._g, s._t0, s._d, c._c FROM s{k} AS s "
                f"LEFT JOIN c{k} AS c ON c._a = s._a") for k in range(1, len(steps))]
    bucket = buckets.trunc_sql(ctx.clock.local_sql("_t0", scope.lo, scope.hi))
    union = join([Sql(f"SELECT {k} AS _k, _g, _t0, _d, _c FROM (") + s + ")"
                  for k, s in enumerate(steps)], " UNION ALL ")
    hist = ", ".join(_histogram("_d", lo, hi) for lo, hi in _bins(window_ms))
    counts = ", ".join(_histogram("_c", lo, hi) for lo, hi in _count_bins())
    return "WITH " + join(ctes, ", ") + template(
        " SELECT _k, _g, {b} AS _b, count(*), median(_d), avg(_d), " + hist + ", " + counts
        + " FROM ({u}) GROUP BY GROUPING SETS ((_k, _g, _b), (_k, _g))", b=bucket, u=union)


def _histogram(column: str, lo: int, hi: int | None) -> str:
    """Users with ``column`` in [lo, hi), and the sum of their values."""
    inside = f"{column} >= {lo}" + (f" AND {column} < {hi}" if hi is not None else "")
    return (f"count(*) FILTER (WHERE {inside}), "
            f"coalesce(sum({column}) FILTER (WHERE {inside}), 0)")


def _formatted(buckets: Buckets) -> list[str]:
    out = []
    for start in buckets.starts():
        shown = max(start, dt.datetime.combine(buckets.first, dt.time()))
        text = month_day(shown.date())
        if buckets.interval not in (DAILY, WEEKLY, MONTHLY):
            text += shown.strftime(" %H:%M")
        out.append(text)
    return out


def _distribution(hist: list[Any], bins: Sequence[tuple[int, int | None]]
                  ) -> list[dict[str, Any]]:
    """One step's bins from its (users, sum) pairs, in bin order."""
    out = []
    for j, (lo, hi) in enumerate(bins):
        users = int(hist[2 * j]) if hist else 0
        total = number(hist[2 * j + 1]) if hist else 0
        out.append({"start": lo, "end": hi,
                    "bin_dist": {"users": users, "count": users, "propsum": total}})
    return out


def _group(names: list[str], meta: dict[str, Any], cells: dict[tuple[int, Any], list[Any]],
           buckets: Buckets, window_ms: int) -> dict[str, Any]:
    steps = len(names)
    index = buckets.index()
    labels = buckets.labels()
    formatted = _formatted(buckets)
    times, counts = _bins(window_ms), _count_bins()
    split = 2 * len(times)

    def total(k: int) -> list[Any]:
        return cells.get((k, None), [0, 0, 0, []])

    raw = [int(total(k)[0]) for k in range(steps)]
    day: list[list[list[int | float]]] = [[[0] * steps for _ in labels] for _ in range(3)]
    for (k, bucket), (count, median, avg, _) in cells.items():
        pos = index.get(bucket) if bucket is not None else None
        if pos is not None and 0 <= pos < len(labels):
            day[0][pos][k] = int(count)
            day[1][pos][k] = number(round(median or 0)) if k else 0
            day[2][pos][k] = number(round(avg or 0)) if k else 0
    return {
        "meta": meta, "events": names, "cumulativeRaw": raw,
        "cumulative": [ratio(c, raw[0]) for c in raw],
        "stepByStep": [ratio(c, raw[k - 1]) if k else ratio(c, raw[0])
                       for k, c in enumerate(raw)],
        "medianTransTimes": [number(round(total(k)[1] or 0)) if k else 0
                             for k in range(steps)],
        "avgTransTimes": [number(round(total(k)[2] or 0)) if k else 0 for k in range(steps)],
        "dayFunnels": {"series": day[0], "xValues": labels, "formattedXValues": formatted},
        "dayMedianTransTimes": {"series": day[1], "xValues": labels,
                                "formattedXValues": formatted},
        "dayAvgTransTimes": {"series": day[2], "xValues": labels,
                             "formattedXValues": formatted},
        "stepTransTimeDistribution": [[]] + [
            _distribution(total(k)[3][:split], times) for k in range(1, steps)],
        "stepPrevStepCountDistribution": [[]] + [
            _distribution(total(k)[3][split:], counts) for k in range(1, steps)],
    }


def funnels(ctx: Ctx, params: QueryParams) -> dict[str, Any]:
    steps: list[EventSpec] = []
    for k, raw in enumerate(params.getlist("e")):
        try:
            steps.append(parse_event(raw, "e"))
        except QueryError as exc:
            raise QueryError("e", exc.rule, where=f"[{k}]{exc.where}") from None
    if not steps:
        raise QueryError("e", "is required: one event definition per step")
    p = validate(FunnelParams, {**segmented(params, "mode", "n", "i", "cs", "limit"),
                                "steps": steps})
    buckets = Buckets(p.i, p.start, p.end)
    scope = Scope(ctx.project_id, *buckets.utc_span(ctx.clock))
    names = [step_name(s) for s in p.steps]
    data: list[dict[str, Any]] = []
    for seg_index, segment in enumerate(p.segments):
        rows = ctx.rows(_query(ctx, p, scope, segment_sql(segment, scope), buckets))
        by_group: dict[Any, dict[tuple[int, Any], list[Any]]] = defaultdict(dict)
        for k, group, bucket, count, median, avg, *hist in rows:
            by_group[group][(int(k), bucket)] = [count, median, avg, hist]
        if not by_group:
            by_group[NONE_LABEL if p.g else None] = {}
        order = sorted(by_group, key=lambda g: (-by_group[g].get((0, None), [0])[0], str(g)))
        for group in order[:p.limit] if p.g else order:
            meta: dict[str, Any] = {"segmentIndex": seg_index}
            if p.g:
                meta["groupValue"] = group
            data.append(_group(names, meta, by_group[group], buckets, _window_ms(p)))
    return {"data": data}
