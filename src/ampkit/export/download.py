"""Run export flows over a transport: each window's archive streams to a file on disk.

:func:`export_archives` hands out ``(window, path)`` for every window that held data; the file
is deleted when the caller asks for the next one (unless ``keep=True``).  :func:`export_events`
decodes those archives into :class:`~ampkit.models.ExportEvent` one line at a time.  The async
twins download asynchronously and decode synchronously.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import aclosing, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.core.transport import AsyncTransport, SyncTransport
from ampkit.export.decode import DEFAULT_MAX_LINE_BYTES, iter_events
from ampkit.export.endpoint import (
    ExportWindow,
    HourLike,
    export_flow,
    plan_windows,
    window_of,
)
from ampkit.models import ExportEvent

StrPath = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class ExportProgress:
    """Where an export run stands, for a progress bar.

    ``hours_total`` is fixed at the start (splitting never changes it), so ``hours_done /
    hours_total`` is a steady fraction; ``bytes_downloaded`` counts archive bytes so far.
    """

    bytes_downloaded: int
    windows_done: int
    hours_done: int
    hours_total: int
    window: ExportWindow


@dataclass(frozen=True, slots=True)
class WindowDone:
    """One window settled: an ``archive`` of ``size`` bytes, or ``empty`` (404)."""

    window: ExportWindow
    outcome: Literal["archive", "empty"]
    size: int


ProgressCallback = Callable[[ExportProgress], None]
WindowCallback = Callable[[WindowDone], None]


class _Run:
    """The state shared by the sync and async drivers: the flow and the progress counters."""

    def __init__(
        self,
        start: HourLike,
        end: HourLike,
        split: bool,
        on_window: WindowCallback | None,
        on_progress: ProgressCallback | None,
    ) -> None:
        windows = plan_windows(start, end)
        self.hours_total = sum(w.hours for w in windows)
        self.hours_done = 0
        self.windows_done = 0
        self.bytes_done = 0
        self.on_window = on_window
        self.on_progress = on_progress
        self.flow = export_flow(windows, split=split)
        self.spec: RequestSpec | None = next(self.flow)

    def _report(self, window: ExportWindow, received: int = 0) -> None:
        if self.on_progress is not None:
            self.on_progress(
                ExportProgress(
                    self.bytes_done + received,
                    self.windows_done,
                    self.hours_done,
                    self.hours_total,
                    window,
                )
            )

    def progress_for(self, window: ExportWindow) -> Callable[[int], None] | None:
        if self.on_progress is None:
            return None
        return lambda received: self._report(window, received)

    def settle(self, window: ExportWindow, raw: RawResponse, size: int) -> bool:
        """Feed the answer to the flow; True when the window's archive is ready to hand out."""
        try:
            self.spec = self.flow.send(raw)
        except StopIteration:
            self.spec = None
        if raw.status >= 300 and raw.status != 404:
            return False  # the flow split the window
        outcome: Literal["archive", "empty"] = "archive" if raw.status < 300 else "empty"
        self.windows_done += 1
        self.hours_done += window.hours
        if outcome == "archive":
            self.bytes_done += size
        if self.on_window is not None:
            self.on_window(WindowDone(window, outcome, size if outcome == "archive" else 0))
        self._report(window)
        return outcome == "archive"


def _new_file(window: ExportWindow, directory: StrPath | None) -> tuple[int, Path]:
    fd, name = tempfile.mkstemp(
        prefix=f"ampkit-export-{window.start:%Y%m%dT%H}-{window.end:%Y%m%dT%H}-",
        suffix=".zip",
        dir=directory,
    )
    return fd, Path(name)


def export_archives(
    transport: SyncTransport,
    start: HourLike,
    end: HourLike,
    *,
    split: bool = True,
    on_window: WindowCallback | None = None,
    on_progress: ProgressCallback | None = None,
    directory: StrPath | None = None,
    keep: bool = False,
) -> Generator[tuple[ExportWindow, Path], None, None]:
    """``(window, archive path)`` for each window with data, in time order.

    ``start``/``end`` are hours (datetimes, naive = UTC, or ``YYYYMMDDTHH``), ``end`` included.
    Spans over 365 days are cut up front; with ``split`` a window answered 400 or 504 is
    halved down to single hours.  Each file lives in ``directory`` (default: the system temp
    dir) and is deleted when the next one is asked for, unless ``keep`` is true.
    """
    run = _Run(start, end, split, on_window, on_progress)
    while run.spec is not None:
        spec = run.spec
        window = window_of(spec)
        fd, path = _new_file(window, directory)
        handed = False
        try:
            with os.fdopen(fd, "w+b") as sink:
                raw = transport.download(spec, sink, on_progress=run.progress_for(window))
                size = sink.seek(0, os.SEEK_END)
            if run.settle(window, raw, size):
                handed = True
                yield window, path
        finally:
            if not (keep and handed):
                path.unlink(missing_ok=True)


def export_events(
    transport: SyncTransport,
    start: HourLike,
    end: HourLike,
    *,
    split: bool = True,
    on_window: WindowCallback | None = None,
    on_progress: ProgressCallback | None = None,
    directory: StrPath | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_archive_bytes: int | None = None,
) -> Generator[ExportEvent, None, None]:
    """Every event exported for ``start``..``end`` (see :func:`export_archives`), streamed."""
    archives = export_archives(
        transport,
        start,
        end,
        split=split,
        on_window=on_window,
        on_progress=on_progress,
        directory=directory,
    )
    with closing(archives):
        for _, path in archives:
            yield from iter_events(
                path, max_line_bytes=max_line_bytes, max_archive_bytes=max_archive_bytes
            )


async def aexport_archives(
    transport: AsyncTransport,
    start: HourLike,
    end: HourLike,
    *,
    split: bool = True,
    on_window: WindowCallback | None = None,
    on_progress: ProgressCallback | None = None,
    directory: StrPath | None = None,
    keep: bool = False,
) -> AsyncGenerator[tuple[ExportWindow, Path], None]:
    """The async twin of :func:`export_archives`."""
    run = _Run(start, end, split, on_window, on_progress)
    while run.spec is not None:
        spec = run.spec
        window = window_of(spec)
        fd, path = _new_file(window, directory)
        handed = False
        try:
            with os.fdopen(fd, "w+b") as sink:
                raw = await transport.download(spec, sink, on_progress=run.progress_for(window))
                size = sink.seek(0, os.SEEK_END)
            if run.settle(window, raw, size):
                handed = True
                yield window, path
        finally:
            if not (keep and handed):
                path.unlink(missing_ok=True)


async def aexport_events(
    transport: AsyncTransport,
    start: HourLike,
    end: HourLike,
    *,
    split: bool = True,
    on_window: WindowCallback | None = None,
    on_progress: ProgressCallback | None = None,
    directory: StrPath | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_archive_bytes: int | None = None,
) -> AsyncGenerator[ExportEvent, None]:
    """The async twin of :func:`export_events` (archives are decoded synchronously)."""
    archives = aexport_archives(
        transport,
        start,
        end,
        split=split,
        on_window=on_window,
        on_progress=on_progress,
        directory=directory,
    )
    async with aclosing(archives):
        async for _, path in archives:
            for event in iter_events(
                path, max_line_bytes=max_line_bytes, max_archive_bytes=max_archive_bytes
            ):
                yield event


__all__ = [
    "ExportProgress",
    "ProgressCallback",
    "WindowCallback",
    "WindowDone",
    "aexport_archives",
    "aexport_events",
    "export_archives",
    "export_events",
]
