"""What the Bloom filter of stored ``insert_id`` keys (``server/dedup.py``) saves: the server's
ingestion service (``ingest_events``, no HTTP) taking 1,000-event ``/batch`` bodies into a
``--db`` store, in one process, with the filter (``filter``) and with every key looked up in
the events table as before it (``lookup``: the filter answering "maybe" for every key).  Each
mode runs in a fresh process, alternating, ``--repeat`` times; prints CPU per 1,000 events
(user + system of the process, DuckDB's threads included) and the ratio.

    .venv/bin/python bench/server_dedup.py [--events 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
from server_ingest import KEY, SECRET, event

from ampkit.server import ServerConfig, Store
from ampkit.server.config import ProjectConfig
from ampkit.server.services.ingestion import ingest_events


def run(mode: str, events: int) -> float:
    """CPU ms per 1,000 events of one run in this process."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(ServerConfig(throttle_enabled=False, db=Path(tmp) / "s.duckdb", projects=[
            ProjectConfig(project_id=1, api_key=KEY, secret_key=SECRET)]))
        if mode == "lookup":
            store.seen.may_contain = lambda h: np.ones(len(h), dtype=np.bool_)  # type: ignore[method-assign]
        bodies = [orjson.dumps({"api_key": KEY, "events": [event(i, 10_000)
                                                          for i in range(s, s + 1000)]})
                  for s in range(0, events, 1000)]
        start = time.process_time()
        for body in bodies:
            answer = ingest_events(store, "batch", body)
            assert answer.status == 200  # type: ignore[union-attr]
        cpu = time.process_time() - start
        store.close()
    return cpu / events * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mode", choices=("filter", "lookup"))
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run(args.mode, args.events)))
        return
    got: dict[str, list[float]] = {"filter": [], "lookup": []}
    for _ in range(args.repeat):
        for mode in got:
            out = subprocess.run([sys.executable, __file__, "--mode", mode,
                                  "--events", str(args.events)],
                                 capture_output=True, text=True, check=True)
            got[mode].append(float(out.stdout))
    med = {mode: statistics.median(v) for mode, v in got.items()}
    for mode, values in got.items():
        print(f"{mode:7} {med[mode]:6.1f} ms CPU per 1,000 events  (runs "
              + ", ".join(f"{v:.1f}" for v in values) + ")")
    print(f"filter/lookup: {med['filter'] / med['lookup']:.2f} at {args.events:,} stored events")


if __name__ == "__main__":
    main()
