"""Raw event export on the async facade (the twin of :mod:`ampkit.client.exports`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from ampkit.config import Settings
from ampkit.core.transport import AsyncTransport
from ampkit.export import ExportWindow, aexport_archives, aexport_events
from ampkit.export.download import ProgressCallback
from ampkit.export.endpoint import HourLike
from ampkit.models import ExportEvent

EventStream = AsyncIterator[ExportEvent]
ArchiveStream = AsyncIterator[tuple[ExportWindow, Path]]

class AsyncExports:
    settings: Settings
    transport: AsyncTransport

    async def export_events(self, start: HourLike, end: HourLike, *,
                            on_progress: ProgressCallback | None = None) -> EventStream:
        """Async client: ``async for event in await amp.export_events(start, end)``."""
        self.settings.require_secret_key()
        return aexport_events(self.transport, start, end, on_progress=on_progress)

    async def export_archives(self, start: HourLike, end: HourLike, *,
                              directory: Path | None = None, keep: bool = False,
                              on_progress: ProgressCallback | None = None) -> ArchiveStream:
        """Async client: ``async for window, path in await amp.export_archives(...)``."""
        self.settings.require_secret_key()
        return aexport_archives(self.transport, start, end, directory=directory, keep=keep,
                                on_progress=on_progress)


__all__ = ["ArchiveStream", "AsyncExports", "EventStream"]
