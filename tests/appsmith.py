"""Appsmith's Amplitude examples (seed 000, kept verbatim in
``fixtures/seeds/appsmith_examples.json``) and the project data they are run against.

The examples name January 2025 (queries), 2022-02-01 05:00–23:00 (export), the users
``user123`` and ``0786zXEdyOX1rS3M-P_m1d`` and the chart ``abc123def456``; :func:`seed_project`
puts such data into a running ``ampkit serve`` over its public HTTP API, so each example has
something to find.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx

from ampkit.server import RunningServer

EXAMPLES_FILE = Path(__file__).resolve().parent / "fixtures" / "seeds" / "appsmith_examples.json"
EXAMPLES: dict[str, dict[str, Any]] = {
    e["id"]: e for e in json.loads(EXAMPLES_FILE.read_text())["examples"]}
APPSMITH_API_KEY = EXAMPLES["send_events"]["inputs"]["api_key"]
"""The API key of Appsmith's Send Events example (the test project's key in the CLI tests)."""
CHART_ID = EXAMPLES["chart_query"]["inputs"]["chart_id"]
DEVICE_ID = EXAMPLES["user_search_device_id"]["inputs"]["user"]


def inputs(example_id: str) -> dict[str, str]:
    """An example's inputs, exactly as the seed writes them."""
    return dict(EXAMPLES[example_id]["inputs"])


def pairs(example_id: str) -> list[str]:
    """An example's inputs as ``ampkit query`` key=value pairs (values unchanged)."""
    return [f"{key}={value}" for key, value in inputs(example_id).items()]


def ms(day: int, hour: int = 12) -> int:
    return int(dt.datetime(2025, 1, day, hour, tzinfo=dt.UTC).timestamp() * 1000)


EVENTS: list[dict[str, Any]] = [
    {"event_type": "Table Click", "user_id": "user123", "device_id": DEVICE_ID,
     "platform": "iOS", "time": ms(15), "user_properties": {"subscription_tier": "pro"},
     "insert_id": "appsmith-0001"},
    {"event_type": "Table Click", "user_id": "user456", "platform": "Web", "time": ms(16),
     "user_properties": {"subscription_tier": "free"}, "insert_id": "appsmith-0002"},
    {"event_type": "Table Click", "user_id": "user456", "platform": "Web", "time": ms(20),
     "insert_id": "appsmith-0003"},
    {"event_type": "Purchase", "user_id": "user123", "device_id": DEVICE_ID, "platform": "iOS",
     "time": ms(20), "event_properties": {"amount": 150}, "insert_id": "appsmith-0004"},
    {"event_type": "Purchase", "user_id": "user456", "platform": "Web", "time": ms(20),
     "event_properties": {"amount": 50}, "insert_id": "appsmith-0005"},
]
"""January 2025: two users click (iOS ``pro``, Web ``free``), both buy, one above 100."""


def seed_project(server: RunningServer, project_id: int, api_key: str, secret_key: str
                 ) -> None:
    """:data:`EVENTS` sent through ``/2/httpapi`` and the chart ``abc123def456`` (Table Click
    uniques over January 2025) saved, as a user would."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        r = http.post("/2/httpapi", json={"api_key": api_key, "events": EVENTS})
        assert r.status_code == 200, r.text
        r = http.post("/_ampkit/charts", auth=(api_key, secret_key), json={
            "chart_id": CHART_ID, "endpoint": "events/segmentation",
            "params": {"e": {"event_type": "Table Click"}, "start": "20250101",
                       "end": "20250131"}})
        assert r.status_code == 200, r.text
        r = http.post("/api/3/cohorts/upload", auth=(api_key, secret_key), json={
            "name": "Buyers", "app_id": project_id, "id_type": "BY_USER_ID", "ids": ["user123"],
            "owner": "appsmith@example.com", "published": True})
        assert r.status_code == 200, r.text


SERIES: dict[str, dict[tuple[str, str | None], int]] = {
    "active_users": {("2025-01-15", None): 1, ("2025-01-16", None): 1, ("2025-01-20", None): 2},
    "active_users_new": {("2025-01-15", None): 1, ("2025-01-16", None): 1,
                         ("2025-01-20", None): 0},
    "active_users_weekly": {("2025-01-12", None): 2, ("2025-01-19", None): 2},
    "active_users_monthly": {("2025-01-01", None): 2},
    "segmentation": {("2025-01-15", "iOS"): 1, ("2025-01-16", "Web"): 1,
                     ("2025-01-20", "Web"): 1},
    "segmentation_filters": {("2025-01-20", None): 1},  # 2 purchases; one above 100
    "segmentation_custom_property": {("2025-01-15", "pro"): 1, ("2025-01-16", "free"): 1},
    "segmentation_totals": {("2025-01-15", None): 1, ("2025-01-20", None): 1},
}
"""What each query example answers over :data:`EVENTS`: value at (x, label)."""
QUERY_ACTION = {key: "active_users" if key.startswith("active") else "event_segmentation"
                for key in SERIES}
USER_SEARCH = {"user_search_amplitude_id": [], "user_search_device_id": ["user123"],
               "user_search_user_id": ["user123"], "user_search_prefix": ["user123", "user456"]}
"""The user ids each user-search example finds (no user has Amplitude ID 356893043036)."""


def check_series(example_id: str, points: list[dict[str, Any]]) -> None:
    for (x, label), value in SERIES[example_id].items():
        assert point(points, x, label) == value, (example_id, x, label)


def uploaded_on_2022_02_01(server: RunningServer) -> None:
    """Every stored event as if Amplitude received it at 2022-02-01 10:00 UTC (the export
    example's window selects by upload time)."""
    with server.store.transaction() as con:
        con.execute("UPDATE events SET server_upload_time = TIMESTAMP '2022-02-01 10:00:00'")


def point(points: list[dict[str, Any]], x: str, label: str | None = None) -> Any:
    """The value of a series output at ``x`` (and ``label``)."""
    found = [p["value"] for p in points if p["x"] == x and label in (None, p["label"])]
    assert len(found) == 1, (x, label, points)
    return found[0]


def user_ids(found: Any) -> list[str]:
    """Every distinct ``user_id`` in an answer, sorted (whatever the output's nesting)."""
    out: set[str] = set()
    if isinstance(found, dict):
        if isinstance(found.get("user_id"), str):
            out.add(found["user_id"])
        for value in found.values():
            out.update(user_ids(value))
    elif isinstance(found, list):
        for value in found:
            out.update(user_ids(value))
    return sorted(out)
