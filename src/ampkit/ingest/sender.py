"""Background senders: a thread for sync code, an asyncio task for async code.

Both share :class:`SenderCore`, which owns the queue and decides *when* to send (count, bytes,
interval, flush) and *what to do* with each delivery report; the only difference between the
two is how they wait and how they drive the delivery flow.

Promises kept (each has a test):
* ``close()`` returns as soon as the queue is drained (no fixed wait, no "cannot schedule new
  futures after shutdown"); it also runs at interpreter exit;
* after ``os.fork()`` the child starts its own sender on first use (the parent keeps sending
  what it queued);
* a broken connection mid-answer resends the same bytes (same insert_ids): nothing is lost and
  the server's dedup makes sure nothing counts twice;
* memory is bounded: a full queue (``max_queue_size`` events or ``max_queue_bytes``, counted as
  what the queue really holds) blocks the caller, drops (reporting each drop) or raises;
* retries follow the retry policy's backoff, not the flush interval;
* only Amplitude's success answer settles events as delivered; anything else is retried with
  the same bytes and, after ``max_delivery_rounds``, reported to ``on_failed``;
* a server that cannot be reached at all costs no delivery round: the events stay queued and
  the sender tries again ``retry_delay`` seconds later (nothing lost, nothing failed).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ampkit.core.flow import arun_flow, run_flow
from ampkit.core.transport import AsyncTransport, SyncTransport
from ampkit.errors import AmplitudeError, ClosedError, QueueFullError, UnreachableError
from ampkit.ingest.batching import DeliveryReport, Failure, QueuedEvent, delivery_flow
from ampkit.ingest.endpoints import (
    BATCH_MAX_BYTES,
    HTTPAPI_MAX_BYTES,
    MAX_EVENTS_PER_REQUEST,
)
from ampkit.ingest.queue import DurableQueue, MemoryQueue

log = logging.getLogger("ampkit.sender")
T = TypeVar("T")

DeliveredCallback = Callable[[list[dict[str, Any]]], None]
FailedCallback = Callable[[list[dict[str, Any]], str, "int | None"], None]


class SenderOptions(BaseModel):
    """How the background sender batches, bounds its memory and retries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: int = Field(default=200, ge=1, le=MAX_EVENTS_PER_REQUEST)
    """Events per request; a batch is sent as soon as this many are queued."""
    max_batch_bytes: int | None = Field(default=None, ge=1024)
    """Bytes per request (default: just under the endpoint's limit, 1 MB or 20 MB)."""
    flush_interval: float = Field(default=10.0, gt=0)
    """Seconds after which queued events are sent even if the batch is not full."""
    max_queue_size: int = Field(default=100_000, ge=1)
    """Events the queue holds at most (delivered or failed ones leave it)."""
    max_queue_bytes: int | None = Field(default=256 * 1024 * 1024, ge=1024)
    """Bytes the queue holds at most, counted as it holds them: each event's JSON plus
    ``QUEUED_EVENT_OVERHEAD`` (``None``: no byte bound)."""
    on_full: Literal["block", "drop", "raise"] = "block"
    """What ``track`` does when the queue is full: wait for room, drop (reported), or raise."""
    block_timeout: float | None = Field(default=None, ge=0)
    use_batch: bool = False
    """Send to the Batch API (``/batch``) instead of HTTP V2."""
    durable_dir: Path | None = None
    """Keep the queue on disk in this directory: a crash or kill loses nothing."""
    fsync: bool = False
    """With ``durable_dir``: fsync every write (survives power loss, slower)."""
    workers: int = Field(default=1, ge=1, le=16)
    """Concurrent requests in flight (1 keeps per-device order)."""
    throttle_delay: float | None = Field(default=None, ge=0)
    """Seconds to hold back throttled users/devices after a 429 (default 30; Batch API 15)."""
    max_delivery_rounds: int = Field(default=3, ge=1)
    """How many times a batch may exhaust the retry policy before its events are failed."""
    close_timeout: float = Field(default=30.0, ge=0)
    """The most ``close()`` (and interpreter exit) waits for the queue to drain."""

    @field_validator("durable_dir", mode="before")
    @classmethod
    def _folder(cls, value: object) -> object:
        """A folder, or one that can be made: not ``""`` (the current one, by accident), not an
        existing file (found only at the first ``track``, as a ``FileExistsError``)."""
        if isinstance(value, str | os.PathLike) and not os.fspath(value):
            raise ValueError("must name a folder, not ''")
        if isinstance(value, str | os.PathLike) and Path(value).exists() and not Path(
                value).is_dir():
            raise ValueError(f"{os.fspath(value)} exists and is not a folder")
        return value

    def batch_bytes(self) -> int:
        limit = BATCH_MAX_BYTES if self.use_batch else HTTPAPI_MAX_BYTES
        return self.max_batch_bytes or int(limit * 0.95)

    def throttle(self) -> float:
        if self.throttle_delay is not None:
            return self.throttle_delay
        return 15.0 if self.use_batch else 30.0


class SenderCore:
    """Queue, triggers and settlement shared by the thread and the asyncio senders."""

    def __init__(
        self,
        options: SenderOptions,
        *,
        min_id_length: int | None = None,
        secrets: Sequence[str] = (),
        retry_delay: float = 30.0,
        on_delivered: DeliveredCallback | None = None,
        on_failed: FailedCallback | None = None,
    ) -> None:
        self.options = options
        self._batch_size, self._batch_bytes = options.batch_size, options.batch_bytes()
        self.min_id_length = min_id_length
        self.secrets = tuple(secrets)
        self.retry_delay = retry_delay
        self.on_delivered = on_delivered
        self.on_failed = on_failed
        self.queue: MemoryQueue = (
            DurableQueue(options.durable_dir, options.max_queue_size, options.fsync,
                         max_bytes=options.max_queue_bytes)
            if options.durable_dir is not None
            else MemoryQueue(options.max_queue_size, max_bytes=options.max_queue_bytes)
        )
        self.flush_requested = False
        self.closing = False
        self.stopped = False
        self.held_until = 0.0
        """While the server cannot be reached: no batch is taken before this time."""
        self.last_send = time.monotonic()
        self.delivered_count = 0
        self.failed_count = 0

    # -- deciding ------------------------------------------------------------------------------
    def due_batch(self, now: float) -> list[QueuedEvent]:
        """A batch to send now, or ``[]`` (call with the queue's lock held)."""
        q = self.queue
        q.promote(now)
        if not q.ready_count or now < self.held_until:
            return []
        force = self.flush_requested or self.closing
        if not (force or self.batch_ready() or now - self.last_send >= self.options.flush_interval):
            return []
        self.last_send = now
        return q.take(self.options.batch_size, self.options.batch_bytes(), now)

    def batch_ready(self) -> bool:
        """A full batch is waiting (worth waking the sender for)."""
        q = self.queue
        return q.ready_count >= self._batch_size or q.ready_bytes >= self._batch_bytes

    def wait_time(self, now: float) -> float | None:
        waits = []
        if self.queue.ready_count:
            forced = self.flush_requested or self.closing or self.batch_ready()
            due = now if forced else self.last_send + self.options.flush_interval
            waits.append(max(0.0, due - now, self.held_until - now))
        deferred = self.queue.next_deferred()
        if deferred is not None:
            waits.append(max(0.0, deferred - now))
        return min(waits) if waits else None

    def flow(self, batch: list[QueuedEvent]) -> Any:
        return delivery_flow(
            batch,
            use_batch=self.options.use_batch,
            min_id_length=self.min_id_length,
            throttle_delay=self.options.throttle(),
            secrets=self.secrets,
        )

    # -- settling ------------------------------------------------------------------------------
    def settle(self, report: DeliveryReport) -> list[Callable[[], None]]:
        """Apply a report to the queue (lock held); returns callbacks to run without the lock."""
        now = time.monotonic()
        q = self.queue
        calls: list[Callable[[], None]] = []
        if report.delivered and self._recorded(q.ack, report.delivered):
            self.delivered_count += len(report.delivered)
            if self.on_delivered is not None:
                calls.append(self._delivered_call(report.delivered))
        for failure in report.failed:
            if self._recorded(q.bury, failure.events, failure.reason):
                calls.append(self._failed_call(failure))
        for item, delay in report.deferred:
            item.attempts -= 1  # held back by a 429: not a delivery round
            q.defer([item], delay, now)
        return calls

    def settle_error(self, batch: list[QueuedEvent], exc: Exception) -> list[Callable[[], None]]:
        now = time.monotonic()
        if isinstance(exc, UnreachableError):  # nothing was sent: keep them, try again later
            log.warning("%s; %d events stay queued, next try in %.0fs", exc, len(batch),
                        self.retry_delay)
            for item in batch:
                item.attempts -= 1  # not a delivery round
            self.held_until = now + self.retry_delay
            self.queue.defer(batch, 0.0, now)
            return []
        retryable = isinstance(exc, AmplitudeError) and exc.retryable
        if retryable and all(e.attempts < self.options.max_delivery_rounds for e in batch):
            log.warning("delivery failed (%s); will retry %d events", exc, len(batch))
            self.queue.defer(batch, self.retry_delay, now)
            return []
        status = getattr(exc, "status", None)
        failure = Failure(batch, str(exc) or type(exc).__name__, status)
        self.queue.bury(batch, failure.reason)
        return [self._failed_call(failure)]

    def _recorded(self, write: Callable[..., None], items: list[QueuedEvent],
                  *more: Any) -> bool:
        """``write(items, *more)``, one of a report's queue writes; when the queue cannot take
        it (a durable queue on a full disk) its events wait ``retry_delay`` and go again —
        the report's other parts are settled all the same, their callbacks kept."""
        try:
            write(items, *more)
        except QueueFullError as exc:
            self._keep(items, exc)
            return False
        return True

    def _keep(self, items: list[QueuedEvent], why: Exception) -> None:
        """Those of ``items`` whose outcome the queue could not record wait ``retry_delay`` and
        go again (a resend of delivered ones is dropped by the server by ``insert_id``)."""
        kept = self.queue.retry_unsettled(items, self.retry_delay, time.monotonic())
        log.error("%s; %d events stay queued, next try in %.0fs", why, kept, self.retry_delay)

    def settle_or_keep(
        self, batch: list[QueuedEvent], outcome: DeliveryReport | Exception
    ) -> list[Callable[[], None]]:
        """:meth:`settle` a report, or :meth:`settle_error` an error — and if the queue cannot
        record that (a durable queue on a full disk), the batch's unsettled events wait
        ``retry_delay`` and go again (never dead-lettered for the queue's own failure): a
        resend of delivered ones is dropped by the server by ``insert_id``, and the sender
        lives on."""
        try:
            if isinstance(outcome, DeliveryReport):
                return self.settle(outcome)
            return self.settle_error(batch, outcome)
        except Exception as failed:
            self._keep(batch, failed)
            return []

    def _delivered_call(self, items: list[QueuedEvent]) -> Callable[[], None]:
        cb = self.on_delivered
        self.delivered_count += 0
        return lambda: cb([i.event() for i in items]) if cb else None

    def _failed_call(self, failure: Failure) -> Callable[[], None]:
        self.failed_count += len(failure.events)
        log.warning("%d events failed: %s", len(failure.events), failure.reason)
        cb = self.on_failed
        return lambda: cb([i.event() for i in failure.events], failure.reason, failure.status) \
            if cb else None

    def refuse(self, payloads: Sequence[bytes], reason: str) -> Callable[[], None]:
        """Events dropped before queuing (queue full with ``on_full='drop'``)."""
        self.failed_count += len(payloads)
        cb = self.on_failed
        events = [orjson.loads(p) for p in payloads]
        return lambda: cb(events, reason, None) if cb else None


def run_callbacks(calls: Sequence[Callable[[], None]]) -> None:
    for call in calls:
        try:
            call()
        except Exception:
            log.exception("a delivery callback raised; ignored")


_SENDERS: weakref.WeakSet[BackgroundSender] = weakref.WeakSet()
_PID = [os.getpid()]
"""This process's id, kept by a fork hook: ``track`` checks it on every call, and
``os.getpid()`` is a system call."""


def _note_pid() -> None:
    _PID[0] = os.getpid()


os.register_at_fork(after_in_child=_note_pid)


class BackgroundSender:
    """Sends queued events from a background thread (sync code)."""

    def __init__(self, transport: SyncTransport, core: SenderCore) -> None:
        self.transport = transport
        self.core = core
        self._threads: list[threading.Thread] = []
        self._pid = os.getpid()
        self._closed = False
        self._closed_done = threading.Event()
        self._drained = False
        """What :meth:`close` found: nothing left undelivered (kept for later calls)."""
        _SENDERS.add(self)
        _hook_process_exit()  # a sender made inside a child (the spawn start method)

    def __repr__(self) -> str:
        return f"BackgroundSender(queued={len(self.core.queue)})"

    @property
    def cond(self) -> threading.Condition:
        return self.core.queue.cond

    def _ensure_running(self) -> None:
        if self._pid != os.getpid():
            self._after_fork()
        if not self._threads:
            for n in range(self.core.options.workers):
                t = threading.Thread(target=self._run, name=f"ampkit-sender-{n}", daemon=True)
                self._threads.append(t)
                t.start()

    def _after_fork(self) -> None:
        self._pid = os.getpid()
        self._threads = []
        self.core.queue.reset_after_fork()
        self.core.closing = False
        self.core.stopped = False
        self.core.held_until = 0.0
        self.core.flush_requested = False

    def enqueue(self, payloads: Sequence[bytes]) -> int:
        """Queue encoded events; returns how many were accepted (see ``on_full``)."""
        if self._closed:
            raise ClosedError("this client is closed; create a new one to send more events")
        core = self.core
        with self.cond:  # fast path: room for everything (the common case)
            if self._pid != _PID[0] or not self._threads:
                self._ensure_running()
            queue = core.queue
            was_idle = not queue.ready_count
            was_ready = not was_idle and core.batch_ready()
            if queue.offer(payloads):
                if was_idle or (not was_ready and core.batch_ready()):
                    self.cond.notify_all()
                return len(payloads)
        calls: list[Callable[[], None]] = []
        accepted = 0
        with self.cond:
            self._ensure_running()
            pending = list(payloads)
            deadline = (
                None
                if self.core.options.block_timeout is None
                else time.monotonic() + self.core.options.block_timeout
            )
            while pending:
                room = self.core.queue.room_for(pending)
                if room > 0:
                    was_idle = not self.core.queue.ready_count
                    was_ready = not was_idle and self.core.batch_ready()
                    self.core.queue.put(pending[:room] if room < len(pending) else pending)
                    accepted += min(room, len(pending))
                    pending = pending[room:]
                    if was_idle or (not was_ready and self.core.batch_ready()):
                        # start the interval clock, or send a batch that just became full
                        # (once: the sender keeps taking full batches while there are some)
                        self.cond.notify_all()
                    continue
                mode = self.core.options.on_full
                if mode == "drop":
                    calls.append(self.core.refuse(pending, "queue full (on_full='drop')"))
                    break
                if mode == "raise":
                    raise QueueFullError(
                        f"queue full ({self.core.queue.describe()}); "
                        f"{accepted} of {len(payloads)} accepted"
                    )
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise QueueFullError(
                        f"queue still full after {self.core.options.block_timeout}s; "
                        f"{accepted} of {len(payloads)} accepted"
                    )
                self.core.flush_requested = True
                self.cond.notify_all()
                self.cond.wait(remaining)
        run_callbacks(calls)
        return accepted

    def _run(self) -> None:
        core = self.core
        while True:
            with self.cond:
                while True:
                    if core.stopped:  # close() gave up waiting (e.g. the server is down)
                        return
                    now = time.monotonic()
                    batch = core.due_batch(now)
                    if batch:
                        break
                    if not len(core.queue):
                        core.flush_requested = False
                        self.cond.notify_all()
                        if core.closing:
                            return
                    self.cond.wait(core.wait_time(now))
            outcome: DeliveryReport | Exception
            try:
                outcome = run_flow(core.flow(batch), self.transport)
            except Exception as exc:
                outcome = exc
            with self.cond:
                calls = core.settle_or_keep(batch, outcome)
            run_callbacks(calls)

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; ``True`` once the queue is empty.  After :meth:`close`
        nothing sends any more: what the close found (``False`` if it left events)."""
        if self._closed:
            self._closed_done.wait(timeout)
            return self._drained
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.cond:
            if not len(self.core.queue):
                return True
            self._ensure_running()
            self.core.flush_requested = True
            self.cond.notify_all()
            while len(self.core.queue):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.cond.wait(remaining)
            return True

    def close(self, timeout: float | None = None) -> bool:
        """Drain the queue (at most ``timeout`` s, default ``close_timeout``) and stop;
        ``True`` if nothing was left undelivered.  Closing again (another thread, ``atexit``)
        waits for the first close, within ``timeout``, and answers what it found."""
        if self._closed:
            self._closed_done.wait(self.core.options.close_timeout if timeout is None
                                   else timeout)
            return self._drained
        if self._pid != os.getpid():
            self._after_fork()
        self._closed = True
        try:
            self._drained = self._close(timeout)
        finally:
            self._closed_done.set()
        return self._drained

    def _close(self, timeout: float | None) -> bool:
        limit = self.core.options.close_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        with self.cond:
            self.core.closing = True
            if len(self.core.queue):
                self._ensure_running()
            self.cond.notify_all()
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        with self.cond:  # past the deadline: threads stop after the request they are in
            self.core.stopped = True
            self.cond.notify_all()
        drained = not len(self.core.queue)
        if not drained:
            log.warning("closed with %d events not delivered%s", len(self.core.queue),
                        " (kept on disk)" if self.core.options.durable_dir else "")
        if not any(t.is_alive() for t in self._threads):
            self.core.queue.close()  # a thread still sending keeps using it until exit
        return drained


def _close_all_at_exit() -> None:
    for sender in list(_SENDERS):
        try:
            sender.close()
        except Exception:  # pragma: no cover - never let exit hooks raise
            log.exception("closing a sender at exit failed")


_HOOKED_PID = [0]
"""The process whose multiprocessing exit hook is in place (one per process)."""


class _Anchor:
    """What multiprocessing's after-fork registry holds (weakly) the hook's callback by."""


_ANCHOR = _Anchor()


def _finalizer(util: Any) -> None:
    util.Finalize(None, _close_all_at_exit, exitpriority=100)


def _hook_process_exit() -> None:
    """Deliver at the end of a ``multiprocessing`` (or Celery's ``billiard``) child too: such a
    child ends with ``os._exit`` once its target returns, so ``atexit`` never runs there — but
    its bootstrap runs the module's finalizers first, and one of them closes the senders.  The
    bootstrap clears the finalizers a forked child inherits, then runs its after-fork callbacks:
    one of those puts the finalizer back."""
    if _HOOKED_PID[0] == os.getpid():
        return
    for name in ("multiprocessing.util", "billiard.util"):
        util = sys.modules.get(name)
        if util is not None and hasattr(util, "Finalize"):
            _finalizer(util)
            after_fork = getattr(util, "register_after_fork", None)
            if after_fork is not None:
                after_fork(_ANCHOR, lambda _anchor, util=util: _finalizer(util))
            _HOOKED_PID[0] = os.getpid()


def _reset_in_child() -> None:
    for sender in list(_SENDERS):
        if not sender._closed:  # a closed one sends nothing: no queue file of its own
            sender._after_fork()
    if _SENDERS:
        _hook_process_exit()


atexit.register(_close_all_at_exit)
os.register_at_fork(after_in_child=_reset_in_child)


class AsyncBackgroundSender:
    """Sends queued events from an asyncio task (async code)."""

    def __init__(self, transport: AsyncTransport, core: SenderCore) -> None:
        self.transport = transport
        self.core = core
        self._tasks: list[asyncio.Task[None]] = []
        self._wake: asyncio.Event | None = None
        self._changed: asyncio.Event | None = None
        self._closed = False
        self._drained = False
        """What :meth:`close` found: nothing left undelivered."""
        self._pid = os.getpid()
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop the tasks and events belong to (``asyncio.run`` twice: a new one)."""

    def __repr__(self) -> str:
        return f"AsyncBackgroundSender(queued={len(self.core.queue)})"

    def __del__(self) -> None:
        """Dropped while it still holds events, never closed: no thread flushes an async
        client at exit (its loop is gone), so say what was not sent rather than lose it
        silently."""
        if self._closed or self._pid != os.getpid():
            return
        with contextlib.suppress(Exception):  # a half-built sender, an interpreter going down
            left = len(self.core.queue)
            if left:
                where = (" (kept on disk in durable_dir: the next client there sends them)"
                         if self.core.options.durable_dir else "")
                warnings.warn(
                    f"AsyncAmplitude dropped without close(): {left} events were not sent"
                    f"{where}; use `async with AsyncAmplitude(...)` or `await amp.close()`",
                    RuntimeWarning, stacklevel=2)
                log.warning("AsyncAmplitude dropped without close(): %d events not sent", left)

    def _after_fork(self) -> None:
        """In a forked child: the parent's tasks, events and queue file are not ours (the
        parent keeps sending what it queued; the child starts afresh, as the thread sender)."""
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._tasks = []
        self._wake = self._changed = None
        self.core.queue.reset_after_fork()
        self.core.closing = False
        self.core.flush_requested = False

    def _on_this_loop(self) -> None:
        """Used from another event loop than before (``asyncio.run`` called again): the old
        loop's tasks and events are dead, and a batch one of its tasks had in flight was never
        settled — it goes back in line (a resend is dropped by the server by insert_id)."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        if self._loop is not None:
            self._tasks = []
            self._wake = self._changed = None
            back = self.core.queue.requeue_inflight()
            if back:
                log.info("a new event loop: %d events in flight on the old one go again", back)
        self._loop = loop

    async def _locked(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` under the queue's lock — in a worker thread when the queue is on disk,
        so its SQLite writes and commits never block the event loop."""

        def call() -> T:
            with self.core.queue.cond:
                return fn(*args)

        if isinstance(self.core.queue, DurableQueue):
            return await asyncio.to_thread(call)
        return call()

    def _events(self) -> tuple[asyncio.Event, asyncio.Event]:
        if self._wake is None or self._changed is None:
            self._wake, self._changed = asyncio.Event(), asyncio.Event()
        return self._wake, self._changed

    def _ensure_running(self) -> None:
        self._tasks = [t for t in self._tasks if not t.done()]
        if not self._tasks:
            for _ in range(self.core.options.workers):
                self._tasks.append(asyncio.get_running_loop().create_task(self._run()))

    def _notify(self) -> None:
        wake, changed = self._events()
        wake.set()
        changed.set()

    async def enqueue(self, payloads: Sequence[bytes]) -> int:
        if self._closed:
            raise ClosedError("this client is closed; create a new one to send more events")
        self._after_fork()
        self._on_this_loop()
        self._ensure_running()
        core, pending, accepted = self.core, list(payloads), 0
        started = time.monotonic()

        def put(items: list[bytes]) -> tuple[int, bool]:
            room = core.queue.room_for(items)
            if room <= 0:
                return 0, False
            was_idle = not core.queue.ready_count
            core.queue.put(items[:room])
            return min(room, len(items)), was_idle or core.batch_ready()

        while pending:
            taken, wake_up = await self._locked(put, pending)
            if taken:
                accepted += taken
                pending = pending[taken:]
                if wake_up:
                    self._events()[0].set()
                continue
            if core.options.on_full == "drop":
                run_callbacks([core.refuse(pending, "queue full (on_full='drop')")])
                break
            timeout = core.options.block_timeout
            if core.options.on_full == "raise" or (
                timeout is not None and time.monotonic() - started >= timeout
            ):
                raise QueueFullError(
                    f"queue full ({core.queue.describe()}); "
                    f"{accepted} of {len(payloads)} accepted"
                )
            core.flush_requested = True
            wake, changed = self._events()
            changed.clear()
            wake.set()
            await changed.wait()
        return accepted

    async def _run(self) -> None:
        core = self.core
        wake, changed = self._events()
        while True:
            with core.queue.cond:
                now = time.monotonic()
                batch = core.due_batch(now)
                empty = not len(core.queue)
                if empty:
                    core.flush_requested = False
                wait = core.wait_time(now)
            if not batch:
                changed.set()
                if empty and core.closing:
                    return
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), wait)
                continue
            outcome: DeliveryReport | Exception
            try:
                outcome = await arun_flow(core.flow(batch), self.transport)
            except Exception as exc:
                outcome = exc
            calls = await self._locked(core.settle_or_keep, batch, outcome)
            run_callbacks(calls)
            changed.set()

    async def flush(self, timeout: float | None = None) -> bool:
        if self._closed:  # nothing sends any more: what close found
            return self._drained
        self._after_fork()
        self._on_this_loop()
        if not len(self.core.queue):
            return True
        self._ensure_running()
        self.core.flush_requested = True
        deadline = None if timeout is None else time.monotonic() + timeout
        wake, changed = self._events()
        while len(self.core.queue):
            changed.clear()
            wake.set()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return False
        return True

    async def close(self, timeout: float | None = None) -> bool:
        if self._closed:  # what the first close found (False if it left events)
            return self._drained
        self._after_fork()
        self._on_this_loop()
        self._closed = True
        self.core.closing = True
        limit = self.core.options.close_timeout if timeout is None else timeout
        if len(self.core.queue):
            self._ensure_running()
        self._notify()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=limit)
            for task in pending:
                task.cancel()
        drained = not len(self.core.queue)
        await self._locked(self.core.queue.close)
        self._drained = drained
        return drained
