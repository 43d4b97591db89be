"""The delivery flow (pure generator) and the queues."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.errors import AuthError
from ampkit.ingest.batching import DeliveryReport, QueuedEvent, delivery_flow, take_batch
from ampkit.ingest.queue import DurableQueue, MemoryQueue


def ev(i: int, user: str = "user-1") -> QueuedEvent:
    return QueuedEvent(i, orjson.dumps({"event_type": "e", "user_id": user, "insert_id": str(i)}))


def sent_ids(spec: RequestSpec) -> list[str]:
    return [e["insert_id"] for e in orjson.loads(spec.content or b"{}")["events"]]


def drive(flow, answer) -> tuple[DeliveryReport, list[list[str]]]:  # type: ignore[no-untyped-def]
    calls: list[list[str]] = []
    try:
        spec = next(flow)
        while True:
            calls.append(sent_ids(spec))
            status, body = answer(spec, len(calls))
            spec = flow.send(RawResponse(status, {}, orjson.dumps(body)))
    except StopIteration as stop:
        return stop.value, calls


def test_200_delivers_everything_in_one_request() -> None:
    report, calls = drive(delivery_flow([ev(i) for i in range(5)]), lambda s, n: (200, {}))
    assert len(report.delivered) == 5 and report.requests == 1 and calls == [list("01234")]


def test_400_drops_only_named_events_and_resends_the_rest() -> None:
    def answer(spec: RequestSpec, n: int) -> tuple[int, dict[str, object]]:
        if n == 1:
            return 400, {"code": 400, "error": "Invalid field values on some events",
                         "events_with_invalid_fields": {"time": [1, 3]},
                         "events_with_missing_fields": {"event_type": [4]}}
        return 200, {}
    report, calls = drive(delivery_flow([ev(i) for i in range(6)]), answer)
    assert calls == [list("012345"), ["0", "2", "5"]]
    assert sorted(i.id for f in report.failed for i in f.events) == [1, 3, 4]
    assert any("time" in f.reason for f in report.failed)
    assert [i.id for i in report.delivered] == [0, 2, 5]


def test_400_request_level_error_raises_redacted() -> None:
    flow = delivery_flow([ev(1)], secrets=["the-key-1234"])
    next(flow)
    with pytest.raises(AuthError) as err:
        flow.send(RawResponse(400, {}, b'{"code":400,"error":"Invalid API key: the-key-1234"}'))
    assert "the-key-1234" not in str(err.value)


def test_413_halves_until_it_fits_and_drops_a_lone_giant() -> None:
    def answer(spec: RequestSpec, n: int) -> tuple[int, dict[str, object]]:
        ids = sent_ids(spec)
        return (413, {"code": 413}) if len(ids) > 2 or "7" in ids else (200, {})
    report, _calls = drive(delivery_flow([ev(i) for i in range(8)]), answer)
    assert sorted(i.id for i in report.delivered) == [0, 1, 2, 3, 4, 5, 6]
    assert [i.id for f in report.failed for i in f.events] == [7]
    assert report.failed[0].status == 413


def test_429_defers_throttled_drops_quota_resends_others() -> None:
    events = [ev(0, "user-a"), ev(1, "user-b"), ev(2, "user-quota"), ev(3, "user-a")]
    def answer(spec: RequestSpec, n: int) -> tuple[int, dict[str, object]]:
        if n == 1:
            return 429, {"code": 429, "throttled_users": {"user-a": 31, "user-quota": 40},
                         "throttled_events": [0, 2, 3],
                         "exceeded_daily_quota_users": {"user-quota": 500001}}
        return 200, {}
    report, calls = drive(delivery_flow(events, throttle_delay=30), answer)
    assert calls[1] == ["1"]
    # user-a's two events come back in halves, one hold apart
    assert [(i.id, d) for i, d in report.deferred] == [(0, 30), (3, 60)]
    assert [i.id for f in report.failed for i in f.events] == [2]
    assert "daily quota" in report.failed[0].reason


def test_take_batch_respects_count_and_bytes() -> None:
    items = [QueuedEvent(i, b"x" * 100) for i in range(10)]
    assert take_batch(items, 4, 10_000) == 4
    assert take_batch(items, 10, 350) == 2
    assert take_batch(items[:1], 10, 10) == 1  # one oversized event still goes (413 decides)


def test_memory_queue_take_ack_defer() -> None:
    q = MemoryQueue(max_size=10)
    q.put([b"a", b"bb", b"ccc"])
    assert len(q) == 3 and q.ready_bytes == 6
    batch = q.take(2, 100, now=0)
    assert [i.payload for i in batch] == [b"a", b"bb"] and len(q) == 3
    q.defer(batch[:1], delay=5, now=0)
    q.ack(batch[1:])
    assert len(q) == 2 and q.next_deferred() == 5
    assert [i.payload for i in q.take(10, 100, now=1)] == [b"ccc"]
    assert [i.payload for i in q.take(10, 100, now=6)] == [b"a"]
    assert q.free_slots() == 8


def test_durable_queue_survives_reopen_and_adopts_orphans(tmp_path: Path) -> None:
    q = DurableQueue(tmp_path)
    items = q.put([b'{"n":1}', b'{"n":2}', b'{"n":3}'])
    q.ack(items[:1])
    q.bury(items[1:2], "bad")
    q.close()
    # a file left by another (dead) process is adopted too
    os.rename(q.path, tmp_path / "queue-999999.sqlite")
    q2 = DurableQueue(tmp_path)
    assert [i.payload for i in q2.take(10, 10_000, 0)] == [b'{"n":3}']
    assert q2.dead_letters() == [(b'{"n":2}', "bad")]
    assert not (tmp_path / "queue-999999.sqlite").exists()
    assert q2.requeue_dead() == 1 and len(q2) == 2
    q2.close()


def test_a_request_level_400_after_a_delivered_half_keeps_that_half_delivered() -> None:
    """413, then the first half is taken and the second refused whole: A and B stay delivered,
    C and D fail with the 400's message (nothing is raised away with the report)."""
    def answer(spec: RequestSpec, n: int) -> tuple[int, dict[str, object]]:
        if n == 1:
            return 413, {"code": 413}
        if n == 2:
            return 200, {"code": 200, "events_ingested": 2, "payload_size_bytes": 1,
                         "server_upload_time": 1}
        return 400, {"code": 400, "error": "Request missing required field",
                     "missing_field": "api_key"}
    report, _calls = drive(delivery_flow([ev(i) for i in range(4)]), answer)
    assert [i.id for i in report.delivered] == [0, 1]
    assert [(i.id, f.status) for f in report.failed for i in f.events] == [(2, 400), (3, 400)]
    assert "missing required field" in report.failed[0].reason
