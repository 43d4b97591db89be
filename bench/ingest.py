"""Ingestion benchmark: ampkit's background sender vs the official ``amplitude-analytics`` SDK.

Same 100,000 events, same local server (``ampkit serve``, in another process), same batch size.
Each sender runs in its own fresh process so its CPU time (all threads) is measured alone.
Prints events/s and CPU seconds per 1,000 events for each, and the ratios.

    .venv/bin/python bench/ingest.py [--events 100000] [--batch 500]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap

import httpx
from benchlib import ROOT, serve

KEY, SECRET = "bench-api-key-01", "bench-secret-key-01"

AMPKIT = """
import resource, sys, time
from ampkit import Amplitude, SenderOptions
n, batch, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
amp = Amplitude({key!r}, base_url=url,
                sender=SenderOptions(batch_size=batch, flush_interval=10, max_queue_size=n))
t0 = time.perf_counter(); c0 = time.process_time()
for i in range(n):
    amp.track({{"event_type": "bench", "user_id": f"user-{{i % 1000:05d}}",
               "event_properties": {{"i": i, "source": "bench"}}, "platform": "Web"}})
ok = amp.close(timeout=600)
print(time.perf_counter() - t0, time.process_time() - c0, int(ok))
"""

SDK = """
import sys, time
import amplitude
n, batch, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sdk = amplitude.Amplitude({key!r}, amplitude.Config(server_url=url + "/2/httpapi",
                          flush_queue_size=batch, flush_interval_millis=10000))
t0 = time.perf_counter(); c0 = time.process_time()
for i in range(n):
    sdk.track(amplitude.BaseEvent(event_type="bench", user_id=f"user-{{i % 1000:05d}}",
                                  event_properties={{"i": i, "source": "bench"}},
                                  platform="Web"))
sdk.flush()
sdk.shutdown()
print(time.perf_counter() - t0, time.process_time() - c0, 1)
"""


def stored(url: str) -> int:
    r = httpx.get(f"{url}/_ampkit/stats", auth=(KEY, SECRET), timeout=60)
    r.raise_for_status()
    return int(r.json()["events"])


def run(name: str, code: str, n: int, batch: int, url: str) -> dict[str, float]:
    httpx.post(f"{url}/_ampkit/reset", auth=(KEY, SECRET), timeout=60).raise_for_status()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code.format(key=KEY)), str(n), str(batch), url],
        capture_output=True, text=True, env=env, timeout=1800, check=True,
    ).stdout.split()
    wall, cpu, ok = float(out[0]), float(out[1]), int(out[2])
    count = stored(url)
    return {"name": name, "wall": wall, "cpu": cpu, "ok": ok, "stored": count,
            "eps": n / wall, "cpu_per_1000": cpu / n * 1000}  # type: ignore[dict-item]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    with serve("--api-key", KEY, "--secret-key", SECRET, "--no-throttle") as url:
        results = [run("ampkit", AMPKIT, args.events, args.batch, url),
                   run("amplitude-analytics (official SDK)", SDK, args.events, args.batch, url)]
    print(f"{args.events} events, batch size {args.batch}, local server in another process")
    for r in results:
        print(f"  {r['name']:<36} {r['eps']:>10,.0f} events/s   "
              f"{r['cpu_per_1000'] * 1000:>8.1f} ms CPU per 1,000 events   "
              f"stored {r['stored']:,}")
    a, b = results
    print(f"  throughput ratio ampkit/SDK: {a['eps'] / b['eps']:.2f}x")
    print(f"  CPU per event ampkit/SDK:    {a['cpu_per_1000'] / b['cpu_per_1000']:.3f} "
          f"(target <= 0.2)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
