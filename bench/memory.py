"""Client memory benchmark: peak RSS of a process holding 100,000 tracked events that cannot be
delivered, ampkit's background sender vs the official ``amplitude-analytics`` SDK.

Two servers, chosen with ``--server``:

* ``paused`` (the default): a socket that listens but never accepts, so every request hangs and
  every tracked event stays in the client's memory;
* ``refused``: nothing listens.  ampkit keeps every event queued (an unreachable server costs
  no delivery round); the SDK retries and then *drops* events, so it holds fewer of them — the
  "held" column says how many each client still has (the SDK's figure excludes its in-flight
  batches).

Each client runs in a fresh process (``benchlib.run_child``: its peak RSS as the kernel counted
it, ``ru_maxrss`` from ``wait4``), tracks one event, notes its own peak so far (``VmHWM``: the
interpreter, the imports, the sender thread and the HTTP client), tracks ``--events`` more one
at a time (``--list``: in one ``track`` call, ampkit only), then exits without waiting for the
stuck requests.  Median of ``--repeat`` runs.

    .venv/bin/python bench/memory.py [--events 100000] [--server paused|refused|both] [--list]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
from collections.abc import Iterator
from contextlib import contextmanager

from benchlib import free_port, run_child

KEY = "bench-api-key-01"

REPORT = """
import json, os, sys
def hwm_mib():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
def event(i):
    return {"event_type": "bench", "user_id": f"user-{i % 1000:05d}",
            "event_properties": {"i": i, "source": "bench"}, "platform": "Web"}
n, url, as_list = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "list"
"""

AMPKIT = REPORT + """
from ampkit import Amplitude, SenderOptions
amp = Amplitude(KEY, base_url=url, sender=SenderOptions(max_queue_size=n + 1))
amp.track(event(-1)); before = hwm_mib()   # the sender thread and the HTTP client are up
if as_list:
    amp.track([event(i) for i in range(n)])
else:
    for i in range(n):
        amp.track(event(i))
print(json.dumps({"before": before, "held": amp.queued}), flush=True)
os._exit(0)
"""

SDK = REPORT + """
import amplitude
sdk = amplitude.Amplitude(KEY, amplitude.Config(server_url=url + "/2/httpapi"))
sdk.track(amplitude.BaseEvent(**event(-1))); before = hwm_mib()
for i in range(n):
    sdk.track(amplitude.BaseEvent(**event(i)))
plugins = sdk._Amplitude__timeline.plugins.values()
held = sum(getattr(getattr(p, "storage", None), "total_events", 0) for ps in plugins for p in ps)
print(json.dumps({"before": before, "held": held}), flush=True)
os._exit(0)
"""

CLIENTS = {"ampkit": AMPKIT, "amplitude-analytics (official SDK)": SDK}


@contextmanager
def dead_server(kind: str) -> Iterator[str]:
    """A URL whose server never answers: ``paused`` listens and never accepts, ``refused``
    has nothing listening."""
    if kind == "refused":
        yield f"http://127.0.0.1:{free_port()}"
        return
    paused = socket.socket()
    paused.bind(("127.0.0.1", 0))
    paused.listen(1024)  # never accepted: requests hang, events stay queued
    try:
        yield f"http://127.0.0.1:{paused.getsockname()[1]}"
    finally:
        paused.close()


def measure(name: str, n: int, url: str, as_list: bool = False) -> dict[str, float]:
    code = CLIENTS[name].replace("KEY", repr(KEY))
    usage = run_child(["-c", code, str(n), url, "list" if as_list else "each"])
    result: dict[str, float] = json.loads(usage.stdout.strip().splitlines()[-1])
    result["peak"] = usage.peak_mib
    return result


def queued_peaks(n: int, server: str, repeat: int, as_list: bool = False
                 ) -> dict[str, dict[str, float]]:
    """Median (by peak) of ``repeat`` runs of each client, interleaved."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in CLIENTS}
    with dead_server(server) as url:
        for _ in range(repeat):
            for name in CLIENTS:
                runs[name].append(measure(name, n, url, as_list and name == "ampkit"))
    out = {}
    for name, rs in runs.items():
        peak = statistics.median(r["peak"] for r in rs)
        out[name] = {**min(rs, key=lambda r: abs(r["peak"] - peak)), "peak": peak,
                     "peaks": [r["peak"] for r in rs]}  # type: ignore[dict-item]
    return out


def report(n: int, server: str, results: dict[str, dict[str, float]]) -> float:
    print(f"{n:,} events tracked against a {server} server: peak RSS of each process "
          f"(MiB, median of {len(next(iter(results.values()))['peaks'])})")  # type: ignore[arg-type]
    for name, r in results.items():
        grown = r["peak"] - r["before"]
        print(f"  {name:<36} peak {r['peak']:>7.1f}   before tracking {r['before']:>6.1f}   "
              f"tracked events {grown:>6.1f} ({grown * 1024 * 1024 / n:,.0f} B/event)   "
              f"held {int(r['held']):,}")
    a, b = results.values()
    ratio = a["peak"] / b["peak"]
    print(f"  peak RSS ampkit/SDK: {ratio:.2f} (target <= 1.0)")
    return ratio


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--server", choices=["paused", "refused", "both"], default="paused")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--list", action="store_true",
                    help="ampkit tracks the events in one call (a list) instead of one by one")
    args = ap.parse_args()
    servers = ["paused", "refused"] if args.server == "both" else [args.server]
    everything = {}
    for server in servers:
        results = queued_peaks(args.events, server, args.repeat, args.list)
        report(args.events, server, results)
        everything[server] = results
    print(json.dumps(everything))


if __name__ == "__main__":
    main()
