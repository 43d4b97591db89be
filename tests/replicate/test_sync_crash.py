"""Crash safety, as a user meets it: ``ampkit sync`` killed with SIGKILL in the middle of the
events stream, then run again → the destination holds exactly the source rows (none missing,
none twice) — also while the server fails 20% of the export requests.

The killed run is a real ``python -m ampkit sync`` process; the run after it needs no process of
its own (it only has to find what the killed one left), so it is the same command in-process."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.invoke import invoke
from tests.replicate.conftest import (
    KEY,
    SECRET,
    duckdb_rows,
    duckdb_state,
    expected,
    keyed,
    parquet_rows,
    pg_rows,
    pg_state,
    send,
    server_config,
    source_events,
    upload_each,
)

from ampkit.replicate.destinations.parquet import ParquetDestination
from ampkit.replicate.destinations.postgres import lock_key, split_schema
from ampkit.server import FaultConfig, RunningServer, serve_in_thread

pytestmark = pytest.mark.usefixtures("wide_cli")  # the rerun's summary, as COLUMNS=200 prints it

HOURS = range(4, 40)  # events uploaded 4..39 hours before now
PER_HOUR = 15
FAULTS = FaultConfig(rates={"429": 0.05, "500": 0.05, "503": 0.05, "reset": 0.05}, seed=5,
                     paths=["/api/2/export"])


@pytest.fixture(scope="module")
def hourly() -> Iterator[RunningServer]:
    srv = serve_in_thread(server_config())
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    events = [{"event_type": f"e{i % 4}", "user_id": f"user-{h:03d}-{i:03d}",
               "insert_id": f"k{h}-{i}", "event_properties": {"h": h, "i": i}}
              for h in HOURS for i in range(PER_HOUR)]
    send(srv, events)
    upload_each(srv, {f"k{h}-{i}": now - dt.timedelta(hours=h) + dt.timedelta(minutes=h)
                      for h in HOURS for i in range(PER_HOUR)})
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def want(hourly: RunningServer) -> dict[Any, dict[str, Any]]:
    """The source rows as destination rows, by uuid (the server's data does not change)."""
    return expected(source_events(hourly), "events")


def _config(tmp_path: Path, target: str) -> Path:
    anchor = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=48)).date()
    path = tmp_path / "replication.yaml"
    path.write_text(f"target: '{target}'\ndefaults: {{anchor_date: {anchor}}}\n"
                    "streams:\n  events: {window_hours: 1}\n")
    return path


def _credentials(srv: RunningServer) -> dict[str, str]:
    return {"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_SECRET_KEY": SECRET,
            "AMPLITUDE_BASE_URL": srv.url, "COLUMNS": "200"}


def _kill_after(srv: RunningServer, config: Path, windows: int) -> str:
    """Run ``ampkit sync`` and SIGKILL it right after its N-th window with rows committed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ampkit", "sync", "--config", str(config), "-v"],
        env={**os.environ, **_credentials(srv)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("committed events") and ": 0 rows" not in line:
            windows -= 1
            if windows == 0:
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    return "".join(seen)


def _finish(srv: RunningServer, config: Path) -> None:
    done = invoke("sync", "--config", str(config), env=_credentials(srv))
    assert done.returncode == 0, done.stderr
    assert "events" in done.stdout and "ok" in done.stdout


def _pg_released(url: str) -> None:
    """Wait (blocked in PostgreSQL, no polling) until no session holds the sync's advisory lock
    on the schema: the killed process's backend lets go of it once it sees the connection drop.
    A fresh process started about a second later; in-process, the rerun would race it."""
    dsn, schema = split_schema(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '60s'")
        conn.execute("SELECT pg_advisory_lock(%s)", [lock_key(schema)])
        conn.execute("SELECT pg_advisory_unlock(%s)", [lock_key(schema)])


def _check(
    srv: RunningServer, want: dict[Any, dict[str, Any]], config: Path, rows: Any, cursor: Any,
    faults: bool, decoded: bool = False, settle: Callable[[], None] = lambda: None,
) -> None:
    total = len(HOURS) * PER_HOUR
    if faults:
        srv.set_faults(FAULTS)
    before = srv.store.counters["faults_injected"]
    try:
        _kill_after(srv, config, 4)
        partial = rows()
        assert 0 < len(partial) < total  # killed in the middle of the stream
        assert len({r["uuid"] for r in partial}) == len(partial)
        stopped_at = cursor()
        settle()
        _finish(srv, config)
    finally:
        srv.set_faults(FaultConfig())
    if faults:
        assert srv.store.counters["faults_injected"] - before >= 3
    final = rows()
    assert len(final) == total
    assert keyed(final, "events", decoded=decoded) == want
    assert cursor() > stopped_at


@pytest.mark.parametrize("faults", [False, True], ids=["clean", "20pct-faults"])
def test_sigkill_then_rerun_duckdb(
    hourly: RunningServer, want: dict[Any, dict[str, Any]], tmp_path: Path, faults: bool
) -> None:
    db = tmp_path / "crash.duckdb"
    config = _config(tmp_path, str(db))
    _check(hourly, want, config, lambda: duckdb_rows(db, "events"),
           lambda: duckdb_state(db, "events")["cursor"], faults)  # type: ignore[index]


def test_sigkill_then_rerun_postgres(hourly: RunningServer, want: dict[Any, dict[str, Any]],
                                     tmp_path: Path, pg_url: str) -> None:
    config = _config(tmp_path, pg_url)
    _check(hourly, want, config, lambda: pg_rows(pg_url, "events"),
           lambda: pg_state(pg_url, "events")["cursor"], True, decoded=True,  # type: ignore[index]
           settle=lambda: _pg_released(pg_url))


def test_sigkill_then_rerun_parquet(hourly: RunningServer, want: dict[Any, dict[str, Any]],
                                    tmp_path: Path) -> None:
    root = tmp_path / "lake"
    config = _config(tmp_path, f"parquet://{root}")

    def cursor() -> str | None:
        state = ParquetDestination(root, read_only=True).read_state("events")
        return state.cursor if state else None

    _check(hourly, want, config, lambda: parquet_rows(root, "events"), cursor, False)
