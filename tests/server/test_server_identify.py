"""Identify and Group Identify APIs: form, multipart and query-string encodings."""

from __future__ import annotations

import orjson
import pytest
from tests.server.conftest import KEY, SECRET, Api, config

from ampkit.server import serve_in_thread


def test_identify_form_sets_properties_without_an_event(api: Api) -> None:
    ident = [{"user_id": "user-i0001", "user_properties": {"$set": {"plan": "pro"},
                                                           "$add": {"n": 1}},
              "country": "France"}]
    r = api.http.post("/identify", data={"api_key": KEY,
                                         "identification": orjson.dumps(ident).decode()})
    assert r.status_code == 200 and r.text == "success"
    user = api.admin("GET", "/_ampkit/users/user-i0001").json()
    assert user["user_properties"] == {"plan": "pro", "n": 1}
    assert user["fields"]["country"] == "France"
    assert api.stored() == []


def test_identify_multipart_and_query_string(api: Api) -> None:
    one = orjson.dumps({"user_id": "user-i0002", "user_properties": {"a": 1}}).decode()
    r = api.http.post("/identify", files={"api_key": (None, KEY), "identification": (None, one)})
    assert r.status_code == 200
    two = orjson.dumps({"user_id": "user-i0002", "user_properties": {"$append": {"l": 2}}})
    r = api.http.get("/identify", params={"api_key": KEY, "identification": two.decode()})
    assert r.status_code == 200
    assert api.admin("GET", "/_ampkit/users/user-i0002").json()["user_properties"] == {
        "a": 1, "l": [2]}


@pytest.mark.parametrize(("data", "error"), [
    ({"api_key": KEY}, "missing_event"),
    ({"api_key": KEY, "identification": "{broken"}, "missing_event"),
    ({"api_key": KEY, "identification": '[{"user_properties": {"a": 1}}]'}, "missing_event"),
    ({"identification": '{"user_id": "user-i0003"}'}, "Request missing required field"),
    ({"api_key": "nope-nope", "identification": '{"user_id": "user-i0003"}'},
     "Invalid API key: nope-nope"),
])
def test_identify_errors(api: Api, data: dict[str, str], error: str) -> None:
    r = api.http.post("/identify", data=data)
    assert r.status_code == 400 and r.json()["code"] == 400
    assert r.json()["error"].startswith(error)
    assert api.admin("GET", "/_ampkit/stats").json()["users"] == 0


def test_group_identify(api: Api) -> None:
    ident = [{"group_type": "org id", "group_value": "org-1",
              "group_properties": {"plan": "Enterprise"}},
             {"group_type": "org id", "group_value": "org-1",
              "group_properties": {"$add": {"seats": 5}}}]
    r = api.http.post("/groupidentify", data={"api_key": KEY,
                                              "identification": orjson.dumps(ident).decode()})
    assert r.status_code == 200 and r.text == "success"
    group = api.admin("GET", "/_ampkit/groups/org id/org-1").json()
    assert group["group_properties"] == {"plan": "Enterprise", "seats": 5}
    bad = api.http.post("/groupidentify", data={
        "api_key": KEY, "identification": '{"group_type": "org id"}'})
    assert bad.status_code == 400 and "group_value" in bad.json()["error"]


def test_identify_text_errors_when_configured() -> None:
    with serve_in_thread(config(identify_error_format="text")) as srv:
        api = Api(srv)
        r = api.http.post("/identify", data={"api_key": KEY})
        assert r.status_code == 400 and r.text == "missing_event"
        assert api.http.get("/_ampkit/stats", auth=(KEY, SECRET)).json()["users"] == 0
