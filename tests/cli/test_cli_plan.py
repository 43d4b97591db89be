"""``ampkit plan check`` and ``ampkit plan pull``, run as a user runs them (in-process, typer's
runner) against a real ``ampkit serve`` and the export files it gives."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.invoke import Ran, invoke

from ampkit.models.plan import parse_plan
from ampkit.server import ProjectConfig, RunningServer, ServerConfig, serve_in_thread

KEY, SECRET = "cli-plan-key-0001", "cli-plan-secret-0001"
PLAN = """\
version: 1
policy: {unplanned_events: flag, unplanned_properties: flag, violations: flag}
events:
  Signed Up:
    properties:
      plan: {type: string, enum: [free, pro]}
    required: [plan]
  Cancelled:
user_properties:
  properties: {country: {type: string}}
"""
SENT: list[dict[str, Any]] = [
    {"event_type": "Signed Up", "user_id": "user-0001", "event_properties": {"plan": "gold"},
     "user_properties": {"$set": {"country": "FR", "age": 3}}},
    {"event_type": "Signed Up", "user_id": "user-0002", "event_properties": {"plan": "pro",
                                                                             "ref": "ad"}},
    {"event_type": "Clicked", "user_id": "user-0002"},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    plan = tmp_path_factory.mktemp("plan") / "plan.yaml"
    plan.write_text(PLAN)
    srv = serve_in_thread(ServerConfig(port=0, throttle_enabled=False, plan=plan, projects=[
        ProjectConfig(project_id=8, api_key=KEY, secret_key=SECRET)]))
    r = httpx.post(f"{srv.url}/2/httpapi", json={"api_key": KEY, "events": SENT})
    assert r.status_code == 200  # violations are flagged: stored, and kept as bad events
    yield srv
    srv.stop()


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    return path


def run(*args: str, url: str = "http://127.0.0.1:9") -> Ran:
    return invoke(*args, env={"AMPLITUDE_API_KEY": KEY, "AMPLITUDE_SECRET_KEY": SECRET,
                              "AMPLITUDE_BASE_URL": url})


def test_a_valid_plan_alone_passes(plan_file: Path) -> None:
    r = run("plan", "check", str(plan_file))
    assert r.returncode == 0, r.stderr
    assert "2 events, 1 user property" in r.stdout and "the plan is valid" in r.stdout


@pytest.mark.parametrize(("text", "message"), [
    ("events:\n  A:\n    properties:\n      n: {type: integr}\n",
     "error: invalid plan: {path}: events.A.properties.n.type: 'integr' is not a valid type"),
    ("events: [A]\n", "error: invalid plan: {path}: events: Input should be a valid dictionary"),
])
def test_an_invalid_plan_exits_2_naming_the_place(tmp_path: Path, text: str,
                                                  message: str) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    r = run("plan", "check", str(path))
    assert r.returncode == 2
    assert r.stderr.startswith(message.format(path=path)) and "Traceback" not in r.stderr


def test_usage_mistakes_exit_2(plan_file: Path, tmp_path: Path) -> None:
    both = run("plan", "check", str(plan_file), "--server", "http://x", "--export", "e.jsonl")
    assert both.returncode == 2 and "give one of them" in both.stderr
    odd = run("plan", "check", str(plan_file), "--export", str(tmp_path / "e.parquet"))
    assert odd.returncode == 2 and "must be .zip, .gz, .jsonl, .json" in odd.stderr
    missing = run("plan", "check", str(plan_file), "--export", str(tmp_path / "e.jsonl"))
    assert missing.returncode == 2 and "No such file" in missing.stderr
    # a server that cannot be read is no finding (1 is for problems found): 2, naming it
    keyless = invoke("plan", "check", str(plan_file), "--server", "http://127.0.0.1:9",
                     clear_amplitude_env=True)
    assert keyless.returncode == 2 and "--server http://127.0.0.1:9" in keyless.stderr
    down = run("plan", "check", str(plan_file), "--server", "http://127.0.0.1:9")
    assert down.returncode == 2 and "--server http://127.0.0.1:9" in down.stderr
    assert "Traceback" not in keyless.stderr + down.stderr


def test_check_against_a_running_server(server: RunningServer, plan_file: Path) -> None:
    r = run("plan", "check", str(plan_file), "--server", server.url, "--json")
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert report["never_seen"] == ["Cancelled"]
    assert report["unplanned_events"] == ["Clicked"]
    assert report["unplanned_properties"] == {"Signed Up": ["ref"], "user": ["age"]}
    assert report["bad_events"] == 4 and len(report["bad_event_samples"]) == 4
    assert report["problems"] == 8 and report["ok"] is False
    human = run("plan", "check", str(plan_file), "--server", server.url)
    assert human.returncode == 1
    assert "✗ planned, never seen:\n    Cancelled" in human.stdout
    assert "violation 'Signed Up' /event_properties/plan: 'gold' is not one of" in human.stdout
    assert KEY not in human.stdout + human.stderr and SECRET not in human.stdout + human.stderr


def test_a_server_that_matches_the_plan_passes(tmp_path: Path) -> None:
    key, secret = "cli-plan-key-0002", "cli-plan-secret-0002"
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"events": {"Opened": {"properties": {"n": {"type": "integer"}}}},
                                "policy": {"violations": "reject"}}))
    with serve_in_thread(ServerConfig(port=0, plan=plan, projects=[
            ProjectConfig(project_id=9, api_key=key, secret_key=secret)])) as srv:
        httpx.post(f"{srv.url}/2/httpapi", json={"api_key": key, "events": [
            {"event_type": "Opened", "user_id": "user-0001", "event_properties": {"n": 1}},
            {"event_type": "$identify", "user_id": "user-0001",
             "user_properties": {"$set": {"x": 1}}}]}).raise_for_status()
        r = invoke("plan", "check", str(plan), "--server", srv.url,
                   env={"AMPLITUDE_API_KEY": key, "AMPLITUDE_SECRET_KEY": secret})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "every planned event was seen" in r.stdout


def _export_lines(server: RunningServer) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.url}/_ampkit/events", auth=(KEY, SECRET))
    r.raise_for_status()
    lines: list[dict[str, Any]] = r.json()
    return lines


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".gz", ".zip"])
def test_check_against_an_export_file(server: RunningServer, plan_file: Path, tmp_path: Path,
                                      suffix: str) -> None:
    path = tmp_path / f"export{suffix}"
    lines = _export_lines(server)
    text = "\n".join(json.dumps(e) for e in lines) + "\n"
    if suffix == ".json":
        path.write_text(json.dumps(lines))
    elif suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    elif suffix == ".zip":  # what the Export API answers
        now = dt.datetime.now(dt.UTC)
        r = httpx.get(f"{server.url}/api/2/export", auth=(KEY, SECRET), params={
            "start": f"{now - dt.timedelta(days=1):%Y%m%dT%H}", "end": f"{now:%Y%m%dT%H}"})
        assert r.status_code == 200, r.text
        path.write_bytes(r.content)
    else:
        path.write_text(text)
    r = run("plan", "check", str(plan_file), "--export", str(path), "--json")
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert (report["never_seen"], report["unplanned_events"]) == (["Cancelled"], ["Clicked"])
    assert report["unplanned_properties"] == {"Signed Up": ["ref"], "user": ["age"]}
    assert report["violations"] == [{"event_type": "Signed Up", "path": "/event_properties/plan",
                                     "rule": "'gold' is not one of ['free', 'pro']",
                                     "events": 1}]
    assert report["bad_events"] is None


def test_pull_builds_a_plan_from_the_taxonomy(server: RunningServer, tmp_path: Path) -> None:
    r = run("plan", "pull", url=server.url)
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load(r.stdout)
    assert doc["events"] == {"Clicked": {"properties": {}},
                             "Signed Up": {"properties": {"plan": {}, "ref": {}}}}
    assert doc["user_properties"] == {"properties": {"age": {}, "country": {}}}
    assert parse_plan(doc).summary().startswith("2 events, 2 user properties")
    out = tmp_path / "pulled.json"
    r = run("plan", "pull", "--out", str(out), url=server.url)
    assert r.returncode == 0 and "wrote" in r.stdout and "2 event types" in r.stdout
    assert json.loads(out.read_text())["events"].keys() == {"Clicked", "Signed Up"}
    # the pulled plan checks clean against the project it came from (but the bad events kept)
    check = run("plan", "check", str(out), "--server", server.url, "--json")
    report = json.loads(check.stdout)
    assert (report["never_seen"], report["unplanned_events"],
            report["unplanned_properties"]) == ([], [], {})
    assert run("plan", "pull", "--format", "xml", url=server.url).returncode == 2
    # a plan already there (written by hand, perhaps) is replaced only with --force
    out.write_text('{"events": {}}')
    again = run("plan", "pull", "--out", str(out), url=server.url)
    assert again.returncode == 2 and "pass --force" in again.stderr
    assert out.read_text() == '{"events": {}}'
    assert run("plan", "pull", "--out", str(out), "--force", url=server.url).returncode == 0
    assert json.loads(out.read_text())["events"].keys() == {"Clicked", "Signed Up"}


def test_pull_maps_taxonomy_types_to_json_schema() -> None:
    from ampkit.cli.plan import property_schema
    from ampkit.models.dashboard.taxonomy import TaxonomyEventProperty, TaxonomyUserProperty

    assert property_schema(TaxonomyEventProperty(
        event_property="plan", type="string", enum_values="free, pro", description="Tier")) == {
        "description": "Tier", "type": "string", "enum": ["free", "pro"]}
    assert property_schema(TaxonomyEventProperty(
        event_property="ids", type="number", is_array_type=True, regex="^[0-9]+$")) == {
        "type": "array", "items": {"type": "number", "pattern": "^[0-9]+$"}}
    assert property_schema(TaxonomyUserProperty(user_property="gp:x", type="any")) == {}


def test_serve_refuses_a_bad_plan_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("events:\n  A:\n    properties:\n      n: {minimum: one}\n")
    r = invoke("serve", "--port", "0", "--plan", str(path))
    assert r.returncode == 2
    assert r.stderr.strip() == (f"error: plan: {path}: events.A.properties.n.minimum: 'one' is "
                                "not of type 'number'")


def test_serve_takes_the_plan_over_its_config_file(plan_file: Path, tmp_path: Path) -> None:
    from ampkit.cli.serve import build_config

    config = tmp_path / "serve.yaml"
    config.write_text("plan: {events: {Other: null}}\nlimits: {bad_events_kept: 50}\n")
    built = build_config(host="127.0.0.1", port=0, db=None, api_key=None, secret_key=None,
                         project_id=None, config=config, faults=None, no_throttle=False,
                         log_level="warning", plan=plan_file)
    assert built.plan is not None and set(built.plan.events) == {"Signed Up", "Cancelled"}
    assert built.limits.bad_events_kept == 50
    from_file = build_config(host="127.0.0.1", port=0, db=None, api_key=None, secret_key=None,
                             project_id=None, config=config, faults=None, no_throttle=False,
                             log_level="warning")
    assert from_file.plan is not None and list(from_file.plan.events) == ["Other"]
