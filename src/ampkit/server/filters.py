"""Which stored events a read of ``/_ampkit/events`` (and the inspector, ``/_ampkit/ui``) asks
for: exact fields, a time range on arrival or event time, and an arrival cursor.

Routes build an :class:`EventFilter` from the query string; the store turns it into SQL whose
values are all bound parameters (:meth:`EventFilter.conditions`).  Times are naive UTC, as the
``events`` table stores them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

TimeField = Literal["server_received_time", "event_time"]
"""What ``since``/``until`` bound: when the server received the event (the default: what a
live view wants) or the event's own ``time``."""
Interval = Literal["minute", "hour", "day"]

STEPS: dict[str, dt.timedelta] = {"minute": dt.timedelta(minutes=1),
                                  "hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}
EPOCH = dt.datetime(1970, 1, 1)
EXACT_FIELDS = ("event_type", "user_id", "device_id", "insert_id")


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Events of one project that match every field given (``None``: any)."""

    event_type: str | None = None
    user_id: str | None = None
    device_id: str | None = None
    insert_id: str | None = None
    since: dt.datetime | None = None
    """Inclusive, naive UTC."""
    until: dt.datetime | None = None
    """Exclusive, naive UTC."""
    time_field: TimeField = "server_received_time"
    after_seq: int = 0
    """Only events that arrived after the one with this arrival number (a page's cursor)."""

    def conditions(self) -> tuple[list[str], list[Any]]:
        """SQL conditions on the ``events`` table (``?`` placeholders) and their values."""
        clauses: list[str] = []
        values: list[Any] = []
        for name in EXACT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                clauses.append(f"{name} = ?")
                values.append(value)
        column = time_column(self.time_field)
        for bound, op in ((self.since, ">="), (self.until, "<")):
            if bound is not None:
                clauses.append(f"{column} {op} ?")
                values.append(bound)
        if self.after_seq:
            clauses.append("seq > ?")
            values.append(self.after_seq)
        return clauses, values


def time_column(field: str) -> str:
    """The ``events`` column a :data:`TimeField` names (never a caller's text in SQL)."""
    return {"server_received_time": "server_received_time", "event_time": "event_time"}[field]


def floor(at: dt.datetime, interval: str) -> dt.datetime:
    """The start of the ``interval`` bucket holding ``at`` (UTC)."""
    step = STEPS[interval]
    return at - (at - EPOCH) % step


def iso(at: dt.datetime) -> str:
    """A naive UTC time as ISO-8601 with ``Z`` (milliseconds when it has any)."""
    spec = "milliseconds" if at.microsecond else "seconds"
    return at.isoformat(timespec=spec) + "Z"
