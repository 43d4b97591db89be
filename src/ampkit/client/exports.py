"""Raw event export on the facades (Export API, reference §9): streamed, never in memory.

Both clients run the same flow (:func:`~ampkit.export.download.archives_flow`, a ``Download``
step per window) with their own driver; the sync client decodes the archives as they are read,
the async one in a worker thread (:mod:`ampkit.client.aexports`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ampkit.client.base import SyncClient
from ampkit.config import Settings
from ampkit.core.flow import Flow
from ampkit.export import ExportWindow
from ampkit.export.download import ProgressCallback, archives_flow, events_in
from ampkit.export.endpoint import ExportSummary, HourLike
from ampkit.models import ExportEvent

EventStream = Iterator[ExportEvent]
ArchiveStream = Iterator[tuple[ExportWindow, Path]]


class ExportFlows:
    """The export flow of both clients (they differ only in the driver that runs it)."""

    settings: Settings

    def _archives_flow(self, start: HourLike, end: HourLike, *, directory: Path | None = None,
                       keep: bool = False, on_progress: ProgressCallback | None = None,
                       ) -> Flow[ExportSummary]:
        self.settings.require_secret_key()
        return archives_flow(start, end, directory=directory, keep=keep, on_progress=on_progress)


class SyncExports(ExportFlows, SyncClient):
    def export_events(self, start: HourLike, end: HourLike, *,
                      on_progress: ProgressCallback | None = None) -> EventStream:
        """Every event uploaded in the hours ``start``..``end`` (UTC, inclusive), streamed;
        windows too large are split, empty hours are skipped."""
        flow = self._archives_flow(start, end, on_progress=on_progress)
        return events_in(self._runner().iterate(flow))

    def export_archives(self, start: HourLike, end: HourLike, *, directory: Path | None = None,
                        keep: bool = False, on_progress: ProgressCallback | None = None,
                        ) -> ArchiveStream:
        """``(window, path)`` of each archive spooled to disk (deleted when the next one is
        asked for, unless ``keep``)."""
        flow = self._archives_flow(start, end, directory=directory, keep=keep,
                                   on_progress=on_progress)
        return self._runner().iterate(flow)


__all__ = ["ArchiveStream", "EventStream", "ExportFlows", "SyncExports"]
