"""Ingestion benchmark: ampkit's background sender vs the official ``amplitude-analytics`` SDK,
each measured as a whole process.

Three processes: ``ampkit serve`` (the local server) and, one after the other, two senders —
ampkit's and the SDK's — each sending the same ``--events`` events (batch ``--batch``) to it
and waiting until all are delivered.  A sender's cost is what the kernel counted for its whole
process (``benchlib.run_child``: user+sys CPU of every thread from interpreter start to exit,
imports and client start-up included, and peak RSS), not an in-process timer; the server's
count of stored events is checked after each run (nothing lost, nothing twice).  Then the
memory with the events *queued* (a paused server, as ``bench/memory.py``).  Medians of
``--repeat`` runs, interleaved; the ratios are ampkit/SDK.

    .venv/bin/python bench/ingest.py [--events 100000] [--batch 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

import httpx
from benchlib import run_child, serve
from memory import queued_peaks

KEY, SECRET = "bench-api-key-01", "bench-secret-key-01"

# Each sender prints the CPU it used before its first event (interpreter, imports, client) and
# in all, as the process itself sees it: a breakdown of the whole-process figure.
AMPKIT = """
import sys, time
from ampkit import Amplitude, SenderOptions
n, batch, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
amp = Amplitude({key!r}, base_url=url,
                sender=SenderOptions(batch_size=batch, flush_interval=10, max_queue_size=n))
start = time.process_time(); t0 = time.perf_counter()
for i in range(n):
    amp.track({{"event_type": "bench", "user_id": f"user-{{i % 1000:05d}}",
               "event_properties": {{"i": i, "source": "bench"}}, "platform": "Web"}})
ok = amp.close(timeout=600)
print(start, time.process_time(), time.perf_counter() - t0, int(ok))
"""

SDK = """
import sys, time
import amplitude
n, batch, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sdk = amplitude.Amplitude({key!r}, amplitude.Config(server_url=url + "/2/httpapi",
                          flush_queue_size=batch, flush_interval_millis=10000))
start = time.process_time(); t0 = time.perf_counter()
for i in range(n):
    sdk.track(amplitude.BaseEvent(event_type="bench", user_id=f"user-{{i % 1000:05d}}",
                                  event_properties={{"i": i, "source": "bench"}},
                                  platform="Web"))
sdk.flush()
sdk.shutdown()
print(start, time.process_time(), time.perf_counter() - t0, 1)
"""

SENDERS = {"ampkit": AMPKIT, "amplitude-analytics (official SDK)": SDK}


def stored(url: str) -> int:
    r = httpx.get(f"{url}/_ampkit/stats", auth=(KEY, SECRET), timeout=60)
    r.raise_for_status()
    return int(r.json()["events"])


def run(code: str, n: int, batch: int, url: str) -> dict[str, float]:
    httpx.post(f"{url}/_ampkit/reset", auth=(KEY, SECRET), timeout=60).raise_for_status()
    usage = run_child(["-c", code.format(key=KEY), str(n), str(batch), url])
    start, cpu_in, wall, ok = usage.stdout.split()[-4:]
    count = stored(url)
    if count != n or ok != "1":
        raise RuntimeError(f"the server stored {count:,} of {n:,} events (closed ok: {ok})")
    return {"cpu": usage.cpu, "user": usage.user, "sys": usage.sys, "peak": usage.peak_mib,
            "startup": float(start), "in_process": float(cpu_in) - float(start),
            "wall": float(wall)}


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.events
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in SENDERS}
    with serve("--api-key", KEY, "--secret-key", SECRET, "--no-throttle") as url:
        for _ in range(args.repeat):
            for name, code in SENDERS.items():
                runs[name].append(run(code, n, args.batch, url))
    print(f"{n:,} events, batch size {args.batch}, local server in a third process; "
          f"each sender a whole process, median of {args.repeat} (load: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    for name, rs in runs.items():
        print(f"  {name:<36} CPU {median(rs, 'cpu'):6.2f} s "
              f"(user {median(rs, 'user'):.2f}, sys {median(rs, 'sys'):.2f}; start-up "
              f"{median(rs, 'startup'):.2f}, in-process {median(rs, 'in_process'):.2f})  "
              f"{n / median(rs, 'wall'):>8,.0f} events/s  peak RSS {median(rs, 'peak'):6.1f} MiB"
              f"   runs {', '.join(format(r['cpu'], '.2f') for r in rs)} s")
    a, b = runs.values()
    cpu_ratio = median(a, "cpu") / median(b, "cpu")
    print(f"  whole-process CPU ampkit/SDK:  {cpu_ratio:.3f} (target <= 0.20)")
    print(f"  peak RSS sending ampkit/SDK:   {median(a, 'peak') / median(b, 'peak'):.2f}")
    queued = queued_peaks(n, "paused", args.repeat)
    qa, qb = queued.values()
    print(f"  peak RSS with {n:,} events queued (paused server) ampkit/SDK: "
          f"{qa['peak'] / qb['peak']:.2f} ({qa['peak']:.1f} vs {qb['peak']:.1f} MiB; "
          f"target <= 1.0)")
    print(json.dumps({"send": runs, "queued": queued}))


if __name__ == "__main__":
    main()
