"""Export through the facades: what was sent comes back, sync and async, with progress."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from tests.client.conftest import API_KEY, SECRET_KEY, Server

from ampkit import Amplitude, AsyncAmplitude, ConfigError
from ampkit.export import ExportProgress


def _hours() -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    return now - dt.timedelta(hours=2), now


def test_export_events_round_trip(server: Server, client_factory: Any) -> None:
    amp = client_factory()
    amp.send([{"event_type": f"e{i}", "user_id": "user-0001", "insert_id": f"rt-{i}"}
              for i in range(5)])
    reader = Amplitude(API_KEY, SECRET_KEY, base_url=server.url)
    seen: list[ExportProgress] = []
    start, end = _hours()
    events = list(reader.export_events(start, end, on_progress=seen.append))
    assert [e.insert_id for e in events] == [f"rt-{i}" for i in range(5)]
    assert seen and seen[-1].hours_done == seen[-1].hours_total == 3
    paths = [p for _, p in reader.export_archives(start, end, keep=True)]
    assert len(paths) == 1 and paths[0].exists()
    paths[0].unlink()
    reader.close()


def test_async_export_and_missing_secret(server: Server, client_factory: Any) -> None:
    client_factory().send({"event_type": "a", "user_id": "user-0001"})
    start, end = _hours()

    async def main() -> list[str]:
        async with AsyncAmplitude(API_KEY, SECRET_KEY, base_url=server.url) as amp:
            return [e.event_type or "" async for e in await amp.export_events(start, end)]

    assert asyncio.run(main()) == ["a"]
    no_secret = Amplitude(API_KEY, base_url=server.url)
    with pytest.raises(ConfigError, match="secret"):
        no_secret.export_events(start, end)
    no_secret.close()


def test_server_archives_load_into_duckdb_like_the_arrow_reader(
    server: Server, client_factory: Any, tmp_path: Any
) -> None:
    import duckdb
    import orjson

    from ampkit.export import iter_arrow_batches, load_duckdb

    amp = client_factory()
    amp.send([{"event_type": "Bought", "user_id": "user-0001", "insert_id": f"db-{i}",
               "price": 9.99, "revenue": 9.99, "event_properties": {"n": i, "tags": ["a"]},
               "user_properties": {"$set": {"plan": "pro"}}, "groups": {"org": "o-1"},
               "platform": "iOS", "location_lat": 1.5, "session_id": 1_700_000_000_000}
              for i in range(20)])
    reader = Amplitude(API_KEY, SECRET_KEY, base_url=server.url)
    start, end = _hours()
    (path,) = [p for _, p in reader.export_archives(start, end, keep=True)]
    reader.close()
    con = duckdb.connect(str(tmp_path / "e.duckdb"))
    report = load_duckdb(path, con)
    assert report.rows == 20 and report.native
    assert report.exact_rows == 0  # the server writes lines as Amplitude does: all plain SQL
    got = con.execute("SELECT insert_id, event_properties, location_lat, session_id, "
                      "epoch_us(server_upload_time), _raw_extra FROM events "
                      "ORDER BY insert_id").fetchall()
    con.close()
    batches = list(iter_arrow_batches(path))
    want = sorted(
        (r["insert_id"], r["event_properties"], r["location_lat"], r["session_id"],
         int(r["server_upload_time"].timestamp() * 1_000_000), r["_raw_extra"])
        for b in batches for r in b.to_pylist())
    assert [(*g[:1], orjson.loads(g[1]), *g[2:]) for g in got] == [
        (*w[:1], orjson.loads(w[1]), *w[2:]) for w in want]
    third = next(orjson.loads(g[1]) for g in got if g[0] == "db-3")
    assert (third["n"], third["tags"], third["$revenue"]) == (3, ["a"], 9.99)
    path.unlink()
