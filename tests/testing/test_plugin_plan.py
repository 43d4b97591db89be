"""The pytest plugin's tracking-plan helpers as their users run them: a plan per test
(``amplitude_plan``) or per server (``amplitude_server_config``), ``bad_events``,
``assert_bad_event``, ``assert_no_bad_events`` and their failures; and the README's example."""

from __future__ import annotations

import os
import re
from pathlib import Path

# loaded here, httpx's httpcore stays one class set across the in-process runs (see
# test_plugin_pytester.py)
import httpcore  # noqa: F401
import pytest
from tests.invoke import invoke
from tests.testing.shared import shared_run

README = Path(__file__).parent.parent.parent / "README.md"

PLAN_YAML = """\
policy: {unplanned_events: flag, unplanned_properties: flag, violations: reject}
events:
  Signed Up:
    properties:
      plan: {enum: [free, pro]}
      seats: {type: integer, minimum: 1}
    required: [plan]
"""

TESTS = '''
import httpx
import pytest


@pytest.fixture
def amplitude_plan():
    return "plan.yaml"  # next to this file


def post(project, *events):
    return httpx.post(project.server_url, json={"api_key": project.api_key,
                                                "events": list(events)})


def test_bad_events_are_read_back(amplitude_project):
    assert post(amplitude_project, {"event_type": "Clicked", "user_id": "user-0001"},
                {"event_type": "Signed Up", "user_id": "user-0001",
                 "event_properties": {"plan": "pro", "ref": "ad"}}).status_code == 200
    r = post(amplitude_project, {"event_type": "Signed Up", "user_id": "user-0001",
                                 "event_properties": {"plan": "pro", "seats": 0}})
    assert r.status_code == 400
    assert r.json()["events_with_invalid_fields"] == {"event_properties.seats": [0]}
    bad = amplitude_project.assert_bad_event("Clicked", kind="unplanned_event")
    assert (bad.disposition, bad.path, bad.request.path) == ("stored", "/event_type",
                                                             "/2/httpapi")
    seats = amplitude_project.assert_bad_event(kind="violation", rule_contains="minimum",
                                               path="/event_properties/seats")
    assert seats.disposition == "rejected" and seats.event["event_properties"]["seats"] == 0
    assert [b.kind for b in amplitude_project.bad_events()] == [
        "violation", "unplanned_property", "unplanned_event"]
    assert len(amplitude_project.bad_events(disposition="stored")) == 2
    amplitude_project.assert_no_bad_events(kind="rejected_request")
    amplitude_project.assert_event("Clicked", count=1)
    amplitude_project.assert_no_event("Signed Up", event_properties={"seats": 0})


def test_a_clean_run(amplitude_project):
    post(amplitude_project, {"event_type": "Signed Up", "user_id": "user-0002",
                             "event_properties": {"plan": "free", "seats": 2}})
    amplitude_project.assert_no_bad_events()
    for helper in (amplitude_project.assert_no_bad_events, amplitude_project.assert_bad_event,
                   amplitude_project.bad_events):
        with pytest.raises(ValueError, match="kind: one of violation, unplanned_event, "
                                             "unplanned_property, rejected_request, "
                                             "properties_limit, not 'violations'"):
            helper(kind="violations")
    for helper in (amplitude_project.assert_bad_event, amplitude_project.bad_events):
        with pytest.raises(ValueError, match="disposition: 'stored' or 'rejected', not 'stord'"):
            helper(disposition="stord")


class TestAnotherPlan:
    @pytest.fixture
    def amplitude_plan(self):
        return {"events": {"Opened": None}, "policy": {"unplanned_events": "reject"}}

    def test_its_own_plan(self, amplitude_project):
        assert post(amplitude_project, {"event_type": "Signed Up",
                                        "user_id": "user-0001"}).status_code == 400
        amplitude_project.assert_bad_event("Signed Up", kind="unplanned_event",
                                           disposition="rejected")


def test_no_plan_of_its_own_uses_the_servers(amplitude_server):
    project = amplitude_server.new_project()
    post(project, {"event_type": "Anything", "user_id": "user-0001"})
    assert project.bad_events() == []  # the conftest's server has no plan
    post(project, {"event_type": "Anything", "user_id": "abc"})  # refused: a too-short id
    project.assert_bad_event("Anything", kind="rejected_request", rule_contains="user_id")
    project.close()


def test_fails_listing_what_was_kept(amplitude_project):
    post(amplitude_project, {"event_type": "Clicked", "user_id": "user-0001"})
    amplitude_project.assert_no_bad_events()


def test_fails_when_none_matches(amplitude_project):
    post(amplitude_project, {"event_type": "Clicked", "user_id": "user-0001"})
    amplitude_project.assert_bad_event("Signed Up", kind="violation")
'''


def test_plan_per_test_helpers_and_readable_failures(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", plan=PLAN_YAML)
    pytester.makepyfile(test_plans=TESTS)
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines([
        "E       AssertionError: expected no bad events; the server kept 1:",
        "E         #1 unplanned_event 'Clicked' /event_type: 'Clicked' is not a planned event "
        "type (stored, /2/httpapi)",
    ])
    result.stdout.fnmatch_lines([
        "E       AssertionError: expected a bad event with event_type='Signed Up', "
        "kind='violation'; the server kept 1:",
        "E         #1 unplanned_event 'Clicked' *",
    ])
    assert "ampkit/testing/project.py" not in result.stdout.str()


SHARED = '''
import httpx
import pytest


def test_a_plan_per_test_is_skipped(amplitude_project):
    pass


@pytest.fixture
def amplitude_plan():
    return {"events": {}}


def test_bad_events_of_this_test_only(amplitude_server):
    project = amplitude_server.new_project()
    httpx.post(project.server_url, json={"api_key": project.api_key, "events": [
        {"event_type": "Clicked", "user_id": project.id("alice")}]})
    (mine,) = project.bad_events()
    assert mine.event["user_id"] == project.id("alice")
'''


def test_a_shared_server_checks_its_own_plan(pytester: pytest.Pytester,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    with shared_run(pytester, monkeypatch, SHARED, project_id=4, key="plan-shared-key-01",
                    secret="plan-shared-secret-01", plan={"events": {"Opened": None}},
                    other={"event_type": "Clicked", "user_id": "someone-else"}) as (_, result):
        result.assert_outcomes(passed=1, skipped=1)
        result.stdout.fnmatch_lines(["SKIPPED * a tracking plan per test needs a project of "
                                     "the test's own*"])


def test_the_readme_tracking_plan_example_runs(pytester: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    section = README.read_text().split("### Tracking plans\n", 1)[1].split("\n## ", 1)[0]
    section = section.split("\n### ", 1)[0]
    (plan,) = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    (tests,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    pytester.makefile(".yaml", **{"tracking-plan": plan})
    pytester.makepyfile(test_tracking_plan=tests)
    for name in [n for n in os.environ if n.startswith("AMPLITUDE_")]:
        monkeypatch.delenv(name)
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    check = invoke("plan", "check", str(pytester.path / "tracking-plan.yaml"))
    assert check.returncode == 0, check.stderr
    assert "2 events, 1 user property" in check.stdout


def test_the_readme_inspector_example_runs(pytester: pytest.Pytester,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    section = README.read_text().split("### Looking at what arrived: the event inspector\n",
                                       1)[1].split("\n## ", 1)[0]
    (tests,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    pytester.makepyfile(test_inspect=tests)
    for name in [n for n in os.environ if n.startswith("AMPLITUDE_")]:
        monkeypatch.delenv(name)
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
