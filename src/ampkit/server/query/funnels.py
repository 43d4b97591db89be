"""Funnel analysis — ``GET /api/2/funnels`` (reference §10.14).

One ``e`` per step (repeated, in order), ``start``/``end``, ``mode``, ``n``, ``i``, ``s``
(repeat for more segments), ``g``, ``cs`` (conversion window, seconds, default 30 days, at
most 366 days = 31,622,400 s: Amplitude's longest window is a year), ``limit`` — read with
:class:`~ampkit.models.dashboard.funnels.FunnelQuery`.

Which attempt counts — Amplitude's "earliest-longest" rule (their help pages on funnel
conversion: a user enters with *any* step-1 event in the range; for unique users the attempt
that gets furthest counts, the earliest among equals):

- **Attempts**: every step-1 event inside ``start``..``end`` (project time zone) starts one;
  its conversion window is ``[t0, t0 + cs]`` from that event's time, so later steps may happen
  after ``end``.  ``n=new`` keeps users whose first active event ever lies in the range.
- ``ordered``: each later step is the first matching event after the previous step's event
  (time, then ``event_id`` — the reference's counter "to order events sharing user and
  timestamp", events without one after those with one — then arrival order ``seq``) inside the
  window — the earliest is the best choice for a given start.
- ``sequential``: each later step must be the user's very next active event after the previous
  step's event, inside the window (``$identify``/``$groupidentify`` don't interrupt; any other
  event does, whatever its type and whether the segment keeps it).
- ``unordered``: the window lasts ``cs`` rounded down to whole days (the reference's ``cs``
  note; at least one day is our choice, so a shorter ``cs`` still has a window); step k is
  reached once steps 1..k have all happened in the window at or after ``t0``, in any order,
  each later step by an event other than the entry (one event does not fill two steps).
  Transition times are measured between the moments steps 1..k-1 and 1..k were first all
  done.
- An attempt's depth is how many steps it reached.  **Per user the attempt with the greatest
  depth counts, the earliest among equals**, and everything reported for the user comes from
  it: the steps they count in, the transition times and both distributions, the group-by value
  (the one on its step-1 event) and its ``dayFunnels`` bucket (``i``, of its step-1 event).
- The segment applies to every step event (an event outside it is no step, though in
  sequential mode it still interrupts).
- Times are ms: ``medianTransTimes``/``avgTransTimes`` per step from the previous step (first
  0); ``day*`` objects have one row per ``xValues`` entry and one column per step;
  ``formattedXValues`` are ``"Mar 7"``-style.  ``cumulative`` and ``stepByStep`` are fractions
  (0 when the previous count is 0).  ``data`` holds one object per segment — or, with ``g``,
  per group value (busiest first, ``limit`` of them), ``meta.groupValue`` naming it.
- ``stepTransTimeDistribution`` (documented without an example; this shape is our choice): one
  list per step (empty for the first) of bins ``{"start", "end", "bin_dist": {"users", "count",
  "propsum"}}`` over the time from the previous step in ms — edges 0, 10 s, 30 s, 1 min, 3 min,
  10 min, 30 min, 1 h, 3 h, 1 day, 7 days, up to the conversion window (the last bin includes
  its end: a step exactly ``cs`` after the entry is inside the window); ``users`` and ``count``
  are the users converting in that time (one conversion per user and step), ``propsum`` the sum
  of their times.
- ``stepPrevStepCountDistribution`` (documented without an example; our choice, same bin shape):
  one list per step (empty for the first) over how many times each converting user did the
  previous step's event before converting — from their previous-step event up to (not
  including) this step's event in ``ordered``/``sequential`` mode (so 1 in ``sequential``,
  unless step 1 also matches the inactive events in between, as ``_all`` does), from the
  attempt's start up to the moment this step was reached in
  ``unordered`` mode.  Bins ``[1,2)``, ``[2,3)``, ``[3,4)``, ``[4,5)``, ``[5,6)``, ``[6,11)``,
  ``[11,21)``, ``[21,51)``, ``[51,101)`` and ``[101, null)`` (no upper end); ``users`` and
  ``count`` are the users in the bin, ``propsum`` the sum of their counts.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from ampkit.models.dashboard.common import EventDef
from ampkit.models.dashboard.funnels import DEFAULT_CONVERSION_WINDOW, FunnelQuery
from ampkit.server.query.clock import DAILY, MONTHLY, WEEKLY, Buckets
from ampkit.server.query.common import (
    IDENTIFY_EVENTS,
    NONE_LABEL,
    Ctx,
    Sql,
    all_of,
    any_of,
    join,
    month_day,
    number,
    ratio,
    sql,
    template,
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


DEFAULT_LIMIT = 100


def step_name(step: EventDef) -> str:
    return DISPLAY.get(step.event_type, step.event_type.removeprefix("ce:"))


WIDE_POSITION = "epoch_ms({t})::HUGEINT * 18446744073709551616::HUGEINT + {q}"
"""An event's place in its user's history as one sortable number: time (ms), then arrival order
``seq`` (any BIGINT fits below 2**64, so the order is exactly (time, seq))."""
STRUCT_POSITION = "{{'t': epoch_ms({t}), 'n': {e} IS NULL, 'e': coalesce({e}, 0), 'q': {q}}}"
"""The same place as a struct (compared field by field), when ``event_id`` spans too much for
a number: time, ``event_id`` (none last), ``seq``."""
BIGINT_SPAN = 2**63
"""Largest count of (ms, seq) pairs :func:`_position` numbers with a BIGINT."""
HUGEINT_SPAN = 2**126
"""Largest count of (ms, event_id, seq) triples :func:`_position` numbers with a HUGEINT."""


def _position(ctx: Ctx, lo: dt.datetime, hi: dt.datetime) -> str:
    """SQL (with ``{t}``, ``{e}``, ``{q}`` for the time, event_id and seq columns) numbering the
    events between ``lo`` and ``hi`` in their order: time, then ``event_id`` (the reference's
    "increasing counter to order events sharing user and timestamp"; events without one after
    those with one), then arrival (``seq``).  Without any ``event_id`` in the range: a BIGINT —
    (ms since ``lo``) × (the range of seq there) + (seq - its least) — when that fits, which it
    does unless the range holds more than ~10^8 events per year of ms; else
    :data:`WIDE_POSITION` (a HUGEINT, slower to sort).  With event_ids, their range multiplies
    in, as a BIGINT, a HUGEINT, or past that :data:`STRUCT_POSITION`."""
    row = ctx.one(sql("SELECT min(seq), max(seq), min(event_id), max(event_id) FROM events "
                      "WHERE project_id = ? AND event_time >= ? AND event_time < ?",
                      ctx.project_id, lo, hi))
    if row is None or row[0] is None:
        return "0"
    least, span = int(row[0]), int(row[1]) - int(row[0]) + 1
    ms = (hi - lo) // dt.timedelta(milliseconds=1) + 1
    base = (lo - dt.datetime(1970, 1, 1)) // dt.timedelta(milliseconds=1)
    if row[2] is None:
        if ms * span > BIGINT_SPAN - 1:
            return WIDE_POSITION
        return f"(epoch_ms({{t}}) - {base}) * {span} + ({{q}} - {least})"
    low = int(row[2])
    ids = int(row[3]) - low + 2  # 0 … ids-2 for the event_ids, ids-1 for none
    if ms * ids * span > HUGEINT_SPAN:
        return STRUCT_POSITION
    wide = "::HUGEINT" if ms * ids * span > BIGINT_SPAN - 1 else ""  # the same sum, wider
    tie = f"coalesce({{e}}{wide} - {low}, {ids - 1})"
    return f"((epoch_ms({{t}}) - {base}){wide} * {ids} + {tie}) * {span} + ({{q}} - {least})"


def _cte(name: str, body: str | Sql, materialized: bool = False) -> Sql:
    return Sql(f"{name} AS {'MATERIALIZED ' if materialized else ''}(") + body + ")"


def _depth(flags: Sequence[str]) -> str:
    """Steps reached when step k (k >= 1) is reached iff ``flags[k-1]`` and every earlier flag
    hold (NULL counts as false)."""
    if not flags:
        return "1"
    cases = " ".join(f"WHEN NOT coalesce({f}, FALSE) THEN {k}" for k, f in enumerate(flags, 1))
    return f"CASE {cases} ELSE {len(flags) + 1} END"


def _chains(count: int, w: str) -> list[Sql]:
    """The attempts of ordered and sequential funnels (``count`` >= 2): ``fst`` (per user the
    earliest attempt, ``_b0``), ``grp`` (the attempts reaching step 2 inside their window, with
    their group ``_p1``/``_t1``), ``h1`` (per group: its step-2 event, its latest attempt
    ``_lp`` at ``_last``) and ``ch`` (per group the greedy chain ``_p2``/``_t2``…).

    An attempt's later steps are the greedy chain: step k is the first step-k event after step
    k-1's (the earliest is best for a fixed start).  The attempts between two consecutive
    step-2 events share their step-2 event — they form its *group* — hence the whole chain.  So
    each attempt only finds its group (a hash join with the step-2 events, each knowing the
    previous one: cheap even when step 1 is a common event), and the chain is walked once per
    group (``h2``, ``h3``…: the first step-k event after step k-1's, as long as the group's
    latest attempt can still reach it in its window)."""
    # per user the attempt of least position (unique): one plain arg_min per field, a struct
    # of them after (an arg_min of a struct costs three times as much)
    first = "{'p': min(_p), 't': arg_min(_t, _p), 'g': arg_min(_g, _p), 's': NULL}"
    ctes = [
        _cte("fst", f"SELECT _a, {first} AS _b0 FROM ev WHERE _m0 AND _in GROUP BY _a"),
        _cte("s1", "SELECT _a, _p, _t, lag(_p) OVER (PARTITION BY _a ORDER BY _p) AS _pp "
                   "FROM ev WHERE _m1"),
        _cte("grp", "SELECT a._a, a._p, a._t, a._g, s._p AS _p1, s._t AS _t1 FROM ev AS a "
                    "JOIN s1 AS s ON s._a = a._a AND a._p < s._p AND (s._pp IS NULL OR "
                    f"a._p >= s._pp) AND a._t >= s._t - {w} WHERE a._m0 AND a._in", True),
        _cte("h1", "SELECT _a, _p1, any_value(_t1) AS _t1, max(_p) AS _lp, max(_t) AS _last "
                   "FROM grp GROUP BY _a, _p1", True)]
    for k in range(2, count):
        ctes.append(_cte(
            f"h{k}", f"SELECT c._a, c._p1, c._last, min({{'p': e._p, 't': e._t}}) AS _x "
                     f"FROM h{k - 1} AS c JOIN ev AS e ON e._a = c._a AND e._m{k} "
                     f"AND e._p > {'c._p1' if k == 2 else 'c._x.p'} AND e._t <= c._last + {w} "
                     "GROUP BY c._a, c._p1, c._last", True))
    chain = "".join(f", h{k}._x.p AS _p{k}, h{k}._x.t AS _t{k}" for k in range(2, count))
    links = "".join(f" LEFT JOIN h{k} ON h{k}._a = h1._a AND h{k}._p1 = h1._p1"
                    for k in range(2, count))
    ctes.append(_cte("ch", f"SELECT h1._a, h1._p1, h1._t1, h1._lp{chain} FROM h1{links}", True))
    return ctes


def _pick(count: int, depth: str, source: str) -> list[Sql]:
    """``deep`` (per user the position of the earliest attempt reaching step d+1: ``_b{d}``,
    from ``source`` — attempts ``a`` with their group's chain ``c`` — whose ``depth`` is SQL)
    and ``pick``: per entering user the attempt that counts — ``_g``, ``_t0``, ``_n`` (steps
    reached), ``_p0``…, ``_t1``… (position and time of each step reached, NULL past ``_n``).
    Positions are unique, so the chosen attempt is found again in ``grp`` by its position (a
    hash join: cheaper than carrying its fields through the aggregate as a struct)."""
    reach = ", ".join(f"min(_p) FILTER (WHERE _n > {d}) AS _b{d}" for d in range(1, count))
    deepest = " ".join(f"WHEN _b{d} IS NOT NULL THEN {d + 1}" for d in range(count - 1, 0, -1))
    chosen = ", ".join(f"_b{d}" for d in range(count - 1, 0, -1))
    fields = "".join(f", CASE WHEN b._n > {k} THEN c._t{k} END AS _t{k}"
                     f", CASE WHEN b._n > {k} THEN c._p{k} END AS _p{k}" for k in range(1, count))
    return [_cte("deep", f"SELECT _a, {reach} FROM (SELECT a._a, a._p, {depth} AS _n "
                         f"FROM {source}) GROUP BY _a"), _cte(
        "pick", "SELECT b._a, coalesce(g._g, b._b0.g) AS _g, coalesce(g._t, b._b0.t) AS _t0, "
                f"b._n, coalesce(g._p, b._b0.p) AS _p0{fields} "
                f"FROM (SELECT _a, _b0, coalesce({chosen}) AS _c, CASE {deepest} ELSE 1 END "
                "AS _n FROM fst LEFT JOIN deep USING (_a)) AS b "
                "LEFT JOIN grp AS g ON g._a = b._a AND g._p = b._c "
                "LEFT JOIN ch AS c ON c._a = b._a AND c._p1 = g._p1")]


def _single() -> list[Sql]:
    """``pick`` of a one-step funnel: each user's earliest attempt."""
    return [_cte("pick", "SELECT _a, arg_min(_g, _p) AS _g, min(_t) AS _t0, 1 AS _n, "
                         "min(_p) AS _p0 FROM ev WHERE _m0 AND _in GROUP BY _a")]


def _ordered(count: int, w: str) -> list[Sql]:
    """``pick`` in ordered mode (see :func:`_chains` and :func:`_pick`): within a group a later
    attempt reaches at least as far (same chain, later deadline), and its depth is how many of
    the chain's steps lie inside its window."""
    if count == 1:
        return _single()
    depth = _depth([f"c._t{k} <= a._t + {w}" for k in range(1, count)])
    return [*_chains(count, w), *_pick(count, depth, "grp AS a JOIN ch AS c "
                                                     "ON c._a = a._a AND c._p1 = a._p1")]


def _sequential(count: int, w: str, active: Sql, inactive_entries: bool, position: str
                ) -> list[Sql]:
    """``pick`` in sequential mode: step k must be the user's very next active event after step
    k-1's — so the chain is the ordered one (:func:`_chains`), cut at the first link with
    another active event in between (any type, in the segment or not; ``$identify`` and
    ``$groupidentify`` don't count).  In a group only the latest attempt can be next to the
    step-2 event (unless step 1 also matches inactive events: then every attempt is tried).
    Whether events lie inside the links is one join of all of them with the events
    (``gap``), each bounded in time by its link."""
    if count == 1:
        return _single()
    ctes = _chains(count, w)
    latest = "" if inactive_entries else " AND a._p = c._lp"
    ctes.append(_cte("cand", f"SELECT a.* FROM grp AS a JOIN ch AS c ON c._a = a._a "
                             f"AND c._p1 = a._p1{latest}", True))
    # link 1 per attempt (keyed by its position), links 2… per group (keyed by its step 2)
    links = ["SELECT _a, _p AS _key, 1 AS _k, _t AS _lt, _p AS _lp, _t1 AS _ht, _p1 AS _hp "
             "FROM cand"] + [
        f"SELECT _a, _p1, {k}, _t{k - 1}, _p{k - 1}, _t{k}, _p{k} FROM ch WHERE _p{k} IS NOT NULL"
        for k in range(2, count)]
    inside = position.format(t="x.event_time", e="x.event_id", q="x.seq")
    ctes.append(_cte("gap", Sql(
        f"SELECT l._a, l._key, l._k = 1 AS _one, min(l._k) FILTER (WHERE {inside} > l._lp "
        f"AND {inside} < l._hp) AS _k FROM ({' UNION ALL '.join(links)}) AS l "
        "JOIN events AS x ON x.amplitude_id = l._a AND x.event_time >= l._lt "
        "AND x.event_time <= l._ht WHERE ") + active + " GROUP BY l._a, l._key, l._k = 1"))
    ordered = _depth([f"c._t{k} <= a._t + {w}" for k in range(1, count)])
    depth = (f"CASE WHEN g1._k IS NOT NULL THEN 1 WHEN g2._k < {ordered} THEN g2._k "
             f"ELSE {ordered} END")
    source = ("cand AS a JOIN ch AS c ON c._a = a._a AND c._p1 = a._p1 "
              "LEFT JOIN gap AS g1 ON g1._a = a._a AND g1._key = a._p AND g1._one "
              "LEFT JOIN gap AS g2 ON g2._a = a._a AND g2._key = a._p1 AND NOT g2._one")
    return [*ctes, *_pick(count, depth, source)]


def _unordered(count: int, w: str) -> list[Sql]:
    """``pick`` (as :func:`_pick`) in unordered mode, where ``_t1``… are the moments steps 1..k
    were first all done inside the attempt's window.  ``_f{k}``: the first step-k event at or
    after the entry, inside the window, other than the entry event itself (one event fills one
    step: with ``[_active, Purchase]`` a lone Purchase enters and converts no further) — each
    step-k event knows the previous one's time and the next one's (``s{k}``), so an attempt
    meets just the one following its entry (a hash join), or the next when that is the entry."""
    ctes = [_cte(f"s{k}", f"SELECT _a, _t, _p, lag(_t) OVER w AS _pt, lead(_t) OVER w AS _nt "
                          f"FROM ev WHERE _m{k} WINDOW w AS (PARTITION BY _a ORDER BY _p)")
            for k in range(1, count)]
    prev = "(SELECT _a, _p, _t AS _t0, _g FROM ev WHERE _m0 AND _in)"
    for k in range(1, count):  # one join per statement: no join order to search for
        hit = "CASE WHEN x._p = a._p THEN x._nt ELSE x._t END"
        ctes.append(_cte(f"u{k}", f"SELECT a.*, CASE WHEN {hit} <= a._t0 + {w} THEN {hit} END "
                                  f"AS _f{k} FROM {prev} AS a LEFT JOIN s{k} AS x "
                                  f"ON x._a = a._a AND a._t0 <= x._t AND (x._pt IS NULL "
                                  f"OR x._pt < a._t0)", True))
        prev = f"u{k}"

    # per user: the earliest attempt (_b0) and the earliest reaching step d+1 (_b{d})
    depth = _depth([f"_f{k} IS NOT NULL" for k in range(1, count)])
    reach = ", ".join(["min(_p) AS _b0"] + [f"min(_p) FILTER (WHERE _n > {d}) AS _b{d}"
                                             for d in range(1, count)])
    ctes.append(_cte("bst", f"SELECT _a, {reach} FROM (SELECT _a, _p, {depth} AS _n FROM {prev}) "
                            "GROUP BY _a"))
    deepest = " ".join(f"WHEN _b{d} IS NOT NULL THEN {d + 1}" for d in range(count - 1, -1, -1))
    chosen = ", ".join(f"_b{d}" for d in range(count - 1, -1, -1))
    done = "".join(f", CASE WHEN b._n > {k} THEN greatest(u._t0"
                   + "".join(f", u._f{j}" for j in range(1, k + 1)) + f") END AS _t{k}"
                   for k in range(1, count))
    return [*ctes, _cte("pick", f"SELECT b._a, u._g, u._t0, b._n, u._p AS _p0{done} FROM "
                                f"(SELECT _a, coalesce({chosen}) AS _c, CASE {deepest} END AS _n "
                                f"FROM bst) AS b JOIN {prev} AS u ON u._a = b._a AND u._p = b._c")]


def _only_active(step: EventDef) -> bool:
    """Whether a step matches active events only (``$identify``/``$groupidentify`` never)."""
    if step.event_type in ("_all", "revenue_amount", "unverified_revenue"):
        return False
    return step.event_type.removeprefix("ce:") not in IDENTIFY_EVENTS


def _window_ms(q: FunnelQuery) -> int:
    cs = q.conversion_window or DEFAULT_CONVERSION_WINDOW
    if q.mode == "unordered":
        return max(cs // 86_400, 1) * 86_400_000
    return cs * 1000


def _bins(window_ms: int) -> list[tuple[int, int]]:
    """[start, end) of each conversion-time bin inside the window."""
    edges = [e for e in BIN_EDGES_MS if e < window_ms] + [window_ms]
    return list(pairwise(edges))


def _count_bins() -> list[tuple[int, int | None]]:
    """[start, end) of each previous-step count bin; the last is open (end None)."""
    return [*pairwise(COUNT_EDGES), (COUNT_EDGES[-1], None)]


def _query(ctx: Ctx, q: FunnelQuery, scope: Scope, segment: Sql, buckets: Buckets) -> Sql:
    window_ms = _window_ms(q)
    w = f"to_milliseconds({int(window_ms)})"
    count = len(q.steps)
    sequential = q.mode == "sequential"
    matches = [event_sql(step) for step in q.steps]
    group = user_prop(q.group_by).label if q.group_by else Sql("NULL::VARCHAR")
    # a later step of a sequential funnel is the next *active* event: never an inactive one
    flags = join([Sql("coalesce(") + (all_of([m, active_events()]) if k and sequential else m)
                  + f", FALSE) AS _m{k}" for k, m in enumerate(matches)], ", ")
    entry = sql("event_time >= ? AND event_time < ?", scope.lo, scope.hi)
    if q.user_type == "new":
        entry = entry + " AND amplitude_id IN (SELECT _a FROM (" + first_events(scope) + "))"
    hi = scope.hi + dt.timedelta(milliseconds=window_ms)
    where = sql("project_id = ? AND event_time >= ? AND event_time < ?", ctx.project_id,
                scope.lo, hi)
    position = _position(ctx, scope.lo, hi)
    rows = template("SELECT amplitude_id AS _a, event_time AS _t, {pos} AS _p, {g} AS _g, "
                    "{f}, coalesce({e}, FALSE) AS _in FROM events WHERE {w}",
                    pos=position.format(t="event_time", e="event_id", q="seq"), g=group,
                    f=flags,
                    e=entry.wrap(), w=all_of([where, segment, any_of(matches)]))
    ctes = [_cte("ev", rows, True)]
    if q.mode == "unordered":
        ctes += _unordered(count, w)
        # previous-step events from the window's start until this step was reached
        counted = [f"e._m{k - 1} AND e._t >= u._t0 AND e._t <= u._t{k}" for k in range(1, count)]
    elif sequential:
        active = all_of([sql("x.project_id = ? AND x.event_time >= ? AND x.event_time < ?",
                             ctx.project_id, scope.lo, hi), active_events("x.")])
        ctes += _sequential(count, w, active, not _only_active(q.steps[0]), position)
        counted = [f"e._m{k - 1} AND e._p >= u._p{k - 1} AND e._p < u._p{k}"
                   for k in range(1, count)]
    else:
        ctes += _ordered(count, w)
        # previous-step events from the previous step's event up to this step's
        counted = [f"e._m{k - 1} AND e._p >= u._p{k - 1} AND e._p < u._p{k}"
                   for k in range(1, count)]
    ctes += [_cte(f"c{k}", f"SELECT u._a, count(*) AS _c{k} FROM pick AS u JOIN ev AS e "
                           f"ON e._a = u._a AND {c} WHERE u._n > {k} GROUP BY u._a")
             for k, c in enumerate(counted, 1)]
    ctes.append(_cte("pc", "SELECT * FROM pick" + "".join(
        f" LEFT JOIN c{k} USING (_a)" for k in range(1, count)), True))
    steps = ["SELECT 0 AS _k, _g, _t0, 0 AS _d, NULL::BIGINT AS _c FROM pc"] + [
        f"SELECT {k}, _g, _t0, date_diff('millisecond', _t{k - 1}, _t{k}), _c{k} FROM pc "
        f"WHERE _n > {k}" for k in range(1, count)]
    bucket = buckets.trunc_sql(ctx.clock.local_sql("_t0", scope.lo, scope.hi))
    ctes.append(template("st AS MATERIALIZED (SELECT _k, _g, {b} AS _b, _d, _c FROM ({u}))",
                         b=bucket, u=Sql(" UNION ALL ".join(steps))))
    # the histograms: a bin number per row (how many lower edges it reaches), then one group
    # per bin — instead of a filtered count and sum per bin
    time_bin = " + ".join(f"(_d >= {lo})::INT" for lo, _ in _bins(window_ms)[1:]) or "0"
    count_bin = " + ".join(f"(_c >= {lo})::INT" for lo, _ in _count_bins()[1:])
    return "WITH " + join(ctes, ", ") + Sql(
        " SELECT 0 AS _kind, _k, _g, _b, NULL::INT AS _i, count(*), median(_d), avg(_d) FROM st "
        "GROUP BY GROUPING SETS ((_k, _g, _b), (_k, _g)) "
        f"UNION ALL SELECT 1, _k, _g, NULL, {time_bin}, count(*), sum(_d), NULL FROM st "
        "WHERE _k > 0 GROUP BY ALL "
        f"UNION ALL SELECT 2, _k, _g, NULL, {count_bin}, count(*), sum(_c), NULL FROM st "
        "WHERE _k > 0 AND _c >= 1 GROUP BY ALL")


def _formatted(buckets: Buckets) -> list[str]:
    out = []
    for start in buckets.starts():
        shown = max(start, dt.datetime.combine(buckets.first, dt.time()))
        text = month_day(shown.date())
        if buckets.interval not in (DAILY, WEEKLY, MONTHLY):
            text += shown.strftime(" %H:%M")
        out.append(text)
    return out


def _distribution(hist: dict[int, tuple[int, Any]], bins: Sequence[tuple[int, int | None]]
                  ) -> list[dict[str, Any]]:
    """One step's bins from its {bin number: (users, sum)}, in bin order."""
    out = []
    for j, (lo, hi) in enumerate(bins):
        users, total = hist.get(j, (0, 0))
        out.append({"start": lo, "end": hi,
                    "bin_dist": {"users": users, "count": users, "propsum": number(total)}})
    return out


@dataclass
class _Cells:
    """One group's rows of the query: per (step, bucket) — bucket None for the whole range —
    ``[count, median, avg]``; per (kind, step) the histogram {bin number: (users, sum)}."""

    steps: dict[tuple[int, Any], list[Any]] = field(default_factory=dict)
    hists: dict[tuple[int, int], dict[int, tuple[int, Any]]] = field(
        default_factory=lambda: defaultdict(dict))


def _group(names: list[str], meta: dict[str, Any], cells: _Cells, buckets: Buckets,
           window_ms: int) -> dict[str, Any]:
    steps = len(names)
    index = buckets.index()
    labels = buckets.labels()
    formatted = _formatted(buckets)

    def total(k: int) -> list[Any]:
        return cells.steps.get((k, None), [0, 0, 0])

    raw = [int(total(k)[0]) for k in range(steps)]
    day: list[list[list[int | float]]] = [[[0] * steps for _ in labels] for _ in range(3)]
    for (k, bucket), (count, median, avg) in cells.steps.items():
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
            _distribution(cells.hists[(1, k)], _bins(window_ms)) for k in range(1, steps)],
        "stepPrevStepCountDistribution": [[]] + [
            _distribution(cells.hists[(2, k)], _count_bins()) for k in range(1, steps)],
    }


def funnels(ctx: Ctx, q: FunnelQuery) -> dict[str, Any]:
    buckets = Buckets(q.interval, q.start, q.end, zone=ctx.clock.zone)
    scope = Scope(ctx.project_id, *buckets.utc_span(ctx.clock))
    names = [step_name(s) for s in q.steps]
    data: list[dict[str, Any]] = []
    for seg_index, segment in enumerate(q.segments):
        rows = ctx.rows(_query(ctx, q, scope, segment_sql(segment, scope), buckets))
        by_group: dict[Any, _Cells] = defaultdict(_Cells)
        for kind, k, group, bucket, bin_no, count, x, y in rows:
            if kind:
                by_group[group].hists[(kind, int(k))][int(bin_no)] = (int(count), x)
            else:
                by_group[group].steps[(int(k), bucket)] = [count, x, y]
        if not by_group:
            by_group[NONE_LABEL if q.group_by else None] = _Cells()
        order = sorted(by_group, key=lambda g: (-by_group[g].steps.get((0, None), [0])[0],
                                                str(g)))
        for group in order[:q.limit or DEFAULT_LIMIT] if q.group_by else order:
            meta: dict[str, Any] = {"segmentIndex": seg_index}
            if q.group_by:
                meta["groupValue"] = group
            data.append(_group(names, meta, by_group[group], buckets, _window_ms(q)))
    return {"data": data}
