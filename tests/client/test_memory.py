"""The client's queue costs what its events weigh, and its byte bound counts what it holds."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import pytest
from tests.client.conftest import API_KEY
from tests.stub_http import dead_port

from ampkit import Amplitude, QueueFullError, RetryPolicy, SenderOptions
from ampkit.ingest.queue import QUEUED_EVENT_OVERHEAD

N = 20_000


def event(i: int) -> dict[str, Any]:
    return {"event_type": "Song Played", "user_id": f"user-{i % 1000:05d}",
            "event_properties": {"i": i, "source": "memory-test"},
            "platform": "Web"}


def test_a_queued_event_costs_about_its_json_size() -> None:
    with dead_port() as port:  # the sender cannot deliver: everything stays queued
        amp = Amplitude(API_KEY, base_url=f"http://127.0.0.1:{port}",
                        retry=RetryPolicy(base_delay=0.0, max_delay=3600.0),
                        sender=SenderOptions(flush_interval=3600, batch_size=2000))
        core = amp._sender.core
        payload = len(amp._encode(event(0))[0])
        assert 190 <= payload <= 230
        # warm up: a first full batch is tried, refused, and the sender holds off for an hour
        amp.track([event(i) for i in range(2000)])
        with core.queue.cond:
            assert core.queue.cond.wait_for(lambda: core.held_until > 0, timeout=60)
        gc.collect()
        held_before = core.queue.held_bytes
        tracemalloc.start()
        try:
            for start in range(0, N, 500):
                amp.track([event(i) for i in range(start, start + 500)])
            gc.collect()
            traced = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert len(core.queue) == N + 2000  # nothing delivered, nothing dropped
        held = core.queue.held_bytes - held_before
        amp.close(timeout=0)
    per_event = traced / N
    assert per_event <= 2.2 * payload, (per_event, payload)
    # the byte bound is honest: it counts what the queue really holds
    assert 0.9 <= traced / held <= 1.1, (traced, held)
    assert held == sum(len(amp._encode(event(i))[0]) for i in range(N)) + N * QUEUED_EVENT_OVERHEAD


def test_max_queue_bytes_bounds_the_queue() -> None:
    with dead_port() as port:
        amp = Amplitude(API_KEY, base_url=f"http://127.0.0.1:{port}",
                        retry=RetryPolicy(base_delay=0.0, max_delay=3600.0),
                        sender=SenderOptions(flush_interval=3600, batch_size=2000,
                                             max_queue_bytes=100_000, on_full="raise"))
        size = len(amp._encode(event(0))[0]) + QUEUED_EVENT_OVERHEAD
        with pytest.raises(QueueFullError, match="bytes") as caught:
            amp.track([event(0)] * 1000)
        fits = 100_000 // size
        assert f"{fits} of 1000 accepted" in str(caught.value)
        assert amp.queued == fits and amp._sender.core.queue.held_bytes <= 100_000
        amp.close(timeout=0)


def test_tracking_a_list_holds_each_event_at_its_size() -> None:
    """orjson's buffers are 4 KB and more: a ``track`` of a list that kept them until the
    whole list was queued would peak at 4 KB per event, 20 times the event."""
    n = 5000
    with dead_port() as port:
        amp = Amplitude(API_KEY, base_url=f"http://127.0.0.1:{port}",
                        retry=RetryPolicy(base_delay=0.0, max_delay=3600.0),
                        sender=SenderOptions(flush_interval=3600, batch_size=2000))
        payload = len(amp._encode(event(0))[0])
        events = [event(i) for i in range(n)]
        gc.collect()
        tracemalloc.start()
        try:
            assert amp.track(events) == n
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert amp.queued == n
        amp.close(timeout=0)
    assert peak / n <= 4 * payload, (peak / n, payload)
