"""Raw event export on the async facade: the flow of :mod:`ampkit.client.exports`, awaited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from ampkit.client.base import AsyncClient
from ampkit.client.exports import ExportFlows
from ampkit.export import ExportWindow
from ampkit.export.download import ProgressCallback, aevents_in
from ampkit.export.endpoint import HourLike
from ampkit.models import ExportEvent

EventStream = AsyncIterator[ExportEvent]
ArchiveStream = AsyncIterator[tuple[ExportWindow, Path]]


class AsyncExports(ExportFlows, AsyncClient):
    async def export_events(self, start: HourLike, end: HourLike, *,
                            on_progress: ProgressCallback | None = None) -> EventStream:
        """Async client: ``async for event in await amp.export_events(start, end)`` (each
        archive is decoded in a worker thread)."""
        flow = self._archives_flow(start, end, on_progress=on_progress)
        return aevents_in(self._runner().iterate(flow))

    async def export_archives(self, start: HourLike, end: HourLike, *,
                              directory: Path | None = None, keep: bool = False,
                              on_progress: ProgressCallback | None = None) -> ArchiveStream:
        """Async client: ``async for window, path in await amp.export_archives(...)``."""
        flow = self._archives_flow(start, end, directory=directory, keep=keep,
                                   on_progress=on_progress)
        return self._runner().iterate(flow)


__all__ = ["ArchiveStream", "AsyncExports", "EventStream"]
