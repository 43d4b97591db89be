"""User search — ``GET /api/2/usersearch`` (reference §10.17)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from ampkit.models.base import AmpModel
from ampkit.models.dashboard.common import DashboardQuery
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import DashboardResult
from ampkit.models.wire import Wire

MATCH_TYPES = ("match_user_or_device_id", "match_amplitude_id", "match_user_prefix", "nomatch")


class UserSearchQuery(DashboardQuery):
    """``user``: an Amplitude ID, device ID, user ID or user-ID prefix."""

    kind: ClassVar[QueryKind] = "other"

    user: Annotated[str, Wire("user"), Field(min_length=1, max_length=1000, description=(
        "An Amplitude ID, device ID, user ID or the start of a user ID."))]


class UserMatch(AmpModel):
    """A match: ``user_id`` (may be null) and ``amplitude_id``; older answers add
    ``last_device_id``, ``platform``, ``country``, ``last_seen``."""

    user_id: str | None = None
    amplitude_id: int | None = None
    last_device_id: str | None = None
    platform: str | None = None
    country: str | None = None
    last_seen: str | None = None


class UserSearchResult(DashboardResult):
    """``{"type": ..., "matches": [...]}`` (no ``data`` wrapper).  No match is a 200 with
    ``type="nomatch"``; ``type`` is one of :data:`MATCH_TYPES`."""

    type: str = "nomatch"
    matches: list[UserMatch] = Field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.type != "nomatch" and bool(self.matches)

    def amplitude_ids(self) -> list[int]:
        return [m.amplitude_id for m in self.matches if m.amplitude_id is not None]
