"""User activity — ``GET /api/2/useractivity`` (reference §10.16), one page or all of them.

Paging: ``offset`` counts events from the newest (or, with ``direction="earliest"``, the oldest)
one; a page holds at most 1,000 events — or a few more, since Amplitude avoids cutting a
session, and the docs say ``limit=1`` returns two.  So the next offset advances by the number of
new events actually **received** (a page that starts early to keep a session whole overlaps the
previous one; the overlap is dropped, not counted), and paging stops on an empty page, a page
shorter than asked, a page with nothing new, or ``max_events``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ampkit.core.flow import Emit, Flow, send
from ampkit.dashboard import queries
from ampkit.dashboard.endpoint import checked
from ampkit.errors import InvalidRequest
from ampkit.models.dashboard.user_activity import (
    MAX_ACTIVITY_LIMIT,
    ActivityEvent,
    Direction,
    UserActivityQuery,
    UserActivityResult,
)

EventKey = tuple[object, ...]


def flow(query: UserActivityQuery) -> Flow[UserActivityResult]:
    return queries.flow(query, UserActivityResult)


def event_key(event: ActivityEvent) -> EventKey:
    """What identifies an event across pages."""
    if event.uuid:
        return ("uuid", event.uuid)
    if event.insert_id:
        return ("insert_id", event.insert_id)
    return ("fields", event.event_id, event.event_time, event.event_type, event.session_id)


@dataclass
class ActivityPager:
    """Pure paging state: :meth:`next_query` says what to ask next (``None`` when done) and
    :meth:`feed` takes a page and returns the events to hand out."""

    user: int
    direction: Direction = "latest"
    page_size: int = MAX_ACTIVITY_LIMIT
    max_events: int | None = None
    offset: int = 0
    delivered: int = 0
    done: bool = False
    first_page: UserActivityResult | None = None
    _last_keys: set[EventKey] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        """Check the inputs at once (not at the first page) as ``InvalidRequest``."""
        with checked("/api/2/useractivity"):
            UserActivityQuery(amplitude_id=self.user, offset=self.offset, limit=self.page_size,
                              direction=self.direction)
        if self.max_events is not None and self.max_events < 1:
            raise InvalidRequest("max_events: must be at least 1 — nothing was sent",
                                 endpoint="/api/2/useractivity", field="max_events",
                                 rule="must be at least 1")

    def next_query(self) -> UserActivityQuery | None:
        if self.done:
            return None
        limit = self.page_size
        if self.max_events is not None:
            limit = max(1, min(limit, self.max_events - self.delivered))
        return UserActivityQuery(
            amplitude_id=self.user, offset=self.offset, limit=limit, direction=self.direction
        )

    def feed(self, page: UserActivityResult, asked: int) -> list[ActivityEvent]:
        if self.first_page is None:
            self.first_page = page
        received = len(page.events)
        fresh = [e for e in page.events if event_key(e) not in self._last_keys]
        self._last_keys = {event_key(e) for e in page.events}
        self.offset += len(fresh)
        if self.max_events is not None:
            fresh = fresh[: max(0, self.max_events - self.delivered)]
        self.delivered += len(fresh)
        if (
            received == 0
            or received < asked
            or not fresh
            or (self.max_events is not None and self.delivered >= self.max_events)
        ):
            self.done = True
        return fresh


def all_pages_flow(pager: ActivityPager) -> Flow[UserActivityResult]:
    """Every page, merged: the first page's ``userData`` and all events in order."""
    events: list[ActivityEvent] = []
    while (query := pager.next_query()) is not None:
        raw = yield from send(queries.request(query))
        events += pager.feed(queries.parse(UserActivityResult, raw), query.limit)
    first = pager.first_page or UserActivityResult()
    merged = first.model_copy(update={"events": events})
    merged._raw = first.raw
    return merged


def events_flow(pager: ActivityPager) -> Flow[None]:
    """Each event as it is paged in (:class:`~ampkit.core.flow.Emit`), fetching a page whenever
    the previous one is used up — iterated by either driver (``Driver.iterate``)."""
    while (query := pager.next_query()) is not None:
        raw = yield from send(queries.request(query))
        for event in pager.feed(queries.parse(UserActivityResult, raw), query.limit):
            yield Emit(event)
