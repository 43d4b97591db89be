"""The plugin's matching rules and failure messages, on events in the Export API's shape."""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

from ampkit.testing.matching import (
    differences,
    expected_fields,
    matches,
    nearest,
    order_failure,
)


def ev(event_type: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"event_type": event_type, "user_id": "user-0001", "device_id": None,
                            "event_properties": {}, "user_properties": {}, "$insert_id": None}
    return {**base, **fields}


def test_mappings_match_partially_and_recursively() -> None:
    event = ev("Signed Up", event_properties={"plan": "pro", "seats": 3, "meta": {"a": 1, "b": 2}})
    assert matches(event, "Signed Up", {"event_properties": {"meta": {"a": 1}}})
    assert matches(event, None, {"user_id": "user-0001", "event_properties": {"plan": ANY}})
    assert not matches(event, "Signed Up", {"event_properties": {"meta": {"a": 2}}})
    assert not matches(event, "Other", {})
    assert differences({"event_properties": {"plan": "team", "gone": 1}}, event) == [
        ("event_properties.plan", "team", "pro"), ("event_properties.gone", 1, ANY)]


def test_a_list_matches_whole_and_none_matches_an_absent_field() -> None:
    event = ev("A", event_properties={"tags": ["x", "y"]})
    assert not matches(event, "A", {"event_properties": {"tags": ["x"]}})
    assert matches(event, "A", {"event_properties": {"tags": ["x", "y"], "absent": None}})


def test_client_names_become_stored_names() -> None:
    assert expected_fields({"insert_id": "i-1", "ip": "1.2.3.4", "app_version": "2",
                            "carrier": "c", "platform": "Web"}) == {
        "$insert_id": "i-1", "ip_address": "1.2.3.4", "version_name": "2",
        "device_carrier": "c", "platform": "Web"}


def test_nearest_shows_three_closest_with_their_differing_fields() -> None:
    events = [ev("Signed Up", user_id=f"user-000{i}", event_properties={"plan": p})
              for i, p in enumerate(["free", "pro", "team", "trial"], 1)]
    text = nearest(events, "Signed Up",
                   {"user_id": "user-0009", "event_properties": {"plan": "pro"}})
    lines = text.splitlines()
    assert lines[0] == "received 4 'Signed Up' events, none matching; the nearest:"
    # the event differing in one field comes first, then two that differ in two
    assert lines[1].startswith("  #2 'Signed Up' user_id='user-0002'")
    assert lines[2] == "      user_id: expected 'user-0009', got 'user-0002'"
    assert sum(line.startswith("  #") for line in lines) == 3
    assert "      event_properties.plan: expected 'pro', got 'free'" in lines


def test_nearest_names_the_types_received_and_a_close_one() -> None:
    text = nearest([ev("Signed Up"), ev("Signed Up"), ev("Opened")], "Sign Up", {})
    assert "no 'Sign Up' event was received; received: 'Signed Up' ×2, 'Opened' ×1" in text
    assert text.endswith("did you mean 'Signed Up'?")
    assert "received no events at all" in nearest([], "A", {})


def test_order_is_a_subsequence_of_arrival_order() -> None:
    events = [ev("A"), ev("X"), ev("B", event_properties={"n": 1}), ev("A")]
    assert order_failure(events, ["A", "B", "A"]) is None
    assert order_failure(events, ["A", ("B", {"event_properties": {"n": 1}})]) is None
    failure = order_failure(events, ["B", "X"])
    assert failure is not None
    assert failure.startswith("step 2, a 'X' event, was not received after step 1 (event #3); "
                              "it was received as event #2")
    assert "received, in order: #1 'A', #2 'X', #3 'B', #4 'A'" in failure
    missing = order_failure(events, [("B", {"event_properties": {"n": 2}})])
    assert missing is not None and "was not received at all" in missing


def test_a_bool_never_matches_a_number_even_in_a_list() -> None:
    event = ev("X", event_properties={"flag": 1, "n": True, "tags": [1, True], "ok": True,
                                      "x": 1.0})
    assert not matches(event, "X", {"event_properties": {"flag": True}})
    assert not matches(event, "X", {"event_properties": {"n": 1}})
    assert not matches(event, "X", {"event_properties": {"tags": [True, True]}})
    assert matches(event, "X", {"event_properties": {"flag": 1, "n": True, "tags": [1, True],
                                                     "ok": ANY, "x": 1}})
