"""Sync tests: a real ``ampkit serve`` seeded with known data, real destinations.

Upload times are moved into the past (the server stamps ``server_upload_time`` = now on
ingestion) so that the Export API sees events spread over known hours; the sync runs with a
fixed clock (:data:`NOW`), so every window and cursor is known in advance.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import httpx
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg.rows import dict_row

from ampkit.config import Settings, load_settings
from ampkit.core.policy import RetryPolicy
from ampkit.core.transport import tls
from ampkit.replicate import STREAMS, Column, SyncOptions, SyncResult, resolve, run_sync
from ampkit.replicate.destinations.postgres import split_schema
from ampkit.replicate.schema import convert
from ampkit.seed import SeedSpec, generate
from ampkit.server import ExportConfig, ProjectConfig, RunningServer, ServerConfig, serve_in_thread

KEY, SECRET = "sync-key-000001", "sync-secret-000001"
PROJECT = 7
NOW = dt.datetime(2024, 3, 10, 12, 30, tzinfo=dt.UTC)
"""The sync's clock: export windows end at 2024-03-10T09 (12 − 1 − 2), metrics at 03-09."""
EXPORT_END = "2024-03-10T09"
SEED = SeedSpec(users=30, days=5, end=dt.date(2024, 3, 7), seed=11)
ANCHOR = dt.date(2024, 3, 1)
PG_URL = os.environ.get("AMPKIT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def server_config(**overrides: Any) -> ServerConfig:
    base: dict[str, Any] = {"port": 0, "throttle_enabled": False, "projects": [
        ProjectConfig(project_id=PROJECT, api_key=KEY, secret_key=SECRET)]}
    base.update(overrides)
    return ServerConfig(**base)


def http(srv: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=srv.url, auth=(KEY, SECRET), timeout=60, verify=tls())


def send(srv: RunningServer, events: list[dict[str, Any]]) -> None:
    with httpx.Client(base_url=srv.url, timeout=60, verify=tls()) as client:
        for i in range(0, len(events), 1000):
            r = client.post("/batch", json={"api_key": KEY, "events": events[i:i + 1000]})
            assert r.status_code == 200, r.text


def upload_at_event_time(srv: RunningServer) -> None:
    """Every stored event's upload time := its event time + 3 s (as if sent live)."""
    with srv.store.transaction() as con:
        con.execute("UPDATE events SET server_upload_time = event_time + INTERVAL 3 SECOND, "
                    "server_received_time = event_time + INTERVAL 3 SECOND")


def upload_at(srv: RunningServer, insert_ids: list[str], when: dt.datetime) -> None:
    """Move the upload time of some events (by insert_id) to ``when`` (UTC)."""
    naive = when.astimezone(dt.UTC).replace(tzinfo=None)
    with srv.store.transaction() as con:
        con.execute("UPDATE events SET server_upload_time = ? WHERE insert_id IN "
                    "(SELECT unnest(?::VARCHAR[]))", [naive, insert_ids])


def upload_each(srv: RunningServer, when: Mapping[str, dt.datetime]) -> None:
    """Move the upload time of each event (by insert_id) to its own time (UTC), in one UPDATE:
    the same rows as an :func:`upload_at` per event."""
    ids = list(when)
    times = [t.astimezone(dt.UTC).replace(tzinfo=None) for t in when.values()]
    with srv.store.transaction() as con:
        con.execute("UPDATE events SET server_upload_time = m.t FROM (SELECT unnest(?::VARCHAR[]) "
                    "AS id, unnest(?::TIMESTAMP[]) AS t) AS m WHERE events.insert_id = m.id",
                    [ids, times])


def seed(srv: RunningServer, spec: SeedSpec = SEED) -> int:
    events = list(generate(spec))
    send(srv, events)
    upload_at_event_time(srv)
    return len(events)


def source_events(srv: RunningServer) -> list[dict[str, Any]]:
    """Every stored event as the Export API writes it."""
    return srv.store.events_page(PROJECT, 1_000_000, 0)


def settings(srv: RunningServer) -> Settings:
    return load_settings(api_key=KEY, secret_key=SECRET, base_url=srv.url)


def options(target: str, **kw: Any) -> SyncOptions:
    kw.setdefault("now", NOW)
    kw.setdefault("anchor_date", ANCHOR)
    return resolve(kw.pop("config", None), target=target, **kw)


def sync(srv: RunningServer, target: str, **kw: Any) -> SyncResult:
    return run_sync(options(target, **kw), settings=settings(srv), retry=RetryPolicy.no_wait())


def ok(result: SyncResult) -> SyncResult:
    assert result.ok, [s.error for s in result.failures()]
    return result


@pytest.fixture(scope="module")
def seeded() -> Iterator[RunningServer]:
    """A server holding the seed data (read-only for the tests that use it)."""
    srv = serve_in_thread(server_config(export=ExportConfig(partition_events=50)))
    seed(srv)
    yield srv
    srv.stop()


@pytest.fixture
def fresh() -> Iterator[RunningServer]:
    """An empty server a test may change."""
    srv = serve_in_thread(server_config())
    yield srv
    srv.stop()


@pytest.fixture
def wide_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ampkit``'s consoles 200 columns wide, as ``COLUMNS=200`` makes them in a fresh
    ``ampkit`` process.  Run in-process (``tests.invoke``), they keep the width this process
    had when it imported them (pytest-xdist's workers here run with ``COLUMNS=80``), and a
    table 80 columns wide wraps the words the tests look for."""
    from ampkit.cli.app import console, err_console

    for shown in (console, err_console):
        monkeypatch.setattr(shown, "_width", 200)  # what Console() reads from COLUMNS


def pg_reachable() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL with a fresh schema (dropped afterwards)."""
    problem = pg_reachable()
    if problem is not None:
        pytest.skip(f"no PostgreSQL at {PG_URL} ({problem}); set AMPKIT_TEST_PG")
    schema = f"ampkit_test_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}schema={schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# --- reading destinations back, normalised for comparison -----------------------------------


def _norm(column: Column, value: Any, decoded: bool = False) -> Any:
    if value is None:
        return None
    if column.type == "json":
        return json.loads(value) if isinstance(value, str) and not decoded else value
    if column.type == "timestamp":
        return value.astimezone(dt.UTC)
    return value


def expected(records: list[dict[str, Any]], stream: str) -> dict[Any, dict[str, Any]]:
    """Source records as destination rows (typed like the stream's schema), by primary key."""
    definition = STREAMS[stream]
    out: dict[Any, dict[str, Any]] = {}
    known = {c.key for c in definition.columns}
    for record in records:
        row: dict[str, Any] = {}
        extra = {k: v for k, v in record.items() if k not in known}
        for column in definition.columns:
            if column.name == "_raw_extra":
                row[column.name] = extra or None
                continue
            value, fits = convert(column.type, record.get(column.key))
            row[column.name] = _norm(column, value)
            if not fits:
                extra[column.key] = record.get(column.key)
        out[tuple(row[k] for k in definition.primary_key)] = row
    return out


def keyed(rows: list[dict[str, Any]], stream: str, *, decoded: bool = False
          ) -> dict[Any, dict[str, Any]]:
    """Rows by primary key (each key once); ``decoded``: JSON columns arrive as objects
    (PostgreSQL's jsonb), not as text."""
    definition = STREAMS[stream]
    out: dict[Any, dict[str, Any]] = {}
    for row in rows:
        clean = {c.name: _norm(c, row.get(c.name), decoded) for c in definition.columns}
        key = tuple(clean[k] for k in definition.primary_key)
        assert key not in out, f"{stream}: key {key} twice"
        out[key] = clean
    return out


def duckdb_rows(path: Path, table: str) -> list[dict[str, Any]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        table_data = con.sql(f'SELECT * FROM "{table}"').to_arrow_table()
        rows: list[dict[str, Any]] = table_data.to_pylist()
        return rows
    finally:
        con.close()


def duckdb_state(path: Path, stream: str) -> dict[str, Any] | None:
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute("SELECT state FROM _ampkit_state WHERE stream = ?", [stream]).fetchone()
        return json.loads(row[0]) if row else None
    finally:
        con.close()


def pg_rows(url: str, table: str) -> list[dict[str, Any]]:
    dsn, schema = split_schema(url)
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        return list(conn.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall())


def pg_state(url: str, stream: str) -> dict[str, Any] | None:
    dsn, schema = split_schema(url)
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f'SELECT state FROM "{schema}"._ampkit_state WHERE stream = %s',
                           [stream]).fetchone()
        return dict(row[0]) if row else None


def parquet_rows(root: Path, stream: str) -> list[dict[str, Any]]:
    files = sorted((root / stream).rglob("*.parquet"))
    if not files:
        return []
    tables = [pq.read_table(f) for f in files]
    return pa.concat_tables(tables, promote_options="default").to_pylist()
