"""``/api/2/funnels``: Amplitude's "earliest-longest" rule, checked against a plain-Python
reference computed from the events each test sends.

Amplitude's help pages: a user enters the funnel with *any* step-1 event in the date range and
must complete the later steps inside the conversion window counted from that event; of a user's
attempts the one that gets furthest counts, the earliest among equals — and everything reported
for the user (steps, times, group value, day) comes from it.  Their example: step 1 on Jan 1,
Jan 5 and Jan 20, step 2 on Jan 2 and Jan 6 → converted.

:func:`reference` tries every attempt of every user by brute force over the sorted event list
(nothing shared with the server's SQL) and builds the whole answer the server must give.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.server.conftest import KEY, SECRET, config

from ampkit.server import ProjectConfig, RunningServer, serve_in_thread

FUN = "/api/2/funnels"
TZ = "America/New_York"  # a DST change (2024-03-10) inside the ranges below
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MIN_MS = 60_000
IDENTIFY = {"$identify", "$groupidentify"}
DISPLAY = {"_active": "[Amplitude] Any Active Event", "_all": "[Amplitude] Any Event"}
TIME_EDGES = [0, 10_000, 30_000, 60_000, 180_000, 600_000, 1_800_000, 3_600_000, 10_800_000,
              86_400_000, 604_800_000]
COUNT_BINS: list[tuple[int, int | None]] = [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 11),
                                            (11, 21), (21, 51), (51, 101), (101, None)]


# --- the reference -----------------------------------------------------------------------------


@dataclass
class Query:
    steps: list[str]
    start: dt.date
    end: dt.date
    mode: str = "ordered"
    cs: int | None = None  # seconds; None = the default 30 days
    g: str | None = None  # an event column ("country", "platform")
    segment: dict[str, str] = field(default_factory=dict)  # column → the one value kept
    new: bool = False
    limit: int | None = None

    def window_ms(self) -> int:
        cs = 2_592_000 if self.cs is None else self.cs
        return max(cs // 86_400, 1) * DAY_MS if self.mode == "unordered" else cs * 1000

    def params(self) -> list[tuple[str, str]]:
        out = [("e", json.dumps({"event_type": s})) for s in self.steps]
        out += [("start", self.start.strftime("%Y%m%d")), ("end", self.end.strftime("%Y%m%d")),
                ("mode", self.mode)]
        if self.cs is not None:
            out.append(("cs", str(self.cs)))
        if self.g:
            out.append(("g", self.g))
        if self.segment:
            out.append(("s", json.dumps([{"prop": k, "op": "is", "values": [v]}
                                         for k, v in self.segment.items()])))
        if self.new:
            out.append(("n", "new"))
        if self.limit is not None:
            out.append(("limit", str(self.limit)))
        return out


@dataclass
class Attempt:
    entry: dict[str, Any]
    times: list[int]  # when each reached step was reached (unordered: all steps so far done)
    counts: list[int]  # per reached step after the first: previous-step events counted


def local_day(ms: int, tz: str = TZ) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).date()


def is_active(ev: dict[str, Any]) -> bool:
    return ev["event_type"] not in IDENTIFY


def is_step(ev: dict[str, Any], step: str) -> bool:
    if step == "_all":
        return True
    if step == "_active":
        return is_active(ev)
    return bool(ev["event_type"] == step)


def attempts(evs: list[dict[str, Any]], q: Query, tz: str) -> Iterator[Attempt]:
    """Every attempt of one user (``evs`` in time, then arrival, order), earliest first."""
    window = q.window_ms()

    def ok(ev: dict[str, Any], k: int) -> bool:
        if not is_step(ev, q.steps[k]):
            return False
        if any(ev.get(prop) != value for prop, value in q.segment.items()):
            return False
        # a later step of a sequential funnel is the next active event: never an inactive one
        return not (q.mode == "sequential" and k and not is_active(ev))

    for i, first in enumerate(evs):
        if not ok(first, 0) or not q.start <= local_day(first["time"], tz) <= q.end:
            continue
        t0 = first["time"]
        if q.mode == "unordered":
            firsts = [t0]
            for k in range(1, len(q.steps)):
                hits = [e["time"] for j, e in enumerate(evs)  # the entry fills step 1 only
                        if j != i and ok(e, k) and t0 <= e["time"] <= t0 + window]
                if not hits:
                    break
                firsts.append(min(hits))
            done = [max(firsts[:k + 1]) for k in range(len(firsts))]
            counts = [sum(1 for e in evs if ok(e, k - 1) and t0 <= e["time"] <= done[k])
                      for k in range(1, len(done))]
            yield Attempt(first, done, counts)
            continue
        at = [i]
        for k in range(1, len(q.steps)):
            if q.mode == "sequential":  # the user's very next active event, whatever it is
                nxt = next((j for j in range(at[-1] + 1, len(evs)) if is_active(evs[j])), None)
                if nxt is None or not ok(evs[nxt], k):
                    break
            else:
                nxt = next((j for j in range(at[-1] + 1, len(evs)) if ok(evs[j], k)), None)
            if nxt is None or evs[nxt]["time"] > t0 + window:
                break
            at.append(nxt)
        counts = [sum(1 for j in range(a, b) if ok(evs[j], k - 1))
                  for k, (a, b) in enumerate(pairwise(at), 1)]
        yield Attempt(first, [evs[j]["time"] for j in at], counts)


def histories(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """user → their events in time order, then ``event_id`` (none last), then arrival (= list)
    order."""
    by_user: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for i, ev in enumerate(events):
        by_user[ev["user_id"]].append((i, ev))

    def place(p: tuple[int, dict[str, Any]]) -> tuple[int, bool, int, int]:
        event_id = p[1].get("event_id")
        return (p[1]["time"], event_id is None, event_id or 0, p[0])

    return {user: [ev for _, ev in sorted(indexed, key=place)]
            for user, indexed in by_user.items()}


def chosen(events: list[dict[str, Any]], q: Query, tz: str = TZ) -> dict[str, Attempt]:
    """user → the attempt that counts: the deepest, the earliest among equals."""
    out = {}
    for user, evs in histories(events).items():
        if q.new:
            active_days = [local_day(e["time"], tz) for e in evs if is_active(e)]
            if not active_days or not q.start <= min(active_days) <= q.end:
                continue
        best: Attempt | None = None
        for attempt in attempts(evs, q, tz):
            if best is None or len(attempt.times) > len(best.times):
                best = attempt
        if best is not None:
            out[user] = best
    return out


def days_of(q: Query) -> list[dt.date]:
    return [q.start + dt.timedelta(days=k) for k in range((q.end - q.start).days + 1)]


def bins(values: list[int], edges: list[tuple[int, int | None]], *, closed: bool = False
         ) -> list[dict[str, Any]]:
    """``[start, end)`` bins; ``closed``: the last one is ``[start, end]`` (a conversion at the
    very end of the window, which is inside it)."""
    out = []
    for j, (lo, hi) in enumerate(edges):
        last = closed and j == len(edges) - 1
        inside = [v for v in values if v >= lo and (hi is None or v < hi or (last and v == hi))]
        out.append({"start": lo, "end": hi,
                    "bin_dist": {"users": len(inside), "count": len(inside),
                                 "propsum": sum(inside)}})
    return out


def one_group(users: list[Attempt], q: Query, tz: str) -> dict[str, Any]:
    n = len(q.steps)
    raw = [sum(1 for a in users if len(a.times) > k) for k in range(n)]

    def trans(k: int, keep: Callable[[Attempt], bool] = lambda a: True) -> list[int]:
        return [a.times[k] - a.times[k - 1] for a in users if len(a.times) > k and keep(a)]

    def med(x: list[int]) -> int:
        return round(statistics.median(x)) if x else 0

    def avg(x: list[int]) -> int:
        return round(sum(x) / len(x)) if x else 0

    days = days_of(q)
    labels = [d.isoformat() for d in days]
    formatted = [f"{d:%b} {d.day}" for d in days]

    def on(d: dt.date) -> Callable[[Attempt], bool]:
        return lambda a: local_day(a.entry["time"], tz) == d

    window = q.window_ms()
    time_edges = list(pairwise([e for e in TIME_EDGES if e < window] + [window]))
    return {
        "events": [DISPLAY.get(s, s) for s in q.steps],
        "cumulativeRaw": raw,
        "cumulative": [c / raw[0] if raw[0] else 0.0 for c in raw],
        "stepByStep": [c / raw[max(k - 1, 0)] if raw[max(k - 1, 0)] else 0.0
                       for k, c in enumerate(raw)],
        "medianTransTimes": [0] + [med(trans(k)) for k in range(1, n)],
        "avgTransTimes": [0] + [avg(trans(k)) for k in range(1, n)],
        "dayFunnels": {"series": [[sum(1 for a in users if len(a.times) > k and on(d)(a))
                                   for k in range(n)] for d in days],
                       "xValues": labels, "formattedXValues": formatted},
        "dayMedianTransTimes": {"series": [[0] + [med(trans(k, on(d))) for k in range(1, n)]
                                           for d in days],
                                "xValues": labels, "formattedXValues": formatted},
        "dayAvgTransTimes": {"series": [[0] + [avg(trans(k, on(d))) for k in range(1, n)]
                                        for d in days],
                             "xValues": labels, "formattedXValues": formatted},
        "stepTransTimeDistribution": [[]] + [
            bins(trans(k), list(time_edges), closed=True) for k in range(1, n)],
        "stepPrevStepCountDistribution": [[]] + [
            bins([a.counts[k - 1] for a in users if len(a.times) > k], COUNT_BINS)
            for k in range(1, n)],
    }


def reference(events: list[dict[str, Any]], q: Query, tz: str = TZ) -> list[dict[str, Any]]:
    """The ``data`` list the server must answer."""
    picked = chosen(events, q, tz)
    groups: dict[str | None, list[Attempt]] = defaultdict(list)
    for attempt in picked.values():
        value = attempt.entry.get(q.g) if q.g else None
        groups["(none)" if q.g and value is None else value].append(attempt)
    if not groups:
        groups["(none)" if q.g else None] = []
    order = sorted(groups, key=lambda g: (-len(groups[g]), str(g)))
    if q.g:
        order = order[:q.limit or 100]
    out = []
    for g in order:
        meta: dict[str, Any] = {"segmentIndex": 0}
        if q.g:
            meta["groupValue"] = g
        out.append({"meta": meta, **one_group(groups[g], q, tz)})
    return out


# --- the server --------------------------------------------------------------------------------


class Server:
    """One running server (project time zone :data:`TZ`); each :meth:`load` replaces the
    project's events."""

    def __init__(self, running: RunningServer) -> None:
        self.running = running
        self.http = httpx.Client(base_url=running.url, timeout=60)

    def load(self, events: list[dict[str, Any]]) -> None:
        self.http.post("/_ampkit/reset", auth=(KEY, SECRET)).raise_for_status()
        for i in range(0, len(events), 500):  # arrival order = list order
            r = self.http.post("/batch", json={"api_key": KEY, "events": events[i:i + 500]})
            assert r.status_code == 200, r.text

    def funnel(self, q: Query) -> list[dict[str, Any]]:
        r = self.http.get(FUN, params=q.params(), auth=(KEY, SECRET))
        assert r.status_code == 200, r.text
        data: list[dict[str, Any]] = r.json()["data"]
        return data


@contextmanager
def running_server() -> Iterator[Server]:
    running = serve_in_thread(config(throttle_enabled=False, projects=[
        ProjectConfig(project_id=1, api_key=KEY, secret_key=SECRET, timezone=TZ)]))
    srv = Server(running)
    try:
        yield srv
    finally:
        srv.http.close()
        running.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server() as srv:
        yield srv


def same(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    """Equal answers (the fractions compared with a tolerance)."""
    assert [g["meta"] for g in got] == [w["meta"] for w in want]
    for g, w in zip(got, want, strict=True):
        for key in ("cumulative", "stepByStep"):
            assert g[key] == pytest.approx(w[key]), key
        assert {k: v for k, v in g.items() if k not in ("cumulative", "stepByStep")} == \
            {k: v for k, v in w.items() if k not in ("cumulative", "stepByStep")}


def at(day: dt.date, hour: int, minute: int = 0) -> int:
    """ms of a local (``TZ``) wall-clock time."""
    return int(dt.datetime(day.year, day.month, day.day, hour, minute,
                           tzinfo=ZoneInfo(TZ)).timestamp() * 1000)


def ev(user: str, etype: str, ms: int, **props: Any) -> dict[str, Any]:
    """``user`` becomes ``user-<user>`` (ids are at least 5 characters)."""
    return {"event_type": etype, "user_id": f"user-{user}", "device_id": f"d-{user}", "time": ms,
            "platform": props.pop("platform", "Web"), "country": props.pop("country", "US"),
            **props}


# --- Amplitude's example and the cases the first attempt gets wrong ----------------------------

JAN = [dt.date(2024, 1, d) for d in range(1, 32)]


def amplitude_example() -> list[dict[str, Any]]:
    """Step 1 on Jan 1, Jan 5 and Jan 20, step 2 on Jan 2 and Jan 6.  With a one-day window
    the Jan 1 attempt misses (Jan 2 is 27 h later), the Jan 5 one converts in 15 h."""
    u = "amp-example"
    return [ev(u, "view", at(JAN[0], 9), country="US"),
            ev(u, "buy", at(JAN[1], 12)),
            ev(u, "view", at(JAN[4], 18), country="DE"),
            ev(u, "buy", at(JAN[5], 9)),
            ev(u, "view", at(JAN[19], 9), country="FR")]


@pytest.mark.parametrize("mode", ["ordered", "sequential", "unordered"])
def test_amplitudes_example_converts(server: Server, mode: str) -> None:
    events = amplitude_example()
    server.load(events)
    q = Query(["view", "buy"], JAN[0], JAN[-1], mode=mode, cs=86_400, g="country")
    (got,) = server.funnel(q)
    # the Jan 5 attempt: entered and converted, in 15 hours, attributed to Jan 5 and DE
    assert got["cumulativeRaw"] == [1, 1]
    assert got["meta"]["groupValue"] == "DE"
    assert got["medianTransTimes"] == [0, 15 * HOUR_MS]
    series = got["dayFunnels"]["series"]
    assert series[4] == [1, 1] and sum(map(sum, series)) == 2
    same(server.funnel(q), reference(events, q))
    # a window shorter than 15 h: no attempt converts, the earliest (Jan 1, US) counts — except
    # in unordered mode, whose window is whole days (at least one)
    q = Query(["view", "buy"], JAN[0], JAN[-1], mode=mode, cs=14 * 3600, g="country")
    (got,) = server.funnel(q)
    if mode == "unordered":
        assert got["cumulativeRaw"] == [1, 1] and got["meta"]["groupValue"] == "DE"
    else:
        assert got["cumulativeRaw"] == [1, 0] and got["meta"]["groupValue"] == "US"
        assert got["dayFunnels"]["series"][0] == [1, 0]
    same([got], reference(events, q))


MAR = [dt.date(2024, 3, d) for d in range(1, 32)]


def later_attempts() -> list[dict[str, Any]]:
    """Users whose first attempt is not the one that counts."""
    d = MAR
    return [
        # a: the first attempt reaches step 2 only; the second (DE) reaches step 3
        ev("a", "open", at(d[5], 8), country="US"),
        ev("a", "search", at(d[5], 8, 30)),
        ev("a", "open", at(d[7], 10), country="DE"),
        ev("a", "search", at(d[7], 10, 5)),
        ev("a", "play", at(d[7], 10, 20)),
        # b: two attempts reach every step: the earliest counts (its times, FR, Mar 6)
        ev("b", "open", at(d[5], 22), country="FR"),
        ev("b", "search", at(d[5], 22, 5)),
        ev("b", "play", at(d[5], 22, 15)),
        ev("b", "open", at(d[9], 12), country="US"),  # after the DST change
        ev("b", "search", at(d[9], 12, 1)),
        ev("b", "play", at(d[9], 12, 2)),
        # c: step 1 three times before step 2; a 1-hour window only fits the last
        ev("c", "open", at(d[6], 9), country="US"),
        ev("c", "open", at(d[6], 11), country="DE"),
        ev("c", "open", at(d[6], 13), country="FR"),
        ev("c", "search", at(d[6], 13, 40)),
        ev("c", "$identify", at(d[6], 13, 50)),
        ev("c", "play", at(d[6], 13, 55)),
        # e: the first attempt is interrupted (sequential) by another event, the second is not
        ev("e", "open", at(d[8], 9), country="US"),
        ev("e", "share", at(d[8], 9, 1)),
        ev("e", "search", at(d[8], 9, 2)),
        ev("e", "play", at(d[8], 9, 3)),
        ev("e", "open", at(d[8], 15), country="DE"),
        ev("e", "search", at(d[8], 15, 1)),
        ev("e", "play", at(d[8], 15, 2)),
        # f: step 2 and 3 happen before step 1: unordered enters at step 1 and looks forward
        ev("f", "search", at(d[7], 7)),
        ev("f", "play", at(d[7], 7, 10)),
        ev("f", "open", at(d[8], 7), country="DE"),
        ev("f", "play", at(d[8], 7, 30)),
        ev("f", "search", at(d[8], 8)),
        # g: an attempt outside the range (Mar 4) converts; the one inside (Mar 12) does not
        ev("g", "open", at(d[3], 23, 30)),
        ev("g", "search", at(d[4], 0, 10)),
        ev("g", "play", at(d[4], 0, 20)),
        ev("g", "open", at(d[11], 9), country="FR"),
        # h: a later attempt after the range's end day (Mar 12 is the last) never counts
        ev("h", "open", at(d[11], 23), country="US"),
        ev("h", "open", at(d[12], 1), country="DE"),
        ev("h", "search", at(d[12], 1, 5)),
    ]


@pytest.mark.parametrize("mode", ["ordered", "sequential", "unordered"])
@pytest.mark.parametrize("cs", [3600, 7200, 86_400, None])
def test_later_attempts_count(server: Server, mode: str, cs: int | None) -> None:
    events = later_attempts()
    server.load(events)
    q = Query(["open", "search", "play"], MAR[4], MAR[11], mode=mode, cs=cs, g="country")
    want = reference(events, q)
    same(server.funnel(q), want)
    by_user = chosen(events, q)
    assert sum(g["cumulativeRaw"][0] for g in want) == len(by_user) == 7
    # a deeper later attempt wins (with 30 days, a's first attempt reaches step 3 too, except
    # in sequential mode)
    if cs is not None or mode == "sequential":
        assert len(by_user["user-a"].times) == 3 and by_user["user-a"].entry["country"] == "DE"
    # the earliest of equals
    assert len(by_user["user-b"].times) == 3 and by_user["user-b"].entry["country"] == "FR"
    same(server.funnel(Query(q.steps, q.start, q.end, mode=mode, cs=cs)),
         reference(events, Query(q.steps, q.start, q.end, mode=mode, cs=cs)))


def test_first_attempt_rule_numbers_differ(server: Server) -> None:
    """The examples where the first-attempt rule and earliest-longest disagree, spelled out."""
    events = later_attempts()
    server.load(events)
    steps = ["open", "search", "play"]
    (ordered,) = server.funnel(Query(steps, MAR[4], MAR[11], cs=3600))
    # a (its second attempt), b, c (its third), e reach step 3; f reaches step 2 (search
    # exactly 1 h after open: the window's end is inside it); g's attempt in range and h stop
    # at step 1 (the first attempt alone: a and c would stop at steps 2 and 1)
    assert ordered["cumulativeRaw"] == [7, 5, 4]
    # the last bin (30 min .. 1 h) holds c (40 min) and f, whose step 2 is at the window's
    # very end: every converted user is in a bin
    assert [sum(b["bin_dist"]["users"] for b in step)
            for step in ordered["stepTransTimeDistribution"][1:]] == [5, 4]
    assert ordered["stepTransTimeDistribution"][1][-1] == {
        "start": 1_800_000, "end": 3_600_000,
        "bin_dist": {"users": 2, "count": 2, "propsum": 100 * MIN_MS}}
    (seq,) = server.funnel(Query(steps, MAR[4], MAR[11], mode="sequential", cs=3600))
    # c's $identify does not interrupt; e converts through its second attempt; f's next event
    # after open is play
    assert seq["cumulativeRaw"] == [7, 4, 4]
    (unordered,) = server.funnel(Query(steps, MAR[4], MAR[11], mode="unordered", cs=86_400))
    # a day: c's first attempt converts; f enters at its step 1 (Mar 9) and its earlier steps
    # don't count; h reaches search after midnight
    assert unordered["cumulativeRaw"] == [7, 6, 5]
    assert chosen(events, Query(steps, MAR[4], MAR[11], mode="unordered", cs=86_400))[
        "user-f"].times == [at(MAR[8], 7), at(MAR[8], 8), at(MAR[8], 8)]


def test_unordered_enters_only_at_step_one(server: Server) -> None:
    """Unordered funnels whose first step is rare: every user with step 1 in range enters,
    whatever they did before (the old rule anchored the window at the first event of any
    step and dropped them)."""
    events = []
    for k in range(12):
        u = f"u{k}"
        events += [ev(u, "browse", at(MAR[4], 8 + k % 5)),  # step 2 long before step 1
                   ev(u, "checkout", at(MAR[6 + k % 3], 10))]
        if k % 2:
            events.append(ev(u, "browse", at(MAR[6 + k % 3], 10, 30)))
    server.load(events)
    q = Query(["checkout", "browse"], MAR[4], MAR[10], mode="unordered", cs=86_400)
    (got,) = server.funnel(q)
    assert got["cumulativeRaw"] == [12, 6]
    same([got], reference(events, q))


@pytest.mark.parametrize("steps", [["Purchase", "Purchase"], ["_active", "Purchase"],
                                   ["_all", "Purchase"]])
def test_one_event_fills_one_step_in_any_order(server: Server, steps: list[str]) -> None:
    """Unordered: a lone Purchase enters a funnel whose step 1 it matches, and converts no
    further — the entry is not also the next step (a second Purchase is)."""
    events = [ev("one", "Purchase", at(MAR[5], 10)),
              ev("two", "Purchase", at(MAR[5], 10)), ev("two", "Purchase", at(MAR[5], 11))]
    server.load(events)
    for mode in ("unordered", "ordered"):
        q = Query(steps, MAR[5], MAR[5], mode=mode, cs=86_400)
        (got,) = server.funnel(q)
        assert got["cumulativeRaw"] == [2, 1]
        same([got], reference(events, q))


@pytest.mark.parametrize("ids", [(2, 1), (-(2**62), 2**62), (2**63 - 1, -(2**63))],
                         ids=["small", "huge-span", "whole-range"])
@pytest.mark.parametrize("mode", ["ordered", "sequential", "unordered"])
@pytest.mark.parametrize("shape", ["number", "struct"])
def test_event_id_orders_events_of_one_moment(server: Server, mode: str, ids: tuple[int, int],
                                              shape: str, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    """B and A sent in that order at the same millisecond, A's event_id the lower: A came first
    (reference §2.2, event_id orders "events sharing user and timestamp") — whatever range the
    ids span (a BIGINT, a HUGEINT position, or — past 10^8 events in range, forced here — a
    struct, where an id of 2^63 - 1 still sorts before none)."""
    if shape == "struct":
        from ampkit.server.query import funnels

        monkeypatch.setattr(funnels, "BIGINT_SPAN", 0)
        monkeypatch.setattr(funnels, "HUGEINT_SPAN", 0)
    moment = at(MAR[5], 10)
    events = [ev("tied", "B", moment, event_id=max(ids)),
              ev("tied", "A", moment, event_id=min(ids)), ev("none", "B", moment),
              ev("none", "A", moment, event_id=max(ids))]  # an id sorts before none: A, B
    server.load(events)
    q = Query(["A", "B"], MAR[5], MAR[5], mode=mode, cs=86_400)
    (got,) = server.funnel(q)
    assert got["cumulativeRaw"] == [2, 2]
    same([got], reference(events, q))


def test_sequential_needs_the_next_active_event(server: Server) -> None:
    d = MAR[6]
    events = [
        # the segment drops the iOS event, but it still interrupts
        ev("s1", "open", at(d, 9)), ev("s1", "share", at(d, 9, 1), platform="iOS"),
        ev("s1", "search", at(d, 9, 2)),
        # identify events don't interrupt
        ev("s2", "open", at(d, 9)), ev("s2", "$identify", at(d, 9, 1)),
        ev("s2", "search", at(d, 9, 2)),
        # the same time: arrival order decides ("search" arrived before "open")
        ev("s3", "search", at(d, 10)), ev("s3", "open", at(d, 10)),
        ev("s3", "open", at(d, 11)), ev("s3", "search", at(d, 11)),
        # the second attempt is the one that counts
        ev("s4", "open", at(d, 9)), ev("s4", "open", at(d, 9, 2)),
        ev("s4", "search", at(d, 9, 3)),
    ]
    server.load(events)
    for seg in ({}, {"platform": "Web"}):
        q = Query(["open", "search"], MAR[4], MAR[10], mode="sequential", cs=600, segment=seg)
        got = server.funnel(q)
        same(got, reference(events, q))
        assert got[0]["cumulativeRaw"] == [4, 3]


# --- exact answers over a larger event set ----------------------------------------------------


def many_attempts(seed: int = 7) -> list[dict[str, Any]]:
    """80 users, each with several sessions of random steps over 9 days around the range."""
    import random

    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    types = ["open", "open", "search", "play", "share", "$identify"]
    for k in range(80):
        u = f"{k:03d}"
        platform = rng.choice(["Web", "iOS"])
        for _ in range(rng.randint(1, 6)):
            t = at(MAR[4], 0) + rng.randint(-DAY_MS, 8 * DAY_MS)
            for _ in range(rng.randint(1, 8)):
                events.append(ev(u, rng.choice(types), t, country=rng.choice("ABC"),
                                 platform=platform if rng.random() < 0.8 else "Android"))
                t += rng.choice([0, 1000, 30_000, 5 * MIN_MS, 40 * MIN_MS, 3 * HOUR_MS])
    rng.shuffle(events)  # arrival order is not time order
    return events


@pytest.fixture(scope="module")
def loaded() -> Iterator[tuple[Server, list[dict[str, Any]]]]:
    """A server of its own, loaded once."""
    with running_server() as server:
        events = many_attempts()
        server.load(events)
        yield server, events


@pytest.mark.parametrize("mode", ["ordered", "sequential", "unordered"])
@pytest.mark.parametrize("cs", [60, 1800, 86_400, 3 * 86_400, None])
@pytest.mark.parametrize("steps", [["open", "search", "play"], ["open", "play"],
                                   ["search", "open", "open"], ["open"],
                                   ["open", "search", "open", "play"]])
def test_exact_answers(loaded: tuple[Server, list[dict[str, Any]]], mode: str,
                       cs: int | None, steps: list[str]) -> None:
    server, events = loaded
    q = Query(steps, MAR[5], MAR[10], mode=mode, cs=cs)
    want = reference(events, q)
    same(server.funnel(q), want)
    assert want[0]["cumulativeRaw"][0] > 20


@pytest.mark.parametrize("mode", ["ordered", "sequential", "unordered"])
def test_exact_answers_by_group_with_a_segment(loaded: tuple[Server, list[dict[str, Any]]],
                                               mode: str) -> None:
    server, events = loaded
    for q in [Query(["open", "search", "play"], MAR[5], MAR[10], mode=mode, cs=3 * 3600,
                    g="country"),
              Query(["open", "search", "play"], MAR[5], MAR[10], mode=mode, cs=86_400,
                    g="country", segment={"platform": "Web"}),
              Query(["open", "search"], MAR[5], MAR[10], mode=mode, cs=86_400, g="platform",
                    limit=2),
              Query(["open", "_active", "play"], MAR[5], MAR[10], mode=mode, cs=7200),
              Query(["_active", "play"], MAR[5], MAR[10], mode=mode, cs=600, new=True),
              Query(["_all", "search"], MAR[5], MAR[10], mode=mode, cs=600)]:
        want = reference(events, q)
        same(server.funnel(q), want)
        assert sum(g["cumulativeRaw"][1] for g in want) > 0


def test_wide_positions_give_the_same_answers(loaded: tuple[Server, list[dict[str, Any]]],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Events are numbered by (time, arrival) with a BIGINT when the numbers fit, else with a
    HUGEINT: forcing the wide one gives the same answers."""
    from ampkit.server.query import funnels

    server, events = loaded
    queries = [Query(["open", "search", "play"], MAR[5], MAR[10], mode=mode, cs=7200,
                     g="country") for mode in ("ordered", "sequential", "unordered")]
    queries.append(Query(["_all", "search", "open", "play"], MAR[5], MAR[10],
                         mode="sequential", cs=86_400))
    narrow = [server.funnel(q) for q in queries]
    monkeypatch.setattr(funnels, "BIGINT_SPAN", 0)
    wide = [server.funnel(q) for q in queries]
    assert wide == narrow
    for q, got in zip(queries, wide, strict=True):
        same(got, reference(events, q))


def test_the_first_attempt_rule_would_differ(loaded: tuple[Server, list[dict[str, Any]]]
                                             ) -> None:
    """Guards the data: on it, the first attempt alone gives other answers in every mode."""
    _, events = loaded
    for mode in ("ordered", "sequential", "unordered"):
        q = Query(["open", "search", "play"], MAR[5], MAR[10], mode=mode, cs=1800)
        picked = chosen(events, q)
        history = histories(events)
        first = {u: next(attempts(history[u], q, TZ)) for u in picked}
        deeper = [u for u in picked if len(picked[u].times) > len(first[u].times)]
        assert len(deeper) >= 3, mode


# --- random event sets --------------------------------------------------------------------------

BASE = at(MAR[6], 0)


@st.composite
def event_sets(draw: st.DrawFn) -> tuple[list[dict[str, Any]], Query]:
    users = draw(st.integers(1, 4))
    events = []
    for k in range(users):
        for _ in range(draw(st.integers(0, 9))):
            events.append(ev(f"p{k}", draw(st.sampled_from(["a", "b", "c", "x", "$identify"])),
                             BASE + draw(st.integers(-6, 60)) * HOUR_MS // 2
                             + draw(st.sampled_from([0, 0, 1000, 59_000])),
                             country=draw(st.sampled_from(["US", "DE"])),
                             platform=draw(st.sampled_from(["Web", "Web", "iOS"]))))
    mode = draw(st.sampled_from(["ordered", "sequential", "unordered"]))
    steps = draw(st.sampled_from([["a", "b"], ["a", "b", "c"], ["a", "a", "b"], ["b", "a"],
                                  ["a", "_active"], ["_active", "c"], ["a", "b", "a", "c"],
                                  ["_all", "b", "c"]]))
    q = Query(steps, MAR[6], MAR[7], mode=mode,
              cs=draw(st.sampled_from([1, 1800, 3600, 4 * 3600, 86_400, 2 * 86_400])),
              g=draw(st.sampled_from([None, "country"])),
              segment=draw(st.sampled_from([{}, {"platform": "Web"}])))
    return events, q


@settings(max_examples=50, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(case=event_sets())
def test_random_event_sets_match_the_reference(
        server: Server, case: tuple[list[dict[str, Any]], Query]) -> None:
    events, q = case
    server.load(events)
    same(server.funnel(q), reference(events, q))
