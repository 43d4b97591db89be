"""User Profile, annotations (v2, v3), cohorts (upload → request → poll → file), taxonomy."""

from __future__ import annotations

import csv
import io

from tests.server.conftest import KEY, SECRET, SECRET2, Api


def seed_users(api: Api) -> dict[str, int]:
    api.post_events([
        {"event_type": "Open", "user_id": "user-c0001", "device_id": "device-c0001",
         "user_properties": {"$set": {"plan": "pro", "age": 31}}, "platform": "iOS",
         "event_properties": {"screen": "home", "ms": 12}, "time": 1_709_294_400_000},
        {"event_type": "Buy", "user_id": "user-c0002", "event_properties": {"sku": "a"},
         "user_properties": {"plan": "free"}},
    ]).raise_for_status()
    return {e["user_id"]: e["amplitude_id"] for e in api.stored()}


def test_user_profile(api: Api) -> None:
    seed_users(api)
    url = "/v1/userprofile"
    assert api.http.get(url, params={"user_id": "user-c0001"}).text == \
        "Missing Api-Key in Authorization header"
    r = api.http.get(url, params={"user_id": "user-c0001"},
                     headers={"Authorization": "Api-Key wrong"})
    assert (r.status_code, r.text) == (401, "Invalid Api-Key")
    auth = {"Authorization": f"Api-Key {SECRET}"}
    r = api.http.get(url, params={"user_id": "user-c0001", "get_amp_props": "true"},
                     headers=auth)
    data = r.json()["userData"]
    assert data["user_id"] == "user-c0001" and data["device_id"] == "device-c0001"
    assert data["amp_props"]["plan"] == "pro" and data["amp_props"]["age"] == 31
    assert data["amp_props"]["first_used"] == "2024-03-01"
    assert data["cohort_ids"] is None and data["recommendations"] is None
    # computed properties: none exist locally — not the user's own properties (reference
    # §12.1: amp_props excludes computations, get_computations returns the enabled ones)
    comps = api.http.get(url, params={"user_id": "user-c0001", "get_computations": "true"},
                         headers=auth).json()["userData"]
    assert comps["amp_props"] == {}
    named = api.http.get(url, params={"user_id": "user-c0001", "comp_id": "c1,c2"},
                         headers=auth).json()["userData"]
    assert named["amp_props"] == {"c1": None, "c2": None}
    by_device = api.http.get(url, params={"device_id": "device-c0001"}, headers=auth).json()
    assert by_device["userData"]["user_id"] == "user-c0001"
    r = api.http.get(url, params={"user_id": "nobody-000"}, headers=auth)
    assert r.status_code == 400 and r.json() == {"error": "User id and device id not seen before"}
    other = api.http.get(url, params={"user_id": "user-c0001"},
                         headers={"Authorization": f"Api-Key {SECRET2}"})
    assert other.status_code == 400  # the other project has never seen this user


def test_annotations_v2_and_v3(api: Api) -> None:
    r = api.admin("POST", "/api/2/annotations", params={
        "app_id": 1, "date": "2024-03-01", "label": "Release 2", "details": "notes"})
    created = r.json()
    assert created["success"] is True and created["annotation"]["label"] == "Release 2"
    listed = api.admin("GET", "/api/2/annotations").json()["data"]
    assert listed == [{"id": created["annotation"]["id"], "date": "2024-03-01",
                       "label": "Release 2", "details": "notes"}]
    assert api.admin("POST", "/api/2/annotations", params={"app_id": 1, "label": "x"}
                     ).status_code == 400
    cat = api.admin("POST", "/api/3/annotation-categories", json={"category": "Releases"}).json()
    assert cat["data"]["name"] == "Releases"
    assert api.admin("POST", "/api/3/annotation-categories",
                     json={"category": "Releases"}).status_code == 409
    v3 = api.admin("POST", "/api/3/annotations", json={
        "label": "Launch", "start": "2024-03-02T07:00:00+00:00", "category": "Releases"}).json()
    aid = v3["data"]["id"]
    assert v3["data"]["category"] == {"id": cat["data"]["id"], "name": "Releases"}
    only = api.admin("GET", "/api/3/annotations", params={"category": "Releases"}).json()
    assert [a["id"] for a in only["data"]] == [aid]
    put = api.admin("PUT", f"/api/3/annotations/{aid}", json={"label": "Launch!", "end": None})
    assert put.json()["data"]["label"] == "Launch!"
    assert api.admin("DELETE", f"/api/3/annotations/{aid}").json() == {"success": True}
    assert api.admin("GET", f"/api/3/annotations/{aid}").status_code == 404
    bad = api.admin("POST", "/api/3/annotations", json={"label": "x", "start": "yesterday"})
    assert bad.status_code == 400 and "start" in bad.json()["error"]["metadata"]["details"]
    renamed = api.admin("PUT", f"/api/3/annotation-categories/{cat['data']['id']}",
                        json={"category": "Launches"}).json()
    assert renamed == {"data": {"id": cat["data"]["id"], "category": "Launches"}}


def test_cohort_upload_download_and_membership(api: Api) -> None:
    ids = seed_users(api)
    r = api.admin("POST", "/api/3/cohorts/upload", json={
        "name": "Pros", "app_id": 1, "id_type": "BY_USER_ID",
        "ids": ["user-c0001", "nobody-00"], "owner": "me@example.com", "published": True})
    body = r.json()
    cid = body["cohortId"]
    assert body["metadata"] == {"matched": 1, "totals": 2, "invalid_ids_sample": ["nobody-00"]}
    cohorts = api.admin("GET", "/api/3/cohorts").json()["cohorts"]
    assert [(c["id"], c["name"], c["size"], c["appId"]) for c in cohorts] == [
        (cid, "Pros", 1, 1)]
    m = api.admin("POST", "/api/3/cohorts/membership", json={
        "cohort_id": cid, "memberships": [
            {"ids": [str(ids["user-c0002"])], "id_type": "BY_ID", "operation": "ADD"},
            {"ids": ["user-c0001"], "id_type": "BY_NAME", "operation": "REMOVE"}]})
    assert [x["skipped_ids"] for x in m.json()["memberships_result"]] == [[], []]
    req = api.admin("GET", f"/api/5/cohorts/request/{cid}", params={"props": 1})
    assert req.status_code == 202
    rid = req.json()["request_id"]
    first = api.admin("GET", f"/api/5/cohorts/request-status/{rid}")
    assert first.status_code == 202 and first.json()["async_status"] == "JOB INPROGRESS"
    second = api.admin("GET", f"/api/5/cohorts/request-status/{rid}")
    assert second.status_code == 200 and second.json()["async_status"] == "JOB COMPLETED"
    rows = list(csv.reader(io.StringIO(api.admin(
        "GET", f"/api/5/cohorts/request/{rid}/file").text)))
    assert rows == [["amplitude_id", "user_id", "user_properties"],
                    [str(ids["user-c0002"]), "user-c0002", '{"plan":"free"}']]
    profile = api.http.get("/v1/userprofile", params={"user_id": "user-c0002",
                                                      "get_cohort_ids": "true"},
                           headers={"Authorization": f"Api-Key {SECRET}"}).json()
    assert profile["userData"]["cohort_ids"] == [cid]
    assert api.admin("GET", "/api/5/cohorts/request/nope").status_code == 404


def test_taxonomy_read_side(api: Api) -> None:
    seed_users(api)
    events = api.admin("GET", "/api/2/taxonomy/event").json()
    assert events["success"] and [e["event_type"] for e in events["data"]] == ["Buy", "Open"]
    props = api.http.request("GET", "/api/2/taxonomy/event-property", auth=(KEY, SECRET),
                             data={"event_type": "Open"}).json()
    assert [p["event_property"] for p in props["data"]] == ["ms", "screen"]
    users = api.admin("GET", "/api/2/taxonomy/user-property").json()
    assert [p["user_property"] for p in users["data"]] == ["gp:age", "gp:plan"]
    assert api.admin("GET", "/api/2/taxonomy/event/Nope").status_code == 404
    assert api.admin("POST", "/api/2/taxonomy/category",
                     data={"category_name": "Core"}).json() == {"success": True}
    assert api.admin("POST", "/api/2/taxonomy/category",
                     data={"category_name": "Core"}).status_code == 409
    listed = api.admin("GET", "/api/2/taxonomy/category").json()["data"]
    assert [c["name"] for c in listed] == ["Core"]
