"""``ampkit sync`` benchmark (not in CI): 1,000,000 events from the local server into DuckDB,
PostgreSQL and dlt destinations (dlt's DuckDB, its filesystem destination as Parquet files and
as a Delta table), in events/s, against the floor measured in the same run — download + unzip
+ gunzip + parse (orjson) of the same export windows, nothing else — and each dlt target
against ampkit's own DuckDB target.  Then the number of requests of a 365-day backfill of
``active_users`` against one request per day.

``--limits``: what one machine extracts per hour within Amplitude's limits — the DuckDB sync
again against a server whose export size cap (Amplitude: 4 GB a request) is scaled down to a
third of the largest day, so that every 24-hour window is refused and split as a project with
days over 4 GB would be, with the Dashboard limits and the throttles on; events/s × 3,600.

The events are generated straight into the server's DuckDB file with SQL (loading them through
HTTP would measure ingestion); the server runs as ``ampkit serve --db`` in another process.

    .venv/bin/python bench/sync.py [--events 1000000] [--pg postgresql://postgres@127.0.0.1/test]
        [--targets duckdb,postgres,dlt-duckdb,dlt-parquet,dlt-delta] [--limits]
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
from ampkit.replicate.report import StreamResult

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


def floor(url: str, start: dt.datetime, end: dt.datetime, window_hours: int
          ) -> tuple[int, float, int]:
    """Download the same windows, unzip, gunzip and parse every line — nothing else.  Also
    returns the uncompressed bytes of the largest window (what Amplitude's 4 GB cap counts)."""
    transport = SyncTransport(load_settings(api_key=KEY, secret_key=SECRET, base_url=url))
    n = 0
    largest = 0
    t0 = time.perf_counter()
    first = start
    while first <= end:
        last = min(end, first + dt.timedelta(hours=window_hours - 1))
        size = 0
        for _, path in export_archives(transport, first, last):
            with zipfile.ZipFile(path) as zf:
                for name in sorted(zf.namelist()):
                    with zf.open(name) as raw, gzip.open(raw) as fh:
                        for line in fh:
                            size += len(line)
                            if line.strip():
                                orjson.loads(line)
                                n += 1
        largest = max(largest, size)
        first = last + dt.timedelta(hours=1)
    transport.close()
    return n, time.perf_counter() - t0, largest


def timed_sync(url: str, target: str, backfill: str) -> tuple[int, float, int]:
    rows, seconds, stream = sync_once(url, target, backfill)
    return rows, seconds, stream.requests


def sync_once(url: str, target: str, backfill: str) -> tuple[int, float, StreamResult]:
    os.environ.update(AMPLITUDE_API_KEY=KEY, AMPLITUDE_SECRET_KEY=SECRET, AMPLITUDE_BASE_URL=url)
    options = resolve(streams=["events"], backfill=backfill, target=target)
    t0 = time.perf_counter()
    result = run_sync(options)
    seconds = time.perf_counter() - t0
    (stream,) = result.streams
    if stream.status != "ok":
        raise SystemExit(f"sync into {result.target} failed: {stream.error}")
    return stream.rows, seconds, stream


def line(label: str, n: int, seconds: float, floor_rate: float | None = None,
         peer: tuple[str, float] | None = None) -> str:
    rate = n / seconds
    tail = f"  ({rate / floor_rate:.0%} of the floor)" if floor_rate else ""
    if peer:
        tail += f"  {rate / peer[1]:.2f}x {peer[0]}"
    return f"{label:<44} {n:>9,} events in {seconds:6.1f} s = {rate:>9,.0f} events/s{tail}"


TARGETS = ("duckdb", "postgres", "dlt-duckdb", "dlt-parquet", "dlt-delta")
DLT_TARGETS = {
    "dlt-duckdb": ("ampkit sync → dlt:duckdb", "dlt:duckdb?pipeline=bench_dlt_duckdb"),
    "dlt-parquet": ("ampkit sync → dlt:filesystem (Parquet files)",
                    "dlt:filesystem?bucket_url={lake}/parquet&pipeline=bench_dlt_parquet"),
    "dlt-delta": ("ampkit sync → dlt:filesystem (Delta, merge)",
                  "dlt:filesystem?bucket_url={lake}/delta&table_format=delta"
                  "&pipeline=bench_dlt_delta"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir())
                        / "ampkit-bench-sync-server.duckdb")
    parser.add_argument("--pg", default=os.environ.get(
        "AMPKIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--window-hours", type=int, default=24)
    parser.add_argument("--targets", default=",".join(TARGETS),
                        help=f"comma-separated, of: {', '.join(TARGETS)}")
    parser.add_argument("--limits", action="store_true",
                        help="also: events per hour with Amplitude's limits on (see above)")
    args = parser.parse_args()
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"--targets: unknown {', '.join(sorted(unknown))}")
    generate_events(args.db, args.events, EXPRESSIONS)
    work = Path(tempfile.mkdtemp(prefix="ampkit-bench-sync-"))
    start, end = FIRST, FIRST + dt.timedelta(days=DAYS) - dt.timedelta(hours=1)
    backfill = f"{start:%Y-%m-%d},{end:%Y-%m-%d}"
    schema = f"ampkit_bench_{os.getpid()}"
    try:
        with serve("--db", str(args.db), "--api-key", KEY, "--secret-key", SECRET,
                   "--project-id", str(PROJECT)) as url:
            largest = report(args, url, work, start, end, backfill, schema)
        if args.limits:
            limited(args, work, backfill, largest)
    finally:
        try:
            with psycopg.connect(args.pg, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        except psycopg.Error:
            pass


def report(args: argparse.Namespace, url: str, work: Path, start: dt.datetime,
           end: dt.datetime, backfill: str, schema: str) -> int:
    """Every target's line; returns the largest window's uncompressed bytes."""
    print(f"{args.events:,} events, {DAYS} days of upload hours, "
          f"{args.window_hours}-hour export windows, server: ampkit serve --db (subprocess)")
    n, seconds, largest = floor(url, start, end, args.window_hours)
    floor_rate = n / seconds
    print(line("floor: download + unzip + gunzip + parse", n, seconds))
    requests = 0
    duck: tuple[str, float] | None = None
    if "duckdb" in args.targets:
        rows, seconds, requests = timed_sync(url, str(work / "bench.duckdb"), backfill)
        print(line("ampkit sync → DuckDB", rows, seconds, floor_rate))
        duck = ("ampkit's DuckDB target", rows / seconds)
        print(f"  one machine, one project, Amplitude's caps at their values (4 GB a request: "
              f"these 24-hour windows stay under it): {rows / seconds * 3600:,.0f} events/hour")
    if "postgres" in args.targets:
        postgres(args, url, backfill, schema, floor_rate)
    dlt_targets(args, url, work, backfill, floor_rate, duck)
    if requests:
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
    return largest


def postgres(args: argparse.Namespace, url: str, backfill: str, schema: str,
             floor_rate: float) -> None:
    try:
        with psycopg.connect(args.pg, connect_timeout=5):
            pass
    except psycopg.Error as exc:
        print(f"ampkit sync → PostgreSQL: skipped (no PostgreSQL at {args.pg}: "
              f"{str(exc).strip().splitlines()[0]})")
        return
    sep = "&" if "?" in args.pg else "?"
    rows, seconds, _ = timed_sync(url, f"{args.pg}{sep}schema={schema}", backfill)
    print(line("ampkit sync → PostgreSQL (COPY + upsert)", rows, seconds, floor_rate))


def dlt_targets(args: argparse.Namespace, url: str, work: Path, backfill: str,
                floor_rate: float, duck: tuple[str, float] | None) -> None:
    """The dlt destinations, each a fresh pipeline (its working folder in ``work``)."""
    wanted = [k for k in DLT_TARGETS if k in args.targets]
    if not wanted:
        return
    try:
        import dlt  # noqa: F401
    except ImportError:
        print("dlt targets: skipped (pip install -e '.[dlt]')")
        return
    os.environ["DLT_DATA_DIR"] = str(work / "dlt-home")
    os.environ["DESTINATION__DUCKDB__CREDENTIALS"] = str(work / "dlt.duckdb")
    os.environ["RUNTIME__LOG_LEVEL"] = "ERROR"
    for key in wanted:
        label, target = DLT_TARGETS[key]
        rows, seconds, _ = timed_sync(url, target.format(lake=(work / "lake").as_uri()),
                                      backfill)
        print(line(label, rows, seconds, floor_rate, duck))


def limited(args: argparse.Namespace, work: Path, backfill: str, largest: int) -> None:
    """The DuckDB sync against a server with Amplitude's limits, its export cap a third of
    the largest day: every 24-hour window is refused (400), halved, and the size kept."""
    cap = max(1, largest // 3)
    config = work / "limits.json"
    config.write_text(orjson.dumps({"export": {"max_bytes": cap, "delay_hours": 2}}).decode())
    print(f"\nwith Amplitude's limits on: export cap {cap:,} bytes (the largest day holds "
          f"{largest:,}: 24-hour windows are refused and halved), 2 h export delay, Dashboard "
          "limits and throttles as Amplitude's")
    with serve("--db", str(args.db), "--config", str(config), "--api-key", KEY,
               "--secret-key", SECRET, "--project-id", str(PROJECT)) as url:
        rows, seconds, stream = sync_once(url, str(work / "limited.duckdb"), backfill)
    print(line("ampkit sync → DuckDB, limits on", rows, seconds))
    print(f"  {stream.requests} export requests for {stream.windows} windows "
          f"({stream.splits} split), window size kept: {stream.window_hours} h")
    per_hour = rows / seconds * 3600
    print(f"  one machine, one project: {per_hour:,.0f} events per hour "
          f"({per_hour * 24:,.0f} per day of syncing)")


if __name__ == "__main__":
    main()
