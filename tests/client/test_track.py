"""The ingestion client end to end against the real local server."""

from __future__ import annotations

import datetime as dt
import inspect
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from tests.client.conftest import API_KEY, Server

from ampkit import (
    Amplitude,
    AsyncAmplitude,
    AuthError,
    Identify,
    InvalidEventError,
    NormalizeOptions,
    QueueFullError,
    SenderOptions,
)


def test_track_flush_stores_every_field_once(server: Server, client_factory: Any) -> None:
    amp = client_factory(defaults={"platform": "Web", "app_version": "2.1.0"})
    when = dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC)
    amp.track([
        {"event_type": "Signed Up", "user_id": "user-0001", "time": when,
         "event_properties": {"plan": "pro", "at": when, "tags": ("a", "b")},
         "ip": "192.0.2.1", "carrier": "Acme", "country": "France", "insert_id": "ins-1"},
        {"eventType": "Opened", "deviceId": "device-0002", "sessionId": 1709294400000},
    ])
    assert amp.flush(timeout=10)
    events = sorted(server.events(), key=lambda e: e["event_type"])
    assert [e["event_type"] for e in events] == ["Opened", "Signed Up"]
    opened, signed = events
    assert signed["user_id"] == "user-0001" and signed["$insert_id"] == "ins-1"
    assert signed["event_properties"] == {"plan": "pro", "at": when.isoformat(),
                                          "tags": ["a", "b"]}
    assert signed["client_event_time"].startswith("2024-03-01 12:00:00")
    assert signed["ip_address"] == "192.0.2.1" and signed["device_carrier"] == "Acme"
    assert signed["version_name"] == "2.1.0" and signed["platform"] == "Web"
    assert opened["device_id"] == "device-0002" and opened["session_id"] == 1709294400000


def test_send_reports_delivery_synchronously(server: Server, client_factory: Any) -> None:
    amp = client_factory()
    report = amp.send([{"event_type": f"e{i}", "user_id": "user-0001"} for i in range(3)])
    assert len(report.delivered) == 3 and not report.failed and report.requests == 1
    assert len(server.events()) == 3


def test_invalid_event_raises_before_anything_is_sent(server: Server,
                                                      client_factory: Any) -> None:
    amp = client_factory()
    with pytest.raises(InvalidEventError) as err:
        amp.track([{"event_type": "ok", "user_id": "user-0001"},
                   {"event_type": "bad", "user_id": "abc"}])
    assert err.value.index == 1 and err.value.field == "user_id"
    assert amp.queued == 0
    amp.flush(timeout=5)
    assert server.events() == []


def test_server_named_invalid_events_are_dropped_and_the_rest_resent(
    server: Server, client_factory: Any
) -> None:
    failed: list[tuple[list[dict[str, Any]], str]] = []
    amp = client_factory(
        validation=NormalizeOptions(allow_reserved_event_types=True),
        on_failed=lambda evs, reason, status: failed.append((evs, reason)),
    )
    amp.track([{"event_type": "good-1", "user_id": "user-0001"},
               {"event_type": "[Amplitude] Revenue", "user_id": "user-0001"},
               {"event_type": "good-2", "user_id": "user-0001"}])
    assert amp.flush(timeout=10)
    assert sorted(e["event_type"] for e in server.events()) == ["good-1", "good-2"]
    assert len(failed) == 1 and failed[0][0][0]["event_type"] == "[Amplitude] Revenue"
    assert "event_type" in failed[0][1]


def test_identify_operations_reach_the_user(server: Server, client_factory: Any) -> None:
    amp = client_factory()
    amp.track({"event_type": "Start", "user_id": "user-0042"})
    amp.identify(Identify().set("plan", "pro").add("logins", 2).append("tags", "a"),
                 user_id="user-0042")
    amp.identify({"$add": {"logins": 3}, "$postInsert": {"tags": ["a", "b"]},
                  "$setOnce": {"plan": "free"}}, user_id="user-0042")
    assert amp.flush(timeout=10)
    props = server.user("user-0042")["user_properties"]
    assert props == {"plan": "pro", "logins": 5, "tags": ["a", "b"]}


def test_identify_api_and_group_identify_api(server: Server, client_factory: Any) -> None:
    amp = client_factory()
    amp.identify_api([{"user_id": "user-0077", "user_properties": {"$set": {"tier": "gold"}}}])
    assert server.user("user-0077")["user_properties"]["tier"] == "gold"
    assert amp.group_identify("org id", "org-123", {"$set": {"plan": "Enterprise"}}) == 1
    assert server.group("org id", "org-123")["group_properties"] == {"plan": "Enterprise"}
    amp.group_identify("org id", "org-123", Identify().set("seats", 10), user_id="user-0077")
    assert amp.flush(timeout=10)
    assert server.group("org id", "org-123")["group_properties"] == {"plan": "Enterprise",
                                                                     "seats": 10}
    with pytest.raises(InvalidEventError):
        amp.identify_api([])


def test_revenue_fields(server: Server, client_factory: Any) -> None:
    amp = client_factory()
    amp.revenue(4.99, 3, product_id="sku-1", revenue_type="purchase", currency="USD",
                user_id="user-0001")
    with pytest.raises(InvalidEventError, match="price"):
        amp.revenue(user_id="user-0001")
    assert amp.flush(timeout=10)
    (event,) = server.events()
    assert event["event_type"] == "revenue_amount"
    props = event["event_properties"]
    assert props["$price"] == 4.99 and props["$quantity"] == 3
    assert props["$productId"] == "sku-1" and props["$revenueType"] == "purchase"


def test_batch_api(server: Server, client_factory: Any) -> None:
    amp = client_factory(sender=SenderOptions(use_batch=True, batch_size=50, flush_interval=0.05))
    amp.track([{"event_type": "b", "device_id": f"device-{i:04d}"} for i in range(120)])
    assert amp.flush(timeout=10)
    events = server.events()
    assert len(events) == 120 and {e["data"]["path"] for e in events} == {"/batch"}


def test_wrong_key_fails_clearly_and_stores_nothing(server: Server) -> None:
    failures: list[str] = []
    amp = Amplitude("wrong-key-9999", base_url=server.url,
                    on_failed=lambda evs, reason, status: failures.append(reason),
                    sender=SenderOptions(flush_interval=0.05))
    with pytest.raises(AuthError) as err:
        amp.send({"event_type": "x", "user_id": "user-0001"})
    assert "wrong-key-9999" not in str(err.value) and "region" in str(err.value)
    amp.track({"event_type": "x", "user_id": "user-0001"})
    assert amp.flush(timeout=10)
    assert len(failures) == 1 and "wrong-key-9999" not in failures[0]
    assert amp.close(timeout=5)
    assert server.events() == []


def test_secrets_do_not_leak_in_reprs(server: Server, client_factory: Any) -> None:
    amp = Amplitude(API_KEY, "very-secret-key-1", base_url=server.url)
    text = " ".join([repr(amp), str(amp), repr(amp.settings), repr(amp.transport)])
    assert API_KEY not in text and "very-secret-key-1" not in text
    amp.close()


def test_queue_full_policies(server: Server) -> None:
    dropped: list[int] = []
    slow = SenderOptions(max_queue_size=10, on_full="drop", flush_interval=3600, batch_size=2000)
    amp = Amplitude(API_KEY, base_url=server.url, sender=slow,
                    on_failed=lambda evs, reason, status: dropped.append(len(evs)))
    assert amp.track([{"event_type": "x", "user_id": "user-0001"}] * 15) == 10
    assert dropped == [5] and amp.queued == 10
    assert amp.close(timeout=10)
    assert len(server.events()) == 10

    strict = Amplitude(API_KEY, base_url=server.url, sender=slow.model_copy(
        update={"on_full": "raise"}))
    strict.track([{"event_type": "x", "user_id": "user-0001"}] * 10)
    with pytest.raises(QueueFullError):
        strict.track({"event_type": "x", "user_id": "user-0001"})
    strict.close(timeout=10)


def test_blocking_queue_applies_back_pressure(server: Server) -> None:
    opts = SenderOptions(max_queue_size=5, on_full="block", batch_size=5, flush_interval=3600)
    amp = Amplitude(API_KEY, base_url=server.url, sender=opts)
    # 50 events through a 5-slot queue: track blocks until the sender makes room
    for i in range(10):
        amp.track([{"event_type": "x", "user_id": "user-0001", "insert_id": f"bp-{i}-{j}"}
                   for j in range(5)])
        assert amp.queued <= 5
    assert amp.close(timeout=10)
    assert len(server.events()) == 50


def test_close_is_prompt_and_final(server: Server, client_factory: Any) -> None:
    amp = client_factory(sender=SenderOptions(flush_interval=3600))
    amp.track({"event_type": "x", "user_id": "user-0001"})
    assert amp.close()  # drains without waiting for the 1-hour interval
    assert not [t for t in threading.enumerate() if t.name.startswith("ampkit-sender")
                and t.is_alive()]
    assert len(server.events()) == 1
    from ampkit import ClosedError
    with pytest.raises(ClosedError):
        amp.track({"event_type": "x", "user_id": "user-0001"})


def test_sync_and_async_facades_match() -> None:
    public = {n for n in dir(Amplitude) if not n.startswith("_")}
    assert public == {n for n in dir(AsyncAmplitude) if not n.startswith("_")}
    for name in public:
        a, b = getattr(Amplitude, name), getattr(AsyncAmplitude, name)
        if callable(a) and name != "iter_user_activity":  # an iterator / an async iterator
            assert inspect.signature(a) == inspect.signature(b), name
            assert inspect.iscoroutinefunction(b) or name == "queued", name


def test_async_client(server: Server) -> None:
    import asyncio

    delivered: list[int] = []

    async def main() -> None:
        async with AsyncAmplitude(API_KEY, base_url=server.url,
                                  sender=SenderOptions(flush_interval=0.05, batch_size=10),
                                  on_delivered=lambda evs: delivered.append(len(evs))) as amp:
            await amp.track([{"event_type": "a", "user_id": "user-0001"}] * 25)
            await amp.identify({"$set": {"x": 1}}, user_id="user-0001")
            await amp.revenue(revenue=9.5, user_id="user-0001")
            assert await amp.flush(timeout=10)
            report = await amp.send({"event_type": "now", "device_id": "device-0001"})
            assert len(report.delivered) == 1
            await amp.identify_api([{"user_id": "user-0001",
                                     "user_properties": {"$set": {"y": 2}}}])

    asyncio.run(main())
    assert sum(delivered) == 27
    counts = Counter(e["event_type"] for e in server.events())
    assert counts == {"a": 25, "$identify": 1, "revenue_amount": 1, "now": 1}
    assert server.user("user-0001")["user_properties"] == {"x": 1, "y": 2}


def test_careless_arguments_are_typed_errors_naming_them(tmp_path: Path) -> None:
    amp = Amplitude("key-0123456789", base_url="http://127.0.0.1:9")
    try:
        for wrong in (None, 5, "Clicked", b"x"):
            with pytest.raises(InvalidEventError, match="events must be an event"):
                amp.track(wrong)  # type: ignore[arg-type]
        for timeout in ("x", -1, float("nan"), True):
            with pytest.raises(ValueError, match="timeout: seconds"):
                amp.flush(timeout=timeout)  # type: ignore[arg-type]
        assert amp.queued == 0
    finally:
        amp.close()
    a_file = tmp_path / "queue"
    a_file.write_text("not a folder")
    for where, rule in (("", "must name a folder"), (str(a_file), "is not a folder")):
        with pytest.raises(ValidationError, match=rule):
            SenderOptions(durable_dir=where)
