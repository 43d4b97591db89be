"""Parquet files under a directory, partitioned by date, with an atomic manifest.

Layout (``parquet:///dir`` or a directory path)::

    dir/_ampkit_state.json                       state + the list of live files (the manifest)
    dir/.ampkit-sync.lock                        locked by the sync writing the directory
    dir/events/dt=2024-01-01/part-<id>.parquet   events: by server_upload_time's UTC date
    dir/active_users/dt=2024-01-01/part-….parquet  daily streams: by date
    dir/cohorts/part-<id>.parquet                catalogs: not partitioned

A window's transaction writes new files under hidden temporary names (``.part-….tmp``, skipped
by Parquet readers and globs), rewrites the files of the partitions it touches that hold one of
its primary keys (without those rows), then replaces ``_ampkit_state.json`` atomically — the
commit point — and finally renames the new files and deletes the replaced ones.  Opening the
directory finishes or discards an interrupted commit, so the live files hold each key once.
A writing sync holds the directory's lock file from opening to closing: a second one (here or
in another process) gets :class:`~ampkit.replicate.destinations.base.DestinationBusy` instead of
discarding the first one's uncommitted files.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
from pydantic import BaseModel, Field

from ampkit.core.files import private_dir, private_file
from ampkit.replicate.destinations.base import (
    Destination,
    TableSpec,
    Transaction,
    lock_file,
)
from ampkit.replicate.state import STATE_TABLE, StreamState

MANIFEST = f"{STATE_TABLE}.json"
LOCK_FILE = ".ampkit-sync.lock"
"""Held (an OS lock, released when the process ends) by the sync writing the directory."""
NO_DATE = "unknown"


class Manifest(BaseModel):
    """``_ampkit_state.json``: per stream, its state and its live files (relative paths)."""

    version: int = 1
    states: dict[str, StreamState] = Field(default_factory=dict)
    files: dict[str, list[str]] = Field(default_factory=dict)


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def _key_column(table: Any, keys: tuple[str, ...]) -> Any:
    """One comparable key per row (several key columns joined as text)."""
    if len(keys) == 1:
        return table[keys[0]]
    parts = [pc.cast(table[k], pa.string()) for k in keys]
    return pc.binary_join_element_wise(*parts, "\x1f", null_handling="replace",
                                       null_replacement="\x00")


def _partitions(table: Any, column: str | None) -> Iterator[tuple[str | None, Any]]:
    if column is None:
        yield None, table
        return
    values = table[column]
    days = pc.cast(values, pa.date32()) if pa.types.is_timestamp(values.type) else values
    labels = pc.fill_null(pc.cast(days, pa.string()), NO_DATE)
    for label in pc.unique(labels).to_pylist():
        yield str(label), table.filter(pc.equal(labels, label))


class _ParquetTransaction(Transaction):
    def __init__(self, dest: ParquetDestination, spec: TableSpec, live: list[str]) -> None:
        super().__init__(spec)
        self.dest = dest
        self.live = list(live)
        self.new: set[str] = set()
        self.removed: set[str] = set()
        self.state: StreamState | None = None

    def _path(self, rel: str) -> Path:
        full = self.dest.root / rel
        return _tmp(full) if rel in self.new else full

    def _drop_keys(self, rel: str, keys: Any) -> None:
        """Rewrite one file without the rows whose key is in ``keys``."""
        path = self._path(rel)
        existing = pq.read_table(path, columns=list(self.spec.primary_key))
        hit = pc.is_in(_key_column(existing, self.spec.primary_key), value_set=keys)
        if not pc.any(hit).as_py():
            return
        whole = pq.read_table(path)
        kept = whole.filter(pc.invert(hit))
        self.live.remove(rel)
        if rel in self.new:
            self.new.discard(rel)
            path.unlink(missing_ok=True)
        else:
            self.removed.add(rel)
        if kept.num_rows:
            self.live.append(self._write_new(rel.rsplit("/", 1)[0], kept))

    def _write_new(self, folder: str, table: Any) -> str:
        rel = f"{folder}/part-{uuid.uuid4().hex}.parquet"
        self.new.add(rel)
        target = _tmp(self.dest.root / rel)
        private_dir(target.parent)  # a partition folder made here is the owner's (0700)
        pq.write_table(table, target, compression="zstd")
        private_file(target)  # and the rows in it (pyarrow honours the umask only)
        return rel

    def _upsert(self, table: Any) -> None:
        for label, part in _partitions(table, self.spec.partition_by):
            folder = self.spec.name if label is None else f"{self.spec.name}/dt={label}"
            keys = pc.unique(_key_column(part, self.spec.primary_key))
            for rel in [r for r in self.live if r.rsplit("/", 1)[0] == folder]:
                self._drop_keys(rel, keys)
            self.live.append(self._write_new(folder, part))

    def save_state(self, state: StreamState) -> None:
        self.state = state.stamped()

    def rollback(self) -> None:
        for rel in self.new:
            _tmp(self.dest.root / rel).unlink(missing_ok=True)


class ParquetDestination(Destination):
    """``parquet:///dir`` (or a directory path)."""

    kind = "parquet"

    def __init__(self, root: str | Path, *, read_only: bool = False) -> None:
        self.root = Path(root)
        super().__init__(self.root, read_only=read_only)
        if not read_only:
            private_dir(self.root)  # events and state inside stay the owner's
            # closing the descriptor releases the lock
            self._hold(os.close, lock_file(self.root / LOCK_FILE, self.description))
        try:
            self.manifest = self._load()
            if not read_only:
                self.recover()
        except BaseException:
            self.close()
            raise

    def _load(self) -> Manifest:
        path = self.root / MANIFEST
        if not path.exists():
            return Manifest()
        return Manifest.model_validate_json(path.read_bytes())

    def _save(self, manifest: Manifest) -> None:
        path = self.root / MANIFEST
        tmp = path.with_name(f".{MANIFEST}.tmp")
        with os.fdopen(os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "wb") as fh:
            fh.write(orjson.dumps(manifest.model_dump(mode="json"), option=orjson.OPT_INDENT_2))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # make the rename durable where directories fsync
            fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def recover(self) -> None:
        """Finish an interrupted commit (rename committed temporaries) and delete files that
        no commit refers to."""
        for stream, files in self.manifest.files.items():
            live = set(files)
            for rel in files:
                final = self.root / rel
                if not final.exists() and _tmp(final).exists():
                    os.replace(_tmp(final), final)
            folder = self.root / stream
            if not folder.is_dir():
                continue
            for path in folder.rglob("*"):
                if not path.is_file():
                    continue
                name = path.name
                if name.endswith(".parquet.tmp") or (
                    name.endswith(".parquet")
                    and path.relative_to(self.root).as_posix() not in live
                ):
                    path.unlink()

    def read_state(self, stream: str) -> StreamState | None:
        return self.manifest.states.get(stream)

    def files(self, stream: str) -> list[Path]:
        """The live files of a stream (what a reader should read)."""
        return [self.root / rel for rel in self.manifest.files.get(stream, [])]

    def prepare(self, spec: TableSpec) -> None:
        if spec.name not in self.manifest.files:
            private_dir(self.root / spec.name)
            # streams without a commit yet: remove leftovers of a crashed first window
            for path in (self.root / spec.name).rglob("*.parquet*"):
                path.unlink()

    @contextmanager
    def transaction(self, spec: TableSpec, *, replace: bool = False) -> Iterator[Transaction]:
        live = [] if replace else self.manifest.files.get(spec.name, [])
        tx = _ParquetTransaction(self, spec, live)
        if replace:
            tx.removed.update(self.manifest.files.get(spec.name, []))
        try:
            yield tx
        except BaseException:
            tx.rollback()
            raise
        manifest = self.manifest.model_copy(deep=True)
        manifest.files[spec.name] = sorted(tx.live)
        if tx.state is not None:
            manifest.states[spec.name] = tx.state
        self._save(manifest)  # the commit point
        self.manifest = manifest
        for rel in tx.removed:
            (self.root / rel).unlink(missing_ok=True)
        for rel in tx.new:
            os.replace(_tmp(self.root / rel), self.root / rel)


__all__ = ["LOCK_FILE", "MANIFEST", "Manifest", "ParquetDestination"]
