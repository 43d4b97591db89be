"""Raw event export on the facades (Export API, reference §9): streamed, never in memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ampkit.config import Settings
from ampkit.core.transport import SyncTransport
from ampkit.export import ExportWindow, export_archives, export_events
from ampkit.export.download import ProgressCallback
from ampkit.export.endpoint import HourLike
from ampkit.models import ExportEvent

EventStream = Iterator[ExportEvent]
ArchiveStream = Iterator[tuple[ExportWindow, Path]]


class SyncExports:
    settings: Settings
    transport: SyncTransport

    def export_events(self, start: HourLike, end: HourLike, *,
                      on_progress: ProgressCallback | None = None) -> EventStream:
        """Every event uploaded in the hours ``start``..``end`` (UTC, inclusive), streamed;
        windows too large are split, empty hours are skipped."""
        self.settings.require_secret_key()
        return export_events(self.transport, start, end, on_progress=on_progress)

    def export_archives(self, start: HourLike, end: HourLike, *, directory: Path | None = None,
                        keep: bool = False, on_progress: ProgressCallback | None = None,
                        ) -> ArchiveStream:
        """``(window, path)`` of each archive spooled to disk (deleted when the next one is
        asked for, unless ``keep``)."""
        self.settings.require_secret_key()
        return export_archives(self.transport, start, end, directory=directory, keep=keep,
                               on_progress=on_progress)


__all__ = ["ArchiveStream", "EventStream", "SyncExports"]
