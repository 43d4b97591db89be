"""Single-pass aggregates of one event definition per bucket and group (segmentation).

For a row condition and up to two group-by labels, one ``GROUP BY GROUPING SETS`` query gives,
per (bucket, group) and per group over the whole range: distinct users, events, and the sum,
mean, minimum, maximum and count of the measured property.  Rolling windows pre-aggregate per
(bucket, group, user) and fan each bucket out to the ``N`` windows that contain it — distinct
users stay exact.  Histograms bin the measured property into equal-width bins.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from ampkit.server.query.clock import Buckets, Clock
from ampkit.server.query.common import Ctx, Sql, join, sql, template
from ampkit.server.query.props import Scope, base_where
from ampkit.server.query.series import Grid


class Agg(NamedTuple):
    """Aggregates of one cell: users, events and the measured property's statistics."""

    uniques: int = 0
    totals: int = 0
    sum: float = 0.0
    avg: float = 0.0
    min: float = 0.0
    max: float = 0.0
    valued: int = 0
    """Events with a numeric measured value."""

    @classmethod
    def of(cls, values: Any) -> Agg:
        return cls(*(0 if v is None else v for v in values))


ZERO = Agg()
NO_GROUP = Sql("NULL::VARCHAR")


@dataclass(frozen=True)
class EventQuery:
    """What to aggregate: rows matching ``cond`` (time range added here), grouped by up to two
    label expressions, with an optional measured number.  ``uniques=False`` skips the
    distinct-user count (the costly part) when the metric doesn't need it."""

    cond: Sql
    groups: tuple[Sql, ...] = ()
    measure: Sql | None = None
    uniques: bool = True
    cheap_groups: bool = False
    """Group expressions are plain columns (no JSON): their cardinality can be estimated in a
    fraction of the query's cost."""

    @property
    def value(self) -> Sql:
        return self.measure if self.measure is not None else Sql("NULL::DOUBLE")

    def keys(self) -> Sql:
        """``_g1, _g2`` select items (unused ones are constant NULLs)."""
        padded = (*self.groups, NO_GROUP, NO_GROUP)
        return template("{a} AS _g1, {b} AS _g2", a=padded[0], b=padded[1])

    def group_by(self, *first: str) -> str:
        names = [*first, *("_g1", "_g2")[:len(self.groups)]]
        return f" GROUP BY {', '.join(names)}" if names else ""


BITMAP_BUDGET = 64 * 2**20
"""Bytes of per-group user bitmaps a query may use (else ``count(DISTINCT)``)."""


def _users(ctx: Ctx, q: EventQuery, cells: int, where: Sql) -> Sql:
    """Distinct users: an exact bitmap over the project's Amplitude-ID range
    (``bitstring_agg``, several times faster than ``count(DISTINCT)`` on millions of rows)
    when the bitmaps of all cells fit :data:`BITMAP_BUDGET` — the number of groups is
    estimated for plain-column group-bys, unknown (so ``count(DISTINCT)``) for JSON ones."""
    if not q.uniques:
        return Sql("0")
    lo, hi = ctx.id_range()
    groups = 1
    if q.groups and q.cheap_groups:
        est = ctx.one("SELECT approx_count_distinct(hash(" + join(list(q.groups), ", ")
                      + ")) FROM events WHERE " + where)
        groups = int(1.5 * (est[0] or 0)) + 1 if est else 0
    elif q.groups:
        groups = 0
    if groups and hi >= lo and ((hi - lo) // 8 + 1) * cells * groups <= BITMAP_BUDGET:
        return sql("bit_count(bitstring_agg(amplitude_id, ?::BIGINT, ?::BIGINT))", lo, hi)
    return Sql("count(DISTINCT amplitude_id)")


def _aggs(ctx: Ctx, q: EventQuery, cells: int, where: Sql) -> Sql:
    users = _users(ctx, q, cells, where)
    if q.measure is None:
        return users + ", count(*), NULL, NULL, NULL, NULL, 0"
    return users + template(", count(*), sum({v}), avg({v}), min({v}), max({v}), count({v})",
                            v=q.value)


def _plain(ctx: Ctx, q: EventQuery, scope: Scope, lo: dt.datetime, hi: dt.datetime,
           bucket: Sql | None, cells: int = 1) -> list[tuple[Any, ...]]:
    """Per (bucket, group) rows — or, without a bucket, per group over ``lo``..``hi``."""
    where = base_where(scope, lo, hi) + " AND " + q.cond
    return ctx.rows(template(
        "SELECT {b} AS _b, {k}, {a} FROM events WHERE {w}", b=bucket or Sql("NULL"),
        k=q.keys(), a=_aggs(ctx, q, cells, where), w=where)
        + q.group_by(*(["_b"] if bucket else [])))


def _rolling(ctx: Ctx, q: EventQuery, scope: Scope, buckets: Buckets, clock: Clock,
             window: int) -> list[tuple[Any, ...]]:
    lo, hi = buckets.utc_span(clock)
    bucket = buckets.trunc_sql(clock.local_sql("event_time", lo, hi))
    index = buckets.index()
    starts = list(index)
    shown = len(buckets.starts())
    where = base_where(scope, lo, hi) + " AND " + q.cond
    return ctx.rows(template(
        "WITH ev AS (SELECT " + _PRE + " FROM events WHERE {w} GROUP BY ALL), "
        "idx AS (SELECT unnest({starts}::TIMESTAMP[]) AS _b, unnest({pos}::INTEGER[]) AS _i) "
        "SELECT idx._i + w.o AS _k, _g1, _g2, " + _POST + " "
        "FROM ev JOIN idx ON ev._b = idx._b CROSS JOIN range({n}) AS w(o) "
        "WHERE idx._i + w.o >= 0 AND idx._i + w.o < {shown} GROUP BY ALL",
        b=bucket, k=q.keys(), v=q.value, w=where,
        starts=sql("?", starts), pos=sql("?", [index[s] for s in starts]),
        n=sql("?", window), shown=sql("?", shown)))


_PRE = ("{b} AS _b, {k}, amplitude_id AS _a, count(*) AS _t, sum({v}) AS _s, "
        "count({v}) AS _c, min({v}) AS _mn, max({v}) AS _mx")
_POST = ("count(DISTINCT _a), sum(_t), sum(_s), sum(_s) / nullif(sum(_c), 0), min(_mn), "
         "max(_mx), sum(_c)")


def _once(ctx: Ctx, q: EventQuery, scope: Scope, bucket: Sql) -> list[tuple[Any, ...]]:
    """Bucket rows and collapsed rows from one read of the events, for group-bys read out of
    JSON (the costly part): counts straight from ``GROUPING SETS``; with a measured number,
    pre-aggregated per (bucket, group, user)."""
    where = base_where(scope) + " AND " + q.cond
    if q.measure is None:
        # counts only: one grouped read, each row's JSON read once for both grouping sets
        # (no per-user pre-aggregation: it would cost as much as the distinct counts)
        return ctx.rows(template(
            "SELECT {b} AS _b, {k}, {u}, count(*), NULL, NULL, NULL, NULL, 0 FROM events "
            "WHERE {w} GROUP BY GROUPING SETS ((_b, _g1, _g2), (_g1, _g2))",
            b=bucket, k=q.keys(), w=where,
            u="count(DISTINCT amplitude_id)" if q.uniques else "0"))
    return ctx.rows(template(
        "WITH ev AS MATERIALIZED (SELECT " + _PRE + " FROM events WHERE {w} GROUP BY ALL) "
        "SELECT _b, _g1, _g2, " + _POST + " FROM ev GROUP BY _b, _g1, _g2 UNION ALL "
        "SELECT NULL, _g1, _g2, " + _POST + " FROM ev GROUP BY _g1, _g2",
        b=bucket, k=q.keys(), v=q.value, w=where))


def aggregate(ctx: Ctx, q: EventQuery, scope: Scope, buckets: Buckets,
              window: int = 1) -> Grid:
    """A grid of :class:`Agg` keyed ``(g1, g2)`` with one column per bucket of
    ``buckets.all_starts()`` (the ``before`` extra ones first) — or, for ``window > 1``, one
    per shown bucket, each the aggregate of the ``window`` buckets ending there.  Collapsed
    values cover the scope's range."""
    clock = ctx.clock
    if window > 1:
        grid = Grid(len(buckets.starts()), ZERO)
        grid.fill(_rolling(ctx, q, scope, buckets, clock, window), None, 2)
    else:
        lo, hi = buckets.utc_span(clock)
        bucket = buckets.trunc_sql(clock.local_sql("event_time", lo, hi))
        grid = Grid(len(buckets.all_starts()), ZERO)
        index = {s: i + buckets.before for s, i in buckets.index().items()}
        if q.groups and not q.cheap_groups and not buckets.before:
            return _to_aggs(grid, _once(ctx, q, scope, bucket), index)
        grid.fill(_plain(ctx, q, scope, lo, hi, bucket, len(index)), index, 2)
    return _to_aggs(grid, _plain(ctx, q, scope, scope.lo, scope.hi, None), None)


def _to_aggs(grid: Grid, records: list[tuple[Any, ...]],
             index: dict[Any, int] | None) -> Grid:
    """Fill the bucket records (when ``index`` is given) and the collapsed ones (bucket
    ``None``), as :class:`Agg` cells; groups without events in the range get no collapsed
    value."""
    if index is not None:
        grid.fill([r for r in records if r[0] is not None], index, 2)
    grid.collapsed.clear()
    for rec in records:
        if rec[0] is not None:
            continue
        key = (rec[1], rec[2])
        if rec[4]:  # events
            grid.collapsed[key] = Agg.of(rec[3:])
            grid.row(key)
    for key, row in grid.rows.items():
        grid.rows[key] = [v if isinstance(v, Agg) else Agg.of(v) for v in row]
    return grid


@dataclass(frozen=True)
class Histogram:
    labels: list[str]
    grid: Grid


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 2**53 else f"{x:.6g}"


def _edge(lo: float, hi: float, width: float, k: int, count: int) -> float:
    """The ``k``-th bin's lower edge, ``lo + width * k`` — weighed from both ends where that
    overflows (values spanning ±1e308)."""
    edge = lo + width * k
    return edge if math.isfinite(edge) else lo * (1 - k / count) + hi * (k / count)


def histogram(ctx: Ctx, q: EventQuery, scope: Scope, bins: int = 10) -> Histogram:
    """Events per equal-width bin of the measured property (``bins`` bins between its
    smallest and largest value in the range; one bin when they are equal)."""
    where = base_where(scope) + " AND " + q.cond + " AND " + q.value + " IS NOT NULL"
    bounds = ctx.one("SELECT min(" + q.value + "), max(" + q.value + ") FROM events WHERE "
                     + where)
    if bounds is None or bounds[0] is None:
        return Histogram([], Grid(0))
    lo, hi = float(bounds[0]), float(bounds[1])
    count = bins if hi > lo else 1
    width = (hi - lo) / count if hi > lo else 1.0
    if math.isinf(width):  # values spanning ±1e308: each end divided first
        width = hi / count - lo / count
    edges = [_edge(lo, hi, width, k, count) for k in range(count)] + [hi if hi > lo else lo]
    labels = [f"{_fmt(edges[k])}-{_fmt(edges[k + 1])}" for k in range(count)]
    grid = Grid(count)
    binned = template("least(greatest(floor(({v} - {lo}) / {w}), 0), {top})::INTEGER",
                      v=q.value, lo=sql("?::DOUBLE", lo), w=sql("?::DOUBLE", width),
                      top=sql("?", count - 1))
    grid.fill(ctx.rows(template("SELECT {b} AS _b, {k}, count(*) FROM events WHERE {w}",
                                b=binned, k=q.keys(), w=where) + q.group_by("_b")), None, 2)
    for rec in ctx.rows(template("SELECT NULL, {k}, count(*) FROM events WHERE {w}",
                                 k=q.keys(), w=where) + q.group_by()):
        if rec[3]:
            grid.collapsed[(rec[1], rec[2])] = rec[3]
    return Histogram(labels, grid)
