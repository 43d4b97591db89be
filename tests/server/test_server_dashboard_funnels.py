"""``/api/2/funnels`` and ``/api/2/retention`` against plain-Python re-computations of the
same events (project time zone America/New_York)."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections import defaultdict
from itertools import pairwise
from typing import Any

import pytest
from tests.server.conftest import KEY, SECRET, Api
from tests.server.test_server_dashboard_common import (
    EVENTS,
    RANGE,
    START,
    Dash,
    active,
    dash,
    day,
    days,
    in_range,
)

from ampkit.server.query import retention

__all__ = ["dash"]

FUN = "/api/2/funnels"
RET = "/api/2/retention"
INDEXED = list(enumerate(EVENTS))  # arrival order breaks ties in time


def by_user() -> dict[str, list[tuple[int, dict[str, Any]]]]:
    out: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for i, ev in INDEXED:
        out[ev["user_id"]].append((i, ev))
    for evs in out.values():
        evs.sort(key=lambda p: (p[1]["time"], p[0]))
    return out


def walk(steps: list[str], window_ms: int, sequential: bool = False
         ) -> dict[str, tuple[dict[str, Any], list[int], list[int]]]:
    """user → (entering event, [time of each step reached], [previous-step events done from
    the previous step's event up to this step's, per step reached after the first]) of the
    attempt that counts: each step-1 event in the range starts one, the one reaching the most
    steps counts, the earliest among equals (Amplitude's "earliest-longest")."""
    out: dict[str, tuple[dict[str, Any], list[int], list[int]]] = {}
    for user, evs in by_user().items():
        seq = [p for p in evs if active(p[1])]
        for entry, (_, first) in enumerate(seq):
            if first["event_type"] != steps[0] or not in_range(first):
                continue
            t0 = first["time"]
            times, counts, pos = [t0], [], entry
            for k, step in enumerate(steps[1:], 1):
                cands = [j for j in range(pos + 1, len(seq)) if seq[j][1]["event_type"] == step
                         and seq[j][1]["time"] <= t0 + window_ms]
                if sequential:
                    cands = [j for j in cands if j == pos + 1]
                if not cands:
                    break
                counts.append(sum(1 for j in range(pos, cands[0])
                                  if seq[j][1]["event_type"] == steps[k - 1]))
                pos = cands[0]
                times.append(seq[pos][1]["time"])
            if user not in out or len(times) > len(out[user][1]):
                out[user] = (first, times, counts)
    return out


def ordered(steps: list[str], window_ms: int, sequential: bool = False
            ) -> dict[str, tuple[dict[str, Any], list[int]]]:
    """user → (entering event, [time of each step reached])."""
    return {user: (entry, times)
            for user, (entry, times, _) in walk(steps, window_ms, sequential).items()}


def unordered_counts(steps: list[str], window_ms: int) -> list[list[int]]:
    """Per step after the first, each converting user's previous-step events from the window's
    start until the step was reached."""
    out: list[list[int]] = [[] for _ in steps[1:]]
    evs_of = by_user()
    for user, (first, done) in unordered(steps, window_ms).items():
        for k in range(1, len(done)):
            out[k - 1].append(sum(1 for _, e in evs_of[user] if e["event_type"] == steps[k - 1]
                                  and first["time"] <= e["time"] <= done[k]))
    return out


def unordered(steps: list[str], window_ms: int) -> dict[str, tuple[dict[str, Any], list[int]]]:
    """user → (entering event, [when steps 1..k were all first done, per step reached]): an
    attempt per step-1 event in the range, its window starting there; earliest-longest."""
    out: dict[str, tuple[dict[str, Any], list[int]]] = {}
    for user, evs in by_user().items():
        for _, first in evs:
            if first["event_type"] != steps[0] or not in_range(first):
                continue
            t0 = first["time"]
            firsts = []
            for step in steps:
                hit = [e["time"] for _, e in evs
                       if e["event_type"] == step and t0 <= e["time"] <= t0 + window_ms]
                if not hit:
                    break
                firsts.append(min(hit))
            if user not in out or len(firsts) > len(out[user][1]):
                out[user] = (first, [max(firsts[:k + 1]) for k in range(len(firsts))])
    return out


def expected(result: dict[str, tuple[dict[str, Any], list[int]]], n: int) -> dict[str, Any]:
    raw = [sum(1 for _, t in result.values() if len(t) > k) for k in range(n)]
    trans: list[list[int]] = [[] for _ in range(n)]
    for _, times in result.values():
        for k in range(1, len(times)):
            trans[k].append(times[k] - times[k - 1])
    return {
        "cumulativeRaw": raw,
        "cumulative": [c / raw[0] if raw[0] else 0 for c in raw],
        "stepByStep": [c / raw[max(k - 1, 0)] if raw[max(k - 1, 0)] else 0
                       for k, c in enumerate(raw)],
        "medianTransTimes": [round(statistics.median(x)) if k and x else 0
                             for k, x in enumerate(trans)],
        "avgTransTimes": [round(statistics.mean(x)) if k and x else 0
                          for k, x in enumerate(trans)],
    }


EDGES = [0, 10_000, 30_000, 60_000, 180_000, 600_000, 1_800_000, 3_600_000, 10_800_000,
         86_400_000, 604_800_000]  # the documented bins of stepTransTimeDistribution


def distribution(result: dict[str, tuple[dict[str, Any], list[int]]], n: int,
                 window_ms: int) -> list[list[dict[str, Any]]]:
    edges = [e for e in EDGES if e < window_ms] + [window_ms]
    out: list[list[dict[str, Any]]] = [[]]
    for k in range(1, n):
        times = [t[k] - t[k - 1] for _, t in result.values() if len(t) > k]
        step = []
        for lo, hi in pairwise(edges):  # the window's end is inside the window: the last bin
            inside = [x for x in times if lo <= x < hi or x == hi == window_ms]
            step.append({"start": lo, "end": hi, "bin_dist": {
                "users": len(inside), "count": len(inside), "propsum": sum(inside)}})
        out.append(step)
    return out


COUNT_EDGES = [1, 2, 3, 4, 5, 6, 11, 21, 51, 101]  # our bins of stepPrevStepCountDistribution


def count_distribution(per_step: list[list[int]]) -> list[list[dict[str, Any]]]:
    bins: list[tuple[int, int | None]] = [*pairwise(COUNT_EDGES), (COUNT_EDGES[-1], None)]
    out: list[list[dict[str, Any]]] = [[]]
    for counts in per_step:
        step = []
        for lo, hi in bins:
            inside = [c for c in counts if c >= lo and (hi is None or c < hi)]
            step.append({"start": lo, "end": hi, "bin_dist": {
                "users": len(inside), "count": len(inside), "propsum": sum(inside)}})
        out.append(step)
    return out


def check(got: dict[str, Any], result: dict[str, tuple[dict[str, Any], list[int]]],
          n: int, window_ms: int | None = None) -> None:
    exp = expected(result, n)
    if window_ms is not None:
        assert got["stepTransTimeDistribution"] == distribution(result, n, window_ms)
        converted = [sum(b["bin_dist"]["users"] for b in step)
                     for step in got["stepTransTimeDistribution"][1:]]
        assert converted == got["cumulativeRaw"][1:]
    assert got["cumulativeRaw"] == exp["cumulativeRaw"]
    assert got["cumulative"] == pytest.approx(exp["cumulative"])
    assert got["stepByStep"] == pytest.approx(exp["stepByStep"])
    assert got["medianTransTimes"] == exp["medianTransTimes"]
    assert got["avgTransTimes"] == exp["avgTransTimes"]
    per_day = [[sum(1 for entry, t in result.values() if day(entry["time"]) == d and len(t) > k)
                for k in range(n)] for d in days()]
    assert got["dayFunnels"]["series"] == per_day
    assert got["dayFunnels"]["xValues"] == [d.isoformat() for d in days()]


STEPS = ["open", "search", "play"]


def steps_param(names: list[str]) -> tuple[dict[str, str], ...]:
    return tuple({"event_type": n} for n in names)


@pytest.mark.parametrize("mode", ["ordered", "sequential"])
@pytest.mark.parametrize("cs", [None, 900, 3600])
def test_ordered_and_sequential_funnels(dash: Dash, mode: str, cs: int | None) -> None:
    params: dict[str, Any] = {"e": steps_param(STEPS), "mode": mode, **RANGE}
    if cs is not None:
        params["cs"] = str(cs)
    (got,) = dash.data(FUN, **params)
    walked = walk(STEPS, (cs or 2_592_000) * 1000, sequential=mode == "sequential")
    result = {user: (entry, times) for user, (entry, times, _) in walked.items()}
    assert got["events"] == STEPS and got["meta"] == {"segmentIndex": 0}
    assert result and got["cumulativeRaw"][0] == len(result)
    assert got["cumulativeRaw"][-1] > 0
    check(got, result, len(STEPS), (cs or 2_592_000) * 1000)
    counts = [[c[k] for _, _, c in walked.values() if len(c) > k] for k in range(len(STEPS) - 1)]
    assert got["stepPrevStepCountDistribution"] == count_distribution(counts)
    if mode == "sequential":  # the next event is the step: the previous step was done once
        assert all(c == 1 for step in counts for c in step)
    else:  # the data has users who repeat a step before going on
        assert any(c > 1 for step in counts for c in step)


def test_unordered_funnel_rounds_the_window_to_days(dash: Dash) -> None:
    (got,) = dash.data(FUN, e=steps_param(STEPS), mode="unordered", cs="100000", **RANGE)
    result = unordered(STEPS, 86_400_000)
    exp = expected(result, len(STEPS))
    assert got["cumulativeRaw"] == exp["cumulativeRaw"]
    assert got["medianTransTimes"] == exp["medianTransTimes"]
    # the bins stop at the rounded window: one day
    assert got["stepTransTimeDistribution"] == distribution(result, len(STEPS), 86_400_000)
    assert got["stepTransTimeDistribution"][1][-1]["end"] == 86_400_000
    counts = unordered_counts(STEPS, 86_400_000)
    assert got["stepPrevStepCountDistribution"] == count_distribution(counts)
    assert [len(c) for c in counts] == got["cumulativeRaw"][1:]


def test_funnel_default_mode_is_ordered_and_default_window_30_days(dash: Dash) -> None:
    (got,) = dash.data(FUN, e=steps_param(["open", "buy"]), **RANGE)
    check(got, ordered(["open", "buy"], 2_592_000_000), 2)


def test_funnel_group_by_and_limit(dash: Dash) -> None:
    data = dash.data(FUN, e=steps_param(["open", "play"]), g="country", **RANGE)
    result = ordered(["open", "play"], 2_592_000_000)
    groups: dict[str, dict[str, Any]] = defaultdict(dict)
    for user, (entry, times) in result.items():
        groups[entry["country"]][user] = (entry, times)
    order = sorted(groups, key=lambda c: (-len(groups[c]), c))
    assert [g["meta"] for g in data] == [{"segmentIndex": 0, "groupValue": c} for c in order]
    for got, country in zip(data, order, strict=True):
        check(got, groups[country], 2)
    top = dash.data(FUN, e=steps_param(["open", "play"]), g="country", limit="1", **RANGE)
    assert [g["meta"]["groupValue"] for g in top] == order[:1]


def test_funnel_new_users_and_segments(dash: Dash) -> None:
    first: dict[str, int] = {}
    for ev in EVENTS:
        if active(ev):
            first.setdefault(ev["user_id"], ev["time"])
    new = {u for u, t in first.items() if START <= day(t) <= days()[-1]}
    (got,) = dash.data(FUN, e=steps_param(["open", "play"]), n="new", **RANGE)
    result = {u: r for u, r in ordered(["open", "play"], 2_592_000_000).items() if u in new}
    check(got, result, 2)
    (got,) = dash.data(FUN, e=steps_param(["open", "play"]), s=[
        {"prop": "platform", "op": "is", "values": ["Web"]}], **RANGE)
    assert got["cumulativeRaw"][0] == len({e["user_id"] for e in EVENTS if e["event_type"] == "open"
                                           and e.get("platform") == "Web" and in_range(e)})


def test_funnel_special_events_and_errors(dash: Dash) -> None:
    (got,) = dash.data(FUN, e=({"event_type": "_active"}, {"event_type": "buy"}), **RANGE)
    assert got["events"] == ["[Amplitude] Any Active Event", "buy"]
    assert got["cumulativeRaw"][0] == len({e["user_id"] for e in EVENTS
                                           if active(e) and in_range(e)})
    err = dash.error(FUN, e=({"event_type": "open"}, "{nope"), **RANGE)
    assert err["metadata"]["parameter"] == "e" and "[1]" in err["metadata"]["details"]
    assert dash.error(FUN, **RANGE)["metadata"]["parameter"] == "e"
    err = dash.error(FUN, e=steps_param(STEPS), mode="shuffled", **RANGE)
    assert err["metadata"]["parameter"] == "mode"
    err = dash.error(FUN, e=steps_param(STEPS), cs="0", **RANGE)
    assert err["metadata"]["parameter"] == "cs"


# --- retention -------------------------------------------------------------------------------


def cohorts(start_type: str, return_type: str) -> tuple[
        dict[str, dt.date], dict[str, set[int]]]:
    """user → cohort day; user → set of day offsets with a return."""
    start_of: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, ev in INDEXED:
        if in_range(ev) and (ev["event_type"] == start_type or (
                start_type == "_active" and active(ev))):
            start_of.setdefault(ev["user_id"], (i, ev))
    offsets: dict[str, set[int]] = defaultdict(set)
    for i, ev in INDEXED:
        user = ev["user_id"]
        if user not in start_of or not (ev["event_type"] == return_type or (
                return_type == "_active" and active(ev))):
            continue
        si, sev = start_of[user]
        if (ev["time"], i) > (sev["time"], si):
            offsets[user].add((day(ev["time"]) - day(sev["time"])).days)
    return {u: day(e["time"]) for u, (_, e) in start_of.items()}, offsets


def fmt(d: dt.date) -> str:
    return f"{d.strftime('%b')} {d.day}"


@pytest.mark.parametrize("method", ["n-day", "rolling"])
def test_retention_cells(dash: Dash, method: str) -> None:
    params: dict[str, Any] = {"se": {"event_type": "open"}, "re": {"event_type": "play"},
                              **RANGE}
    if method == "rolling":
        params["rm"] = "rolling"
    data = dash.data(RET, **params)
    (series,) = data["series"]
    assert data["seriesMeta"] == [{"segmentIndex": 0, "eventIndex": 0}]
    cohort, offsets = cohorts("open", "play")
    n = len(days())
    assert series["dates"] == [fmt(d) for d in reversed(days())]
    combined = [[0, 0] for _ in range(n + 1)]
    for c, d in enumerate(days()):
        users = [u for u, cd in cohort.items() if cd == d]
        cells = series["values"][fmt(d)]
        assert len(cells) == n + 1  # Day 0 … Day n
        # Day 0 is the cohort itself (a return later that day makes no cell of its own)
        assert cells[0] == {"count": len(users), "outof": len(users), "incomplete": False}
        for k in range(1, n + 1):
            if method == "rolling":
                kept = sum(1 for u in users if any(o >= k for o in offsets[u]))
            else:
                kept = sum(1 for u in users if k in offsets[u])
            assert cells[k] == {"count": kept, "outof": len(users), "incomplete": False}
            if c + k <= n - 1:  # the cell lies within the range
                combined[k][0] += kept
                combined[k][1] += len(users)
        combined[0][0] += len(users)
        combined[0][1] += len(users)
    combined[0] = [len(cohort), len(cohort)]
    assert [[c["count"], c["outof"]] for c in series["combined"]] == combined
    assert all(c["retainedSetId"] is None for c in series["combined"])


def test_retention_brackets_and_new_users(dash: Dash) -> None:
    data = dash.data(RET, se={"event_type": "_active"}, re={"event_type": "_active"},
                     rm="bracket", rb=[[0, 2], [2, 5]], **RANGE)
    cohort, offsets = cohorts("_active", "_active")
    (series,) = data["series"]
    for d in days():
        users = [u for u, cd in cohort.items() if cd == d]
        cells = series["values"][fmt(d)]
        assert [c["count"] for c in cells] == [
            len(users), len(users),  # [0, 2) holds Day 0: the whole cohort
            sum(1 for u in users if offsets[u] & {2, 3, 4})]
    new = dash.data(RET, se={"event_type": "_new"}, re={"event_type": "_all"}, **RANGE)
    first: dict[str, int] = {}
    for ev in EVENTS:
        if active(ev):
            first.setdefault(ev["user_id"], ev["time"])
    sizes = {fmt(d): sum(1 for t in first.values() if day(t) == d) for d in days()}
    assert {k: v[0]["count"] for k, v in new["series"][0]["values"].items()} == sizes
    assert sum(sizes.values()) > 0


def test_retention_weekly_group_by_and_errors(dash: Dash) -> None:
    data = dash.data(RET, se={"event_type": "open"}, re={"event_type": "open"}, i="7",
                     g="platform", **RANGE)
    cohort, _ = cohorts("open", "open")
    platform = {e["user_id"]: e["platform"] for e in EVENTS if "platform" in e}
    sizes: dict[str, int] = defaultdict(int)
    for user in cohort:
        sizes[platform[user]] += 1
    assert [m["groupValue"] for m in data["seriesMeta"]] == sorted(
        sizes, key=lambda p: (-sizes[p], p))
    for series, meta in zip(data["series"], data["seriesMeta"], strict=True):
        assert series["dates"] == ["Mar 10", "Mar 7"]
        assert series["combined"][0]["count"] == sizes[meta["groupValue"]]
    for params, param in [
        ({"se": {"event_type": "open"}}, "re"),
        ({"se": "{x", "re": {"event_type": "open"}}, "se"),
        ({"se": {"event_type": "open"}, "re": {"event_type": "open"}, "rm": "bracket"}, "rb"),
        ({"se": {"event_type": "open"}, "re": {"event_type": "open"}, "rm": "bracket",
          "rb": [[3, 1]]}, "rb"),
        ({"se": {"event_type": "open"}, "re": {"event_type": "_new"}}, "re"),
        ({"se": {"event_type": "open"}, "re": {"event_type": "open"}, "i": "-3600000"}, "i"),
    ]:
        assert dash.error(RET, **params, **RANGE)["metadata"]["parameter"] == param


def test_an_answer_past_the_cell_cap_is_refused_before_it_is_built(dash: Dash) -> None:
    """A year of daily cohorts grouped by user (16 here): 16 × 365 × 366 cells, 90 MB — refused
    with a 400 naming ``g`` and the count; without the group-by the year is answered."""
    year = {"start": "20230315", "end": "20240313"}
    opens = {"se": {"event_type": "open"}, "re": {"event_type": "open"}}
    users = len({e["user_id"] for e in EVENTS if e["event_type"] == "open"})
    assert users * 365 * 366 > retention.MAX_CELLS >= 365 * 366
    error = dash.error(RET, **opens, g="user_id", **year)
    assert error["metadata"]["parameter"] == "g"
    assert f"{users} groups × 365 cohorts × 366 columns" in error["metadata"]["details"]
    (series,) = dash.data(RET, **opens, **year)["series"]
    assert len(series["values"]) == 365
    weekly = dash.data(RET, **opens, g="user_id", i="7", **year)  # 53 weeks fit
    assert len(weekly["series"]) == users


def test_retention_cells_of_intervals_not_over_are_incomplete(api: Api) -> None:
    now = time.time_ns() // 1_000_000
    events = [{"event_type": "open", "user_id": "user-00001", "time": now - 2000},
              {"event_type": "play", "user_id": "user-00001", "time": now - 1000}]
    assert api.post_events(events).status_code == 200
    today = dt.datetime.fromtimestamp(now / 1000, dt.UTC).date()  # the conftest project is UTC
    r = api.http.get(RET, auth=(KEY, SECRET), params={
        "se": '{"event_type": "open"}', "re": '{"event_type": "play"}',
        "start": (today - dt.timedelta(days=1)).strftime("%Y%m%d"),
        "end": today.strftime("%Y%m%d")})
    assert r.status_code == 200, r.text
    series = r.json()["data"]["series"][0]
    cells = series["values"][fmt(today)]
    # Day 0 (today) is the cohort; Days 1 and 2 have not begun
    assert cells == [{"count": 1, "outof": 1, "incomplete": False},
                     {"count": 0, "outof": 1, "incomplete": True},
                     {"count": 0, "outof": 1, "incomplete": True}]
    assert series["combined"][0] == {"count": 1, "outof": 1, "retainedSetId": None,
                                     "incomplete": False}
    # Day 1 of today's cohort lies past the range: only yesterday's (empty) cohort counts
    assert series["combined"][1] == {"count": 0, "outof": 0, "retainedSetId": None,
                                     "incomplete": True}


def test_retention_bitmask_and_grouping_paths_agree(dash: Dash,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Short ranges use per-user offset bitmasks; long ones group events by interval.  Both
    must give the same cells."""
    from ampkit.server.query import retention

    queries: list[dict[str, Any]] = [
        {"se": {"event_type": "open"}, "re": {"event_type": "play"}},
        {"se": {"event_type": "open"}, "re": {"event_type": "play"}, "rm": "rolling"},
        {"se": {"event_type": "_new"}, "re": {"event_type": "_all"}},
        {"se": {"event_type": "_active"}, "re": {"event_type": "_active"}, "rm": "bracket",
         "rb": [[0, 2], [2, 5]]},
        {"se": {"event_type": "open"}, "re": {"event_type": "open"}, "i": "7",
         "g": "platform"},
    ]
    masked = [dash.data(RET, **q, **RANGE) for q in queries]
    monkeypatch.setattr(retention, "MASK_BITS", 0)
    grouped = [dash.data(RET, **q, **RANGE) for q in queries]
    assert masked == grouped
    assert any(c["count"] for m in masked for s in m["series"] for c in s["combined"][1:])
