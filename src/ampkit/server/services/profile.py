"""The User Profile API's look-up (reference §12): a user by user id, else by device id, from
the project's in-memory identities; their cohorts from the tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from ampkit.server.services.cohorts import member_cohorts
from ampkit.server.state import ProjectState


@dataclass(frozen=True)
class Profile:
    amplitude_id: int
    user_id: str | None
    device_id: str | None
    user_properties: dict[str, Any]
    fields: dict[str, Any]
    """Device and location fields last set (platform, country, …)."""
    first_seen_ms: int | None
    last_seen_ms: int | None
    cohort_ids: list[str] | None
    """``None`` unless asked for."""


def lookup(con: duckdb.DuckDBPyConnection, state: ProjectState, project_id: int,
           user_id: str | None, device_id: str | None, with_cohorts: bool) -> Profile | None:
    """The user ``user_id`` names, else the one ``device_id`` names; ``None`` when neither is
    known (call under the store's lock: ``state`` is read as it stands)."""
    amp = state.by_user.get(user_id) if user_id else None
    if amp is None and device_id:
        amp = state.by_device.get(device_id)
    user = state.users.get(amp) if amp is not None else None
    if user is None:
        return None
    cohorts = member_cohorts(con, project_id, user.amplitude_id) if with_cohorts else None
    return Profile(user.amplitude_id, user.user_id, user.device_id, dict(user.user_properties),
                   dict(user.fields), user.first_seen_ms, user.last_seen_ms, cohorts)
