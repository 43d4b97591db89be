"""The client's query methods, written once, as flows.

A method here is named ``_<name>_flow`` and returns the :data:`~ampkit.core.flow.Flow`
that does the work; ``python -m tools.codegen`` turns each into a sync method ``<name>`` of
:class:`~ampkit.client.Amplitude` and an async one of :class:`~ampkit.client.AsyncAmplitude`
(same signature and docstring), and adds one method pair per call of every
:data:`ampkit.models.endpoints.DEFS` definition — see ``ampkit/client/_generated.py``.  The one
method that iterates instead, ``iter_user_activity`` (:mod:`ampkit.client.queries`), runs
:meth:`QueryFlows._user_activity_events`.

Inputs are checked before anything is sent: a broken rule raises
:class:`~ampkit.errors.InvalidRequest` naming the field and the rule.  Every Dashboard call needs
the secret key (``secret_key=`` or ``AMPLITUDE_SECRET_KEY``) and waits on the client's
query-cost budget (:attr:`budgets`) rather than provoking 429s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from ampkit import dashboard as d
from ampkit.config import Family, Settings
from ampkit.core.flow import Flow, one
from ampkit.core.limits import QueryBudgets
from ampkit.dashboard.custom import CustomResponse
from ampkit.dashboard.endpoint import checked
from ampkit.dashboard.queries import build
from ampkit.dashboard.queries import flow as endpoint_flow
from ampkit.models.dashboard import (
    Annotation,
    AnnotationApi,
    AnnotationsQuery,
    AnnotationsResult,
    ChartCsv,
    ChartQuery,
    ChartResult,
    CohortDownloadQuery,
    CohortMembers,
    CohortsQuery,
    CohortsResult,
    CreateAnnotation,
    DateLike,
    Direction,
    TaxonomyCategories,
    TaxonomyEventProperties,
    TaxonomyEventTypes,
    TaxonomyQuery,
    TaxonomyUserProperties,
)
from ampkit.models.endpoints import EndpointDef
from ampkit.models.profile import PropensityType, RecType, UserProfile, UserProfileQuery
from ampkit.profile import parse as parse_profile
from ampkit.profile import request as profile_request

R = TypeVar("R")
Moment = dt.datetime | dt.date | str | None
QueryParams = Mapping[str, Any] | Sequence[tuple[str, str]] | None


class QueryFlows:
    """Every query of the client as a flow (mixed into both clients through
    ``_generated.py``)."""

    settings: Settings
    budgets: QueryBudgets

    def _endpoint_flow(self, definition: EndpointDef, result: type[R],
                       args: Mapping[str, object]) -> Flow[R]:
        """A :data:`~ampkit.models.endpoints.DEFS` endpoint called with ``args``."""
        self.settings.require_secret_key()
        return endpoint_flow(build(definition, args), result)

    # --- charts, annotations, cohorts, taxonomy ----------------------------------------------

    def _chart_flow(self, chart_id: str) -> Flow[ChartResult]:
        """A saved chart's results as JSON (``GET /api/3/chart/{id}/query``)."""
        self.settings.require_secret_key()
        with checked(d.charts.CHART_QUERY.path):
            q = ChartQuery(chart_id=chart_id)
        return d.charts.flow(q)

    def _chart_csv_flow(self, chart_id: str) -> Flow[ChartCsv]:
        """A saved chart's results as CSV (``GET /api/3/chart/{id}/csv``)."""
        self.settings.require_secret_key()
        with checked(d.charts.CHART_CSV.path):
            q = ChartQuery(chart_id=chart_id)
        return d.charts.csv_flow(q)

    def _annotations_flow(
        self, *, api: AnnotationApi = "v2", annotation_id: int | None = None,
        category: str | None = None, chart_id: str | None = None, start: Moment = None,
        end: Moment = None,
    ) -> Flow[AnnotationsResult]:
        """Chart annotations (v2 list; ``api="v3"`` for categories and time ranges)."""
        self.settings.require_secret_key()
        with checked(d.annotations.LIST_V2.path):
            q = AnnotationsQuery(api=api, id=annotation_id, category=category,
                                 chart_id=chart_id, start=start, end=end)
        return d.annotations.flow(q)

    def _create_annotation_flow(
        self, label: str, *, date: DateLike | None = None, app_id: int | None = None,
        start: Moment = None, end: Moment = None, category: str | None = None,
        chart_id: str | None = None, details: str | None = None,
    ) -> Flow[Annotation]:
        """Create an annotation: ``date`` + ``app_id`` → v2; ``start`` (+ ``end``) → v3."""
        self.settings.require_secret_key()
        with checked(d.annotations.CREATE_V2.path):
            new = CreateAnnotation(label=label, date=date, app_id=app_id, start=start, end=end,
                                   category=category, chart_id=chart_id, details=details)
        return d.annotations.create_flow(new)

    def _cohorts_flow(self, *, include_sync_info: bool = False) -> Flow[CohortsResult]:
        """Every behavioral cohort of the project (``GET /api/3/cohorts``)."""
        self.settings.require_secret_key()
        return d.cohorts.flow(CohortsQuery(include_sync_info=include_sync_info))

    def _cohort_members_flow(
        self, cohort_id: str, *, props: bool = False, prop_keys: Sequence[str] = (),
        poll_interval: float = d.cohorts.DEFAULT_POLL_INTERVAL,
        max_wait: float = d.cohorts.DEFAULT_MAX_WAIT,
    ) -> Flow[CohortMembers]:
        """Download a cohort: request, poll until done, fetch the file."""
        self.settings.require_secret_key()
        with checked(d.cohorts.REQUEST.path):
            q = CohortDownloadQuery(cohort_id=cohort_id, props=props, prop_keys=list(prop_keys))
        return d.cohorts.download_flow(q, poll_interval=poll_interval, max_wait=max_wait)

    def _taxonomy_categories_flow(self) -> Flow[TaxonomyCategories]:
        """Event categories of the tracking plan."""
        self.settings.require_secret_key()
        return d.taxonomy.categories_flow()

    def _taxonomy_event_types_flow(
        self, *, show_deleted: bool = False
    ) -> Flow[TaxonomyEventTypes]:
        """Event types of the tracking plan."""
        self.settings.require_secret_key()
        return d.taxonomy.event_types_flow(TaxonomyQuery(show_deleted=show_deleted))

    def _taxonomy_event_properties_flow(
        self, event_type: str | None = None
    ) -> Flow[TaxonomyEventProperties]:
        """Event properties of one event type (or the shared ones)."""
        self.settings.require_secret_key()
        return d.taxonomy.event_properties_flow(TaxonomyQuery(event_type=event_type))

    def _taxonomy_user_properties_flow(
        self, *, show_deleted: bool = False
    ) -> Flow[TaxonomyUserProperties]:
        """User properties (custom ones with the ``gp:`` prefix)."""
        self.settings.require_secret_key()
        return d.taxonomy.user_properties_flow(TaxonomyQuery(show_deleted=show_deleted))

    def _user_activity_events(self, amplitude_id: int, direction: Direction, page_size: int,
                              max_events: int | None) -> Flow[None]:
        """Each of a user's events as it is paged in (``iter_user_activity``, sync or async)."""
        self.settings.require_secret_key()
        return d.user_activity.events_flow(
            d.user_activity.ActivityPager(amplitude_id, direction, page_size, max_events))

    # --- User Profile API and raw requests ---------------------------------------------------

    def _user_profile_flow(
        self, user_id: str | None = None, *, device_id: str | None = None,
        amp_props: bool = False, cohort_ids: bool = False, computations: bool = False,
        comp_ids: Sequence[str] = (), recommendations: Sequence[str] = (),
        rec_type: RecType | None = None, predictions: Sequence[str] = (),
        propensity_type: PropensityType | None = None,
    ) -> Flow[UserProfile]:
        """A user's profile from the User Profile API (US only; secret key)."""
        self.settings.require_secret_key()
        with checked("/v1/userprofile"):
            q = UserProfileQuery(
                user_id=user_id, device_id=device_id, get_amp_props=amp_props,
                get_cohort_ids=cohort_ids, get_computations=computations,
                comp_ids=list(comp_ids), rec_ids=list(recommendations), rec_type=rec_type,
                prediction_ids=list(predictions), propensity_type=propensity_type)
        return one(profile_request(q), parse_profile)

    def _request_flow(self, method: str, path: str, *, params: QueryParams = None,
                     json: Any = None, family: Family | None = None,
                     headers: Mapping[str, str] | None = None) -> Flow[CustomResponse]:
        """Any request to an API path or Amplitude URL (auth, retries and budget included)."""
        spec = d.custom.request(method, path, params=params, json=json, family=family,
                                headers=headers)
        if spec.family != "ingest":
            self.settings.require_secret_key()
        return d.custom.flow(spec)


__all__ = ["Moment", "QueryFlows", "QueryParams"]
