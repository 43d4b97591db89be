"""Export windows as one flow, run by either driver: each window's archive streams to a file.

:func:`archives_flow` is the whole export, written once: a :class:`~ampkit.core.flow.Download`
step per window (its archive spooled to a temporary file), an :class:`~ampkit.core.flow.Emit`
of ``(window, path)`` for each window that held data; the file is deleted when the caller asks
for the next one (unless ``keep=True``).  :func:`export_archives` runs it with a
:class:`~ampkit.core.flow.Driver`, :func:`aexport_archives` with an
:class:`~ampkit.core.flow.AsyncDriver`.  :func:`export_events` decodes those archives into
:class:`~ampkit.models.ExportEvent` one line at a time; :func:`aexport_events` decodes them in a
worker thread, so the event loop never waits on a decoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import tempfile
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from contextlib import aclosing, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from ampkit.core.flow import AsyncDriver, Download, Driver, Emit, Flow
from ampkit.core.spec import RawResponse
from ampkit.core.transport import AsyncTransport, ByteProgress, SyncTransport
from ampkit.export.decode import CHUNK_LINES, DEFAULT_MAX_LINE_BYTES, iter_events
from ampkit.export.endpoint import (
    ExportSummary,
    ExportWindow,
    HourLike,
    export_flow,
    plan_windows,
    window_of,
)
from ampkit.models import ExportEvent

StrPath = str | os.PathLike[str]
T = TypeVar("T")


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
Archives = Generator[tuple[ExportWindow, Path], None, None]
AsyncArchives = AsyncGenerator[tuple[ExportWindow, Path], None]


class _Tally:
    """An export run's counters, and the callbacks that hear of them."""

    def __init__(self, hours_total: int, on_window: WindowCallback | None,
                 on_progress: ProgressCallback | None) -> None:
        self.hours_total = hours_total
        self.hours_done = 0
        self.windows_done = 0
        self.bytes_done = 0
        self.on_window = on_window
        self.on_progress = on_progress

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

    def progress_for(self, window: ExportWindow) -> ByteProgress | None:
        if self.on_progress is None:
            return None
        return lambda received: self._report(window, received)

    def settle(self, window: ExportWindow, raw: RawResponse, size: int) -> bool:
        """Count a window's answer; True when its archive is ready to hand out."""
        if raw.status >= 300 and raw.status != 404:
            return False  # the flow splits (or retries) the window
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


def archives_flow(
    start: HourLike,
    end: HourLike,
    *,
    split: bool = True,
    on_window: WindowCallback | None = None,
    on_progress: ProgressCallback | None = None,
    directory: StrPath | None = None,
    keep: bool = False,
) -> Flow[ExportSummary]:
    """Emits ``(window, archive path)`` for each window with data, in time order.

    ``start``/``end`` are hours (datetimes, naive = UTC, or ``YYYYMMDDTHH``), ``end`` included.
    Spans over 365 days are cut up front; with ``split`` a window answered 400 or 504 is
    halved down to single hours (:func:`~ampkit.export.endpoint.export_flow` decides).  Each
    file lives in ``directory`` (default: the system temp dir) and is deleted when the flow is
    resumed after emitting it, unless ``keep`` is true.
    """
    windows = plan_windows(start, end)
    tally = _Tally(sum(w.hours for w in windows), on_window, on_progress)
    requests = export_flow(windows, split=split)
    raw: RawResponse | None = None
    while True:
        try:
            spec = next(requests) if raw is None else requests.send(raw)
        except StopIteration as stop:
            summary: ExportSummary = stop.value
            return summary
        window = window_of(spec)
        fd, path = _new_file(window, directory)
        handed = False
        try:
            with os.fdopen(fd, "w+b") as sink:
                raw = yield Download(spec, sink, tally.progress_for(window))
                size = sink.seek(0, os.SEEK_END)
            if tally.settle(window, raw, size):
                handed = True
                yield Emit((window, path))
        finally:
            if not (keep and handed):
                path.unlink(missing_ok=True)


def export_archives(transport: SyncTransport, start: HourLike, end: HourLike, *,
                    split: bool = True, on_window: WindowCallback | None = None,
                    on_progress: ProgressCallback | None = None,
                    directory: StrPath | None = None, keep: bool = False) -> Archives:
    """``(window, archive path)`` for each window with data, in time order: :func:`archives_flow`
    run over ``transport``."""
    return Driver(transport).iterate(archives_flow(
        start, end, split=split, on_window=on_window, on_progress=on_progress,
        directory=directory, keep=keep))


def aexport_archives(transport: AsyncTransport, start: HourLike, end: HourLike, *,
                     split: bool = True, on_window: WindowCallback | None = None,
                     on_progress: ProgressCallback | None = None,
                     directory: StrPath | None = None, keep: bool = False) -> AsyncArchives:
    """The async twin of :func:`export_archives`: the same flow, over an async transport."""
    return AsyncDriver(transport).iterate(archives_flow(
        start, end, split=split, on_window=on_window, on_progress=on_progress,
        directory=directory, keep=keep))


def events_in(
    archives: Archives,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_archive_bytes: int | None = None,
) -> Generator[ExportEvent, None, None]:
    """The events of each archive, decoded as they are read; closing this closes ``archives``."""
    with closing(archives):
        for _, path in archives:
            yield from iter_events(
                path, max_line_bytes=max_line_bytes, max_archive_bytes=max_archive_bytes
            )


async def aevents_in(
    archives: AsyncArchives,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_archive_bytes: int | None = None,
) -> AsyncGenerator[ExportEvent, None]:
    """:func:`events_in` for async archives: each archive is decoded in a worker thread."""
    async with aclosing(archives):
        async for _, path in archives:
            events = iter_events(
                path, max_line_bytes=max_line_bytes, max_archive_bytes=max_archive_bytes
            )
            async with aclosing(_in_thread(events)) as decoded:
                async for event in decoded:
                    yield event


def _take(items: Iterator[T], count: int) -> list[T]:
    return list(itertools.islice(items, count))


def _close(items: Iterator[T]) -> None:
    """Close a generator; one still running in a worker thread (the event loop shut down under
    it) is left to the garbage collector."""
    if isinstance(items, Generator):
        with contextlib.suppress(ValueError):
            items.close()


async def _in_thread(items: Iterator[T], chunk: int = CHUNK_LINES) -> AsyncGenerator[T, None]:
    """``items`` pulled in a worker thread, ``chunk`` at a time, so that what makes them (a
    decoder) never runs on the event loop.  Closing this closes ``items`` — after the chunk the
    thread may still be pulling when the caller was cancelled."""
    pulling: asyncio.Future[list[T]] | None = None
    try:
        while True:
            pulling = asyncio.ensure_future(asyncio.to_thread(_take, items, chunk))
            batch = await asyncio.shield(pulling)
            if not batch:
                return
            for item in batch:
                yield item
    finally:
        if pulling is None or pulling.done():
            _close(items)
        else:
            pulling.add_done_callback(lambda _: _close(items))


def export_events(transport: SyncTransport, start: HourLike, end: HourLike, *,
                  split: bool = True, on_window: WindowCallback | None = None,
                  on_progress: ProgressCallback | None = None, directory: StrPath | None = None,
                  max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                  max_archive_bytes: int | None = None) -> Generator[ExportEvent, None, None]:
    """Every event exported for ``start``..``end`` (see :func:`archives_flow`), streamed."""
    archives = export_archives(transport, start, end, split=split, on_window=on_window,
                               on_progress=on_progress, directory=directory)
    return events_in(archives, max_line_bytes=max_line_bytes, max_archive_bytes=max_archive_bytes)


def aexport_events(transport: AsyncTransport, start: HourLike, end: HourLike, *,
                   split: bool = True, on_window: WindowCallback | None = None,
                   on_progress: ProgressCallback | None = None, directory: StrPath | None = None,
                   max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                   max_archive_bytes: int | None = None) -> AsyncGenerator[ExportEvent, None]:
    """The async twin of :func:`export_events` (archives are decoded in a worker thread)."""
    archives = aexport_archives(transport, start, end, split=split, on_window=on_window,
                                on_progress=on_progress, directory=directory)
    return aevents_in(archives, max_line_bytes=max_line_bytes,
                      max_archive_bytes=max_archive_bytes)


__all__ = [
    "Archives",
    "AsyncArchives",
    "ExportProgress",
    "ProgressCallback",
    "WindowCallback",
    "WindowDone",
    "aevents_in",
    "aexport_archives",
    "aexport_events",
    "archives_flow",
    "events_in",
    "export_archives",
    "export_events",
]
