"""The sender's queue: in memory, or durable on disk (SQLite) so a crash loses nothing.

Both queues are thread-safe and bounded.  The durable queue writes events to disk (committed)
before ``put`` returns, removes them only when Amplitude acknowledged them, and on start adopts
whatever an earlier process left unacknowledged — including processes that crashed or were
killed.  Each process uses its own file in the queue directory (``queue-<pid>.sqlite``, held
with an exclusive lock), so forked workers (gunicorn ``--preload``, Celery prefork) never fight
over one file, and an abandoned file is adopted by the next process that opens the directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from ampkit.ingest.batching import QueuedEvent

OnFull = Literal["block", "drop", "raise"]
_INHERITED: list[object] = []


class MemoryQueue:
    """Ready events in arrival order, deferred ones until their time, in-flight ones aside."""

    def __init__(self, max_size: int = 100_000) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self.cond = threading.Condition()
        self._ready: OrderedDict[int, QueuedEvent] = OrderedDict()
        self._ready_bytes = 0
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
        return self._ready_bytes

    def next_deferred(self) -> float | None:
        return min((e.not_before for e in self._deferred.values()), default=None)

    # -- operations (each takes ``cond``, a re-entrant lock, so callers may hold it too) -----
    def free_slots(self) -> int:
        return self.max_size - len(self)

    def _store(self, payloads: Sequence[bytes]) -> list[QueuedEvent]:
        items = []
        for payload in payloads:
            items.append(QueuedEvent(self._next_id, payload))
            self._next_id += 1
        return items

    def put(self, payloads: Sequence[bytes]) -> list[QueuedEvent]:
        with self.cond:
            items = self._store(payloads)
            for item in items:
                self._ready[item.id] = item
                self._ready_bytes += item.size
            return items

    def promote(self, now: float) -> None:
        with self.cond:
            self._promote(now)

    def _promote(self, now: float) -> None:
        due = [e for e in self._deferred.values() if e.not_before <= now]
        for item in sorted(due, key=lambda e: e.id):
            del self._deferred[item.id]
            self._ready[item.id] = item
            self._ready_bytes += item.size

    def take(self, max_count: int, max_bytes: int, now: float) -> list[QueuedEvent]:
        with self.cond:
            return self._take(max_count, max_bytes, now)

    def _take(self, max_count: int, max_bytes: int, now: float) -> list[QueuedEvent]:
        self._promote(now)
        if not self._ready:
            return []
        ready = self._ready
        if self._ready_bytes + len(ready) + 64 <= max_bytes:  # all of it fits: no size sums
            batch = list(itertools.islice(ready.values(), max_count))
        else:
            batch = []
            total = 64  # the body's own bytes
            for item in ready.values():
                total += item.size + 1
                if batch and total > max_bytes:
                    break
                batch.append(item)
                if len(batch) >= max_count:
                    break
        inflight = self._inflight
        taken = 0
        for item in batch:
            del ready[item.id]
            taken += item.size
            item.attempts += 1
            inflight[item.id] = item
        self._ready_bytes -= taken
        return batch

    def ack(self, items: Iterable[QueuedEvent]) -> None:
        with self.cond:
            for item in items:
                self._inflight.pop(item.id, None)
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

    def clear(self) -> None:
        self._ready.clear()
        self._deferred.clear()
        self._inflight.clear()
        self._ready_bytes = 0

    def reset_after_fork(self) -> None:
        """In a forked child: the parent still owns (and sends) what was queued."""
        self.cond = threading.Condition()
        self.clear()

    def close(self) -> None:
        """Nothing to release for a memory queue."""


class DurableQueue(MemoryQueue):
    """A :class:`MemoryQueue` mirrored to SQLite in ``directory`` (see the module docstring)."""

    def __init__(
        self, directory: str | os.PathLike[str], max_size: int = 100_000, fsync: bool = False
    ) -> None:
        super().__init__(max_size)
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._open()

    def _open(self) -> None:
        self.path = self.directory / f"queue-{os.getpid()}.sqlite"
        self._lockfile = open(str(self.path) + ".lock", "a+b")  # noqa: SIM115 - held open
        fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
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
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'NORMAL'}")
        return db

    def _load_own(self) -> None:
        rows = self._db.execute("SELECT id, payload FROM queue ORDER BY id").fetchall()
        for rid, payload in rows:
            item = QueuedEvent(int(rid), bytes(payload))
            self._ready[item.id] = item
            self._ready_bytes += item.size
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

    def _persist(
        self,
        payloads: Sequence[bytes],
        dead: Sequence[tuple[bytes, str, float]] = (),
    ) -> list[QueuedEvent]:
        items = MemoryQueue._store(self, payloads)
        self._db.execute("BEGIN")
        try:
            self._db.executemany(
                "INSERT INTO queue (id, payload) VALUES (?, ?)",
                [(i.id, i.payload) for i in items],
            )
            if dead:
                self._db.executemany(
                    "INSERT INTO dead (payload, reason, failed_at) VALUES (?, ?, ?)", dead
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        for item in items:
            self._ready[item.id] = item
            self._ready_bytes += item.size
        return items

    def put(self, payloads: Sequence[bytes]) -> list[QueuedEvent]:
        with self.cond:
            return self._persist(payloads)

    def _delete(self, items: Sequence[QueuedEvent]) -> None:
        if items:
            self._db.executemany("DELETE FROM queue WHERE id = ?", [(i.id,) for i in items])

    def ack(self, items: Iterable[QueuedEvent]) -> None:
        items = list(items)
        with self.cond:
            if items:
                self._db.execute("BEGIN")
                self._delete(items)
                self._db.execute("COMMIT")
            super().ack(items)

    def bury(self, items: Iterable[QueuedEvent], reason: str) -> None:
        items = list(items)
        with self.cond:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO dead (payload, reason, failed_at) VALUES (?, ?, ?)",
                [(i.payload, reason, time.time()) for i in items],
            )
            self._delete(items)
            self._db.execute("COMMIT")
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
