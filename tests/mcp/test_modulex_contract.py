"""ModuleX's 11 actions (seed 001), checked against the seed's own schemas.

The parameters and output schemas come from ``fixtures/seeds/modulex_actions.json`` (extracted
from the seed document; the first test checks it still matches).  Every action is called over
MCP (the SDK's in-process client, on a real ``ampkit serve`` holding events) with only the
seed's required parameters, and every answer — successes, bad input, an unreachable or garbled
server — is validated against the seed's JSON schema with ``jsonschema``.

The seed's output schemas say ``additionalProperties: false`` at the top level; ampkit may add
output fields (``points``, ``names``, ``operations``…), so the top level is checked with that one
keyword relaxed, and every extra key must be one the action's own output schema declares.  The
nested objects (matches, events, user data) are checked exactly as the seed has them.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from tests.invoke import invoke
from tests.modulex_seed import load, read_seed
from tests.stub_http import Reply, dead_port, stub

from ampkit.actions import REGISTRY, ActionRunner
from ampkit.config import Settings
from ampkit.core.policy import RetryPolicy
from ampkit.mcp import build_server
from ampkit.server import ProjectConfig, ServerConfig, serve_in_thread
from mcp import Client

CONTRACT = load()
ACTIONS: dict[str, dict[str, Any]] = {a["name"]: a for a in CONTRACT["actions"]}
NAMES = list(ACTIONS)
TODAY = dt.datetime.now(dt.UTC).date()
WEEK_AGO = TODAY - dt.timedelta(days=6)


def _types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a (property) schema admits."""
    found = {schema["type"]} if isinstance(schema.get("type"), str) else set(
        schema.get("type") or [])
    for option in schema.get("anyOf", []):
        found |= _types(option)
    return found


def check(name: str, out: dict[str, Any] | None) -> dict[str, Any]:
    """``out`` is valid under the seed's schema of ``name`` (top level open to extras that the
    action itself declares); returns it."""
    assert out is not None
    schema = copy.deepcopy(ACTIONS[name]["output_schema"])
    schema["additionalProperties"] = True
    jsonschema.validate(out, schema)
    action = REGISTRY.get(name)
    assert action is not None
    assert set(out) <= set(action.output_schema()["properties"])
    return out


# --- the fixture and the schemas -------------------------------------------------------------


def test_the_fixture_is_what_the_seed_says() -> None:
    assert read_seed() == CONTRACT
    assert NAMES == ["send_event", "identify_user", "group_identify", "user_search",
                     "user_activity", "user_profile", "event_segmentation", "get_active_users",
                     "realtime_active_users", "list_events", "get_revenue"]


@pytest.mark.parametrize("name", NAMES)
def test_the_action_takes_the_seeds_parameters(name: str) -> None:
    action = REGISTRY.get(name)
    assert action is not None, f"no action {name}"
    schema = action.input_schema()
    props = schema["properties"]
    for param in ACTIONS[name]["parameters"]:
        assert param["name"] in props, param["name"]
        assert param["type"] in _types(props[param["name"]]), (param, props[param["name"]])
    required = {p["name"] for p in ACTIONS[name]["parameters"] if p["required"]}
    assert set(schema.get("required", [])) == required


@pytest.mark.parametrize("name", NAMES)
def test_the_action_answers_the_seeds_fields(name: str) -> None:
    action = REGISTRY.get(name)
    assert action is not None
    ours = action.output_schema()
    seed = ACTIONS[name]["output_schema"]
    for field, spec in seed["properties"].items():
        assert field in ours["properties"], field
        if "$ref" not in spec and not any("$ref" in o for o in spec.get("anyOf", [])):
            assert _types(spec) <= _types(ours["properties"][field]), field
    assert set(seed["required"]) <= set(ours.get("required", [])) | {"success"}
    # a failure is the same model: the seed's schema holds for it
    check(name, action.failure("x", 400).model_dump(mode="json"))


# --- over MCP, on a real server ---------------------------------------------------------------


def runner_for(url: str, env: dict[str, str]) -> ActionRunner:
    settings = Settings(api_key=env["AMPLITUDE_API_KEY"],
                        secret_key=env["AMPLITUDE_SECRET_KEY"], base_url=url)
    return ActionRunner(settings=settings, retry=RetryPolicy.no_wait(2))


@pytest.fixture
async def mcp(amp_env: dict[str, str]) -> AsyncIterator[Any]:
    """An MCP client session on the tools, over a fresh ``ampkit serve`` project."""
    with runner_for(amp_env["AMPLITUDE_BASE_URL"], amp_env) as runner:
        async with Client(build_server(runner)) as client:
            yield client


async def call(client: Any, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    assert not result.is_error, result.content
    return check(name, result.structured_content)


EVENTS = [
    {"event_type": "Sign Up", "user_id": "user-0001", "platform": "iOS", "country": "France",
     "session_id": 1_700_000_000_000, "event_properties": {"plan": "pro"}},
    {"event_type": "Sign Up", "user_id": "user-0002", "platform": "Web", "country": "Chile"},
    {"event_type": "Purchase", "user_id": "user-0001", "price": 4.99, "quantity": 2,
     "product_id": "sku-1", "revenue_type": "purchase"},
]


def required(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """The seed's required parameters of ``name``, and only those, from ``values``."""
    return {p["name"]: values[p["name"]] for p in ACTIONS[name]["parameters"] if p["required"]}


@pytest.mark.anyio
async def test_every_action_with_only_the_required_parameters(mcp: Any) -> None:
    for event in EVENTS:  # the seed's send_event, one event per call
        sent = await call(mcp, "send_event", event)
        assert sent["success"] is True, sent["error"]
        assert (sent["code"], sent["events_ingested"]) == (200, 1)
        assert sent["payload_size_bytes"] > 0 and sent["server_upload_time"] > 1_600_000_000_000

    found = await call(mcp, "user_search", {"user": "user-0001"})
    values: dict[str, Any] = {
        "event_type": "Sign Up", "user_properties": {"$set": {"plan": "pro"}},
        "group_type": "company", "group_value": "Acme Corp",
        "group_properties": {"$set": {"seats": 25}}, "user": "user-0001",
        "amplitude_id": str(found["matches"][0]["amplitude_id"]),
        "start": WEEK_AGO.strftime("%Y%m%d"), "end": TODAY.strftime("%Y%m%d")}
    out = {name: await call(mcp, name, required(name, values)) for name in NAMES}

    # no user_id/device_id: the seed makes one of them necessary, in words
    for name in ("send_event", "identify_user", "user_profile"):
        assert out[name]["success"] is False
        assert "user_id" in out[name]["error"] and "device_id" in out[name]["error"], name
    assert out["group_identify"]["success"] is True, out["group_identify"]["error"]
    assert (out["group_identify"]["code"], out["group_identify"]["message"]) == (200, "success")
    assert out["user_search"]["type"] == "match_user_or_device_id"
    assert [m["user_id"] for m in out["user_search"]["matches"]] == ["user-0001"]

    activity = out["user_activity"]
    assert activity["success"] is True, activity["error"]
    assert sorted(e["event_type"] for e in activity["events"]) == ["Purchase", "Sign Up"]
    signup = next(e for e in activity["events"] if e["event_type"] == "Sign Up")
    assert (signup["session_id"], signup["event_properties"]) == (1_700_000_000_000,
                                                                  {"plan": "pro"})
    assert activity["user_data"]["user_id"] == "user-0001"
    assert activity["user_data"]["num_events"] == 2

    seg = out["event_segmentation"]
    assert seg["success"] is True, seg["error"]
    assert len(seg["x_values"]) == 7 and seg["x_values"][-1] == TODAY.isoformat()
    assert seg["series"] == [[0, 0, 0, 0, 0, 0, 2]]  # uniques of Sign Up
    assert seg["series_collapsed"] == [[2]]

    users = out["get_active_users"]
    assert users["success"] is True, users["error"]
    assert users["series"][0][-1] == 2 and len(users["series_meta"]) == 1

    realtime = out["realtime_active_users"]
    assert realtime["success"] is True, realtime["error"]
    assert realtime["series_labels"] == ["Today", "Yesterday"]
    assert len(realtime["series"]) == 2 and len(realtime["series"][0]) == len(
        realtime["x_values"])

    listed = {e["value"]: e for e in out["list_events"]["events"]}
    assert listed["Sign Up"]["totals"] == 2 and listed["Purchase"]["totals"] == 1
    assert listed["Sign Up"]["display_name"] == "Sign Up"

    revenue = out["get_revenue"]
    assert revenue["success"] is True, revenue["error"]
    assert revenue["x_values"] == [(WEEK_AGO + dt.timedelta(days=n)).isoformat()
                                   for n in range(7)]
    today = revenue["series"][0]["values"][TODAY.isoformat()]
    assert today["total_amount"] == pytest.approx(9.98) and today["paid"] == 1
    assert today["r1d"] == pytest.approx(9.98 / 2)  # metric 0: ARPU of 2 new users


@pytest.mark.anyio
async def test_the_seeds_optional_parameters(mcp: Any, amplitude: Any) -> None:
    sent = await call(mcp, "send_event", {
        "event_type": "purchase", "device_id": "device-0001", "time": 1_700_000_000_000,
        "insert_id": "order-0001", "app_version": "2.1", "platform": "Android",
        "country": "DE", "language": "de", "ip": "192.0.2.10", "price": 10.0, "quantity": 3,
        "revenue": 30.0, "product_id": "sku-9", "revenue_type": "purchase",
        "user_properties": {"$set": {"tier": "gold"}}})
    assert sent["success"] is True, sent["error"]
    assert sent["insert_id"] == "order-0001"
    again = await call(mcp, "send_event", {"event_type": "purchase", "device_id": "device-0001",
                                           "time": 1_700_000_000_000, "insert_id": "order-0001"})
    assert again["success"] is True  # accepted, and counted once (7-day deduplication)
    stored = httpx.get(f"{amplitude.url}/_ampkit/events",
                       auth=("mcp-api-key-0001", "mcp-secret-key-0001")).json()
    assert [(e["event_type"], e["language"]) for e in stored] == [("purchase", "de")]

    ident = await call(mcp, "identify_user", {"user_id": "user-0009",
                                              "user_properties": {"$set": {"plan": "pro"},
                                                                  "$add": {"logins": 2}}})
    assert (ident["success"], ident["code"], ident["message"]) == (True, 200, "success")
    plain = await call(mcp, "identify_user", {"device_id": "device-0001",
                                              "user_properties": {"plan": "team"}})
    assert plain["operations"] == {"$set": {"plan": "team"}}

    profile = await call(mcp, "user_profile", {"user_id": "user-0009", "get_amp_props": True,
                                               "get_cohort_ids": True,
                                               "get_computations": True})
    assert profile["success"] is True, profile["error"]
    assert profile["user_id"] == "user-0009"
    assert profile["amp_props"]["plan"] == "pro" and profile["amp_props"]["logins"] == 2
    assert profile["cohort_ids"] == [] and isinstance(profile["computations"], dict)
    bare = await call(mcp, "user_profile", {"user_id": "user-0009"})
    assert (bare["amp_props"], bare["cohort_ids"], bare["computations"]) == (None, None, None)

    start, end = WEEK_AGO.strftime("%Y%m%d"), TODAY.strftime("%Y%m%d")
    seg = await call(mcp, "event_segmentation", {
        "event_type": "_all", "start": start, "end": end, "metric": "totals",
        "interval": "7", "group_by": "platform", "limit": 5})
    assert seg["success"] is True, seg["error"]
    assert seg["series_labels"] == ["(none)"] or len(seg["series"]) == len(seg["series_labels"])
    users = await call(mcp, "get_active_users", {"start": start, "end": end, "metric": "new",
                                                 "interval": "1"})
    assert users["success"] is True, users["error"]
    revenue = await call(mcp, "get_revenue", {"start": start, "end": end, "metric": "2",
                                              "interval": "7"})
    assert revenue["success"] is True, revenue["error"]
    activity = await call(mcp, "user_activity", {"amplitude_id": "999999999", "offset": 0,
                                                 "limit": 5, "direction": "earliest"})
    assert activity["success"] is True and activity["events"] == []


@pytest.mark.anyio
async def test_event_segmentation_takes_event_type_or_a_full_event(mcp: Any) -> None:
    for event in EVENTS:
        await call(mcp, "send_event", event)
    day = {"start": TODAY.isoformat(), "end": TODAY.isoformat()}
    by_type = await call(mcp, "event_segmentation", {"event_type": "Sign Up", **day})
    by_event = await call(mcp, "event_segmentation", {"event": "Sign Up", **day})
    both = await call(mcp, "event_segmentation", {"event_type": "Sign Up", "event": {
        "event_type": "Sign Up", "filters": [{"subprop_type": "user", "subprop_key": "platform",
                                              "subprop_op": "is", "subprop_value": ["iOS"]}]},
        **day})
    native = await call(mcp, "event_segmentation", {"e": '{"event_type": "Sign Up"}', **day})
    assert by_type["series"] == by_event["series"] == native["series"] == [[2]]
    assert both["series"] == [[1]]
    assert [p["value"] for p in by_type["points"]] == [2]  # ampkit's tidy points, kept
    clash = await call(mcp, "event_segmentation", {"event_type": "Sign Up",
                                                   "event": "Purchase", **day})
    assert clash["success"] is False
    assert "event_type" in clash["error"] and "'Purchase'" in clash["error"]


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("send_event", {"event_type": "", "user_id": "user-0001"}, "event_type"),
    ("send_event", {"event_type": "Open", "user_id": "ab"}, "user_id"),
    ("send_event", {"event_type": "Open", "user_id": "user-0001", "time": "soon"}, "time"),
    ("send_event", {"event_type": "Open", "user_id": "user-0001", "quantity": 1.5},
     "quantity"),
    ("send_event", {"event_type": "Open", "user_id": "user-0001", "colour": "red"},
     "colour: unknown field"),
    ("identify_user", {"user_id": "user-0001", "user_properties": {}}, "user_properties"),
    ("identify_user", {"user_id": "user-0001", "user_properties": "plan=pro"},
     "user_properties"),
    ("identify_user", {"user_id": "user-0001", "user_properties": {"$add": {"n": "x"}}},
     "$add"),
    ("group_identify", {"group_type": "company", "group_value": "Acme",
                        "group_properties": {"$clearAll": "-"}}, "group_properties"),
    ("group_identify", {"group_type": "company", "group_properties": {"a": 1}},
     "group_value: Field required"),
    ("user_search", {}, "user: Field required"),
    ("user_activity", {"amplitude_id": "abc"}, "amplitude_id"),
    ("user_activity", {"amplitude_id": "12", "limit": 10**9}, "limit"),
    ("user_activity", {"amplitude_id": "12", "direction": "sideways"}, "direction"),
    ("user_profile", {"user_id": "user-0001", "get_amp_props": "perhaps"}, "get_amp_props"),
    ("event_segmentation", {"event_type": "Sign Up", "start": "yesterday",
                            "end": "20240301"}, "start"),
    ("event_segmentation", {"event_type": "Sign Up", "start": "20240310",
                            "end": "20240301"}, "end"),
    ("event_segmentation", {"event_type": "Sign Up", "start": "20240301", "end": "20240302",
                            "metric": "everything"}, "metric"),
    ("event_segmentation", {"event_type": "Sign Up", "start": "20240301", "end": "20240302",
                            "interval": "14"}, "interval"),
    ("event_segmentation", {"start": "20240301", "end": "20240302"}, "event_type"),
    ("get_active_users", {"start": "20240301", "end": "20240302", "metric": "old"}, "metric"),
    ("get_revenue", {"start": "20240301", "end": "20240302", "metric": "9"}, "metric"),
    ("realtime_active_users", {"i": 7}, "interval"),
    ("list_events", {"everything": True}, "everything: unknown field"),
]


@pytest.mark.anyio
async def test_bad_input_is_success_false_naming_the_field(mcp: Any) -> None:
    for name, args, named in BAD:
        out = await call(mcp, name, args)
        assert out["success"] is False, (name, args)
        assert named in out["error"], (name, args, out["error"])
        assert out["code"] is None or out["code"] < 500


@pytest.mark.anyio
async def test_unreachable_and_garbled_servers_are_success_false(amp_env: dict[str, str]
                                                                 ) -> None:
    values: dict[str, Any] = {
        "event_type": "Sign Up", "user_id": "user-0001", "user_properties": {"a": 1},
        "group_type": "company", "group_value": "Acme", "group_properties": {"a": 1},
        "user": "user-0001", "amplitude_id": "1", "start": "20240301", "end": "20240302"}
    working = {name: {**required(name, values), **(
        {"user_id": "user-0001"} if name in ("send_event", "identify_user", "user_profile")
        else {})} for name in NAMES}
    with dead_port() as port, runner_for(f"http://127.0.0.1:{port}", amp_env) as runner:
        async with Client(build_server(runner)) as client:
            for name in NAMES:
                out = await call(client, name, working[name])
                assert out["success"] is False and str(port) in out["error"], name
    garbage = Reply(200, b"<html>maintenance</html>")
    with stub(lambda seen: garbage) as garbled, runner_for(garbled.url, amp_env) as runner:
        async with Client(build_server(runner)) as client:
            for name in NAMES:
                out = await call(client, name, working[name])
                assert out["success"] is False and out["error"], name
                assert "mcp-secret-key-0001" not in out["error"]


# --- the README's section -----------------------------------------------------------------------

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_readme_examples_run_against_a_local_server() -> None:
    section = README.split("## Coming from ModuleX", 1)[1].split("\n## ", 1)[0]
    (snippet,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    config = ServerConfig(port=0, throttle_enabled=False, projects=[ProjectConfig()])
    with serve_in_thread(config) as server:
        env = {"AMPLITUDE_API_KEY": "ampkit-demo-api-key",
               "AMPLITUDE_SECRET_KEY": "ampkit-demo-secret-key",
               "AMPLITUDE_BASE_URL": server.url}
        done = subprocess.run([sys.executable, "-c", snippet], env={**os.environ, **env},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].startswith("True 200 1 ")
        assert lines[1:4] == ["True success", "match_user_or_device_id user-0001",
                              "['purchase'] 1"]
        assert lines[4] == "pro"
        assert "['Today', 'Yesterday']" in lines and "['purchase']" in lines
        assert lines[-1].startswith("False invalid input: start:")
        shell = invoke("query", "get_revenue", "--start", "20240301", "--end", "20240331",
                       "--metric", "2", "--json", env=env)
    assert shell.returncode == 0, shell.stderr
    answer = json.loads(shell.stdout)
    assert answer["success"] is True and len(answer["x_values"]) == 31
