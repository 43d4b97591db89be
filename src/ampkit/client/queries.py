"""The query side of :class:`~ampkit.client.Amplitude`: Dashboard REST, user search/activity,
charts, annotations, cohorts, taxonomy, User Profile and raw requests — each a thin line or two
over :mod:`ampkit.dashboard` / :mod:`ampkit.profile`.

:class:`AsyncQueries` (``aqueries.py``) has the same methods and signatures, awaited.  Inputs
are checked before anything is sent: a broken rule raises
:class:`~ampkit.errors.InvalidRequest` naming the field and the rule.  Every call needs the
secret key (``secret_key=`` or ``AMPLITUDE_SECRET_KEY``) and waits on the client's query-cost
budget (:attr:`budgets`) rather than provoking 429s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from ampkit import dashboard as d
from ampkit.config import Family, Settings
from ampkit.core.limits import QueryBudgets
from ampkit.core.transport import SyncTransport
from ampkit.dashboard.custom import CustomResponse
from ampkit.dashboard.driver import QueryFlow, QueryRunner, one
from ampkit.dashboard.endpoint import checked
from ampkit.models.dashboard import (
    ActivityEvent,
    Annotation,
    AnnotationApi,
    AnnotationsQuery,
    AnnotationsResult,
    BinUnit,
    ChartCsv,
    ChartQuery,
    ChartResult,
    CoarseInterval,
    CohortDownloadQuery,
    CohortMembers,
    CohortsQuery,
    CohortsResult,
    CompositionQuery,
    CompositionResult,
    CreateAnnotation,
    DateLike,
    Direction,
    EventLike,
    EventsListQuery,
    EventsListResult,
    FunnelMode,
    FunnelQuery,
    FunnelResult,
    Interval,
    IntervalName,
    RealtimeQuery,
    RealtimeResult,
    RetentionMethod,
    RetentionQuery,
    RetentionResult,
    RevenueLtvQuery,
    RevenueLtvResult,
    SegmentationMetric,
    SegmentationQuery,
    SegmentationResult,
    SegmentCondition,
    SessionAverageQuery,
    SessionAverageResult,
    SessionLengthQuery,
    SessionLengthResult,
    SessionsPerUserQuery,
    SessionsPerUserResult,
    TaxonomyCategories,
    TaxonomyEventProperties,
    TaxonomyEventTypes,
    TaxonomyQuery,
    TaxonomyUserProperties,
    UserActivityQuery,
    UserActivityResult,
    UserSearchQuery,
    UserSearchResult,
    UsersQuery,
    UsersResult,
)
from ampkit.models.dashboard import Segment as SegmentModel
from ampkit.models.dashboard.common import UserType
from ampkit.models.profile import PropensityType, RecType, UserProfile, UserProfileQuery
from ampkit.profile import parse as parse_profile
from ampkit.profile import request as profile_request

T = TypeVar("T")
Segment = SegmentModel | Sequence[SegmentCondition | Mapping[str, Any]] | None
"""A :class:`~ampkit.models.dashboard.Segment` or a list of conditions (models or dicts)."""
Day = DateLike
Moment = dt.datetime | dt.date | str | None
Step = EventLike | Mapping[str, Any]
RevenueMetricArg = int | str
IntervalArg = Interval | IntervalName
CoarseArg = CoarseInterval | IntervalName
QueryParams = Mapping[str, Any] | Sequence[tuple[str, str]] | None
ActivityStream = Iterator[ActivityEvent]
"""What ``iter_user_activity`` gives (an async iterator, once awaited, on the async client)."""


class SyncQueries:
    """Query methods of the sync client (mixed into :class:`~ampkit.client.Amplitude`)."""

    settings: Settings
    transport: SyncTransport
    budgets: QueryBudgets

    def _runner(self, *, secret: bool = True) -> QueryRunner:
        if secret:
            self.settings.require_secret_key()
        return QueryRunner(self.transport, self.budgets)

    def _run(self, flow: QueryFlow[T]) -> T:
        return self._runner().run(flow)

    # --- Dashboard REST ------------------------------------------------------------------

    def active_users(self, start: Day, end: Day, *, interval: CoarseArg = 1,
                     segment: Segment = None, group_by: str | None = None) -> UsersResult:
        """Active users per day/week/month (``GET /api/2/users?m=active``)."""
        with checked(d.users.USERS.path):
            q = UsersQuery(start=start, end=end, metric="active", interval=interval,
                           segment=segment, group_by=group_by)
        return self._run(d.users.flow(q))

    def new_users(self, start: Day, end: Day, *, interval: CoarseArg = 1,
                  segment: Segment = None, group_by: str | None = None) -> UsersResult:
        """New users per day/week/month (``GET /api/2/users?m=new``)."""
        with checked(d.users.USERS.path):
            q = UsersQuery(start=start, end=end, metric="new", interval=interval,
                           segment=segment, group_by=group_by)
        return self._run(d.users.flow(q))

    def session_length_distribution(
        self, start: Day, end: Day, *, bin_unit: BinUnit | None = None,
        bin_min: float | None = None, bin_max: float | None = None,
        bin_size: float | None = None,
    ) -> SessionLengthResult:
        """Sessions per length bin (``GET /api/2/sessions/length``)."""
        with checked(d.sessions.LENGTH.path):
            q = SessionLengthQuery(start=start, end=end, bin_unit=bin_unit, bin_min=bin_min,
                                   bin_max=bin_max, bin_size=bin_size)
        return self._run(d.sessions.length_flow(q))

    def average_session_length(self, start: Day, end: Day) -> SessionAverageResult:
        """Average session length in seconds per day (``GET /api/2/sessions/average``)."""
        with checked(d.sessions.AVERAGE.path):
            q = SessionAverageQuery(start=start, end=end)
        return self._run(d.sessions.average_flow(q))

    def sessions_per_user(self, start: Day, end: Day) -> SessionsPerUserResult:
        """Average sessions per user per day (``GET /api/2/sessions/peruser``)."""
        with checked(d.sessions.PER_USER.path):
            q = SessionsPerUserQuery(start=start, end=end)
        return self._run(d.sessions.per_user_flow(q))

    def composition(self, start: Day, end: Day, prop: str) -> CompositionResult:
        """Unique users per value of a user property (``GET /api/2/composition``)."""
        with checked(d.composition.COMPOSITION.path):
            q = CompositionQuery(start=start, end=end, prop=prop)
        return self._run(d.composition.flow(q))

    def events_list(self) -> EventsListResult:
        """Visible event types with this week's totals (``GET /api/2/events/list``)."""
        return self._run(d.events.flow(EventsListQuery()))

    def segmentation(
        self, event: Step, start: Day, end: Day, *, second_event: Step | None = None,
        metric: SegmentationMetric = "uniques", user_type: UserType | None = None,
        interval: IntervalArg = 1, segment: Segment = None, group_by: str | None = None,
        group_by2: str | None = None, limit: int | None = None, formula: str | None = None,
        rolling_window: int | None = None, rolling_average: int | None = None,
    ) -> SegmentationResult:
        """Event segmentation (``GET /api/2/events/segmentation``)."""
        with checked(d.segmentation.SEGMENTATION.path):
            q = SegmentationQuery(
                event=event, second_event=second_event, start=start, end=end, metric=metric,
                user_type=user_type, interval=interval, segment=segment, group_by=group_by,
                group_by2=group_by2, limit=limit, formula=formula,
                rolling_window=rolling_window, rolling_average=rolling_average)
        return self._run(d.segmentation.flow(q))

    def funnel(
        self, steps: Sequence[Step], start: Day, end: Day, *, mode: FunnelMode = "ordered",
        user_type: UserType | None = None, interval: IntervalArg = 1, segment: Segment = None,
        group_by: str | None = None, conversion_window: int | None = None,
        limit: int | None = None,
    ) -> FunnelResult:
        """Funnel analysis, one event per step (``GET /api/2/funnels``)."""
        with checked(d.funnels.FUNNELS.path):
            q = FunnelQuery(events=list(steps), start=start, end=end, mode=mode,
                            user_type=user_type, interval=interval, segment=segment,
                            group_by=group_by, conversion_window=conversion_window, limit=limit)
        return self._run(d.funnels.flow(q))

    def retention(
        self, start_event: Step, return_event: Step, start: Day, end: Day, *,
        method: RetentionMethod | None = None, brackets: Sequence[tuple[int, int]] | None = None,
        interval: CoarseArg = 1, segment: Segment = None, group_by: str | None = None,
    ) -> RetentionResult:
        """Retention analysis (``GET /api/2/retention``); ``method=None`` is n-day."""
        with checked(d.retention.RETENTION.path):
            q = RetentionQuery(start_event=start_event, return_event=return_event, start=start,
                               end=end, method=method, brackets=brackets, interval=interval,
                               segment=segment, group_by=group_by)
        return self._run(d.retention.flow(q))

    def realtime_users(self) -> RealtimeResult:
        """Active users in 5-minute buckets, today and yesterday (``GET /api/2/realtime``)."""
        return self._run(d.realtime.flow(RealtimeQuery()))

    def revenue_ltv(
        self, start: Day, end: Day, *, metric: RevenueMetricArg = 0, interval: CoarseArg = 1,
        segment: Segment = None, group_by: str | None = None,
    ) -> RevenueLtvResult:
        """Revenue LTV; ``metric``: 0/"arpu", 1/"arppu", 2/"total", 3/"paying"."""
        with checked(d.revenue.REVENUE_LTV.path):
            q = RevenueLtvQuery(start=start, end=end, metric=metric, interval=interval,
                                segment=segment, group_by=group_by)
        return self._run(d.revenue.flow(q))

    # --- users -----------------------------------------------------------------------------

    def user_search(self, user: str) -> UserSearchResult:
        """Find users by Amplitude ID, device ID, user ID or user-ID prefix."""
        with checked(d.user_search.USER_SEARCH.path):
            q = UserSearchQuery(user=user)
        return self._run(d.user_search.flow(q))

    def user_activity(self, amplitude_id: int, *, offset: int = 0, limit: int = 1000,
                      direction: Direction = "latest") -> UserActivityResult:
        """One page (≤ 1,000 events) of a user's events and profile, by **Amplitude ID**."""
        with checked(d.user_activity.USER_ACTIVITY.path):
            q = UserActivityQuery(user=amplitude_id, offset=offset, limit=limit,
                                  direction=direction)
        return self._run(d.user_activity.flow(q))

    def iter_user_activity(self, amplitude_id: int, *, direction: Direction = "latest",
                           page_size: int = 1000,
                           max_events: int | None = None) -> ActivityStream:
        """All of a user's events, paging past the 1,000-event cap as they are consumed.

        Async client: ``async for event in await amp.iter_user_activity(amplitude_id)``.
        """
        pager = d.user_activity.ActivityPager(amplitude_id, direction, page_size, max_events)
        return d.user_activity.iter_events(self._runner(), pager)

    # --- charts, annotations, cohorts, taxonomy ----------------------------------------------

    def chart(self, chart_id: str) -> ChartResult:
        """A saved chart's results as JSON (``GET /api/3/chart/{id}/query``)."""
        with checked(d.charts.CHART_QUERY.path):
            q = ChartQuery(chart_id=chart_id)
        return self._run(d.charts.flow(q))

    def chart_csv(self, chart_id: str) -> ChartCsv:
        """A saved chart's results as CSV (``GET /api/3/chart/{id}/csv``)."""
        with checked(d.charts.CHART_CSV.path):
            q = ChartQuery(chart_id=chart_id)
        return self._run(d.charts.csv_flow(q))

    def annotations(
        self, *, api: AnnotationApi = "v2", annotation_id: int | None = None,
        category: str | None = None, chart_id: str | None = None, start: Moment = None,
        end: Moment = None,
    ) -> AnnotationsResult:
        """Chart annotations (v2 list; ``api="v3"`` for categories and time ranges)."""
        with checked(d.annotations.LIST_V2.path):
            q = AnnotationsQuery(api=api, id=annotation_id, category=category,
                                 chart_id=chart_id, start=start, end=end)
        return self._run(d.annotations.flow(q))

    def create_annotation(
        self, label: str, *, date: Day | None = None, app_id: int | None = None,
        start: Moment = None, end: Moment = None, category: str | None = None,
        chart_id: str | None = None, details: str | None = None,
    ) -> Annotation:
        """Create an annotation: ``date`` + ``app_id`` → v2; ``start`` (+ ``end``) → v3."""
        with checked(d.annotations.CREATE_V2.path):
            new = CreateAnnotation(label=label, date=date, app_id=app_id, start=start, end=end,
                                   category=category, chart_id=chart_id, details=details)
        return self._run(d.annotations.create_flow(new))

    def cohorts(self, *, include_sync_info: bool = False) -> CohortsResult:
        """Every behavioral cohort of the project (``GET /api/3/cohorts``)."""
        q = CohortsQuery(include_sync_info=include_sync_info)
        return self._run(d.cohorts.flow(q))

    def cohort_members(
        self, cohort_id: str, *, props: bool = False, prop_keys: Sequence[str] = (),
        poll_interval: float = d.cohorts.DEFAULT_POLL_INTERVAL,
        max_wait: float = d.cohorts.DEFAULT_MAX_WAIT,
    ) -> CohortMembers:
        """Download a cohort: request, poll until done, fetch the file."""
        with checked(d.cohorts.REQUEST.path):
            q = CohortDownloadQuery(cohort_id=cohort_id, props=props, prop_keys=list(prop_keys))
        flow = d.cohorts.download_flow(q, poll_interval=poll_interval, max_wait=max_wait)
        return self._run(flow)

    def taxonomy_categories(self) -> TaxonomyCategories:
        """Event categories of the tracking plan."""
        return self._run(d.taxonomy.categories_flow())

    def taxonomy_event_types(self, *, show_deleted: bool = False) -> TaxonomyEventTypes:
        """Event types of the tracking plan."""
        q = TaxonomyQuery(show_deleted=show_deleted)
        return self._run(d.taxonomy.event_types_flow(q))

    def taxonomy_event_properties(
        self, event_type: str | None = None
    ) -> TaxonomyEventProperties:
        """Event properties of one event type (or the shared ones)."""
        q = TaxonomyQuery(event_type=event_type)
        return self._run(d.taxonomy.event_properties_flow(q))

    def taxonomy_user_properties(
        self, *, show_deleted: bool = False
    ) -> TaxonomyUserProperties:
        """User properties (custom ones with the ``gp:`` prefix)."""
        q = TaxonomyQuery(show_deleted=show_deleted)
        return self._run(d.taxonomy.user_properties_flow(q))

    # --- User Profile API and raw requests ---------------------------------------------------

    def user_profile(
        self, user_id: str | None = None, *, device_id: str | None = None,
        amp_props: bool = False, cohort_ids: bool = False, computations: bool = False,
        comp_ids: Sequence[str] = (), recommendations: Sequence[str] = (),
        rec_type: RecType | None = None, predictions: Sequence[str] = (),
        propensity_type: PropensityType | None = None,
    ) -> UserProfile:
        """A user's profile from the User Profile API (US only; secret key)."""
        with checked("/v1/userprofile"):
            q = UserProfileQuery(
                user_id=user_id, device_id=device_id, get_amp_props=amp_props,
                get_cohort_ids=cohort_ids, get_computations=computations,
                comp_ids=list(comp_ids), rec_ids=list(recommendations), rec_type=rec_type,
                prediction_ids=list(predictions), propensity_type=propensity_type)
        return self._run(one(profile_request(q), parse_profile))

    def request(self, method: str, path: str, *, params: QueryParams = None, json: Any = None,
                family: Family = "analytics") -> CustomResponse:
        """Any request to an API family (auth, retries and budget included)."""
        spec = d.custom.request(method, path, params=params, json=json, family=family)
        return self._runner(secret=family != "ingest").run(d.custom.flow(spec))
