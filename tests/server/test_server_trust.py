"""Issue 13 on the server: what is acknowledged is kept, no project affects another, bad input
is a 4xx that leaves the connection usable, and memory is bounded by configuration."""

from __future__ import annotations

import socket
import stat
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.server.conftest import KEY, KEY2, SECRET, SECRET2, Api, config

from ampkit.server import FaultConfig, ServerConfig, Store, serve_in_thread
from ampkit.server.config import LimitsConfig
from ampkit.server.dedup import SeenFilter
from ampkit.server.schema import EVENT_COLUMNS, dedup_hash, dedup_key
from ampkit.server.services.ingestion import ingest_events


def ev(i: int = 0, **kw: Any) -> dict[str, Any]:
    return {"event_type": f"e{i}", "user_id": "user-00001", **kw}


# --- §1 the server never acknowledges what it does not keep ----------------------------------

@pytest.mark.parametrize(("field", "value"), [
    ("time", 2**63), ("session_id", 2**63), ("event_id", 2**63), ("time", -1),
    ("time", 253_402_300_800_000), ("session_id", -(2**63) - 1), ("quantity", 2**64 - 1),
])
def test_numbers_the_store_cannot_hold_are_a_400_naming_the_field(
    api: Api, field: str, value: int
) -> None:
    extra = {"price": 1.0} if field == "quantity" else {}
    good = ev(1, insert_id="good-0001")
    r = api.post_events([good, ev(2, insert_id="bad-0001", **{field: value}, **extra)])
    assert r.status_code == 400, r.text
    assert r.json()["events_with_invalid_fields"] == {field: [1]}
    assert api.stored() == []  # nothing of the request is kept ...
    again = api.post_events([good])  # ... so the good event, resent alone, is stored
    assert again.status_code == 200 and again.json()["events_ingested"] == 1
    assert [e["$insert_id"] for e in api.stored()] == ["good-0001"]


def test_price_times_quantity_must_be_finite(api: Api) -> None:
    r = api.post_events([ev(1, price=1e308, quantity=10, productId="sku")])
    assert r.status_code == 400
    assert r.json()["events_with_invalid_fields"] == {"price": [0]}


def test_add_past_the_json_integer_range_becomes_a_float(api: Api) -> None:
    big = 2**64 - 1
    for i in range(2):
        r = api.post_events([ev(i, user_properties={"$add": {"n": big}})])
        assert r.status_code == 200, r.text
    assert api.admin("GET", "/_ampkit/users/user-00001").json()["user_properties"]["n"] == (
        float(2 * big))


class _Broken:
    """Makes the store fail after the events INSERT of a request, inside its transaction — a
    fault (a full disk, say) the server cannot produce by itself."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.failures = 0
        original = store._write_users

        def failing(con: duckdb.DuckDBPyConnection, users: Any) -> None:
            if self.on:
                self.failures += 1
                raise duckdb.IOException("injected: disk full")
            original(con, users)

        self.on = True
        monkeypatch.setattr(store, "_write_users", failing)


def test_a_store_failure_keeps_nothing_and_the_retry_is_stored(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = api.running.store
    before = api.post_events([ev(0, insert_id="old-0001",
                                 user_properties={"$set": {"plan": "free"}})])
    assert before.status_code == 200
    user_before = api.admin("GET", "/_ampkit/users/user-00001").json()
    body = {"api_key": KEY, "events": [
        ev(1, insert_id="new-0001", user_properties={"$set": {"plan": "pro"}}),
        {"event_type": "e2", "user_id": "brand-new-user", "insert_id": "new-0002"},
    ]}
    broken = _Broken(store, monkeypatch)
    failed = api.http.post("/2/httpapi", json=body)
    assert failed.status_code == 500 and failed.json()["code"] == 500
    assert "nothing of this request was kept" in failed.json()["error"]
    assert broken.failures == 1
    # nothing moved: not the tables, not the users in memory, not the dedup index
    assert [e["$insert_id"] for e in api.stored()] == ["old-0001"]
    assert api.admin("GET", "/_ampkit/users/user-00001").json() == user_before
    assert api.admin("GET", "/_ampkit/users/brand-new-user").status_code == 404
    assert api.admin("GET", "/_ampkit/stats").json()["store_failures"] == 1
    # the same bytes retried once the store works again are stored, then deduplicated
    broken.on = False
    for _ in range(2):
        ok = api.http.post("/2/httpapi", json=body)
        assert ok.status_code == 200 and ok.json()["events_ingested"] == 2
    stored = api.stored()
    assert sorted(e["$insert_id"] for e in stored) == ["new-0001", "new-0002", "old-0001"]
    assert api.admin("GET", "/_ampkit/users/user-00001").json()["user_properties"] == {
        "plan": "pro"}
    assert api.admin("GET", "/_ampkit/users/brand-new-user").status_code == 200
    assert api.admin("GET", "/_ampkit/stats").json()["duplicates"] == 2


def test_a_store_failure_on_identify_changes_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.post_events([ev(0, user_properties={"$set": {"plan": "free"}})])
    before = api.admin("GET", "/_ampkit/users/user-00001").json()
    ident = orjson.dumps([{"user_id": "user-00001",
                           "user_properties": {"$set": {"plan": "pro"}}}]).decode()
    broken = _Broken(api.running.store, monkeypatch)
    r = api.http.post("/identify", data={"api_key": KEY, "identification": ident})
    assert r.status_code == 500 and broken.failures == 1
    assert api.admin("GET", "/_ampkit/users/user-00001").json() == before
    broken.on = False
    assert api.http.post("/identify", data={"api_key": KEY, "identification": ident}).text == (
        "success")
    assert api.admin("GET", "/_ampkit/users/user-00001").json()["user_properties"] == {
        "plan": "pro"}


def test_dedup_is_exact_across_a_restart_and_ends_with_the_window(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    event = ev(0, insert_id="kept-0001", device_id="device-00001")
    with serve_in_thread(config(db=db, throttle_enabled=False)) as srv:
        assert httpx.post(f"{srv.url}/2/httpapi", json={"api_key": KEY, "events": [event]}
                          ).status_code == 200
    with serve_in_thread(config(db=db, throttle_enabled=False)) as srv:
        a = Api(srv)
        a.post_events([event])  # a duplicate after the restart
        assert [e["$insert_id"] for e in a.stored()] == ["kept-0001"]
        assert a.admin("GET", "/_ampkit/stats").json()["duplicates"] == 1
        # the first copy was sent 8 days ago: past the 7-day window, the id is new again
        with srv.store.transaction() as con:
            con.execute("UPDATE events SET server_upload_time = server_upload_time - "
                        "INTERVAL 8 DAY")
        a.post_events([event])
        assert [e["$insert_id"] for e in a.stored()] == ["kept-0001", "kept-0001"]
        a.http.close()


@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=200))
@settings(max_examples=30, deadline=None)
def test_the_seen_filter_never_forgets_a_key(added: list[int]) -> None:
    seen = SeenFilter()
    seen.add(np.array(added, dtype=np.uint64))
    assert seen.may_contain(np.array(added, dtype=np.uint64)).all()
    assert seen.count == len(added)
    seen.clear()
    assert not seen.may_contain(np.array(added, dtype=np.uint64)).any()


def test_the_seen_filter_rarely_holds_a_key_it_never_saw() -> None:
    """Real keys hash uniformly: with 100,000 stored, 100,000 others are (almost) all new."""
    def hashes(prefix: str) -> np.ndarray:  # type: ignore[type-arg]
        return np.array([dedup_hash(dedup_key(None, f"device-{i % 97}", f"{prefix}-{i}"))
                         for i in range(100_000)], dtype=np.uint64)

    seen = SeenFilter()
    seen.add(hashes("stored"))
    # expected false positives: 100,000 × (1 - e^(-3 × 100,000 / 2**26))**3 ≈ 0.01
    assert seen.may_contain(hashes("other")).sum() <= 2


def test_a_key_the_filter_wrongly_holds_is_still_stored(api: Api) -> None:
    """The filter only says which keys to look up: one it holds without a stored event (a false
    positive, or an event of a project since reset) is looked up and found new."""
    store = api.running.store
    key = dedup_key("user-00001", "device-00001", "ghost-0001")
    with store.lock:
        store.seen.add(np.array([dedup_hash(key)], dtype=np.uint64))
    api.post_events([ev(0, insert_id="ghost-0001", device_id="device-00001")])
    api.post_events([ev(0, insert_id="ghost-0001", device_id="device-00001")])
    assert [e["$insert_id"] for e in api.stored()] == ["ghost-0001"]
    assert api.admin("GET", "/_ampkit/stats").json()["duplicates"] == 1


def test_rebuilding_the_filter_keeps_the_window_only(tmp_path: Path) -> None:
    with serve_in_thread(config(db=tmp_path / "s.duckdb", throttle_enabled=False)) as srv:
        a = Api(srv)
        a.post_events([ev(0, insert_id="old-0001", device_id="device-00001"),
                       ev(0, insert_id="new-0001", device_id="device-00001")])
        hashes = np.array([dedup_hash(dedup_key("user-00001", "device-00001", i))
                           for i in ("old-0001", "new-0001")], dtype=np.uint64)
        with srv.store.transaction() as con:
            con.execute("UPDATE events SET server_upload_time = server_upload_time - "
                        "INTERVAL 8 DAY WHERE insert_id = 'old-0001'")
        with srv.store.lock:
            assert srv.store.seen.may_contain(hashes).tolist() == [True, True]
            srv.store.rebuild_seen()
            assert srv.store.seen.may_contain(hashes).tolist() == [False, True]
            assert srv.store.seen.count == 1
        a.post_events([ev(0, insert_id="new-0001", device_id="device-00001")])
        assert a.admin("GET", "/_ampkit/stats").json()["duplicates"] == 1
        a.http.close()


def test_a_file_written_before_dedup_hashes_still_deduplicates(tmp_path: Path) -> None:
    """An older ampkit's events table has no dedup_hash column."""
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    columns = ", ".join(f"{name} {kind}" for name, kind, _ in EVENT_COLUMNS[:-1])
    con.execute(f"CREATE TABLE events ({columns})")
    con.execute("INSERT INTO events (seq, project_id, uuid, insert_id, amplitude_id, device_id, "
                "event_type, event_time, server_upload_time) VALUES (1, 1, 'u-1', 'old-0001', "
                "100000000001, 'device-00001', 'e0', now()::TIMESTAMP, now()::TIMESTAMP)")
    con.close()
    with serve_in_thread(config(db=db, throttle_enabled=False)) as srv:
        a = Api(srv)
        r = a.post_events([ev(0, insert_id="old-0001", device_id="device-00001")])
        assert r.status_code == 200
        assert a.admin("GET", "/_ampkit/stats").json()["duplicates"] == 1
        assert len(a.stored()) == 1
        a.http.close()


def test_dedup_memory_does_not_grow_with_the_events() -> None:
    store = Store(ServerConfig(throttle_enabled=False, projects=config().projects))

    def send(first: int, n: int) -> None:
        for start in range(first, first + n, 500):
            body = orjson.dumps({"api_key": KEY, "events": [
                ev(i % 7, insert_id=f"insert-{i:08d}", device_id=f"device-{i % 50:05d}")
                for i in range(start, start + 500)]})
            assert ingest_events(store, "batch", body).status == 200  # type: ignore[union-attr]

    send(0, 2000)  # warm up: users, caches
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        send(2000, 10_000)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        store.close()
    # an in-memory index of 10,000 insert_ids costs ~2 MB; the store's look-up costs nothing
    assert grown < 300_000, grown


# --- §2 no project can affect another, nothing can make the server unreachable -------------

def test_a_projects_faults_touch_only_that_project(api: Api) -> None:
    every = {"rates": {"503": 1.0}, "paths": ["/"]}
    assert api.http.post("/_ampkit/faults", json=every, auth=(KEY2, SECRET2)).status_code == 200
    # project 2 is refused, ingestion and queries alike ...
    assert api.post_events([ev(0)], key=KEY2).status_code == 503
    assert api.http.get("/api/2/events/list", auth=(KEY2, SECRET2)).status_code == 503
    # ... project 1, /health and the admin routes are not
    assert api.post_events([ev(0)]).status_code == 200
    assert api.admin("GET", "/api/2/events/list").status_code == 200
    assert api.http.get("/health").status_code == 200
    assert api.http.get("/_ampkit/stats", auth=(KEY2, SECRET2)).status_code == 200
    assert api.admin("GET", "/_ampkit/faults").json()["rates"] == {}
    # and the call that clears them works
    assert api.http.post("/_ampkit/faults", json={}, auth=(KEY2, SECRET2)).status_code == 200
    assert api.post_events([ev(0)], key=KEY2).status_code == 200
    assert api.http.get("/_ampkit/stats", auth=(KEY2, SECRET2)).json()["faults_injected"] == 2
    assert api.admin("GET", "/_ampkit/stats").json()["faults_injected"] == 0


def test_a_projects_after_storing_faults_store_then_fail(api: Api) -> None:
    api.http.post("/_ampkit/faults", json={"rates": {"500": 1.0}}, auth=(KEY2, SECRET2))
    assert api.post_events([ev(0, insert_id="x-000001")], key=KEY2).status_code == 500
    assert len(api.stored(KEY2, SECRET2)) == 1  # stored, then the answer failed
    assert api.post_events([ev(0)]).status_code == 200


def test_operator_faults_never_reach_health_or_admin() -> None:
    faults = FaultConfig(rates={"503": 1.0}, paths=["/"])
    with serve_in_thread(config(faults=faults)) as srv:
        a = Api(srv)
        assert a.post_events([ev(0)]).status_code == 503
        assert a.http.get("/health").status_code == 200
        assert a.admin("GET", "/_ampkit/stats").status_code == 200
        srv.set_faults(FaultConfig())
        assert a.post_events([ev(0)]).status_code == 200
        a.http.close()


def test_delays_are_bounded(api: Api) -> None:
    r = api.admin("POST", "/_ampkit/faults", json={"rates": {"delay": 1.0},
                                                   "delay_seconds": 10_000})
    assert r.status_code == 400 and "delay_seconds" in r.json()["error"]["metadata"]["details"]


def test_health_and_stats_reveal_no_other_project(api: Api) -> None:
    assert api.http.get("/health").json() == {"status": "ok"}
    api.post_events([ev(0)], key=KEY2)
    mine = api.admin("GET", "/_ampkit/stats").json()
    assert mine["requests"] == 0 and "server" not in mine and mine["project_id"] == 1


# --- §3 bad input is a 4xx that keeps the connection usable ---------------------------------

@pytest.mark.parametrize("query", ["limit=-1", "offset=" + "9" * 40, "limit=abc",
                                   "limit=100001", "offset=-5", "limit=²"])
def test_admin_events_paging_is_range_checked(api: Api, query: str) -> None:
    r = api.admin("GET", f"/_ampkit/events?{query}")
    assert r.status_code == 400
    assert query.split("=")[0] in r.json()["error"]["metadata"]["details"]


def _raw(sock: socket.socket, request: bytes) -> bytes:
    """Send one request on a kept-alive socket and read one whole answer."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_4xx_and_5xx_answers_keep_the_connection(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any) -> Any:
        raise RuntimeError("an unexpected bug")

    monkeypatch.setattr("ampkit.server.routes.ingest.identify", boom)
    host, port = "127.0.0.1", api.running.port
    good = orjson.dumps({"api_key": KEY, "events": [ev(0)]})
    requests = [
        b"GET /_ampkit/events?limit=-1 HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Basic " + __import__("base64").b64encode(f"{KEY}:{SECRET}".encode())
        + b"\r\n\r\n",
        b"POST /2/httpapi HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 3\r\n\r\n{x}",
        b"GET /identify?api_key=x HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /2/httpapi HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(good)).encode() + b"\r\n\r\n" + good,
    ]
    with socket.create_connection((host, port), timeout=10) as sock:
        answers = [_raw(sock, r) for r in requests]
    statuses = [int(a.split(b" ", 2)[1]) for a in answers]
    assert statuses == [400, 400, 500, 200]
    assert b"Traceback" not in answers[2] and b"unexpected bug" not in answers[2]
    assert orjson.loads(answers[2].partition(b"\r\n\r\n")[2]) == {
        "code": 500, "error": "Internal Server Error"}


# --- §4 memory is bounded by configuration, never by what a caller sends ---------------------

def test_a_body_over_the_cap_is_refused_before_it_is_read(api: Api) -> None:
    with socket.create_connection(("127.0.0.1", api.running.port), timeout=10) as sock:
        # 400 MB announced, nothing sent: the answer comes at once (waiting would time out)
        answer = _raw(sock, b"POST /batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                      b"\r\nContent-Length: 400000000\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"connection: close" in head.lower()
    assert orjson.loads(body) == {"code": 413, "error": "Payload too large"}


def test_a_streamed_body_over_the_cap_is_cut_off(api: Api) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"api_key": "' + KEY.encode() + b'", "events": [{"pad": "'
        for _ in range(400):  # 400 × 64 KB = 25 MB, no Content-Length (chunked)
            sent += 65536
            yield b"x" * 65536
        yield b'"}]}'

    try:
        r = api.http.post("/2/httpapi", content=chunks(),
                          headers={"content-type": "application/json"})
        assert r.status_code == 413
    except httpx.HTTPError:
        pass  # the server may close the connection while the client is still sending
    assert sent < 400 * 65536  # the server stopped reading long before the end
    assert api.stored() == []


def test_other_routes_have_a_cap_too() -> None:
    small = LimitsConfig(other_max_bytes=1000)
    with serve_in_thread(config(limits=small)) as srv:
        a = Api(srv)
        r = a.admin("POST", "/api/3/annotations", json={"label": "x" * 2000,
                                                        "start": "2024-01-01T00:00:00Z"})
        assert r.status_code == 413 and r.json()["error"]["http_code"] == 413
        a.http.close()


# --- §7 secrets and event data stay their owner's ---------------------------------------------

def test_the_db_file_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    with serve_in_thread(config(db=db)) as srv:
        a = Api(srv)
        a.post_events([ev(0)])
        wal = db.with_name(db.name + ".wal")
        for path in (db, wal):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        a.http.close()


def test_a_restart_resolves_every_id_as_before(tmp_path: Path) -> None:
    """A device seen with a second user_id maps to that user (in memory); the identities table
    must say the same, or a restarted server sends the device's next events to the first."""
    db = tmp_path / "ids.duckdb"
    sent = [{"event_type": "a", "user_id": "user-A0001", "device_id": "device-0001"},
            {"event_type": "b", "user_id": "user-B0001", "device_id": "device-0001"},
            {"event_type": "c", "device_id": "device-0001"}]
    with serve_in_thread(config(db=db, throttle_enabled=False)) as srv:
        a = Api(srv)
        for event in sent:
            assert a.post_events([event]).status_code == 200
        before = {e["event_type"]: e["amplitude_id"] for e in a.stored()}
        a.http.close()
    assert before["c"] == before["b"] != before["a"]
    with serve_in_thread(config(db=db, throttle_enabled=False)) as srv:
        a = Api(srv)
        assert a.post_events([{"event_type": "d", "device_id": "device-0001"}]).status_code == 200
        after = {e["event_type"]: e["amplitude_id"] for e in a.stored()}
        a.http.close()
    assert after["d"] == before["c"]


@pytest.mark.parametrize(("body", "where", "words"), [
    ({"rates": {"503": 1}, "paths": []}, "paths", "[] matches no request"),
    ({"rates": {"503": 1}, "paths": ["2/httpapi"]}, "paths", "must start with '/'"),
    ({"rates": {"503": 1}, "paths": ["/_ampkit/"]}, "paths", "is never faulted"),
    ({"rates": {"503": "1"}}, "rates.503", "valid number"),
])
def test_faults_that_could_never_fire_are_refused(api: Api, body: dict[str, Any], where: str,
                                                  words: str) -> None:
    """A fault that matches nothing would leave a resilience test passing for the wrong
    reason: it is a 400 naming the field, and the faults in place stay as they were."""
    r = api.admin("POST", "/_ampkit/faults", json=body)
    assert r.status_code == 400, r.text
    details = r.json()["error"]["metadata"]["details"]
    assert details.startswith(f"{where}: ") and words in details and "Value error" not in details
    assert api.admin("GET", "/_ampkit/faults").json()["rates"] == {}
