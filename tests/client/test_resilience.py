"""Faults from the real server's middleware: nothing lost, nothing counted twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.client.conftest import API_KEY, Server, make_config

from ampkit import Amplitude, RetryPolicy, SenderOptions
from ampkit.config import load_settings
from ampkit.core.flow import run_flow
from ampkit.core.transport import SyncTransport
from ampkit.errors import QueueFullError
from ampkit.ingest.batching import QueuedEvent, delivery_flow
from ampkit.server import serve_in_thread
from ampkit.server.config import ThrottleConfig

ROOT = Path(__file__).resolve().parents[2]


def insert_ids(server: Server) -> Counter[str]:
    return Counter(e["$insert_id"] for e in server.events())


def test_10000_events_through_20_percent_faults(server: Server) -> None:
    server.set_faults(rates={"429": 0.04, "500": 0.05, "503": 0.05, "reset": 0.04,
                             "delay": 0.02}, delay_seconds=1.0, seed=7)
    failed: list[int] = []
    amp = Amplitude(
        API_KEY, base_url=server.url, settings=None,
        retry=RetryPolicy.no_wait(max_attempts=30),
        sender=SenderOptions(batch_size=250, flush_interval=0.05, workers=2, throttle_delay=0),
        on_failed=lambda evs, reason, status: failed.append(len(evs)),
    )
    amp.transport.settings = load_settings(api_key=API_KEY, base_url=server.url, timeout=0.5)
    ids = [f"r-{i}" for i in range(10_000)]
    for start in range(0, 10_000, 500):
        amp.track([{"event_type": "load", "user_id": f"user-{i % 97:04d}", "insert_id": ids[i]}
                   for i in range(start, start + 500)])
    assert amp.close(timeout=120)
    assert failed == []
    stored = insert_ids(server)
    assert len(stored) == 10_000 and set(stored) == set(ids)
    assert max(stored.values()) == 1
    assert server.stats()["faults_injected"] > 0


def test_reset_mid_response_resends_same_insert_ids(server: Server) -> None:
    server.set_faults(rates={"reset": 0.5}, seed=3)
    amp = Amplitude(API_KEY, base_url=server.url, retry=RetryPolicy.no_wait(max_attempts=40))
    report = amp.send([{"event_type": "x", "user_id": "user-0001", "insert_id": f"c-{i}"}
                       for i in range(50)])
    amp.close()
    assert len(report.delivered) == 50
    stored = insert_ids(server)
    assert len(stored) == 50 and max(stored.values()) == 1
    assert server.stats()["faults_injected"] >= 1


def test_retries_follow_the_backoff_policy_not_the_flush_interval(server: Server) -> None:
    server.set_faults(rates={"503": 1.0})
    waits: list[float] = []

    def fake_sleep(seconds: float) -> None:  # records instead of waiting
        waits.append(seconds)
        if len(waits) == 3:
            server.set_faults()

    policy = RetryPolicy(base_delay=0.5, multiplier=2, jitter=False, max_attempts=10)
    transport = SyncTransport(load_settings(api_key=API_KEY, base_url=server.url),
                              policy=policy, sleep=fake_sleep)
    report = run_flow(delivery_flow([QueuedEvent(0, b'{"event_type":"x","user_id":"user-1"}')]),
                      transport)
    assert len(report.delivered) == 1
    assert waits == [0.5, 1.0, 2.0]


def test_gives_up_after_bounded_attempts(server: Server) -> None:
    server.set_faults(rates={"500": 1.0})
    from ampkit import ServerError
    amp = Amplitude(API_KEY, base_url=server.url, retry=RetryPolicy.no_wait(max_attempts=3))
    with pytest.raises(ServerError):
        amp.send({"event_type": "x", "user_id": "user-0001"})
    assert amp.transport.requests_sent == 3
    amp.close()


SCRIPT_ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT)}


def run_script(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=SCRIPT_ENV)


def test_exit_without_close_delivers_and_is_clean(server: Server) -> None:
    proc = run_script(f"""
        from ampkit import Amplitude, SenderOptions
        amp = Amplitude({API_KEY!r}, base_url={server.url!r},
                        sender=SenderOptions(flush_interval=3600))
        amp.track([{{"event_type": "bye", "user_id": "user-0001"}}] * 7)
        # no flush, no close: the interpreter exit hook delivers
    """)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "cannot schedule" not in proc.stderr
    assert len(server.events()) == 7


def test_works_after_fork(server: Server) -> None:
    proc = run_script(f"""
        import os, sys
        from ampkit import Amplitude, SenderOptions
        amp = Amplitude({API_KEY!r}, base_url={server.url!r},
                        sender=SenderOptions(flush_interval=0.05))
        amp.track({{"event_type": "parent", "user_id": "user-0001"}})   # sender thread running
        assert amp.flush(10)
        pids = []
        for n in range(2):
            pid = os.fork()
            if pid == 0:   # a prefork worker
                amp.track([{{"event_type": f"child-{{n}}", "user_id": "user-0001"}}] * 5)
                ok = amp.flush(10) and amp.close(10)
                os._exit(0 if ok else 3)
            pids.append(pid)
        codes = [os.waitpid(p, 0)[1] for p in pids]
        amp.track({{"event_type": "parent-after", "user_id": "user-0001"}})
        sys.exit(0 if codes == [0, 0] and amp.close(10) else 4)
    """)
    assert proc.returncode == 0, proc.stderr
    counts = Counter(e["event_type"] for e in server.events())
    assert counts == {"parent": 1, "child-0": 5, "child-1": 5, "parent-after": 1}


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_children_deliver_what_they_tracked(server: Server, method: str,
                                                         tmp_path: Path) -> None:
    """A multiprocessing child ends with os._exit once its target returns (no atexit): what it
    tracked and never flushed is delivered all the same — with the module's client inherited
    (fork) or made again in the child (spawn, which imports the script again)."""
    script = tmp_path / "workers.py"
    script.write_text(textwrap.dedent(f"""
        import multiprocessing
        from ampkit import Amplitude, SenderOptions
        amp = Amplitude({API_KEY!r}, base_url={server.url!r},
                        sender=SenderOptions(flush_interval=3600))

        def work(n):
            amp.track([{{"event_type": f"child-{{n}}", "user_id": "user-0001"}}] * 10)
            return n   # no flush, no close

        if __name__ == "__main__":
            ctx = multiprocessing.get_context({method!r})
            procs = [ctx.Process(target=work, args=(n,)) for n in range(3)]
            for p in procs:
                p.start()
            for p in procs:
                p.join(60)
            assert [p.exitcode for p in procs] == [0, 0, 0]
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env=SCRIPT_ENV)
    assert proc.returncode == 0, proc.stderr
    counts = Counter(e["event_type"] for e in server.events())
    assert counts == {"child-0": 10, "child-1": 10, "child-2": 10}


def test_durable_queue_survives_sigkill(server: Server, tmp_path: Path) -> None:
    # the server is slowed down so that the kill lands mid-stream
    server.set_faults(rates={"delay": 1.0}, delay_seconds=0.05)
    code = f"""
        import sys
        from ampkit import Amplitude, RetryPolicy, SenderOptions
        amp = Amplitude({API_KEY!r}, base_url={server.url!r}, retry=RetryPolicy.no_wait(50),
                        sender=SenderOptions(durable_dir={str(tmp_path)!r}, batch_size=100,
                                             flush_interval=0.01))
        if sys.argv[-1] == "send":
            for i in range(20000):
                amp.track({{"event_type": "d", "user_id": "user-0001", "insert_id": f"k-{{i}}"}})
                print(i, flush=True)
        sys.exit(0 if amp.close(60) else 5)
    """
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), "send"],
                            stdout=subprocess.PIPE, text=True, env=SCRIPT_ENV)
    assert proc.stdout is not None
    last = -1
    for line in proc.stdout:
        last = int(line)
        if last >= 3000 and server.stats()["events"] > 0:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    delivered_before = len(server.events())
    assert 0 < delivered_before < last + 1  # killed mid-stream
    server.set_faults()
    again = subprocess.run([sys.executable, "-c", textwrap.dedent(code), "resume"],
                           capture_output=True, text=True, timeout=120, env=SCRIPT_ENV)
    assert again.returncode == 0, again.stderr
    stored = insert_ids(server)
    assert {f"k-{i}" for i in range(last + 1)} <= set(stored)  # every accepted event
    assert max(stored.values()) == 1  # none twice
    assert not list(tmp_path.glob("queue-*.sqlite")) or all(
        p.stat().st_size >= 0 for p in tmp_path.glob("queue-*.sqlite"))


def test_official_sdk_events_are_stored_exactly_once(server: Server) -> None:
    amplitude = pytest.importorskip("amplitude")
    sdk = amplitude.Amplitude(API_KEY, amplitude.Config(
        server_url=f"{server.url}/2/httpapi", flush_queue_size=10, flush_interval_millis=100))
    for i in range(25):
        sdk.track(amplitude.BaseEvent(event_type="sdk-event", user_id="user-0001",
                                      insert_id=f"sdk-{i}",
                                      event_properties={"i": i}))
    sdk.flush()
    sdk.shutdown()
    stored = insert_ids(server)
    assert len(stored) == 25 and max(stored.values()) == 1
    assert {e["library"] for e in server.events()} != {None}


def test_official_sdk_batch_mode(server: Server) -> None:
    amplitude = pytest.importorskip("amplitude")
    sdk = amplitude.Amplitude(API_KEY, amplitude.Config(
        server_url=f"{server.url}/batch", use_batch=True, flush_queue_size=10))
    for i in range(12):
        sdk.track(amplitude.BaseEvent(event_type="sdk-batch", device_id=f"device-{i:03d}"))
    sdk.shutdown()
    assert len(server.events()) == 12


def _unused(_: Any) -> None:  # keep typing imports honest
    return None


def test_more_events_of_one_device_than_its_throttle_lets_through_all_arrive() -> None:
    """One device, 40 events in one batch, a throttle of 10 per 1-s window: every request of
    all 40 is refused whole, so resending the same batch after each hold never ends.  Held
    events come back in halves until they fit: all 40 arrive, once each, none failed."""
    config = make_config(throttle=ThrottleConfig(httpapi_eps=10, window_seconds=1))
    with serve_in_thread(config) as running:
        failed: list[Any] = []
        amp = Amplitude(API_KEY, base_url=running.url, retry=RetryPolicy.no_wait(5),
                        sender=SenderOptions(batch_size=100, throttle_delay=0.2,
                                             max_delivery_rounds=1),
                        on_failed=lambda events, reason, status: failed.append(reason))
        amp.track([{"event_type": "burst", "device_id": "device-0001", "insert_id": f"b-{i}"}
                   for i in range(40)])
        assert amp.flush(timeout=60)
        assert amp.close(timeout=5)
        server = Server(running)
        stored = [e["$insert_id"] for e in server.events()]
        server.http.close()
    assert sorted(stored) == sorted(f"b-{i}" for i in range(40))
    assert failed == []  # the holds did not use up the one delivery round either


def test_a_durable_queue_that_cannot_write_keeps_the_sender_alive(server: Server,
                                                                   tmp_path: Path) -> None:
    """SQLite refuses every write to the queue file (as on a full disk): ``track`` raises a
    typed error naming the file; delivered events whose acknowledgement cannot be written stay
    queued (never dead-lettered) and the sender lives on — once the file takes writes again,
    every event is stored once and nothing was reported failed."""
    failed: list[str] = []
    amp = Amplitude(API_KEY, base_url=server.url, retry=RetryPolicy.no_wait(3),
                    sender=SenderOptions(durable_dir=tmp_path, flush_interval=3600),
                    on_failed=lambda events, reason, status: failed.append(reason))
    amp.track([{"event_type": "kept", "user_id": "user-0001", "insert_id": f"k-{i}"}
               for i in range(5)])
    db = amp._sender.core.queue._db  # the queue's own SQLite connection
    db.execute("PRAGMA query_only = 1")  # every write is refused from now on
    with pytest.raises(QueueFullError, match="could not keep 1 events"):
        amp.track({"event_type": "refused", "user_id": "user-0001"})
    assert not amp.flush(timeout=0.5)  # delivered, but the acknowledgement cannot be written
    assert len(server.events()) == 5
    db.execute("PRAGMA query_only = 0")
    assert amp.flush(timeout=30)
    assert amp.close(timeout=5)
    assert sorted(e["$insert_id"] for e in server.events()) == [f"k-{i}" for i in range(5)]
    assert failed == []


def test_two_clients_of_one_process_may_share_a_durable_folder(server: Server,
                                                               tmp_path: Path) -> None:
    """The second client on the same folder keeps its own numbered file (it raised a raw
    BlockingIOError); both deliver, and a third client later adopts nothing twice."""
    made = [Amplitude(API_KEY, base_url=server.url, retry=RetryPolicy.no_wait(3),
                      sender=SenderOptions(durable_dir=tmp_path, flush_interval=3600))
            for _ in range(2)]
    files = sorted(p.name for p in tmp_path.glob("queue-*.sqlite"))
    assert files == [f"queue-{os.getpid()}-2.sqlite", f"queue-{os.getpid()}.sqlite"]
    for n, amp in enumerate(made):
        amp.track([{"event_type": f"client-{n}", "user_id": "user-0001"}] * 3)
    assert all(amp.close(timeout=10) for amp in made)
    assert Counter(e["event_type"] for e in server.events()) == {"client-0": 3, "client-1": 3}


def test_a_report_part_the_queue_cannot_record_leaves_the_others_reported(
    tmp_path: Path,
) -> None:
    """One request: an event delivered, one the server refuses (a silenced device).  The
    durable queue cannot write the dead letter (SQLite refuses it, as on a full disk): the
    delivered event is still reported delivered (its callback was thrown away with the
    rest), and the refused one waits, then is reported once the queue takes it."""
    from ampkit.server import ProjectConfig

    config = make_config(throttle_enabled=False, projects=[ProjectConfig(
        project_id=100001, api_key=API_KEY, secret_key="test-secret-key-0001",
        silenced_devices=["silenced-dev-1"])])
    delivered: list[str] = []
    failed: list[str] = []
    with serve_in_thread(config) as running:
        amp = Amplitude(API_KEY, base_url=running.url, retry=RetryPolicy.no_wait(3),
                        sender=SenderOptions(durable_dir=tmp_path, flush_interval=3600),
                        on_delivered=lambda evs: delivered.extend(
                            str(e["event_type"]) for e in evs),
                        on_failed=lambda evs, reason, status: failed.extend(
                            str(e["event_type"]) for e in evs))
        db = amp._sender.core.queue._db
        db.execute("CREATE TRIGGER no_dead BEFORE INSERT ON dead "
                   "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
        amp.track([{"event_type": "good", "user_id": "user-0001"},
                   {"event_type": "silenced", "device_id": "silenced-dev-1"}])
        assert not amp.flush(timeout=0.5)  # the refused event cannot be dead-lettered yet
        assert delivered == ["good"] and failed == []
        db.execute("DROP TRIGGER no_dead")
        assert amp.flush(timeout=30) and amp.close(timeout=5)
    assert delivered == ["good"] and failed == ["silenced"]
