"""Every bad input found by hand or by the fuzzer (issue 13 §3) is a 4xx in the endpoint's
documented error shape, naming the parameter — never a 500, and the connection stays usable.

Each case here was a 500 that also dropped the keep-alive connection: the next request on it
failed too, so every test sends a good request on the same client afterwards."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.server.conftest import KEY, KEY2, SECRET, SECRET2

from ampkit.server import RunningServer

E_OPEN = json.dumps({"event_type": "open"})
E_BUY = json.dumps({"event_type": "buy"})
T0 = 1_709_294_400_000  # 2024-03-01 12:00 UTC
RANGE = {"start": "20240301", "end": "20240305"}
# httpx parses the CA bundle into a new SSL context (some 20 ms of CPU) for each client not
# given one; these clients speak plain HTTP to loopback, so they all share this one
TLS = ssl.create_default_context()


def client(running: RunningServer, auth: tuple[str, str] = (KEY, SECRET)) -> httpx.Client:
    return httpx.Client(base_url=running.url, auth=auth, timeout=60, verify=TLS)


@pytest.fixture(scope="module")
def seeded(plain_server: RunningServer) -> RunningServer:
    """Project 1 with three events of one user, sent once for the module: the tests that use
    it only read them (a 400 stores nothing; the cohorts some tests upload are read by none)."""
    events = [{"event_type": t, "user_id": "user-1", "device_id": "device-1",
               "time": T0 + k * 60_000, "session_id": T0}
              for k, t in enumerate(["open", "buy", "open"])]
    with client(plain_server) as http:
        for key, secret in ((KEY, SECRET), (KEY2, SECRET2)):
            http.post("/_ampkit/reset", auth=(key, secret)).raise_for_status()
        http.post("/2/httpapi", json={"api_key": KEY, "events": events}).raise_for_status()
    return plain_server


@pytest.fixture
def http(seeded: RunningServer) -> Iterator[httpx.Client]:
    """A client (a connection of its own) on the seeded project."""
    with client(seeded) as c:
        yield c


@pytest.fixture
def empty_http(plain_server: RunningServer) -> Iterator[httpx.Client]:
    """A client on project 2, emptied for the test: no events, annotations or cohorts."""
    with client(plain_server, (KEY2, SECRET2)) as c:
        c.post("/_ampkit/reset").raise_for_status()
        yield c


def refused(http: httpx.Client, method: str, path: str, param: str, **kw: Any) -> str:
    """The call answers 400 naming ``param``; a good call on the same connection still works.
    Returns the details."""
    r = http.request(method, path, **kw)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["http_code"] == 400 and error["type"] == "invalid_request"
    assert error["metadata"]["parameter"] == param, error
    assert "Traceback" not in r.text
    assert http.get("/api/2/events/list").status_code == 200  # same keep-alive connection
    return str(error["metadata"]["details"])


DASHBOARD = [("/api/2/users", {}), ("/api/2/events/segmentation", {"e": E_OPEN}),
             ("/api/2/funnels", {"e": [E_OPEN, E_BUY]}),
             ("/api/2/retention", {"se": E_OPEN, "re": E_BUY}), ("/api/2/revenue/ltv", {}),
             ("/api/2/sessions/length", {}), ("/api/2/sessions/average", {}),
             ("/api/2/sessions/peruser", {}), ("/api/2/composition", {"p": "country"})]


@pytest.mark.parametrize("day", ["99991231", "00010101", "19691231", "30000101"])
@pytest.mark.parametrize(("path", "extra"), DASHBOARD, ids=[p for p, _ in DASHBOARD])
def test_dates_outside_the_sane_range(http: httpx.Client, path: str, extra: dict[str, Any],
                                      day: str) -> None:
    details = refused(http, "GET", path, "start",
                      params={"start": day, "end": day, **extra})
    assert "19700101" in details and "29991231" in details
    # weekly / monthly have no range cap: the far end alone overflowed too
    refused(http, "GET", path, "end", params={"start": "20240301", "end": "99991231",
                                             "i": "30", **extra})


@pytest.mark.parametrize(("path", "extra"), DASHBOARD, ids=[p for p, _ in DASHBOARD])
def test_a_range_past_a_year_names_the_interval_it_was_checked_for(
    http: httpx.Client, path: str, extra: dict[str, Any],
) -> None:
    details = refused(http, "GET", path, "end",
                      params={"start": "20230101", "end": "20240301", **extra})
    assert "at most 365 days for interval 1" in details  # daily when none is given


def test_the_range_ends_themselves_are_accepted(http: httpx.Client) -> None:
    for start, end in (("19700101", "19700101"), ("29991231", "29991231")):
        r = http.get("/api/2/events/segmentation",
                     params={"e": E_OPEN, "start": start, "end": end})
        assert r.status_code == 200, r.text
        r = http.get("/api/2/retention", params={"se": E_OPEN, "re": E_BUY, "start": start,
                                                 "end": end, "i": "30", "rm": "bracket",
                                                 "rb": "[[0, 366]]"})
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("day", ["99991231", "00010101"])
def test_export_hours_outside_the_sane_range(empty_http: httpx.Client, day: str) -> None:
    details = refused(empty_http, "GET", "/api/2/export", "start",
                      params={"start": f"{day}T00", "end": f"{day}T23"})
    assert "T00" in details


@pytest.mark.parametrize("formula", [
    ".", "UNIQUES(A)+.", "(" * 2000 + "UNIQUES(A)" + ")" * 2000, "-" * 3000 + "UNIQUES(A)",
    "+".join(["UNIQUES(A)"] * 3000), "1" * 400 + "*UNIQUES(A)"],
    ids=["dot", "trailing-dot", "nested-2000", "unary-3000", "terms-3000", "huge-number"])
def test_formulas_beyond_the_bounds(http: httpx.Client, formula: str) -> None:
    refused(http, "GET", "/api/2/events/segmentation", "formula",
            params={"e": E_OPEN, **RANGE, "m": "formula", "formula": formula})


def test_formulas_within_the_bounds_still_work(http: httpx.Client) -> None:
    deep = "(" * 31 + "UNIQUES(A)" + ")" * 31
    for formula in (deep, "+".join(["TOTALS(A)"] * 100), ".5*TOTALS(A)"):
        r = http.get("/api/2/events/segmentation", params={
            "e": E_OPEN, **RANGE, "m": "formula", "formula": formula})
        assert r.status_code == 200, r.text
    assert r.json()["data"]["seriesCollapsed"] == [[{"value": 1}]]  # .5 × 2 opens


@pytest.mark.parametrize("cs", [str(2**63), str(2**31), str(366 * 86_400 + 1)])
def test_funnel_conversion_window_range(http: httpx.Client, cs: str) -> None:
    refused(http, "GET", "/api/2/funnels", "cs", params={"e": [E_OPEN, E_BUY], **RANGE,
                                                        "cs": cs})
    ok = http.get("/api/2/funnels", params={"e": [E_OPEN, E_BUY], **RANGE,
                                            "cs": str(366 * 86_400)})
    assert ok.status_code == 200 and ok.json()["data"][0]["cumulativeRaw"] == [1, 1]


@pytest.mark.parametrize("rb", [[[0, 2**31]], [[2**31, 2**31 + 1]], [[0, 367]],
                                [[k, k + 1] for k in range(367)]])
def test_retention_brackets_range(http: httpx.Client, rb: list[list[int]]) -> None:
    refused(http, "GET", "/api/2/retention", "rb", params={
        "se": E_OPEN, "re": E_BUY, **RANGE, "rm": "bracket", "rb": json.dumps(rb)})


@pytest.mark.parametrize("condition", [
    {"time_type": "forEachInterval", "time_value": 2**40},
    {"time_type": "forEachInterval", "time_value": 366},
    {"value": "Infinity"}])
def test_segment_who_performed_bounds(http: httpx.Client, condition: dict[str, Any]) -> None:
    segment = [{"type": "event", "event_type": "open", "op": ">=", "value": 1, **condition}]
    text = json.dumps(segment).replace('"Infinity"', "1e400")
    details = refused(http, "GET", "/api/2/users", "s", params={**RANGE, "s": text})
    assert details.startswith("s")


def test_user_activity_offset_range(http: httpx.Client) -> None:
    amp = http.get("/api/2/usersearch", params={"user": "user-1"}).json()["matches"][0][
        "amplitude_id"]
    refused(http, "GET", "/api/2/useractivity", "offset",
            params={"user": amp, "offset": str(2**63)})
    r = http.get("/api/2/useractivity", params={"user": amp, "offset": str(2**63 - 1)})
    assert r.status_code == 200 and r.json()["events"] == []


def test_user_search_with_non_ascii_digits(http: httpx.Client) -> None:
    r = http.get("/api/2/usersearch", params={"user": "²"})
    assert r.status_code == 200 and r.json() == {"matches": [], "type": "nomatch"}


@pytest.mark.parametrize(("path", "param"), [
    ("/api/3/annotations/" + "1" * 40, "annotation_id"),
    ("/api/3/annotations/²", "annotation_id"),
    ("/api/3/annotation-categories/" + "1" * 40, "category_id")])
def test_ids_beyond_bigint(empty_http: httpx.Client, path: str, param: str) -> None:
    for method in ("GET", "PUT", "DELETE"):
        refused(empty_http, method, path, param, json={"label": "x"} if method == "PUT" else None)


def test_v2_annotation_id_beyond_bigint(empty_http: httpx.Client) -> None:
    refused(empty_http, "GET", "/api/2/annotations", "id", params={"id": "1" * 40})


@pytest.mark.parametrize(("body", "param"), [
    ({"label": "x", "start": "2024-03-01T00:00:00Z", "details": {"a": 1}}, "details"),
    ({"label": "x", "start": "2024-03-01T00:00:00Z", "category": ["a"]}, "category"),
    ({"label": "x", "start": "2024-03-01T00:00:00Z", "chart_id": {"a": 1}}, "chart_id"),
    ({"label": ["x"], "start": "2024-03-01T00:00:00Z"}, "label"),
    ({"label": "x", "start": "9999-12-31T23:59:59-05:00"}, "start"),
    ({"label": "x", "start": "0001-01-01T00:00:00+01:00"}, "start"),
    ({"label": "x", "start": "2024-03-02T00:00:00Z", "end": "2024-03-02T01:00:00+02:00"}, "end")])
def test_v3_annotation_bodies(empty_http: httpx.Client, body: dict[str, Any], param: str) -> None:
    refused(empty_http, "POST", "/api/3/annotations", param, json=body)
    created = empty_http.post("/api/3/annotations", json={"label": "ok",
                                                          "start": "2024-03-01T00:00:00Z"})
    assert created.status_code == 200
    aid = created.json()["data"]["id"]
    refused(empty_http, "PUT", f"/api/3/annotations/{aid}", param, json=body)


def test_annotation_category_rename_with_broken_json(empty_http: httpx.Client) -> None:
    cid = empty_http.post("/api/3/annotation-categories", json={"category": "A"}).json()[
        "data"]["id"]
    refused(empty_http, "PUT", f"/api/3/annotation-categories/{cid}", "category",
            content=b"{not json")


@pytest.mark.parametrize(("change", "param"), [
    ({"name": {"a": 1}}, "name"), ({"owner": ["x"]}, "owner"),
    ({"existing_cohort_id": ["x"]}, "existing_cohort_id"), ({"ids": "user-1"}, "ids"),
    ({"ids": [{"a": 1}]}, "ids"), ({"published": {"a": 1}}, "published")])
def test_cohort_upload_field_types(http: httpx.Client, change: dict[str, Any], param: str) -> None:
    body = {"name": "c", "app_id": 1, "id_type": "BY_USER_ID", "ids": ["user-1"], "owner": "me",
            "published": True, **change}
    refused(http, "POST", "/api/3/cohorts/upload", param, json=body)


@pytest.mark.parametrize(("change", "param"), [
    ({"cohort_id": {"a": 1}}, "cohort_id"), ({"memberships": ["x"]}, "memberships"),
    ({"memberships": [{"ids": 5, "id_type": "BY_ID", "operation": "ADD"}]}, "memberships"),
    ({"memberships": [{"ids": ["1"], "id_type": "BY_ID", "operation": "X"}]}, "memberships")])
def test_cohort_membership_field_types(http: httpx.Client, change: dict[str, Any],
                                       param: str) -> None:
    cid = http.post("/api/3/cohorts/upload", json={
        "name": "c", "app_id": 1, "id_type": "BY_USER_ID", "ids": ["user-1"], "owner": "me",
        "published": True}).json()["cohortId"]
    body = {"cohort_id": cid, "memberships": [], **change}
    refused(http, "POST", "/api/3/cohorts/membership", param, json=body)


@pytest.mark.parametrize(("path", "error"), [
    ("/identify", "error"), ("/groupidentify", "error"), ("/api/2/taxonomy/category", "errors")])
def test_a_multipart_body_that_does_not_parse_is_a_400_in_the_routes_format(
    empty_http: httpx.Client, path: str, error: str,
) -> None:
    r = empty_http.post(path, content=b"{}",
                        headers={"content-type": "multipart/form-data; boundary=zz"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/json", r.text
    assert "Invalid request body" in str(r.json()[error])


def test_a_taxonomy_category_holding_a_slash_is_found_by_name(empty_http: httpx.Client) -> None:
    made = empty_http.post("/api/2/taxonomy/category", data={"category_name": "web/ios"})
    assert made.status_code == 200, made.text
    for path in ("/api/2/taxonomy/category/web%2Fios", "/api/2/taxonomy/category/web/ios"):
        got = empty_http.get(path)
        assert got.status_code == 200 and got.json()["data"]["name"] == "web/ios", got.text


def test_json_nested_past_the_decoders_depth_says_so(http: httpx.Client) -> None:
    deep = "[" * 1100 + "]" * 1100
    details = refused(http, "GET", "/api/2/events/segmentation", "e",
                      params={"e": deep, "start": "20240301", "end": "20240302"})
    assert "at most 1,024 levels deep" in details


@pytest.mark.parametrize("value", ["--1", "1" * 5000, "-", "1e3", "+-1"])
@pytest.mark.parametrize(("path", "param", "extra"), [
    ("/api/2/realtime", "i", {}),
    ("/api/2/useractivity", "offset", {"user": "1"}),
    ("/api/2/events/segmentation", "limit", {"e": E_OPEN, "start": "20240301",
                                             "end": "20240301"}),
])
def test_an_integer_parameter_that_is_no_integer_is_a_400(
    http: httpx.Client, path: str, param: str, extra: dict[str, str], value: str
) -> None:
    """``--1`` passed the integer check and crashed int(); 5,000 digits passed Python's
    int-digit limit into a 500: each is now the parameter's 400."""
    refused(http, "GET", path, param, params={**extra, param: value})
