"""Sync state, kept **in the destination** (table ``_ampkit_state``, or ``_ampkit_state.json``
beside Parquet files) and committed in the same transaction as the rows it describes.

``cursor`` is the last unit fully loaded, inclusive: for ``events`` the last server upload hour
(``YYYY-MM-DDTHH``, UTC), for daily streams the last day (``YYYY-MM-DD``).  The next incremental
run starts one unit later (or at ``anchor_date`` if that is later).  ``window_hours`` remembers
the export window size that worked after a split, so the next run does not ask for too much
again.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

STATE_TABLE = "_ampkit_state"
HOUR_CURSOR = "%Y-%m-%dT%H"


class StreamState(BaseModel):
    """What a destination remembers about one stream."""

    model_config = ConfigDict(extra="ignore")

    version: int = 1
    cursor: str | None = None
    window_hours: int | None = Field(default=None, ge=1)
    mode: str | None = None
    updated_at: dt.datetime | None = None

    def hour_cursor(self) -> dt.datetime | None:
        """The cursor as an aware UTC hour (events)."""
        if not self.cursor:
            return None
        return dt.datetime.strptime(self.cursor[:13], HOUR_CURSOR).replace(tzinfo=dt.UTC)

    def day_cursor(self) -> dt.date | None:
        """The cursor as a day (daily streams)."""
        return dt.date.fromisoformat(self.cursor[:10]) if self.cursor else None

    def with_hour(self, hour: dt.datetime) -> StreamState:
        return self.model_copy(update={"cursor": hour.strftime(HOUR_CURSOR)})

    def with_day(self, day: dt.date) -> StreamState:
        return self.model_copy(update={"cursor": day.isoformat()})

    def stamped(self) -> StreamState:
        return self.model_copy(update={"updated_at": dt.datetime.now(dt.UTC)})


__all__ = ["HOUR_CURSOR", "STATE_TABLE", "StreamState"]
