"""Export downloads one window ahead, in a background thread.

While the events stream decodes and commits one archive, the next window is already being
asked for: Amplitude (or ``ampkit serve``) spends most of an export building the archive, so
waiting for it and decoding the previous one overlap.  The thread hands out, **in time
order**: each archive (spooled to disk), the end of each planned window, or the error that
stopped it.  It starts a download only while fewer than ``ahead + 1`` archives are on disk
(the consumer gives each back with :meth:`ExportPrefetch.release` once committed).  The
consumer commits; this module never touches the destination.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from ampkit.core.transport import SyncTransport
from ampkit.errors import AmplitudeError
from ampkit.export import ExportProgress, WindowDone, export_archives
from ampkit.replicate.config import Limits
from ampkit.replicate.plan import HourSpan, hour_windows


class ArchiveTooLarge(AmplitudeError):
    """An export archive passed ``max_archive_bytes`` while downloading."""


@dataclass(frozen=True, kw_only=True)
class _Handed:
    """What every item carries."""

    size: int
    """The window size (hours) known to work when the item was handed out."""


@dataclass(frozen=True)
class Archive(_Handed):
    """Hours ``sub`` (inside the planned ``window``) came back as the archive at ``path``."""

    window: HourSpan
    sub: HourSpan
    path: Path


@dataclass(frozen=True)
class WindowEnd(_Handed):
    """Every hour of ``window`` is settled (archives handed out before, the rest empty)."""

    window: HourSpan


@dataclass(frozen=True)
class Failed(_Handed):
    """Downloading stopped; ``empty_until`` is the last hour settled as empty after the last
    archive handed out (``None``: no such hour)."""

    error: BaseException
    empty_until: dt.datetime | None


Item = Archive | WindowEnd | Failed
GROW_AFTER = 4
"""Clean windows in a row (no split) after which a shrunk window size doubles again."""
_DONE = object()


class _Settled:
    """What the export flow settled so far in one planned window."""

    def __init__(self, hours: int) -> None:
        self.hours = hours
        self.bytes = 0
        self.smallest: int | None = None
        self.empty_until: dt.datetime | None = None

    def settle(self, done: WindowDone) -> None:
        self.bytes += done.size
        if done.window.hours < self.hours:
            self.smallest = min(self.smallest or done.window.hours, done.window.hours)
        self.empty_until = done.window.end if done.outcome == "empty" else None


class ExportPrefetch:
    """Iterate to get :data:`Item` s in order; ``close()`` stops the thread and removes spooled
    archives nobody took."""

    def __init__(
        self,
        transport: SyncTransport,
        span: HourSpan,
        size: int,
        limits: Limits,
        spool_dir: Path | None = None,
        ahead: int = 1,
        ceiling: int | None = None,
    ) -> None:
        self.transport = transport
        self.span = span
        self.size = size
        self.ceiling = max(size, ceiling or size)
        """Windows grow back up to this many hours (the configured size) after a split."""
        self._streak = 0
        self._needed = GROW_AFTER
        self._just_grew = False
        self.limits = limits
        self.spool_dir = spool_dir
        self._queue: queue.Queue[object] = queue.Queue()
        self._slots = threading.Semaphore(max(1, ahead) + 1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="ampkit-export-prefetch",
                                        daemon=True)

    def __iter__(self) -> Iterator[Item]:
        self._thread.start()
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            assert isinstance(item, Archive | WindowEnd | Failed)
            yield item

    def release(self, item: Archive) -> None:
        """The consumer is done with an archive: delete it, let the next download start."""
        item.path.unlink(missing_ok=True)
        self._slots.release()

    def close(self, wait: float = 10.0) -> None:
        """Stop the thread (waiting at most ``wait`` seconds for a download in flight) and
        delete the archives nobody took."""
        self._stop.set()
        deadline = time.monotonic() + wait
        while (self._thread.is_alive() and time.monotonic() < deadline) or not self._queue.empty():
            try:
                item = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            if isinstance(item, Archive):
                item.path.unlink(missing_ok=True)

    # --- the thread ------------------------------------------------------------------------

    def _put(self, item: object) -> bool:
        if self._stop.is_set():
            return False
        self._queue.put(item)
        return True

    def _slot(self) -> bool:
        """Wait until fewer than ``ahead + 1`` archives are out (False: stopping)."""
        while not self._stop.is_set():
            if self._slots.acquire(timeout=0.05):
                return True
        return False

    def _cap(self, seen: _Settled) -> Callable[[ExportProgress], None]:
        cap = self.limits.max_archive_bytes

        def check(progress: ExportProgress) -> None:
            if cap is not None and progress.bytes_downloaded - seen.bytes > cap:
                raise ArchiveTooLarge(
                    f"export archive for {progress.window} passed max_archive_bytes={cap}",
                    endpoint="/api/2/export",
                )

        return check

    def _learn(self, seen: _Settled) -> None:
        if seen.smallest is not None and seen.smallest < self.size:
            self.size = seen.smallest

    def _grow(self, seen: _Settled) -> None:
        """After a planned window: count it, and double the size after enough clean ones.

        A window that needed no split is clean; :data:`GROW_AFTER` clean windows in a row
        double the size (up to :attr:`ceiling`).  A split right after growing means the
        volume is still high: the streak needed before the next try doubles, so a steady high
        volume costs a failed request ever more rarely.
        """
        if seen.smallest is not None:
            if self._just_grew:
                self._needed *= 2
            self._streak = 0
            self._just_grew = False
            return
        self._just_grew = False
        self._streak += 1
        if self._streak >= self._needed and self.size < self.ceiling:
            self.size = min(self.ceiling, self.size * 2)
            self._streak = 0
            self._just_grew = True

    def _produce(self) -> None:
        seen: _Settled | None = None
        try:
            for window in hour_windows(self.span, lambda: self.size):  # strictly advancing
                if self._stop.is_set():
                    return
                seen = _Settled(window.hours)
                archives = export_archives(
                    self.transport, window.start, window.end, split=True,
                    on_window=seen.settle, on_progress=self._cap(seen),
                    directory=self.spool_dir, keep=True,
                )
                with closing(archives):
                    while self._slot():
                        try:
                            sub, path = next(archives)  # downloads (or settles empties)
                        except StopIteration:
                            self._slots.release()
                            break
                        self._learn(seen)
                        item = Archive(window, HourSpan(start=sub.start, end=sub.end), path,
                                       size=self.size)
                        if not self._put(item):
                            path.unlink(missing_ok=True)
                            return
                    else:
                        return  # stopping
                self._learn(seen)
                self._grow(seen)
                if not self._put(WindowEnd(window, size=self.size)):
                    return
        except Exception as exc:  # handed to the consumer, raised there
            self._put(Failed(exc, seen.empty_until if seen else None, size=self.size))
        finally:
            self._put(_DONE)


__all__ = ["GROW_AFTER", "Archive", "ArchiveTooLarge", "ExportPrefetch", "Failed", "Item",
           "WindowEnd"]
