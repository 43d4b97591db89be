"""Identify and Group Identify APIs: form, multipart and query-string encodings."""

from __future__ import annotations

from pathlib import Path

import httpx
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


def test_an_add_past_a_doubles_range_leaves_the_value_the_same_after_a_restart(
    tmp_path: Path,
) -> None:
    """1e308 added twice would be infinity, which JSON cannot write: the property keeps 1e308
    (read back as a number, not a 500 or a null), on users and groups, before and after the
    ``--db`` server restarts; a later ``$add`` goes on from it."""
    db = tmp_path / "add.duckdb"
    big = {"$add": {"score": 1e308}}
    user = orjson.dumps({"user_id": "user-big01", "user_properties": big}).decode()
    group = orjson.dumps({"group_type": "org", "group_value": "acme",
                          "group_properties": big}).decode()
    srv = serve_in_thread(config(db=db))
    try:
        with httpx.Client(base_url=srv.url, auth=(KEY, SECRET)) as http:
            for _ in range(2):
                assert http.post("/identify", data={"api_key": KEY,
                                                    "identification": user}).status_code == 200
                assert http.post("/groupidentify", data={
                    "api_key": KEY, "identification": group}).status_code == 200
            before = (http.get("/_ampkit/users/user-big01"), http.get("/_ampkit/groups/org/acme"))
    finally:
        srv.stop()
    assert [r.status_code for r in before] == [200, 200]
    assert before[0].json()["user_properties"] == {"score": 1e308}
    assert before[1].json()["group_properties"] == {"score": 1e308}
    srv = serve_in_thread(config(db=db))
    try:
        with httpx.Client(base_url=srv.url, auth=(KEY, SECRET)) as http:
            assert http.get("/_ampkit/users/user-big01").json()["user_properties"] == {
                "score": 1e308}
            assert http.get("/_ampkit/groups/org/acme").json()["group_properties"] == {
                "score": 1e308}
            less = orjson.dumps({"user_id": "user-big01",
                                 "user_properties": {"$add": {"score": -1e308}}}).decode()
            assert http.post("/identify", data={"api_key": KEY,
                                                "identification": less}).status_code == 200
            assert http.get("/_ampkit/users/user-big01").json()["user_properties"] == {
                "score": 0}
    finally:
        srv.stop()


def test_a_group_type_holding_a_slash_is_read_back_percent_encoded(api: Api) -> None:
    ident = {"group_type": "te/am", "group_value": "v/9 é", "group_properties": {"k": 1}}
    r = api.http.post("/groupidentify", data={"api_key": KEY,
                                              "identification": orjson.dumps(ident).decode()})
    assert r.status_code == 200
    for path in ("/_ampkit/groups/te%2Fam/v%2F9%20%C3%A9", "/_ampkit/groups/te%2Fam/v/9%20%C3%A9"):
        got = api.admin("GET", path)
        assert got.status_code == 200, (path, got.text)
        assert got.json()["group_properties"] == {"k": 1}
    assert api.admin("GET", "/_ampkit/groups/te/am/v/9").status_code == 404  # type "te"
