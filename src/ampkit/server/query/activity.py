"""User search (``/api/2/usersearch``) and user activity (``/api/2/useractivity``) — both
answered without a ``data`` wrapper (reference §10.16–10.17).

User search, ``user=…``, tried in this order:

1. an exact user ID or device ID → ``match_user_or_device_id`` (every user that ID names);
2. an exact Amplitude ID (digits) → ``match_amplitude_id``;
3. a user-ID prefix → ``match_user_prefix`` (at most 100, by Amplitude ID);
4. nothing → 200 ``{"type": "nomatch", "matches": []}``.

Matches carry ``user_id``, ``amplitude_id``, ``last_device_id``, ``platform``, ``country`` and
``last_seen`` (local ``YYYY-MM-DD``).

User activity, ``user=<amplitude_id>`` (digits, else 400), ``offset`` (default 0, at most
2^63 − 1: a DuckDB BIGINT), ``limit`` (default 1000, 1–1000), ``direction`` (``latest``
default, newest first; ``earliest``, oldest first).  **Exactly** ``limit`` events are returned
from ``offset`` on: the docs' "``limit=1`` returns two events" and "more to avoid cutting a
session" are not reproduced, so a client can page with ``offset += len(events)``.  Events have
the export line shape.  ``userData`` sums the user's stored events (sessions = distinct
``session_id`` other than -1, ``usage_time`` = total session length in ms, each session capped
at one day as the sessions endpoints cap it, ``purchases``/``revenue`` from revenue events,
``first_used`` / ``last_used`` local dates, ``merged_amplitude_ids`` the anonymous ids merged
into the user's, whose events are the user's now); an Amplitude ID merged away answers as
the user it was merged into;
device and location fields are the last ones the user's events set (``library``,
``ip_address``, ``last_device_id`` from the latest event); ``properties`` are the current user
properties.  An unknown Amplitude ID gives 200 with the zeroed profile Amplitude sends
(``canonical_amplitude_id: 1``, counts 0, lists empty) and no events.

Parameters: :class:`~ampkit.models.dashboard.user_search.UserSearchQuery`,
:class:`~ampkit.models.dashboard.user_activity.UserActivityQuery`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import orjson

from ampkit.models.dashboard.user_activity import UserActivityQuery
from ampkit.models.dashboard.user_search import UserSearchQuery
from ampkit.server.query.common import Ctx, sql
from ampkit.server.query.sessions import DAY_MS
from ampkit.server.schema import EXPORT_SELECT, export_dict

PREFIX_LIMIT = 100
AMPLITUDE_ID = re.compile(r"[0-9]{1,18}")
"""An Amplitude ID as user search reads it: ASCII digits that fit a BIGINT (``str.isdigit``
also accepts ``²``, which ``int`` refuses: a 500)."""
_PROFILE_FIELDS = ("platform", "os", "version", "device", "device_type", "carrier", "country",
                   "region", "city", "dma", "language", "start_version", "library",
                   "ip_address")


def _day(ctx: Ctx, value: dt.datetime | None) -> str | None:
    return None if value is None else ctx.clock.to_local(value).strftime("%Y-%m-%d")


def _matches(ctx: Ctx, where: str, *args: Any) -> list[dict[str, Any]]:
    rows = ctx.rows(sql(
        "SELECT user_id, amplitude_id, device_id, fields, last_seen FROM users WHERE "
        f"project_id = ? AND ({where}) ORDER BY amplitude_id LIMIT ?",
        ctx.project_id, *args, PREFIX_LIMIT))
    out = []
    for user_id, amp, device_id, fields, last_seen in rows:
        info = orjson.loads(fields) if fields else {}
        out.append({"user_id": user_id, "amplitude_id": amp, "last_device_id": device_id,
                    "platform": info.get("platform"), "country": info.get("country"),
                    "last_seen": _day(ctx, last_seen)})
    return out


def user_search(ctx: Ctx, q: UserSearchQuery) -> dict[str, Any]:
    query = q.user.strip()
    found = _matches(ctx, "amplitude_id IN (SELECT amplitude_id FROM identities WHERE "
                          "project_id = ? AND key = ?)", ctx.project_id, query)
    if found:
        return {"matches": found, "type": "match_user_or_device_id"}
    if AMPLITUDE_ID.fullmatch(query):
        found = _matches(ctx, "amplitude_id = ?", _canonical(ctx, int(query)))
        if found:
            return {"matches": found, "type": "match_amplitude_id"}
    found = _matches(ctx, "starts_with(user_id, ?)", query)
    if found:
        return {"matches": found, "type": "match_user_prefix"}
    return {"matches": [], "type": "nomatch"}


def _device_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The user's last-set device and location fields, named as ``userData`` names them."""
    os = " ".join(str(fields[k]) for k in ("os_name", "os_version") if fields.get(k))
    return {"platform": fields.get("platform"), "os": os or None,
            "version": fields.get("app_version"),
            "device": fields.get("device_brand") or fields.get("device_manufacturer"),
            "device_type": fields.get("device_model"), "carrier": fields.get("carrier"),
            "country": fields.get("country"), "region": fields.get("region"),
            "city": fields.get("city"), "dma": fields.get("dma"),
            "language": fields.get("language"), "start_version": fields.get("start_version")}


def zeroed_profile() -> dict[str, Any]:
    """What Amplitude answers for an Amplitude ID it doesn't know."""
    return {"user_id": None, "canonical_amplitude_id": 1, "merged_amplitude_ids": [],
            "num_events": 0, "num_sessions": 0, "usage_time": 0, "first_used": None,
            "last_used": None, "purchases": 0, "revenue": 0, **dict.fromkeys(_PROFILE_FIELDS),
            "device_ids": [], "last_device_id": None, "last_location": None,
            "properties": {}, "paying": False}


def _profile(ctx: Ctx, amp: int) -> dict[str, Any] | None:
    user = ctx.one(sql("SELECT user_id, device_id, user_properties, paying, fields FROM users "
                       "WHERE project_id = ? AND amplitude_id = ?", ctx.project_id, amp))
    if user is None:
        return None
    where = sql("project_id = ? AND amplitude_id = ?", ctx.project_id, amp)
    stats = ctx.one("SELECT count(*), count(DISTINCT session_id) FILTER (WHERE session_id "
                    "IS NOT NULL AND session_id <> -1), min(event_time), max(event_time), "
                    "count(revenue), coalesce(sum(revenue), 0), "
                    "list(DISTINCT device_id) FILTER (WHERE device_id IS NOT NULL) "
                    "FROM events WHERE " + where)
    usage = ctx.one(f"SELECT coalesce(sum(least(date_diff('millisecond', a, b), {DAY_MS})), 0) "
                    "FROM (SELECT "
                    "min(event_time) AS a, max(event_time) AS b FROM events WHERE " + where
                    + " AND session_id IS NOT NULL AND session_id <> -1 GROUP BY session_id)")
    last = ctx.one("SELECT library, ip_address, device_id FROM events WHERE " + where
                   + f" ORDER BY {LATEST_FIRST} LIMIT 1")
    place = ctx.one("SELECT location_lat, location_lng FROM events WHERE " + where
                    + " AND location_lat IS NOT NULL AND location_lng IS NOT NULL "
                    f"ORDER BY {LATEST_FIRST} LIMIT 1")
    assert stats is not None
    assert usage is not None
    user_id, device_id, props, paying, fields = user
    out = zeroed_profile()
    merged = ctx.rows(sql("SELECT amplitude_id FROM merges WHERE project_id = ? AND "
                          "merged_into = ? ORDER BY amplitude_id", ctx.project_id, amp))
    out.update(user_id=user_id, canonical_amplitude_id=amp,
               merged_amplitude_ids=[int(m) for (m,) in merged], num_events=int(stats[0]),
               num_sessions=int(stats[1]), usage_time=int(usage[0]),
               first_used=_day(ctx, stats[2]), last_used=_day(ctx, stats[3]),
               purchases=int(stats[4]), revenue=float(stats[5]),
               device_ids=sorted(stats[6] or []), properties=orjson.loads(props or "{}"),
               paying=bool(paying), last_device_id=device_id)
    out.update(_device_fields(orjson.loads(fields or "{}")))
    if last is not None:
        out.update(library=last[0], ip_address=last[1], last_device_id=last[2] or device_id)
    if place is not None:
        out["last_location"] = {"lat": place[0], "lng": place[1]}
    return out


EARLIEST_FIRST = "event_time ASC, event_id ASC NULLS LAST, seq ASC"
"""A user's events in order: time, then event_id (none last), then arrival."""
LATEST_FIRST = "event_time DESC, event_id DESC NULLS FIRST, seq DESC"
"""The same order reversed, all three keys."""


def _canonical(ctx: Ctx, amp: int) -> int:
    """The Amplitude ID ``amp`` answers as: the user's it was merged into, or itself."""
    row = ctx.one(sql("SELECT merged_into FROM merges WHERE project_id = ? AND amplitude_id = ?",
                      ctx.project_id, amp))
    return int(row[0]) if row is not None else amp


def user_activity(ctx: Ctx, q: UserActivityQuery) -> dict[str, Any]:
    amp = _canonical(ctx, q.amplitude_id)
    profile = _profile(ctx, amp)
    if profile is None:
        return {"userData": zeroed_profile(), "events": []}
    order = LATEST_FIRST if q.direction == "latest" else EARLIEST_FIRST
    rows = ctx.rows(sql(
        f"SELECT {EXPORT_SELECT} FROM events WHERE project_id = ? AND amplitude_id = ? "
        f"ORDER BY {order} LIMIT ? OFFSET ?",
        ctx.project_id, amp, q.limit, q.offset))
    return {"userData": profile, "events": [export_dict(r) for r in rows]}
