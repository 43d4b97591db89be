"""The admin routes' work (``/_ampkit/*``): read back what a project stored, its counters, and
forget it all.  These take the whole :class:`Store`: they read its in-memory indexes under its
lock, as ingestion writes them."""

from __future__ import annotations

from typing import Any

from ampkit.server import catalog
from ampkit.server.store import Store


def events_page(store: Store, project_id: int, limit: int, offset: int) -> list[dict[str, Any]]:
    """Stored events in arrival order, in the Export API's shape."""
    return store.events_page(project_id, limit, offset)


def stats(store: Store, project_id: int) -> dict[str, Any]:
    """The project's own numbers: events, users, groups and its ingestion counters."""
    events = store.count_events(project_id)
    with store.lock:
        state = store.states[project_id]
        return {"project_id": project_id, "events": events, "users": len(state.users),
                "groups": len(state.groups), **state.counters}


def user(store: Store, project_id: int, user_id: str) -> dict[str, Any] | None:
    return store.user_snapshot(project_id, user_id)


def group(store: Store, project_id: int, group_type: str,
          group_value: str) -> dict[str, Any] | None:
    return store.group_snapshot(project_id, group_type, group_value)


def reset(store: Store, project_id: int) -> None:
    """Forget the project's events, users, groups, annotations, cohorts and categories, and its
    requests in the limits' windows."""
    store.reset(project_id)
    with store.transaction() as con:
        catalog.clear(con, project_id)
