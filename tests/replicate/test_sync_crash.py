"""Crash safety, as a user meets it: ``ampkit sync`` killed with SIGKILL in the middle of the
events stream, then run again → the destination holds exactly the source rows (none missing,
none twice) — also while the server fails 20% of the export requests."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
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
    upload_at,
)

from ampkit.replicate.destinations.parquet import ParquetDestination
from ampkit.server import FaultConfig, RunningServer, serve_in_thread

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
    for h in HOURS:
        upload_at(srv, [f"k{h}-{i}" for i in range(PER_HOUR)],
                  now - dt.timedelta(hours=h) + dt.timedelta(minutes=h))
    yield srv
    srv.stop()


def _config(tmp_path: Path, target: str) -> Path:
    anchor = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=48)).date()
    path = tmp_path / "replication.yaml"
    path.write_text(f"target: '{target}'\ndefaults: {{anchor_date: {anchor}}}\n"
                    "streams:\n  events: {window_hours: 1}\n")
    return path


def _env(srv: RunningServer) -> dict[str, str]:
    return {**os.environ, "AMPLITUDE_API_KEY": KEY, "AMPLITUDE_SECRET_KEY": SECRET,
            "AMPLITUDE_BASE_URL": srv.url, "COLUMNS": "200"}


def _kill_after(srv: RunningServer, config: Path, windows: int) -> str:
    """Run ``ampkit sync`` and SIGKILL it right after its N-th window with rows committed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ampkit", "sync", "--config", str(config), "-v"],
        env=_env(srv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
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
    done = subprocess.run([sys.executable, "-m", "ampkit", "sync", "--config", str(config)],
                          env=_env(srv), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "events" in done.stdout and "ok" in done.stdout


def _check(
    srv: RunningServer, config: Path, rows: Any, cursor: Any, faults: bool,
    decoded: bool = False,
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
        _finish(srv, config)
    finally:
        srv.set_faults(FaultConfig())
    if faults:
        assert srv.store.counters["faults_injected"] - before >= 3
    final = rows()
    assert len(final) == total
    assert keyed(final, "events", decoded=decoded) == expected(source_events(srv), "events")
    assert cursor() > stopped_at


@pytest.mark.parametrize("faults", [False, True], ids=["clean", "20pct-faults"])
def test_sigkill_then_rerun_duckdb(
    hourly: RunningServer, tmp_path: Path, faults: bool
) -> None:
    db = tmp_path / "crash.duckdb"
    config = _config(tmp_path, str(db))
    _check(hourly, config, lambda: duckdb_rows(db, "events"),
           lambda: duckdb_state(db, "events")["cursor"], faults)  # type: ignore[index]


def test_sigkill_then_rerun_postgres(hourly: RunningServer, tmp_path: Path, pg_url: str) -> None:
    config = _config(tmp_path, pg_url)
    _check(hourly, config, lambda: pg_rows(pg_url, "events"),
           lambda: pg_state(pg_url, "events")["cursor"], True, decoded=True)  # type: ignore[index]


def test_sigkill_then_rerun_parquet(hourly: RunningServer, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    config = _config(tmp_path, f"parquet://{root}")

    def cursor() -> str | None:
        state = ParquetDestination(root, read_only=True).read_state("events")
        return state.cursor if state else None

    _check(hourly, config, lambda: parquet_rows(root, "events"), cursor, False)
