"""Query latency of the local server over 10,000,000 stored events: event segmentation, funnel
and retention, each over HTTP against ``ampkit serve --db`` (the real server, in another
process), beside its *floor*: the minimal plain DuckDB SQL computing the same numbers, run in
this process on the same DuckDB file once the server has stopped.  Targets: each under 1 s on
a 2-core machine, and the funnels and the segmentation by an event property within 2× of their
floors.

The events are generated straight into the server's DuckDB file with SQL (200,000 users over
60 days, a sign-up → activation → purchase funnel, 6 countries, 3 platforms); loading them
through HTTP would measure ingestion, not queries.  A file already holding ``--events`` events
is reused.

    .venv/bin/python bench/server.py [--events 10000000] [--repeat 3] [--db FILE] [--only TEXT]

``--only funnel`` times just the queries whose name contains ``funnel``.  Each side runs once
untimed (warm caches), then ``--repeat`` times; the median is shown.  A floor's numbers are
checked against the server's answer (``same`` / ``DIFFERENT``): what the floor computes is what
the answer must hold — the server computes more besides (per-day series, transition times,
distributions), which is what the ratio prices.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
from benchlib import generate_events, h, serve

KEY, SECRET, PROJECT = "bench-api-key-01", "bench-secret-key-01", 424242
USERS = 200_000
START, END = dt.date(2024, 1, 1), dt.date(2024, 2, 29)


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

# --- the floors: plain DuckDB SQL over the same table ---------------------------------------
# The range is 2024-01-01 .. 2024-02-29 (UTC, the project's zone): events at or after LO and
# before HI; a funnel's later steps may happen up to its conversion window after HI.

LO, HI = "TIMESTAMP '2024-01-01'", "TIMESTAMP '2024-03-01'"
RANGE = f"project_id = {PROJECT} AND event_time >= {LO} AND event_time < {HI}"
ACTIVE = "event_type NOT IN ('$identify', '$groupidentify')"
MONTH = "INTERVAL 30 DAY"
FUNNEL_EVENTS = (f"project_id = {PROJECT} AND event_time >= {LO} AND event_time < {HI} + {MONTH}"
                 " AND event_type IN ('Sign Up', 'Activate', 'Purchase')")

# uniques per (country, day) and per country over the range
FLOOR_UNIQUES_BY_COUNTRY = f"""
SELECT country, date_trunc('day', event_time) AS day, count(DISTINCT amplitude_id)
FROM events WHERE {RANGE} AND event_type = 'View Item'
GROUP BY GROUPING SETS ((country, day), (country))"""

# active events per week (weeks start on Sunday; the first is cut at the range's start)
FLOOR_TOTALS_WEEKLY = f"""
SELECT greatest(time_bucket(INTERVAL 7 DAY, event_time, TIMESTAMP '2023-12-31'), {LO}) AS wk,
       count(*)
FROM events WHERE {RANGE} AND {ACTIVE}
GROUP BY ROLLUP (wk)"""

# uniques per (item, day) and per item over the range, the item read out of the JSON
FLOOR_UNIQUES_BY_ITEM = f"""
SELECT coalesce(json_extract_string(event_properties, '/item'), '(none)') AS item,
       date_trunc('day', event_time) AS day, count(DISTINCT amplitude_id)
FROM events WHERE {RANGE} AND event_type = 'View Item'
GROUP BY GROUPING SETS ((item, day), (item))"""

# ordered funnel, users reaching each step: step 2 when an Activate comes within 30 days
# after a Sign Up (in range); step 3 when a Purchase comes after such an Activate, within 30
# days of the latest Sign Up before that Activate (the latest start leaves the most time).
# Events in (time, seq) order.
FLOOR_FUNNEL = f"""
WITH ev AS (SELECT amplitude_id AS a, event_time AS t, seq, event_type AS e FROM events
            WHERE {FUNNEL_EVENTS}),
s1 AS (SELECT a, t, seq FROM ev WHERE e = 'Sign Up' AND t < {HI}),
s2 AS (SELECT a, t, seq FROM ev WHERE e = 'Activate'),
p2 AS (SELECT s2.a, s2.t, s2.seq, max(s1.t) AS t1 FROM s2 JOIN s1 ON s1.a = s2.a
       AND (s1.t, s1.seq) < (s2.t, s2.seq) AND s2.t <= s1.t + {MONTH} GROUP BY ALL),
p3 AS (SELECT DISTINCT s3.a FROM ev AS s3 JOIN p2 ON p2.a = s3.a AND s3.e = 'Purchase'
       AND (p2.t, p2.seq) < (s3.t, s3.seq) AND s3.t <= p2.t1 + {MONTH})
SELECT (SELECT count(DISTINCT a) FROM s1), (SELECT count(DISTINCT a) FROM p2),
       (SELECT count(*) FROM p3)"""

# sequential funnel: Activate right after a Sign Up (in range), Purchase right after that
# Activate, within 30 days of the Sign Up; "right after" = the previous active event
FLOOR_SEQUENTIAL = f"""
WITH ev AS (
  SELECT amplitude_id AS a, event_time AS t, event_type AS e,
         lag(event_type) OVER w AS e1, lag(event_time) OVER w AS t1,
         lag(event_type, 2) OVER w AS e2, lag(event_time, 2) OVER w AS t2
  FROM events
  WHERE project_id = {PROJECT} AND event_time >= {LO} AND event_time < {HI} + {MONTH}
    AND {ACTIVE}
  WINDOW w AS (PARTITION BY amplitude_id ORDER BY event_time, seq))
SELECT count(DISTINCT a) FILTER (WHERE e = 'Sign Up' AND t < {HI}),
       count(DISTINCT a) FILTER (WHERE e = 'Activate' AND e1 = 'Sign Up' AND t1 < {HI}
                                 AND t <= t1 + {MONTH}),
       count(DISTINCT a) FILTER (WHERE e = 'Purchase' AND e1 = 'Activate' AND e2 = 'Sign Up'
                                 AND t2 < {HI} AND t <= t2 + {MONTH})
FROM ev WHERE e IN ('Sign Up', 'Activate', 'Purchase')"""

# unordered funnel: from a Sign Up (in range), the first Activate and the first Purchase at or
# after it; step 2 when the Activate, step 3 when both lie within 30 days
FLOOR_UNORDERED = f"""
WITH ev AS (
  SELECT amplitude_id AS a, event_time AS t, event_type = 'Sign Up' AND event_time < {HI}
         AS s1, min(CASE WHEN event_type = 'Activate' THEN event_time END) OVER w AS n2,
         min(CASE WHEN event_type = 'Purchase' THEN event_time END) OVER w AS n3
  FROM events WHERE {FUNNEL_EVENTS}
  WINDOW w AS (PARTITION BY amplitude_id ORDER BY event_time
               RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)),
u AS (SELECT bool_or(s1) AS r1, bool_or(s1 AND n2 <= t + {MONTH}) AS r2,
             bool_or(s1 AND n2 <= t + {MONTH} AND n3 <= t + {MONTH}) AS r3 FROM ev GROUP BY a)
SELECT count(*) FILTER (WHERE r1), count(*) FILTER (WHERE r2), count(*) FILTER (WHERE r3)
FROM u"""

# any active event (in range) → Purchase within a day: a Purchase within a day of the latest
# active event before it
FLOOR_ANY_TO_PURCHASE = f"""
WITH ev AS (
  SELECT amplitude_id AS a, event_time AS t, event_time < {HI} AS s1,
         event_type = 'Purchase' AS s2,
         max(CASE WHEN event_time < {HI} THEN event_time END) OVER (
           PARTITION BY amplitude_id ORDER BY event_time, seq
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS l1
  FROM events
  WHERE project_id = {PROJECT} AND event_time >= {LO} AND event_time < {HI} + INTERVAL 1 DAY
    AND {ACTIVE}),
u AS (SELECT bool_or(s1) AS r1, bool_or(s2 AND t <= l1 + INTERVAL 1 DAY) AS r2
      FROM ev GROUP BY a)
SELECT count(*) FILTER (WHERE r1), count(*) FILTER (WHERE r2) FROM u"""

# retention: cohorts by the day of each user's first Sign Up in range; users returning (any
# event) N >= 1 days later, per (cohort, N)
FLOOR_RETENTION = f"""
WITH c AS (SELECT amplitude_id AS a, min(event_time) AS t0 FROM events
           WHERE {RANGE} AND event_type = 'Sign Up' GROUP BY a),
d AS (SELECT DISTINCT amplitude_id AS a, date_trunc('day', event_time) AS day FROM events
      WHERE project_id = {PROJECT} AND event_time >= {LO} + INTERVAL 1 DAY)
SELECT date_trunc('day', c.t0) AS cohort, date_diff('day', date_trunc('day', c.t0), d.day),
       count(*)
FROM c JOIN d ON d.a = c.a AND d.day > c.t0 GROUP BY ALL"""


# --- what a floor's rows and the server's answer must agree on ------------------------------

Numbers = Any


def _day(value: dt.datetime | dt.date) -> int:
    """Column of a daily series: days since the range's start."""
    day = value.date() if isinstance(value, dt.datetime) else value
    return (day - START).days


def _grouped_floor(rows: list[tuple[Any, ...]]) -> Numbers:
    """{group: (collapsed, {column: value})} of ``(group, bucket or None, value)`` rows."""
    out: dict[str, tuple[int, dict[int, int]]] = {}
    for group, bucket, value in rows:
        cells = out.setdefault(group, (0, {}))[1]
        if bucket is None:
            out[group] = (value, cells)
        elif value:
            cells[_day(bucket)] = value
    return out


def _grouped_answer(body: dict[str, Any]) -> Numbers:
    data = body["data"]
    return {label: (collapsed[0]["value"], {j: v for j, v in enumerate(row) if v})
            for label, row, collapsed in zip(data["seriesLabels"], data["series"],
                                             data["seriesCollapsed"], strict=True)}


def _weekly_floor(rows: list[tuple[Any, ...]]) -> Numbers:
    total = next(v for wk, v in rows if wk is None)
    return total, [v for wk, v in sorted((r for r in rows if r[0] is not None),
                                          key=lambda r: r[0])]


def _weekly_answer(body: dict[str, Any]) -> Numbers:
    data = body["data"]
    return data["seriesCollapsed"][0][0]["value"], data["series"][0]


def _funnel_floor(rows: list[tuple[Any, ...]]) -> Numbers:
    return list(rows[0])


def _funnel_answer(body: dict[str, Any]) -> Numbers:
    return body["data"][0]["cumulativeRaw"]


def _retention_floor(rows: list[tuple[Any, ...]]) -> Numbers:
    return {(_day(cohort), n): count for cohort, n, count in rows}


def _retention_answer(body: dict[str, Any]) -> Numbers:
    values = body["data"]["series"][0]["values"]
    columns = {f"{d:%b} {d.day}": _day(d) for d in
               (START + dt.timedelta(days=k) for k in range((END - START).days + 1))}
    return {(columns[date], n): cell["count"] for date, cells in values.items()
            for n, cell in enumerate(cells) if n and cell["count"]}


@dataclass(frozen=True)
class Case:
    """A query to the server and its floor: SQL plus how both sides become comparable."""

    path: str
    params: dict[str, str | list[str]]
    floor: str
    floor_numbers: Callable[[list[tuple[Any, ...]]], Numbers]
    answer_numbers: Callable[[dict[str, Any]], Numbers]


STEPS = [json.dumps({"event_type": e}) for e in ("Sign Up", "Activate", "Purchase")]
DATES = {"start": "20240101", "end": "20240229"}
QUERIES = {
    "segmentation (uniques, daily, 60 days, by country)": Case(
        "/api/2/events/segmentation",
        {"e": json.dumps({"event_type": "View Item"}), **DATES, "m": "uniques", "g": "country"},
        FLOOR_UNIQUES_BY_COUNTRY, _grouped_floor, _grouped_answer),
    "segmentation (totals of any event, weekly)": Case(
        "/api/2/events/segmentation",
        {"e": json.dumps({"event_type": "_active"}), **DATES, "m": "totals", "i": "7"},
        FLOOR_TOTALS_WEEKLY, _weekly_floor, _weekly_answer),
    "funnel (3 steps, 30-day window)": Case(
        "/api/2/funnels", {"e": STEPS, **DATES}, FLOOR_FUNNEL, _funnel_floor, _funnel_answer),
    "funnel (sequential: each step the next event)": Case(
        "/api/2/funnels", {"e": STEPS, **DATES, "mode": "sequential"}, FLOOR_SEQUENTIAL,
        _funnel_floor, _funnel_answer),
    "funnel (unordered: the steps in any order)": Case(
        "/api/2/funnels", {"e": STEPS, **DATES, "mode": "unordered"}, FLOOR_UNORDERED,
        _funnel_floor, _funnel_answer),
    "funnel (any active event → Purchase, 1-day window: an attempt per event)": Case(
        "/api/2/funnels",
        {"e": [json.dumps({"event_type": "_active"}), STEPS[2]], **DATES, "cs": "86400"},
        FLOOR_ANY_TO_PURCHASE, _funnel_floor, _funnel_answer),
    "segmentation (uniques by an event property)": Case(
        "/api/2/events/segmentation",
        {"e": json.dumps({"event_type": "View Item",
                          "group_by": [{"type": "event", "value": "item"}]}), **DATES},
        FLOOR_UNIQUES_BY_ITEM, _grouped_floor, _grouped_answer),
    "retention (Sign Up → any event, daily)": Case(
        "/api/2/retention",
        {"se": json.dumps({"event_type": "Sign Up"}), "re": json.dumps({"event_type": "_all"}),
         **DATES}, FLOOR_RETENTION, _retention_floor, _retention_answer),
}


def _timed(runs: dict[str, Callable[[], Any]], repeat: int
           ) -> dict[str, tuple[list[float], Any]]:
    """Each run once untimed (warm caches), then ``repeat`` rounds of all of them in turn (so
    that a change of the machine's load touches every side alike): {name: (times, result)}."""
    out = {name: ([], run()) for name, run in runs.items()}
    for _ in range(repeat):
        for name, run in runs.items():
            t0 = time.perf_counter()
            result = run()
            out[name] = ([*out[name][0], time.perf_counter() - t0], result)
    return out


def _measure(args: argparse.Namespace, name: str, case: Case, http: httpx.Client,
             floor: duckdb.DuckDBPyConnection) -> None:
    def ask() -> Any:
        r = http.get(case.path, params=case.params)
        r.raise_for_status()
        return r.json()

    timed = _timed({"server": ask, "floor": lambda: floor.execute(case.floor).fetchall()},
                   args.repeat)
    (s_times, body), (f_times, rows) = timed["server"], timed["floor"]
    server, plain = statistics.median(s_times), statistics.median(f_times)
    same = case.answer_numbers(body) == case.floor_numbers(rows)
    print(f"  {name:<72} {server:7.3f}s {plain:7.3f}s {server / plain:5.2f}×  "
          f"{'same' if same else 'DIFFERENT'}", flush=True)
    SUMMARY[name] = {"server": s_times, "floor": f_times, "same": same}


SUMMARY: dict[str, dict[str, Any]] = {}


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
    # the floors read a copy: the server holds its file's lock
    copy = args.db.with_name(args.db.stem + ".floor.duckdb")
    shutil.copyfile(args.db, copy)
    # latency, not the query-cost ledger, is measured here: repeated queries would exhaust it
    config = args.db.with_suffix(".server.yaml")
    config.write_text("dashboard_limits: {enabled: false}\n")
    floor = duckdb.connect(str(copy), read_only=True)
    try:
        with serve("--config", str(config), "--db", str(args.db), "--api-key", KEY,
                   "--secret-key", SECRET, "--project-id", str(PROJECT)) as url, \
                httpx.Client(base_url=url, auth=(KEY, SECRET), timeout=300) as http:
            print(f"{args.events:,} stored events; each query and its floor once untimed, then "
                  f"{args.repeat} times in turn (median); load average "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            print(f"  {'query':<72} {'server':>8} {'floor':>8} {'ratio':>6}  numbers")
            for name, case in QUERIES.items():
                if args.only in name:
                    _measure(args, name, case, http, floor)
    finally:
        floor.close()
        copy.unlink()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(json.dumps(SUMMARY))

if __name__ == "__main__":
    main()
