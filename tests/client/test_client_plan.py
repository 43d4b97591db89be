"""``Amplitude(plan=...)``: the client checks events against a tracking plan before anything is
queued — a typed error for what the plan rejects, a warning for what it flags — against a real
server (which has no plan of its own here, so what arrives is what the client let through)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from tests.client.conftest import Server

from ampkit import AsyncAmplitude, ConfigError, Identify, InvalidEventError

PLAN: dict[str, Any] = {
    "policy": {"unplanned_events": "flag", "unplanned_properties": "allow",
               "violations": "reject"},
    "events": {"Signed Up": {"properties": {"plan": {"enum": ["free", "pro"]},
                                            "seats": {"type": "integer", "minimum": 1}},
                             "required": ["plan"]}},
    "user_properties": {"properties": {"country": {"type": "string", "pattern": "^[A-Z]{2}$"}}},
}


def test_a_rejected_event_raises_naming_event_field_and_rule_and_nothing_is_sent(
        server: Server, client_factory: Any) -> None:
    amp = client_factory(plan=PLAN)
    with pytest.raises(InvalidEventError) as err:
        amp.track([{"event_type": "Signed Up", "user_id": "user-0001",
                    "event_properties": {"plan": "pro"}},
                   {"event_type": "Signed Up", "user_id": "user-0001",
                    "event_properties": {"plan": "pro", "seats": 0}}])
    assert (err.value.index, err.value.field) == (1, "event_properties.seats")
    assert str(err.value) == ("event[1].event_properties.seats 0 is less than the minimum of 1 "
                              "(tracking plan, event 'Signed Up')")
    with pytest.raises(InvalidEventError, match=r"user_properties\.\$set\.country 'fr' does"):
        amp.identify(Identify().set("country", "fr"), user_id="user-0001")
    assert amp.queued == 0
    assert amp.flush(timeout=10)
    assert server.events() == []


def test_flagged_events_are_sent_with_a_warning_and_allowed_ones_quietly(
        server: Server, client_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    amp = client_factory(plan=PLAN)
    with caplog.at_level(logging.WARNING, logger="ampkit.client"):
        amp.track({"event_type": "Clicked", "user_id": "user-0001"})          # flag
        amp.track({"event_type": "Signed Up", "user_id": "user-0001",         # allow
                   "event_properties": {"plan": "free", "extra": 1}})
    assert amp.flush(timeout=10)
    assert [e["event_type"] for e in server.events()] == ["Clicked", "Signed Up"]
    assert [r.getMessage() for r in caplog.records] == [
        "event[0] 'Clicked' breaks the tracking plan (unplanned_event): event_type 'Clicked' "
        "is not a planned event type"]


def test_a_plan_file_is_read_and_a_bad_one_is_a_config_error(
        server: Server, client_factory: Any, tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("events:\n  Opened App:\n")
    amp = client_factory(plan=path)
    assert amp.plan is not None and list(amp.plan.events) == ["Opened App"]
    with pytest.raises(ConfigError, match=r"^plan: .*events\.X\.properties\.y\.type: 'strng'"):
        client_factory(plan={"events": {"X": {"properties": {"y": {"type": "strng"}}}}})
    assert client_factory().plan is None  # off by default


def test_the_async_client_checks_the_same_plan(server: Server) -> None:
    import asyncio

    async def main() -> None:
        async with AsyncAmplitude("test-api-key-0001", base_url=server.url, plan=PLAN) as amp:
            with pytest.raises(InvalidEventError, match="'plan' is a required property"):
                await amp.track({"event_type": "Signed Up", "user_id": "user-0001"})
            await amp.track({"event_type": "Signed Up", "user_id": "user-0001",
                             "event_properties": {"plan": "pro"}})

    asyncio.run(main())
    assert [e["event_properties"] for e in server.events()] == [{"plan": "pro"}]
