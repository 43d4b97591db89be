"""Tracking plans enforced where events arrive, and the bad-event bucket — a real server over
HTTP: reject / flag / allow, requests refused by Amplitude's rules kept with the rule, the
bucket bounded and cleared by reset, its route's parameters checked, and nothing 5xx whatever
the events are."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from ampkit.server import LimitsConfig, ProjectConfig, ServerConfig, serve_in_thread
from ampkit.server.planning import REQUEST_BODY_CAP

PLAN: dict[str, Any] = {
    "version": 1,
    "policy": {"unplanned_events": "flag", "unplanned_properties": "flag",
               "violations": "reject"},
    "events": {"Signed Up": {"properties": {"plan": {"type": "string", "enum": ["free", "pro"]},
                                            "seats": {"type": "integer", "minimum": 1,
                                                      "multipleOf": 1}},
                             "required": ["plan"]}},
    "user_properties": {"properties": {"country": {"type": "string", "pattern": "^[A-Z]{2}$"}}},
}
ALLOW = {**PLAN, "policy": {"unplanned_events": "allow", "unplanned_properties": "allow",
                            "violations": "allow"}}
KEPT = 6
KEYS = {1: ("plan-key-0001", "plan-secret-0001"), 2: ("plan-key-0002", "plan-secret-0002"),
        3: ("plan-key-0003", "plan-secret-0003")}
GOOD = {"event_type": "Signed Up", "user_id": "user-0001", "event_properties": {"plan": "pro"}}


class Project:
    def __init__(self, url: str, pid: int) -> None:
        self.key, secret = KEYS[pid]
        self.http = httpx.Client(base_url=url, auth=(self.key, secret), timeout=30)

    def send(self, *events: Any, path: str = "/2/httpapi") -> httpx.Response:
        body = json.dumps({"api_key": self.key, "events": list(events)})  # \u escapes: any str
        return self.http.post(path, content=body, headers={"Content-Type": "application/json"})

    def bad(self, **params: Any) -> dict[str, Any]:
        r = self.http.get("/_ampkit/bad-events", params=params)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def stored(self) -> list[dict[str, Any]]:
        r = self.http.get("/_ampkit/events")
        r.raise_for_status()
        events: list[dict[str, Any]] = r.json()
        return events


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    config = ServerConfig(port=0, throttle_enabled=False,
                          limits=LimitsConfig(bad_events_kept=KEPT), projects=[
        ProjectConfig(project_id=1, api_key=KEYS[1][0], secret_key=KEYS[1][1], plan=PLAN),
        ProjectConfig(project_id=2, api_key=KEYS[2][0], secret_key=KEYS[2][1], plan=ALLOW),
        ProjectConfig(project_id=3, api_key=KEYS[3][0], secret_key=KEYS[3][1],
                      silenced_devices=["silenced-0001"])])
    with serve_in_thread(config) as srv:
        yield srv.url


class Projects(dict[int, Project]):
    """The server's projects, each reset when a test first uses it."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def __missing__(self, pid: int) -> Project:
        project = self[pid] = Project(self.url, pid)
        project.http.post("/_ampkit/reset").raise_for_status()
        return project


@pytest.fixture
def projects(url: str) -> Iterator[Projects]:
    made = Projects(url)
    yield made
    for project in made.values():
        project.http.close()


def test_one_rejected_event_refuses_the_whole_request_as_amplitude_does(
        projects: Projects) -> None:
    p = projects[1]
    r = p.send(GOOD, {**GOOD, "event_properties": {"plan": "pro", "seats": 0}},
               {**GOOD, "event_properties": {}, "insert_id": "ins-0003"})
    assert r.status_code == 400
    assert r.json() == {"code": 400, "error": "Invalid field values on some events",
                        "events_with_invalid_fields": {"event_properties.seats": [1]},
                        "events_with_missing_fields": {"event_properties.plan": [2]}}
    assert p.stored() == []
    page = p.bad()
    assert page["total"] == 2
    newest, oldest = page["bad_events"]
    assert newest["id"] > oldest["id"]
    assert (newest["kind"], newest["path"], newest["rule"], newest["disposition"]) == (
        "violation", "/event_properties/plan", "'plan' is a required property", "rejected")
    assert (newest["insert_id"], newest["event"]["insert_id"]) == ("ins-0003", "ins-0003")
    assert oldest["rule"] == "0 is less than the minimum of 1"
    assert oldest["event"]["event_properties"] == {"plan": "pro", "seats": 0}
    assert newest["request"] == oldest["request"]
    assert newest["request"]["path"] == "/2/httpapi"
    assert dt.datetime.fromisoformat(newest["received_at"]).utcoffset() == dt.timedelta(0)
    kept = p.http.get(f"/_ampkit/bad-requests/{newest['request']['id']}").json()
    assert orjson.loads(kept["body"])["api_key"] == "***"
    assert p.key not in kept["body"] and kept["truncated"] is False
    assert p.http.get("/_ampkit/stats").json()["rejected"] == 1


def test_flagged_events_are_stored_and_kept_in_the_bucket(projects: Projects) -> None:
    p = projects[1]
    r = p.send({"event_type": "Clicked", "user_id": "user-0001"},
               {**GOOD, "event_properties": {"plan": "free", "ref": "ad"},
                "user_properties": {"$set": {"country": "FR", "age": 3}}}, path="/batch")
    assert r.status_code == 200 and r.json()["events_ingested"] == 2
    assert [e["event_type"] for e in p.stored()] == ["Clicked", "Signed Up"]
    page = p.bad()
    assert [(b["kind"], b["event_type"], b["path"], b["disposition"]) for b in
            reversed(page["bad_events"])] == [
        ("unplanned_event", "Clicked", "/event_type", "stored"),
        ("unplanned_property", "Signed Up", "/event_properties/ref", "stored"),
        ("unplanned_property", "Signed Up", "/user_properties/$set/age", "stored")]
    assert {b["request"]["path"] for b in page["bad_events"]} == {"/batch"}


def test_allowed_findings_are_stored_and_not_kept(projects: Projects) -> None:
    p = projects[2]
    r = p.send({"event_type": "Clicked", "user_id": "user-0001"},
               {**GOOD, "event_properties": {"plan": "gold", "seats": -1}})
    assert r.status_code == 200
    assert len(p.stored()) == 2
    assert p.bad() == {"bad_events": [], "total": 0}


def test_requests_refused_by_amplitudes_rules_are_kept_with_the_rule(
        projects: Projects) -> None:
    others = (projects[1], projects[2])  # reset now: nothing below is theirs
    p = projects[3]  # no plan: Amplitude's own rules only
    assert p.send({"event_type": "Opened", "user_id": "abc"}).status_code == 400  # too short
    assert p.send({"event_type": "Opened", "device_id": "silenced-0001"}).status_code == 400
    assert p.http.post("/2/httpapi", json={"api_key": p.key}).status_code == 400
    assert p.http.post("/identify", data={"api_key": p.key, "identification": orjson.dumps(
        {"user_id": "user-0001", "country": 7}).decode()}).status_code == 400
    # no project to keep them for: an unknown key, a body that is not JSON
    assert p.http.post("/2/httpapi", json={"api_key": "nobody-0001", "events": [
        {"event_type": "x", "user_id": "abc"}]}).status_code == 400
    assert p.http.post("/2/httpapi", content=b"{not json").status_code == 400
    rows = [(b["kind"], b["rule"], b["path"], b["request"]["path"], b["disposition"])
            for b in reversed(p.bad()["bad_events"])]
    assert rows == [
        ("rejected_request", "user_id is required when device_id is absent (one of the two) "
         "— user_id 'abc' counted as absent: shorter than 5 characters (min_id_length)",
         "/user_id", "/2/httpapi", "rejected"),
        ("rejected_request", "Events silenced for device_id: the device_id is silenced",
         "/device_id", "/2/httpapi", "rejected"),
        ("rejected_request", "Request missing required field: events", "/events",
         "/2/httpapi", "rejected"),
        ("rejected_request", "country must be a string", "/country", "/identify", "rejected")]
    assert [o.bad()["total"] for o in others] == [0, 0]


def test_the_bucket_keeps_the_newest_rows_and_the_requests_they_name(
        projects: Projects) -> None:
    p = projects[1]
    for n in range(4):  # two unplanned events each: 8 rows, the bucket keeps 6
        assert p.send({"event_type": f"Clicked {n}", "user_id": "user-0001"},
                      {"event_type": f"Opened {n}", "user_id": "user-0001"}).status_code == 200
    page = p.bad(limit=100)
    assert page["total"] == KEPT
    assert [b["event_type"] for b in page["bad_events"]] == [
        "Opened 3", "Clicked 3", "Opened 2", "Clicked 2", "Opened 1", "Clicked 1"]
    requests = {b["request"]["id"] for b in page["bad_events"]}
    assert len(requests) == 3
    for rid in requests:
        assert p.http.get(f"/_ampkit/bad-requests/{rid}").status_code == 200
    assert p.http.get("/_ampkit/bad-requests/0000000000000000").status_code == 404


def test_reset_clears_the_projects_bucket_only(projects: Projects) -> None:
    projects[1].send({"event_type": "Clicked", "user_id": "user-0001"})
    projects[3].send({"event_type": "Opened", "user_id": "abc"})
    rid = projects[1].bad()["bad_events"][0]["request"]["id"]
    projects[1].http.post("/_ampkit/reset").raise_for_status()
    assert projects[1].bad()["total"] == 0
    assert projects[1].http.get(f"/_ampkit/bad-requests/{rid}").status_code == 404
    assert projects[3].bad()["total"] == 1
    # one project's key pair never reads another's requests
    rid3 = projects[3].bad()["bad_events"][0]["request"]["id"]
    assert projects[1].http.get(f"/_ampkit/bad-requests/{rid3}").status_code == 404


def test_filters_and_paging(projects: Projects) -> None:
    p = projects[1]
    p.send({"event_type": "Clicked", "user_id": "user-0001"},
           {**GOOD, "event_properties": {"plan": "pro", "ref": 1}})
    assert [b["kind"] for b in p.bad(kind="unplanned_event")["bad_events"]] == [
        "unplanned_event"]
    assert p.bad(event_type="Signed Up")["total"] == 1
    assert p.bad(since="2000-01-01T00:00:00Z")["total"] == 2
    assert p.bad(since=str(2**40))["total"] == 2  # epoch ms (2004)
    assert p.bad(since="9999-01-01")["total"] == 0
    one = p.bad(limit=1, offset=1)
    assert one["total"] == 2 and [b["event_type"] for b in one["bad_events"]] == ["Clicked"]
    assert p.bad(limit=0) == {"bad_events": [], "total": 2}


@pytest.mark.parametrize(("param", "value"), [
    ("limit", "-1"), ("limit", "ten"), ("limit", "10001"), ("offset", "-1"),
    ("offset", "99999999999999999999"), ("kind", "broken"), ("since", "yesterday"),
    ("since", "99999999999999999"), ("event_type", "x" * 1025)])
def test_a_bad_parameter_is_a_400_naming_it(projects: Projects, param: str,
                                           value: str) -> None:
    r = projects[1].http.get("/_ampkit/bad-events", params={param: value})
    assert r.status_code == 400
    meta = r.json()["error"]["metadata"]
    assert meta["parameter"] == param and meta["details"].startswith(f"{param}: must be")


def test_the_routes_need_the_projects_key_pair(url: str) -> None:
    for path in ("/_ampkit/bad-events", "/_ampkit/plan", "/_ampkit/bad-requests/x"):
        assert httpx.get(f"{url}{path}").status_code == 401
        assert httpx.get(f"{url}{path}", auth=(KEYS[1][0], KEYS[2][1])).status_code == 401


def test_the_plan_route_answers_the_projects_plan(projects: Projects) -> None:
    plan = projects[1].http.get("/_ampkit/plan").json()
    assert plan["policy"] == PLAN["policy"]
    assert plan["events"]["Signed Up"]["required"] == ["plan"]
    assert projects[3].http.get("/_ampkit/plan").json() == {"plan": None}


GARBAGE: list[Any] = [
    {"event_type": "Signed Up", "user_id": "user-0001", "event_properties": [1, 2]},
    {"event_type": "Signed Up", "user_id": "user-0001", "event_properties": "plan=pro"},
    {"event_type": "Signed Up", "user_id": "user-0001",
     "event_properties": {"plan": "pro", "seats": 10**18 * 9, "x" * 2000: "y" * 1024}},
    {"event_type": "Signed Up", "user_id": "user-0001",
     "event_properties": {"plan": 1e308, "seats": 1.5e308}},
    {"event_type": "S" * 2000, "user_id": "user-0001"},
    {"event_type": "Signed Up", "user_id": "user-0001", "event_properties": {
        "plan": "pro", "seats": orjson.loads("[" * 38 + "1" + "]" * 38)}},
    {"event_type": "Signed Up", "user_id": "user-0001", "event_properties": {"plan": "pro"},
     "user_properties": {"$set": "country", "$add": {"country": "x"}}},
    {"event_type": "Signed Up", "user_id": "user-0001", "event_properties": {"plan": "pro"},
     "user_properties": {"country": {"nested": ["FR"]}, "": None}},
    {"event_type": "\ud83d\ude00 \u0000", "user_id": "user-0001",
     "event_properties": {"\u0000": "\u2028"}},
    "not an event", None, 7,
]


@pytest.mark.parametrize("event", GARBAGE)
def test_garbage_events_with_a_plan_loaded_are_never_a_5xx(projects: Projects,
                                                           event: Any) -> None:
    p = projects[1]
    for path in ("/2/httpapi", "/batch"):
        r = p.send(event, GOOD, path=path)
        assert r.status_code in (200, 400), r.text
    page = p.bad(limit=100)
    assert page["total"] >= 1  # whatever it was, it broke a rule and was kept
    assert all(isinstance(b["rule"], str) and b["rule"] for b in page["bad_events"])
    assert p.http.get("/health").status_code == 200


def test_a_body_that_cannot_be_decoded_names_no_project_to_keep_it_for(
        projects: Projects) -> None:
    p = projects[1]
    r = p.send({**GOOD, "event_properties": {"plan": "\ud800"}})  # a lone surrogate
    assert r.status_code == 400 and r.json()["error"] == "Invalid JSON request body"
    assert p.bad()["total"] == 0


def test_a_large_request_is_kept_cut_at_the_cap(projects: Projects) -> None:
    p = projects[1]
    events = [{"event_type": "Bulky", "user_id": "user-0001", "insert_id": f"bulk-{i:05d}",
               "event_properties": {"blob": "b" * 1000}} for i in range(400)]
    body = orjson.dumps({"api_key": p.key, "events": events})
    r = p.http.post("/batch", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    rid = p.bad()["bad_events"][0]["request"]["id"]
    kept = p.http.get(f"/_ampkit/bad-requests/{rid}").json()
    assert kept["size"] == len(body) - len(p.key) + 3  # the key replaced by ***
    assert kept["truncated"] is True and len(kept["body"].encode()) == REQUEST_BODY_CAP


def test_a_server_wide_plan_applies_to_projects_without_their_own() -> None:
    key, secret = "wide-key-0001", "wide-secret-0001"
    config = ServerConfig(port=0, throttle_enabled=False, plan=PLAN, projects=[
        ProjectConfig(project_id=7, api_key=key, secret_key=secret)])
    with serve_in_thread(config) as srv, httpx.Client(base_url=srv.url,
                                                      auth=(key, secret)) as http:
        r = http.post("/2/httpapi", json={"api_key": key, "events": [
            {**GOOD, "event_properties": {"plan": "gold"}}]})
        assert r.json()["events_with_invalid_fields"] == {"event_properties.plan": [0]}
        assert http.get("/_ampkit/plan").json()["events"].keys() == {"Signed Up"}
        assert http.get("/_ampkit/bad-events").json()["total"] == 1


def test_the_key_is_masked_however_the_body_spells_it(projects: Projects) -> None:
    """A byte replace missed a key written with JSON escapes (``\\u0061…``): the kept body
    showed it, trivially decoded."""
    p = projects[1]
    escaped = "".join(f"\\u{ord(c):04x}" for c in p.key)
    body = ('{"api_key": "' + escaped + '", "events": [{"event_type": "Unplanned", '
            '"user_id": "user-0001"}]}').encode()
    r = p.http.post("/2/httpapi", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    (bad,) = p.bad()["bad_events"]
    kept = p.http.get(f"/_ampkit/bad-requests/{bad['request']['id']}").json()
    assert orjson.loads(kept["body"])["api_key"] == "***"
    assert escaped not in kept["body"] and p.key not in kept["body"]
