"""Actions never raise: every failure is ``success=False`` with a message saying what to do."""

from __future__ import annotations

import datetime as dt
import socket
from typing import Any

import pytest

from ampkit.actions import REGISTRY, ActionOutput, ActionRunner, run_action
from ampkit.actions.errors import describe
from ampkit.config import Settings
from ampkit.core.policy import RetryPolicy
from ampkit.errors import AuthError, RateLimited
from ampkit.server import FaultConfig

SECRETS = ("act-api-key-0001", "act-secret-key-0001", "wrong-api-key-0001", "wrong-secret-0001")


def clean(out: ActionOutput) -> str:
    """The error of a failed output, checked to hold no secret."""
    assert not out.success
    assert out.error
    dumped = out.model_dump_json()
    for secret in SECRETS:
        assert secret not in dumped
    return out.error


def test_missing_secret_key(make_settings: Any) -> None:
    with ActionRunner(settings=make_settings(secret_key=None)) as runner:
        error = clean(runner.run("list_annotations"))
    assert "no secret key" in error and "AMPLITUDE_SECRET_KEY" in error
    assert "pass secret_key" not in error


def test_missing_api_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AMPLITUDE_API_KEY", "AMPLITUDE_SECRET_KEY", "AMPLITUDE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    error = clean(run_action("list_events"))
    assert error.startswith("configuration: no API key") and "AMPLITUDE_API_KEY" in error


def test_bad_environment_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMPLITUDE_API_KEY", "act-api-key-0001")
    monkeypatch.setenv("AMPLITUDE_REGION", "mars")
    error = clean(run_action("list_events"))
    assert "region" in error


def test_run_action_reads_the_environment(monkeypatch: pytest.MonkeyPatch, server: Any) -> None:
    monkeypatch.setenv("AMPLITUDE_API_KEY", "act-api-key-0001")
    monkeypatch.setenv("AMPLITUDE_SECRET_KEY", "act-secret-key-0001")
    monkeypatch.setenv("AMPLITUDE_BASE_URL", server.url)
    monkeypatch.delenv("AMPLITUDE_REGION", raising=False)
    out = run_action("create_annotation", {"label": "Launch", "date": "2024-03-01",
                                           "app_id": 4242})
    assert out.success, out.error


@pytest.mark.parametrize(("arguments", "expected"), [
    ({"user": ""}, "invalid input: user: String should have at least 1 character"),
    ({}, "invalid input: user: Field required"),
    ({"user": "u", "usr": "x"}, "invalid input: usr: unknown field"),
    ({"user": 5}, "invalid input: user: Input should be a valid string"),
])
def test_invalid_input_names_the_field(runner: ActionRunner, arguments: dict[str, Any],
                                       expected: str) -> None:
    error = clean(runner.run("user_search", arguments))
    assert error.startswith(expected)


def test_arguments_that_are_not_an_object(runner: ActionRunner) -> None:
    action = REGISTRY.get("user_search")
    assert action is not None
    error = clean(runner.call(action, ["user"]))  # type: ignore[arg-type]
    assert error.startswith("invalid input")


def test_unknown_action() -> None:
    error = clean(run_action("no_such_action"))
    assert "unknown action 'no_such_action'" in error and "send_events" in error


def test_wrong_key_pair_suggests_checking_keys_and_region(make_settings: Any) -> None:
    settings = make_settings(api_key="wrong-api-key-0001", secret_key="wrong-secret-0001")
    with ActionRunner(settings=settings) as runner:
        out = runner.run("list_annotations")
        assert out.code in (401, 403)
        error = clean(out)
        assert "authentication refused" in error
        assert "key pair" in error and "region" in error
        out = runner.run("send_events", {"events": [{"event_type": "A",
                                                     "user_id": "user-0001"}]})
        error = clean(out)  # Amplitude echoes the key: it must be scrubbed
        assert "Invalid API key" in error and "***" in error


def test_unreachable_server() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(api_key="act-api-key-0001", secret_key="act-secret-key-0001",
                        base_url=f"http://127.0.0.1:{port}")
    with ActionRunner(settings=settings, retry=RetryPolicy.no_wait(2)) as runner:
        error = clean(runner.run("list_cohorts"))
    assert error.startswith(f"could not reach http://127.0.0.1:{port}")
    assert "AMPLITUDE_BASE_URL" in error


def test_rate_limit_names_the_limit(runner: ActionRunner, server: Any) -> None:
    server.set_faults(rates={"429": 1.0})
    out = runner.run("list_annotations")
    assert out.code == 429
    error = clean(out)
    assert "rate limited" in error and "limit:" in error and "retry" in error


def test_server_error_and_timeout(make_settings: Any, server: Any, running: Any) -> None:
    server.set_faults(rates={"503": 1.0})
    with ActionRunner(settings=make_settings(), retry=RetryPolicy.no_wait(2)) as runner:
        out = runner.run("list_cohorts")
    assert out.code == 503 and "try again later" in clean(out)
    running.set_faults(FaultConfig(rates={"delay": 1.0}, delay_seconds=1))
    with ActionRunner(settings=make_settings(timeout=0.2),
                      retry=RetryPolicy.no_wait(1)) as runner:
        out = runner.run("list_cohorts")
    error = clean(out)
    assert error.startswith("timed out (each attempt given 0.2 s)") and "AMPLITUDE_TIMEOUT" in error
    with ActionRunner(settings=make_settings(timeout=0.2),
                      retry=RetryPolicy.no_wait(3)) as runner:
        out = runner.run("list_cohorts")
    assert "3 attempts" in clean(out)  # the wait in all, not one attempt's timeout


def test_query_rules_give_no_status(runner: ActionRunner) -> None:
    today = dt.date(2024, 3, 10)
    out = runner.run("active_users", {"start": today.isoformat(), "end": "2024-03-01"})
    assert out.code is None
    assert "end" in clean(out)


def test_secrets_echoed_in_a_result_are_scrubbed(runner: ActionRunner, server: Any) -> None:
    runner.run("create_annotation", {"label": "key act-secret-key-0001 leaked",
                                     "date": "2024-03-01", "app_id": 4242})
    out = runner.run("list_annotations")
    assert out.success, out.error
    assert "act-secret-key-0001" not in out.model_dump_json()
    assert "***" in out.model_dump_json()


def test_messages_for_statuses_no_server_produces() -> None:
    limited = RateLimited("Too many requests (limit: concurrent requests)",
                          endpoint="/api/2/funnels", limit="concurrent requests",
                          retry_after=30)
    message, code = describe(limited)
    assert code == 429
    assert "limit: concurrent requests" in message and "retry after 30 s" in message
    message, code = describe(AuthError("Forbidden", status=403, endpoint="/api/3/cohorts"))
    assert code == 403 and "AMPLITUDE_REGION" in message
    message, code = describe(RuntimeError("boom"))
    assert (message, code) == ("unexpected error (RuntimeError): boom", None)


@pytest.mark.parametrize(("action", "given", "field"), [
    ("event_segmentation", {"event_type": "x", "start": "20240101", "end": "20240101",
                            "limit": True}, "limit"),
    ("user_activity", {"amplitude_id": "123", "limit": False}, "limit"),
    ("user_activity", {"amplitude_id": "123", "offset": True}, "offset"),
])
def test_true_or_false_for_a_number_is_refused_not_read_as_1(action: str, given: dict[str, Any],
                                                             field: str) -> None:
    """pydantic's lax mode read ``limit: true`` as 1: a careless input, now named."""
    out = run_action(action, given)
    assert not out.success
    assert f"{field}: must be a number, not true or false" in str(out.error)
