"""Every read action against the real server, after sending events.

The server's Dashboard query routes are being added; until a route exists the action must fail
cleanly (``success=False``, ``code=404``, a message), and once it exists it must succeed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ampkit.actions import REGISTRY, ActionOutput, ActionRunner, SeriesOutput
from ampkit.actions.modulex import EventSegmentationOutput, RealtimeActiveUsersOutput
from ampkit.actions.users import UserProfileOutput


def output_of(name: str) -> type[ActionOutput]:
    """An action's output model (the query actions' are made from their definitions)."""
    action = REGISTRY.get(name)
    assert action is not None
    output: type[ActionOutput] = action.output_model
    return output


def week(today: dt.date) -> dict[str, str]:
    return {"start": (today - dt.timedelta(days=6)).isoformat(), "end": today.isoformat()}


QUERIES: list[tuple[str, dict[str, Any], str]] = [
    ("event_segmentation", {"event": "Sign Up", "group_by": "country"},
     "/api/2/events/segmentation"),
    ("event_segmentation", {"event": {"event_type": "Purchase", "filters": [
        {"subprop_type": "event", "subprop_key": "$productId", "subprop_op": "is",
         "subprop_value": ["sku-1"]}]}, "metric": "totals", "interval": "weekly",
        "segment": [{"prop": "platform", "op": "is", "values": ["iOS"]}]},
     "/api/2/events/segmentation"),
    ("active_users", {}, "/api/2/users"),
    ("active_users", {"metric": "new", "group_by": "platform"}, "/api/2/users"),
    ("revenue_ltv", {"metric": "total"}, "/api/2/revenue/ltv"),
    ("funnel", {"steps": ["Sign Up", "Purchase"], "conversion_window": 86400},
     "/api/2/funnels"),
    ("retention", {"start_event": "Sign Up", "return_event": "_all"}, "/api/2/retention"),
    ("retention", {"start_event": "_new", "return_event": "Purchase", "method": "bracket",
                   "brackets": [[0, 7], [7, 14]]}, "/api/2/retention"),
    ("average_session_length", {}, "/api/2/sessions/average"),
    ("sessions_per_user", {}, "/api/2/sessions/peruser"),
    ("session_length_distribution", {}, "/api/2/sessions/length"),
    ("composition", {"prop": "country"}, "/api/2/composition"),
]


@pytest.mark.parametrize(("name", "args", "path"), QUERIES,
                         ids=[f"{q[0]}-{i}" for i, q in enumerate(QUERIES)])
def test_dated_query(runner: ActionRunner, server: Any, sent: Any, today: dt.date,
                     name: str, args: dict[str, Any], path: str) -> None:
    out = runner.run(name, {**week(today), **args})
    if server.expect(out, path):
        if isinstance(out, SeriesOutput):
            assert out.result is not None
            assert all(p.label for p in out.points)
        elif isinstance(out, EventSegmentationOutput):  # ModuleX's contract: top-level series
            assert out.x_values and len(out.series) == len(out.series_labels) >= 1
            assert all(p.label for p in out.points)
        else:
            assert isinstance(out, output_of(name))
            assert out.result is not None  # type: ignore[attr-defined]


def test_realtime_and_events_list(runner: ActionRunner, server: Any, sent: Any) -> None:
    out = runner.run("realtime_active_users", {})
    assert isinstance(out, RealtimeActiveUsersOutput)
    if server.expect(out, "/api/2/realtime"):
        assert out.series_labels == ["Today", "Yesterday"]
    out = runner.run("list_events")
    assert isinstance(out, output_of("list_events"))
    if server.expect(out, "/api/2/events/list"):
        assert {"Sign Up", "Purchase"} <= set(out.names)  # type: ignore[attr-defined]


def test_user_search_activity_and_profile(runner: ActionRunner, server: Any,
                                          sent: Any) -> None:
    amplitude_id = server.get("/_ampkit/users/user-0001")["amplitude_id"]
    out = runner.run("user_search", {"user": "user-0001"})
    assert isinstance(out, output_of("user_search"))
    if server.expect(out, "/api/2/usersearch?user=user-0001"):
        assert out.amplitude_ids == [amplitude_id]  # type: ignore[attr-defined]
    out = runner.run("user_activity", {"amplitude_id": amplitude_id, "limit": 10})
    assert isinstance(out, output_of("user_activity"))
    if server.expect(out, f"/api/2/useractivity?user={amplitude_id}"):
        events: Any = out.events  # type: ignore[attr-defined]
        assert {e.event_type for e in events} == {"Sign Up", "Purchase"}
    out = runner.run("user_profile", {"user_id": "user-0001", "get_amp_props": True,
                                      "get_cohort_ids": True})
    assert isinstance(out, UserProfileOutput)
    assert out.success, out.error
    assert out.user_id == "user-0001"
    assert out.amp_props is not None and "first_used" in out.amp_props


def test_query_rules_are_checked_before_sending(runner: ActionRunner, today: dt.date) -> None:
    out = runner.run("event_segmentation", {"event": "Sign Up", "start": today.isoformat(),
                                            "end": (today - dt.timedelta(days=3)).isoformat()})
    assert not out.success and out.code is None
    assert out.error is not None and "end" in out.error and "before start" in out.error
    out = runner.run("session_length_distribution", {**week(today), "bin_size": 5})
    assert out.error is not None and "bin_min" in out.error
    out = runner.run("retention", {**week(today), "start_event": "A", "return_event": "B",
                                   "method": "bracket"})
    assert out.error is not None and "brackets" in out.error
    out = runner.run("active_users", {**week(today), "interval": "hourly"})
    assert out.error is not None and out.error.startswith("invalid input: interval:")


def test_unknown_user_profile_is_a_clean_failure(runner: ActionRunner) -> None:
    out = runner.run("user_profile", {"user_id": "nobody-here"})
    assert not out.success
    assert out.error is not None and "not seen before" in out.error


@pytest.mark.parametrize(("metric", "expected"), [("sums", 12), ("value_avg", 6)])
def test_modulex_property_metrics_measure_the_group_by_property(
    runner: ActionRunner, today: dt.date, metric: str, expected: float,
) -> None:
    """ModuleX's event_segmentation has only event_type and group_by: with histogram, sums or
    value_avg its group_by is the event property measured (it was refused, naming `e`, which
    ModuleX users do not have)."""
    sent = runner.run("send_events", {"events": [
        {"event_type": "Table Click", "user_id": "user-0001", "event_properties": {"amount": a}}
        for a in (5, 7)]})
    assert sent.success, sent.error
    day = today.strftime("%Y%m%d")
    out = runner.run("event_segmentation", {"event_type": "Table Click", "start": day,
                                            "end": day, "metric": metric, "group_by": "amount"})
    assert out.success, out.error
    assert isinstance(out, EventSegmentationOutput)
    assert out.series == [[expected]]
