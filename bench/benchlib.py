"""What the benchmarks share: a free port, ``ampkit serve`` in a subprocess, and synthetic
events generated straight into the server's DuckDB file with SQL.

The scripts run as ``python bench/<name>.py``, so this module is imported as ``benchlib``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
import httpx

from ampkit.server.schema import DDL, EVENT_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
TIMESTAMP_ALIASES = ("client_event_time", "client_upload_time", "server_received_time",
                     "server_upload_time", "processed_time")


def h(expr: str, n: int) -> str:
    """A deterministic pseudo-random integer in [0, n) from a row expression."""
    return f"(hash({expr}) % {n})::BIGINT"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def generate_events(db: Path, events: int, expressions: Mapping[str, str]) -> None:
    """``events`` rows into ``db``'s events table, one SQL expression of ``i`` per column
    (missing columns NULL; the timestamps besides ``event_time`` copy it).  A file already
    holding exactly ``events`` rows is reused."""
    columns = {name: f"({expressions['event_time']})" for name in TIMESTAMP_ALIASES}
    columns.update(expressions)
    con = duckdb.connect(str(db))
    try:
        for ddl in DDL:
            con.execute(ddl)
        have = con.execute("SELECT count(*) FROM events").fetchone()
        if have and have[0] == events:
            print(f"reusing {db} ({events:,} events)")
            return
        con.execute("DELETE FROM events")
        select = ", ".join(columns.get(name, "NULL") for name, _, _ in EVENT_COLUMNS)
        t0 = time.perf_counter()
        con.execute(f"INSERT INTO events SELECT {select} FROM range({events}) t(i)")
        con.execute("CHECKPOINT")
        print(f"generated {events:,} events into {db} in {time.perf_counter() - t0:.1f} s")
    finally:
        con.close()


@contextmanager
def serve(*args: str, startup_timeout: float = 120) -> Iterator[str]:
    """``ampkit serve --port P *args`` in a subprocess; yields its URL once ``/health``
    answers, and stops it afterwards."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ampkit", "serve", "--port", str(port), *args],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ampkit serve did not start on {url}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(30)
