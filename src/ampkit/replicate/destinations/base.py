"""What every destination offers, and the Arrow helpers they share.

A destination keeps one table per stream and the sync state next to it.  A run writes through
:meth:`Destination.transaction`: the window's rows (upserted by primary key) and its new
:class:`~ampkit.replicate.state.StreamState` become visible together, or not at all.
"""

from __future__ import annotations

import abc
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
from pydantic import BaseModel, ConfigDict

from ampkit.errors import AmplitudeError
from ampkit.replicate.schema import Column, column_type_of
from ampkit.replicate.state import StreamState


class DestinationError(AmplitudeError):
    """The destination refused something (connection, DDL, a write, a commit)."""


class DestinationBusy(DestinationError):
    """Another sync is writing to the same destination (this process or another one).

    Two writers would overwrite each other's state (and, in a Parquet directory, delete each
    other's uncommitted files), so a writing sync holds the destination for its whole run: a
    PostgreSQL advisory lock on the schema, a lock on ``.ampkit-sync.lock`` in a Parquet
    directory, DuckDB's own file lock.  Dry runs (``--dry-run``) only read and take no lock.
    """


def busy(description: str, holder: str) -> DestinationBusy:
    return DestinationBusy(
        f"{description} is being written by another sync ({holder}); "
        "wait for it to finish or stop it"
    )


class ProcessClaims:
    """Destinations held by a writing sync of this process, by key.

    What a database or the OS locks per process (DuckDB's file lock) does not stop two
    threads of the same process; this does.
    """

    def __init__(self) -> None:
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def take(self, key: str, description: str) -> None:
        """Hold ``key``, or raise :class:`DestinationBusy` if a sync of this process does."""
        with self._lock:
            if key in self._held:
                raise busy(description, "in this process")
            self._held.add(key)

    def release(self, key: str) -> None:
        with self._lock:
            self._held.discard(key)


CLAIMS = ProcessClaims()


@contextmanager
def translated(
    errors: type[BaseException] | tuple[type[BaseException], ...], label: str
) -> Iterator[None]:
    """Re-raise a database library's exception as :class:`DestinationError`."""
    try:
        yield
    except errors as exc:
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        text = "; ".join(lines[:3]) or type(exc).__name__
        raise DestinationError(f"{label}: {text}") from exc


class TableSpec(BaseModel):
    """The destination table of one stream: declared columns, upsert key, partition column."""

    model_config = ConfigDict(frozen=True)

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    partition_by: str | None = None


class Transaction(abc.ABC):
    """One window: any number of :meth:`write` calls, then :meth:`save_state`."""

    rows: int = 0

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.rows = 0

    def write(self, table: Any) -> int:
        """Upsert an Arrow table (or record batch) by the primary key; returns its rows."""
        table = dedupe(as_table(table), self.spec.primary_key)
        if table.num_rows == 0:
            return 0
        self._upsert(table)
        self.rows += table.num_rows
        return int(table.num_rows)

    @abc.abstractmethod
    def _upsert(self, table: Any) -> None:
        """Upsert a non-empty Arrow table holding each primary key once."""

    @abc.abstractmethod
    def save_state(self, state: StreamState) -> None:
        """Record the stream's state; it commits with the rows."""


class Destination(abc.ABC):
    """A place rows land in (DuckDB, PostgreSQL, Parquet)."""

    kind: str = "destination"
    description: str = ""
    """Where, for people (passwords never shown)."""
    read_only: bool = False
    _release: weakref.finalize[..., Any] | None = None

    def __init__(self, where: object, *, read_only: bool) -> None:
        self.description = f"{self.kind} {where}"
        self.read_only = read_only

    def _hold(self, release: Callable[..., object], *args: Any) -> None:
        """Call ``release(*args)`` once: at :meth:`close`, or when the destination is collected
        without being closed (what a writing sync holds: a claim, a lock)."""
        self._release = weakref.finalize(self, release, *args)

    @abc.abstractmethod
    def read_state(self, stream: str) -> StreamState | None:
        """The saved state of a stream (``None`` before its first commit)."""

    @abc.abstractmethod
    def prepare(self, spec: TableSpec) -> None:
        """Create the table, or add declared columns it lacks (columns are never dropped)."""

    @abc.abstractmethod
    def transaction(
        self, spec: TableSpec, *, replace: bool = False
    ) -> AbstractContextManager[Transaction]:
        """A window's transaction; ``replace`` first empties the table (full refresh)."""

    def close(self) -> None:
        """Release connections and files (and what :meth:`_hold` holds)."""
        if self._release is not None:
            self._release()

    def __enter__(self) -> Destination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def as_table(data: Any) -> Any:
    return pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data


def dedupe(table: Any, keys: Sequence[str]) -> Any:
    """``table`` with one row per key (the last one wins), in first-seen order of survivors."""
    table = as_table(table)
    n = table.num_rows
    if n < 2 or not keys:
        return table
    if len(keys) == 1:
        distinct = pc.count_distinct(table[keys[0]], mode="all").as_py()
        if distinct == n:
            return table
    index = pa.array(range(n), type=pa.int64())
    marked = table.select(list(keys)).append_column("__ampkit_row", index)
    last = marked.group_by(list(keys), use_threads=False).aggregate([("__ampkit_row", "max")])
    keep = pc.sort_indices(last["__ampkit_row_max"])
    return table.take(pc.take(last["__ampkit_row_max"], keep))


def extra_columns(table: Any, known: Sequence[str]) -> list[Column]:
    """Columns of an Arrow table the destination table does not have yet."""
    have = set(known)
    return [
        Column(name=field.name, type=column_type_of(field.type))
        for field in as_table(table).schema
        if field.name not in have
    ]


def chunks(table: Any, rows: int) -> Iterator[Any]:
    table = as_table(table)
    for offset in range(0, table.num_rows, rows):
        yield table.slice(offset, rows)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'



def lock_file(path: Path, description: str) -> int:
    """An open descriptor of ``path`` holding an exclusive lock on it; busy if another holds it.

    The lock belongs to the open file (``flock``; ``msvcrt.locking`` on Windows), so a second
    opening in this same process is refused too, and the OS drops it when the process dies.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # like the folder holding it
    try:
        if sys.platform == "win32":
            import msvcrt

            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            except OSError:  # msvcrt fails the same way for any holder
                raise busy(description, f"it holds {path}") from None
        else:
            import fcntl

            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # EWOULDBLOCK: someone holds it
                raise busy(description, f"it holds {path}") from None
            except OSError as exc:  # no flock here (ENOLCK…): not a busy directory
                raise DestinationError(f"{description}: cannot lock {path}: {exc}") from exc
    except BaseException:
        os.close(fd)
        raise
    return fd


__all__ = [
    "CLAIMS",
    "Destination",
    "DestinationBusy",
    "DestinationError",
    "ProcessClaims",
    "TableSpec",
    "Transaction",
    "as_table",
    "busy",
    "chunks",
    "dedupe",
    "extra_columns",
    "lock_file",
    "quote_ident",
    "translated",
]
