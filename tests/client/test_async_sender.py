"""The async sender as the thread sender: its disk queue never blocks the event loop, and a
forked child sends its own events (issue 15: the async twin had drifted)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from tests.client.conftest import API_KEY, Server

from ampkit import AsyncAmplitude, RetryPolicy, SenderOptions
from ampkit.core.spec import RequestSpec


def test_the_durable_queue_never_runs_sqlite_on_the_event_loop(server: Server,
                                                                tmp_path: Path) -> None:
    threads: set[int] = set()

    async def main() -> tuple[int, bool]:
        loop_thread = threading.get_ident()
        amp = AsyncAmplitude(API_KEY, base_url=server.url, retry=RetryPolicy.no_wait(),
                             sender=SenderOptions(durable_dir=tmp_path, flush_interval=0.05))
        db: Any = amp._sender.core.queue._db  # type: ignore[attr-defined]
        db.set_trace_callback(lambda statement: threads.add(threading.get_ident()))
        for i in range(60):
            await amp.track({"event_type": "async", "user_id": "user-00001",
                             "insert_id": f"a-{i:04d}"})
        done = await amp.close(timeout=30)
        return loop_thread, done

    loop_thread, done = asyncio.run(main())
    assert done
    assert threads, "the queue wrote nothing: the observer saw no statement"
    assert loop_thread not in threads  # every INSERT/DELETE/COMMIT ran in a worker thread
    assert len(server.events()) == 60


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_sends_its_own_events(server: Server) -> None:
    """The parent's sender runs on an event loop in another thread when the process forks
    (a worker model with a background loop): in the child that loop never runs again, so the
    child must start its own sender rather than wait on the parent's task."""
    amp = AsyncAmplitude(API_KEY, base_url=server.url, retry=RetryPolicy.no_wait(),
                         sender=SenderOptions(flush_interval=0.05))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    track = amp.track({"event_type": "parent", "user_id": "user-00001", "insert_id": "p-1"})
    asyncio.run_coroutine_threadsafe(track, loop).result(30)  # the sender task now lives there

    async def child() -> bool:
        for i in range(5):
            await amp.track({"event_type": "child", "user_id": "user-00001",
                             "insert_id": f"c-{i}"})
        return await amp.close(timeout=10)

    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            code = 0 if asyncio.run(child()) else 3
        except BaseException:  # the child must never run the rest of the test
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    done = asyncio.run_coroutine_threadsafe(amp.close(timeout=30), loop).result(60)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)
    loop.close()
    assert done  # the parent still delivers what it queued
    types = sorted(e["event_type"] for e in server.events())
    assert types.count("child") == 5 and types.count("parent") == 1


def _client_sockets(port: int) -> int:
    """Sockets of this process connected *to* ``port`` (the client's side; the server runs in
    this process too, and its side is left out)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table) as fh:
            for line in list(fh)[1:]:
                fields = line.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if remote_port == port and fields[9] in inodes:
                    count += 1
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_a_client_used_from_many_event_loops_does_not_leak_connections(server: Server) -> None:
    """Each ``asyncio.run`` is a new loop: the transport replaces its HTTP client and closes the
    old one (it used to keep every old client's sockets open)."""
    amp = AsyncAmplitude(API_KEY, "secret-unused", base_url=server.url,
                         retry=RetryPolicy.no_wait())

    spec = RequestSpec("GET", "/health", "analytics", "/health")

    async def ping() -> int:
        raw = await amp.transport.send(spec)
        return raw.status

    port = server.running.port
    assert asyncio.run(ping()) == 200
    before = _client_sockets(port)
    for _ in range(15):
        assert asyncio.run(ping()) == 200
    assert _client_sockets(port) <= before + 1  # not one more connection per loop


def test_an_async_client_dropped_with_events_unsent_says_so(caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    """No thread flushes an async client at exit (its loop is gone): dropping one that still
    holds events warns, naming how many; a closed one does not."""
    import gc

    async def dropped() -> None:
        amp = AsyncAmplitude(API_KEY, base_url="http://127.0.0.1:9")  # nothing listens there
        await amp.track({"event_type": "E", "user_id": "user-0001"})

    async def closed() -> None:
        async with AsyncAmplitude(API_KEY, base_url="http://127.0.0.1:9",
                                  retry=RetryPolicy.no_wait(max_attempts=1),
                                  sender=SenderOptions(close_timeout=0)) as amp:
            await amp.track({"event_type": "E", "user_id": "user-0001"})

    def run_and_collect(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
        asyncio.run(main())
        gc.collect()

    with pytest.warns(RuntimeWarning, match="dropped without close\\(\\): 1 events were not"):
        run_and_collect(dropped)
    assert "1 events not sent" in caplog.text
    caplog.clear()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        run_and_collect(closed)
    assert "dropped without close" not in caplog.text


def test_a_batch_in_flight_when_its_loop_ended_goes_again_on_the_next_loop() -> None:
    """``asyncio.run`` twice with one AsyncAmplitude: the first loop ends while its batch is in
    flight.  The next loop sends that batch again with the new events (it was stranded, and
    flush raised 'bound to a different event loop'); nothing is reported failed."""
    import orjson
    from tests.stub_http import SUCCESS, Seen, stub

    arrived, release = threading.Event(), threading.Event()

    def answer(seen: Seen) -> Any:
        if not arrived.is_set():
            arrived.set()
            release.wait(30)  # the first request hangs until its loop has ended
        return SUCCESS

    delivered: list[str] = []
    failed: list[str] = []
    with stub(answer) as proxy:
        amp = AsyncAmplitude(API_KEY, base_url=proxy.url, retry=RetryPolicy.no_wait(3),
                             sender=SenderOptions(flush_interval=0.01),
                             on_delivered=lambda evs: delivered.extend(
                                 str(e["event_type"]) for e in evs),
                             on_failed=lambda evs, reason, status: failed.append(reason))

        async def first() -> None:
            await amp.track([{"event_type": f"A{i}", "user_id": "user-0001"} for i in range(3)])
            await asyncio.to_thread(arrived.wait, 30)  # the batch is on the wire

        async def second() -> tuple[bool, bool]:
            await amp.track({"event_type": "B", "user_id": "user-0001"})
            return await amp.flush(timeout=30), await amp.close()

        asyncio.run(first())
        release.set()
        assert asyncio.run(second()) == (True, True)
        sent = [str(e["event_type"]) for s in proxy.seen
                for e in orjson.loads(s.body)["events"]]
    assert sorted(delivered) == ["A0", "A1", "A2", "B"] and failed == []
    assert sent.count("A0") == 2  # sent again (Amplitude drops the repeat by insert_id)
