"""The sender's queue: in memory, or durable on disk (SQLite) so a crash loses nothing.

Both queues are thread-safe and bounded.  The durable queue writes events to disk (committed)
before ``put`` returns, removes them only when Amplitude acknowledged them, and on start adopts
whatever an earlier process left unacknowledged — including processes that crashed or were
killed.  Each process uses its own file in the queue directory (``queue-<pid>.sqlite``, held
with an exclusive lock), so forked workers (gunicorn ``--preload``, Celery prefork) never fight
over one file, and an abandoned file is adopted by the next process that opens the directory.

Memory: each queued event holds its JSON in a ``bytes`` of exactly that size (orjson hands out
buffers of 4 KB and more, so the client copies each payload to its size as it encodes it, and
payloads read back from SQLite are exact already: whoever puts must hand exact sizes) plus
:data:`QUEUED_EVENT_OVERHEAD` bytes of bookkeeping; ``held_bytes`` counts exactly that, and
``max_bytes`` bounds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from ampkit.core.files import private_dir, private_file
from ampkit.errors import ConfigError, QueueFullError
from ampkit.ingest.batching import QueuedEvent

OnFull = Literal["block", "drop", "raise"]
_INHERITED: list[object] = []
MAX_FILES_PER_PROCESS = 64
"""Clients of one process keeping their queues in one folder, at the most."""
QUEUED_EVENT_OVERHEAD = 160
"""Bytes a queued event costs beside its JSON: the ``QueuedEvent`` (64), its id (32), the
``bytes`` header (33, rounded up by the allocator) and its slot in the queue's containers —
measured with ``tracemalloc`` (``tests/client/test_memory.py``)."""


class MemoryQueue:
    """Ready events in arrival order, deferred ones until their time, in-flight ones aside."""

    def __init__(self, max_size: int = 100_000, *, max_bytes: int | None = None) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self.max_bytes = max_bytes
        self.cond = threading.Condition()
        self._ready: deque[QueuedEvent] = deque()
        self._ready_bytes = 0
        self._held_bytes = 0
        self._deferred: dict[int, QueuedEvent] = {}
        self._inflight: dict[int, QueuedEvent] = {}
        self._next_id = 1

    # -- sizes -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ready) + len(self._deferred) + len(self._inflight)

    @property
    def ready_count(self) -> int:
        return len(self._ready)

    @property
    def ready_bytes(self) -> int:
        """JSON bytes of the events ready to send (what a request body would carry)."""
        return self._ready_bytes

    @property
    def held_bytes(self) -> int:
        """What every queued event costs in memory: its JSON plus the bookkeeping."""
        return self._held_bytes

    def next_deferred(self) -> float | None:
        return min((e.not_before for e in self._deferred.values()), default=None)

    # -- operations (each takes ``cond``, a re-entrant lock, so callers may hold it too) -----
    def free_slots(self) -> int:
        return self.max_size - len(self)

    def room_for(self, payloads: Sequence[bytes]) -> int:
        """How many of ``payloads``, from the first, fit now (both bounds).  An empty queue
        takes one event however large, so no event waits for room that can never come."""
        n = max(0, min(len(payloads), self.max_size - len(self)))
        if self.max_bytes is None:
            return n
        free = self.max_bytes - self._held_bytes
        for i in range(n):
            free -= len(payloads[i]) + QUEUED_EVENT_OVERHEAD
            if free < 0:
                return 1 if i == 0 and not len(self) else i
        return n

    def describe(self) -> str:
        """The bounds, for a "queue full" message."""
        held = f"{len(self)} of {self.max_size} events"
        if self.max_bytes is not None:
            held += f", {self._held_bytes:,} of {self.max_bytes:,} bytes"
        return held

    def offer(self, payloads: Sequence[bytes]) -> bool:
        """Queue all of ``payloads`` if all fit now (both bounds, as :meth:`room_for`); else
        queue nothing and return ``False``.  Call it with ``cond`` held (the sender does, once
        per ``track``)."""
        n = len(payloads)
        if n > self.max_size - len(self._ready) - len(self._deferred) - len(self._inflight):
            return False
        if self.max_bytes is not None and (
            self._held_bytes + sum(map(len, payloads)) + n * QUEUED_EVENT_OVERHEAD
            > self.max_bytes
        ) and self.room_for(payloads) < n:
            return False
        self._put_locked(payloads)
        return True

    def _store(self, payloads: Sequence[bytes]) -> list[QueuedEvent]:
        """Payloads as queued events (exact-size ``bytes``: see the module docstring)."""
        next_id = self._next_id
        items = [QueuedEvent(next_id + i, payload) for i, payload in enumerate(payloads)]
        self._next_id = next_id + len(items)
        self._held_bytes += sum(map(len, payloads)) + len(items) * QUEUED_EVENT_OVERHEAD
        return items

    def _add_ready(self, items: Sequence[QueuedEvent]) -> None:
        self._ready.extend(items)
        self._ready_bytes += sum(len(item.payload) for item in items)

    def put(self, payloads: Sequence[bytes]) -> list[QueuedEvent]:
        with self.cond:
            return self._put_locked(payloads)

    def _put_locked(self, payloads: Sequence[bytes]) -> list[QueuedEvent]:
        items = self._store(payloads)
        self._add_ready(items)
        return items

    def promote(self, now: float) -> None:
        with self.cond:
            self._promote(now)

    def _promote(self, now: float) -> None:
        due = sorted((e for e in self._deferred.values() if e.not_before <= now),
                     key=lambda e: e.id)
        for item in due:
            del self._deferred[item.id]
        self._add_ready(due)

    def take(self, max_count: int, max_bytes: int, now: float) -> list[QueuedEvent]:
        with self.cond:
            return self._take(max_count, max_bytes, now)

    def _take(self, max_count: int, max_bytes: int, now: float) -> list[QueuedEvent]:
        self._promote(now)
        ready = self._ready
        if self._ready_bytes + len(ready) + 64 <= max_bytes:  # all of it fits: no size sums
            batch = [ready.popleft() for _ in range(min(max_count, len(ready)))]
        else:
            batch = []
            total = 64  # the body's own bytes
            while ready and len(batch) < max_count:
                total += ready[0].size + 1
                if batch and total > max_bytes:
                    break
                batch.append(ready.popleft())
        inflight = self._inflight
        taken = 0
        for item in batch:
            taken += item.size
            item.attempts += 1
            inflight[item.id] = item
        self._ready_bytes -= taken
        return batch

    def ack(self, items: Iterable[QueuedEvent]) -> None:
        with self.cond:
            for item in items:
                if self._inflight.pop(item.id, None) is not None:
                    self._held_bytes -= item.size + QUEUED_EVENT_OVERHEAD
            self.cond.notify_all()

    def defer(self, items: Iterable[QueuedEvent], delay: float, now: float) -> None:
        with self.cond:
            for item in items:
                self._inflight.pop(item.id, None)
                item.not_before = now + delay
                self._deferred[item.id] = item
            self.cond.notify_all()

    def bury(self, items: Iterable[QueuedEvent], reason: str) -> None:
        self.ack(items)

    def requeue_inflight(self) -> int:
        """Every batch taken and never settled (its sender's loop ended mid-request) back in
        line, at the front: sent again, a delivered one is dropped by the server by
        ``insert_id``.  Returns how many events."""
        with self.cond:
            items = sorted(self._inflight.values(), key=lambda item: item.id)
            self._inflight.clear()
            for item in items:
                item.attempts = max(0, item.attempts - 1)  # an interrupted round is no round
            self._ready.extendleft(reversed(items))
            self._ready_bytes += sum(len(item.payload) for item in items)
            self.cond.notify_all()
            return len(items)

    def retry_unsettled(self, items: Iterable[QueuedEvent], delay: float, now: float) -> int:
        """Those of ``items`` still in flight (their answer could not be recorded) go back to
        wait ``delay`` s; returns how many."""
        with self.cond:
            left = [item for item in items if item.id in self._inflight]
            self.defer(left, delay, now)
            return len(left)

    def clear(self) -> None:
        self._ready.clear()
        self._deferred.clear()
        self._inflight.clear()
        self._ready_bytes = 0
        self._held_bytes = 0

    def reset_after_fork(self) -> None:
        """In a forked child: the parent still owns (and sends) what was queued."""
        self.cond = threading.Condition()
        self.clear()

    def close(self) -> None:
        """Nothing to release for a memory queue."""


class DurableQueue(MemoryQueue):
    """A :class:`MemoryQueue` mirrored to SQLite in ``directory`` (see the module docstring)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        max_size: int = 100_000,
        fsync: bool = False,
        *,
        max_bytes: int | None = None,
    ) -> None:
        super().__init__(max_size, max_bytes=max_bytes)
        self.directory = Path(directory)
        private_dir(self.directory)  # queued events are the owner's alone
        self.fsync = fsync
        self._open()

    def _open(self) -> None:
        # this process's file; a second client of the process on the same folder takes the next
        # number (each file has one owner, whose lock says it is alive)
        for n in range(1, MAX_FILES_PER_PROCESS + 1):
            name = f"queue-{os.getpid()}.sqlite" if n == 1 else f"queue-{os.getpid()}-{n}.sqlite"
            path = self.directory / name
            lock = os.open(str(path) + ".lock", os.O_CREAT | os.O_RDWR | os.O_APPEND, 0o600)
            lockfile = os.fdopen(lock, "a+b")
            try:
                fcntl.flock(lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lockfile.close()
                continue
            self.path, self._lockfile = path, lockfile
            break
        else:
            raise ConfigError(
                f"durable_dir {self.directory}: {MAX_FILES_PER_PROCESS} clients of this process "
                "already keep their queues there; close one, or give this one its own folder")
        self._db = self._connect(self.path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS dead (id INTEGER PRIMARY KEY, payload BLOB NOT NULL,"
            " reason TEXT NOT NULL, failed_at REAL NOT NULL)"
        )
        self._db.commit()
        self._load_own()
        self._adopt_orphans()

    def _connect(self, path: Path) -> sqlite3.Connection:
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))  # SQLite's -wal/-shm copy it
        private_file(path)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'NORMAL'}")
        return db

    def _load_own(self) -> None:
        rows = self._db.execute("SELECT id, payload FROM queue ORDER BY id").fetchall()
        for rid, payload in rows:
            item = QueuedEvent(int(rid), bytes(payload))
            self._held_bytes += item.size + QUEUED_EVENT_OVERHEAD
            self._add_ready([item])
            self._next_id = max(self._next_id, item.id + 1)

    def _adopt_orphans(self) -> None:
        """Move rows of files whose owner is gone (its lock is free) into our file."""
        for other in sorted(self.directory.glob("queue-*.sqlite")):
            if other == self.path:
                continue
            lock_path = Path(str(other) + ".lock")
            with open(lock_path, "a+b") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live process owns it
                src = self._connect(other)
                try:
                    rows = src.execute("SELECT payload FROM queue ORDER BY id").fetchall()
                    dead = src.execute(
                        "SELECT payload, reason, failed_at FROM dead ORDER BY id"
                    ).fetchall()
                finally:
                    src.close()
                self._persist([bytes(r[0]) for r in rows], dead=dead)
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(str(other) + suffix)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(lock_path)

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[sqlite3.Connection]:
        """One transaction on the file, rolled back whole if any statement (or the commit)
        fails — a full disk, a removed folder — which then raises :class:`QueueFullError`
        naming the file and SQLite's reason."""
        self._db.execute("BEGIN")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise QueueFullError(f"the durable queue {self.path} could not {what}: "
                                     f"{exc}") from exc
            raise

    def _persist(
        self,
        payloads: Sequence[bytes],
        dead: Sequence[tuple[bytes, str, float]] = (),
    ) -> list[QueuedEvent]:
        items = MemoryQueue._store(self, payloads)
        try:
            with self._writing(f"keep {len(items)} events") as db:
                db.executemany(
                    "INSERT INTO queue (id, payload) VALUES (?, ?)",
                    [(i.id, i.payload) for i in items],
                )
                if dead:
                    db.executemany(
                        "INSERT INTO dead (payload, reason, failed_at) VALUES (?, ?, ?)", dead
                    )
        except BaseException:
            self._held_bytes -= sum(i.size + QUEUED_EVENT_OVERHEAD for i in items)
            raise
        self._add_ready(items)
        return items

    def _put_locked(self, payloads: Sequence[bytes]) -> list[QueuedEvent]:
        return self._persist(payloads)

    def _delete(self, items: Sequence[QueuedEvent]) -> None:
        if items:
            self._db.executemany("DELETE FROM queue WHERE id = ?", [(i.id,) for i in items])

    def ack(self, items: Iterable[QueuedEvent]) -> None:
        items = list(items)
        with self.cond:
            if items:
                with self._writing(f"forget {len(items)} delivered events"):
                    self._delete(items)
            super().ack(items)

    def bury(self, items: Iterable[QueuedEvent], reason: str) -> None:
        items = list(items)
        with self.cond:
            with self._writing(f"dead-letter {len(items)} events") as db:
                db.executemany(
                    "INSERT INTO dead (payload, reason, failed_at) VALUES (?, ?, ?)",
                    [(i.payload, reason, time.time()) for i in items],
                )
                self._delete(items)
            super().ack(items)

    def dead_letters(self) -> list[tuple[bytes, str]]:
        """Events that failed for good, with the reason (kept for inspection/resend)."""
        with self.cond:
            rows = self._db.execute("SELECT payload, reason FROM dead ORDER BY id").fetchall()
        return [(bytes(p), str(r)) for p, r in rows]

    def requeue_dead(self) -> int:
        """Put every dead letter back in the queue; returns how many."""
        with self.cond:
            rows = self._db.execute("SELECT payload FROM dead ORDER BY id").fetchall()
            self._db.execute("DELETE FROM dead")
            if rows:
                self.put([bytes(r[0]) for r in rows])
            return len(rows)

    def reset_after_fork(self) -> None:
        """The child gets its own file; the parent's file, lock and rows stay the parent's."""
        super().reset_after_fork()
        # The inherited connection and lock belong to the parent.  Closing them here could let
        # SQLite (whose POSIX locks a child does not inherit) checkpoint or remove the parent's
        # WAL, so they are kept referenced, never closed, for the life of the child.
        _INHERITED.append((self._db, self._lockfile))
        self._next_id = 1
        self._open()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
        if self._lockfile is not None:
            self._lockfile.close()
