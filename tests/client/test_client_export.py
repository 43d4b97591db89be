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
