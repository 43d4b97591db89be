"""Export, cohorts, charts, annotations and custom requests against the real server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson

from ampkit.actions import ActionRunner
from ampkit.actions.exports import ExportOutput
from ampkit.actions.project import (
    AnnotationOutput,
    AnnotationsOutput,
    ChartOutput,
    CohortMembersOutput,
    CohortsOutput,
    CustomOutput,
)

PROJECT_ID = 4242


def window() -> dict[str, str]:
    now = dt.datetime.now(dt.UTC)
    return {"start": (now - dt.timedelta(hours=1)).strftime("%Y%m%dT%H"),
            "end": now.isoformat()}


def test_export_returns_a_bounded_sample_and_the_total(runner: ActionRunner,
                                                       sent: Any) -> None:
    out = runner.run("export_events", {**window(), "sample_size": 2})
    assert isinstance(out, ExportOutput)
    assert out.success, out.error
    assert (out.total, len(out.sample), out.truncated, out.path) == (3, 2, True, None)
    assert {e["event_type"] for e in out.sample} <= {"Sign Up", "Purchase"}
    assert all("$insert_id" in e and "amplitude_id" in e for e in out.sample)
    empty = runner.run("export_events", {"start": "20200101T00", "end": "20200101T05"})
    assert isinstance(empty, ExportOutput)
    assert (empty.success, empty.total, empty.sample) == (True, 0, [])


def test_export_writes_a_jsonl_file(runner: ActionRunner, sent: Any, tmp_path: Path) -> None:
    target = tmp_path / "events.jsonl"
    out = runner.run("export_events", {**window(), "sample_size": 0, "path": str(target)})
    assert isinstance(out, ExportOutput)
    assert out.success, out.error
    assert (out.total, out.sample, out.path) == (3, [], str(target))
    lines = [orjson.loads(line) for line in target.read_bytes().splitlines()]
    assert sorted(e["event_type"] for e in lines) == ["Purchase", "Sign Up", "Sign Up"]
    again = runner.run("export_events", {**window(), "path": str(target)})
    assert not again.success and again.error is not None
    assert "exists" in again.error and "overwrite" in again.error
    assert runner.run("export_events", {**window(), "path": str(target),
                                         "overwrite": True}).success
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_export_input_rules(runner: ActionRunner, tmp_path: Path) -> None:
    out = runner.run("export_events", {"start": "20240301T00", "end": "20240501T00"})
    assert out.error is not None and out.error.startswith("invalid input: end: at most 744")
    out = runner.run("export_events", {"start": "20240301T05", "end": "20240301T04"})
    assert out.error is not None and "before start" in out.error
    out = runner.run("export_events", {"start": "2024030105", "end": "20240301T04"})
    assert out.error is not None and out.error.startswith("invalid input: start:")
    out = runner.run("export_events", {**window(), "path": str(tmp_path / "x.csv")})
    assert out.error is not None and "path: must end with .jsonl" in out.error
    out = runner.run("export_events", {**window(), "path": str(tmp_path / "no" / "x.jsonl")})
    assert out.error is not None and out.error.startswith("file error: no such folder")


def test_cohorts_list_and_members(runner: ActionRunner, sent: Any) -> None:
    upload = runner.run("custom_request", {
        "method": "POST", "path": "/api/3/cohorts/upload",
        "body": {"name": "Buyers", "app_id": PROJECT_ID, "id_type": "BY_USER_ID",
                 "ids": ["user-0001", "user-0002"], "owner": "me@example.com",
                 "published": True}})
    assert isinstance(upload, CustomOutput)
    assert upload.success, upload.error
    assert upload.code == 200 and isinstance(upload.data, dict)
    cohort_id = upload.data["cohortId"]
    out = runner.run("list_cohorts")
    assert isinstance(out, CohortsOutput)
    assert out.success, out.error
    assert [(c.id, c.name, c.size) for c in out.cohorts] == [(cohort_id, "Buyers", 2)]
    members = runner.run("cohort_members", {"cohort_id": cohort_id, "max_members": 1,
                                            "poll_interval": 0.05})
    assert isinstance(members, CohortMembersOutput)
    assert members.success, members.error
    assert (members.total, len(members.members), members.truncated) == (2, 1, True)
    assert members.members[0]["user_id"] in {"user-0001", "user-0002"}
    missing = runner.run("cohort_members", {"cohort_id": "nope", "poll_interval": 0.05})
    assert not missing.success and missing.code == 404


def test_chart_results(runner: ActionRunner, server: Any) -> None:
    for fmt in ("json", "csv"):
        out = runner.run("chart_results", {"chart_id": "abc123", "format": fmt})
        assert isinstance(out, ChartOutput)
        assert not out.success  # no saved chart on a local server (or no route yet)
        assert out.code == 404 and out.error is not None and "not found" in out.error
    out = runner.run("chart_results", {"chart_id": "../etc"})
    assert out.error is not None and out.error.startswith("invalid input: chart_id:")


def test_annotations_create_and_list(runner: ActionRunner) -> None:
    made = runner.run("create_annotation", {"label": "Release 2.0", "date": "20240301",
                                            "app_id": PROJECT_ID, "details": "big one"})
    assert isinstance(made, AnnotationOutput)
    assert made.success, made.error
    assert made.annotation is not None and made.annotation.date == "2024-03-01"
    v3 = runner.run("create_annotation", {"label": "Outage", "start": "2024-03-02T10:00:00Z",
                                          "end": "2024-03-02T12:00:00Z"})
    assert v3.success, v3.error
    listed = runner.run("list_annotations")
    assert isinstance(listed, AnnotationsOutput)
    assert listed.success, listed.error
    assert "Release 2.0" in [a.label for a in listed.annotations]
    v3_listed = runner.run("list_annotations", {"api": "v3"})
    assert isinstance(v3_listed, AnnotationsOutput)
    assert {"Release 2.0", "Outage"} <= {a.label for a in v3_listed.annotations}
    bad = runner.run("create_annotation", {"label": "No date"})
    assert bad.error is not None and "date" in bad.error
    bad = runner.run("list_annotations", {"category": "x"})
    assert bad.error is not None and "category" in bad.error and "v3" in bad.error


def test_custom_request(runner: ActionRunner, sent: Any) -> None:
    out = runner.run("custom_request", {"path": "/api/2/annotations"})
    assert isinstance(out, CustomOutput)
    assert (out.success, out.code) == (True, 200)
    assert out.data == {"data": []}
    out = runner.run("custom_request", {"path": "/health", "family": "ingest"})
    assert out.success and isinstance(out.data, dict) and out.data["status"] == "ok"
    out = runner.run("custom_request", {"path": "/api/2/annotations", "method": "POST",
                                        "params": {"app_id": str(PROJECT_ID)}})
    assert not out.success and out.code == 400
    out = runner.run("custom_request", {"path": "api/2/x"})
    assert out.error is not None and out.error.startswith("invalid input: path:")
