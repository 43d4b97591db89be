"""The ingestion endpoints over real HTTP: Amplitude's answers, validation, dedup, identities."""

from __future__ import annotations

import pytest
from tests.server.conftest import KEY, KEY2, SECRET, SECRET2, Api


def ev(i: int = 0, **kw: object) -> dict[str, object]:
    return {"event_type": f"e{i}", "user_id": "user-00001", **kw}


def test_health(api: Api) -> None:
    r = api.http.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_success_body_carries_code_and_summary(api: Api) -> None:
    r = api.post_events([ev(1), ev(2)])
    body = r.json()
    assert r.status_code == 200 and body["code"] == 200 and body["events_ingested"] == 2
    assert body["payload_size_bytes"] == len(r.request.content)
    assert body["server_upload_time"] > 1_700_000_000_000
    assert len(api.stored()) == 2


@pytest.mark.parametrize(("payload", "expected"), [
    (b"", {"code": 400, "error": "Missing request body"}),
    (b"{not json", {"code": 400, "error": "Invalid JSON request body"}),
    (b"[1, 2]", {"code": 400, "error": "Invalid JSON request body"}),
    (b'{"events": [{"event_type": "x", "user_id": "user-00001"}]}',
     {"code": 400, "error": "Request missing required field", "missing_field": "api_key"}),
    (b'{"api_key": "srv-api-key-0001"}',
     {"code": 400, "error": "Request missing required field", "missing_field": "events"}),
    (b'{"api_key": "srv-api-key-0001", "events": {"a": 1}}',
     {"code": 400, "error": "Invalid event JSON"}),
])
def test_request_level_errors(api: Api, payload: bytes, expected: dict[str, object]) -> None:
    r = api.http.post("/2/httpapi", content=payload,
                      headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json() == expected
    assert api.stored() == []


def test_wrong_key_is_refused_and_nothing_stored(api: Api) -> None:
    r = api.post_events([ev()], key="no-such-key-42")
    assert r.status_code == 400
    assert r.json() == {"code": 400, "error": "Invalid API key: no-such-key-42"}
    assert api.stored() == [] and api.stored(KEY2, SECRET2) == []


def test_invalid_events_are_named_by_index_and_nothing_is_stored(api: Api) -> None:
    events = [ev(0), {"user_id": "user-00001"}, ev(2, time="2024-01-01T00:00:00Z"),
              {"event_type": "x"}, ev(4, time="2024-01-01"), ev(5, user_id="null")]
    r = api.post_events(events)
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "Invalid field values on some events"
    assert body["events_with_invalid_fields"] == {"time": [2, 4], "user_id": [5]}
    assert body["events_with_missing_fields"] == {"event_type": [1], "user_id": [3]}
    assert api.stored() == []


def test_short_ids_are_stripped_not_fatal(api: Api) -> None:
    r = api.post_events([ev(0, user_id="abc", device_id="device-00001")])
    assert r.status_code == 200
    (stored,) = api.stored()
    assert stored["user_id"] is None and stored["device_id"] == "device-00001"
    r = api.post_events([ev(1, user_id="abc")])
    assert r.status_code == 400 and r.json()["events_with_missing_fields"] == {"user_id": [0]}
    r = api.post_events([ev(2, user_id="abc")], options={"min_id_length": 3})
    assert r.status_code == 200 and api.stored()[-1]["user_id"] == "abc"


def test_payload_limits_answer_413(api: Api) -> None:
    big = [ev(i, event_properties={"pad": "x" * 1000}) for i in range(1100)]  # > 1 MB
    r = api.post_events(big)
    assert r.status_code == 413 and r.json() == {"code": 413, "error": "Payload too large"}
    r = api.post_events(big, path="/batch")  # Batch accepts up to 20 MB ...
    assert r.status_code == 200
    r = api.post_events([ev(i) for i in range(2001)], path="/batch")  # ... but 2,000 events
    assert r.status_code == 413
    assert len(api.stored()) == 1100


def test_batch_requires_json_content_type(api: Api) -> None:
    r = api.http.post("/batch", content=b'{"api_key": "srv-api-key-0001", "events": []}',
                      headers={"content-type": "text/plain"})
    assert r.status_code == 400 and "Content-Type" in r.json()["reason"]


def test_insert_id_deduplication(api: Api) -> None:
    first = api.post_events([ev(0, insert_id="same-1", device_id="device-00001")])
    again = api.post_events([ev(0, insert_id="same-1", device_id="device-00001"),
                             ev(1, insert_id="same-1", device_id="device-00002")])
    assert first.json()["events_ingested"] == 1 and again.json()["events_ingested"] == 2
    stored = api.stored()
    assert sorted((e["device_id"], e["$insert_id"]) for e in stored) == [
        ("device-00001", "same-1"), ("device-00002", "same-1")]
    assert api.admin("GET", "/_ampkit/stats").json()["duplicates"] == 1


def test_an_empty_insert_id_deduplicates_nothing(api: Api) -> None:
    """``insert_id: ""`` names no event: every such event is kept (each was dropped as a
    duplicate of the first one of its user, while the answer said ingested)."""
    for n in range(3):
        r = api.post_events([ev(n, user_id="empty-ins-user", insert_id="")])
        assert r.json()["events_ingested"] == 1
    r = api.post_events([ev(5, user_id="empty-ins-user", insert_id=""),
                         ev(6, user_id="empty-ins-user", insert_id="")])
    assert r.status_code == 200
    assert len(api.stored()) == 5
    assert api.admin("GET", "/_ampkit/stats").json()["duplicates"] == 0


def test_an_empty_insert_id_is_replaced_by_the_client() -> None:
    from ampkit.ingest.normalize import normalize_event

    for event in ({"event_type": "a", "user_id": "user-00001", "insert_id": ""},
                  {"event_type": "a", "user_id": "user-00001", "insert_id": "",
                   "event_properties": {"deep": {"x": [1]}}}):
        assert len(normalize_event(event)["insert_id"]) == 36


def test_ip_remote_is_the_address_the_request_came_from(api: Api) -> None:
    """Reference §2.2: ``ip: "$remote"`` means the IP of the HTTP request (it was stored as
    the text "$remote", and exported so)."""
    assert api.post_events([ev(0, ip="$remote"), ev(1, ip="192.0.2.7"), ev(2)]).status_code == 200
    assert [e["ip_address"] for e in api.stored()] == ["127.0.0.1", "192.0.2.7", None]


def test_amplitude_ids_follow_users_and_devices(api: Api) -> None:
    api.post_events([{"event_type": "anon", "device_id": "device-a0001"}])
    api.post_events([{"event_type": "login", "device_id": "device-a0001",
                      "user_id": "user-a0001"}])
    api.post_events([{"event_type": "other", "device_id": "device-b0001",
                      "user_id": "user-a0001"}])
    api.post_events([{"event_type": "stranger", "device_id": "device-c0001"}])
    ids = {e["event_type"]: e["amplitude_id"] for e in api.stored()}
    assert ids["anon"] == ids["login"] == ids["other"] != ids["stranger"]
    uuids = [e["uuid"] for e in api.stored()]
    assert len(set(uuids)) == 4


def test_revenue_and_user_properties(api: Api) -> None:
    api.post_events([ev(0, price=2.5, quantity=4, productId="sku-1", revenueType="sale",
                        user_properties={"$set": {"plan": "pro"}, "$add": {"n": 2}}),
                     ev(1, user_properties={"$add": {"n": 3}}),
                     ev(2, user_properties={"$set": {"x": 1}}, **{"$skip_user_properties_sync":
                                                                  True})])
    first, second, third = api.stored()
    assert first["event_properties"] == {"$price": 2.5, "$quantity": 4, "$productId": "sku-1",
                                         "$revenueType": "sale"}
    assert first["paying"] is True and first["user_properties"] == {"plan": "pro", "n": 2}
    assert second["user_properties"] == {"plan": "pro", "n": 5}
    assert third["user_properties"] == {"plan": "pro", "n": 5}
    assert third["data"]["user_properties_updated"] is False


@pytest.mark.parametrize(("fields", "amount"), [
    ({"price": 4.99, "quantity": 3, "revenue": -1.99}, 14.97),  # all three: price × quantity
    ({"price": 4.99, "revenue": -1.99}, -1.99),  # no quantity: revenue
    ({"price": 4.99, "quantity": 3}, 14.97),
    ({"price": 4.99}, 4.99),
    ({"revenue": 7.5, "quantity": 3}, 7.5),
    # an SDK's Revenue: $quantity (1 by default) comes with every $price; a $revenue set wins
    ({"event_properties": {"$price": 2.0, "$quantity": 2, "$revenue": 9.0}}, 9.0),
    ({"event_properties": {"$price": 2.0, "$quantity": 2}}, 4.0),
])
def test_revenue_amount_follows_the_http_api_rule(api: Api, fields: dict[str, object],
                                                  amount: float) -> None:
    """Reference §2.2: "revenue = price × quantity; when all three are sent, price × quantity
    wins"."""
    assert api.post_events([ev(0, user_id="payer-0001", **fields)]).status_code == 200
    (stored,) = api.stored()
    activity = api.admin("GET", "/api/2/useractivity",
                         params={"user": stored["amplitude_id"]}).json()
    assert activity["userData"]["revenue"] == pytest.approx(amount)
    if "price" in fields and "quantity" in fields and "revenue" in fields:
        assert stored["event_properties"]["$revenue"] == pytest.approx(amount)


def test_user_activity_orders_one_moment_by_event_id(api: Api) -> None:
    """Reference §2.2: event_id orders "events sharing user and timestamp" — before arrival
    order; events without one come after those with one."""
    moment = 1_709_294_400_000
    assert api.post_events([ev(0, user_id="tied-00001", time=moment, event_type="c"),
                            ev(1, user_id="tied-00001", time=moment, event_type="b", event_id=2),
                            ev(2, user_id="tied-00001", time=moment, event_type="a",
                               event_id=1)]).status_code == 200
    amp = api.stored()[0]["amplitude_id"]
    for direction, expected in (("earliest", "abc"), ("latest", "cba")):
        got = api.admin("GET", "/api/2/useractivity", params={
            "user": amp, "direction": direction}).json()["events"]
        assert "".join(e["event_type"] for e in got) == expected


def test_every_sent_field_is_kept(api: Api) -> None:
    event = ev(0, device_id="device-00001", time=1_709_294_400_123, session_id=1_709_294_400_000,
               event_id=7, app_version="1.2.3", platform="iOS", os_name="ios",
               os_version="17.1", device_brand="Apple", device_manufacturer="Apple",
               device_model="iPhone15,2", carrier="Acme", country="France", region="IDF",
               city="Paris", dma="n/a-dma", language="French", ip="192.0.2.7",
               location_lat=48.85, location_lng=2.35, idfa="idfa-1", idfv="idfv-1",
               adid="adid-1", android_id="aid-1", library="custom/1.0", partner_id="p-1",
               user_agent="ua/1", insert_id="ins-all", plan={"branch": "main", "version": "3"},
               ingestion_metadata={"source_name": "test"}, groups={"org": "org-1"},
               event_properties={"nested": {"a": [1, 2, {"b": None}]}})
    assert api.post_events([event]).status_code == 200
    (out,) = api.stored()
    assert out["client_event_time"] == "2024-03-01 12:00:00.123000"
    assert out["version_name"] == "1.2.3" and out["device_carrier"] == "Acme"
    assert out["ip_address"] == "192.0.2.7" and out["$insert_id"] == "ins-all"
    for key in ("session_id", "event_id", "platform", "os_name", "os_version", "device_brand",
                "device_manufacturer", "device_model", "country", "region", "city", "dma",
                "language", "location_lat", "location_lng", "idfa", "adid", "library",
                "partner_id", "plan", "groups", "event_properties", "idfv", "android_id",
                "user_agent", "ingestion_metadata"):
        assert out[key] == event[key], key


def test_silenced_devices_get_shape_b(api: Api) -> None:
    r = api.post_events([ev(0, device_id="device-00001"), ev(1, device_id="silenced-device-1")])
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "Events silenced for device_id"
    assert body["silenced_devices"] == ["silenced-device-1"] and body["silenced_events"] == [1]
    assert api.stored() == []


def test_projects_are_isolated(api: Api) -> None:
    api.post_events([ev(0)])
    api.post_events([ev(1), ev(2)], key=KEY2)
    assert len(api.stored()) == 1 and len(api.stored(KEY2, SECRET2)) == 2


def test_admin_routes_need_the_key_pair(api: Api) -> None:
    assert api.http.get("/_ampkit/events").status_code == 401
    assert api.http.get("/_ampkit/events", auth=(KEY, "wrong")).status_code == 401
    assert api.http.get("/_ampkit/stats", auth=(KEY2, SECRET2)).status_code == 200
    assert api.admin("GET", "/_ampkit/users/nobody-000").status_code == 404


def test_request_counters_are_per_project_and_reset_with_it(api: Api) -> None:
    api.admin("POST", "/_ampkit/reset").raise_for_status()
    api.http.post("/_ampkit/reset", auth=(KEY2, SECRET2)).raise_for_status()
    api.post_events([ev(0, insert_id="c-1")])
    api.post_events([ev(0, insert_id="c-1")])  # a duplicate
    api.post_events([ev(1)], key=KEY2)

    def stats(key: str, secret: str) -> dict[str, object]:
        body: dict[str, object] = api.http.get("/_ampkit/stats", auth=(key, secret)).json()
        return body

    mine, other = stats(KEY, SECRET), stats(KEY2, SECRET2)
    assert (mine["requests"], mine["duplicates"]) == (2, 1)
    assert (other["requests"], other["duplicates"]) == (1, 0)
    # a project sees its own counters only; the server-wide ones are the operator's (Python)
    assert "server" not in mine and "server" not in other
    server = dict(api.running.store.counters)
    assert server["requests"] >= 3
    # resetting the other project leaves this one's counters (they used to be zeroed too)
    api.http.post("/_ampkit/reset", auth=(KEY2, SECRET2)).raise_for_status()
    assert (stats(KEY, SECRET)["requests"], stats(KEY2, SECRET2)["requests"]) == (2, 0)
    assert api.running.store.counters == server
