"""Dashboard REST limits: cost per 5 minutes, concurrency, user search/activity per hour —
429s in the Dashboard envelope naming the limit, read by the client as RateLimited."""

from __future__ import annotations

import json

import pytest
from tests.server.conftest import KEY, KEY2, SECRET, SECRET2, Api, config

from ampkit import Amplitude, RateLimited, RetryPolicy
from ampkit.server import serve_in_thread
from ampkit.server.limits import (
    PROFILE_LIMIT_ERROR,
    DashboardLimits,
    DashboardLimitsConfig,
    LimitExceeded,
    ProfileLimits,
    ProfileLimitsConfig,
)

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


def test_profile_api_limit_is_per_organisation_and_per_minute() -> None:
    limits = ProfileLimitsConfig(per_minute=3)
    with serve_in_thread(config(profile_limits=limits)) as srv:
        api = Api(srv)
        api.post_events([{"event_type": "x", "user_id": "user-00001",
                          "time": 1_709_294_400_000}]).raise_for_status()
        url, params = "/v1/userprofile", {"user_id": "user-00001"}
        auth = {"Authorization": f"Api-Key {SECRET}"}
        assert [api.http.get(url, params=params, headers=auth).status_code
                for _ in range(2)] == [200, 200]
        # a bad key is no organisation's request: it does not count
        assert api.http.get(url, params=params, headers={"Authorization": "Api-Key nope"}
                            ).status_code == 401
        other = api.http.get(url, params=params, headers={"Authorization": f"Api-Key {SECRET2}"})
        assert other.status_code == 400  # project 2, same organisation: the third request
        r = api.http.get(url, params=params, headers=auth)
        assert r.status_code == 429 and r.json() == {"error": PROFILE_LIMIT_ERROR}
        assert 0 < int(r.headers["retry-after"]) <= 61
        client = Amplitude(KEY, SECRET, base_url=srv.url, retry=RetryPolicy(max_attempts=1))
        with pytest.raises(RateLimited) as info:
            client.user_profile("user-00001")
        assert "600 requests per minute" in str(info.value.limit)
        client.close()
        # resetting project 2 forgets its one request only: one more fits, then full again
        api.http.post("/_ampkit/reset", auth=(KEY2, SECRET2)).raise_for_status()
        assert api.http.get(url, params=params, headers=auth).status_code == 200
        assert api.http.get(url, params=params, headers=auth).status_code == 429


def test_profile_limit_status_is_configurable_and_can_be_off() -> None:
    with serve_in_thread(config(profile_limits=ProfileLimitsConfig(per_minute=1, status=403))
                         ) as srv:
        api = Api(srv)
        auth = {"Authorization": f"Api-Key {SECRET}"}
        assert api.http.get("/v1/userprofile", params={"user_id": "someone-1"},
                            headers=auth).status_code == 400
        r = api.http.get("/v1/userprofile", params={"user_id": "someone-1"}, headers=auth)
        assert r.status_code == 403 and r.json() == {"error": PROFILE_LIMIT_ERROR}
        client = Amplitude(KEY, SECRET, base_url=srv.url, retry=RetryPolicy(max_attempts=1))
        with pytest.raises(RateLimited):  # recognised by its body whatever the status
            client.user_profile("someone-1")
        client.close()
    off = ProfileLimits(ProfileLimitsConfig(enabled=False, per_minute=1))
    for _ in range(5):
        off.admit()


def test_profile_window_slides_unit() -> None:
    now = [500.0]
    limits = ProfileLimits(ProfileLimitsConfig(per_minute=2), clock=lambda: now[0])
    limits.admit()
    now[0] += 30
    limits.admit()
    with pytest.raises(LimitExceeded) as info:
        limits.admit()
    assert info.value.limit == "User Profile API requests per minute"
    assert info.value.retry_after == 31  # the first call leaves the window 30 s from now
    now[0] += 30.5
    limits.admit()  # the first call has left the window
    with pytest.raises(LimitExceeded):
        limits.admit()
    limits.reset(7)  # another project's requests stay in the window
    with pytest.raises(LimitExceeded):
        limits.admit(7)
    limits.reset()
    limits.admit(7)
    limits.admit(8)
    limits.reset(7)  # only project 7's entry leaves
    limits.admit(8)
    with pytest.raises(LimitExceeded):
        limits.admit(9)
