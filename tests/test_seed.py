"""``ampkit seed``: deterministic data with a funnel, sent through the ingestion API."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections import Counter

from ampkit.seed import SeedSpec, generate, user_events
from ampkit.server import ProjectConfig, ServerConfig, serve_in_thread

SPEC = SeedSpec(users=200, days=20, end=dt.date(2024, 3, 31), seed=3)


def test_same_spec_same_events_and_a_funnel_with_drop_off() -> None:
    first, again = list(generate(SPEC)), list(generate(SPEC))
    assert first == again
    assert list(generate(SPEC.model_copy(update={"seed": 4}))) != first
    users = Counter(e["event_type"] for e in first if e["event_type"] in
                    ("Sign Up", "Activate", "Purchase"))
    signed = {e["user_id"] for e in first if e["event_type"] == "Sign Up"}
    activated = {e["user_id"] for e in first if e["event_type"] == "Activate"}
    bought = {e["user_id"] for e in first if e["event_type"] == "Purchase"}
    assert users["Sign Up"] == 200 and len(signed) == 200
    assert bought < activated < signed  # strictly narrowing funnel
    start = dt.datetime(2024, 3, 12, tzinfo=dt.UTC).timestamp() * 1000
    end = dt.datetime(2024, 4, 1, tzinfo=dt.UTC).timestamp() * 1000
    assert all(start <= e["time"] < end for e in first)
    assert len({e["insert_id"] for e in first}) == len(first)
    assert {e["platform"] for e in first} == {"iOS", "Android", "Web"}
    assert all(e["price"] > 0 for e in first if e["event_type"] == "Purchase")


def test_events_of_a_user_are_in_time_order() -> None:
    for index in range(20):
        times = [e["time"] for e in user_events(SPEC, index)]
        assert times == sorted(times)


def test_cli_seed_stores_exactly_the_generated_events_once() -> None:
    expected = Counter(e["event_type"] for e in generate(SPEC))
    config = ServerConfig(port=0, throttle_enabled=False, projects=[ProjectConfig()])
    with serve_in_thread(config) as server:
        for _ in range(2):  # seeding twice stores each event once
            done = subprocess.run(
                [sys.executable, "-m", "ampkit", "seed", "--users", "200", "--days", "20",
                 "--end", "2024-03-31", "--seed", "3", "--api-key", "ampkit-demo-api-key",
                 "--base-url", server.url], capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr
            assert f"{sum(expected.values())} events delivered" in done.stdout
        stored = server.store.events_page(config.projects[0].project_id, 10**6, 0)
    assert Counter(e["event_type"] for e in stored) == expected
    assert sum(1 for e in stored if e["paying"]) > 0
