"""Client memory benchmark: peak RSS of a process holding 100,000 queued events, ampkit's
background sender vs the official ``amplitude-analytics`` SDK.

The server is *paused*: a socket that listens but never accepts, so every request hangs and
every tracked event stays in the client's memory (a server that refuses connections would make
the SDK drop events past its 20,000-event retry buffer, which is not the same work).  Each
client runs in its own fresh process, which reports ``ru_maxrss`` before and after queueing,
then exits without waiting for the stuck requests.

    .venv/bin/python bench/memory.py [--events 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import textwrap

from benchlib import ROOT

KEY = "bench-api-key-01"

REPORT = """
import json, os, resource
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def event(i):
    return {"event_type": "bench", "user_id": f"user-{i % 1000:05d}",
            "event_properties": {"i": i, "source": "bench"}, "platform": "Web"}
"""

AMPKIT = REPORT + """
import sys
from ampkit import Amplitude, SenderOptions
n, url = int(sys.argv[1]), sys.argv[2]
amp = Amplitude(KEY, base_url=url, sender=SenderOptions(max_queue_size=n + 1))
amp.track(event(-1)); before = rss_mb()   # the sender thread and the HTTP client are up
for i in range(n):
    amp.track(event(i))
print(json.dumps({"before": before, "peak": rss_mb(), "queued": amp.queued}), flush=True)
os._exit(0)
"""

SDK = REPORT + """
import sys
import amplitude
n, url = int(sys.argv[1]), sys.argv[2]
sdk = amplitude.Amplitude(KEY, amplitude.Config(server_url=url + "/2/httpapi"))
sdk.track(amplitude.BaseEvent(**event(-1))); before = rss_mb()
for i in range(n):
    sdk.track(amplitude.BaseEvent(**event(i)))
print(json.dumps({"before": before, "peak": rss_mb(), "queued": n}), flush=True)
os._exit(0)
"""


def run(name: str, code: str, n: int, url: str) -> dict[str, float | str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code.replace("KEY", repr(KEY))), str(n), url],
        capture_output=True, text=True, env=env, timeout=1800, check=True,
    ).stdout
    result: dict[str, float | str] = json.loads(out.strip().splitlines()[-1])
    result["name"] = name
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    args = ap.parse_args()
    paused = socket.socket()
    paused.bind(("127.0.0.1", 0))
    paused.listen(1024)  # never accepted: requests hang, events stay queued
    url = f"http://127.0.0.1:{paused.getsockname()[1]}"
    try:
        results = [run("ampkit", AMPKIT, args.events, url),
                   run("amplitude-analytics (official SDK)", SDK, args.events, url)]
    finally:
        paused.close()
    print(f"{args.events:,} events queued against a paused server, peak RSS of the process")
    for r in results:
        grown = float(r["peak"]) - float(r["before"])
        print(f"  {r['name']:<36} peak {float(r['peak']):>7.1f} MB   before queueing "
              f"{float(r['before']):>6.1f} MB   queue {grown:>6.1f} MB "
              f"({grown * 1024 * 1024 / args.events:,.0f} B/event)   queued {int(r['queued']):,}")
    a, b = results
    growth = [float(r["peak"]) - float(r["before"]) for r in results]
    print(f"  peak RSS ampkit/SDK:     {float(a['peak']) / float(b['peak']):.2f}")
    print(f"  queue growth ampkit/SDK: {growth[0] / growth[1]:.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
