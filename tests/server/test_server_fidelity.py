"""Issue 14: the local server counts what real clients send and answers as Amplitude does —
each expected answer recomputed here in plain Python from the events sent."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from tests.server.conftest import KEY, KEY2, SECRET, SECRET2

from ampkit.server import ProjectConfig, RunningServer, ServerConfig, serve_in_thread
from ampkit.server.limits import DashboardLimitsConfig

NY = ZoneInfo("America/New_York")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "airbyte" / "responses"


def ms(d: dt.datetime) -> int:
    return int(d.timestamp() * 1000)


def start(tz: str = "UTC") -> RunningServer:
    return serve_in_thread(ServerConfig(
        port=0, throttle_enabled=False, dashboard_limits=DashboardLimitsConfig(enabled=False),
        projects=[ProjectConfig(project_id=1, api_key=KEY, secret_key=SECRET, timezone=tz),
                  ProjectConfig(project_id=2, api_key=KEY2, secret_key=SECRET2,
                                timezone=tz)]))


def get(srv: RunningServer, path: str, key: tuple[str, str] = (KEY, SECRET),
        **params: Any) -> httpx.Response:
    pairs = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in params.items()]
    return httpx.get(f"{srv.url}{path}", params=pairs, auth=key, timeout=60)


def send(srv: RunningServer, events: list[dict[str, Any]], key: str = KEY) -> None:
    r = httpx.post(f"{srv.url}/batch", json={"api_key": key, "events": events}, timeout=60)
    assert r.status_code == 200, r.text


# --- §1 revenue sent the official SDK's way is revenue --------------------------------------

@pytest.fixture(scope="module")
def revenue_server() -> Iterator[RunningServer]:
    """Project 1 gets purchases from the official SDK's ``Revenue`` object; project 2 the same
    purchases as raw top-level ``price``/``quantity``/``revenue`` fields."""
    amplitude = pytest.importorskip("amplitude")
    srv = start()
    day0 = dt.datetime(2024, 3, 4, 10, tzinfo=dt.UTC)
    buys = [("user-00001", 0, 4.99, 2, None), ("user-00001", 2, 10.0, 1, None),
            ("user-00002", 1, 3.0, 1, 12.5), ("user-00003", 3, 1.5, 4, None)]
    opens = [(f"user-0000{u}", d) for u in range(1, 5) for d in range(4)]
    sdk = amplitude.Amplitude(KEY, amplitude.Config(server_url=f"{srv.url}/2/httpapi",
                                                    flush_queue_size=100))
    raw: list[dict[str, Any]] = []
    for user, d in opens:
        at = ms(day0 + dt.timedelta(days=d))
        sdk.track(amplitude.BaseEvent("Open", user_id=user, time=at, insert_id=f"o-{user}-{d}"))
        raw.append({"event_type": "Open", "user_id": user, "time": at,
                    "insert_id": f"o-{user}-{d}"})
    for user, d, price, quantity, revenue in buys:
        at = ms(day0 + dt.timedelta(days=d, hours=1))
        options = amplitude.EventOptions(user_id=user, time=at, insert_id=f"r-{user}-{d}")
        sdk.revenue(amplitude.Revenue(price=price, quantity=quantity, revenue=revenue,
                                      product_id="sku-1"), options)
        fields: dict[str, Any] = {"price": price, "quantity": quantity, "productId": "sku-1"}
        if revenue is not None:  # sent with all three, price × quantity would win (§2.2)
            fields = {"price": price, "revenue": revenue, "productId": "sku-1"}
        raw.append({"event_type": "revenue_amount", "user_id": user, "time": at,
                    "insert_id": f"r-{user}-{d}", **fields})
    sdk.flush()
    sdk.shutdown()
    send(srv, raw, KEY2)
    yield srv
    srv.stop()


def _both(srv: RunningServer, path: str, **params: Any) -> tuple[Any, Any]:
    a = get(srv, path, **params)
    b = get(srv, path, (KEY2, SECRET2), **params)
    assert a.status_code == b.status_code == 200, (a.text, b.text)
    return a.json(), b.json()


def _activity(srv: RunningServer, auth: tuple[str, str], user: str) -> dict[str, Any]:
    search = get(srv, "/api/2/usersearch", auth, user=user).json()
    amp_id = search["matches"][0]["amplitude_id"]  # Amplitude IDs differ between projects
    data: dict[str, Any] = get(srv, "/api/2/useractivity", auth,
                               user=str(amp_id)).json()["userData"]
    return data


def test_sdk_revenue_counts_in_user_activity(revenue_server: RunningServer) -> None:
    amounts = {"user-00001": 4.99 * 2 + 10.0, "user-00002": 12.5, "user-00003": 6.0,
               "user-00004": 0}
    for user, amount in amounts.items():
        sdk = _activity(revenue_server, (KEY, SECRET), user)
        raw = _activity(revenue_server, (KEY2, SECRET2), user)
        assert sdk["revenue"] == pytest.approx(amount)
        assert sdk["purchases"] == {"user-00001": 2, "user-00004": 0}.get(user, 1)
        assert sdk["paying"] is (amount > 0)
        for key in ("revenue", "purchases", "paying"):
            assert raw[key] == pytest.approx(sdk[key])


def test_sdk_revenue_counts_in_ltv_segmentation_profile_and_export(
    revenue_server: RunningServer,
) -> None:
    rng = {"start": "20240304", "end": "20240308"}
    sdk, raw = _both(revenue_server, "/api/2/revenue/ltv", m="2", **rng)
    assert sdk == raw
    cohort = sdk["data"]["series"][0]["values"]["2024-03-04"]
    assert cohort["total_amount"] == pytest.approx(4.99 * 2 + 10 + 12.5 + 6)
    assert (cohort["count"], cohort["paid"]) == (4, 3)
    assert cohort["r1d"] == pytest.approx(4.99 * 2)  # the first day's purchase
    seg_sdk, seg_raw = _both(revenue_server, "/api/2/events/segmentation",
                             e={"event_type": "revenue_amount"}, m="totals", **rng)
    assert seg_sdk == seg_raw and sum(seg_sdk["data"]["series"][0]) == 4
    sums_sdk, sums_raw = _both(revenue_server, "/api/2/events/segmentation", m="sums", e={
        "event_type": "revenue_amount", "group_by": [{"type": "event", "value": "$revenue"}]},
        **rng)
    assert sums_sdk == sums_raw
    assert sum(sums_sdk["data"]["series"][0]) == pytest.approx(4.99 * 2 + 10 + 12.5 + 6.0)
    # export: the buyer's events after the purchase are "paying"
    archives = []
    for auth in ((KEY, SECRET), (KEY2, SECRET2)):
        r = httpx.get(f"{revenue_server.url}/api/2/export", auth=auth, timeout=60, params={
            "start": dt.datetime.now(dt.UTC).strftime("%Y%m%dT00"),
            "end": dt.datetime.now(dt.UTC).strftime("%Y%m%dT23")})
        assert r.status_code == 200, r.text
        lines = []
        with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
            for name in zf.namelist():
                lines += [json.loads(x) for x in gzip.decompress(zf.read(name)).splitlines()]
        archives.append(sorted((e["$insert_id"], e["paying"]) for e in lines))
    assert archives[0] == archives[1]
    assert ("r-user-00002-1", True) in archives[0]


# --- §2 filters and properties -----------------------------------------------------------------

@pytest.fixture(scope="module")
def props_server() -> Iterator[RunningServer]:
    srv = start()
    at = ms(dt.datetime(2024, 3, 4, 12, tzinfo=dt.UTC))
    events = [
        {"event_type": "View", "user_id": "user-scalar-a", "event_properties": {"tag": "a"}},
        {"event_type": "View", "user_id": "user-scalar-b", "event_properties": {"tag": "b"}},
        {"event_type": "View", "user_id": "user-array-ab",
         "event_properties": {"tag": ["a", "b"]}},
        {"event_type": "View", "user_id": "user-array-cd",
         "event_properties": {"tag": ["c", "d"]}},
        {"event_type": "View", "user_id": "user-missing", "event_properties": {}},
        {"event_type": "View", "user_id": "user-nulled", "event_properties": {"tag": None}},
    ]
    send(srv, [{**e, "time": at, "user_properties": {"$set": {"plan": e["user_id"][5:]}}}
               for e in events])
    yield srv
    srv.stop()


TAGS: dict[str, Any] = {"user-scalar-a": "a", "user-scalar-b": "b", "user-array-ab": ["a", "b"],
                        "user-array-cd": ["c", "d"], "user-missing": None, "user-nulled": None}


def _matches(op: str, values: list[str], tag: Any) -> bool:
    """The operators as documented: an unset property is "(none)"; an array matches ``is`` when
    any element does; each negative operator keeps exactly what its positive one drops."""
    items = tag if isinstance(tag, list) else ["(none)"] if tag is None else [tag]
    text = "" if tag is None else json.dumps(tag, separators=(",", ":")) \
        if isinstance(tag, list) else str(tag)
    if op in ("is", "is not"):
        hit = any(v in items for v in values)
    elif op in ("contains", "does not contain"):
        hit = any(v.lower() in text.lower() for v in values)
    else:
        elements = [] if tag is None else items
        hit = sorted(set(elements)) == sorted(set(values))
    return hit if op in ("is", "contains", "set is") else not hit


@pytest.mark.parametrize(("op", "values"), [
    ("is", ["a"]), ("is not", ["a"]), ("is not", ["(none)"]), ("is", ["(none)"]),
    ("is not", ["a", "c"]), ("contains", ["b"]), ("does not contain", ["b"]),
    ("does not contain", ["zzz"]), ("set is", ["a", "b"]), ("set is not", ["a", "b"]),
])
def test_every_operator_on_scalar_array_and_missing(props_server: RunningServer, op: str,
                                                    values: list[str]) -> None:
    e = {"event_type": "View", "filters": [{"subprop_type": "event", "subprop_key": "tag",
                                            "subprop_op": op, "subprop_value": values}]}
    r = get(props_server, "/api/2/events/segmentation", e=e, m="uniques", start="20240304",
            end="20240304")
    assert r.status_code == 200, r.text
    expected = sum(1 for tag in TAGS.values() if _matches(op, values, tag))
    assert r.json()["data"]["series"] == [[expected]], (op, values)


@pytest.mark.parametrize(("path", "params"), [
    ("/api/2/events/segmentation", {"e": {"event_type": "View"}, "g": "nosuchprop!"}),
    ("/api/2/events/segmentation", {"e": {"event_type": "View", "group_by": [
        {"type": "user", "value": "gp:nosuchprop"}]}}),
    ("/api/2/users", {"g": "nosuchprop!"}),
    ("/api/2/funnels", {"e": {"event_type": "View"}, "g": "nosuchprop!"}),
    ("/api/2/retention", {"se": {"event_type": "View"}, "re": {"event_type": "View"},
                          "g": "nosuchprop!"}),
    ("/api/2/revenue/ltv", {"g": "nosuchprop!"}),
    ("/api/2/composition", {"p": "nosuchprop!"}),
])
def test_an_unknown_group_by_is_amplitudes_400(props_server: RunningServer, path: str,
                                              params: dict[str, Any]) -> None:
    r = get(props_server, path, start="20240304", end="20240304", **params)
    assert r.status_code == 400, r.text
    body = r.json()["error"]
    fixture = json.loads((FIXTURES / "error_400__invalid_chart_definition.json").read_text()
                         )["error"]
    assert (body["http_code"], body["type"], body["message"]) == (
        fixture["http_code"], fixture["type"], fixture["message"])
    name = params.get("g") or params.get("p") or "gp:nosuchprop"
    assert body["metadata"]["details"] == f"Invalid user property {name}"


def test_known_group_bys_still_work(props_server: RunningServer) -> None:
    for g in ("plan", "gp:plan", "platform", "country"):
        r = get(props_server, "/api/2/events/segmentation", e={"event_type": "View"}, g=g,
                start="20240304", end="20240304")
        assert r.status_code == 200, (g, r.text)
    data = get(props_server, "/api/2/events/segmentation", e={"event_type": "View"},
               g="plan", start="20240304", end="20240304").json()["data"]
    assert len(data["seriesLabels"]) == len(TAGS)


# --- §3 time in the project's zone -----------------------------------------------------------

def test_hourly_series_skip_the_hour_dst_removes_and_merge_the_one_it_repeats() -> None:
    srv = start("America/New_York")
    try:
        events = []
        for day in (dt.date(2024, 3, 10), dt.date(2024, 11, 3)):
            utc = dt.datetime.combine(day, dt.time(), NY).astimezone(dt.UTC)
            for k in range(25 * 4):  # every 15 minutes of the local day, in real time
                at = utc + dt.timedelta(minutes=15 * k)
                if at.astimezone(NY).date() == day:
                    events.append({"event_type": "Tick", "user_id": f"user-{k:05d}",
                                   "time": ms(at)})
        send(srv, events)
        for day, hours in ((dt.date(2024, 3, 10), 23), (dt.date(2024, 11, 3), 24)):
            text = day.strftime("%Y%m%d")
            data = get(srv, "/api/2/events/segmentation", e={"event_type": "Tick"},
                       m="totals", i="-3600000", start=text, end=text).json()["data"]
            labels = data["xValues"]
            assert len(labels) == hours == len(set(labels))
            expected: dict[str, int] = {}
            for e in events:
                local = dt.datetime.fromtimestamp(e["time"] / 1000, NY)
                if local.date() == day:
                    key = local.strftime("%Y-%m-%dT%H:00:00")
                    expected[key] = expected.get(key, 0) + 1
            assert sorted(expected) == labels  # only hours that exist on a New York clock
            assert data["series"][0] == [expected[x] for x in labels]
    finally:
        srv.stop()


# --- §6 sessions: custom bins are half-open ---------------------------------------------------

def test_a_session_as_long_as_the_last_bin_end_is_in_no_bin() -> None:
    srv = start()
    try:
        t0 = ms(dt.datetime(2024, 3, 4, 12, tzinfo=dt.UTC))
        lengths = {"user-00001": 600_000, "user-00002": 599_999, "user-00003": 0,
                   "user-00004": 60_000}
        events = []
        for user, length in lengths.items():
            for at in (t0, t0 + length):
                events.append({"event_type": "Use", "user_id": user, "time": at,
                               "session_id": t0})
        send(srv, events)
        data = get(srv, "/api/2/sessions/length", start="20240304", end="20240304",
                   timeHistogramConfigBinTimeUnit="minutes", timeHistogramConfigBinMin="0",
                   timeHistogramConfigBinMax="10", timeHistogramConfigBinSize="5").json()["data"]
        assert data["xValues"] == ["0s-300s", "300s-600s"]
        expected = [sum(1 for n in lengths.values() if lo <= n < hi)
                    for lo, hi in ((0, 300_000), (300_000, 600_000))]
        assert data["series"] == [expected] == [[2, 1]]
    finally:
        srv.stop()


def test_a_session_longer_than_a_day_belongs_to_its_first_day_whatever_the_range() -> None:
    """A 54-hour session (Mar 2 12:00 to Mar 4 18:00 UTC) started on Mar 2: a query of Mar 4
    alone does not see it start there, a query of Mar 2–4 counts it once, on Mar 2, in the last
    default bin (capped at one day), and the user's usage time counts one day of it."""
    srv = start()
    try:
        t0 = ms(dt.datetime(2024, 3, 2, 12, tzinfo=dt.UTC))
        send(srv, [{"event_type": "Use", "user_id": "user-long1", "time": at, "session_id": t0,
                    "insert_id": f"long-{at}"} for at in (t0, t0 + 54 * 3_600_000)])
        alone = get(srv, "/api/2/sessions/length", start="20240304", end="20240304").json()
        assert sum(alone["data"]["series"][0]) == 0
        assert get(srv, "/api/2/sessions/average", start="20240304",
                   end="20240304").json()["data"]["series"] == []
        whole = get(srv, "/api/2/sessions/length", start="20240302", end="20240304").json()
        assert whole["data"]["series"][0] == [0] * 8 + [1]  # 86400s is the last bin's end
        average = get(srv, "/api/2/sessions/average", start="20240302", end="20240304").json()
        assert average["data"]["series"] == [[86_400, 0, 0]]
        amp = get(srv, "/api/2/usersearch", user="user-long1").json()["matches"][0]
        profile = get(srv, "/api/2/useractivity", user=str(amp["amplitude_id"])).json()
        assert profile["userData"]["usage_time"] == 86_400_000
    finally:
        srv.stop()


# --- §8 smaller items ------------------------------------------------------------------------

def _zip64_extras(archive: bytes) -> int:
    """Local and central headers carrying a ZIP64 extra field (id 0x0001)."""
    found = 0
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        for info in zf.infolist():
            extra = info.extra
            while len(extra) >= 4:
                kind, size = struct.unpack("<HH", extra[:4])
                found += kind == 1
                extra = extra[4 + size:]
            local = archive[info.header_offset:info.header_offset + 30]
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            local_extra = archive[info.header_offset + 30 + name_len:
                                  info.header_offset + 30 + name_len + extra_len]
            found += b"\x01\x00" in local_extra[:2]
    return found


def test_small_export_archives_use_plain_zip_headers() -> None:
    srv = start()
    try:
        send(srv, [{"event_type": "Small", "user_id": "user-00001"}])
        hour = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H")
        r = httpx.get(f"{srv.url}/api/2/export", auth=(KEY, SECRET),
                      params={"start": hour, "end": hour})
        assert r.status_code == 200
        assert _zip64_extras(r.content) == 0
        with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
            assert zf.testzip() is None and len(zf.namelist()) == 1
    finally:
        srv.stop()


def test_a_user_level_group_follows_the_users_later_events() -> None:
    """The SDKs' ``set_group``: an ``$identify`` event carrying ``groups``; Amplitude's Accounts
    docs: with a user-level group, all future events from the person belong to the group."""
    amplitude = pytest.importorskip("amplitude")
    srv = start()
    try:
        sdk = amplitude.Amplitude(KEY, amplitude.Config(server_url=f"{srv.url}/2/httpapi"))
        user = amplitude.EventOptions(user_id="user-00001")
        sdk.track(amplitude.BaseEvent("Before", user_id="user-00001"))
        for sent in sdk.flush():  # wait: the SDK's flush only starts sending
            sent.result()
        sdk.set_group("org id", "org-15", user)
        for sent in sdk.flush():
            sent.result()
        sdk.track(amplitude.BaseEvent("After", user_id="user-00001"))
        sdk.track(amplitude.BaseEvent("Own", user_id="user-00001", groups={"team": "t-1"}))
        sdk.shutdown()
        stored = httpx.get(f"{srv.url}/_ampkit/events", auth=(KEY, SECRET)).json()
        groups = {e["event_type"]: e["groups"] for e in stored}
        assert groups["Before"] == {}
        assert groups["$identify"] == {"org id": "org-15"}
        assert groups["After"] == {"org id": "org-15"}
        assert groups["Own"] == {"org id": "org-15", "team": "t-1"}
        user_props = httpx.get(f"{srv.url}/_ampkit/users/user-00001",
                               auth=(KEY, SECRET)).json()["user_properties"]
        assert user_props == {"org id": "org-15"}
    finally:
        srv.stop()
