"""Appsmith's Amplitude examples (seed 000) given unchanged to the typed actions, against a
real ``ampkit serve`` (the fixtures of ``conftest.py``).

Send Events' API key is a credential, which actions take from the settings (never from an
input an agent writes): that example's events go in as written, the key is the runner's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.actions.conftest import API_KEY, PROJECT_ID, SECRET_KEY, Server
from tests.appsmith import (
    QUERY_ACTION,
    SERIES,
    USER_SEARCH,
    check_series,
    inputs,
    seed_project,
    uploaded_on_2022_02_01,
    user_ids,
)

from ampkit.actions import ActionOutput, ActionRunner
from ampkit.server import RunningServer


@pytest.fixture
def seeded(server: Server, running: RunningServer) -> Server:
    seed_project(running, PROJECT_ID, API_KEY, SECRET_KEY)
    return server


def ok(out: ActionOutput) -> dict[str, Any]:
    assert out.success, out.error
    data: dict[str, Any] = out.model_dump(mode="json")
    return data


@pytest.mark.parametrize("example", sorted(SERIES))
def test_query_examples_unchanged(seeded: Server, runner: ActionRunner, example: str) -> None:
    out = ok(runner.run(QUERY_ACTION[example], inputs(example)))
    check_series(example, out["points"])


def test_formula_example_is_refused_naming_the_formula(seeded: Server,
                                                        runner: ActionRunner) -> None:
    out = runner.run("event_segmentation", inputs("segmentation_formula"))
    assert not out.success and out.error is not None
    assert "formula: unknown function 'revenue'" in out.error and "UNIQUES" in out.error


def test_event_as_broken_json_is_named(seeded: Server, runner: ActionRunner) -> None:
    out = runner.run("event_segmentation", {"e": '{"event_type": "Table Click"',
                                            "start": "20250101", "end": "20250131"})
    assert not out.success and out.error is not None
    assert "event" in out.error and "must be valid JSON" in out.error


def test_a_field_and_its_amplitude_name_together_are_refused(seeded: Server,
                                                             runner: ActionRunner) -> None:
    out = runner.run("active_users", {**inputs("active_users"), "metric": "new"})
    assert not out.success and out.error is not None
    assert "metric: given twice, as metric and as m" in out.error


def test_export_example_unchanged(seeded: Server, running: RunningServer,
                                  runner: ActionRunner) -> None:
    uploaded_on_2022_02_01(running)
    out = ok(runner.run("export_events", inputs("export")))
    assert out["total"] == 5 and not out["truncated"]
    assert sorted(e["event_type"] for e in out["sample"]) == ["Purchase"] * 2 + [
        "Table Click"] * 3


def test_cohorts_example(seeded: Server, runner: ActionRunner) -> None:
    out = ok(runner.run("list_cohorts", inputs("cohorts")))
    assert [c["name"] for c in out["cohorts"]] == ["Buyers"]


@pytest.mark.parametrize("example", sorted(USER_SEARCH))
def test_user_search_examples_unchanged(seeded: Server, runner: ActionRunner,
                                        example: str) -> None:
    assert user_ids(ok(runner.run("user_search", inputs(example)))) == USER_SEARCH[example]


def test_chart_examples_query_and_csv(seeded: Server, runner: ActionRunner) -> None:
    data = ok(runner.run("chart_results", inputs("chart_query")))
    assert data["data"]["xValues"][14] == "2025-01-15" and data["data"]["series"][0][14] == 1
    assert data["csv"] is None
    text = ok(runner.run("chart_results", inputs("chart_csv")))["csv"]
    assert text.startswith("label,2025-01-01,") and text.splitlines()[1].split(",")[15] == "1"
    refused = runner.run("chart_results", {"chart_id": "abc123def456", "type": "Pie"})
    assert not refused.success and "format: Input should be 'json' or 'csv'" in str(
        refused.error)


@pytest.mark.parametrize("example", ["send_events", "send_events_multiple"])
def test_send_events_examples_unchanged(server: Server, runner: ActionRunner,
                                        example: str) -> None:
    text = inputs(example)["events"]
    out = ok(runner.run("send_events", {"events": text}))
    sent = json.loads(text)
    assert out["delivered"] == len(sent)
    stored = server.get("/_ampkit/events")
    events = stored["events"] if isinstance(stored, dict) else stored
    assert [(e["event_type"], e["event_properties"]) for e in events] == [
        (e["event_type"], e["event_properties"]) for e in sent]


def test_send_events_as_text_that_is_not_json(server: Server, runner: ActionRunner) -> None:
    out = runner.run("send_events", {"events": '[{"event_type": "click"'})
    assert not out.success and "events: is not valid JSON" in str(out.error)


def test_custom_action_example_unchanged(server: Server, runner: ActionRunner) -> None:
    given = inputs("custom_action")
    out = ok(runner.run("custom_request", given))  # its URL, as `url`
    assert out["code"] == 200 and out["data"]["data"]["xValues"][0] == "00:00"  # from midnight
    again = ok(runner.run("custom_request", {"method": given["method"],
                                             "path": given["url"]}))
    assert again["data"]["data"]["seriesLabels"] == out["data"]["data"]["seriesLabels"]


def test_custom_request_refuses_other_hosts_and_auth_headers(server: Server,
                                                             runner: ActionRunner) -> None:
    cases = [
        ({"path": "https://evil.example.com/api/2/realtime"}, "not an Amplitude host"),
        ({"path": "https://u:hunter22@amplitude.com/api/2/realtime"}, "may not carry"),
        ({"path": "/api/2/realtime", "headers": {"Authorization": "Basic eHh4"}},
         "Authorization is set by ampkit"),
        ({"path": "/api/2/realtime", "headers": '{"X-A": "1\\r\\nX-B: 2"}'},
         "the value must be text on one line"),
        ({"url": "https://api2.amplitude.com/2/httpapi", "family": "analytics"},
         "does not match the URL's host"),
    ]
    for given, rule in cases:
        out = runner.run("custom_request", {"method": "GET", **given})
        assert not out.success and rule in str(out.error), (given, out.error)
        assert "hunter22" not in str(out.error) and "eHh4" not in str(out.error)
    sent = ok(runner.run("custom_request", {
        "method": "POST", "url": "https://api2.amplitude.com/2/httpapi",
        "headers": '{"X-Request-Source": "appsmith"}',
        "body": {"events": [{"event_type": "Raw", "user_id": "user123"}]}}))
    assert sent["data"]["events_ingested"] == 1


def test_custom_request_never_hands_a_binary_answer_back_as_corrupted_text(
    server: Server, runner: ActionRunner, sent: list[dict[str, Any]],
) -> None:
    """An Export ZIP decoded as text came back as success with replacement characters; a long
    text was cut without a word.  Now: the size and type of a binary answer, and truncated."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)  # the hour before too: the events may fall before a new hour
    hour, before = now.strftime("%Y%m%dT%H"), (now - dt.timedelta(hours=1)).strftime("%Y%m%dT%H")
    out = ok(runner.run("custom_request", {"method": "GET", "path": "/api/2/export",
                                           "params": {"start": before, "end": hour}}))
    assert out["code"] == 200 and out["text"] is None and out["data"] is None
    assert out["binary_bytes"] > 100 and out["content_type"] == "application/zip"
    page = ok(runner.run("custom_request", {"method": "GET", "path": "/openapi.json"}))
    assert page["data"] is not None and page["truncated"] is False


def test_custom_request_takes_the_method_in_any_case(server: Server,
                                                     runner: ActionRunner) -> None:
    out = ok(runner.run("custom_request", {"method": "get", "path": "/api/2/events/list"}))
    assert out["code"] == 200


def test_a_group_value_past_1024_characters_is_refused_as_other_strings(
    runner: ActionRunner,
) -> None:
    out = runner.run("group_identify", {"group_type": "company", "group_value": "x" * 2000,
                                        "group_properties": {"a": 1}})
    assert not out.success and "group_value" in str(out.error) and "1024" in str(out.error)

