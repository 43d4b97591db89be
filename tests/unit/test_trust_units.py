"""The pure parts of issue 13 ("Trust"): which answers count as success, the key scrubber on
every documented error body, the rate-limit wait budget, and the queue's byte accounting."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from ampkit.core.expect import unexpected
from ampkit.core.policy import RetryPolicy
from ampkit.core.spec import Expect, RawResponse
from ampkit.errors import AuthError, RateLimited, error_for, redact
from ampkit.ingest.queue import QUEUED_EVENT_OVERHEAD, MemoryQueue

KEY, SECRET = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SUCCESS = b'{"code":200,"events_ingested":2,"payload_size_bytes":90,"server_upload_time":1}'


@pytest.mark.parametrize(("expect", "status", "body", "ok"), [
    ("ingest_summary", 200, SUCCESS, True),
    ("ingest_summary", 200, b"<html>portal</html>", False),
    ("ingest_summary", 200, b"", False),
    ("ingest_summary", 200, b'{"code": 400}', False),
    ("ingest_summary", 200, b"[]", False),
    ("ingest_summary", 200, b'{"code": 200}', False),  # no success fields
    ("ingest_summary", 202, SUCCESS, False),
    ("ingest_summary", 204, b"", False),
    ("identify_success", 200, b"success", True),
    ("identify_success", 200, b"success\n", True),
    ("identify_success", 200, b"OK", False),
    ("identify_success", 204, b"", False),
    ("2xx", 202, b"", True),
    ("2xx", 204, b"", True),
])
def test_only_the_expected_answer_is_success(expect: Expect, status: int, body: bytes,
                                             ok: bool) -> None:
    problem = unexpected(expect, RawResponse(status, {}, body))
    assert (problem is None) is ok, problem


# Every error body the reference documents (section in the comment), the local server's own,
# and the fixture Amplitude sent in airbytehq/airbyte#46712.  (status, body)
DOCUMENTED: list[tuple[int, bytes]] = [
    *((400, orjson.dumps({"code": 400, "error": e})) for e in (  # §2.7 400 errors
        "Invalid request path", "Missing request body", "Invalid JSON request body",
        "Request missing required field", "Invalid event JSON", "Invalid API key",
        "Invalid field values on some events")),
    (400, orjson.dumps({"code": 400, "error": "Request missing required field",  # §2.7 shape A
                        "missing_field": "api_key",
                        "events_with_invalid_fields": {"time": [3, 4, 7]},
                        "events_with_missing_fields": {"event_type": [3, 4, 7]}})),
    (400, orjson.dumps({"code": 400, "error": "Events silenced for device_id",  # §2.7 shape B
                        "eps_threshold": 100, "exceeded_daily_quota_devices": {},
                        "silenced_devices": ["silenced_device_id_1", "silenced_device_id_2"],
                        "silenced_events": [5, 6],
                        "throttled_devices": {"throttled_device_id_1": 0,
                                              "throttled_device_id_2": 100},
                        "throttled_events": [3, 4]})),
    (403, b'{"code": 403, "error": "Forbidden"}'),  # §2.7
    (413, b'{"code": 413, "error": "Payload too large"}'),  # §2.7, §3.4
    (429, orjson.dumps({"code": 429, "error": "Too many requests for some devices and users",
                        "eps_threshold": 30,
                        "throttled_devices": {"C8F9E604-F01A-4BD9-95C6-8E5357DF265D": 31},
                        "throttled_users": {"datamonster@amplitude.com": 32},
                        "throttled_events": [3, 4, 7]})),  # §2.7
    (429, orjson.dumps({"code": 429, "error": "Too many requests for some devices and users",
                        "eps_threshold": 1000,
                        "exceeded_daily_quota_users": {"datanom@amplitude.com": 500200},
                        "throttled_events": [3, 4, 7]})),  # §3.4
    (500, b'{"code": 500, "error": "Internal server error"}'),  # §2.7 (EMU)
    (400, b'{"code":400,"error":"missing_event"}'),  # §4.3
    (400, (FIXTURES / "airbyte/responses/error_400__invalid_chart_definition.json").read_bytes()),
    (429, orjson.dumps({"error": {"http_code": 429, "type": "rate_limit",  # §10.4 (EMU)
                                  "message": "Exceeded rate limit: query cost per 5 minutes",
                                  "metadata": {"limit": "cost_concurrent"}}})),
    (400, orjson.dumps({"error": {"http_code": 400, "type": "invalid",  # §13.3
                                  "message": "Invalid user ids",
                                  "metadata": {"invalid_ids_sample": ["x1"]}}})),
    (200, b'{"error":"User id and device id not seen before"}'),  # §12.3
    (401, b"Invalid Api-Key"),  # §12.3
    (401, b"Missing Api-Key in Authorization header"),  # §12.3
    (429, b'{"error":"Number of requests per minute exceeds system limit. Contact Support if '
          b'you need this limit raised"}'),  # §12.3
    (409, b'{"success": false, "errors": [{"message": "Event type already exists"}]}'),  # §14
    (401, orjson.dumps({"error": {"http_code": 401, "type": "unauthorized",  # ampkit serve
                                  "message": "Invalid API key or secret key"}})),
]


@pytest.mark.parametrize(("status", "body"), DOCUMENTED)
def test_the_scrubber_leaves_every_documented_error_body_intact(status: int, body: bytes) -> None:
    text = body.decode()
    assert redact(text, (KEY, SECRET)) == text
    err = error_for(status, body, endpoint="/api/2/x", secrets=(KEY, SECRET))
    assert "***" not in str(err) and "***" not in json.dumps(err.body)


def test_the_server_answer_about_the_key_pair_keeps_its_words() -> None:
    body = orjson.dumps({"error": {"http_code": 401, "type": "unauthorized",
                                   "message": "Invalid API key or secret key"}})
    err = error_for(401, body, secrets=(KEY, SECRET))
    assert isinstance(err, AuthError)
    assert str(err).startswith("Invalid API key or secret key")


@pytest.mark.parametrize("known", [True, False])
def test_the_key_echo_loses_the_key_only(known: bool) -> None:
    body = orjson.dumps({"code": 400, "error": f"Invalid API key: {KEY}"})
    secrets = (KEY, SECRET) if known else ()
    scrubbed = redact(body.decode(), secrets)
    assert json.loads(scrubbed) == {"code": 400, "error": "Invalid API key: ***"}
    err = error_for(400, body, secrets=secrets)
    assert KEY not in str(err) + repr(err) + json.dumps(err.body)
    assert str(err).startswith("Invalid API key: ***")


def test_rate_limit_waits_have_their_own_bound() -> None:
    policy = RetryPolicy(max_total=1.0, max_rate_limit_wait=330)
    assert policy.rate_limit_delay(1, 0.0, 287) == 287  # past max_total, within its own bound
    assert policy.rate_limit_delay(2, 287, 40) == 40
    assert policy.rate_limit_delay(2, 287, 44) is None  # 331 s > 330 s
    assert policy.rate_limit_delay(policy.max_attempts, 0.0, 1) is None
    assert RetryPolicy.no_wait().rate_limit_delay(1, 0.0, 287) == 0.0  # counted, not slept
    assert RetryPolicy.no_wait().rate_limit_delay(2, 287, 287) is None


def test_the_byte_bound_counts_what_the_queue_holds() -> None:
    event = b'{"event_type":"x","user_id":"user-0001"}'
    cost = len(event) + QUEUED_EVENT_OVERHEAD
    q = MemoryQueue(1000, max_bytes=10 * cost)
    assert q.room_for([event] * 25) == 10
    q.put([event] * 10)
    assert q.held_bytes == 10 * cost and q.room_for([event]) == 0
    batch = q.take(4, 1_000_000, 0.0)  # in flight: still held
    assert q.held_bytes == 10 * cost
    q.defer(batch[:2], 5.0, 0.0)  # deferred: still held
    q.ack(batch[2:])
    assert q.held_bytes == 8 * cost and q.room_for([event] * 5) == 2
    assert "8 of 1000 events" in q.describe() and f"{8 * cost:,} of" in q.describe()
    big = MemoryQueue(1000, max_bytes=2048)
    assert big.room_for([b"x" * 5000]) == 1  # an empty queue takes one event however large
    big.put([b"x" * 5000])
    assert big.room_for([b"x"]) == 0


def test_rate_limited_error_names_the_limit_of_the_dashboard_envelope() -> None:
    body = orjson.dumps({"error": {"http_code": 429, "type": "rate_limit",
                                   "message": "Exceeded rate limit: query cost per 5 minutes",
                                   "metadata": {"limit": "query cost per 5 minutes"}}})
    err = error_for(429, body, endpoint="/api/2/users", headers={"Retry-After": "287"})
    assert isinstance(err, RateLimited)
    assert (err.limit, err.retry_after) == ("query cost per 5 minutes", 287.0)


def test_a_url_password_is_masked_in_errors_settings_and_clients() -> None:
    from ampkit import Amplitude, Settings
    from ampkit.errors import AmplitudeError, redact_urls

    url = "https://svc:s3cr3t-pw@proxy.example:8443/amp"
    assert redact_urls(f"could not reach {url}/2/httpapi") == (
        "could not reach https://svc:***@proxy.example:8443/amp/2/httpapi")
    assert redact_urls("user@example.com and http://host/x") == "user@example.com and http://host/x"
    error = AmplitudeError(f"failed at {url}", endpoint=f"{url}/2/httpapi")
    settings = Settings(api_key="key-0123456789", base_url=url)
    amp = Amplitude(settings=settings)
    try:
        for text in (str(error), repr(error), repr(settings), str(settings), repr(amp)):
            assert "s3cr3t-pw" not in text and "svc:***@proxy.example" in text, text
    finally:
        amp.close()
    assert settings.base_url == url  # only what is shown is masked


def test_a_5xx_with_an_html_page_leads_with_its_status() -> None:
    from ampkit.errors import ServerError, error_for

    err = error_for(502, b"<html><h1>Bad Gateway</h1></html>", endpoint="/2/httpapi")
    assert isinstance(err, ServerError) and str(err).startswith("HTTP 502: ")
    plain = error_for(503, b"", endpoint="/2/httpapi")
    assert str(plain).startswith("HTTP 503") and "HTTP 503: HTTP 503" not in str(plain)


def test_a_password_given_as_a_url_parameter_is_masked_too() -> None:
    from ampkit.errors import redact_urls
    from ampkit.replicate.destinations import describe_target, redact_url

    url = "postgresql://me@db.example:5432/test?schema=s1&password=T0P-secret&sslmode=require"
    for shown in (redact_url(url), describe_target(url), redact_urls(f"cannot connect to {url}")):
        assert "T0P-secret" not in shown and "password=***" in shown and "sslmode=require" in shown
    assert redact_url("postgres://me:x@[::1") == "postgres://me:***@[::1"  # does not parse
    # a password holding '@' is masked whole, up to the authority's last '@'
    assert redact_urls("cannot connect to postgresql://me:p@ss@host:5432/db") == (
        "cannot connect to postgresql://me:***@host:5432/db")



def test_url_password_masking_stays_in_the_password_and_in_linear_time() -> None:
    """The mask never runs from a host's port to an e-mail further on, never masks ordinary
    words that happen to be pieces of a remembered password, and takes linear time."""
    from ampkit.errors import redact_urls, remember_url_password

    line = 'GET http://127.0.0.1:18500/api/2/usersearch?user=alice@example.com "HTTP/1.1 200"'
    assert redact_urls(line) == line
    remember_url_password("postgresql://me:home@2024/x-Z9@db.example.com/warehouse")
    text = "queue file /home/me/q since 2024-03-01, homework"
    assert redact_urls(text) == text  # 'home', '2024' alone are no secret
    assert "2024/x-Z9" not in redact_urls("host '2024/x-Z9@db.example.com'")
    # a match ends where the authority does ('/'), so a long run of URLs is read once over
    long_text = orjson.dumps([f"http://h:{i}/p" for i in range(20000)]).decode()
    assert redact_urls(long_text) == long_text


@pytest.mark.parametrize(("header", "seconds"), [("12", 12.0), (" 3.5 ", 3.5), ("-4", 0.0),
                                                 ("inf", None), ("nan", None),
                                                 ("Wed, 21 Oct 2015 07:28:00 GMT", None)])
def test_one_retry_after_reading_for_the_transport_the_flow_and_the_errors(
    header: str, seconds: float | None,
) -> None:
    """One parser: a value that is no finite number of seconds counts as none given ('nan'
    read as 0 s sent the next request at once)."""
    from ampkit.errors import parse_retry_after

    assert parse_retry_after(header) == seconds
    err = error_for(429, b'{"error": "slow down"}', endpoint="/api/2/users",
                    headers={"retry-after": header})
    assert isinstance(err, RateLimited) and err.retry_after == seconds
