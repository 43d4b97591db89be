"""Dashboard REST limits: cost per 5 minutes, concurrency, user search/activity per hour —
429s in the Dashboard envelope naming the limit, read by the client as RateLimited."""

from __future__ import annotations

import json

import pytest
from tests.server.conftest import KEY, SECRET, Api, config

from ampkit import Amplitude, RateLimited, RetryPolicy
from ampkit.server import serve_in_thread
from ampkit.server.limits import DashboardLimits, DashboardLimitsConfig, LimitExceeded

SEG = {"e": json.dumps({"event_type": "x"}), "start": "20240301", "end": "20240331"}


def test_cost_budget_answers_429_naming_the_limit() -> None:
    limits = DashboardLimitsConfig(cost_per_5min=100)
    with serve_in_thread(config(dashboard_limits=limits)) as srv:
        api = Api(srv)
        api.post_events([{"event_type": "x", "user_id": "user-00001",
                          "time": 1_709_294_400_000}]).raise_for_status()
        first = api.admin("GET", "/api/2/events/segmentation", params=SEG)  # 31 days × 1 × 1
        assert first.status_code == 200
        for _ in range(2):
            assert api.admin("GET", "/api/2/events/segmentation", params=SEG).status_code == 200
        r = api.admin("GET", "/api/2/events/segmentation", params=SEG)  # 124 > 100
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        error = r.json()["error"]
        assert error["http_code"] == 429 and error["metadata"]["limit"] == \
            "query cost per 5 minutes"
        assert "93 of 100" in error["metadata"]["details"]
        client = Amplitude(KEY, SECRET, base_url=srv.url, retry=RetryPolicy(max_attempts=1))
        client.budgets = type(client.budgets)()  # a fresh client-side budget: let the server say no
        with pytest.raises(RateLimited) as info:
            client.segmentation("x", "2024-03-01", "2024-03-31")
        assert info.value.limit == "query cost per 5 minutes"
        client.close()


def test_admission_rules_unit() -> None:
    now = [1000.0]
    limits = DashboardLimits(DashboardLimitsConfig(concurrency=2, user_per_hour=3),
                             clock=lambda: now[0])
    pairs = [("start", "20240301"), ("end", "20240301")]
    assert limits.admit(1, "/api/2/users", pairs) and limits.admit(1, "/api/2/users", pairs)
    with pytest.raises(LimitExceeded, match="Dashboard requests at once"):
        limits.admit(1, "/api/2/users", pairs)
    assert limits.admit(2, "/api/2/users", pairs)  # per project
    limits.release(1, "/api/2/users")
    assert limits.admit(1, "/api/2/users", pairs)
    for _ in range(3):
        limits.admit(1, "/api/2/usersearch", [])
        limits.release(1, "/api/2/usersearch")
    with pytest.raises(LimitExceeded) as info:
        limits.admit(1, "/api/2/usersearch", [])
    assert info.value.limit == "user search/activity queries per hour"
    now[0] += 3601
    assert limits.admit(1, "/api/2/usersearch", [])
    assert not DashboardLimits(DashboardLimitsConfig(enabled=False)).admit(1, "/x", [])
