"""Every stream into a real PostgreSQL (COPY + ON CONFLICT), exactly; reruns and overlaps
upsert; new columns are added and columns the destination has are kept."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from tests.replicate.conftest import (
    EXPORT_END,
    duckdb_rows,
    expected,
    keyed,
    ok,
    pg_rows,
    pg_state,
    source_events,
    sync,
)

from ampkit.errors import ConfigError
from ampkit.replicate.destinations.postgres import split_schema
from ampkit.server import RunningServer

STREAMS = ["events", "active_users", "new_users", "average_session_length", "sessions_per_user",
           "session_length_distribution", "events_list", "taxonomy_event_types",
           "taxonomy_event_properties", "taxonomy_user_properties", "cohorts", "annotations"]


def test_every_stream_lands_exactly(seeded: RunningServer, pg_url: str, tmp_path: Path) -> None:
    result = ok(sync(seeded, pg_url, streams=STREAMS))
    assert "***" not in result.target and "postgres" in result.target
    src = source_events(seeded)
    assert keyed(pg_rows(pg_url, "events"), "events", decoded=True) == expected(src, "events")
    db = tmp_path / "same.duckdb"  # DuckDB is checked against the source in other tests
    ok(sync(seeded, str(db), streams=STREAMS))
    for stream in STREAMS:
        got = keyed(pg_rows(pg_url, stream), stream, decoded=True)
        assert got == keyed(duckdb_rows(db, stream), stream), stream
    assert {s.stream: s.rows for s in result.streams}["events"] == len(src)
    assert pg_state(pg_url, "events")["cursor"] == EXPORT_END

    again = ok(sync(seeded, pg_url, streams=["events", "active_users"],
                    backfill="2024-03-01,2024-03-09"))
    assert [s.rows for s in again.streams] == [len(src), 9]
    no_doubles = keyed(pg_rows(pg_url, "events"), "events", decoded=True)
    assert no_doubles == expected(src, "events")
    assert len(pg_rows(pg_url, "active_users")) == 9
    assert pg_state(pg_url, "events")["cursor"] == EXPORT_END


def test_new_columns_are_added_and_none_dropped(seeded: RunningServer, pg_url: str) -> None:
    dsn, schema = split_schema(pg_url)
    with psycopg.connect(dsn, autocommit=True) as conn:  # an older table with a column of ours
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".events (uuid text, event_type text, '
                     "my_note text)")
        conn.execute(f"INSERT INTO \"{schema}\".events VALUES ('kept-1', 'Old', 'hello')")
    ok(sync(seeded, pg_url, streams=["events"]))
    rows = pg_rows(pg_url, "events")
    assert len(rows) == len(source_events(seeded)) + 1
    kept = next(r for r in rows if r["uuid"] == "kept-1")
    assert kept["my_note"] == "hello" and kept["event_properties"] is None
    with psycopg.connect(dsn) as conn:
        cols = {r[0]: r[1] for r in conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'events'", [schema])}
    assert cols["my_note"] == "text" and cols["event_properties"] == "jsonb"
    assert cols["server_upload_time"] == "timestamp with time zone"
    assert cols["_raw_extra"] == "jsonb" and len(cols) == 58


def test_unreachable_postgres_is_one_clear_error(seeded: RunningServer) -> None:
    with pytest.raises(ConfigError) as info:
        sync(seeded, "postgresql://me:topsecret@127.0.0.1:1/db", streams=["cohorts"])
    assert "cannot connect to postgresql://me:***@127.0.0.1:1/db" in str(info.value)
    assert "topsecret" not in str(info.value)
