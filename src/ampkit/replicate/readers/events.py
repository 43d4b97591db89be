"""The ``events`` stream: Export API windows → archive on disk → Arrow batches → destination.

Each planned window (``window_hours``, 24 by default) is asked for as one export, one window
ahead of the one being committed (:mod:`~ampkit.replicate.readers.prefetch`).  A 400 (too large) or
504 halves a window, down to one hour; every archive that comes back is decoded entry → gzip →
lines → Arrow batches and committed **with the cursor** (its last hour) in one transaction.
After a split, the size that worked is saved in the state and used for the rest of this run
and the next ones, until it grows back: every :data:`~ampkit.replicate.readers.prefetch.GROW_AFTER`
planned windows in a row that needed no split double it again, up to the configured
``window_hours`` (a split right after growing doubles the streak needed before the next try).
404 windows are empty; the cursor still moves past them.  Caps: line size, compressed archive
size (checked while downloading) and uncompressed size.
"""

from __future__ import annotations

import datetime as dt
from contextlib import closing
from pathlib import Path

from ampkit.errors import ExportDecodeError
from ampkit.export import ExportWindowTooLarge, iter_arrow_batches
from ampkit.replicate.config import Limits
from ampkit.replicate.destinations.base import Transaction
from ampkit.replicate.plan import (
    HourSpan,
    StreamPlan,
    delay_note,
    export_end,
    hour_span,
    hour_windows,
    settled_until,
)
from ampkit.replicate.readers.base import StreamRun
from ampkit.replicate.readers.prefetch import (
    GROW_AFTER,
    Archive,
    ArchiveTooLarge,
    ExportPrefetch,
    Failed,
)
from ampkit.replicate.state import StreamState


def load_archive(tx: Transaction, archive: Path, limits: Limits) -> int:
    """Decode one export archive (entry → gzip → lines → Arrow batches) into a transaction."""
    rows = 0
    for batch in iter_arrow_batches(
        archive, max_line_bytes=limits.max_line_bytes,
        max_archive_bytes=limits.max_uncompressed_bytes,
    ):
        missing = batch.column("uuid").null_count
        if missing:  # the table's key: rows without it would pile up as NULLs, or vanish
            raise ExportDecodeError(
                f"{missing} event(s) without a uuid, the events table's primary key (the "
                f"first after {rows} good rows of this archive); nothing of the window is "
                "kept")
        rows += tx.write(batch)
    return rows


class EventsRun(StreamRun):
    """Plans and runs the events stream."""

    @property
    def delay(self) -> int:
        return self.ctx.options.export_delay_hours

    def cut(self) -> str | None:
        """Why an explicit range loses hours to the export delay (``None``: it does not)."""
        if self.opts.backfill is None:
            return None
        return delay_note(self.opts.backfill.end, export_end(self.ctx.now, self.delay),
                          self.delay)

    def span(self) -> HourSpan | None:
        last = export_end(self.ctx.now, self.delay)
        state = self.base_state()
        return hour_span(
            anchor=self.opts.anchor_date,
            cursor=state.hour_cursor() if self.incremental else None,
            last=last,
            backfill=self.opts.backfill,
            lookback_hours=self.opts.lookback,
        )

    def window_size(self) -> int:
        remembered = self.ctx.state.window_hours if self.ctx.state else None
        if remembered is None:
            return self.opts.window_hours
        return min(remembered, self.opts.window_hours) if self.opts.window_hours_set else remembered

    def plan(self) -> StreamPlan:
        span = self.span()
        plan = StreamPlan(stream=self.opts.label, mode=self.mode_label(), unit="hour",
                          backfill=self.backfill)
        cut = self.cut()
        if span is None:
            plan.note = cut or (f"up to date (export_delay_hours={self.delay}: the Export API "
                                "lags ~2 h behind)")
            return plan
        windows = list(hour_windows(span, self.window_size()))
        plan.start, plan.end = f"{span.start:%Y-%m-%dT%H}", f"{span.end:%Y-%m-%dT%H}"
        plan.units = span.hours
        plan.windows = [str(w) for w in windows]
        plan.requests = len(windows)
        size, ceiling = self.window_size(), self.opts.window_hours
        grow = f", ×2 after {GROW_AFTER} clean ones up to {ceiling} h" if size < ceiling else ""
        plan.note = f"{size} h windows{grow}; 400/504 → halve, 404 → empty"
        if cut:
            plan.note += f"; {cut}"
        return plan

    def execute(self) -> None:
        span = self.span()
        self.result.window_hours = self.window_size()
        self.state = self.base_state()
        self.result.cursor = self.state.cursor
        cut = self.cut()
        if cut:
            self.ctx.reporter.note(self.opts.label, cut)
            self.result.note = cut
        if span is None:
            self.result.status = "up-to-date"
            return
        self.dest.prepare(self.table())
        self.replace = self.opts.mode == "full-refresh" and not self.backfill
        self.size = self.window_size()
        prefetch = ExportPrefetch(self.source.transport, span, self.size,
                                  self.ctx.options.limits, self.ctx.options.spool_dir,
                                  ceiling=self.opts.window_hours)
        with closing(prefetch):
            for item in prefetch:
                self._learn(item.size)
                if isinstance(item, Failed):
                    self._failed(item)
                elif isinstance(item, Archive):
                    try:
                        self._commit(item)
                    finally:
                        prefetch.release(item)
                else:
                    self._move_to(item.window.end, str(item.window))
                    self.ctx.reporter.advanced(self.opts.label, item.window.hours, 0)

    def _advance(self, hour: dt.datetime) -> StreamState:
        state = self.state.model_copy(update={"window_hours": self.size})
        if self.backfill:
            return state
        # an hour still open (read with export_delay_hours 0) is read again next run
        hour = min(hour, settled_until(self.ctx.now, self.delay))
        current = state.hour_cursor()
        return state if current is not None and current >= hour else state.with_hour(hour)

    def _commit(self, item: Archive) -> None:
        """One archive's rows and the cursor at its last hour, in one transaction."""
        with self.dest.transaction(self.table(), replace=self.replace) as tx:
            load_archive(tx, item.path, self.ctx.options.limits)
            state = self._advance(item.sub.end)
            tx.save_state(state)
        self._committed(str(item.sub), tx.rows, state)

    def _move_to(self, hour: dt.datetime, label: str) -> None:
        """A state-only commit: the hours up to ``hour`` held nothing more (404)."""
        tail = self._advance(hour)
        if tail != self.state or self.replace:
            with self.dest.transaction(self.table(), replace=self.replace) as tx:
                tx.save_state(tail)
            self._committed(label, 0, tail)

    def _failed(self, item: Failed) -> None:
        if item.empty_until is not None:  # the empty hours settled before the error
            self._move_to(item.empty_until, f"..{item.empty_until:%Y-%m-%dT%H}")
        exc = item.error
        if isinstance(exc, ExportWindowTooLarge):
            said = self.source.last_error_message()
            if said is not None:
                quoted = ExportWindowTooLarge(exc.window, exc.status)
                quoted.message = f"{exc.message} (Amplitude said: {said})"
                quoted.args = (quoted.message,)
                raise quoted from exc
        raise exc

    def _learn(self, size: int) -> None:
        if size < self.size:
            self.ctx.reporter.note(self.opts.label,
                                   f"export window split; remembering {size}-hour windows")
            self.result.splits += 1
        elif size > self.size:
            self.ctx.reporter.note(self.opts.label,
                                   f"export windows grew back to {size} hours")
        self.size = size
        self.result.window_hours = size

    def _committed(self, label: str, rows: int, state: StreamState) -> None:
        self.replace = False
        self.state = state
        self.result.rows += rows
        self.result.windows += 1
        self.result.cursor = state.cursor
        self.ctx.reporter.committed(self.opts.label, label, rows, state.cursor)
        if rows:
            self.ctx.reporter.advanced(self.opts.label, 0, rows)


__all__ = ["ArchiveTooLarge", "EventsRun", "load_archive"]
