"""The query side of both clients: the generated methods (:mod:`ampkit.client._generated`, from
:data:`ampkit.models.endpoints.DEFS` and :class:`ampkit.client.flows.QueryFlows`) and the one
method whose sync and async forms differ in kind — paging a user's events as an iterator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from ampkit.client._generated import AsyncMethods, SyncMethods
from ampkit.models.dashboard import ActivityEvent, Direction

ActivityStream = Iterator[ActivityEvent]
"""What ``iter_user_activity`` gives on the sync client."""
AsyncActivityStream = AsyncIterator[ActivityEvent]
"""What ``iter_user_activity`` gives, once awaited, on the async client."""


class SyncQueries(SyncMethods):
    """Query methods of the sync client (mixed into :class:`~ampkit.client.Amplitude`)."""

    def iter_user_activity(self, amplitude_id: int, *, direction: Direction = "latest",
                           page_size: int = 1000,
                           max_events: int | None = None) -> ActivityStream:
        """All of a user's events, paging past the 1,000-event cap as they are consumed.

        Async client: ``async for event in await amp.iter_user_activity(amplitude_id)``.
        """
        events = self._user_activity_events(amplitude_id, direction, page_size, max_events)
        return self._runner().iterate(events)


class AsyncQueries(AsyncMethods):
    """Query methods of the async client (mixed into :class:`~ampkit.client.AsyncAmplitude`)."""

    async def iter_user_activity(self, amplitude_id: int, *, direction: Direction = "latest",
                                 page_size: int = 1000,
                                 max_events: int | None = None) -> AsyncActivityStream:
        """All of a user's events, paging past the 1,000-event cap as they are consumed.

        Async client: ``async for event in await amp.iter_user_activity(amplitude_id)``.
        """
        events = self._user_activity_events(amplitude_id, direction, page_size, max_events)
        return self._runner().iterate(events)


__all__ = ["ActivityStream", "AsyncActivityStream", "AsyncQueries", "SyncQueries"]
