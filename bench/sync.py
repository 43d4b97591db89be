"""``ampkit sync`` benchmark (not in CI): 1,000,000 events from the local server into DuckDB
and into PostgreSQL, in events/s, against the floor measured in the same run — download +
unzip + gunzip + parse (orjson) of the same export windows, nothing else.  Then the number of
requests of a 365-day backfill of ``active_users`` against one request per day.

The events are generated straight into the server's DuckDB file with SQL (loading them through
HTTP would measure ingestion); the server runs as ``ampkit serve --db`` in another process.

    .venv/bin/python bench/sync.py [--events 1000000] [--pg postgresql://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import tempfile
import time
import zipfile
from pathlib import Path

import orjson
import psycopg
from benchlib import generate_events, h, serve

from ampkit.config import load_settings
from ampkit.core.transport import SyncTransport
from ampkit.export import export_archives
from ampkit.replicate import plan_sync, resolve, run_sync

KEY, SECRET, PROJECT = "bench-sync-key-01", "bench-sync-secret-01", 434343
USERS = 100_000
DAYS = 42
FIRST = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


EXPRESSIONS = {
    "seq": "i",
    "project_id": str(PROJECT),
    "uuid": "uuid()::VARCHAR",
    "insert_id": "'bench-' || i::VARCHAR",
    "amplitude_id": f"100000000001 + {h('i // 12', USERS)}",
    "user_id": f"'user-' || {h('i // 12', USERS)}::VARCHAR",
    "device_id": f"'device-' || {h('i // 12', USERS)}::VARCHAR",
    "event_type": f"['Open App', 'View Item', 'Search', 'Add to Cart', 'Purchase'][1 + "
                  f"{h('i', 5)}]",
    "event_time": f"TIMESTAMP '2024-01-01' + to_seconds({h('i * 7', DAYS * 86400)})",
    "session_id": f"1704067200000 + {h('i // 6', DAYS * 86400)} * 1000",
    "platform": f"['iOS', 'Android', 'Web'][1 + {h('i // 12', 3)}]",
    "os_name": "'ios'",
    "country": f"['United States', 'France', 'Japan'][1 + {h('i // 12 + 1', 3)}]",
    "city": "'Paris'",
    "language": "'English'",
    "library": "'bench/1.0'",
    "event_properties": f"'{{\"item\":\"item-' || {h('i', 50)}::VARCHAR || '\",\"n\":' || "
                        f"{h('i', 1000)}::VARCHAR || '}}'",
    "user_properties": f"'{{\"plan\":\"' || ['free', 'pro'][1 + {h('i // 12', 2)}] || '\"}}'",
    "group_properties": "'{}'",
    "groups": "'{}'",
    "data": "'{\"path\":\"/batch\"}'",
    "plan": "'{}'",
}


def floor(url: str, start: dt.datetime, end: dt.datetime, window_hours: int) -> tuple[int, float]:
    """Download the same windows, unzip, gunzip and parse every line — nothing else."""
    transport = SyncTransport(load_settings(api_key=KEY, secret_key=SECRET, base_url=url))
    n = 0
    t0 = time.perf_counter()
    first = start
    while first <= end:
        last = min(end, first + dt.timedelta(hours=window_hours - 1))
        for _, path in export_archives(transport, first, last):
            with zipfile.ZipFile(path) as zf:
                for name in sorted(zf.namelist()):
                    with zf.open(name) as raw, gzip.open(raw) as fh:
                        for line in fh:
                            if line.strip():
                                orjson.loads(line)
                                n += 1
        first = last + dt.timedelta(hours=1)
    transport.close()
    return n, time.perf_counter() - t0


def timed_sync(url: str, target: str, backfill: str) -> tuple[int, float, int]:
    os.environ.update(AMPLITUDE_API_KEY=KEY, AMPLITUDE_SECRET_KEY=SECRET, AMPLITUDE_BASE_URL=url)
    options = resolve(streams=["events"], backfill=backfill, target=target)
    t0 = time.perf_counter()
    result = run_sync(options)
    seconds = time.perf_counter() - t0
    (stream,) = result.streams
    if stream.status != "ok":
        raise SystemExit(f"sync into {result.target} failed: {stream.error}")
    return stream.rows, seconds, stream.requests


def line(label: str, n: int, seconds: float, floor_rate: float | None = None) -> str:
    rate = n / seconds
    tail = f"  ({rate / floor_rate:.0%} of the floor)" if floor_rate else ""
    return f"{label:<44} {n:>9,} events in {seconds:6.1f} s = {rate:>9,.0f} events/s{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir())
                        / "ampkit-bench-sync-server.duckdb")
    parser.add_argument("--pg", default=os.environ.get(
        "AMPKIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--window-hours", type=int, default=24)
    args = parser.parse_args()
    generate_events(args.db, args.events, EXPRESSIONS)
    work = Path(tempfile.mkdtemp(prefix="ampkit-bench-sync-"))
    start, end = FIRST, FIRST + dt.timedelta(days=DAYS) - dt.timedelta(hours=1)
    backfill = f"{start:%Y-%m-%d},{end:%Y-%m-%d}"
    schema = f"ampkit_bench_{os.getpid()}"
    try:
        with serve("--db", str(args.db), "--api-key", KEY, "--secret-key", SECRET,
                   "--project-id", str(PROJECT)) as url:
            report(args, url, work, start, end, backfill, schema)
    finally:
        try:
            with psycopg.connect(args.pg, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        except psycopg.Error:
            pass


def report(args: argparse.Namespace, url: str, work: Path, start: dt.datetime,
           end: dt.datetime, backfill: str, schema: str) -> None:
    print(f"{args.events:,} events, {DAYS} days of upload hours, "
          f"{args.window_hours}-hour export windows, server: ampkit serve --db (subprocess)")
    n, seconds = floor(url, start, end, args.window_hours)
    floor_rate = n / seconds
    print(line("floor: download + unzip + gunzip + parse", n, seconds))
    rows, seconds, requests = timed_sync(url, str(work / "bench.duckdb"), backfill)
    print(line("ampkit sync → DuckDB", rows, seconds, floor_rate))
    try:
        with psycopg.connect(args.pg, connect_timeout=5):
            pass
    except psycopg.Error as exc:
        print(f"ampkit sync → PostgreSQL: skipped (no PostgreSQL at {args.pg}: "
              f"{str(exc).strip().splitlines()[0]})")
    else:
        sep = "&" if "?" in args.pg else "?"
        rows, seconds, _ = timed_sync(url, f"{args.pg}{sep}schema={schema}", backfill)
        print(line("ampkit sync → PostgreSQL (COPY + upsert)", rows, seconds, floor_rate))
    print(f"export requests: {requests} (one per {args.window_hours}-hour window)")

    year = "2024-01-01,2024-12-30"
    options = resolve(streams=["active_users"], backfill=year,
                      target=str(work / "plan.duckdb"), now=dt.datetime(2025, 1, 2))
    (plan,) = plan_sync(options).plans
    os.environ.update(AMPLITUDE_API_KEY=KEY, AMPLITUDE_SECRET_KEY=SECRET,
                      AMPLITUDE_BASE_URL=url)
    ran = run_sync(resolve(streams=["active_users"], backfill=year,
                           target=str(work / "year.duckdb"))).streams[0]
    print(f"active_users 365-day backfill: planned {plan.requests} request(s) "
          f"(cost {plan.cost}), sent {ran.requests}, {ran.rows} rows "
          f"— one request per day would send {plan.units}")


if __name__ == "__main__":
    main()
