"""Rate limits are waited out, not failed on: a 429's ``Retry-After`` is honoured within
``RetryPolicy.max_rate_limit_wait``, every wait is announced to ``on_wait``, and only past the
bound does :class:`~ampkit.errors.RateLimited` name the limit.  Nothing sleeps for real: the
sleep is injected (or the policy is ``no_wait``) and the tests assert on the waits asked for.

Amplitude's 429s come from a tiny real HTTP server (``ampkit serve``'s own limits answer with a
``Retry-After`` the tests cannot wait out).
"""

from __future__ import annotations

import asyncio

import orjson
import pytest
from tests.client.conftest import API_KEY, SECRET_KEY
from tests.stub_http import Reply, scripted, stub

from ampkit import Amplitude, AsyncAmplitude, RateLimited, RetryPolicy
from ampkit.config import load_settings
from ampkit.core.spec import RequestSpec
from ampkit.core.transport import SyncTransport

LIMIT = "query cost per 5 minutes"
EVENTS = Reply(200, b'{"data": [{"value": "Signed Up", "totals": 3}]}',
               {"Content-Type": "application/json"})
SPEC = RequestSpec(method="GET", path="/api/2/events/list", family="analytics",
                   endpoint="/api/2/events/list", auth="basic", limit_class="dashboard")


def limited(seconds: int) -> Reply:
    """The local server's (and Amplitude's documented) Dashboard 429, with Retry-After."""
    body = {"error": {"http_code": 429, "type": "rate_limit",
                      "message": f"Exceeded rate limit: {LIMIT}",
                      "metadata": {"limit": LIMIT,
                                   "details": "this query costs 30; 990 of 1000 already used"}}}
    return Reply(429, orjson.dumps(body), {"Retry-After": str(seconds),
                                           "Content-Type": "application/json"})


def transport(url: str, policy: RetryPolicy, waits: list[float],
              told: list[tuple[str, float]]) -> SyncTransport:
    return SyncTransport(load_settings(api_key=API_KEY, secret_key=SECRET_KEY, base_url=url),
                         policy=policy, sleep=waits.append,
                         on_wait=lambda reason, seconds: told.append((reason, seconds)))


def test_retry_after_is_waited_out_beyond_the_backoff_budget() -> None:
    waits: list[float] = []
    told: list[tuple[str, float]] = []
    with stub(scripted(limited(100), limited(100), limited(100), then=EVENTS)) as amp:
        # max_total (1 s) bounds the ordinary backoff only; 300 s of Retry-After fit in 330 s
        t = transport(amp.url, RetryPolicy(max_total=1.0, jitter=False), waits, told)
        raw = t.send(SPEC)
        t.close()
    assert raw.status == 200 and len(amp.seen) == 4
    assert waits == [100.0, 100.0, 100.0]
    assert told == [(f"{LIMIT} (HTTP 429 at /api/2/events/list)", 100.0)] * 3


def test_past_the_bound_rate_limited_names_the_limit() -> None:
    waits: list[float] = []
    told: list[tuple[str, float]] = []
    with stub(lambda seen: limited(200)) as amp:
        t = transport(amp.url, RetryPolicy(jitter=False), waits, told)
        with pytest.raises(RateLimited) as caught:
            t.send(SPEC)
        t.close()
    assert waits == [200.0]  # a second 200 s would pass 330 s
    assert len(amp.seen) == 2 and len(told) == 1
    err = caught.value
    assert err.limit == LIMIT and err.retry_after == 200.0
    assert "max_rate_limit_wait=330 s" in str(err) and LIMIT in str(err)


def test_the_bound_is_configurable() -> None:
    waits: list[float] = []
    with stub(lambda seen: limited(287)) as amp:
        t = transport(amp.url, RetryPolicy(max_rate_limit_wait=60), waits, [])
        with pytest.raises(RateLimited, match=LIMIT):
            t.send(SPEC)
        t.close()
    assert waits == [] and len(amp.seen) == 1


def test_the_client_waits_and_tells_instead_of_raising() -> None:
    told: list[tuple[str, float]] = []
    with stub(scripted(limited(287), then=EVENTS)) as amp:
        client = Amplitude(API_KEY, SECRET_KEY, base_url=amp.url, retry=RetryPolicy.no_wait(),
                           on_wait=lambda reason, seconds: told.append((reason, seconds)))
        answer = client.request("GET", "/api/2/events/list")
        client.close()
    assert answer.status == 200 and len(amp.seen) == 2
    assert told == [(f"{LIMIT} (HTTP 429 at /api/2/events/list)", 0.0)]  # no_wait: not slept


def test_the_async_client_waits_too() -> None:
    told: list[tuple[str, float]] = []

    async def main(url: str) -> int:
        async with AsyncAmplitude(API_KEY, SECRET_KEY, base_url=url, retry=RetryPolicy.no_wait(),
                                  on_wait=lambda r, s: told.append((r, s))) as client:
            return (await client.request("GET", "/api/2/events/list")).status

    with stub(scripted(limited(287), then=EVENTS)) as amp:
        assert asyncio.run(main(amp.url)) == 200
    assert [r for r, _ in told] == [f"{LIMIT} (HTTP 429 at /api/2/events/list)"]


def test_attempts_spent_on_429s_say_so_not_the_wait_bound() -> None:
    waits: list[float] = []
    with stub(lambda seen: limited(5)) as amp:
        t = transport(amp.url, RetryPolicy(jitter=False, max_attempts=3), waits, [])
        with pytest.raises(RateLimited) as caught:
            t.send(SPEC)
        t.close()
    assert waits == [5.0, 5.0] and len(amp.seen) == 3  # 10 s waited: far from 330 s
    assert "3 attempts made (RetryPolicy.max_attempts=3)" in str(caught.value)
    assert "max_rate_limit_wait" not in str(caught.value)
