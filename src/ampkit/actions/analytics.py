"""Read actions over the Dashboard REST API: segmentation, users, real-time, events list,
revenue, funnels, retention, sessions, composition.  All need the secret key."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from ampkit.actions.base import (
    ActionInput,
    ActionOutput,
    CoarseInterval,
    Day,
    EventArg,
    FineInterval,
    GroupByArg,
    SegmentArg,
    SeriesOutput,
    UserTypeArg,
    points,
)
from ampkit.actions.registry import REGISTRY
from ampkit.client import Amplitude
from ampkit.models.dashboard import (
    EventDef,
    EventsListResult,
    FunnelResult,
    RetentionResult,
    RevenueLtvResult,
    TimeSeriesResult,
)
from ampkit.models.dashboard.common import rule_error


def series(result: TimeSeriesResult) -> SeriesOutput:
    return SeriesOutput(points=points(result), result=result)


class NoInput(ActionInput):
    """This action takes no arguments."""


class DateRange(ActionInput):
    start: Day = Field(description="First day, 'YYYY-MM-DD' or 'YYYYMMDD' (included).")
    end: Day = Field(description="Last day, 'YYYY-MM-DD' or 'YYYYMMDD' (included).")


class SegmentationInput(DateRange):
    event: EventArg
    metric: Literal["uniques", "totals", "pct_dau", "average", "histogram", "sums",
                    "value_avg", "formula"] = Field(
        default="uniques", description="uniques (users), totals (events), pct_dau (% of "
        "active users), average (events per user), histogram/sums/value_avg (of the event "
        "property in the event's group_by), formula (with formula).")
    second_event: str | EventDef | None = Field(
        default=None, description="A second event (B) for metric 'formula'.")
    formula: str | None = Field(default=None, description="With metric 'formula', e.g. "
                                "'UNIQUES(A)/UNIQUES(B)' (A = event, B = second_event).")
    interval: FineInterval = "daily"
    segment: SegmentArg = None
    group_by: GroupByArg = None
    group_by2: GroupByArg = None
    user_type: UserTypeArg = None
    limit: int | None = Field(default=None, ge=1, le=1000,
                              description="Most group-by values to return (≤ 1,000).")
    rolling_window: int | None = Field(default=None, ge=1, description="Rolling window, in "
                                       "intervals.")
    rolling_average: int | None = Field(default=None, ge=1, description="Rolling average, in "
                                        "intervals.")


@REGISTRY.action("event_segmentation", title="Event segmentation", read_only=True,
                 idempotent=True)
def event_segmentation(client: Amplitude, args: SegmentationInput) -> SeriesOutput:
    """How often an event happened, or how many users did it, per day/week/…, optionally
    filtered, segmented and grouped by a property (GET /api/2/events/segmentation)."""
    return series(client.segmentation(
        args.event, args.start, args.end, second_event=args.second_event, metric=args.metric,
        user_type=args.user_type, interval=args.interval, segment=args.segment,
        group_by=args.group_by, group_by2=args.group_by2, limit=args.limit,
        formula=args.formula, rolling_window=args.rolling_window,
        rolling_average=args.rolling_average))


class UsersInput(DateRange):
    metric: Literal["active", "new"] = Field(default="active", description="Active users "
                                             "(did anything) or new users (first seen).")
    interval: CoarseInterval = "daily"
    segment: SegmentArg = None
    group_by: GroupByArg = None


@REGISTRY.action("active_users", title="Active or new users", read_only=True,
                 idempotent=True)
def active_users(client: Amplitude, args: UsersInput) -> SeriesOutput:
    """Active users (or new users, with metric 'new') per day, week or month
    (GET /api/2/users)."""
    method = client.active_users if args.metric == "active" else client.new_users
    return series(method(args.start, args.end, interval=args.interval, segment=args.segment,
                         group_by=args.group_by))


@REGISTRY.action("realtime_active_users", title="Real-time active users", read_only=True,
                 idempotent=True)
def realtime_active_users(client: Amplitude, args: NoInput) -> SeriesOutput:
    """Active users in 5-minute buckets over today and yesterday (GET /api/2/realtime)."""
    return series(client.realtime_users())


class EventsListOutput(ActionOutput):
    names: list[str] = Field(default_factory=list, description="The event types' names.")
    result: EventsListResult | None = Field(default=None, description="Each event type with "
                                            "this week's totals.")


@REGISTRY.action("list_events", title="List event types", read_only=True, idempotent=True)
def list_events(client: Amplitude, args: NoInput) -> EventsListOutput:
    """The project's visible event types, with this week's totals (GET /api/2/events/list)."""
    result = client.events_list()
    return EventsListOutput(names=result.names(), result=result)


class RevenueInput(DateRange):
    metric: Literal["arpu", "arppu", "total", "paying"] = Field(
        default="arpu", description="Average revenue per user, per paying user, total "
        "revenue, or number of paying users.")
    interval: CoarseInterval = "daily"
    segment: SegmentArg = None
    group_by: GroupByArg = None


class RevenueOutput(ActionOutput):
    result: RevenueLtvResult | None = Field(default=None, description="Lifetime value per "
                                            "cohort day: R1…R90 and totals.")


@REGISTRY.action("revenue_ltv", title="Revenue (lifetime value)", read_only=True,
                 idempotent=True)
def revenue_ltv(client: Amplitude, args: RevenueInput) -> RevenueOutput:
    """Revenue lifetime value of the users who started each day/week/month
    (GET /api/2/revenue/ltv)."""
    return RevenueOutput(result=client.revenue_ltv(
        args.start, args.end, metric=args.metric, interval=args.interval,
        segment=args.segment, group_by=args.group_by))


class FunnelInput(DateRange):
    steps: list[EventArg] = Field(min_length=1, max_length=20,
                                  description="The funnel's events, in order.")
    mode: Literal["ordered", "unordered", "sequential"] = Field(
        default="ordered", description="ordered: steps in this order (others may happen in "
        "between); unordered: any order; sequential: nothing else in between.")
    conversion_window: int | None = Field(default=None, ge=1, description="Seconds a user "
                                          "has to finish the funnel (default 30 days).")
    interval: FineInterval = "daily"
    segment: SegmentArg = None
    group_by: GroupByArg = None
    user_type: UserTypeArg = None
    limit: int | None = Field(default=None, ge=1, le=1000,
                              description="Most group-by values to return (≤ 1,000).")


class FunnelOutput(ActionOutput):
    result: FunnelResult | None = Field(default=None, description="One group per segment or "
                                        "group-by value: users at each step, conversion.")


@REGISTRY.action("funnel", title="Funnel analysis", read_only=True, idempotent=True)
def funnel(client: Amplitude, args: FunnelInput) -> FunnelOutput:
    """How many users went through each step of a funnel, and how many converted
    (GET /api/2/funnels)."""
    return FunnelOutput(result=client.funnel(
        args.steps, args.start, args.end, mode=args.mode, user_type=args.user_type,
        interval=args.interval, segment=args.segment, group_by=args.group_by,
        conversion_window=args.conversion_window, limit=args.limit))


class RetentionInput(DateRange):
    start_event: EventArg = Field(description="What users first did ('_new' = new users, "
                                  "'_all' = any event; or an event).")
    return_event: EventArg = Field(description="What counts as coming back ('_all' = any).")
    method: Literal["n-day", "bracket", "rolling"] = Field(
        default="n-day", description="n-day: came back on day N exactly; rolling: on day N or "
        "later; bracket: within each of 'brackets'.")
    brackets: list[tuple[int, int]] | None = Field(default=None, description="With 'bracket':"
                                                   " [start, end) day pairs, e.g. [[0, 7]].")
    interval: CoarseInterval = "daily"
    segment: SegmentArg = None
    group_by: GroupByArg = None


class RetentionOutput(ActionOutput):
    result: RetentionResult | None = Field(default=None, description="Users retained per "
                                           "cohort day and day N.")


@REGISTRY.action("retention", title="Retention analysis", read_only=True, idempotent=True)
def retention(client: Amplitude, args: RetentionInput) -> RetentionOutput:
    """How many users came back after a first event (GET /api/2/retention)."""
    method = None if args.method == "n-day" else args.method
    return RetentionOutput(result=client.retention(
        args.start_event, args.return_event, args.start, args.end, method=method,
        brackets=args.brackets, interval=args.interval, segment=args.segment,
        group_by=args.group_by))


class SessionsInput(DateRange):
    measure: Literal["length_distribution", "average_length", "per_user"] = Field(
        default="average_length", description="length_distribution: sessions per length bin; "
        "average_length: average length in seconds per day; per_user: average sessions per "
        "user per day.")
    bin_unit: Literal["seconds", "minutes", "hours", "days"] | None = Field(
        default=None, description="length_distribution only: unit of the bins.")
    bin_min: float | None = Field(default=None, ge=0, description="length_distribution only.")
    bin_max: float | None = Field(default=None, ge=0, description="length_distribution only.")
    bin_size: float | None = Field(default=None, gt=0, description="length_distribution only.")

    @model_validator(mode="after")
    def _bins(self) -> Self:
        bins = (self.bin_unit, self.bin_min, self.bin_max, self.bin_size)
        if self.measure != "length_distribution" and any(b is not None for b in bins):
            raise rule_error("bin_unit", "bins go with measure 'length_distribution'")
        return self


@REGISTRY.action("sessions", title="Sessions", read_only=True, idempotent=True)
def sessions(client: Amplitude, args: SessionsInput) -> SeriesOutput:
    """Session lengths: their distribution, the average length, or sessions per user
    (GET /api/2/sessions/length, /average, /peruser)."""
    if args.measure == "length_distribution":
        return series(client.session_length_distribution(
            args.start, args.end, bin_unit=args.bin_unit, bin_min=args.bin_min,
            bin_max=args.bin_max, bin_size=args.bin_size))
    if args.measure == "average_length":
        return series(client.average_session_length(args.start, args.end))
    return series(client.sessions_per_user(args.start, args.end))


class CompositionInput(DateRange):
    prop: str = Field(min_length=1, description="The user property, e.g. 'country', "
                      "'platform', or 'gp:plan' for a custom one.")


@REGISTRY.action("composition", title="User composition", read_only=True, idempotent=True)
def composition(client: Amplitude, args: CompositionInput) -> SeriesOutput:
    """How active users split over the values of one user property
    (GET /api/2/composition)."""
    return series(client.composition(args.start, args.end, args.prop))
