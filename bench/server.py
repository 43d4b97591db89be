"""Query latency of the local server over 10,000,000 stored events: event segmentation, funnel
and retention, each over HTTP against ``ampkit serve --db`` (the real server, in another
process).  Target: each under 1 s on a 2-core machine.

The events are generated straight into the server's DuckDB file with SQL (200,000 users over
60 days, a sign-up → activation → purchase funnel, 6 countries, 3 platforms); loading them
through HTTP would measure ingestion, not queries.

    .venv/bin/python bench/server.py [--events 10000000] [--repeat 3] [--db FILE] [--only TEXT]

``--only funnel`` times just the queries whose name contains ``funnel``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from benchlib import generate_events, h, serve

KEY, SECRET, PROJECT = "bench-api-key-01", "bench-secret-key-01", 424242
USERS = 200_000


EVENT_TYPES = "['Open App', 'View Item', 'Search', 'Add to Cart', 'Share']"
COUNTRIES = "['United States', 'France', 'Germany', 'Japan', 'Brazil', 'India']"
DAY_SECONDS = 60 * 86400
EXPRESSIONS = {
    "seq": "i",
    "project_id": str(PROJECT),
    "uuid": "uuid()::VARCHAR",
    "amplitude_id": f"100000000001 + {h('i // 12', USERS)}",
    "user_id": f"'user-' || {h('i // 12', USERS)}::VARCHAR",
    "device_id": f"'device-' || {h('i // 12', USERS)}::VARCHAR",
    "event_type": f"CASE WHEN {h('i', 100)} < 6 THEN 'Sign Up' WHEN {h('i', 100)} < 10 THEN "
                  f"'Activate' WHEN {h('i', 100)} < 12 THEN 'Purchase' "
                  f"ELSE {EVENT_TYPES}[1 + {h('i', 5)}] END",
    "event_time": f"TIMESTAMP '2024-01-01' + to_seconds({h('i * 7', DAY_SECONDS)})",
    "session_id": f"1704067200000 + {h('i // 6', DAY_SECONDS)} * 1000",
    "platform": f"['iOS', 'Android', 'Web'][1 + {h('i // 12', 3)}]",
    "country": f"{COUNTRIES}[1 + {h('i // 12 + 1', 6)}]",
    "library": "'bench/1.0'",
    "revenue": f"CASE WHEN {h('i', 100)} BETWEEN 10 AND 11 THEN 9.99 END",
    "event_properties": f"'{{\"item\":\"item-' || {h('i', 50)}::VARCHAR || '\"}}'",
    "user_properties": f"'{{\"plan\":\"' || ['free', 'pro'][1 + {h('i // 12', 2)}] || '\"}}'",
    "group_properties": "'{}'",
    "groups": "'{}'",
    "data": "'{\"path\":\"/batch\"}'",
    "plan": "'{}'",
}


QUERIES = {
    "segmentation (uniques, daily, 60 days, by country)": (
        "/api/2/events/segmentation",
        {"e": json.dumps({"event_type": "View Item"}), "start": "20240101", "end": "20240229",
         "m": "uniques", "g": "country"}),
    "segmentation (totals of any event, weekly)": (
        "/api/2/events/segmentation",
        {"e": json.dumps({"event_type": "_active"}), "start": "20240101", "end": "20240229",
         "m": "totals", "i": "7"}),
    "funnel (3 steps, 30-day window)": (
        "/api/2/funnels",
        {"e": [json.dumps({"event_type": "Sign Up"}), json.dumps({"event_type": "Activate"}),
               json.dumps({"event_type": "Purchase"})], "start": "20240101", "end": "20240229"}),
    "funnel (sequential: each step the next event)": (
        "/api/2/funnels",
        {"e": [json.dumps({"event_type": "Sign Up"}), json.dumps({"event_type": "Activate"}),
               json.dumps({"event_type": "Purchase"})], "start": "20240101", "end": "20240229",
         "mode": "sequential"}),
    "funnel (unordered: the steps in any order)": (
        "/api/2/funnels",
        {"e": [json.dumps({"event_type": "Sign Up"}), json.dumps({"event_type": "Activate"}),
               json.dumps({"event_type": "Purchase"})], "start": "20240101", "end": "20240229",
         "mode": "unordered"}),
    "funnel (any active event → Purchase, 1-day window: an attempt per event)": (
        "/api/2/funnels",
        {"e": [json.dumps({"event_type": "_active"}), json.dumps({"event_type": "Purchase"})],
         "start": "20240101", "end": "20240229", "cs": "86400"}),
    "segmentation (uniques by an event property)": (
        "/api/2/events/segmentation",
        {"e": json.dumps({"event_type": "View Item",
                          "group_by": [{"type": "event", "value": "item"}]}),
         "start": "20240101", "end": "20240229"}),
    "retention (Sign Up → any event, daily)": (
        "/api/2/retention",
        {"se": json.dumps({"event_type": "Sign Up"}), "re": json.dumps({"event_type": "_all"}),
         "start": "20240101", "end": "20240229"}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir())
                        / "ampkit-bench-server.duckdb")
    parser.add_argument("--only", default="", help="time only the queries whose name "
                        "contains this text")
    args = parser.parse_args()
    generate_events(args.db, args.events, EXPRESSIONS)
    # latency, not the query-cost ledger, is measured here: repeated queries would exhaust it
    config = args.db.with_suffix(".server.yaml")
    config.write_text("dashboard_limits: {enabled: false}\n")
    with serve("--config", str(config), "--db", str(args.db), "--api-key", KEY,
               "--secret-key", SECRET, "--project-id", str(PROJECT)) as url, \
            httpx.Client(base_url=url, auth=(KEY, SECRET), timeout=300) as http:
        print(f"{args.events:,} stored events; each query {args.repeat} times "
              "(first run included)")
        results = {}
        for name, (path, params) in QUERIES.items():
            if args.only not in name:
                continue
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                r = http.get(path, params=params)
                times.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    print(f"  {name}: HTTP {r.status_code} {r.text[:200]}")
                    break
            else:
                results[name] = times
                print(f"  {name:<55} median {statistics.median(times):6.3f} s   "
                      f"max {max(times):6.3f} s   {'OK' if max(times) < 1 else 'SLOW'}")
        print(json.dumps({k: v for k, v in results.items()}))


if __name__ == "__main__":
    main()
