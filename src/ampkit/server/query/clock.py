"""The project's time zone in SQL, and the interval buckets of a chart.

Stored timestamps are naive UTC.  The local wall-clock time of a row is
``event_time + offset``, where the offset (DST included) is taken from :mod:`zoneinfo` for the
span a query reads and written as a ``CASE`` over the few transition instants of that span —
the same answer as ``timezone(tz, event_time AT TIME ZONE 'UTC')``, several times cheaper on
millions of rows.

Buckets (``i``): ``-300000`` 5 minutes, ``-3600000`` hours, ``1`` days, ``7`` weeks starting on
**Sunday**, ``30`` calendar months — all on local wall-clock time.  Across DST changes, an hour
the clock skips has no bucket (23 hourly labels that day), and the hour it repeats is one
bucket (labelled once, two real hours of data).  A bucket is named by its
start, except the first one, which is named by the range's ``start`` when the week/month began
earlier (the range is never read outside ``start``..``end``).  ``xValues`` are ``YYYY-MM-DD``
for days, weeks and months, and ``YYYY-MM-DDTHH:MM:SS`` for hourly and 5-minute buckets.

Dates a request may name lie in :data:`FIRST_DAY` .. :data:`LAST_DAY` (1970-01-01 ..
2999-12-31, declared with the query models in :mod:`ampkit.models.dashboard.common`, which
every Dashboard request is read with); anything else is a 400 naming the parameter.  The upper
end leaves room for what a query reads beyond its range — rolling windows (up to 365
intervals, i.e. about 30 years of months, before ``start``), retention brackets (up to 366
intervals after ``end``), funnel conversion windows (up to 366 days) — inside Python's and
DuckDB's calendars (years 1–9999), which an unchecked ``00010101`` or ``99991231`` overflowed
(a 500 that also dropped the connection).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ampkit.models.dashboard.common import (
    DAILY,
    FIRST_DAY,
    HOURLY,
    LAST_DAY,
    MAX_DAYS,
    MONTHLY,
    REALTIME,
    WEEKLY,
)

if TYPE_CHECKING:
    from ampkit.server.query.common import Sql

__all__ = ["DAILY", "FIRST_DAY", "HOURLY", "LAST_DAY", "MAX_DAYS", "MONTHLY", "REALTIME",
           "WEEKLY", "Buckets", "Clock"]
_UTC = dt.UTC


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _exists(local: dt.datetime, zone: ZoneInfo | None) -> bool:
    """Whether a wall-clock time happens in ``zone`` (not in the gap DST opens)."""
    if zone is None:
        return True
    back = local.replace(tzinfo=zone).astimezone(_UTC).astimezone(zone).replace(tzinfo=None)
    return back == local


class Clock:
    """Conversions between stored UTC and the project's local time."""

    def __init__(self, tz: str) -> None:
        self.name = tz
        self.zone = _zone(tz)

    def offset(self, utc: dt.datetime) -> int:
        """UTC offset (seconds) in effect at a naive UTC instant."""
        delta = utc.replace(tzinfo=_UTC).astimezone(self.zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    def to_local(self, utc: dt.datetime) -> dt.datetime:
        return utc + dt.timedelta(seconds=self.offset(utc))

    def to_utc(self, local: dt.datetime) -> dt.datetime:
        aware = local.replace(tzinfo=self.zone)
        return aware.astimezone(_UTC).replace(tzinfo=None)

    def day_start(self, day: dt.date) -> dt.datetime:
        """Naive UTC instant at which a local day begins."""
        return self.to_utc(dt.datetime.combine(day, dt.time()))

    def transitions(self, lo: dt.datetime, hi: dt.datetime) -> list[tuple[dt.datetime, int]]:
        """``[(from_utc, offset)]``: the offset in effect from each instant on, covering
        ``lo``..``hi`` (UTC, a day of margin on both sides)."""
        step = dt.timedelta(hours=6)
        t = lo - dt.timedelta(days=1)
        end = hi + dt.timedelta(days=1)
        current = self.offset(t)
        out = [(t, current)]
        while t < end:
            nxt = min(t + step, end)
            off = self.offset(nxt)
            if off != current:
                a, b = t, nxt  # offset(a) == current, offset(b) != current
                while b - a > dt.timedelta(seconds=1):
                    mid = a + (b - a) / 2
                    mid = mid.replace(microsecond=0)
                    if mid <= a:
                        break
                    if self.offset(mid) == current:
                        a = mid
                    else:
                        b = mid
                out.append((b, off))
                current = off
            t = nxt
        return out

    def local_sql(self, column: str, lo: dt.datetime, hi: dt.datetime) -> Sql:
        """SQL for the local wall-clock time of a naive-UTC ``column``, exact for rows between
        ``lo`` and ``hi`` (UTC); outside that span the nearest known offset is used."""
        from ampkit.server.query.common import Sql

        spans = self.transitions(lo, hi)
        if len(spans) == 1:
            offset = spans[0][1]
            if offset == 0:
                return Sql(column)
            return Sql(f"({column} + to_seconds(?::BIGINT))", (offset,))
        text = f"({column} + to_seconds(CASE"
        args: list[object] = []
        for (_, off), (until, _) in itertools.pairwise(spans):
            text += f" WHEN {column} < ? THEN ?::BIGINT"
            args += [until, off]
        text += " ELSE ?::BIGINT END))"
        args.append(spans[-1][1])
        return Sql(text, tuple(args))

    def now_local(self, now_utc: dt.datetime) -> dt.datetime:
        return self.to_local(now_utc)


@dataclass(frozen=True)
class Buckets:
    """The x axis of a chart: bucket starts (local, truncated) from ``first`` to ``last``."""

    interval: int
    first: dt.date
    last: dt.date
    before: int = 0
    """Extra buckets read before ``first`` (rolling windows and averages)."""
    zone: ZoneInfo | None = None
    """The project's zone: hourly and 5-minute buckets that do not exist on its clock (the
    hour skipped when DST starts) are left out.  The hour repeated when DST ends is one
    bucket, labelled once, holding both real hours (labels are wall-clock times, so they stay
    unique)."""

    @property
    def lo_local(self) -> dt.datetime:
        start = self.trunc(dt.datetime.combine(self.first, dt.time()))
        return self.step(start, -self.before) if self.before else dt.datetime.combine(
            self.first, dt.time())

    @property
    def hi_local(self) -> dt.datetime:
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time())

    def trunc(self, local: dt.datetime) -> dt.datetime:
        if self.interval == REALTIME:
            return local.replace(minute=local.minute - local.minute % 5, second=0,
                                 microsecond=0)
        if self.interval == HOURLY:
            return local.replace(minute=0, second=0, microsecond=0)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.interval == WEEKLY:
            return day - dt.timedelta(days=(day.weekday() + 1) % 7)
        if self.interval == MONTHLY:
            return day.replace(day=1)
        return day

    def step(self, start: dt.datetime, n: int = 1) -> dt.datetime:
        if self.interval == REALTIME:
            return start + dt.timedelta(minutes=5 * n)
        if self.interval == HOURLY:
            return start + dt.timedelta(hours=n)
        if self.interval == WEEKLY:
            return start + dt.timedelta(days=7 * n)
        if self.interval == MONTHLY:
            months = start.year * 12 + start.month - 1 + n
            return start.replace(year=months // 12, month=months % 12 + 1)
        return start + dt.timedelta(days=n)

    def trunc_sql(self, local: Sql) -> Sql:
        if self.interval == REALTIME:
            return "time_bucket(INTERVAL 5 MINUTE, " + local + ")"
        if self.interval == HOURLY:
            return "date_trunc('hour', " + local + ")::TIMESTAMP"
        if self.interval == WEEKLY:
            return ("(date_trunc('week', " + local
                    + " + INTERVAL 1 DAY) - INTERVAL 1 DAY)::TIMESTAMP")
        if self.interval == MONTHLY:
            return "date_trunc('month', " + local + ")::TIMESTAMP"
        return "date_trunc('day', " + local + ")::TIMESTAMP"

    def all_starts(self) -> list[dt.datetime]:
        """Every bucket start, the ``before`` extra ones included."""
        out: list[dt.datetime] = []
        t = self.trunc(self.lo_local)
        end = self.hi_local
        sub_day = self.interval in (REALTIME, HOURLY) and self.zone is not None
        while t < end:
            if not sub_day or _exists(t, self.zone):
                out.append(t)
            t = self.step(t)
        return out

    def starts(self) -> list[dt.datetime]:
        """The buckets shown (from ``first``)."""
        return self.all_starts()[self.before:]

    def label(self, start: dt.datetime) -> str:
        shown = max(start, dt.datetime.combine(self.first, dt.time()))
        if self.interval in (REALTIME, HOURLY):
            return shown.strftime("%Y-%m-%dT%H:%M:%S")
        return shown.strftime("%Y-%m-%d")

    def labels(self) -> list[str]:
        return [self.label(s) for s in self.starts()]

    def index(self) -> dict[dt.datetime, int]:
        """Bucket start → position in :meth:`starts` (extra buckets get negative positions)."""
        return {s: i - self.before for i, s in enumerate(self.all_starts())}

    def utc_span(self, clock: Clock) -> tuple[dt.datetime, dt.datetime]:
        return clock.to_utc(self.lo_local), clock.to_utc(self.hi_local)
