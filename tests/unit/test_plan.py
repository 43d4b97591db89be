"""Tracking plans (``ampkit.models.plan``): reading a plan, the errors that name the place in
the file, and every rule :meth:`TrackingPlan.check` applies to an event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ampkit.models.plan import (
    MAX_RULE_LENGTH,
    PlanError,
    PlanFinding,
    TrackingPlan,
    as_plan,
    load_plan,
    parse_plan,
)
from ampkit.server.config import ProjectConfig, ServerConfig

PLAN_YAML = """
version: 1
policy: {unplanned_events: flag, unplanned_properties: allow, violations: reject}
events:
  Signed Up:
    description: A new account
    properties:
      plan: {type: string, enum: [free, trial, pro]}
      seats: {type: integer, minimum: 1, multipleOf: 1}
      tags: {type: array, items: {type: string, maxLength: 8}}
      note: {}
    required: [plan]
  Opened App:
user_properties:
  properties:
    country: {type: string, pattern: "^[A-Z]{2}$"}
    logins: {type: integer}
"""


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> TrackingPlan:
    path = tmp_path_factory.mktemp("plan") / "plan.yaml"
    path.write_text(PLAN_YAML)
    return load_plan(path)


def kinds(found: list[PlanFinding]) -> list[tuple[str, str]]:
    return [(f.kind, f.path) for f in found]


# --- reading -------------------------------------------------------------------------------
def test_a_yaml_plan_reads_with_its_policy_and_bare_event_names(plan: TrackingPlan) -> None:
    assert set(plan.events) == {"Signed Up", "Opened App"}
    assert plan.events["Opened App"].properties == {}
    assert plan.events["Signed Up"].required == ["plan"]
    assert plan.policy.of("unplanned_property") == "allow"
    assert plan.summary() == ("2 events, 2 user properties; unplanned events: flag, unplanned "
                              "properties: allow, violations: reject")


def test_json_and_a_document_give_the_same_plan(plan: TrackingPlan, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(plan.model_dump_json())
    assert load_plan(path) == plan == as_plan(plan.model_dump()) == as_plan(str(path))


@pytest.mark.parametrize(("events", "problem"), [
    ({"Signed Up": {"properties": {"seats": {"type": "integr"}}}},
     "events.Signed Up.properties.seats.type: 'integr' is not a valid type (one of array, "
     "boolean, integer, null, number, object, string)"),
    ({"A": {"properties": {"x": {"pattern": "("}}}},
     "events.A.properties.x.pattern: '(' is not a 'regex'"),
    ({"A": {"properties": {"x": {"minimum": "one"}}}},
     "events.A.properties.x.minimum: 'one' is not of type 'number'"),
    ({"A": {"properties": {"x": {"typ": "string"}}}},
     "events.A.properties.x: unknown keyword 'typ' (did you mean 'type'?)"),
    ({"A": {"properties": {"x": {"items": {"maxLenght": 3}}}}},
     "events.A.properties.x.items: unknown keyword 'maxLenght' (did you mean 'maxLength'?)"),
    ({"A": {"properties": {"x": {"$ref": "#/$defs/y"}}}},
     "events.A.properties.x.$ref: references are not supported in a plan; write the schema "
     "inline"),
    ({"A": {"properties": {"x": {}}, "required": ["y"]}},
     "events.A.required: 'y' is not among the properties"),
])
def test_a_bad_schema_is_named_by_its_place_in_the_file(events: dict[str, Any],
                                                        problem: str) -> None:
    with pytest.raises(PlanError) as err:
        parse_plan({"events": events})
    assert err.value.problems == [problem]


def test_every_problem_is_listed_and_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("version: 2\npolicy: {violations: drop}\nevents: []\nextra: 1\n")
    with pytest.raises(PlanError) as err:
        load_plan(path)
    assert err.value.problems == [
        "version: Input should be 1",
        "policy.violations: Input should be 'allow', 'flag' or 'reject'",
        "events: Input should be a valid dictionary",
        "extra: Extra inputs are not permitted"]
    assert str(err.value).startswith(f"{path}: version: Input should be 1; ")


@pytest.mark.parametrize(("name", "text", "problem"), [
    ("plan.yaml", "events: [unclosed", "not YAML: "),
    ("plan.json", "{nope", "not JSON: "),
    ("plan.yaml", "- a list", "the top level must be a mapping"),
])
def test_a_file_that_is_not_a_plan_says_so(tmp_path: Path, name: str, text: str,
                                           problem: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PlanError) as err:
        load_plan(path)
    assert err.value.problems[0].startswith(problem)
    with pytest.raises(PlanError, match="cannot read the plan"):
        load_plan(tmp_path / "missing.yaml")


def test_the_server_config_reads_a_plan_file_and_refuses_a_bad_one(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN_YAML)
    config = ServerConfig(plan=path, projects=[ProjectConfig(plan={"events": {"X": None}})])
    assert config.plan is not None and set(config.plan.events) == {"Signed Up", "Opened App"}
    assert ServerConfig.model_validate(config.model_dump()).plan == config.plan
    with pytest.raises(ValidationError, match=r"events\.X\.properties\.y\.type: 'bool' is not"):
        ProjectConfig(plan={"events": {"X": {"properties": {"y": {"type": "bool"}}}}})


# --- checking events -----------------------------------------------------------------------
def test_a_planned_event_that_keeps_to_the_plan_has_no_finding(plan: TrackingPlan) -> None:
    assert plan.check({"event_type": "Signed Up", "event_properties": {
        "plan": "pro", "seats": 3, "tags": ["a"], "note": {"any": ["thing"]}, "$price": 3}}) == []
    assert plan.check({"event_type": "Opened App"}) == []


def test_violations_name_the_field_and_the_rule(plan: TrackingPlan) -> None:
    found = plan.check({"event_type": "Signed Up", "event_properties": {
        "seats": 0, "tags": ["ok", "much-too-long"], "extra": 1}})
    assert [(f.kind, f.path, f.rule, f.missing) for f in found] == [
        ("violation", "/event_properties/plan", "'plan' is a required property", True),
        ("unplanned_property", "/event_properties/extra", "'extra' is not a planned property",
         False),
        ("violation", "/event_properties/seats", "0 is less than the minimum of 1", False),
        ("violation", "/event_properties/tags/1", "'much-too-long' is too long", False)]
    assert [f.field for f in found] == ["event_properties.plan", "event_properties.extra",
                                       "event_properties.seats", "event_properties.tags.1"]
    by = plan.triage(found)
    assert [len(by[d]) for d in ("allow", "flag", "reject")] == [1, 0, 3]


def test_an_unplanned_event_and_amplitudes_own_events(plan: TrackingPlan) -> None:
    assert kinds(plan.check({"event_type": "Clicked", "event_properties": {"x": 1}})) == [
        ("unplanned_event", "/event_type")]
    assert plan.check({"event_type": "$identify", "event_properties": {"x": 1}}) == []
    assert plan.check({"event_type": None}) == [] and plan.check({}) == []


def test_user_properties_are_checked_through_their_operations(plan: TrackingPlan) -> None:
    found = plan.check({"event_type": "$identify", "user_properties": {
        "$set": {"country": "fr"}, "$setOnce": {"logins": "many"}, "$add": {"logins": 1},
        "$append": {"badges": "x"}, "$unset": {"country": "-"}, "$clearAll": "-"}})
    assert [(f.kind, f.path, f.rule) for f in found] == [
        ("violation", "/user_properties/$set/country", "'fr' does not match '^[A-Z]{2}$'"),
        ("violation", "/user_properties/$setOnce/logins", "'many' is not of type 'integer'"),
        ("unplanned_property", "/user_properties/$append/badges",
         "'badges' is not a planned user property")]
    plain = plan.check({"event_type": "Opened App", "user_properties": {"country": "FRA"}})
    assert kinds(plain) == [("violation", "/user_properties/country")]
    no_users = parse_plan({"events": {"Opened App": None}})
    assert no_users.check({"event_type": "Opened App", "user_properties": {"any": 1}}) == []


def test_event_properties_that_are_not_an_object_are_a_violation(plan: TrackingPlan) -> None:
    assert kinds(plan.check({"event_type": "Signed Up", "event_properties": [1]})) == [
        ("violation", "/event_properties")]


@pytest.mark.parametrize("value", [
    10**30, -(2**63), 1e308, 2**64 + 0.5, "é" * 2000, [[[[[[]]]]]], {"a": {"b": None}},
    True, None, float(2**53)])
def test_any_json_value_gives_findings_never_an_exception(plan: TrackingPlan,
                                                          value: Any) -> None:
    for props in ({"plan": value, "seats": value, "tags": value}, {value.__class__.__name__:
                                                                   value}):
        found = plan.check({"event_type": "Signed Up", "event_properties": props,
                            "user_properties": {"$set": {"country": value, "x" * 2000: 1}}})
        assert all(len(f.rule) <= MAX_RULE_LENGTH for f in found)
        assert all(f.path.startswith(("/event_properties", "/user_properties")) for f in found)


def test_a_json_pointer_escapes_slashes_and_tildes() -> None:
    plan = parse_plan({"events": {"E": {"properties": {"a/b~c": {"type": "string"}}}}})
    (found,) = plan.check({"event_type": "E", "event_properties": {"a/b~c": 1}})
    assert found.path == "/event_properties/a~1b~0c"
    assert found.field == "event_properties.a/b~c"


def test_multiple_of_a_decimal_and_an_anchored_pattern_mean_what_json_schema_says() -> None:
    """multipleOf compares the decimals written (19.99 is a multiple of 0.01; the library's
    float division refused it), and ``$`` is the end of the text (Python's ``$`` took a
    trailing newline) — in the quick check and in the full validator alike."""
    plan = parse_plan({"version": 1, "events": {"Buy": {"properties": {
        "price": {"type": "number", "multipleOf": 0.01},
        "code": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "code2": {"type": "string", "pattern": "^[A-Z]{2}$", "minLength": 2,
                  "format": "regex"},  # not a quick-check key: the full validator decides
    }}}})

    def found(**props: Any) -> list[tuple[str, str]]:
        return kinds(plan.check({"event_type": "Buy", "event_properties": props}))

    assert found(price=19.99, code="FR", code2="DE") == []
    assert found(price=0.07) == [] and found(price=1e-2) == [] and found(price=5) == []
    assert found(price=19.995) == [("violation", "/event_properties/price")]
    assert found(code="FR\n") == [("violation", "/event_properties/code")]
    assert found(code2="FR\n") == [("violation", "/event_properties/code2")]
    assert found(code="a$b") == [("violation", "/event_properties/code")]


def test_a_format_that_would_not_be_checked_is_refused_when_the_plan_is_read() -> None:
    with pytest.raises(PlanError, match=r"events\.Visit\.properties\.url\.format: 'uri' is not "
                                        r"checked here"):
        parse_plan({"version": 1, "events": {"Visit": {"properties": {
            "url": {"type": "string", "format": "uri"}}}}})
    with pytest.raises(PlanError, match="'no-such-format' is not checked"):
        parse_plan({"version": 1, "events": {"Visit": {"properties": {
            "x": {"format": "no-such-format"}}}}})
    parse_plan({"version": 1, "events": {"Visit": {"properties": {
        "at": {"type": "string", "format": "date-time"}}}}})
