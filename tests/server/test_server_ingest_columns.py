"""Issue 17: ingestion writes each request's rows as Arrow columns and only the identities it
changed.  What is stored, what a restarted server knows and what the store makes of odd values
stay what they were."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.server.conftest import KEY, Api, config

from ampkit.models.rules import MAX_DEPTH, _check_json_value, check_json_value
from ampkit.server import serve_in_thread
from ampkit.server.state import ProjectState


def _state(state: ProjectState) -> dict[str, Any]:
    return {
        "by_user": dict(state.by_user), "by_device": dict(state.by_device),
        "users": {amp: (u.user_id, u.device_id, u.user_properties, u.fields, u.first_seen_ms,
                        u.last_seen_ms, u.paying) for amp, u in state.users.items()},
        "groups": {k: g.group_properties for k, g in state.groups.items()},
        "merged": dict(state.merged),
    }


def test_a_restarted_server_knows_every_identity_and_user_as_before(tmp_path: Path) -> None:
    """Only the identities a request binds are written; the tables still hold all of them."""
    db = tmp_path / "ids.duckdb"
    requests = [
        [{"event_type": "open", "device_id": "device-anon-01", "insert_id": "a-1"}],
        [{"event_type": "login", "device_id": "device-anon-01", "user_id": "user-alice",
          "user_properties": {"$set": {"plan": "pro"}}, "insert_id": "a-2"}],
        [{"event_type": "open", "device_id": "device-phone-2", "user_id": "user-alice",
          "platform": "iOS", "insert_id": "a-3"},
         {"event_type": "open", "device_id": "device-phone-2", "user_id": "user-bobby",
          "price": 2.5, "insert_id": "a-4"},
         {"event_type": "$identify", "user_id": "user-bobby",
          "groups": {"org": "acme"}, "group_properties": {"$set": {"tier": "gold"}}}],
        [{"event_type": "open", "user_id": "user-bobby", "insert_id": "a-5",
          "user_properties": {"$add": {"visits": 1}}, "time": 1_709_294_400_000}],
    ]
    with serve_in_thread(config(db=db, throttle_enabled=False)) as srv:
        api = Api(srv)
        for events in requests:
            assert api.post_events(events).status_code == 200
        before = _state(srv.store.states[1])
        stored = api.stored()
        api.http.close()
    assert set(before["by_device"]) == {"device-anon-01", "device-phone-2"}
    with serve_in_thread(config(db=db, throttle_enabled=False)) as srv:
        assert _state(srv.store.states[1]) == before
        api = Api(srv)
        assert api.stored() == stored
        # the device resolves to the user memory had bound it to (the last new user seen
        # with it: bobby), as before the restart
        assert api.post_events([{"event_type": "again", "device_id": "device-phone-2",
                                 "insert_id": "a-6"}]).status_code == 200
        last = api.stored()[-1]
        assert last["user_id"] is None
        assert last["amplitude_id"] == before["by_device"]["device-phone-2"] == (
            before["by_user"]["user-bobby"])
        api.http.close()


@pytest.mark.parametrize("together", [False, True], ids=["apart", "in-one-request"])
def test_an_anonymous_device_that_logs_in_as_a_known_user_is_merged_into_them(
    tmp_path: Path, together: bool
) -> None:
    """alice is known (her phone); her laptop browses anonymously, then logs in as alice: the
    laptop's anonymous id is merged into hers — one user in the analytics, its history hers,
    its later events hers, the merge listed — and a restarted server knows it."""
    db = tmp_path / "merge.duckdb"
    day = 1_709_294_400_000  # 2024-03-01 12:00 UTC
    anon = [{"event_type": "browse", "device_id": "laptop-0002", "time": day + k,
             "insert_id": f"m-{k}"} for k in (1, 2)]
    login = [{"event_type": "login", "device_id": "laptop-0002", "user_id": "user-alice",
              "time": day + 3, "insert_id": "m-3"}]
    requests = [[{"event_type": "open", "device_id": "phone-00001", "user_id": "user-alice",
                  "time": day, "insert_id": "m-0"}]]
    requests += [anon + login] if together else [anon, login]
    requests.append([{"event_type": "browse", "device_id": "laptop-0002", "time": day + 4,
                      "insert_id": "m-4"}])
    with serve_in_thread(config(db=db, throttle_enabled=False)) as srv:
        api = Api(srv)
        for events in requests:
            assert api.post_events(events).status_code == 200
        stored = api.stored()
        alice = stored[0]["amplitude_id"]
        assert [e["amplitude_id"] for e in stored] == [alice] * 5
        assert [e["user_id"] for e in stored] == (
            ["user-alice", None, None, "user-alice", None])
        segmentation = api.admin("GET", "/api/2/events/segmentation", params={
            "e": '{"event_type": "_active"}', "start": "20240301", "end": "20240301"}).json()
        assert segmentation["data"]["series"] == [[1]]
        found = api.admin("GET", "/api/2/usersearch", params={"user": "laptop-0002"}).json()
        assert [m["amplitude_id"] for m in found["matches"]] == [alice]
        (merged,) = srv.store.states[1].merged
        for asked in (alice, merged):  # the id merged away answers as alice
            profile = api.admin("GET", "/api/2/useractivity", params={"user": asked}).json()
            assert profile["userData"]["canonical_amplitude_id"] == alice
            assert profile["userData"]["merged_amplitude_ids"] == [merged]
            assert profile["userData"]["num_events"] == 5
        before = _state(srv.store.states[1])
        api.http.close()
    with serve_in_thread(config(db=db, throttle_enabled=False)) as srv:
        assert _state(srv.store.states[1]) == before
        api = Api(srv)
        assert api.post_events([{"event_type": "again", "device_id": "laptop-0002",
                                 "insert_id": "m-5"}]).status_code == 200
        assert api.stored()[-1]["amplitude_id"] == alice
        # a new user never gets the merged-away id (its events and row are gone, the merge
        # remembers it): it would answer as alice
        assert api.post_events([{"event_type": "new", "user_id": "user-carol",
                                 "insert_id": "m-6"}]).status_code == 200
        assert api.stored()[-1]["amplitude_id"] not in (alice, merged)
        api.http.close()


@pytest.mark.parametrize(("value", "text"), [
    (5, "5"), (True, "true"), (1.5, "1.5"), ([1, 2], "[1, 2]"), ({"a": 1}, "{'a': 1}"),
    (2**64 - 1, "18446744073709551615"),
])
def test_an_unchecked_text_field_of_another_type_is_stored_as_text(
    api: Api, value: Any, text: str
) -> None:
    """``start_version`` is not type-checked: a number or an object is kept as DuckDB writes
    it as text — beside a string in the same request too (that was a 500)."""
    r = api.post_events([{"event_type": "e1", "user_id": "user-00001", "start_version": value},
                         {"event_type": "e2", "user_id": "user-00001", "start_version": "2.0"}],
                        path="/batch")
    assert r.status_code == 200, r.text
    assert [e["start_version"] for e in api.stored()] == [text, "2.0"]


def test_a_batch_with_duplicates_stores_the_rest_in_order(api: Api) -> None:
    first = [{"event_type": f"e{i}", "user_id": "user-00001", "insert_id": f"id-{i}",
              "event_properties": {"i": i}} for i in range(3)]
    assert api.post_events(first, path="/batch").status_code == 200
    again = [{"event_type": "n1", "user_id": "user-00001", "insert_id": "id-1"},
             {"event_type": "n2", "user_id": "user-00002", "insert_id": "new-1",
              "location_lat": 2**60 + 1, "event_properties": {"k": "v"}},
             {"event_type": "n3", "user_id": "user-00002", "insert_id": "new-1"}]
    r = api.post_events(again, path="/batch")
    assert r.status_code == 200 and r.json()["events_ingested"] == 3
    stored = api.stored()
    assert [e["event_type"] for e in stored] == ["e0", "e1", "e2", "n2"]
    assert stored[3]["event_properties"] == {"k": "v"}
    assert stored[3]["location_lat"] == float(2**60 + 1)
    assert len({e["uuid"] for e in stored}) == 4
    assert api.admin("GET", "/_ampkit/stats").json()["duplicates"] == 2


def test_a_request_refused_by_validation_is_counted_and_changes_nothing(api: Api) -> None:
    r = api.post_events([{"event_type": "ok", "user_id": "user-00001"},
                         {"event_type": "bad", "user_id": "user-00001", "time": "soon"}])
    assert r.status_code == 400
    assert r.json()["events_with_invalid_fields"] == {"time": [1]}
    assert api.stored() == []
    assert api.admin("GET", "/_ampkit/users/user-00001").status_code == 404
    assert api.admin("GET", "/_ampkit/stats").json()["rejected"] == 1
    with httpx.Client(base_url=api.http.base_url) as http:  # the connection stays usable
        assert http.post("/batch", json={"api_key": KEY, "events": [
            {"event_type": "ok", "user_id": "user-00001"}]}).status_code == 200


_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=3),
                  st.just(b"bytes"), st.just((1, 2)))
_TREE = st.recursive(_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.one_of(st.text(max_size=2), st.integers(0, 3)), inner, max_size=3)),
    max_leaves=25)


def _nested(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = {"a": leaf}
    return leaf


@settings(max_examples=300, deadline=None)
@given(_TREE, st.integers(0, MAX_DEPTH + 2))
def test_the_quick_json_check_finds_what_the_full_walk_finds(value: Any, depth: int) -> None:
    """check_json_value's quick walk only skips the path-building walk when it finds nothing;
    what it answers is the full walk's answer (reference: the rule of issue 13 §1)."""
    assert check_json_value(value, "p", depth) == _check_json_value(value, "p", depth)


@pytest.mark.parametrize("depth", range(MAX_DEPTH - 2, MAX_DEPTH + 3))
@pytest.mark.parametrize("leaf", [1, {}, [], [1], {"b": None}])
def test_the_depth_limit_is_the_same_at_its_edge(depth: int, leaf: Any) -> None:
    value = _nested(depth, leaf)
    assert check_json_value(value, "p") == _check_json_value(value, "p")
    assert check_json_value([value], "p") == _check_json_value([value], "p")


def test_a_users_properties_are_bounded_so_a_few_requests_cannot_make_gigabytes() -> None:
    """Every stored event carries its user's properties: 900 properties of 1 KB, then 4,000
    tiny events, made 7.7 GB.  An update past ``limits.max_user_properties_bytes`` is not
    applied (the event is stored, the bad-event bucket names it); an Identify API call past it
    is a 400 that applies nothing of its request."""
    from ampkit.server.config import LimitsConfig

    with serve_in_thread(config(throttle_enabled=False,
                                limits=LimitsConfig(max_user_properties_bytes=4096))) as srv:
        api = Api(srv)
        fits = {f"p{i}": "x" * 100 for i in range(20)}  # ~2.3 KB
        more = {f"q{i}": "y" * 100 for i in range(20)}  # another ~2.3 KB: past 4 KB
        r = api.post_events([{"event_type": "a", "user_id": "user-big01", "insert_id": "b-1",
                              "user_properties": {"$set": fits}},
                             {"event_type": "b", "user_id": "user-big01", "insert_id": "b-2",
                              "user_properties": {"$set": more}},
                             {"event_type": "c", "user_id": "user-big01", "insert_id": "b-3"}])
        assert r.status_code == 200 and r.json()["events_ingested"] == 3
        stored = api.stored()
        assert [e["event_type"] for e in stored] == ["a", "b", "c"]
        assert all(e["user_properties"] == fits for e in stored)
        bad = api.admin("GET", "/_ampkit/bad-events").json()["bad_events"]
        assert [(b["kind"], b["insert_id"], b["path"]) for b in bad] == [
            ("properties_limit", "b-2", "/user_properties")]
        assert "over limits.max_user_properties_bytes (4,096)" in bad[0]["rule"]
        ident = orjson.dumps([{"user_id": "user-big01", "user_properties": {"$set": more}},
                              {"user_id": "user-big02", "user_properties": {"$set": {"x": 1}}}])
        r = api.http.post("/identify", data={"api_key": KEY, "identification": ident.decode()})
        assert r.status_code == 400
        assert "identification[0].user_properties would weigh" in r.text
        user = api.admin("GET", "/_ampkit/users/user-big01").json()
        assert user["user_properties"] == fits
        assert api.admin("GET", "/_ampkit/users/user-big02").status_code == 404
        api.http.close()
