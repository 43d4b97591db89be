"""The official SDK's events and ampkit's events are indistinguishable in query results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from ampkit import Amplitude, RetryPolicy
from ampkit.server import ProjectConfig, RunningServer, ServerConfig, serve_in_thread

SDK_KEY, SDK_SECRET = "sdk-project-key-1", "sdk-project-secret-1"
AMP_KEY, AMP_SECRET = "amp-project-key-1", "amp-project-secret-1"
DAY0 = dt.datetime(2024, 3, 1, 9, tzinfo=dt.UTC)


def events() -> list[dict[str, Any]]:
    out = []
    for u in range(12):
        for d in range(u % 4 + 1):
            at = DAY0 + dt.timedelta(days=d, minutes=u)
            out.append({"event_type": "Open", "user_id": f"user-{u:04d}",
                        "device_id": f"device-{u:04d}", "time": int(at.timestamp() * 1000),
                        "platform": ["iOS", "Web"][u % 2], "country": "France",
                        "event_properties": {"screen": f"s{d}"}})
            if d == 1:
                out.append({**out[-1], "event_type": "Buy", "time": out[-1]["time"] + 60_000,
                            "event_properties": {"sku": "a"}})
    return out


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    srv = serve_in_thread(ServerConfig(port=0, throttle_enabled=False, projects=[
        ProjectConfig(project_id=1, api_key=SDK_KEY, secret_key=SDK_SECRET),
        ProjectConfig(project_id=2, api_key=AMP_KEY, secret_key=AMP_SECRET)]))
    yield srv
    srv.stop()


def test_query_results_match(server: RunningServer) -> None:
    amplitude = pytest.importorskip("amplitude")
    sdk = amplitude.Amplitude(SDK_KEY, amplitude.Config(
        server_url=f"{server.url}/2/httpapi", flush_queue_size=50, flush_interval_millis=100))
    for e in events():
        sdk.track(amplitude.BaseEvent(**e))
    sdk.flush()
    sdk.shutdown()
    with Amplitude(AMP_KEY, base_url=server.url) as amp:
        assert len(amp.send(events()).delivered) == len(events())
    clients = [Amplitude(k, s, base_url=server.url, retry=RetryPolicy.no_wait(3))
               for k, s in ((SDK_KEY, SDK_SECRET), (AMP_KEY, AMP_SECRET))]
    start, end = dt.date(2024, 3, 1), dt.date(2024, 3, 5)
    answers = []
    for c in clients:
        answers.append([
            c.active_users(start, end).rows(),
            c.segmentation("Open", start, end, metric="totals", group_by="platform").rows(),
            [g.cumulative_raw for g in c.funnel(["Open", "Buy"], start, end).groups],
            c.retention("Open", "_all", start, end).rows(),
            c.average_session_length(start, end).rows(),
        ])
        c.close()
    sdk_answer, amp_answer = answers
    assert sdk_answer == amp_answer
    assert sum(v for _, _, v in sdk_answer[0]) > 0  # not trivially empty
