"""``/api/2/users``, ``/composition``, ``/realtime``, ``/sessions/*`` and ``/events/list``
against numbers computed here from the same events (project time zone America/New_York)."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections import defaultdict
from typing import Any

import pytest
from tests.server.conftest import Api
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
    per_day_users,
    ymd,
)

__all__ = ["dash"]

ACTIVE = [e for e in EVENTS if active(e)]


def labels(ds: list[dt.date]) -> list[str]:
    return [d.isoformat() for d in ds]


def test_active_users_per_local_day(dash: Dash) -> None:
    data = dash.data("/api/2/users", **RANGE)
    per_day = per_day_users(ACTIVE)
    assert data["xValues"] == labels(days())
    assert data["series"] == [[len(per_day[d]) for d in days()]]
    assert data["seriesCollapsed"] == [[len({e["user_id"] for e in ACTIVE if in_range(e)})]]
    assert data["seriesLabels"] == [0] and data["seriesMeta"] == [{"segmentIndex": 0}]


def test_new_users_are_counted_on_their_first_active_event(dash: Dash) -> None:
    first: dict[str, int] = {}
    for ev in ACTIVE:
        first[ev["user_id"]] = min(first.get(ev["user_id"], ev["time"]), ev["time"])
    data = dash.data("/api/2/users", m="new", **RANGE)
    expected = [sum(1 for t in first.values() if day(t) == d) for d in days()]
    assert data["series"] == [expected]
    assert data["seriesCollapsed"] == [[sum(expected)]]
    assert 0 < sum(expected) < len(first)  # some users started before the range


def test_weekly_buckets_start_on_sunday_and_the_first_is_clamped(dash: Dash) -> None:
    data = dash.data("/api/2/users", i="7", **RANGE)
    assert data["xValues"] == ["2024-03-07", "2024-03-10"]
    week1 = {e["user_id"] for e in ACTIVE if START <= day(e["time"]) <= dt.date(2024, 3, 9)}
    week2 = {e["user_id"] for e in ACTIVE
             if dt.date(2024, 3, 10) <= day(e["time"]) <= dt.date(2024, 3, 13)}
    assert data["series"] == [[len(week1), len(week2)]]
    monthly = dash.data("/api/2/users", i="30", **RANGE)
    assert monthly["xValues"] == ["2024-03-07"]
    assert monthly["series"] == [[len(week1 | week2)]]


def test_group_by_country_counts_each_user_in_every_country_seen(dash: Dash) -> None:
    data = dash.data("/api/2/users", g="country", **RANGE)
    by: dict[str, dict[dt.date, set[str]]] = defaultdict(lambda: defaultdict(set))
    total: dict[str, set[str]] = defaultdict(set)
    for ev in ACTIVE:
        if in_range(ev):
            by[ev["country"]][day(ev["time"])].add(ev["user_id"])
            total[ev["country"]].add(ev["user_id"])
    order = sorted(total, key=lambda c: (-len(total[c]), c))
    assert data["seriesLabels"] == order and data["seriesMeta"] == order
    assert data["series"] == [[len(by[c][d]) for d in days()] for c in order]
    assert data["seriesCollapsed"] == [[len(total[c])] for c in order]


def test_segments_filter_on_the_events_properties(dash: Dash) -> None:
    seg = [{"prop": "country", "op": "is", "values": ["US"]}]
    data = dash.data("/api/2/users", s=seg, **RANGE)
    per_day = per_day_users([e for e in ACTIVE if e.get("country") == "US"])
    assert data["series"] == [[len(per_day[d]) for d in days()]]
    # a custom user property, as the event's snapshot had it ($identify set it before)
    pro = [{"prop": "gp:plan", "op": "is", "values": ["pro"]}]
    data = dash.data("/api/2/users", s=pro, **RANGE)
    per_day = per_day_users([e for e in ACTIVE if e["user_id"] == "user-001"])
    assert data["series"] == [[len(per_day[d]) for d in days()]]
    # two segments → two rows
    other = [{"prop": "platform", "op": "is not", "values": ["iOS"]}]
    data = dash.data("/api/2/users", s=(seg, other), **RANGE)
    assert data["seriesMeta"] == [{"segmentIndex": 0}, {"segmentIndex": 1}]
    per_day = per_day_users([e for e in ACTIVE if e.get("platform") != "iOS"])
    assert data["series"][1] == [len(per_day[d]) for d in days()]


def test_empty_ranges_give_no_rows_and_grouped_ones_a_none_row(dash: Dash) -> None:
    data = dash.data("/api/2/users", start="20200101", end="20200102")  # the real empty body
    assert data["series"] == [] and data["seriesCollapsed"] == [[0]]
    data = dash.data("/api/2/users", start="20200101", end="20200102", g="country")
    assert data["seriesLabels"] == ["(none)"] and data["series"] == [[0, 0]]


def test_composition_counts_users_by_their_latest_value(dash: Dash) -> None:
    latest: dict[str, tuple[int, str]] = {}
    for ev in ACTIVE:
        if in_range(ev) and ev["time"] >= latest.get(ev["user_id"], (-1, ""))[0]:
            latest[ev["user_id"]] = (ev["time"], ev["country"])
    counts: dict[str, int] = defaultdict(int)
    for _, country in latest.values():
        counts[country] += 1
    order = sorted(counts, key=lambda c: (-counts[c], c))
    data = dash.data("/api/2/composition", p="country", **RANGE)
    assert data == {"series": [[counts[c] for c in order]], "seriesLabels": ["country"],
                    "xValues": order}
    assert dash.error("/api/2/composition", **RANGE)["metadata"]["parameter"] == "p"


# --- sessions --------------------------------------------------------------------------------


def sessions() -> list[tuple[str, dt.date, int]]:
    spans: dict[tuple[str, int], list[int]] = {}
    for ev in EVENTS:
        if ev.get("session_id") is None:
            continue
        span = spans.setdefault((ev["user_id"], ev["session_id"]), [ev["time"], ev["time"]])
        span[0], span[1] = min(span[0], ev["time"]), max(span[1], ev["time"])
    return [(user, day(a), b - a) for (user, _), (a, b) in spans.items()
            if START <= day(a) <= days()[-1]]


def test_session_length_default_bins(dash: Dash) -> None:
    edges = [0, 3000, 10000, 30000, 60000, 180000, 600000, 1800000, 3600000, 86400000]
    data = dash.data("/api/2/sessions/length", **RANGE)
    assert data["xValues"] == ["0s-3s", "3s-10s", "10s-30s", "30s-60s", "60s-180s",
                               "180s-600s", "600s-1800s", "1800s-3600s", "3600s-86400s"]
    expected = [sum(1 for _, _, n in sessions() if a <= n < b or (b == edges[-1] and n == b))
                for a, b in itertools.pairwise(edges)]
    assert data["series"] == [expected]
    assert sum(expected) == len(sessions())


def test_session_length_custom_bins(dash: Dash) -> None:
    data = dash.data("/api/2/sessions/length", timeHistogramConfigBinTimeUnit="minutes",
                     timeHistogramConfigBinMin="0", timeHistogramConfigBinMax="10",
                     timeHistogramConfigBinSize="1", **RANGE)
    assert data["xValues"] == [f"{60 * k}s-{60 * (k + 1)}s" for k in range(10)]
    expected = [sum(1 for _, _, n in sessions() if 60000 * k <= n < 60000 * (k + 1))
                for k in range(10)]  # [start, end): a 600 s session is in no bin
    assert data["series"] == [expected]
    # without a unit, the default bins come back
    data = dash.data("/api/2/sessions/length", timeHistogramConfigBinMin="0", **RANGE)
    assert len(data["xValues"]) == 9


def test_average_session_length_and_sessions_per_user(dash: Dash) -> None:
    rows = sessions()
    avg = dash.data("/api/2/sessions/average", **RANGE)
    per_user = dash.data("/api/2/sessions/peruser", **RANGE)
    exp_avg: list[float] = []
    exp_per_user: list[float] = []
    for d in days():
        today = [(u, n) for u, dd, n in rows if dd == d]
        exp_avg.append(sum(n for _, n in today) / len(today) / 1000 if today else 0)
        exp_per_user.append(len(today) / len({u for u, _ in today}) if today else 0)
    assert avg["xValues"] == labels(days())
    assert avg["series"][0] == pytest.approx(exp_avg)
    assert per_user["series"][0] == pytest.approx(exp_per_user)
    assert avg["seriesCollapsed"][0][0] == pytest.approx(
        sum(n for _, _, n in rows) / len(rows) / 1000)
    assert set(avg) == {"xValues", "series", "seriesCollapsed", "seriesLabels", "seriesMeta"}


# --- events list and realtime (fresh UTC project, events at "now") ----------------------------


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_events_list_counts_this_weeks_events(api: Api) -> None:
    now = _now_ms()
    events: list[dict[str, Any]] = [
        {"event_type": "ancient", "user_id": "user-00001", "time": now - 40 * 86_400_000},
        *[{"event_type": "open", "user_id": "user-00001", "time": now - k} for k in range(3)],
        {"event_type": "buy", "user_id": "user-00002", "time": now, "price": 2.0},
        {"event_type": "$identify", "user_id": "user-00002", "time": now,
         "user_properties": {"$set": {"a": 1}}},
    ]
    assert api.post_events(events).status_code == 200
    r = api.http.get("/api/2/events/list", auth=("srv-api-key-0001", "srv-secret-key-0001"))
    assert r.status_code == 200
    rows = r.json()["data"]
    assert [(x["value"], x["totals"], x["id"]) for x in rows] == [
        ("open", 3, 2), ("buy", 1, 3), ("ancient", 0, 1)]
    assert rows[0] | {"value": None} == {
        "id": 2, "name": "open", "value": None, "display": "open", "totals": 3,
        "totals_delta": 3, "non_active": False, "deleted": False, "hidden": False,
        "flow_hidden": False, "autohidden": False, "in_waitroom": False,
        "clusters_hidden": False, "timeline_hidden": False, "waitroom_approved": True}
    from ampkit.models.dashboard.events import EventsListResult

    assert EventsListResult.from_body(r.json()).names() == ["open", "buy", "ancient"]


def test_realtime_today_and_yesterday(api: Api) -> None:
    now = _now_ms()
    events = [{"event_type": "open", "user_id": f"user-0000{k}", "time": now} for k in (1, 2)]
    events.append({"event_type": "open", "user_id": "user-00003", "time": now - 86_400_000})
    assert api.post_events(events).status_code == 200
    auth = ("srv-api-key-0001", "srv-secret-key-0001")
    body = api.http.get("/api/2/realtime", params={"i": "5"}, auth=auth).json()["data"]
    assert body["seriesLabels"] == ["Today", "Yesterday"]
    assert body["xValues"][0] == "00:00"
    stamp = dt.datetime.fromtimestamp(now / 1000, dt.UTC)
    slot = f"{stamp.hour:02d}:{stamp.minute - stamp.minute % 5:02d}"
    k = body["xValues"].index(slot)
    assert body["series"][0][k] == 2 and body["series"][1][k] == 1
    assert sum(body["series"][0]) == 2 and sum(body["series"][1]) == 1
    bad = api.http.get("/api/2/realtime", params={"i": "15"}, auth=auth)
    assert bad.status_code == 400 and bad.json()["error"]["metadata"]["parameter"] == "i"


def test_dates_are_local_days(dash: Dash) -> None:
    """An event at 03:00 UTC belongs to the previous day in New York."""
    late = [e for e in ACTIVE if dt.datetime.fromtimestamp(e["time"] / 1000, dt.UTC).hour < 4
            and in_range(e)]
    assert late, "the data set has early-UTC events"
    ev = late[0]
    utc_day = dt.datetime.fromtimestamp(ev["time"] / 1000, dt.UTC).date()
    assert day(ev["time"]) == utc_day - dt.timedelta(days=1)
    one = dash.data("/api/2/users", start=ymd(day(ev["time"])), end=ymd(day(ev["time"])))
    assert one["series"] == [[len(per_day_users(ACTIVE)[day(ev["time"])])]]
