"""Appsmith's Amplitude examples (seed 000), typed unchanged into ``ampkit query`` /
``ampkit export`` / ``ampkit track`` / ``ampkit request`` against a real ``ampkit serve``.

The project's API key is the one in Appsmith's Send Events example, so that example runs as
written too."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.appsmith import (
    APPSMITH_API_KEY,
    QUERY_ACTION,
    SERIES,
    USER_SEARCH,
    check_series,
    inputs,
    pairs,
    seed_project,
    uploaded_on_2022_02_01,
    user_ids,
)
from tests.invoke import Ran, invoke

from ampkit.server import ProjectConfig, RunningServer, ServerConfig, serve_in_thread

SECRET = "appsmith-cli-secret-0001"
PROJECT = 31


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    srv = serve_in_thread(ServerConfig(port=0, throttle_enabled=False, projects=[
        ProjectConfig(project_id=PROJECT, api_key=APPSMITH_API_KEY, secret_key=SECRET)]))
    try:
        seed_project(srv, PROJECT, APPSMITH_API_KEY, SECRET)
        yield srv
    finally:
        srv.stop()


def run(server: RunningServer, *args: str, stdin: str | None = None) -> Ran:
    """``ampkit *args`` with the secret key and the server's URL in the environment; the API
    key only where a command is given it (``--api-key``) or reads it."""
    return invoke(*args, stdin=stdin, env={
        "AMPLITUDE_API_KEY": APPSMITH_API_KEY, "AMPLITUDE_SECRET_KEY": SECRET,
        "AMPLITUDE_BASE_URL": server.url})


def answer(r: Ran) -> dict[str, object]:
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert isinstance(out, dict) and out["success"] is True
    return out


@pytest.mark.parametrize("example", sorted(SERIES))
def test_query_examples_unchanged(server: RunningServer, example: str) -> None:
    """Active/new user counts and event segmentation: m, i, g, n, limit, the event as JSON
    text and YYYYMMDD dates, as Appsmith writes them."""
    out = answer(run(server, "query", QUERY_ACTION[example], *pairs(example), "--json"))
    points = out["points"]
    assert isinstance(points, list)
    check_series(example, points)


def test_segmentation_example_as_a_table(server: RunningServer) -> None:
    r = run(server, "query", "event_segmentation", *pairs("segmentation"))
    assert r.returncode == 0, r.stderr
    assert "iOS" in r.stdout and "Web" in r.stdout and "2025-01-15" in r.stdout


def test_formula_example_is_refused_naming_the_formula(server: RunningServer) -> None:
    """'revenue / users' is not Amplitude's formula syntax (UNIQUES(A)/UNIQUES(B)…)."""
    r = run(server, "query", "event_segmentation", *pairs("segmentation_formula"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "formula: unknown function 'revenue'" in r.stderr and "UNIQUES" in r.stderr


def test_export_example_unchanged(server: RunningServer, tmp_path: Path) -> None:
    uploaded_on_2022_02_01(server)
    stored = len(server.store.events_page(PROJECT, 100_000, 0))
    given = inputs("export")
    out = tmp_path / "events.jsonl"
    r = run(server, "export", "--start", given["start"], "--end", given["end"], "--out",
            str(out))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert stored >= 5 and len(lines) == stored
    assert {e["event_type"] for e in lines} >= {"Table Click", "Purchase"}
    # one hour before the window: nothing
    r = run(server, "export", "--start", "20220201T04", "--end", "20220201T04", "--out",
            str(tmp_path / "none.jsonl"))
    assert r.returncode == 0 and "no events" in r.stdout


def test_cohorts_example(server: RunningServer) -> None:
    out = answer(run(server, "query", "list_cohorts", *pairs("cohorts"), "--json"))
    cohorts = out["cohorts"]
    assert isinstance(cohorts, list) and [c["name"] for c in cohorts] == ["Buyers"]


@pytest.mark.parametrize("example", sorted(USER_SEARCH))
def test_user_search_examples_unchanged(server: RunningServer, example: str) -> None:
    out = answer(run(server, "query", "user_search", *pairs(example), "--json"))
    assert user_ids(out) == USER_SEARCH[example]


def test_chart_examples_query_and_csv(server: RunningServer) -> None:
    data = answer(run(server, "query", "chart_results", *pairs("chart_query"), "--json"))
    chart = data["data"]
    assert isinstance(chart, dict) and chart["xValues"][14] == "2025-01-15"
    assert chart["series"][0][14] == 1 and data["csv"] is None
    text = answer(run(server, "query", "chart_results", *pairs("chart_csv"), "--json"))["csv"]
    assert isinstance(text, str) and text.startswith("label,2025-01-01,")
    assert text.splitlines()[1].split(",")[15:17] == ["1", "1"]


def test_chart_type_must_be_query_or_csv(server: RunningServer) -> None:
    r = run(server, "query", "chart_results", "chart_id=abc123def456", "type=Pie")
    assert r.returncode == 1 and "format: Input should be 'json' or 'csv'" in r.stderr
    r = run(server, "query", "chart_results", "chart_id=abc123def456", "type=CSV",
            "--format", "json")
    assert r.returncode == 1 and "format is given twice" in r.stderr


@pytest.mark.parametrize("example", ["send_events", "send_events_multiple"])
def test_send_events_examples_unchanged(server: RunningServer, example: str) -> None:
    """The API key and the JSON array as Appsmith's fields hold them: --events, and stdin."""
    given = inputs(example)
    sent = json.loads(given["events"])
    for how in ("--events", "stdin"):
        before = len(server.store.events_page(PROJECT, 100_000, 0))
        args = ["track", "--api-key", given["api_key"], "--json"]
        r = (run(server, *args, "--events", given["events"]) if how == "--events"
             else run(server, *args, "--file", "-", stdin=given["events"]))
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["delivered"] == len(sent), how
        stored = server.store.events_page(PROJECT, 100_000, 0)[before:]
        assert [(e["event_type"], e["event_properties"]) for e in stored] == [
            (e["event_type"], e["event_properties"]) for e in sent], how


def test_send_events_refuses_what_is_not_an_array_of_objects(server: RunningServer) -> None:
    for text, rule in (('[{"user_id": "user123"', "--events: not JSON"),
                       ('[1, 2]', "--events: item 0 is not a JSON object")):
        r = run(server, "track", "--events", text)
        assert r.returncode == 1 and rule in r.stderr, r.stderr
    r = run(server, "track", "--events", "[]", "-e", "X")
    assert r.returncode == 1 and "give one of" in r.stderr


def test_custom_action_example_unchanged(server: RunningServer) -> None:
    given = inputs("custom_action")
    r = run(server, "request", given["method"], given["url"])
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    data = body["data"]
    # today and yesterday, 5-minute buckets from midnight up to now (one bucket, just after it)
    minutes = [int(x[:2]) * 60 + int(x[3:]) for x in data["xValues"]]
    assert minutes[0] == 0 and all(b - a == 5 for a, b in itertools.pairwise(minutes))
    assert len(data["series"]) == 2 and len(data["seriesLabels"]) == 2


def test_custom_request_with_headers_params_and_a_body(server: RunningServer) -> None:
    r = run(server, "request", "GET", "https://amplitude.com/api/2/events/segmentation"
            "?e=%7B%22event_type%22%3A%22Table%20Click%22%7D", "-p", "start=20250101",
            "-p", "end=20250131", "-H", "X-Request-Source: appsmith")
    assert r.returncode == 0, r.stderr
    assert sum(json.loads(r.stdout)["data"]["series"][0]) == 3
    r = run(server, "request", "POST", "https://api2.amplitude.com/2/httpapi", "--body",
            json.dumps({"events": [{"event_type": "Raw", "user_id": "user123"}]}))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["events_ingested"] == 1


def test_custom_request_keeps_keys_to_the_configured_host(server: RunningServer) -> None:
    """A URL elsewhere, a URL carrying credentials, a header ampkit sets, a family that does
    not match: refused before anything is sent, without echoing a secret."""
    cases = [
        (["GET", "https://evil.example.com/api/2/realtime"], "not an Amplitude host"),
        (["GET", "https://me:hunter22@amplitude.com/api/2/realtime"], "may not carry"),
        (["GET", "ftp://amplitude.com/api/2/realtime"], "must be http(s)"),
        (["GET", "/api/2/realtime", "-H", "Authorization: Basic eHh4"], "Authorization is set"),
        (["GET", "/api/2/realtime", "-H", "no colon here"], "expected 'Name: value'"),
        (["GET", "https://amplitude.com/api/2/realtime", "--family", "ingest"],
         "does not match the URL's host"),
    ]
    for args, rule in cases:
        r = run(server, "request", *args)
        assert r.returncode == 1 and rule in r.stderr, (args, r.stderr)
        assert "hunter22" not in r.stderr + r.stdout and "eHh4" not in r.stderr


def test_amplitude_names_given_twice_are_refused(server: RunningServer) -> None:
    r = run(server, "query", "active_users", *pairs("active_users"), "--metric", "new")
    assert r.returncode == 1 and "metric is given twice (--metric and m=…)" in r.stderr
    r = run(server, "query", "event_segmentation", 'e={"event_type":', "start=20250101",
            "end=20250131")
    assert r.returncode == 1 and "event: " in r.stderr
    assert "an event written as JSON must be valid JSON" in r.stderr


def test_query_help_names_amplitude_parameters(server: RunningServer) -> None:
    r = run(server, "query", "event_segmentation", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.replace("│", " ").split())
    assert "Also m=… (Amplitude's name)" in text and "Also e=… (Amplitude's name)" in text
