"""Events list — ``GET /api/2/events/list`` (reference §10.12)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from ampkit.models.base import AmpModel
from ampkit.models.dashboard.common import DashboardQuery
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import DashboardResult


class EventsListQuery(DashboardQuery):
    """No parameters."""

    kind: ClassVar[QueryKind] = "other"


class EventTypeSummary(AmpModel):
    """One visible event type with this week's totals."""

    value: str | None = None
    display: str | None = None
    totals: int | float | None = None
    non_active: bool | None = None
    deleted: bool | None = None
    hidden: bool | None = None
    flow_hidden: bool | None = None
    id: int | None = None
    name: str | None = None
    totals_delta: int | float | None = None
    autohidden: bool | None = None
    in_waitroom: bool | None = None
    clusters_hidden: bool | None = None
    timeline_hidden: bool | int | float | None = None
    waitroom_approved: bool | None = None


class EventsListResult(DashboardResult):
    """``{"data": [event types]}``."""

    events: list[EventTypeSummary] = Field(default_factory=list)

    @classmethod
    def unwrap(cls, body: Any) -> Any:
        data = super().unwrap(body)
        return {"events": data} if isinstance(data, list) else data

    def names(self) -> list[str]:
        return [e.value for e in self.events if e.value is not None]
