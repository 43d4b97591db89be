"""Time arithmetic of a sync, pure: availability lines, the range a run covers, and windows
that strictly advance (so a sync always terminates).

* Raw events are exportable ~2 hours after their upload hour closes: the last hour a run asks
  for is ``floor(now) − 1 h − delay`` (delay 2 h by default).
* Daily metrics stop at yesterday (in the project's time zone).
* An incremental run starts at ``max(anchor, cursor + 1 unit)``; ``--range`` replaces the
  start and end (clamped to the availability line) and leaves the cursor alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from ampkit.errors import ConfigError

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
Point = TypeVar("Point", dt.datetime, dt.date)


class _Span(BaseModel, Generic[Point]):
    """``start``..``end``, both included."""

    model_config = ConfigDict(frozen=True)

    start: Point
    end: Point


S = TypeVar("S", bound=_Span[Any])


class HourSpan(_Span[dt.datetime]):
    """The hours ``start``..``end``, both included (aware UTC datetimes on the hour)."""

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / HOUR) + 1

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%dT%H}..{self.end:%Y-%m-%dT%H}"


class DaySpan(_Span[dt.date]):
    """The days ``start``..``end``, both included."""

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


class TimeRange(_Span[dt.datetime]):
    """A ``--range START,END`` as hours (dates become 00:00 and 23:00)."""

    def hours(self) -> HourSpan:
        return HourSpan(start=self.start, end=self.end)

    def days(self) -> DaySpan:
        return DaySpan(start=self.start.date(), end=self.end.date())


def floor_hour(moment: dt.datetime) -> dt.datetime:
    moment = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def _point(text: str, *, end: bool) -> dt.datetime:
    value = text.strip()
    try:
        if len(value) == 10 and value[4] == "-":
            day = dt.date.fromisoformat(value)
            hour = 23 if end else 0
            return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)
        if len(value) == 8 and value.isdigit():
            return _point(f"{value[:4]}-{value[4:6]}-{value[6:]}", end=end)
        if len(value) == 11 and value[8] in "Tt" and value[:8].isdigit():
            return dt.datetime.strptime(value.upper(), "%Y%m%dT%H").replace(tzinfo=dt.UTC)
        if len(value) == 13 and value[10] in "Tt ":
            value += ":00"
        return floor_hour(dt.datetime.fromisoformat(value))
    except ValueError:
        raise ConfigError(
            f"range bound {text!r} is not a date or hour (use YYYY-MM-DD, YYYYMMDDTHH or "
            "YYYY-MM-DDTHH, UTC)"
        ) from None


def parse_range(text: str) -> TimeRange:
    """``START,END`` — dates (``2024-01-01``) or hours (``20240101T05``, ``2024-01-01T05``),
    UTC, both included."""
    start, sep, end = text.partition(",")
    if not sep or not start.strip() or not end.strip():
        raise ConfigError(f"range {text!r} must look like START,END (e.g. 2024-01-01,2024-01-31)")
    first, last = _point(start, end=False), _point(end, end=True)
    if last < first:
        raise ConfigError(f"range {text!r}: END is before START")
    return TimeRange(start=first, end=last)


def settled_until(now: dt.datetime, delay_hours: int) -> dt.datetime:
    """The last hour that is closed and past the export delay: the events cursor never goes
    further, so a later run reads every hour after it again."""
    return floor_hour(now) - HOUR - HOUR * delay_hours


def export_end(now: dt.datetime, delay_hours: int) -> dt.datetime:
    """The last hour a run asks the Export API for: the last closed hour minus the delay — or,
    with no delay (``ampkit serve`` exports what it stored at once), the hour now open.  An
    open hour is read again by the next run (the cursor stops at :func:`settled_until`), and
    its rows are upserted by ``uuid``: nothing twice, nothing that arrives later missed."""
    return floor_hour(now) if delay_hours == 0 else settled_until(now, delay_hours)


def delay_note(wanted: dt.datetime, last: dt.datetime, delay_hours: int) -> str | None:
    """What a run says when the export delay cuts hours it was asked for (``None``: none)."""
    if wanted <= last:
        return None
    return (f"hours {last + HOUR:%Y-%m-%dT%H}..{wanted:%Y-%m-%dT%H} UTC are not read yet: "
            f"export_delay_hours is {delay_hours} (Amplitude makes an hour exportable about "
            "2 hours after it closes); against ampkit serve, which exports at once, set "
            "source: {export_delay_hours: 0} or --export-delay 0")


def yesterday(now: dt.datetime, timezone: str = "UTC") -> dt.date:
    """Yesterday in the project's time zone: the last complete day of daily metrics."""
    moment = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now
    return moment.astimezone(ZoneInfo(timezone)).date() - DAY


def anchor_hour(anchor: dt.date) -> dt.datetime:
    return dt.datetime(anchor.year, anchor.month, anchor.day, tzinfo=dt.UTC)


def _covered(
    span: type[S], first: Point, cursor: Point | None, last: Point,
    backfill: _Span[Point] | None, unit: dt.timedelta, lookback: int,
) -> S | None:
    """``backfill`` cut at ``last``; else from ``first`` (or, once there is a cursor, from the
    unit after it, ``lookback`` units earlier) to ``last``."""
    if backfill is not None:
        start, end = backfill.start, min(backfill.end, last)
    else:
        start = first
        if cursor is not None:
            start = max(start, cursor + unit - unit * lookback)
        end = last
    return span(start=start, end=end) if start <= end else None


def hour_span(*, anchor: dt.date, cursor: dt.datetime | None, last: dt.datetime,
              backfill: TimeRange | None = None, lookback_hours: int = 0) -> HourSpan | None:
    """The hours a run covers (``None``: nothing new is available yet)."""
    return _covered(HourSpan, anchor_hour(anchor), cursor, last, backfill, HOUR, lookback_hours)


def day_span(*, anchor: dt.date, cursor: dt.date | None, last: dt.date,
             backfill: TimeRange | None = None, lookback_days: int = 0) -> DaySpan | None:
    """The days a run covers (``None``: nothing new is available yet)."""
    days = backfill.days() if backfill is not None else None
    return _covered(DaySpan, anchor, cursor, last, days, DAY, lookback_days)


def hour_windows(span: HourSpan, size: int | Callable[[], int]) -> Iterator[HourSpan]:
    """Consecutive windows covering ``span`` exactly, in order.

    ``size`` (hours) may be a callable read before each window — the events stream shrinks
    its windows after a split.  Each window starts right after the previous one ends and holds
    at least one hour, so the windows strictly advance and there are at most ``span.hours``.
    """
    start = span.start
    while start <= span.end:
        hours = size() if callable(size) else size
        if hours < 1:
            raise ValueError("window size must be at least 1 hour")
        end = min(span.end, start + HOUR * (hours - 1))
        yield HourSpan(start=start, end=end)
        start = end + HOUR  # strictly later than the last start: the loop ends


def day_windows(span: DaySpan, size: int) -> Iterator[DaySpan]:
    """Consecutive chunks of at most ``size`` days covering ``span`` exactly, in order."""
    if size < 1:
        raise ValueError("chunk size must be at least 1 day")
    start = span.start
    while start <= span.end:
        end = min(span.end, start + DAY * (size - 1))
        yield DaySpan(start=start, end=end)
        start = end + DAY


class StreamPlan(BaseModel):
    """What a run of one stream will do (``--dry-run`` prints these)."""

    stream: str
    mode: str
    backfill: bool = False
    start: str | None = None
    end: str | None = None
    units: int = 0
    unit: str = "hour"
    windows: list[str] = []
    requests: int = 0
    cost: int | None = None
    note: str | None = None


__all__ = [
    "DAY",
    "HOUR",
    "DaySpan",
    "HourSpan",
    "StreamPlan",
    "TimeRange",
    "anchor_hour",
    "day_span",
    "day_windows",
    "delay_note",
    "export_end",
    "floor_hour",
    "hour_span",
    "hour_windows",
    "parse_range",
    "settled_until",
    "yesterday",
]
