"""Parquet: every stream lands exactly, partitioned by date; reruns rewrite instead of doubling;
an interrupted commit is finished or discarded when the directory is opened again."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.replicate.conftest import (
    EXPORT_END,
    duckdb_rows,
    expected,
    keyed,
    ok,
    parquet_rows,
    source_events,
    sync,
)

from ampkit.replicate.destinations import parquet as parquet_module
from ampkit.replicate.destinations.base import TableSpec
from ampkit.replicate.destinations.parquet import ParquetDestination
from ampkit.replicate.state import StreamState
from ampkit.replicate.streams import STREAMS as DECLARED
from ampkit.server import RunningServer

STREAMS = ["events", "active_users", "average_session_length", "session_length_distribution",
           "events_list", "taxonomy_event_properties", "annotations"]


def test_every_stream_lands_partitioned(seeded: RunningServer, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    result = ok(sync(seeded, f"parquet://{root}", streams=STREAMS))
    assert result.target == f"parquet parquet://{root}"
    src = source_events(seeded)
    assert keyed(parquet_rows(root, "events"), "events") == expected(src, "events")
    days = sorted(p.name for p in (root / "events").iterdir())
    assert days == [f"dt=2024-03-0{d}" for d in range(3, 8)]  # the seed's upload days
    assert sorted(p.name for p in (root / "active_users").iterdir())[0] == "dt=2024-03-01"
    assert list((root / "events_list").glob("part-*.parquet"))  # catalogs: not partitioned
    db = tmp_path / "same.duckdb"
    ok(sync(seeded, str(db), streams=STREAMS))
    for stream in STREAMS:
        assert keyed(parquet_rows(root, stream), stream) == keyed(duckdb_rows(db, stream),
                                                                   stream), stream
    state = ParquetDestination(root).read_state("events")
    assert state is not None and state.cursor == EXPORT_END

    again = ok(sync(seeded, str(root) + "/", streams=["events"], backfill="2024-03-01,2024-03-09"))
    assert again.streams[0].rows == len(src)
    assert keyed(parquet_rows(root, "events"), "events") == expected(src, "events")
    assert ParquetDestination(root).read_state("events").cursor == EXPORT_END  # type: ignore[union-attr]


SPEC = TableSpec(name="active_users", columns=DECLARED["active_users"].columns,
                 primary_key=("date", "segment"), partition_by="date")


def _table(day: str, values: list[float]) -> Any:
    import datetime as dt

    return pa.table({
        "date": pa.array([dt.date.fromisoformat(day)] * len(values)),
        "segment": pa.array([f"s{i}" for i in range(len(values))]),
        "value": pa.array(values, pa.float64()),
        "_raw_extra": pa.array([None] * len(values), pa.large_string()),
    })


def _write(dest: ParquetDestination, values: list[float], cursor: str, fail: bool = False
           ) -> None:
    with dest.transaction(SPEC) as tx:
        tx.write(_table("2024-03-01", values))
        if fail:
            raise RuntimeError("killed mid-window")
        tx.save_state(StreamState(cursor=cursor))


def _values(root: Path) -> list[tuple[str, float]]:
    return sorted((r["segment"], r["value"]) for r in parquet_rows(root, "active_users"))


def test_a_failed_window_leaves_nothing_and_strays_are_removed(tmp_path: Path) -> None:
    dest = ParquetDestination(tmp_path)
    dest.prepare(SPEC)
    with dest.transaction(SPEC) as tx:
        tx.write(_table("2024-03-01", [1.0, 2.0]))
        tx.save_state(StreamState(cursor="2024-03-01"))
    with pytest.raises(RuntimeError, match="killed"):
        _write(dest, [9.0, 9.0, 9.0], "2024-03-02", fail=True)
    assert _values(tmp_path) == [("s0", 1.0), ("s1", 2.0)]
    assert not list(tmp_path.rglob("*.tmp"))
    stray = tmp_path / "active_users" / "dt=2024-03-01" / "part-stray.parquet"
    pq.write_table(_table("2024-03-01", [5.0]), stray)  # e.g. left by a crashed older run
    dest.close()  # its lock goes with it, as with a process that dies
    assert ParquetDestination(tmp_path).read_state("active_users").cursor == "2024-03-01"  # type: ignore[union-attr]
    assert not stray.exists() and _values(tmp_path) == [("s0", 1.0), ("s1", 2.0)]


def test_a_crash_after_the_commit_point_is_finished_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = ParquetDestination(tmp_path)
    dest.prepare(SPEC)
    with dest.transaction(SPEC) as tx:
        tx.write(_table("2024-03-01", [1.0, 2.0]))
        tx.save_state(StreamState(cursor="2024-03-01"))
    real = os.replace
    calls: list[str] = []

    def dying_replace(src: Any, dst: Any) -> None:
        calls.append(str(dst))
        if str(dst).endswith(".parquet"):  # the manifest is saved; the process dies here
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(parquet_module.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        _write(dest, [7.0, 8.0, 9.0], "2024-03-02")  # s0, s1 replaced; s2 new
    monkeypatch.setattr(parquet_module.os, "replace", real)
    assert calls[0].endswith("_ampkit_state.json")  # the commit point came first
    dest.close()  # the OS drops a dead process's lock
    reopened = ParquetDestination(tmp_path)  # finishes the commit
    assert reopened.read_state("active_users").cursor == "2024-03-02"  # type: ignore[union-attr]
    assert _values(tmp_path) == [("s0", 7.0), ("s1", 8.0), ("s2", 9.0)]


def test_the_lake_is_its_owners_under_any_umask(seeded: RunningServer, tmp_path: Path) -> None:
    """Under umask 022 (the library, not the CLI, which sets 077) the data files were 0644 and
    the partition folders 0755: now 0600 and 0700, as the state file already was."""
    root = tmp_path / "lake"
    old = os.umask(0o022)
    try:
        ok(sync(seeded, f"parquet://{root}", streams=["events", "active_users"]))
    finally:
        os.umask(old)
    made = [p for p in root.rglob("*") if p != root]
    assert any(p.suffix == ".parquet" for p in made)
    for path in made:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
