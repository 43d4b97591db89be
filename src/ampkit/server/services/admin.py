"""The admin routes' work (``/_ampkit/*``): read back what a project stored, its counters, and
forget it all.  These take the whole :class:`Store`: they read its in-memory indexes under its
lock, as ingestion writes them."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ampkit.server import catalog
from ampkit.server.filters import STEPS, EventFilter, iso
from ampkit.server.store import Store, now_ms

BUSIEST = 20
"""How many users and devices ``stats`` lists per throttle."""


@dataclass(frozen=True, slots=True)
class EventsFound:
    events: list[dict[str, Any]]
    """In the Export API's shape."""
    cursor: int
    """The arrival number of the last event to arrive among them (``match.after_seq`` when
    there are none): pass it back as ``after_seq`` for only the events that came later."""


def events_page(store: Store, project_id: int, limit: int, offset: int) -> list[dict[str, Any]]:
    """Stored events in arrival order, in the Export API's shape."""
    return store.events_page(project_id, limit, offset)


def find_events(store: Store, project_id: int, match: EventFilter, limit: int, offset: int,
                newest_first: bool) -> EventsFound:
    """The events that ``match``, in arrival order or newest first, and the page's cursor."""
    found = store.find_events(project_id, match, limit, offset, newest_first=newest_first)
    return EventsFound([event for _, event in found],
                       max((seq for seq, _ in found), default=match.after_seq))


def event_by_insert_id(store: Store, project_id: int, insert_id: str) -> dict[str, Any] | None:
    """The last event to arrive with this ``insert_id`` (two devices may each send one)."""
    found = store.find_events(project_id, EventFilter(insert_id=insert_id), 1,
                              newest_first=True)
    return found[0][1] if found else None


def counts(store: Store, project_id: int, match: EventFilter, interval: str,
           by_event_type: bool) -> dict[str, Any]:
    """Events per ``interval`` over ``match.since`` (a bucket start) … ``match.until``, every
    bucket listed (zeros too); with ``by_event_type``, each bucket's count per event type."""
    since, until = match.since, match.until
    if since is None or until is None:
        raise ValueError("counts: the filter must bound the window (since and until)")
    per: dict[dt.datetime, Counter[str]] = {}
    for at, event_type, n in store.count_by_bucket(project_id, match, interval):
        per.setdefault(at, Counter())[str(event_type)] += n
    step = STEPS[interval]
    buckets = []
    for i in range(math.ceil((until - since) / step)):
        start = since + i * step  # before until: never past the calendar's end
        types = per.get(start, Counter())
        bucket: dict[str, Any] = {"start": iso(start), "count": types.total()}
        if by_event_type:
            bucket["event_types"] = dict(sorted(types.items()))
        buckets.append(bucket)
    return {"interval": interval, "time_field": match.time_field, "since": iso(since),
            "until": iso(until), "total": sum(b["count"] for b in buckets),
            "buckets": buckets}


def stats(store: Store, project_id: int) -> dict[str, Any]:
    """The project's own numbers: events, users, groups and its ingestion counters; its
    silenced devices and its throttles (limits, and the busiest users and devices now)."""
    events = store.count_events(project_id)
    with store.lock:
        state = store.states[project_id]
        return {"project_id": project_id, "events": events, "users": len(state.users),
                "groups": len(state.groups), **state.counters,
                "silenced_devices": list(store.projects[project_id].silenced_devices),
                "throttle": _throttle(store, project_id)}


def _throttle(store: Store, project_id: int) -> dict[str, Any]:
    config, at = store.config.throttle, now_ms()
    out: dict[str, Any] = {"enabled": config.enabled, "window_seconds": config.window_seconds,
                           "daily_quota": config.daily_quota}
    for api in ("httpapi", "batch"):
        throttle = store.throttles[(project_id, api)]
        out[api] = {"eps_limit": throttle.eps, "busiest": throttle.busiest(at, BUSIEST)}
    return out


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
