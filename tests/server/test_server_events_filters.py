"""The read API behind the event inspector: ``/_ampkit/events`` filters, order and cursor,
look-up by insert_id, counts over time, the stats' throttles and silenced devices, and the
``/_ampkit/ui`` page's auth and headers.  Real server, real HTTP; each answer is checked
against what plain Python computes from the unfiltered events."""

from __future__ import annotations

import datetime as dt
import re
import shlex
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.conftest import KEY, KEY2, SECRET, SECRET2, Api, config

from ampkit.server import DEMO_API_KEY, DEMO_SECRET_KEY, ProjectConfig, serve_in_thread
from ampkit.server.routes.ui import CSP

T0 = 1_709_294_400_000  # 2024-03-01 12:00:00 UTC
MINUTE = 60_000
ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "src" / "ampkit" / "server" / "ui"


def ev(n: int, event_type: str = "Viewed", user: str = "user-1", **kw: Any) -> dict[str, Any]:
    return {"event_type": event_type, "user_id": user, "device_id": f"dev-{user}",
            "insert_id": f"ins-{n}", "time": T0 + n * MINUTE, **kw}


def corpus() -> list[dict[str, Any]]:
    types = ["Viewed", "Clicked", "Viewed", "Bought"]
    return [ev(n, types[n % 4], f"user-{n % 3}") for n in range(12)]


def events(api: Api, key: str = KEY, secret: str = SECRET,
           **params: Any) -> tuple[list[dict[str, Any]], int]:
    r = api.http.get("/_ampkit/events", params=params, auth=(key, secret))
    assert r.status_code == 200, r.text
    return r.json(), int(r.headers["Ampkit-Cursor"])


def ids(found: list[dict[str, Any]]) -> list[str]:
    return [e["$insert_id"] for e in found]


def stored_time(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f")


def test_the_default_answer_is_unchanged_and_carries_a_cursor(api: Api) -> None:
    api.post_events(corpus()).raise_for_status()
    found, cursor = events(api)
    assert ids(found) == [f"ins-{n}" for n in range(12)]  # arrival order
    assert all("seq" not in e for e in found)  # the Export API's shape, as before
    assert found == api.stored()
    assert events(api, after_seq=cursor) == ([], cursor)  # nothing newer; the cursor stays


@pytest.mark.parametrize("params", [
    {"event_type": "Viewed"}, {"user_id": "user-2"}, {"device_id": "dev-user-0"},
    {"insert_id": "ins-7"}, {"event_type": "Viewed", "user_id": "user-0"},
    {"event_type": "viewed"},  # exact, case and all
    {"user_id": "nobody"},
])
def test_each_filter_keeps_exactly_the_matching_events(api: Api,
                                                       params: dict[str, str]) -> None:
    api.post_events(corpus()).raise_for_status()
    api.post_events([ev(99, user="user-2")], key=KEY2).raise_for_status()  # another project
    everything, _ = events(api)
    keys = {"insert_id": "$insert_id"}
    expected = [e for e in everything
                if all(e[keys.get(k, k)] == v for k, v in params.items())]
    assert events(api, **params)[0] == expected


def test_since_and_until_bound_the_event_time(api: Api) -> None:
    api.post_events(corpus()).raise_for_status()
    everything, _ = events(api)
    for since, until in ((2, 5), (0, 1), (11, 12), (5, 5 + 1)):
        low, high = T0 + since * MINUTE, T0 + until * MINUTE
        expected = [e for e in everything
                    if low <= (stored_time(e["event_time"]) - dt.datetime(1970, 1, 1))
                    // dt.timedelta(milliseconds=1) < high]
        found, _ = events(api, time_field="event_time", since=low, until=high)
        assert found == expected and len(found) == until - since


@pytest.mark.parametrize("spelling", [
    "2024-03-01T12:03:00Z", "2024-03-01T14:03:00+02:00", "2024-03-01T12:03",
    "2024-03-01 12:03:00.000000", str(T0 + 3 * MINUTE)])
def test_a_time_is_iso_8601_or_epoch_milliseconds(api: Api, spelling: str) -> None:
    api.post_events(corpus()).raise_for_status()
    found, _ = events(api, time_field="event_time", since=spelling)
    assert ids(found) == [f"ins-{n}" for n in range(3, 12)]
    found, _ = events(api, time_field="event_time", until=spelling)
    assert ids(found) == ["ins-0", "ins-1", "ins-2"]


def test_since_and_until_bound_the_arrival_by_default(api: Api) -> None:
    api.post_events(corpus()[:6]).raise_for_status()
    api.post_events(corpus()[6:]).raise_for_status()
    everything, _ = events(api)
    received = sorted({e["server_received_time"] for e in everything})
    for bound in received:
        at = stored_time(bound)
        assert events(api, since=bound)[0] == [
            e for e in everything if stored_time(e["server_received_time"]) >= at]
        assert events(api, until=bound)[0] == [
            e for e in everything if stored_time(e["server_received_time"]) < at]
    later = stored_time(received[-1]) + dt.timedelta(milliseconds=1)
    assert events(api, since=later.isoformat() + "Z")[0] == []


def test_order_limit_and_offset_page_through_the_filtered_events(api: Api) -> None:
    api.post_events(corpus()).raise_for_status()
    viewed, _ = events(api, event_type="Viewed")
    assert len(viewed) == 6
    assert events(api, event_type="Viewed", order="desc")[0] == viewed[::-1]
    assert events(api, event_type="Viewed", limit=2, offset=1)[0] == viewed[1:3]
    assert events(api, event_type="Viewed", order="desc", limit=2)[0] == viewed[:-3:-1]


def test_the_cursor_gives_only_what_arrived_since(api: Api) -> None:
    api.post_events(corpus()[:5]).raise_for_status()
    first, cursor = events(api, limit=2)
    assert ids(first) == ["ins-0", "ins-1"]
    rest, cursor = events(api, after_seq=cursor)
    assert ids(rest) == ["ins-2", "ins-3", "ins-4"]
    api.post_events([ev(20, "Bought"), ev(21, "Viewed")]).raise_for_status()
    api.post_events([ev(22, user="user-9")], key=KEY2).raise_for_status()
    fresh, newer = events(api, after_seq=cursor)
    assert ids(fresh) == ["ins-20", "ins-21"] and newer > cursor
    assert ids(events(api, after_seq=cursor, event_type="Bought")[0]) == ["ins-20"]
    assert events(api, after_seq=newer) == ([], newer)
    # newest first, as the inspector opens a view: the cursor is still the newest's
    page, top = events(api, order="desc", limit=1)
    assert ids(page) == ["ins-21"] and top == newer


def test_lookup_by_insert_id(api: Api) -> None:
    api.post_events([ev(1), ev(2, insert_id="a/b c?d"),
                     ev(3, insert_id="twice", user="user-1"),
                     ev(4, insert_id="twice", user="user-2")]).raise_for_status()
    api.post_events([ev(5, insert_id="theirs", user="user-3")], key=KEY2).raise_for_status()
    r = api.admin("GET", "/_ampkit/events/ins-1")
    assert r.status_code == 200 and r.json()["$insert_id"] == "ins-1"
    assert r.json() == events(api, insert_id="ins-1")[0][0]
    assert api.admin("GET", "/_ampkit/events/a/b%20c%3Fd").json()["$insert_id"] == "a/b c?d"
    assert api.admin("GET", "/_ampkit/events/a%2Fb%20c%3Fd").json()["$insert_id"] == "a/b c?d"
    # two devices may each send an insert_id: the path gives the last, the filter both
    assert api.admin("GET", "/_ampkit/events/twice").json()["user_id"] == "user-2"
    assert [e["user_id"] for e in events(api, insert_id="twice")[0]] == ["user-1", "user-2"]
    for unknown in ("nope", "theirs"):  # another project's event is not this one's to see
        r = api.admin("GET", f"/_ampkit/events/{unknown}")
        assert r.status_code == 404 and r.json() == {"error": "unknown insert_id"}
    assert api.http.get("/_ampkit/events/ins-1").status_code == 401


def counts(api: Api, **params: Any) -> dict[str, Any]:
    r = api.admin("GET", "/_ampkit/events/counts", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_counts_over_event_time_fill_every_bucket(api: Api) -> None:
    api.post_events(corpus()).raise_for_status()
    everything, _ = events(api)
    body = counts(api, time_field="event_time", since="2024-03-01T11:58:30Z",
                  until="2024-03-01T12:14:00Z", by="event_type")
    assert (body["since"], body["until"]) == ("2024-03-01T11:58:00Z", "2024-03-01T12:14:00Z")
    expected: dict[str, Counter[str]] = {}
    for e in everything:
        start = stored_time(e["event_time"]).replace(second=0, microsecond=0)
        expected.setdefault(start.isoformat() + "Z", Counter())[e["event_type"]] += 1
    assert len(body["buckets"]) == 16 and body["total"] == 12
    for bucket in body["buckets"]:
        types = expected.get(bucket["start"], Counter())
        assert (bucket["count"], bucket["event_types"]) == (types.total(), dict(types))
    assert body["buckets"][0] == {"start": "2024-03-01T11:58:00Z", "count": 0,
                                  "event_types": {}}


def test_counts_take_the_filters_and_larger_intervals(api: Api) -> None:
    api.post_events(corpus()).raise_for_status()
    hourly = counts(api, time_field="event_time", interval="hour", user_id="user-1",
                    since="2024-03-01T10:30:00Z", until="2024-03-01T13:00:00Z")
    assert [(b["start"], b["count"]) for b in hourly["buckets"]] == [
        ("2024-03-01T10:00:00Z", 0), ("2024-03-01T11:00:00Z", 0), ("2024-03-01T12:00:00Z", 4)]
    assert "event_types" not in hourly["buckets"][0]
    daily = counts(api, time_field="event_time", interval="day", event_type="Bought",
                   since="2024-02-29", until="2024-03-02")
    assert [b["count"] for b in daily["buckets"]] == [0, 3]


def test_counts_default_to_the_last_60_minutes_of_arrivals(api: Api) -> None:
    api.post_events(corpus()).raise_for_status()
    before = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    body = counts(api)
    after = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    assert body["interval"] == "minute" and body["time_field"] == "server_received_time"
    assert len(body["buckets"]) == 60 and body["total"] == 12
    last = dt.datetime.fromisoformat(body["buckets"][-1]["start"])  # the current minute
    assert before <= last <= after


@pytest.mark.parametrize(("until", "last"), [
    ("2024-03-01T00:00:00Z", "2024-02-29T00:00:00Z"),  # on a boundary: the day before it
    ("2024-03-01T12:30:00Z", "2024-03-01T00:00:00Z"),  # inside a day: that day
])
def test_counts_without_since_are_60_buckets_whatever_until_is(api: Api, until: str,
                                                                last: str) -> None:
    body = counts(api, interval="day", until=until)
    assert len(body["buckets"]) == 60 and body["buckets"][-1]["start"] == last


@pytest.mark.parametrize(("path", "query", "field"), [
    ("/_ampkit/events", "since=yesterday", "since"),
    ("/_ampkit/events", "until=2024-02-30", "until"),
    ("/_ampkit/events", "since=1969-12-31T23:59:59Z", "since"),
    ("/_ampkit/events", "until=" + "9" * 17, "until"),
    ("/_ampkit/events", "since=2024-03-02&until=2024-03-01", "until"),
    ("/_ampkit/events", "time_field=client_event_time", "time_field"),
    ("/_ampkit/events", "order=newest", "order"),
    ("/_ampkit/events", "after_seq=-1", "after_seq"),
    ("/_ampkit/events", "after_seq=1e3", "after_seq"),
    ("/_ampkit/events/counts", "interval=week", "interval"),
    ("/_ampkit/events/counts", "by=user_id", "by"),
    ("/_ampkit/events/counts", "since=2000-01-01T00:00:00Z", "since"),
    ("/_ampkit/events/counts", "since=2999-01-01&interval=day", "since"),
    ("/_ampkit/events/counts", "until=nope", "until"),
])
def test_a_bad_parameter_is_a_400_naming_it(api: Api, path: str, query: str,
                                            field: str) -> None:
    r = api.admin("GET", f"{path}?{query}")
    assert r.status_code == 400, r.text
    meta = r.json()["error"]["metadata"]
    assert meta["parameter"] == field and meta["details"].startswith(f"{field}: ")


def test_stats_show_silenced_devices_and_the_throttles_now() -> None:
    with serve_in_thread(config()) as srv:  # throttles on, project 1 silences a device
        http = httpx.Client(base_url=srv.url, timeout=30)
        burst = [{"event_type": "Tick", "user_id": "busy-user", "insert_id": f"b{n}"}
                 for n in range(900)]  # 30 EPS over the 30 s window: at the limit
        for events_ in (burst, [{"event_type": "Tick", "user_id": "calm-user"}]):
            http.post("/2/httpapi", json={"api_key": KEY, "events": events_}).raise_for_status()
        stats = http.get("/_ampkit/stats", auth=(KEY, SECRET)).json()
        assert stats["silenced_devices"] == ["silenced-device-1"]
        throttle = stats["throttle"]
        assert (throttle["enabled"], throttle["window_seconds"], throttle["daily_quota"]) == (
            True, 30, 500_000)
        assert throttle["httpapi"]["eps_limit"] == 30 and throttle["batch"]["busiest"] == []
        assert throttle["httpapi"]["busiest"] == [
            {"kind": "user", "id": "busy-user", "eps": 30.0, "last_24h": 900, "throttled": True},
            {"kind": "user", "id": "calm-user", "eps": round(1 / 30, 2), "last_24h": 1,
             "throttled": False}]
        # "throttled" is what the server does with the next event
        one_more = {"event_type": "Tick", "user_id": "busy-user"}
        assert http.post("/2/httpapi", json={"api_key": KEY, "events": [one_more]}
                         ).status_code == 429
        other = http.get("/_ampkit/stats", auth=(KEY2, SECRET2)).json()
        assert other["silenced_devices"] == [] and other["throttle"]["httpapi"]["busiest"] == []
        http.close()


# --- the page ------------------------------------------------------------------------------

def test_the_page_is_behind_the_key_pair_and_its_files_are_public(api: Api) -> None:
    anonymous = api.http.get("/_ampkit/ui")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Basic realm="ampkit"'
    assert api.http.get("/_ampkit/ui", auth=(KEY, SECRET2)).status_code == 401
    page = api.admin("GET", "/_ampkit/ui")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        r = api.http.get(f"/_ampkit/ui/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
        assert r.content == (UI / name).read_bytes()
        assert r.headers["content-security-policy"] == CSP
    for r in (anonymous, page):
        assert "Traceback" not in r.text
    assert page.headers["content-security-policy"] == CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert api.http.head("/_ampkit/ui", auth=(KEY, SECRET)).status_code == 200


def test_the_policy_allows_no_inline_code_and_the_files_need_none() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "connect-src"):
        assert directives[name] == "'self'"
    html = (UI / "index.html").read_text()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all('src="' in attrs and body == "" for attrs, body in scripts)
    assert "<style" not in html and " style=" not in html and "on" + "click=" not in html
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handler
    script = (UI / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "setAttribute(\"style"):
        assert sink not in script, sink
    assert "http://" not in script.replace("http://www.w3.org/2000/svg", "")


def test_the_files_ship_as_package_data() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["package-data"]["ampkit"]
    shipped = {p for pattern in patterns for p in (ROOT / "src" / "ampkit").glob(pattern)}
    assert {p for p in UI.iterdir() if p.is_file()} <= shipped
    assert {"index.html", "app.js", "style.css"} <= {p.name for p in shipped}


# --- the README's examples -------------------------------------------------------------------

def _readme_curls() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### The event inspector: `/_ampkit/ui`\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [shlex.split(line, comments=True)[1:] for line in block.splitlines()
            if line.startswith("curl ")]


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def test_the_readme_examples_run() -> None:
    """Each ``curl`` line of the section, sent as it is to a server like ``ampkit serve``'s
    (the demo key pair; a free port instead of 8787): every answer is a 200."""
    commands = _readme_curls()
    assert len(commands) >= 6
    with serve_in_thread(config(projects=[ProjectConfig()])) as srv, httpx.Client() as http:
        for args in commands:
            url = next(a for a in args if a.startswith("http://127.0.0.1:8787/"))
            body, user = _option(args, "--json"), _option(args, "-u")
            if user is not None:
                assert user == f"{DEMO_API_KEY}:{DEMO_SECRET_KEY}"
            r = http.request("POST" if body else "GET",
                             url.replace("http://127.0.0.1:8787", srv.url),
                             content=body, auth=(DEMO_API_KEY, DEMO_SECRET_KEY) if user else None,
                             headers={"Content-Type": "application/json"} if body else None)
            assert r.status_code == 200, (args, r.text)
            if "-D" in args:  # the comments' claims, on a fresh server
                assert r.headers["Ampkit-Cursor"] == "1"
            if url.endswith("after_seq=1"):
                assert r.json() == []
