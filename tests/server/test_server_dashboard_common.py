"""Shared data for the Dashboard tests (a known event set, in a project whose time zone has a
DST change inside the range), plus the cross-cutting checks: auth, the 400 envelope, shapes.

Every expected number is computed here in plain Python from the same event list.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from tests.server.conftest import KEY, SECRET, config

from ampkit.server import ProjectConfig, RunningServer, serve_in_thread

TZ = "America/New_York"
ZONE = ZoneInfo(TZ)
DAY_MS = 86_400_000
# 2024-03-07 12:00 UTC; US DST starts 2024-03-10 (offset -5 h → -4 h)
BASE_MS = int(dt.datetime(2024, 3, 7, 12, tzinfo=dt.UTC).timestamp() * 1000)
START, END = dt.date(2024, 3, 7), dt.date(2024, 3, 13)
USERS = [f"user-{i:03d}" for i in range(1, 11)]
TYPES = ["open", "search", "play", "buy"]
COUNTRIES = ["US", "DE", "FR"]
PLATFORMS = ["iOS", "Android", "Web"]
IDENTIFY = {"$identify", "$groupidentify"}


def make_events(seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for user in USERS:
        platform = rng.choice(PLATFORMS)
        for _ in range(rng.randint(2, 5)):
            country = rng.choice(COUNTRIES)
            start = BASE_MS + rng.randint(-DAY_MS // 2, 7 * DAY_MS)
            t = start
            for _ in range(rng.randint(1, 6)):
                etype = rng.choice(TYPES)
                ev: dict[str, Any] = {
                    "event_type": etype, "user_id": user, "device_id": f"dev-{user}",
                    "time": t, "session_id": start, "platform": platform, "country": country,
                    "event_properties": {"n": rng.randint(1, 9), "kind": rng.choice("ab")}}
                if etype == "buy":
                    ev.update(price=rng.choice([1.5, 2.0, 4.25]), quantity=rng.randint(1, 3))
                events.append(ev)
                t += rng.randint(1, 900) * 1000
    # straight and interrupted paths through open → search → play
    for k, path in enumerate([["open", "search", "play"], ["open", "search", "$identify",
                                                           "play"],
                              ["open", "buy", "search", "play"], ["search", "open", "play"]]):
        user = f"user-{20 + k:03d}"
        t0 = BASE_MS + (k + 1) * DAY_MS // 3
        for j, etype in enumerate(path):
            events.append({"event_type": etype, "user_id": user, "time": t0 + j * 60_000,
                           "session_id": t0, "platform": "Web", "country": "FR",
                           "event_properties": {"n": j, "kind": "a"}, "price": 1.0}
                          if etype == "buy" else
                          {"event_type": etype, "user_id": user, "time": t0 + j * 60_000,
                           "session_id": t0, "platform": "Web", "country": "FR",
                           "event_properties": {"n": j, "kind": "a"}})
    # no-session events, and identify events that must not count as activity
    events.append({"event_type": "open", "user_id": "user-011", "time": BASE_MS + 3 * DAY_MS,
                   "country": "US", "platform": "Web"})
    events.append({"event_type": "$identify", "user_id": "user-012", "time": BASE_MS + DAY_MS,
                   "user_properties": {"$set": {"plan": "pro"}}})
    events.append({"event_type": "$identify", "user_id": "user-001", "time": BASE_MS - DAY_MS,
                   "user_properties": {"$set": {"plan": "pro"}}})
    events.sort(key=lambda e: e["time"])
    return events


EVENTS = make_events()


def local(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, ZONE).replace(tzinfo=None)


def day(ms: int) -> dt.date:
    return local(ms).date()


def days(start: dt.date = START, end: dt.date = END) -> list[dt.date]:
    return [start + dt.timedelta(days=k) for k in range((end - start).days + 1)]


def ymd(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def active(ev: dict[str, Any]) -> bool:
    return ev["event_type"] not in IDENTIFY


def in_range(ev: dict[str, Any], start: dt.date = START, end: dt.date = END) -> bool:
    return start <= day(ev["time"]) <= end


def per_day_users(events: list[dict[str, Any]]) -> dict[dt.date, set[str]]:
    out: dict[dt.date, set[str]] = defaultdict(set)
    for ev in events:
        out[day(ev["time"])].add(ev["user_id"])
    return out


@dataclass
class Dash:
    """A running server with :data:`EVENTS` ingested in a ``TZ`` project."""

    running: RunningServer
    http: httpx.Client

    def get(self, path: str, auth: tuple[str, str] = (KEY, SECRET),
            **params: Any) -> httpx.Response:
        """``params``: a tuple value repeats the parameter; lists and dicts go as JSON."""
        pairs: list[tuple[str, str]] = []
        for key, value in params.items():
            for item in value if isinstance(value, tuple) else [value]:
                text = item if isinstance(item, str) else json.dumps(item)
                pairs.append((key, text))
        return self.http.get(path, params=pairs, auth=auth)

    def data(self, path: str, **params: Any) -> Any:
        r = self.get(path, **params)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def error(self, path: str, status: int = 400, **params: Any) -> dict[str, Any]:
        r = self.get(path, **params)
        assert r.status_code == status, r.text
        body: dict[str, Any] = r.json()
        return body["error"]


def start_dash(events: list[dict[str, Any]] | None = None, tz: str = TZ) -> Dash:
    cfg = config(throttle_enabled=False, projects=[
        ProjectConfig(project_id=1, api_key=KEY, secret_key=SECRET, timezone=tz)])
    running = serve_in_thread(cfg)
    http = httpx.Client(base_url=running.url, timeout=60)
    batch = EVENTS if events is None else events
    for i in range(0, len(batch), 500):
        r = http.post("/batch", json={"api_key": KEY, "events": batch[i:i + 500]})
        assert r.status_code == 200, r.text
    return Dash(running, http)


@pytest.fixture(scope="module")
def dash() -> Iterator[Dash]:
    d = start_dash()
    yield d
    d.http.close()
    d.running.stop()


RANGE = {"start": ymd(START), "end": ymd(END)}


# --- cross-cutting checks --------------------------------------------------------------------

PATHS = ["/api/2/users", "/api/2/sessions/length", "/api/2/sessions/average",
         "/api/2/sessions/peruser", "/api/2/composition", "/api/2/events/list",
         "/api/2/events/segmentation", "/api/2/realtime", "/api/2/funnels", "/api/2/retention",
         "/api/2/revenue/ltv", "/api/2/usersearch", "/api/2/useractivity",
         "/api/3/chart/some-chart/query", "/api/3/chart/some-chart/csv"]


@pytest.mark.parametrize("path", PATHS)
def test_every_route_needs_the_key_pair(dash: Dash, path: str) -> None:
    r = dash.get(path, auth=(KEY, "wrong-secret"), **RANGE)
    assert r.status_code == 401
    assert r.json()["error"]["http_code"] == 401
    assert "wrong-secret" not in r.text
    assert dash.http.get(path, params=RANGE).status_code == 401


@pytest.mark.parametrize(("params", "param", "needle"), [
    ({"start": "2024-03-07", "end": "20240313"}, "start", "YYYYMMDD"),
    ({"start": "20240313", "end": "20240307"}, "end", "before start"),
    ({"start": "20240230", "end": "20240307"}, "start", "calendar date"),
    ({"end": "20240307"}, "start", "required"),
    ({**RANGE, "i": "3"}, "i", "7"),
    ({**RANGE, "m": "sleepy"}, "m", "active"),
    ({**RANGE, "s": "[{not json"}, "s", "JSON"),
    ({**RANGE, "s": '[{"prop": "country", "op": "resembles", "values": ["US"]}]'}, "s",
     "operator"),
    ({**RANGE, "s": ("[]", "[]"), "g": "country"}, "g", "single segment"),
    ({"start": "20240101", "end": "20250301"}, "end", "365"),
])
def test_bad_parameters_get_the_error_envelope(dash: Dash, params: dict[str, Any], param: str,
                                               needle: str) -> None:
    err = dash.error("/api/2/users", **params)
    assert set(err) == {"http_code", "type", "message", "metadata"}
    assert err["http_code"] == 400 and err["type"] == "invalid_request"
    assert err["metadata"]["parameter"] == param
    assert err["metadata"]["details"].startswith(param)
    assert needle in err["metadata"]["details"]
    assert param in err["message"]


def test_bodies_load_into_the_client_models(dash: Dash) -> None:
    from ampkit.models.dashboard.segmentation import SegmentationResult
    from ampkit.models.dashboard.sessions import SessionAverageResult
    from ampkit.models.dashboard.users import UsersResult

    users = UsersResult.from_body(dash.get("/api/2/users", **RANGE).json())
    assert users.labels() == ["0"] and len(users.rows()) == len(days())
    avg = SessionAverageResult.from_body(dash.get("/api/2/sessions/average", **RANGE).json())
    assert len(avg.lengths()) == len(days())
    seg = SegmentationResult.from_body(dash.get(
        "/api/2/events/segmentation", e={"event_type": "open"}, **RANGE).json())
    assert seg.totals() == [len({e["user_id"] for e in EVENTS
                                 if e["event_type"] == "open" and in_range(e)})]


def test_shapes_match_the_real_fixtures(dash: Dash) -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "fixtures/airbyte/responses"
    for name, path in (("users__one_series.json", "/api/2/users"),
                       ("sessions_average__one_series.json", "/api/2/sessions/average")):
        real = json.loads((root / name).read_text())
        ours = dash.get(path, **RANGE).json()
        assert set(ours) == set(real) and set(ours["data"]) == set(real["data"])
        assert ours["data"]["seriesLabels"] == real["data"]["seriesLabels"]
        assert ours["data"]["seriesMeta"] == real["data"]["seriesMeta"]
        assert all(isinstance(row, list) and len(row) == 1
                   for row in ours["data"]["seriesCollapsed"])


@pytest.mark.parametrize("name", ["users__empty_series.json",
                                  "sessions_average__empty_series.json"])
def test_a_range_without_data_answers_as_the_real_empty_fixtures(dash: Dash, name: str) -> None:
    """No event in the range: no row in ``series``, the collapsed value still 0 — the real
    bodies, to the letter (their ranges hold nothing in this project)."""
    from pathlib import Path

    real = json.loads((Path(__file__).resolve().parents[1] / "fixtures/airbyte/responses"
                       / name).read_text())
    path = "/api/2/users" if name.startswith("users") else "/api/2/sessions/average"
    days_of = real["data"]["xValues"]
    ours = dash.get(path, start=days_of[0].replace("-", ""),
                    end=days_of[-1].replace("-", "")).json()
    assert ours == real
