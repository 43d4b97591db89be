"""Ingestion throughput of the local server: ``ampkit serve`` (the real server, in another
process) taking ``/batch`` requests of 1,000 events from N client processes at once.

Each client builds its request bodies before the clock starts (realistic events: user ids
cycling over 10,000 users, a device each, event properties, user properties on every fourth
event), then posts them back to back; the clock stops when every client has its last answer.
Prints events/s, the server's CPU time (user + system, from ``/proc/PID/stat``) per 1,000
events, and two ratios:

- to the *store's floor*, measured in the same run: the same rows (read back from the server's
  file) inserted straight into DuckDB from Arrow in one process, one transaction per 1,000 rows
  — what storing alone costs, without HTTP, parsing, validation and user state;
- to issue 17's figure before this work (9,670 events/s, ``--db`` file, 4 clients).

Both stores are measured: a ``--db`` file (the headline: what a user keeps) and in memory.
Every figure is the median of ``--repeat`` runs, each on a fresh server.

    .venv/bin/python bench/server_ingest.py [--events 200000] [--clients 4] [--batch 1000]
        [--users 10000] [--repeat 3] [--only file|memory]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
from benchlib import cpu_seconds, serve_process

from ampkit.server.schema import DDL

KEY, SECRET = "bench-api-key-01", "bench-secret-key-01"
OLD_EPS = 9_670.0
"""Issue 17: ``/batch``, 4 clients × 1,000-event batches, ``--db`` file, before this work."""
T0_MS = 1_735_689_600_000  # 2025-01-01 00:00 UTC
EVENT_TYPES = ("Open App", "View Item", "Search", "Add to Cart", "Share", "Purchase")
COUNTRIES = ("United States", "France", "Germany", "Japan", "Brazil", "India")
PLATFORMS = ("iOS", "Android", "Web")


def event(i: int, users: int) -> dict[str, Any]:
    """The ``i``-th event of a run: the same in every run and every process."""
    u = i % users
    e: dict[str, Any] = {
        "event_type": EVENT_TYPES[i % len(EVENT_TYPES)],
        "user_id": f"user-{u:06d}",
        "device_id": f"device-{u:06d}",
        "time": T0_MS + i * 37,
        "insert_id": f"bench-{i:09d}",
        "session_id": T0_MS + (i // 20) * 60_000,
        "platform": PLATFORMS[u % 3],
        "os_name": ("ios", "android", "chrome")[u % 3],
        "app_version": f"2.{u % 7}.0",
        "country": COUNTRIES[u % len(COUNTRIES)],
        "city": f"city-{u % 40}",
        "language": "en",
        "event_properties": {"item": f"item-{i % 500}", "position": i % 20,
                             "source": "bench", "price": (i % 100) / 4},
    }
    if i % 4 == 0:
        e["user_properties"] = {"$set": {"plan": ("free", "pro")[u % 2], "level": i % 50},
                                "$add": {"visits": 1}}
    return e


def client(url: str, batches: list[range], users: int, ready: mp.Queue[Any],
           start: EventType, done: mp.Queue[Any]) -> None:
    """One client process: build the bodies, say ready, post them once told to start."""
    bodies = [orjson.dumps({"api_key": KEY, "events": [event(i, users) for i in batch]})
              for batch in batches]
    with httpx.Client(base_url=url, timeout=600,
                      headers={"Content-Type": "application/json"}) as http:
        ready.put(len(bodies))
        start.wait()
        failures = 0
        for body in bodies:
            r = http.post("/batch", content=body)
            if r.status_code != 200:
                failures += 1
        done.put(failures)


def stored(url: str) -> int:
    r = httpx.get(f"{url}/_ampkit/stats", auth=(KEY, SECRET), timeout=60)
    r.raise_for_status()
    return int(r.json()["events"])


def run_server(db: Path | None, args: argparse.Namespace) -> dict[str, float]:
    """One run on a fresh server: events/s and the server's CPU seconds."""
    extra = ["--db", str(db)] if db is not None else []
    ctx = mp.get_context("spawn")
    ranges = [range(s, min(s + args.batch, args.events))
              for s in range(0, args.events, args.batch)]
    with serve_process("--api-key", KEY, "--secret-key", SECRET, "--no-throttle",
                       *extra) as (url, pid):
        ready: mp.Queue[Any] = ctx.Queue()
        done: mp.Queue[Any] = ctx.Queue()
        start = ctx.Event()
        procs = [ctx.Process(target=client, args=(url, ranges[c::args.clients], args.users,
                                                  ready, start, done))
                 for c in range(args.clients)]
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=600)
        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        start.set()
        failures = sum(done.get(timeout=1800) for _ in procs)
        wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
        for p in procs:
            p.join()
        count = stored(url)
    if failures or count != args.events:
        raise SystemExit(f"{failures} failed requests; stored {count:,} of {args.events:,}")
    return {"eps": args.events / wall, "wall": wall, "cpu": cpu,
            "cpu_ms_per_1000": cpu / args.events * 1e6, "cores": cpu / wall}


def floor(source: Path, target: Path | None, batch: int) -> float:
    """The store's floor: the rows ``source`` holds, from Arrow into a fresh DuckDB store, one
    transaction per ``batch`` rows, in one process (events/s)."""
    with duckdb.connect(str(source), read_only=True) as con:
        table = con.sql("SELECT * FROM events ORDER BY seq").to_arrow_table()
    slices = [table.slice(s, batch) for s in range(0, table.num_rows, batch)]
    with duckdb.connect(str(target) if target is not None else ":memory:") as con:
        for ddl in DDL:
            con.execute(ddl)
        t0 = time.perf_counter()
        for piece in slices:
            con.execute("BEGIN TRANSACTION")
            con.register("piece", piece)
            con.execute("INSERT INTO events SELECT * FROM piece")
            con.unregister("piece")
            con.execute("COMMIT")
        wall = time.perf_counter() - t0
    return table.num_rows / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("file", "memory"), default=None)
    args = parser.parse_args()
    modes = [m for m in ("file", "memory") if args.only in (None, m)]
    load0 = os.getloadavg()
    results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for rep in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="ampkit-bench-ingest-") as tmp:
            db = Path(tmp) / "server.duckdb"
            for mode in modes:
                r = run_server(db if mode == "file" else None, args)
                if not db.exists():  # the floor reads the rows a --db server stored
                    run_server(db, args)
                target = Path(tmp) / f"floor-{mode}.duckdb" if mode == "file" else None
                r["floor_eps"] = floor(db, target, args.batch)
                r["of_floor"] = r["eps"] / r["floor_eps"]
                results[mode].append(r)
                print(f"  run {rep + 1} {mode:<6} {r['eps']:>9,.0f} events/s   server CPU "
                      f"{r['cpu_ms_per_1000']:6.1f} ms per 1,000 events ({r['cores']:.2f} "
                      f"cores)   floor {r['floor_eps']:>9,.0f} events/s", flush=True)
    load1 = os.getloadavg()
    print(f"{args.events:,} events, {args.clients} clients x {args.batch:,}-event /batch "
          f"requests, {args.users:,} users; median of {args.repeat}; load average "
          f"{load0[0]:.2f} -> {load1[0]:.2f} (1 min), {os.cpu_count()} cores")
    for mode in modes:
        rs = results[mode]
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        label = "--db file" if mode == "file" else "in memory"
        runs = ", ".join(f"{r['eps']:,.0f}" for r in rs)
        print(f"  {label:<10} {med['eps']:>9,.0f} events/s (runs {runs})   "
              f"server CPU {med['cpu_ms_per_1000']:.1f} ms per 1,000 events, "
              f"{med['cores']:.2f} cores   "
              f"store floor (Arrow → DuckDB, 1 process) {med['floor_eps']:,.0f} events/s: "
              f"{med['of_floor']:.2f} of it   "
              f"vs issue 17's {OLD_EPS:,.0f}: {med['eps'] / OLD_EPS:.2f}x")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
