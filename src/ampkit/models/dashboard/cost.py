"""The Dashboard REST query cost of reference §10.2 — pure arithmetic, no I/O.

    cost = days × conditions × query-type cost

* ``conditions`` = segments + conditions inside them + 4 per group-by.  A query without ``s``
  still counts its one implicit "all users" segment.  ``g`` and ``g2`` are the group-bys.
* query-type cost: segmentation = number of events (+4 per event-level ``group_by`` entry, i.e.
  per group-by × event); funnels = steps × 2 (+4 per event-level group-by); retention = 8;
  sessions = 4; everything else = 1.
* ``days`` = ``end − start + 1`` when the query has ``start``/``end``, otherwise 1.

Checks against the reference's worked examples (older docs): one segment + one condition + two
group-bys = 10 conditions; a 30-day, three-step funnel with that segment = 30 × 10 × 6 = 1,800.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Literal

import orjson

QueryKind = Literal["segmentation", "funnel", "retention", "sessions", "other"]
GROUP_BY_WEIGHT = 4


def condition_count(segments: int = 1, conditions: int = 0, group_bys: int = 0) -> int:
    """Segments + their conditions + 4 per group-by."""
    return segments + conditions + GROUP_BY_WEIGHT * group_bys


def type_cost(kind: QueryKind, *, events: int = 1, event_group_bys: int = 0) -> int:
    """The query-type factor.  ``events`` is the number of events (segmentation) or funnel
    steps; ``event_group_bys`` the group-by entries summed over those events."""
    if kind == "segmentation":
        return events + GROUP_BY_WEIGHT * event_group_bys
    if kind == "funnel":
        return events * 2 + GROUP_BY_WEIGHT * event_group_bys
    if kind == "retention":
        return 8
    if kind == "sessions":
        return 4
    return 1


def query_cost(days: int, conditions: int, kind_cost: int) -> int:
    """days × conditions × query-type cost."""
    return max(1, days) * max(1, conditions) * max(1, kind_cost)


def _day(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return None


def _json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def params_cost(kind: QueryKind, params: Iterable[tuple[str, str]]) -> int:
    """The cost of a query from the query-string pairs it sends (what Amplitude sees)."""
    pairs = list(params)
    first = {k: v for k, v in reversed(pairs)}
    days = 1
    start, end = _day(first.get("start", "")), _day(first.get("end", ""))
    if start is not None and end is not None and end >= start:
        days = (end - start).days + 1
    segment = _json(first["s"]) if "s" in first else None
    conditions = len(segment) if isinstance(segment, list) else 0
    group_bys = sum(1 for k, v in pairs if k in ("g", "g2") and v)
    events = [_json(v) for k, v in pairs if k in ("e", "e2")]
    event_group_bys = sum(
        len(e.get("group_by") or []) for e in events if isinstance(e, dict)
    )
    factor = type_cost(kind, events=max(1, len(events)), event_group_bys=event_group_bys)
    return query_cost(days, condition_count(1, conditions, group_bys), factor)
