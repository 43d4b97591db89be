"""``/api/2/events/segmentation``: every metric, filters, segments, group-bys, intervals,
rolling windows and the 400s — numbers computed here from the same events."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
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
    local,
    start_dash,
)

__all__ = ["dash"]

SEG = "/api/2/events/segmentation"
T0 = 1_709_294_400_000  # 2024-03-01 12:00 UTC: that day in any project time zone
Pred = Callable[[dict[str, Any]], bool]


def of_type(name: str) -> Pred:
    return lambda e: e["event_type"] == name


def daily(pred: Pred, value: Callable[[list[dict[str, Any]]], float],
          ds: list[dt.date] | None = None) -> list[float]:
    buckets: dict[dt.date, list[dict[str, Any]]] = defaultdict(list)
    for ev in EVENTS:
        if pred(ev):
            buckets[day(ev["time"])].append(ev)
    return [value(buckets[d]) for d in (ds or days())]


def uniques(evs: list[dict[str, Any]]) -> int:
    return len({e["user_id"] for e in evs})


def totals(evs: list[dict[str, Any]]) -> int:
    return len(evs)


def whole(pred: Pred) -> list[dict[str, Any]]:
    return [e for e in EVENTS if pred(e) and in_range(e)]


def test_uniques_is_the_default_metric(dash: Dash) -> None:
    data = dash.data(SEG, e={"event_type": "open"}, **RANGE)
    assert data["xValues"] == [d.isoformat() for d in days()]
    assert data["series"] == [daily(of_type("open"), uniques)]
    assert data["seriesCollapsed"] == [[{"value": uniques(whole(of_type("open")))}]]
    assert data["seriesLabels"] == [0]
    assert data["seriesMeta"] == [{"segmentIndex": 0, "eventIndex": 0}]


def test_totals_average_and_pct_dau(dash: Dash) -> None:
    open_ = of_type("open")
    got = dash.data(SEG, e={"event_type": "open"}, m="totals", **RANGE)
    assert got["series"] == [daily(open_, totals)]
    got = dash.data(SEG, e={"event_type": "open"}, m="average", **RANGE)
    expected = [t / u if u else 0 for t, u in zip(daily(open_, totals), daily(open_, uniques),
                                                  strict=True)]
    assert got["series"][0] == pytest.approx(expected)
    got = dash.data(SEG, e={"event_type": "open"}, m="pct_dau", **RANGE)
    dau = daily(active, uniques)
    expected = [100 * u / a if a else 0 for u, a in zip(daily(open_, uniques), dau,
                                                        strict=True)]
    assert got["series"][0] == pytest.approx(expected)
    assert got["seriesCollapsed"][0][0]["value"] == pytest.approx(
        100 * uniques(whole(open_)) / uniques(whole(active)))


def test_special_events(dash: Dash) -> None:
    got = dash.data(SEG, e={"event_type": "_active"}, m="totals", **RANGE)
    assert got["series"] == [daily(active, totals)]
    got = dash.data(SEG, e={"event_type": "_all"}, m="totals", n="any", **RANGE)
    assert got["series"] == [daily(lambda e: True, totals)]
    # n=active (the default): only users with an active event in the range count
    users = {e["user_id"] for e in whole(active)}
    assert {e["user_id"] for e in whole(lambda e: True)} - users  # someone only identified
    for n in ({}, {"n": "active"}):
        got = dash.data(SEG, e={"event_type": "_all"}, m="totals", **n, **RANGE)
        assert got["series"] == [daily(lambda e: e["user_id"] in users, totals)]
        got = dash.data(SEG, e={"event_type": "$identify"}, **n, **RANGE)
        assert got["series"] == [daily(lambda e: e["event_type"] == "$identify"
                                       and e["user_id"] in users, uniques)]
    got = dash.data(SEG, e={"event_type": "$identify"}, n="any", **RANGE)
    assert got["series"] == [daily(of_type("$identify"), uniques)]
    # for an active event the two are the same
    assert dash.data(SEG, e={"event_type": "open"}, n="any", **RANGE) == dash.data(
        SEG, e={"event_type": "open"}, n="active", **RANGE)
    got = dash.data(SEG, e={"event_type": "ce:play"}, **RANGE)
    assert got["series"] == [daily(of_type("play"), uniques)]


def test_event_filters(dash: Dash) -> None:
    cases: list[tuple[dict[str, Any], Pred]] = [
        ({"subprop_type": "event", "subprop_key": "kind", "subprop_op": "is",
          "subprop_value": ["a"]}, lambda e: e["event_properties"]["kind"] == "a"),
        ({"subprop_type": "event", "subprop_key": "n", "subprop_op": "greater",
          "subprop_value": ["5"]}, lambda e: e["event_properties"]["n"] > 5),
        ({"subprop_type": "event", "subprop_key": "n", "subprop_op": "less or equal",
          "subprop_value": [3]}, lambda e: e["event_properties"]["n"] <= 3),
        ({"subprop_type": "user", "subprop_key": "country", "subprop_op": "is not",
          "subprop_value": ["US", "FR"]}, lambda e: e["country"] not in ("US", "FR")),
        ({"subprop_type": "user", "subprop_key": "platform", "subprop_op": "contains",
          "subprop_value": ["OS", "eb"]}, lambda e: e["platform"] in ("iOS", "Web")),
        ({"subprop_type": "user", "subprop_key": "platform", "subprop_op": "does not contain",
          "subprop_value": ["and"]}, lambda e: e["platform"] != "Android"),
        ({"subprop_type": "event", "subprop_key": "kind", "subprop_op": "set is",
          "subprop_value": ["b"]}, lambda e: e["event_properties"]["kind"] == "b"),
        ({"subprop_type": "event", "subprop_key": "missing", "subprop_op": "is",
          "subprop_value": ["(none)"]}, lambda e: True),
        ({"subprop_type": "user", "subprop_key": "gp:plan", "subprop_op": "set is not",
          "subprop_value": ["pro"]}, lambda e: e["user_id"] != "user-001"),
    ]
    for flt, pred in cases:
        got = dash.data(SEG, e={"event_type": "play", "filters": [flt]}, m="totals", **RANGE)
        assert got["series"] == [daily(lambda e, p=pred: of_type("play")(e) and p(e),
                                       totals)], flt


def test_group_by_country_platform_and_limit(dash: Dash) -> None:
    got = dash.data(SEG, e={"event_type": "search"}, m="totals", g="country", g2="platform",
                    **RANGE)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for ev in whole(of_type("search")):
        groups[(ev["country"], ev["platform"])].append(ev)
    order = sorted(groups, key=lambda k: (-len(groups[k]), list(k)))
    assert got["seriesLabels"] == [list(k) for k in order]
    for row, key in zip(got["series"], order, strict=True):
        assert row == daily(lambda e, k=key: of_type("search")(e)
                            and (e["country"], e["platform"]) == k, totals)
    assert [c[0]["value"] for c in got["seriesCollapsed"]] == [len(groups[k]) for k in order]
    top = dash.data(SEG, e={"event_type": "search"}, m="totals", g="country", g2="platform",
                    limit="2", **RANGE)
    assert top["seriesLabels"] == [list(k) for k in order[:2]]
    # the event's own group-by groups too
    got = dash.data(SEG, e={"event_type": "search", "group_by": [
        {"type": "event", "value": "kind"}]}, **RANGE)
    assert sorted(got["seriesLabels"]) == ["a", "b"]


def test_property_metrics(dash: Dash) -> None:
    e = {"event_type": "open", "group_by": [{"type": "event", "value": "n"}]}

    def n(x: dict[str, Any]) -> int | None:
        value: int | None = x.get("event_properties", {}).get("n")
        return value

    got = dash.data(SEG, e=e, m="sums", **RANGE)
    assert got["series"] == [daily(of_type("open"), lambda evs: sum(n(x) or 0 for x in evs))]
    got = dash.data(SEG, e=e, m="value_avg", g="platform", **RANGE)
    assert sorted(got["seriesLabels"]) == sorted(
        {x["platform"] for x in whole(of_type("open"))})
    for label, row in zip(got["seriesLabels"], got["series"], strict=True):
        def mean(evs: list[dict[str, Any]]) -> float:
            vals = [v for v in map(n, evs) if v is not None]
            return sum(vals) / len(vals) if vals else 0

        assert row == pytest.approx(daily(lambda x, p=label: of_type("open")(x)
                                          and x["platform"] == p, mean))
    revenue = {"event_type": "revenue_amount", "group_by": [
        {"type": "event", "value": "$revenue"}]}
    got = dash.data(SEG, e=revenue, m="sums", **RANGE)
    assert got["series"][0] == pytest.approx(daily(of_type("buy"), lambda evs: sum(
        x["price"] * x.get("quantity", 1) for x in evs)))


def test_histogram_bins_the_measured_property(dash: Dash) -> None:
    e = {"event_type": "play", "group_by": [{"type": "event", "value": "n"}]}
    got = dash.data(SEG, e=e, m="histogram", **RANGE)
    values = [x["event_properties"]["n"] for x in whole(of_type("play"))]
    lo, hi = min(values), max(values)
    width = (hi - lo) / 10
    assert len(got["xValues"]) == 10 and got["xValues"][0].startswith(f"{lo}-")
    expected = [0] * 10
    for v in values:
        expected[min(math.floor((v - lo) / width), 9)] += 1
    assert got["series"] == [expected]
    assert got["seriesCollapsed"] == [[{"value": len(values)}]]


def test_formula_over_two_events(dash: Dash) -> None:
    got = dash.data(SEG, e={"event_type": "buy"}, e2={"event_type": "open"}, m="formula",
                    formula="UNIQUES(A) / UNIQUES(B) * 100", **RANGE)
    a, b = daily(of_type("buy"), uniques), daily(of_type("open"), uniques)
    assert got["series"][0] == pytest.approx([100 * x / y if y else 0
                                              for x, y in zip(a, b, strict=True)])
    got = dash.data(SEG, e={"event_type": "buy"}, e2={"event_type": "open"}, m="formula",
                    formula="TOTALS(A) + totals(B) - 1", **RANGE)
    assert got["series"][0] == [x + y - 1 for x, y in zip(
        daily(of_type("buy"), totals), daily(of_type("open"), totals), strict=True)]


def test_two_events_without_formula_give_two_rows(dash: Dash) -> None:
    got = dash.data(SEG, e={"event_type": "buy"}, e2={"event_type": "open"}, **RANGE)
    assert got["seriesMeta"] == [{"segmentIndex": 0, "eventIndex": 0},
                                 {"segmentIndex": 0, "eventIndex": 1}]
    assert got["series"] == [daily(of_type("buy"), uniques), daily(of_type("open"), uniques)]


def test_rolling_window_and_average(dash: Dash) -> None:
    got = dash.data(SEG, e={"event_type": "_active"}, rollingWindow="3", **RANGE)
    expected = []
    for d in days():
        window = {d - dt.timedelta(days=k) for k in range(3)}
        expected.append(len({e["user_id"] for e in EVENTS
                             if active(e) and day(e["time"]) in window}))
    assert got["series"] == [expected]
    got = dash.data(SEG, e={"event_type": "_active"}, m="totals", rollingAverage="2", **RANGE)
    wide = daily(active, totals, [START - dt.timedelta(days=1), *days()])
    assert got["series"][0] == pytest.approx([(wide[k] + wide[k + 1]) / 2
                                              for k in range(len(days()))])


def test_hourly_and_realtime_intervals(dash: Dash) -> None:
    d = dt.date(2024, 3, 10)  # the DST day: 23 local hours
    got = dash.data(SEG, e={"event_type": "_active"}, m="totals", i="-3600000",
                    start="20240310", end="20240310")
    hours = sorted({local(e["time"]).replace(minute=0, second=0, microsecond=0)
                    for e in EVENTS if active(e) and day(e["time"]) == d})
    for h in hours:
        k = got["xValues"].index(h.strftime("%Y-%m-%dT%H:%M:%S"))
        assert got["series"][0][k] == sum(
            1 for e in EVENTS if active(e) and local(e["time"]).replace(
                minute=0, second=0, microsecond=0) == h)
    assert sum(got["series"][0]) == sum(1 for e in EVENTS if active(e) and day(e["time"]) == d)
    five = dash.data(SEG, e={"event_type": "_active"}, m="totals", i="-300000",
                     start="20240310", end="20240310")
    assert five["xValues"][:2] == ["2024-03-10T00:00:00", "2024-03-10T00:05:00"]
    assert sum(five["series"][0]) == sum(got["series"][0])
    assert dash.error(SEG, e={"event_type": "open"}, i="-300000",
                      start="20240301", end="20240310")["metadata"]["parameter"] == "end"


def test_segments_who_performed_and_cohorts(dash: Dash) -> None:
    buyers = {e["user_id"] for e in whole(of_type("buy"))}
    who = [{"op": ">=", "type": "event", "event_type": "buy", "filters": [], "value": 1,
            "time_type": "currentInterval"}]
    got = dash.data(SEG, e={"event_type": "open"}, s=who, **RANGE)
    assert got["series"] == [daily(lambda e: of_type("open")(e) and e["user_id"] in buyers,
                                   uniques)]
    never = [{"op": "<", "type": "event", "event_type": "buy", "value": 1}]
    got = dash.data(SEG, e={"event_type": "open"}, s=never, **RANGE)
    assert got["series"] == [daily(lambda e: of_type("open")(e)
                                   and e["user_id"] not in buyers, uniques)]
    members = ["user-002", "user-003", "user-007"]
    r = dash.http.post("/api/3/cohorts/upload", auth=("srv-api-key-0001", "srv-secret-key-0001"),
                       json={"name": "c", "app_id": 1, "id_type": "BY_USER_ID",
                             "ids": members, "owner": "me@example.com", "published": True})
    assert r.status_code == 200, r.text
    cohort = r.json()["cohortId"]
    got = dash.data(SEG, e={"event_type": "open"}, s=[
        {"prop": "userdata_cohort", "op": "is", "values": [cohort]}], **RANGE)
    assert got["series"] == [daily(lambda e: of_type("open")(e) and e["user_id"] in members,
                                   uniques)]


@pytest.mark.parametrize(("params", "param", "needle"), [
    ({"e": {"event_type": "teleport"}}, "e", "unknown event type"),
    ({"e": "{oops"}, "e", "JSON"),
    ({}, "e", "required"),
    ({"e": {"event_type": "open"}, "m": "median"}, "m", "uniques"),
    ({"e": {"event_type": "open"}, "m": "sums"}, "e", "group_by of type event"),
    ({"e": {"event_type": "open", "group_by": [{"type": "user", "value": "os"}]},
      "g": "country", "g2": "city"}, "g2", "at most 2"),
    ({"e": {"event_type": "open"}, "g2": "city"}, "g2", "needs g"),
    ({"e": {"event_type": "open"}, "m": "formula"}, "formula", "needs a formula"),
    ({"e": {"event_type": "open"}, "m": "formula", "formula": "UNIQUES(C)"}, "formula",
     "not defined"),
    ({"e": {"event_type": "open"}, "m": "formula", "formula": "EVAL(A)"}, "formula",
     "unknown function"),
    ({"e": {"event_type": "open"}, "formula": "UNIQUES(A)"}, "m", "formula"),
    ({"e": {"event_type": "open"}, "limit": "5000"}, "limit", "1000"),
    ({"e": {"event_type": "open", "filters": [{"subprop_type": "event", "subprop_key": "n",
                                               "subprop_op": "near", "subprop_value": [1]}]}},
     "e", "subprop_op"),
    ({"e": {"event_type": "_new"}}, "e", "retention"),
])
def test_segmentation_errors(dash: Dash, params: dict[str, Any], param: str,
                             needle: str) -> None:
    err = dash.error(SEG, **RANGE, **params)
    assert err["metadata"]["parameter"] == param, err
    assert needle in err["metadata"]["details"], err


def test_a_histogram_of_values_spanning_a_doubles_range_has_ten_finite_bins() -> None:
    """-1e308 … 1e308: the span overflows a double, the bins do not (before: width infinity,
    labels 'nan-inf', and a 309-digit integer label)."""
    values = [-1e308, -5e307, 0.0, 5e307, 1e308]
    d = start_dash([{"event_type": "hist", "user_id": f"user-h{i:04d}", "time": T0 + i,
                     "event_properties": {"v": v}} for i, v in enumerate(values)])
    try:
        got = d.data(SEG, e={"event_type": "hist", "group_by": [{"type": "event", "value": "v"}]},
                     m="histogram", start="20240301", end="20240301")
    finally:
        d.http.close()
        d.running.stop()
    edges = [x.split("-") for x in got["xValues"]]
    assert len(edges) == 10 and got["xValues"][0] == "-1e+308--8e+307"
    assert all(math.isfinite(float(e)) and len(e) < 12 for pair in edges for e in pair if e)
    assert got["series"] == [[1, 0, 1, 0, 0, 1, 0, 1, 0, 1]]
