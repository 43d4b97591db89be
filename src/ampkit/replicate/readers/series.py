"""Daily time series from the Dashboard REST API, as tidy rows ``(date, segment, value)``.

Requests are **planned**, not looped day by day: one request covers as many days as the query
cost allows — ``cost = days × conditions × query-type cost`` must stay within Amplitude's 1,000
per 5 minutes, and a daily query spans at most 365 days.  So ``active_users`` (cost 1 a day)
takes 365 days per request and the session endpoints (cost 4 a day) 250.  The one exception is
``session_length_distribution``: its answer sums the whole range, so it asks day by day.  Each
request's rows and the cursor (its last day) commit in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ampkit.core.limits import DASHBOARD_COST_WINDOWS
from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard import queries
from ampkit.dashboard.endpoint import checked
from ampkit.models.dashboard import sessions
from ampkit.models.dashboard.common import DateRangeQuery
from ampkit.models.dashboard.revenue import REVENUE_METRICS, RevenueLtvQuery, RevenueLtvResult
from ampkit.models.dashboard.series import TimeSeriesResult, label_text
from ampkit.models.dashboard.users import UsersQuery, UsersResult
from ampkit.replicate.config import StreamOptions
from ampkit.replicate.plan import DaySpan, StreamPlan, day_span, day_windows, yesterday
from ampkit.replicate.readers.base import StreamRun
from ampkit.replicate.schema import records_to_table
from ampkit.replicate.state import StreamState

COST_PER_WINDOW = int(DASHBOARD_COST_WINDOWS[0].limit)
"""Amplitude's query-cost budget per 5 minutes: no single request plans to cost more."""
MAX_DAYS = 365
Records = list[dict[str, Any]]
Requests = Callable[[DaySpan, StreamOptions], RequestSpec]
Rows = Callable[[RawResponse, StreamOptions], Records]


@dataclass(frozen=True)
class SeriesEndpoint:
    """How one stream asks and reads: ``request(days, options)``, ``rows(raw, options)``."""

    request: Requests
    rows: Rows
    per_day: bool = False


def _days_only(query: type[DateRangeQuery]) -> Requests:
    """The requests of a query that takes nothing but its days."""
    def request(days: DaySpan, opts: StreamOptions) -> RequestSpec:
        return queries.request(query(start=days.start, end=days.end))

    return request


def _series_rows(result: type[TimeSeriesResult]) -> Rows:
    """A time series' cells as rows ``(date, segment, value)``."""
    def rows(raw: RawResponse, opts: StreamOptions) -> Records:
        return [{"date": r.x, "segment": r.label, "value": r.value}
                for r in queries.parse(result, raw).rows()]

    return rows


def _users(metric: str) -> SeriesEndpoint:
    def request(days: DaySpan, opts: StreamOptions) -> RequestSpec:
        with checked("/api/2/users"):
            query = UsersQuery(start=days.start, end=days.end, metric=metric,
                               group_by=opts.group_by)
        return queries.request(query)

    return SeriesEndpoint(request, _series_rows(UsersResult))


def _length_rows(raw: RawResponse, opts: StreamOptions) -> Records:
    """One day's histogram: the day is the request's (``xValues`` are the bins)."""
    result = queries.parse(sessions.SessionLengthResult, raw)
    return [{"bin": r.x, "value": r.value} for r in result.rows()]


def _ltv_request(days: DaySpan, opts: StreamOptions) -> RequestSpec:
    with checked("/api/2/revenue/ltv"):
        query = RevenueLtvQuery(start=days.start, end=days.end,
                                metric=REVENUE_METRICS[opts.ltv_metric],
                                group_by=opts.group_by)
    return queries.request(query)


def _ltv_rows(raw: RawResponse, opts: StreamOptions) -> Records:
    result = queries.parse(RevenueLtvResult, raw)
    out: Records = []
    names = result.series_labels or []
    for i, series in enumerate(result.series):
        label = label_text(names[i], i) if i < len(names) else str(i)
        for day, values in series.values.items():
            cells: dict[str, Any] = {
                f"{opts.ltv_metric}_r{n}d": v for n, v in sorted(values.returns.items())
            }
            cells.update(count=values.count, paid=values.paid, total_amount=values.total_amount)
            out += [{"date": day, "segment": label, "metric": k, "value": v}
                    for k, v in cells.items()]
    return out


ENDPOINTS: dict[str, SeriesEndpoint] = {
    "active_users": _users("active"),
    "new_users": _users("new"),
    "average_session_length": SeriesEndpoint(_days_only(sessions.SessionAverageQuery),
                                             _series_rows(sessions.SessionAverageResult)),
    "sessions_per_user": SeriesEndpoint(_days_only(sessions.SessionsPerUserQuery),
                                        _series_rows(sessions.SessionsPerUserResult)),
    "session_length_distribution": SeriesEndpoint(_days_only(sessions.SessionLengthQuery),
                                                  _length_rows, per_day=True),
    "revenue_ltv": SeriesEndpoint(_ltv_request, _ltv_rows),
}


class SeriesRun(StreamRun):
    """Plans and runs one daily time-series stream."""

    @property
    def endpoint(self) -> SeriesEndpoint:
        return ENDPOINTS[self.stream.name]

    def span(self) -> DaySpan | None:
        state = self.base_state()
        return day_span(
            anchor=self.opts.anchor_date,
            cursor=state.day_cursor() if self.incremental else None,
            last=yesterday(self.ctx.now, self.ctx.options.timezone),
            backfill=self.opts.backfill,
            lookback_days=self.opts.lookback,
        )

    def cost_per_day(self) -> int:
        day = self.ctx.now.date()
        return self.endpoint.request(DaySpan(start=day, end=day), self.opts).cost

    def days_per_request(self) -> int:
        if self.endpoint.per_day:
            return 1
        return max(1, min(MAX_DAYS, COST_PER_WINDOW // self.cost_per_day()))

    def plan(self) -> StreamPlan:
        plan = StreamPlan(stream=self.opts.label, mode=self.mode_label(), unit="day",
                          backfill=self.backfill)
        span = self.span()
        if span is None:
            plan.note = "up to date (daily metrics stop at yesterday)"
            return plan
        chunks = list(day_windows(span, self.days_per_request()))
        plan.start, plan.end = span.start.isoformat(), span.end.isoformat()
        plan.units = span.days
        plan.windows = [str(c) for c in chunks]
        plan.requests = len(chunks)
        plan.cost = sum(self.endpoint.request(c, self.opts).cost for c in chunks)
        plan.note = (f"≤ {self.days_per_request()} days/request × cost {self.cost_per_day()}"
                     f"/day (Amplitude: {COST_PER_WINDOW:,} per 5 min)")
        return plan

    def execute(self) -> None:
        span = self.span()
        state = self.base_state()
        self.result.cursor = state.cursor
        if span is None:
            self.result.status = "up-to-date"
            return
        table = self.table()
        self.dest.prepare(table)
        replace = self.opts.mode == "full-refresh" and not self.backfill
        for chunk in day_windows(span, self.days_per_request()):
            raw = self.source.query(self.endpoint.request(chunk, self.opts))
            records = self.endpoint.rows(raw, self.opts)
            if self.endpoint.per_day:
                records = [{"date": chunk.start.isoformat(), **r} for r in records]
            if not self.backfill:
                state = state.with_day(chunk.end)
            with self.dest.transaction(table, replace=replace) as tx:
                tx.write(records_to_table(records, self.stream.columns))
                tx.save_state(state)
            replace = False
            self._committed(str(chunk), tx.rows, chunk.days, state)

    def _committed(self, label: str, rows: int, days: int, state: StreamState) -> None:
        self.result.rows += rows
        self.result.windows += 1
        self.result.cursor = state.cursor
        self.ctx.reporter.committed(self.opts.label, label, rows, state.cursor)
        self.ctx.reporter.advanced(self.opts.label, days, rows)


__all__ = ["ENDPOINTS", "SeriesEndpoint", "SeriesRun"]
