"""Every Dashboard query endpoint declared once: :data:`DEFS`.

An :class:`EndpointDef` is the single source of an endpoint — path and method, the query model
(whose fields declare their wire parameters both ways, :mod:`ampkit.models.wire`), the result
model, the cost kind and limit class, and the words people and agents read.  From it come:

- the client's methods, sync and async (``ampkit/client/_generated.py``, written by
  ``python -m tools.codegen`` and checked by CI: regenerate, then ``git diff --exit-code``);
- the typed actions and so the MCP tools (:mod:`ampkit.actions.queries`);
- the command line (``ampkit query <name> --option …``, one ``--help`` per query);
- the local server's parsing of the request (``DEF.query`` read with
  :func:`~ampkit.models.wire.from_wire`; the server keeps its own computation);
- the contract tests (query → wire → server parse → answer → result, per endpoint).

Adding an optional parameter to an endpoint is one field on its query model (with its
:class:`~ampkit.models.wire.Wire` and description) and the server's computation that uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from ampkit.models.dashboard import sessions
from ampkit.models.dashboard.common import DashboardQuery
from ampkit.models.dashboard.composition import CompositionQuery, CompositionResult
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.events import EventsListQuery, EventsListResult
from ampkit.models.dashboard.funnels import FunnelQuery, FunnelResult
from ampkit.models.dashboard.realtime import RealtimeQuery, RealtimeResult
from ampkit.models.dashboard.retention import RetentionQuery, RetentionResult
from ampkit.models.dashboard.revenue import RevenueLtvQuery, RevenueLtvResult
from ampkit.models.dashboard.segmentation import SegmentationQuery, SegmentationResult
from ampkit.models.dashboard.user_activity import UserActivityQuery, UserActivityResult
from ampkit.models.dashboard.user_search import UserSearchQuery, UserSearchResult
from ampkit.models.dashboard.users import UsersQuery, UsersResult

Output = Literal["series", "result"]
"""How an action shows the answer: ``series`` flattens a time series into points."""
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Call:
    """One client method over an endpoint: ``name``, the fields taken by position
    (``positional``, in order; the others are keyword-only) and values the method sets itself
    (``fixed``).  Its arguments are named as the query model's fields."""

    name: str
    positional: tuple[str, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    summary: str = ""


@dataclass(frozen=True, slots=True)
class EndpointDef:
    """One Dashboard query endpoint, the single source of everything built on it."""

    name: str
    path: str
    query: type[DashboardQuery]
    result: type[Any]
    summary: str
    """One line: the methods' docstrings, the actions' titles, ``ampkit query`` help."""
    description: str
    """What an agent reads (the action's and MCP tool's description)."""
    calls: tuple[Call, ...]
    method: str = "GET"
    limit_class: Literal["dashboard", "user"] = "dashboard"
    action: str | None = None
    """The typed action's (and MCP tool's) name; ``None``: no action."""
    output: Output = "result"

    @property
    def kind(self) -> QueryKind:
        return self.query.kind


DEFS_LIST: tuple[EndpointDef, ...] = (
    EndpointDef(
        "user_search", "/api/2/usersearch", UserSearchQuery, UserSearchResult,
        "Find users by Amplitude ID, device ID, user ID or user-ID prefix",
        "Find users by Amplitude ID, device ID, user ID or the beginning of a user ID; each "
        "match gives the Amplitude ID that user activity needs (GET /api/2/usersearch).",
        (Call("user_search", ("user",)),),
        limit_class="user", action="user_search"),
    EndpointDef(
        "user_activity", "/api/2/useractivity", UserActivityQuery, UserActivityResult,
        "One page (≤ 1,000 events) of a user's events and profile, by Amplitude ID",
        "A user's profile (userData) and one page of their events, newest or oldest first, by "
        "Amplitude ID (find it with user_search) (GET /api/2/useractivity).",
        (Call("user_activity", ("amplitude_id",)),),
        limit_class="user", action="user_activity"),
    EndpointDef(
        "segmentation", "/api/2/events/segmentation", SegmentationQuery, SegmentationResult,
        "Event segmentation",
        "How often an event happened, or how many users did it, per day/week/…, optionally "
        "filtered, segmented and grouped by a property (GET /api/2/events/segmentation).",
        (Call("segmentation", ("event", "start", "end")),),
        action="event_segmentation", output="series"),
    EndpointDef(
        "users", "/api/2/users", UsersQuery, UsersResult,
        "Active or new users per day, week or month",
        "Active users (did anything) or new users (first seen) per day, week or month, "
        "optionally segmented and grouped by a user property (GET /api/2/users).",
        (Call("active_users", ("start", "end"), {"metric": "active"},
              summary="Active users per day/week/month"),
         Call("new_users", ("start", "end"), {"metric": "new"},
              summary="New users per day/week/month")),
        action="active_users", output="series"),
    EndpointDef(
        "realtime", "/api/2/realtime", RealtimeQuery, RealtimeResult,
        "Active users in 5-minute buckets, today and yesterday",
        "Active users in 5-minute buckets over today and yesterday (GET /api/2/realtime).",
        (Call("realtime_users"),),
        action="realtime_active_users", output="series"),
    EndpointDef(
        "events_list", "/api/2/events/list", EventsListQuery, EventsListResult,
        "Visible event types with this week's totals",
        "The project's visible event types, with this week's totals (GET /api/2/events/list).",
        (Call("events_list"),),
        action="list_events"),
    EndpointDef(
        "revenue_ltv", "/api/2/revenue/ltv", RevenueLtvQuery, RevenueLtvResult,
        "Revenue LTV by cohort day",
        "Revenue lifetime value of each day's new users: ARPU, ARPPU, total revenue or paying "
        "users after 1…90 days (GET /api/2/revenue/ltv).",
        (Call("revenue_ltv", ("start", "end")),),
        action="revenue_ltv"),
    EndpointDef(
        "funnels", "/api/2/funnels", FunnelQuery, FunnelResult,
        "Funnel analysis, one event per step",
        "How many users went through a sequence of events (steps) within a conversion "
        "window, and how long each step took (GET /api/2/funnels).",
        (Call("funnel", ("steps", "start", "end")),),
        action="funnel"),
    EndpointDef(
        "retention", "/api/2/retention", RetentionQuery, RetentionResult,
        "Retention analysis",
        "Of the users who did a starting event on each day, how many came back with a "
        "returning event N days later (n-day), on or after (rolling), or within brackets "
        "(GET /api/2/retention).",
        (Call("retention", ("start_event", "return_event", "start", "end")),),
        action="retention"),
    EndpointDef(
        "sessions_length", "/api/2/sessions/length", sessions.SessionLengthQuery,
        sessions.SessionLengthResult, "Sessions per length bin",
        "How many sessions fall in each session-length bin, Amplitude's default bins or "
        "custom ones (GET /api/2/sessions/length).",
        (Call("session_length_distribution", ("start", "end")),),
        action="session_length_distribution", output="series"),
    EndpointDef(
        "sessions_average", "/api/2/sessions/average", sessions.SessionAverageQuery,
        sessions.SessionAverageResult, "Average session length in seconds per day",
        "The average session length, in seconds, per day (GET /api/2/sessions/average).",
        (Call("average_session_length", ("start", "end")),),
        action="average_session_length", output="series"),
    EndpointDef(
        "sessions_per_user", "/api/2/sessions/peruser", sessions.SessionsPerUserQuery,
        sessions.SessionsPerUserResult, "Average sessions per user per day",
        "How many sessions an active user has on average, per day "
        "(GET /api/2/sessions/peruser).",
        (Call("sessions_per_user", ("start", "end")),),
        action="sessions_per_user", output="series"),
    EndpointDef(
        "composition", "/api/2/composition", CompositionQuery, CompositionResult,
        "Unique users per value of a user property",
        "How many unique users have each value of a user property — a built-in one such as "
        "country or platform, or gp:<custom> (GET /api/2/composition).",
        (Call("composition", ("start", "end", "prop")),),
        action="composition", output="series"),
)

DEFS: Mapping[str, EndpointDef] = MappingProxyType({d.name: d for d in DEFS_LIST})
"""Every Dashboard query endpoint, by name."""
BY_PATH: Mapping[str, EndpointDef] = MappingProxyType({d.path: d for d in DEFS_LIST})

__all__ = ["BY_PATH", "DEFS", "DEFS_LIST", "Call", "EndpointDef", "Output"]
