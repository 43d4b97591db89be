"""``/api/2/revenue/ltv``, ``/usersearch``, ``/useractivity`` and saved charts
(``POST /_ampkit/charts``, ``/api/3/chart/{id}/query`` and ``/csv``)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

import pytest
from tests.server.conftest import KEY, SECRET
from tests.server.test_server_dashboard_common import (
    EVENTS,
    RANGE,
    Dash,
    active,
    dash,
    day,
    days,
)

__all__ = ["dash"]

LTV = "/api/2/revenue/ltv"
DAYS = (1, 2, 3, 4, 5, 6, 7, 14, 30, 60, 90)


def amount(ev: dict[str, Any]) -> float:
    return float(ev["price"]) * float(ev.get("quantity", 1))


@pytest.mark.parametrize("m", [0, 1, 2, 3])
def test_revenue_ltv(dash: Dash, m: int) -> None:
    data = dash.data(LTV, m=str(m), **RANGE)
    first: dict[str, int] = {}
    for ev in EVENTS:
        if active(ev):
            first.setdefault(ev["user_id"], ev["time"])
    paid: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for ev in EVENTS:
        if "price" in ev:
            paid[ev["user_id"]].append(((day(ev["time"]) - day(first[ev["user_id"]])).days,
                                        amount(ev)))
    assert data["seriesLabels"] == [""]
    (series,) = data["series"]
    assert series["dates"] == [d.isoformat() for d in reversed(days())]
    for d in days():
        users = [u for u, t in first.items() if day(t) == d]
        got = series["values"][d.isoformat()]
        assert got["count"] == len(users)
        assert got["paid"] == sum(1 for u in users if paid[u])
        assert got["total_amount"] == pytest.approx(sum(a for u in users for _, a in paid[u]))
        for n in DAYS:
            revenue = sum(a for u in users for o, a in paid[u] if o < n)
            payers = sum(1 for u in users if any(o < n for o, _ in paid[u]))
            value = [revenue / len(users) if users else 0, revenue / payers if payers else 0,
                     revenue, payers][m]
            assert got[f"r{n}d"] == pytest.approx(value), (d, n)
    assert any(series["values"][d.isoformat()]["paid"] for d in days())


def test_revenue_ltv_group_by_and_errors(dash: Dash) -> None:
    data = dash.data(LTV, g="platform", i="7", **RANGE)
    assert len(data["seriesLabels"]) == len(data["series"]) >= 2
    assert all(s["dates"] == ["2024-03-10", "2024-03-07"] for s in data["series"])
    assert dash.error(LTV, m="4", **RANGE)["metadata"]["parameter"] == "m"
    assert dash.error(LTV, i="-300000", **RANGE)["metadata"]["parameter"] == "i"


# --- user search and activity ----------------------------------------------------------------


def search(dash: Dash, user: str) -> dict[str, Any]:
    r = dash.get("/api/2/usersearch", user=user)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_user_search(dash: Dash) -> None:
    found = search(dash, "user-003")
    assert found["type"] == "match_user_or_device_id"
    (match,) = found["matches"]
    assert match["user_id"] == "user-003" and match["last_device_id"] == "dev-user-003"
    last = max(e["time"] for e in EVENTS if e["user_id"] == "user-003")
    assert match["last_seen"] == day(last).isoformat()
    assert match["platform"] == next(e["platform"] for e in EVENTS
                                     if e["user_id"] == "user-003")
    assert search(dash, "dev-user-003") == found
    by_amp = search(dash, str(match["amplitude_id"]))
    assert by_amp["type"] == "match_amplitude_id" and by_amp["matches"] == found["matches"]
    prefix = search(dash, "user-00")
    assert prefix["type"] == "match_user_prefix"
    assert sorted(m["user_id"] for m in prefix["matches"]) == [f"user-00{k}"
                                                              for k in range(1, 10)]
    ids = [m["amplitude_id"] for m in prefix["matches"]]
    assert ids == sorted(ids)
    assert search(dash, "nobody-here") == {"matches": [], "type": "nomatch"}
    assert dash.error("/api/2/usersearch")["metadata"]["parameter"] == "user"


def amplitude_id(dash: Dash, user: str) -> int:
    value: int = search(dash, user)["matches"][0]["amplitude_id"]
    return value


def test_user_activity_profile_and_paging(dash: Dash) -> None:
    mine = [(i, e) for i, e in enumerate(EVENTS) if e["user_id"] == "user-001"]
    amp = amplitude_id(dash, "user-001")
    r = dash.get("/api/2/useractivity", user=str(amp))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"userData", "events"}
    profile = body["userData"]
    spans: dict[int, list[int]] = {}
    for _, e in mine:
        if e.get("session_id") is not None:
            span = spans.setdefault(e["session_id"], [e["time"], e["time"]])
            span[0], span[1] = min(span[0], e["time"]), max(span[1], e["time"])
    buys = [e for _, e in mine if "price" in e]
    assert profile | {"properties": None} == profile | {
        "user_id": "user-001", "canonical_amplitude_id": amp, "merged_amplitude_ids": [],
        "num_events": len(mine), "num_sessions": len(spans),
        "usage_time": sum(b - a for a, b in spans.values()),
        "first_used": day(min(e["time"] for _, e in mine)).isoformat(),
        "last_used": day(max(e["time"] for _, e in mine)).isoformat(),
        "purchases": len(buys), "device_ids": ["dev-user-001"],
        "last_device_id": "dev-user-001", "properties": None, "paying": bool(buys)}
    assert profile["revenue"] == pytest.approx(sum(amount(e) for e in buys))
    assert profile["properties"] == {"plan": "pro"}
    newest_first = sorted(mine, key=lambda p: (p[1]["time"], p[0]), reverse=True)
    assert [e["event_type"] for e in body["events"]] == [e["event_type"]
                                                          for _, e in newest_first]
    assert body["events"][0]["amplitude_id"] == amp and "event_properties" in body["events"][0]
    page = dash.get("/api/2/useractivity", user=str(amp), offset="1", limit="2").json()
    assert [e["event_time"] for e in page["events"]] == [
        e["event_time"] for e in body["events"][1:3]]
    one = dash.get("/api/2/useractivity", user=str(amp), limit="1",
                   direction="earliest").json()
    assert [e["event_type"] for e in one["events"]] == [mine[0][1]["event_type"]]


def test_user_activity_unknown_user_and_errors(dash: Dash) -> None:
    body = dash.get("/api/2/useractivity", user="42").json()
    assert body["events"] == []
    assert body["userData"] | {"platform": None} == body["userData"] | {
        "user_id": None, "canonical_amplitude_id": 1, "merged_amplitude_ids": [],
        "num_events": 0, "num_sessions": 0, "usage_time": 0, "purchases": 0, "revenue": 0,
        "last_location": None, "last_device_id": None, "device_ids": []}
    for params, param in [({}, "user"), ({"user": "user-001"}, "user"),
                          ({"user": "1", "limit": "0"}, "limit"),
                          ({"user": "1", "limit": "1001"}, "limit"),
                          ({"user": "1", "offset": "-1"}, "offset"),
                          ({"user": "1", "direction": "sideways"}, "direction")]:
        assert dash.error("/api/2/useractivity", **params)["metadata"]["parameter"] == param


# --- saved charts ----------------------------------------------------------------------------


def save(dash: Dash, body: Any, auth: tuple[str, str] = (KEY, SECRET)) -> Any:
    return dash.http.post("/_ampkit/charts", json=body, auth=auth)


def test_a_saved_chart_answers_like_its_endpoint(dash: Dash) -> None:
    e = {"event_type": "open"}
    r = save(dash, {"chart_id": "opens-by-country", "endpoint": "events/segmentation",
                    "params": {"e": e, "g": "country", "m": "totals", **RANGE}})
    assert r.status_code == 200, r.text
    assert r.json() == {"chart_id": "opens-by-country", "endpoint": "/api/2/events/segmentation"}
    direct = dash.get("/api/2/events/segmentation", e=e, g="country", m="totals", **RANGE)
    chart = dash.get("/api/3/chart/opens-by-country/query")
    assert chart.status_code == 200 and chart.json() == direct.json()
    text = dash.get("/api/3/chart/opens-by-country/csv")
    assert text.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(text.text)))
    data = direct.json()["data"]
    assert rows[0] == ["label", *data["xValues"]]
    assert rows[1:] == [[label, *map(str, row)] for label, row in
                        zip(data["seriesLabels"], data["series"], strict=True)]
    narrow = dash.get("/api/3/chart/opens-by-country/query", start="20240309", end="20240310")
    assert narrow.json()["data"]["xValues"] == ["2024-03-09", "2024-03-10"]
    from ampkit.models.dashboard.charts import ChartResult

    assert ChartResult.from_body(chart.json()).as_series() is not None


def test_saved_funnel_and_retention_charts(dash: Dash) -> None:
    steps = [{"event_type": "open"}, {"event_type": "play"}]
    r = save(dash, {"endpoint": "/api/2/funnels", "params": {"e": steps, **RANGE}})
    assert r.status_code == 200
    chart_id = r.json()["chart_id"]
    direct = dash.get("/api/2/funnels", e=tuple(steps), **RANGE).json()
    assert dash.get(f"/api/3/chart/{chart_id}/query").json() == direct
    rows = list(csv.reader(io.StringIO(dash.get(f"/api/3/chart/{chart_id}/csv").text)))
    assert rows[0][:5] == ["segment", "group", "step", "event", "users"]
    assert [r[3:5] for r in rows[1:]] == [["open", str(direct["data"][0]["cumulativeRaw"][0])],
                                          ["play", str(direct["data"][0]["cumulativeRaw"][1])]]
    r = save(dash, {"endpoint": "retention", "params": {
        "se": {"event_type": "open"}, "re": {"event_type": "play"}, **RANGE}})
    chart_id = r.json()["chart_id"]
    rows = list(csv.reader(io.StringIO(dash.get(f"/api/3/chart/{chart_id}/csv").text)))
    assert rows[0][:5] == ["segment", "group", "cohort", "size", "Day 0"]
    assert len(rows) == 1 + len(days())


def test_chart_errors(dash: Dash) -> None:
    err = dash.error("/api/3/chart/no-such-chart/query", status=404)
    assert err["metadata"]["parameter"] == "chart_id"
    assert dash.get("/api/3/chart/x/csv", auth=(KEY, "bad")).status_code == 401
    assert save(dash, {"endpoint": "users", "params": RANGE}, (KEY, "bad")).status_code == 401
    for body, param in [({"endpoint": "teleport"}, "endpoint"), ({}, "endpoint"),
                        ({"endpoint": "usersearch", "params": {"user": "x"}}, "endpoint"),
                        ({"endpoint": "users", "params": "start=1"}, "params"),
                        ({"endpoint": "users", "params": RANGE, "chart_id": "no spaces"},
                         "chart_id"),
                        ({"endpoint": "users", "params": {"start": "20240301"},
                          "chart_id": "broken"}, "end")]:
        r = save(dash, body)
        assert r.status_code == 400, body
        assert r.json()["error"]["metadata"]["parameter"] == param
    assert dash.get("/api/3/chart/broken/query").status_code == 404
    r = dash.http.post("/_ampkit/charts", content=b"{nope", auth=(KEY, SECRET))
    assert r.status_code == 400
