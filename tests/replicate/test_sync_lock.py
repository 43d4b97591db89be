"""One writing sync per destination: a second one (a thread here or another process) gets
DestinationBusy naming the holder, before it reads or deletes anything; closing (or the
holder's death) frees the destination; dry runs take no lock."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.replicate.conftest import ok, options, sync

from ampkit.replicate import plan_sync
from ampkit.replicate.destinations import open_destination
from ampkit.replicate.destinations.base import DestinationBusy, DestinationError, TableSpec
from ampkit.replicate.destinations.parquet import LOCK_FILE, ParquetDestination
from ampkit.replicate.destinations.postgres import PostgresDestination, lock_key, split_schema
from ampkit.replicate.schema import Column
from ampkit.replicate.state import StreamState
from ampkit.server import RunningServer

SPEC = TableSpec(name="notes", columns=(Column(name="id", type="string"),
                                        Column(name="n", type="int")), primary_key=("id",))


@contextmanager
def held_elsewhere(target: str) -> Iterator[int]:
    """Another process holding ``target`` open for writing; yields its PID."""
    code = textwrap.dedent(f"""
        import os, sys
        from ampkit.replicate.destinations import open_destination
        dest = open_destination({target!r})
        print(os.getpid(), flush=True)
        sys.stdin.readline()  # hold it until the test closes our stdin
        dest.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()  # printed once the destination is held
        assert line.strip().isdigit(), line
        yield int(line)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0


def test_duckdb_second_writer_in_this_process_and_another(tmp_path: Path) -> None:
    target = str(tmp_path / "sync.duckdb")
    first = open_destination(target)
    with pytest.raises(DestinationBusy, match="another sync \\(in this process\\)"):
        open_destination(target)
    first.close()
    open_destination(target).close()  # free again
    with held_elsewhere(target) as pid:
        with pytest.raises(DestinationBusy, match=f"process {pid}\\)"):
            open_destination(target)
        with pytest.raises(DestinationBusy):  # a dry run reads the file: DuckDB refuses too
            plan_sync(options(target, streams=["events"]))
    open_destination(target).close()


def test_an_unclosed_duckdb_destination_frees_its_claim_when_collected(tmp_path: Path) -> None:
    target = str(tmp_path / "sync.duckdb")
    dest = open_destination(target)
    with pytest.raises(DestinationBusy):
        open_destination(target)
    del dest  # never closed: the claim goes with the object
    open_destination(target).close()


def _rows(n: int) -> pa.Table:
    return pa.table({"id": [f"k{i}" for i in range(n)], "n": list(range(n))})


def test_parquet_second_writer_cannot_discard_the_first_ones_window(tmp_path: Path) -> None:
    first = ParquetDestination(tmp_path)
    first.prepare(SPEC)
    with first.transaction(SPEC) as tx:
        tx.write(_rows(3))
        pending = sorted(tmp_path.rglob("*.tmp"))
        assert pending  # the window's files, not yet committed
        # before the lock, opening the directory 'recovered' it: deleted these files
        with pytest.raises(DestinationBusy, match=LOCK_FILE):
            ParquetDestination(tmp_path)
        assert sorted(tmp_path.rglob("*.tmp")) == pending
        reader = ParquetDestination(tmp_path, read_only=True)  # dry runs only read
        assert reader.read_state("notes") is None
        tx.save_state(StreamState(cursor="c1"))
    assert sum(pq.read_table(p).num_rows for p in first.files("notes")) == 3
    first.close()
    second = ParquetDestination(tmp_path)
    assert second.read_state("notes").cursor == "c1"  # type: ignore[union-attr]
    second.close()


def test_parquet_lock_is_held_across_processes_and_dies_with_its_holder(tmp_path: Path) -> None:
    target = f"parquet://{tmp_path}"
    with held_elsewhere(target):
        with pytest.raises(DestinationBusy, match="being written by another sync"):
            open_destination(target)
        planned = plan_sync(options(target, streams=["events"]))  # a dry run is not refused
        assert [p.stream for p in planned.plans] == ["events"]
    kill = textwrap.dedent(f"""
        import os
        from ampkit.replicate.destinations import open_destination
        open_destination({target!r})
        os._exit(3)  # dies holding the lock, without closing anything
    """)
    assert subprocess.run([sys.executable, "-c", kill], check=False).returncode == 3
    open_destination(target).close()  # the OS released it


def test_a_sync_into_a_held_destination_fails_before_fetching(
    seeded: RunningServer, tmp_path: Path
) -> None:
    target = str(tmp_path / "out")
    holder = ParquetDestination(tmp_path / "out")
    with pytest.raises(DestinationBusy):
        sync(seeded, target + "/", streams=["active_users"])
    assert [p.name for p in (tmp_path / "out").iterdir()] == [LOCK_FILE]  # nothing written
    holder.close()
    result = ok(sync(seeded, target + "/", streams=["active_users"]))
    assert result.streams[0].rows > 0


def test_postgres_second_writer_is_told_which_backend_holds_the_schema(pg_url: str) -> None:
    first = PostgresDestination(pg_url)
    pid = first.conn.info.backend_pid
    with pytest.raises(DestinationBusy, match=f"backend PID {pid} holds its lock"):
        PostgresDestination(pg_url)
    reader = PostgresDestination(pg_url, read_only=True)  # dry runs take no lock
    assert reader.read_state("events") is None
    reader.close()
    dsn, schema = split_schema(pg_url)
    other = PostgresDestination(f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}_b")
    other.close()  # another schema is another destination
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_b" CASCADE')
        row = conn.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                           "AND ((classid::bigint << 32) | objid::bigint) = %s",
                           [lock_key(schema)]).fetchone()
        assert row is not None and row[0] == pid  # the lock is the documented key
    first.close()
    PostgresDestination(pg_url).close()  # free again once the first closed


def test_postgres_sync_refused_while_another_holds_the_schema(
    seeded: RunningServer, pg_url: str
) -> None:
    with held_elsewhere(pg_url), pytest.raises(DestinationBusy, match="backend PID"):
        sync(seeded, pg_url, streams=["active_users"])
    assert ok(sync(seeded, pg_url, streams=["active_users"])).streams[0].rows > 0


def test_a_filesystem_without_locks_is_an_error_not_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    def no_locks(fd: int, op: int) -> None:  # e.g. an NFS mount without a lock daemon
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(DestinationError, match=r"cannot lock .*No locks available") as info:
        ParquetDestination(tmp_path)
    assert not isinstance(info.value, DestinationBusy)


def test_lock_key_is_stable_and_per_schema() -> None:
    assert lock_key("public") == lock_key("public")
    assert lock_key("public") != lock_key("public2")
    assert -(2**63) <= lock_key("x") < 2**63
