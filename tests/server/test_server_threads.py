"""No DuckDB on the event loop: a real server (no faults) whose store's connection and lock are
observed — every call records the thread it ran in — answers one request of every route it
serves, and none of those calls ran in the event loop's thread."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import duckdb
import httpx
import pytest
from tests.server.conftest import KEY, SECRET, config

from ampkit.server import RunningServer, Store, serve_in_thread
from ampkit.server.app import ROUTES

Call = tuple[threading.Thread, str]


class Watched:
    """A DuckDB connection (or cursor) that notes the thread of every method called on it, and
    of everything it hands out; it does nothing else."""

    def __init__(self, inner: duckdb.DuckDBPyConnection, calls: list[Call]) -> None:
        self._inner = inner
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._calls.append((threading.current_thread(), name))
            out = attr(*args, **kwargs)
            if out is self._inner:
                return self
            if isinstance(out, duckdb.DuckDBPyConnection):
                return Watched(out, self._calls)
            return out

        return call


class WatchedLock:
    """The store's lock, noting the thread of every acquisition."""

    def __init__(self, inner: Any, calls: list[Call]) -> None:
        self._inner = inner
        self._calls = calls

    def acquire(self, *args: Any, **kwargs: Any) -> bool:
        self._calls.append((threading.current_thread(), "lock"))
        return bool(self._inner.acquire(*args, **kwargs))

    def release(self) -> None:
        self._inner.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@pytest.fixture
def watched() -> Iterator[tuple[RunningServer, list[Call]]]:
    calls: list[Call] = []
    cfg = config(throttle_enabled=False)
    store = Store(cfg)
    store.con = Watched(store.con, calls)  # type: ignore[assignment]
    store.lock = WatchedLock(store.lock, calls)  # type: ignore[assignment]
    srv = serve_in_thread(cfg, store=store)
    yield srv, calls
    srv.stop()


def _template(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", path)


SERVED = {(_template(r.path), m) for r in ROUTES for m in getattr(r, "methods", None) or ()
          if m != "HEAD"}
T0 = 1_709_294_400_000  # 2024-03-01 12:00 UTC
E_OPEN = json.dumps({"event_type": "open"})
DAYS = {"start": "20240301", "end": "20240302"}
DASHBOARD: dict[str, dict[str, Any]] = {
    "/api/2/users": DAYS, "/api/2/composition": {**DAYS, "p": "country"},
    "/api/2/realtime": {}, "/api/2/events/segmentation": {**DAYS, "e": E_OPEN},
    "/api/2/events/list": {}, "/api/2/sessions/length": DAYS,
    "/api/2/sessions/average": DAYS, "/api/2/sessions/peruser": DAYS,
    "/api/2/funnels": {**DAYS, "e": [E_OPEN, json.dumps({"event_type": "buy"})]},
    "/api/2/retention": {**DAYS, "se": E_OPEN, "re": E_OPEN},
    "/api/2/revenue/ltv": DAYS, "/api/2/usersearch": {"user": "user-1"},
}


class Client:
    """Sends requests, noting the operation (path template, method) each one exercised."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, auth=(KEY, SECRET), timeout=60)
        self.done: set[tuple[str, str]] = set()

    def __call__(self, method: str, template: str, path: str | None = None,
                 **kw: Any) -> httpx.Response:
        r = self.http.request(method, path or template, **kw)
        assert r.status_code < 300, (method, path or template, r.status_code, r.text)
        self.done.add((template, method))
        return r


def test_no_duckdb_call_and_no_store_lock_on_the_event_loop(
    watched: tuple[RunningServer, list[Call]],
) -> None:
    srv, calls = watched
    call = Client(srv.url)
    ev = [{"event_type": t, "user_id": "user-1", "device_id": "device-1", "time": T0 + k,
           "session_id": T0, "country": "FR", "event_properties": {"screen": "home"},
           "user_properties": {"plan": "pro"}, "groups": {"org": "o1"}}
          for k, t in enumerate(["open", "buy"])]
    ident = json.dumps({"user_id": "user-1", "user_properties": {"$set": {"age": 3}}})
    group = json.dumps({"group_type": "org", "group_value": "o1",
                        "group_properties": {"$set": {"n": 1}}})
    # ingestion
    call("POST", "/2/httpapi", json={"api_key": KEY, "events": ev}, auth=None)
    call("POST", "/batch", json={"api_key": KEY, "events": ev[:1]}, auth=None)
    call("GET", "/identify", params={"api_key": KEY, "identification": ident}, auth=None)
    call("POST", "/identify", data={"api_key": KEY, "identification": ident}, auth=None)
    call("GET", "/groupidentify", params={"api_key": KEY, "identification": group}, auth=None)
    call("POST", "/groupidentify", data={"api_key": KEY, "identification": group}, auth=None)
    amp = call("GET", "/_ampkit/events").json()[0]["amplitude_id"]
    # admin
    call("GET", "/_ampkit/stats")
    call("GET", "/_ampkit/users/{user_id}", "/_ampkit/users/user-1")
    call("GET", "/_ampkit/groups/{group_type}/{group_value}", "/_ampkit/groups/org/o1")
    call("GET", "/_ampkit/faults")
    call("POST", "/_ampkit/faults", json={})
    # the event inspector, its read API and the bad-event bucket
    call("POST", "/2/httpapi", json={"api_key": KEY, "events": [{**ev[0], "insert_id": "i-1"}]},
         auth=None)
    call("GET", "/_ampkit/events/counts", params={"interval": "minute"})
    call("GET", "/_ampkit/events/{insert_id}", "/_ampkit/events/i-1")
    for page in ("/_ampkit/ui", "/_ampkit/ui/app.js", "/_ampkit/ui/style.css", "/_ampkit/plan"):
        call("GET", page)
    refused = call.http.post("/2/httpapi", json={"api_key": KEY, "events": [
        {"event_type": "no ids"}]}, auth=None)
    assert refused.status_code == 400
    bad = call("GET", "/_ampkit/bad-events").json()["bad_events"]
    call("GET", "/_ampkit/bad-requests/{request_id}",
         f"/_ampkit/bad-requests/{bad[0]['request']['id']}")
    # Dashboard, saved charts
    for path, params in DASHBOARD.items():
        call("GET", path, params=params)
    call("GET", "/api/2/useractivity", params={"user": amp})
    chart = call("POST", "/_ampkit/charts", json={
        "endpoint": "events/segmentation", "params": {"e": {"event_type": "open"}, **DAYS}},
    ).json()["chart_id"]
    call("GET", "/api/3/chart/{chart_id}/query", f"/api/3/chart/{chart}/query")
    call("GET", "/api/3/chart/{chart_id}/csv", f"/api/3/chart/{chart}/csv")
    # export
    now = dt.datetime.now(dt.UTC)
    hours = {"start": f"{now - dt.timedelta(hours=1):%Y%m%dT%H}",
             "end": f"{now + dt.timedelta(hours=1):%Y%m%dT%H}"}
    call("GET", "/api/2/export", params=hours)
    # annotations
    call("POST", "/api/2/annotations", params={"app_id": 1, "date": "2024-03-01", "label": "v"})
    call("GET", "/api/2/annotations")
    cid = call("POST", "/api/3/annotation-categories", json={"category": "R"}).json()["data"]["id"]
    call("GET", "/api/3/annotation-categories")
    item = "/api/3/annotation-categories/{category_id}"
    call("GET", item, f"/api/3/annotation-categories/{cid}")
    call("PUT", item, f"/api/3/annotation-categories/{cid}", json={"category": "R2"})
    aid = call("POST", "/api/3/annotations", json={
        "label": "L", "start": "2024-03-01T00:00:00Z", "category": "R2"}).json()["data"]["id"]
    call("GET", "/api/3/annotations", params={"category": "R2"})
    note = "/api/3/annotations/{annotation_id}"
    call("GET", note, f"/api/3/annotations/{aid}")
    call("PUT", note, f"/api/3/annotations/{aid}", json={"label": "L2", "end": None})
    call("DELETE", note, f"/api/3/annotations/{aid}")
    call("DELETE", item, f"/api/3/annotation-categories/{cid}")
    # cohorts, and the profile that lists them
    cohort = call("POST", "/api/3/cohorts/upload", json={
        "name": "c", "app_id": 1, "id_type": "BY_USER_ID", "ids": ["user-1"], "owner": "me",
        "published": True}).json()["cohortId"]
    call("GET", "/api/3/cohorts")
    call("POST", "/api/3/cohorts/membership", json={"cohort_id": cohort, "memberships": [
        {"ids": [str(amp)], "id_type": "BY_ID", "operation": "ADD"}]})
    rid = call("GET", "/api/5/cohorts/request/{cohort_id}", f"/api/5/cohorts/request/{cohort}",
               params={"props": 1}).json()["request_id"]
    for _ in range(2):
        call("GET", "/api/5/cohorts/request-status/{request_id}",
             f"/api/5/cohorts/request-status/{rid}")
    call("GET", "/api/5/cohorts/request/{request_id}/file", f"/api/5/cohorts/request/{rid}/file")
    profile = call("GET", "/v1/userprofile", params={"user_id": "user-1", "get_cohort_ids": 1},
                   headers={"Authorization": f"Api-Key {SECRET}"}, auth=None)
    assert profile.json()["userData"]["cohort_ids"] == [cohort]
    # taxonomy
    tax = "/api/2/taxonomy"
    call("GET", f"{tax}/event")
    call("GET", f"{tax}/event/{{event_type}}", f"{tax}/event/open")
    call("GET", f"{tax}/event-property")
    call("GET", f"{tax}/event-property/{{event_property}}", f"{tax}/event-property/screen")
    call("GET", f"{tax}/user-property")
    call("GET", f"{tax}/user-property/{{user_property}}", f"{tax}/user-property/plan")
    call("POST", f"{tax}/category", data={"category_name": "Core"})
    listed = call("GET", f"{tax}/category").json()["data"]
    one = f"{tax}/category/{{category_name}}"
    call("GET", one, f"{tax}/category/Core")
    call("PUT", one, f"{tax}/category/{listed[0]['id']}", data={"category_name": "Main"})
    call("DELETE", one, f"{tax}/category/{listed[0]['id']}")
    # the rest
    call("GET", "/health")
    call("GET", "/openapi.json")
    call("POST", "/_ampkit/reset")
    call.http.close()

    assert call.done == SERVED, f"routes served but not exercised here: {SERVED - call.done}"
    loop = srv.app.loop_thread
    assert loop is not None and loop.is_alive()
    assert {name for _, name in calls} >= {"execute", "cursor", "lock"}
    on_loop = sorted({name for thread, name in calls if thread is loop})
    assert on_loop == [], f"DuckDB calls or store-lock waits on the event loop: {on_loop}"
