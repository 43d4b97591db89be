"""``ampkit serve --db`` killed with SIGKILL while four clients send to it at once (so requests
are being stored together, group commit): every event it acknowledged is in the file after a
restart, none twice, and the clients' resends of everything — acknowledged or not — leave each
event stored exactly once."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
import orjson
from tests.server.test_server_cli import serve_env

from ampkit.core.transport import tls

ENV = {"AMPKIT_SERVE_API_KEY": "crash-api-key-1", "AMPKIT_SERVE_SECRET_KEY": "crash-secret-1"}
AUTH = ("crash-api-key-1", "crash-secret-1")
CLIENTS, BATCH, BATCHES = 4, 50, 25  # per client: up to 1,250 events


def _batch(client: int, n: int) -> list[dict[str, object]]:
    return [{"event_type": "crash", "user_id": f"user-{(client * 7 + i) % 40:04d}",
             "insert_id": f"c{client}-b{n}-e{i}",
             "event_properties": {"n": n, "i": i},
             "user_properties": {"$add": {"sent": 1}}} for i in range(BATCH)]


def _stored(url: str) -> list[str]:
    r = httpx.get(f"{url}/_ampkit/events", params={"limit": 100_000}, auth=AUTH, timeout=60)
    r.raise_for_status()
    return [e["$insert_id"] for e in r.json()]


def test_sigkill_during_concurrent_ingestion_keeps_every_acknowledged_event(
    tmp_path: Path,
) -> None:
    db = tmp_path / "crash.duckdb"
    acked: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()

    def send(client: int, url: str) -> None:
        with httpx.Client(base_url=url, timeout=30, verify=tls()) as http:
            for n in range(BATCHES):
                events = _batch(client, n)
                try:
                    r = http.post("/batch", content=orjson.dumps(
                        {"api_key": ENV["AMPKIT_SERVE_API_KEY"], "events": events}),
                        headers={"Content-Type": "application/json"})
                except httpx.TransportError:
                    return  # the server is gone
                if r.status_code == 200:
                    with lock:
                        acked.extend(str(e["insert_id"]) for e in events)
                        if len(acked) >= 1_200:
                            enough.set()

    with serve_env(ENV, "--db", str(db), "--no-throttle") as (proc, url):
        threads = [threading.Thread(target=send, args=(c, url)) for c in range(CLIENTS)]
        for thread in threads:
            thread.start()
        assert enough.wait(120), f"only {len(acked)} events acknowledged"
        proc.send_signal(signal.SIGKILL)  # in the middle of the clients' stream
        proc.wait(30)
        for thread in threads:
            thread.join(60)
    total = CLIENTS * BATCHES * BATCH
    assert 1_200 <= len(acked) < total  # killed before the clients were done

    with serve_env(ENV, "--db", str(db), "--no-throttle") as (_, url):
        stored = _stored(url)
        assert len(stored) == len(set(stored))  # nothing stored twice
        assert set(acked) <= set(stored)  # nothing acknowledged is lost
        # every client sends everything again, as a retrying SDK would
        with httpx.Client(base_url=url, timeout=60, verify=tls()) as http:
            for client in range(CLIENTS):
                for n in range(BATCHES):
                    r = http.post("/batch", json={"api_key": ENV["AMPKIT_SERVE_API_KEY"],
                                                  "events": _batch(client, n)})
                    assert r.status_code == 200, r.text
        again = _stored(url)
        assert len(again) == total == len(set(again))
        # the users' state matches the events kept: one $add per stored event of the user
        users = {f"user-{u:04d}" for u in range(40)}
        per_user = {u: 0 for u in users}
        for client in range(CLIENTS):
            for i in range(BATCH):
                per_user[f"user-{(client * 7 + i) % 40:04d}"] += BATCHES
        for user in sorted(users)[:5]:
            got = httpx.get(f"{url}/_ampkit/users/{user}", auth=AUTH, timeout=30).json()
            assert got["user_properties"]["sent"] == per_user[user], user
