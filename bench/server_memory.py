"""Server memory while it ingests: ``ampkit serve --db FILE --memory-limit M`` in its own
process, fed 1,000-event ``/batch`` requests (every event with an ``insert_id``, 10,000 users),
its resident set size (``VmRSS``) read after 100k, 250k, 500k and 1M events.

The floor it is compared with is itself: RSS after 1M events over RSS after 100k — flat within
20% is the target (issue 13): deduplication looks ids up in the stored events instead of
holding them in memory, and DuckDB's cache is bounded by ``--memory-limit``.

    .venv/bin/python bench/server_memory.py [--events 1000000] [--memory-limit 256MB]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from benchlib import ROOT, free_port

KEY = "bench-api-key-01"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--memory-limit", default="256MB")
    args = parser.parse_args()
    marks = sorted({m for m in (100_000, 250_000, 500_000, args.events) if m <= args.events})
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "AMPKIT_SERVE_API_KEY": KEY,
               "AMPKIT_SERVE_SECRET_KEY": "bench-secret-key-01"}
        server = subprocess.Popen(
            [sys.executable, "-m", "ampkit", "serve", "--port", str(port), "--no-throttle",
             "--db", str(Path(tmp) / "mem.duckdb"), "--memory-limit", args.memory_limit],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=url, timeout=120) as http:
                while True:
                    try:
                        if http.get("/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                print(f"server RSS at start: {rss_mib(server.pid):.0f} MiB "
                      f"(--db, --memory-limit {args.memory_limit})")
                sent, t0, results = 0, time.perf_counter(), {}
                for mark in marks:
                    while sent < mark:
                        events = [{"event_type": f"e{i % 20}", "user_id": f"user-{i % 10_000:05d}",
                                   "insert_id": f"ins-{i:09d}", "time": 1_700_000_000_000 + i,
                                   "event_properties": {"i": i, "source": "bench"}}
                                  for i in range(sent, sent + 1000)]
                        r = http.post("/batch", content=orjson.dumps(
                            {"api_key": KEY, "events": events}),
                            headers={"content-type": "application/json"})
                        r.raise_for_status()
                        sent += 1000
                    results[mark] = rss_mib(server.pid)
                    rate = sent / (time.perf_counter() - t0)
                    print(f"after {mark:>9,} events: server RSS {results[mark]:6.0f} MiB "
                          f"({rate:,.0f} events/s so far)")
                first, last = results[marks[0]], results[marks[-1]]
                print(f"RSS after {marks[-1]:,} / after {marks[0]:,}: {last / first:.2f} "
                      f"(target ≤ 1.20)")
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
