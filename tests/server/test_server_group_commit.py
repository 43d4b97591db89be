"""Group commit (issue 17): ingestion requests that wait for the store's lock are stored by the
next holder together, in one transaction — each answered as if it had been stored alone, and
only once that transaction has committed.

The tests hold the store's lock themselves while requests queue up behind it (so a group forms
whatever the machine's speed), then let go and look at what was stored."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from tests.server.conftest import KEY, KEY2, SECRET, SECRET2

from ampkit.server import ProjectConfig, ServerConfig, Store
from ampkit.server.config import ThrottleConfig
from ampkit.server.ingest import Outcome
from ampkit.server.services.ingestion import ingest_events
from ampkit.server.throttle import Throttle


def _store(tmp_path: Path, **overrides: Any) -> Store:
    return Store(ServerConfig(db=tmp_path / "group.duckdb", projects=[
        ProjectConfig(project_id=1, api_key=KEY, secret_key=SECRET),
        ProjectConfig(project_id=2, api_key=KEY2, secret_key=SECRET2)], **overrides))


def _body(events: list[dict[str, Any]], key: str = KEY) -> bytes:
    return orjson.dumps({"api_key": key, "events": events})


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


@contextmanager
def _transactions(store: Store) -> Iterator[list[int]]:
    """Counts the store's transactions (a spy on the real method, which still runs)."""
    count = [0]
    original = store.transaction

    @contextmanager
    def counted() -> Iterator[duckdb.DuckDBPyConnection]:
        count[0] += 1
        with original() as con:
            yield con

    store.transaction = counted  # type: ignore[method-assign]
    try:
        yield count
    finally:
        store.transaction = original  # type: ignore[method-assign]


def _grouped(store: Store, bodies: list[bytes]) -> list[Outcome]:
    """Send ``bodies`` from one thread each, in this order, while this thread holds the
    store's lock; once all of them wait for it, let go and collect the answers."""
    answers: list[Any] = [None] * len(bodies)

    def send(i: int) -> None:
        answers[i] = ingest_events(store, "batch", bodies[i])

    threads = []
    with store.lock:
        for i in range(len(bodies)):
            thread = threading.Thread(target=send, args=(i,))
            thread.start()
            threads.append(thread)
            _until(lambda n=i + 1: len(store.ingest_waiting) == n, f"request {i} to wait")
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()
    return [a for a in answers if isinstance(a, Outcome)]


def _rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return store.con.execute(sql).fetchall()


def test_requests_waiting_for_the_lock_are_stored_in_one_transaction_in_arrival_order(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    bodies = [
        _body([{"event_type": "a", "user_id": "user-0001", "insert_id": "ins-0001",
                "user_properties": {"$set": {"plan": "free"}, "$add": {"n": 1}}}]),
        _body([{"event_type": "b", "user_id": "user-0002", "insert_id": "ins-0002"}], KEY2),
        _body([{"event_type": "c", "user_id": "user-0001", "insert_id": "ins-0003",
                "user_properties": {"$set": {"plan": "pro"}, "$add": {"n": 2}}},
               {"event_type": "d", "user_id": "user-0003", "insert_id": "ins-0004"}]),
    ]
    with _transactions(store) as count:
        answers = _grouped(store, bodies)
    assert [a.status for a in answers] == [200, 200, 200]
    assert count[0] == 1  # the three requests, one transaction
    rows = _rows(store, "SELECT project_id, event_type, seq, amplitude_id FROM events "
                        "ORDER BY seq")
    assert [(r[0], r[1]) for r in rows] == [(1, "a"), (2, "b"), (1, "c"), (1, "d")]
    seqs = [r[2] for r in rows]
    assert seqs == list(range(seqs[0], seqs[0] + 4))
    # the same user in the first and third request: one Amplitude ID, operations in order
    assert rows[0][3] == rows[2][3] and len({r[3] for r in rows}) == 3
    props = _rows(store, "SELECT user_properties FROM users WHERE user_id = 'user-0001'")
    assert orjson.loads(props[0][0]) == {"plan": "pro", "n": 3}
    stored = _rows(store, "SELECT user_properties FROM events WHERE event_type = 'c'")
    assert orjson.loads(stored[0][0]) == {"plan": "pro", "n": 3}
    # what memory holds is what the tables hold: a restarted server sees the same
    store.close()
    again = _store(tmp_path)
    user = next(u for u in again.states[1].users.values() if u.user_id == "user-0001")
    assert user.user_properties == {"plan": "pro", "n": 3}
    assert again.next_seq() == seqs[-1] + 1
    again.close()


def test_an_insert_id_of_an_earlier_request_in_the_group_is_a_duplicate(tmp_path: Path) -> None:
    store = _store(tmp_path)
    event = {"event_type": "a", "user_id": "user-0001", "insert_id": "same-0001"}
    answers = _grouped(store, [_body([event]), _body([event]), _body([event], KEY2)])
    assert [a.status for a in answers] == [200, 200, 200]
    assert [a.duplicates for a in answers] == [0, 1, 0]  # another project's key is its own
    assert _rows(store, "SELECT project_id, count(*) FROM events GROUP BY 1 ORDER BY 1") == [
        (1, 1), (2, 1)]
    assert store.states[1].counters["duplicates"] == 1
    # and the next request, alone, finds it stored
    alone = ingest_events(store, "batch", _body([event]))
    assert isinstance(alone, Outcome) and alone.duplicates == 1
    store.close()


def test_the_throttles_count_the_earlier_requests_of_the_group(tmp_path: Path) -> None:
    store = _store(tmp_path, throttle=ThrottleConfig(batch_eps=1, window_seconds=3))
    three = [{"event_type": "a", "device_id": "device-0001", "insert_id": f"t-{i:04d}"}
             for i in range(3)]
    answers = _grouped(store, [_body(three), _body(three[:1])])
    # 3 events in a 3 s window is at 1 EPS; the second request's one more is over it
    assert [a.status for a in answers] == [200, 429]
    assert _rows(store, "SELECT count(*) FROM events") == [(3,)]
    assert store.counters["rejected"] == 1
    store.close()


class _Poisoned:
    """The store fails to write the users of any transaction that touches ``poison`` — a
    fault (a disk that fails, say) the real store cannot be made to produce."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = store._write_users

        def write_users(con: duckdb.DuckDBPyConnection, users: Any) -> None:
            self.calls += 1
            if any(u.user_id == "poison" for u in users):
                raise duckdb.IOException("injected: disk failed")
            original(con, users)

        monkeypatch.setattr(store, "_write_users", write_users)


def test_a_group_the_store_fails_to_keep_is_stored_request_by_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)
    ingest_events(store, "batch", _body([{"event_type": "first", "user_id": "user-0001",
                                          "user_properties": {"$set": {"plan": "free"}}}]))
    poisoned = _Poisoned(store, monkeypatch)
    first_id = store.next_amplitude_id
    bodies = [
        _body([{"event_type": "a", "user_id": "user-0001", "insert_id": "ok-0001",
                "user_properties": {"$set": {"plan": "pro"}}}]),
        _body([{"event_type": "b", "user_id": "poison", "insert_id": "bad-0001"},
               {"event_type": "b", "user_id": "user-0001", "insert_id": "bad-0002",
                "user_properties": {"$set": {"plan": "poisoned"}}}]),
        _body([{"event_type": "c", "user_id": "user-0002", "insert_id": "ok-0002"}], KEY2),
    ]
    answers = _grouped(store, bodies)
    assert [a.status for a in answers] == [200, 500, 200]
    assert poisoned.calls == 4  # the group, then each request alone
    assert sorted(r[0] for r in _rows(store, "SELECT insert_id FROM events "
                                              "WHERE insert_id IS NOT NULL")) == [
        "ok-0001", "ok-0002"]
    # the failed request left nothing: no user, no property, no deduplication key ...
    assert all(u.user_id != "poison" for u in store.states[1].users.values())
    props = _rows(store, "SELECT user_properties FROM users WHERE user_id = 'user-0001'")
    assert orjson.loads(props[0][0]) == {"plan": "pro"}
    assert store.counters["store_failures"] == 1
    # the failed builds' Amplitude IDs are handed out again: only user-0002 is new and kept
    assert store.next_amplitude_id == first_id + 1
    # ... so, once the store works again, the same request is stored whole
    monkeypatch.undo()
    again = ingest_events(store, "batch", bodies[1])
    assert isinstance(again, Outcome) and again.status == 200 and again.duplicates == 0
    assert _rows(store, "SELECT count(*) FROM events WHERE insert_id LIKE 'bad-%'") == [(2,)]
    store.close()


def test_forget_takes_back_what_record_counted() -> None:
    throttle = Throttle(ThrottleConfig(batch_eps=2, window_seconds=1), 2)
    ids: list[tuple[str | None, str | None]] = [("u1", "d1"), ("u1", None), (None, "d2")]
    at = 1_700_000_000_000
    throttle.record([("u1", "d1")], at)
    before = throttle.busiest(at, 10)
    throttle.record(ids, at)
    assert throttle.busiest(at, 10) != before
    throttle.forget(ids, at)
    assert throttle.busiest(at, 10) == before
    throttle.forget([("u1", "d1")], at)
    assert throttle.busiest(at, 10) == []
    assert not throttle.check([("u1", "d1"), ("u1", "d1")], at).refused
