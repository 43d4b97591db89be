"""Issue 13 §7: files that hold event data are readable by their owner only — the durable
queue, a sync's DuckDB file and its WAL, a Parquet folder and its state file.  (What a command
writes, under its umask 077: ``tests/cli/test_cli_commands.py``.)"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from tests.replicate.test_sync_parquet import SPEC, _table

from ampkit.ingest.queue import DurableQueue
from ampkit.replicate.destinations.duckdb import DuckDBDestination
from ampkit.replicate.destinations.parquet import ParquetDestination
from ampkit.replicate.state import StreamState


@pytest.fixture(autouse=True)
def _open_umask() -> object:
    """A permissive umask, as on many shared machines: the code must not rely on the caller's."""
    old = os.umask(0o022)
    yield None
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_durable_queue_is_private(tmp_path: Path) -> None:
    folder = tmp_path / "queue"
    q = DurableQueue(folder)
    q.put([b'{"event_type":"x","user_id":"user-00001"}'])
    assert mode(folder) == 0o700
    files = list(folder.iterdir())
    assert files and all(mode(f) & 0o077 == 0 for f in files), [(f, oct(mode(f))) for f in files]
    q.close()


def test_a_sync_duckdb_file_and_its_wal_are_private(tmp_path: Path) -> None:
    db = tmp_path / "amplitude.duckdb"
    dest = DuckDBDestination(db)
    dest.prepare(SPEC)
    with dest.transaction(SPEC) as tx:
        tx.write(_table("2024-03-01", [1.0]))
        tx.save_state(StreamState(cursor="2024-03-01"))
    for path in (db, db.with_name(db.name + ".wal")):
        if path.exists():
            assert mode(path) == 0o600, path
    dest.close()
    assert mode(db) == 0o600


def test_a_parquet_folder_and_its_state_are_private(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    dest = ParquetDestination(root)
    dest.prepare(SPEC)
    with dest.transaction(SPEC) as tx:
        tx.write(_table("2024-03-01", [1.0]))
        tx.save_state(StreamState(cursor="2024-03-01"))
    dest.close()
    assert mode(root) == 0o700
    assert mode(root / "_ampkit_state.json") == 0o600
