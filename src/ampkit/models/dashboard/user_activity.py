"""User activity — ``GET /api/2/useractivity`` (reference §10.16)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from ampkit.models.base import AmpModel
from ampkit.models.dashboard.common import DashboardQuery
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import DashboardResult
from ampkit.models.export import ExportEvent
from ampkit.models.wire import Wire

Direction = Literal["latest", "earliest"]
MAX_ACTIVITY_LIMIT = 1000
"""Amplitude returns at most 1,000 events per call (sometimes a few more, to keep a session)."""


class UserActivityQuery(DashboardQuery):
    """``user`` (the **Amplitude ID**, not the user id), ``offset``, ``limit`` (≤ 1,000),
    ``direction``."""

    kind: ClassVar[QueryKind] = "other"

    amplitude_id: Annotated[int, Wire("user"), Field(ge=0, le=2**63 - 1, description=(
        "The user's Amplitude ID (from user_search), not the user id."))]
    offset: Annotated[int, Wire("offset"), Field(ge=0, le=2**63 - 1, description=(
        "Events to skip (for paging)."))] = 0
    limit: Annotated[int, Wire("limit"), Field(ge=1, le=MAX_ACTIVITY_LIMIT, description=(
        "Events to return (≤ 1,000)."))] = MAX_ACTIVITY_LIMIT
    direction: Annotated[Direction, Wire("direction"), Field(description=(
        "Newest events first, or oldest first."))] = "latest"


class Location(AmpModel):
    lat: float | None = None
    lng: float | None = None


class UserData(AmpModel):
    """The ``userData`` object.  An unknown Amplitude ID gives a zeroed profile (still 200)."""

    user_id: str | None = None
    canonical_amplitude_id: int | None = None
    merged_amplitude_ids: list[int] = Field(default_factory=list)
    num_events: int | None = None
    num_sessions: int | None = None
    usage_time: int | float | None = None
    first_used: str | None = None
    last_used: str | None = None
    purchases: int | None = None
    revenue: float | None = None
    platform: str | None = None
    os: str | None = None
    version: str | None = None
    device: str | None = None
    device_type: str | None = None
    carrier: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    dma: str | None = None
    language: str | None = None
    start_version: str | None = None
    device_ids: list[str] = Field(default_factory=list)
    last_device_id: str | None = None
    last_location: Location | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    first_seen: str | int | None = None
    last_seen: str | int | None = None
    library: str | None = None
    ip_address: str | None = None
    paying: bool | None = None


class ActivityEvent(ExportEvent):
    """An event of a user's stream.  The field list is not documented; ampkit assumes the
    export event shape (unconfirmed) and keeps every other key."""


class UserActivityResult(DashboardResult):
    """``{"userData": {...}, "events": [...]}`` (no ``data`` wrapper), newest first by default;
    real answers may add a ``metadata`` object."""

    user_data: UserData = Field(default_factory=UserData)
    events: list[ActivityEvent] = Field(default_factory=list)
    metadata: dict[str, Any] | None = None
