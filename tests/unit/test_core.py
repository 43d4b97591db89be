"""Retry policy, errors (with redaction), settings and auth — pure parts of the core."""

from __future__ import annotations

import base64
import random

import orjson
import pytest

from ampkit import AuthError, ConfigError, InvalidRequest, RateLimited, RetryPolicy, ServerError
from ampkit.config import load_settings
from ampkit.core.auth import inject_body_key, prepare
from ampkit.core.spec import RequestSpec
from ampkit.errors import PROFILE_LIMIT, NoData, PayloadTooLarge, error_for, redact

SECRET = "s3cr3t-value-xyz"
KEY = "api-key-123456"


def test_backoff_grows_exponentially_and_is_capped() -> None:
    p = RetryPolicy(base_delay=1, max_delay=10, jitter=False, max_total=1000)
    assert [p.backoff(n) for n in range(1, 6)] == [1, 2, 4, 8, 10]


def test_jitter_stays_within_the_ceiling() -> None:
    p = RetryPolicy(base_delay=1, max_delay=10, rng=random.Random(1))
    delays = [p.backoff(4) for _ in range(200)]
    assert all(0 <= d <= 8 for d in delays)
    assert len(set(delays)) > 100


def test_attempts_and_total_time_are_bounded() -> None:
    p = RetryPolicy(max_attempts=3, base_delay=1, jitter=False, max_total=5)
    assert p.next_delay(1, 0) == 1
    assert p.next_delay(3, 0) is None  # out of attempts
    assert p.next_delay(2, 4.5) is None  # would pass max_total


def test_retry_after_is_honoured() -> None:
    p = RetryPolicy(base_delay=0.1, jitter=False, max_total=100)
    assert p.next_delay(1, 0, retry_after=7) == 7


def test_no_wait_policy_keeps_the_attempt_bound() -> None:
    p = RetryPolicy.no_wait(max_attempts=2)
    assert p.next_delay(1, 0) == 0
    assert p.next_delay(2, 0) is None


def test_only_429_and_5xx_are_retryable_statuses() -> None:
    p = RetryPolicy()
    assert [s for s in (200, 400, 401, 403, 404, 413, 429, 500, 502, 503, 504)
            if p.is_retryable_status(s)] == [429, 500, 502, 503, 504]


def test_error_for_maps_statuses_to_classes() -> None:
    assert isinstance(error_for(403, b'{"code":403,"error":"Forbidden"}'), AuthError)
    assert isinstance(error_for(404, b""), NoData)
    assert isinstance(error_for(413, b'{"code":413,"error":"Payload too large"}'),
                      PayloadTooLarge)
    assert isinstance(error_for(503, b"oops"), ServerError)
    err = error_for(400, orjson.dumps({"code": 400, "error": "Request missing required field",
                                       "missing_field": "events"}), endpoint="/2/httpapi")
    assert isinstance(err, InvalidRequest)
    assert err.field == "events" and err.rule == "missing"
    assert "events" in str(err) and "/2/httpapi" in str(err)


def test_rate_limited_names_the_limit_and_retry_after() -> None:
    body = {"code": 429, "error": "Too many requests for some devices and users",
            "eps_threshold": 30, "throttled_users": {"u": 31}}
    err = error_for(429, orjson.dumps(body), headers={"Retry-After": "12"})
    assert isinstance(err, RateLimited)
    assert err.retry_after == 12 and "30 EPS" in err.limit
    quota = error_for(429, orjson.dumps({**body, "exceeded_daily_quota_users": {"u": 500001}}))
    assert isinstance(quota, RateLimited) and "daily quota" in quota.limit


def test_dashboard_error_envelope_from_fixture(data_dir: str) -> None:
    with open(f"{data_dir}/fixtures/airbyte/responses/error_400__invalid_chart_definition.json",
              "rb") as fh:
        err = error_for(400, fh.read(), endpoint="/api/2/users")
    assert isinstance(err, InvalidRequest)
    assert err.message and "HTTP 400" not in err.message


def test_secrets_never_appear_in_errors() -> None:
    body = orjson.dumps({"code": 400, "error": f"Invalid API key: {KEY}"})
    err = error_for(400, body, secrets=[KEY, SECRET])
    assert isinstance(err, AuthError)
    for text in (str(err), repr(err), err.message, orjson.dumps(err.body).decode()):
        assert KEY not in text
    # even a key the client does not know is scrubbed from Amplitude's echo
    assert "unknown-key" not in str(error_for(400, b'{"error":"Invalid API key: unknown-key"}'))
    assert redact(f"x {SECRET} y", [SECRET]) == "x *** y"


def test_settings_from_env_and_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMPLITUDE_API_KEY", KEY)
    monkeypatch.setenv("AMPLITUDE_SECRET_KEY", SECRET)
    monkeypatch.setenv("AMPLITUDE_REGION", "EU")
    s = load_settings()
    assert s.region == "eu"
    assert s.base_for("ingest") == "https://api.eu.amplitude.com"
    assert s.base_for("analytics") == "https://analytics.eu.amplitude.com"
    with pytest.raises(ConfigError, match="not available"):
        s.base_for("profile")
    assert KEY not in repr(s) and SECRET not in repr(s) and SECRET not in str(s.model_dump())
    s2 = load_settings(region="us", base_url="http://127.0.0.1:9/")
    assert s2.base_for("ingest") == "http://127.0.0.1:9"
    assert s2.base_for("profile") == "http://127.0.0.1:9"
    assert load_settings(region="us").base_for("ingest") == "https://api2.amplitude.com"


def test_bad_settings_raise_config_error_without_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AMPLITUDE_API_KEY", raising=False)
    with pytest.raises(ConfigError) as err:
        load_settings(region="mars", api_key=SECRET)
    assert "region" in str(err.value) and SECRET not in str(err.value)
    with pytest.raises(ConfigError, match="AMPLITUDE_API_KEY"):
        load_settings().require_api_key()


def test_auth_is_added_at_send_time_only() -> None:
    s = load_settings(api_key=KEY, secret_key=SECRET)
    spec = RequestSpec("GET", "/api/2/export", "analytics", "/api/2/export", auth="basic")
    assert KEY not in repr(spec)
    headers, _ = prepare(spec, s)
    token = headers["Authorization"].split()[1]
    assert base64.b64decode(token).decode() == f"{KEY}:{SECRET}"
    prof = RequestSpec("GET", "/v1/userprofile", "profile", "profile", auth="api_key_header")
    assert prepare(prof, s)[0]["Authorization"] == f"Api-Key {SECRET}"
    form = RequestSpec("POST", "/identify", "ingest", "/identify", auth="form_key",
                       form=(("identification", "[]"),))
    _, content = prepare(form, s)
    assert content == f"api_key={KEY}&identification=%5B%5D".encode()


def test_inject_body_key_keeps_the_body() -> None:
    assert orjson.loads(inject_body_key(b'{"events":[1]}', "k")) == {"api_key": "k",
                                                                     "events": [1]}
    assert orjson.loads(inject_body_key(b"{}", "k")) == {"api_key": "k"}


def test_profile_rate_limit_body_is_a_rate_limit_only_on_the_profile_api() -> None:
    body = b'{"error":"Number of requests per minute exceeds system limit. Contact Support"}'
    for status in (400, 403, 429, 500):
        err = error_for(status, body, endpoint="/v1/userprofile", headers={"Retry-After": "7"})
        assert isinstance(err, RateLimited) and err.status == status
        assert err.limit == PROFILE_LIMIT and err.retry_after == 7.0
    # elsewhere the same text means nothing special
    assert type(error_for(400, body, endpoint="/2/httpapi")) is InvalidRequest
    assert type(error_for(403, body, endpoint="/2/httpapi")) is AuthError
    # a 429 saying the key is invalid is still an auth problem
    assert type(error_for(429, b'{"error":"Invalid API key: x"}', endpoint="/2/httpapi")) \
        is AuthError
