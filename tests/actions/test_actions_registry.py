"""The registry: names, descriptions, flags, and schemas that are valid JSON Schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import jsonschema
import pytest

from ampkit.actions import REGISTRY, Action, ActionInput, ActionOutput, ActionRegistry
from ampkit.client import Amplitude

EXPECTED = [
    "send_events", "send_event", "identify_user", "group_identify", "user_search",
    "user_activity", "event_segmentation", "active_users", "get_active_users",
    "realtime_active_users", "list_events", "revenue_ltv", "get_revenue", "funnel",
    "retention", "session_length_distribution",
    "average_session_length", "sessions_per_user", "composition", "user_profile",
    "export_events", "list_cohorts", "cohort_members", "chart_results", "list_annotations",
    "create_annotation", "custom_request",
]
WRITES = {"send_events", "send_event", "identify_user", "group_identify", "export_events",
          "create_annotation", "custom_request"}


def test_names_are_stable() -> None:
    assert REGISTRY.names() == EXPECTED


def test_read_only_flags() -> None:
    assert {a.name for a in REGISTRY if not a.read_only} == WRITES
    assert all(not (a.read_only and a.destructive) for a in REGISTRY)


@pytest.mark.parametrize("action", list(REGISTRY), ids=REGISTRY.names())
def test_schemas_are_valid_json_schema(action: Action[Any, Any]) -> None:
    described = action.describe()
    assert described["description"] and described["title"]
    for key in ("input_schema", "output_schema"):
        schema = described[key]
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object"
    inputs = described["input_schema"]
    assert inputs.get("additionalProperties") is False
    for name, prop in inputs["properties"].items():
        assert prop.get("description"), f"{action.name}.{name} has no description"
    outputs = described["output_schema"]
    assert {"success", "error", "code"} <= set(outputs["properties"])


@pytest.mark.parametrize("action", list(REGISTRY), ids=REGISTRY.names())
def test_failures_validate_against_the_output_schema(action: Action[Any, Any]) -> None:
    failure = action.failure("something went wrong", 500).model_dump(mode="json")
    jsonschema.validate(failure, action.output_schema())
    assert failure["success"] is False and failure["code"] == 500


def test_every_action_has_a_json_serialisable_description() -> None:
    text = json.dumps(REGISTRY.describe())
    assert len(json.loads(text)) == len(EXPECTED)


class DemoIn(ActionInput):
    pass


class DemoOut(ActionOutput):
    value: int = 0


class Needs(ActionOutput):
    value: int


def test_registration_rules() -> None:
    registry = ActionRegistry()

    @registry.action("demo", title="Demo", read_only=True)
    def demo(client: Amplitude, args: DemoIn) -> DemoOut:
        """A demo."""
        return DemoOut(value=1)

    assert registry.names() == ["demo"]
    with pytest.raises(ValueError, match="already registered"):
        registry.action("demo", title="Demo", read_only=True)(demo)
    with pytest.raises(TypeError, match="every field needs a default"):
        @registry.action("needs", title="Needs", read_only=True)
        def needs(client: Amplitude, args: DemoIn) -> Needs:
            """Needs a value."""
            return Needs(value=1)
    with pytest.raises(ValueError, match="lower_snake_case"):
        registry.action("Bad-Name", title="Bad", read_only=True)(demo)


def test_cli_lists_actions() -> None:
    listed = subprocess.run([sys.executable, "-m", "ampkit", "actions"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert listed.returncode == 0, listed.stderr
    for name in EXPECTED:
        assert name in listed.stdout
    dumped = subprocess.run([sys.executable, "-m", "ampkit", "actions", "--json"],
                            capture_output=True, text=True, timeout=60)
    assert dumped.returncode == 0, dumped.stderr
    assert json.loads(dumped.stdout) == REGISTRY.describe()
