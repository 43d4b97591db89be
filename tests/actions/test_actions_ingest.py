"""Write actions against a real server: events, identify, group identify."""

from __future__ import annotations

from typing import Any

from ampkit.actions import ActionRunner
from ampkit.actions.ingest import IdentifyOutput, SendEventsOutput


def test_send_events_delivers_and_the_server_stores_them(
    runner: ActionRunner, server: Any, sent: list[dict[str, Any]]
) -> None:
    stored = server.get("/_ampkit/events")
    assert sorted(e["event_type"] for e in stored) == ["Purchase", "Sign Up", "Sign Up"]
    purchase = next(e for e in stored if e["event_type"] == "Purchase")
    assert purchase["event_properties"]["$productId"] == "sku-1"
    out = runner.run("send_events", {"events": [{"event_type": "Opened",
                                                 "device_id": "device-0001",
                                                 "event_properties": {"screen": "home"}}]})
    assert isinstance(out, SendEventsOutput)
    assert (out.success, out.delivered, out.failed, out.requests) == (True, 1, [], 1)


def test_send_events_names_the_invalid_event_and_sends_nothing(
    runner: ActionRunner, server: Any
) -> None:
    out = runner.run("send_events", {"events": [
        {"event_type": "Fine", "user_id": "user-0001"},
        {"event_type": "Bad", "user_id": "abc"},
    ]})
    assert not out.success
    assert out.error is not None
    assert "event[1].user_id" in out.error and "5 characters" in out.error
    assert server.get("/_ampkit/events") == []


def test_send_events_input_limits(runner: ActionRunner) -> None:
    out = runner.run("send_events", {"events": []})
    assert not out.success and out.error is not None
    assert out.error.startswith("invalid input: events:") and "at least 1" in out.error
    out = runner.run("send_events", {"events": [{"user_id": "user-0001"}]})
    assert out.error is not None and "events.0.event_type: Field required" in out.error


def test_identify_user_applies_operations(runner: ActionRunner, server: Any) -> None:
    out = runner.run("identify_user", {"user_id": "user-0001", "user_properties": {
        "$set": {"plan": "pro"}, "$add": {"logins": 2}, "$unset": {"trial": "-"}}})
    assert isinstance(out, IdentifyOutput)
    assert out.success, out.error
    assert (out.code, out.message) == (200, "success")
    assert out.operations == {"$set": {"plan": "pro"}, "$add": {"logins": 2},
                              "$unset": {"trial": "-"}}
    props = server.get("/_ampkit/users/user-0001")["user_properties"]
    assert props["plan"] == "pro" and props["logins"] == 2


def test_identify_user_needs_an_operation_and_an_id(runner: ActionRunner) -> None:
    out = runner.run("identify_user", {"user_id": "user-0001", "user_properties": {}})
    assert not out.success and out.error is not None
    assert "user_properties needs at least one property or operation" in out.error
    out = runner.run("identify_user", {"user_id": "user-0001"})
    assert out.error is not None and "user_properties: Field required" in out.error
    out = runner.run("identify_user", {"user_properties": {"$set": {"plan": "pro"}}})
    assert not out.success and out.error is not None
    assert "user_id" in out.error


def test_group_identify_sets_group_properties(runner: ActionRunner, server: Any) -> None:
    out = runner.run("group_identify", {"group_type": "company", "group_value": "Acme",
                                        "group_properties": {"$set": {"size": 10},
                                                             "$setOnce": {"since": "2024"}}})
    assert out.success, out.error
    props = server.get("/_ampkit/groups/company/Acme")["group_properties"]
    assert props == {"size": 10, "since": "2024"}
