"""Answers → models: every real fixture body, the documented shapes and their quirks."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

from ampkit.core.spec import RawResponse
from ampkit.dashboard import (
    annotations,
    charts,
    cohorts,
    queries,
    taxonomy,
)
from ampkit.errors import APIStatusError, AuthError, InvalidRequest, NoData, RateLimited
from ampkit.models.dashboard import (
    CompositionResult,
    EventsListResult,
    FunnelResult,
    RealtimeResult,
    RetentionResult,
    RevenueLtvResult,
    SegmentationResult,
    SeriesRow,
    SessionAverageResult,
    SessionLengthResult,
    SetValue,
    TimeSeriesResult,
    UserActivityResult,
    UserSearchResult,
    UsersResult,
)
from ampkit.profile import parse as parse_profile


def ok(body: Any, status: int = 200) -> RawResponse:
    return RawResponse(status, {"content-type": "application/json"}, orjson.dumps(body))


def assert_strict(value: Any, where: str = "result") -> None:
    """Every field of every nested model is known (the production models keep extras)."""
    if isinstance(value, BaseModel):
        assert not value.model_extra, f"{where}: unknown fields {sorted(value.model_extra)}"
        for name in type(value).model_fields:
            assert_strict(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            assert_strict(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            assert_strict(item, f"{where}[{key!r}]")


# --- the real fixture bodies -------------------------------------------------------------


def responses(data_dir: str) -> Path:
    return Path(data_dir) / "fixtures" / "airbyte" / "responses"


PARSERS = {
    "users": lambda raw: queries.parse(UsersResult, raw),
    "sessions_average": lambda raw: queries.parse(SessionAverageResult, raw),
    "annotations": annotations.parse,
}


def test_every_fixture_body_is_accounted_for(data_dir: str) -> None:
    bodies = [p for p in responses(data_dir).glob("*.json")
              if not p.name.endswith(".expected.json")]
    assert bodies
    for path in bodies:
        family = path.name.split("__")[0]
        assert family in PARSERS or family.startswith("error_"), path.name


@pytest.mark.parametrize("family", sorted(PARSERS))
def test_fixture_bodies_parse_strictly(data_dir: str, family: str) -> None:
    paths = sorted(responses(data_dir).glob(f"{family}__*.json"))
    paths = [p for p in paths if not p.name.endswith(".expected.json")]
    assert paths
    for path in paths:
        raw = RawResponse(200, {}, path.read_bytes())
        result = PARSERS[family](raw)
        assert_strict(result, path.name)
        assert result.raw == json.loads(path.read_bytes())


def _airbyte_rows(result: TimeSeriesResult, family: str) -> list[dict[str, Any]]:
    """Our tidy rows reshaped like Airbyte's records, to compare with ``*.expected.json``."""
    by_date: dict[str, dict[str, Any]] = defaultdict(dict)
    for row in result.rows():
        by_date[row.x][row.label] = row.value
    if family == "users":
        return [{"date": d, "statistics": stats} for d, stats in by_date.items()]
    return [{"date": d, "length": v} for d, stats in by_date.items() for v in stats.values()]


@pytest.mark.parametrize("family", ["users", "sessions_average"])
def test_rows_match_the_expected_records(data_dir: str, family: str) -> None:
    for expected in sorted(responses(data_dir).glob(f"{family}__*.expected.json")):
        body = expected.with_name(expected.name.replace(".expected.json", ".json"))
        result = PARSERS[family](RawResponse(200, {}, body.read_bytes()))
        assert isinstance(result, TimeSeriesResult)
        assert _airbyte_rows(result, family) == json.loads(expected.read_bytes()), body.name


def test_users_one_series_details(data_dir: str) -> None:
    raw = RawResponse(200, {}, (responses(data_dir) / "users__one_series.json").read_bytes())
    result = queries.parse(UsersResult, raw)
    assert result.rows() == [SeriesRow("2021-01-01", "0", 1), SeriesRow("2021-01-02", "0", 5)]
    assert result.totals() == [0]
    assert result.series_meta and result.labels() == ["0"]


def test_error_envelope_fixture_is_invalid_request(data_dir: str) -> None:
    content = (responses(data_dir) / "error_400__invalid_chart_definition.json").read_bytes()
    for raw in (RawResponse(400, {}, content), RawResponse(200, {}, content)):
        with pytest.raises(InvalidRequest) as err:
            queries.parse(SegmentationResult, raw)
        assert err.value.status == 400
        assert "Invalid chart definition" in str(err.value)
        assert "Invalid user property country" in str(err.value)
        assert err.value.body["error"]["type"] == "invalid"


def test_annotations_minimal_fixture(data_dir: str) -> None:
    raw = RawResponse(200, {}, (responses(data_dir) / "annotations__minimal.json").read_bytes())
    result = annotations.parse(raw)
    assert [(a.id, a.label, a.date) for a in result.annotations] == [(1, "release", None)]


# --- documented shapes and quirks --------------------------------------------------------


def test_users_doc_example_with_string_series_meta() -> None:
    result = queries.parse(UsersResult, ok({"data": {"series": [[46109, 47542], [42845, 42626]],
                                      "seriesMeta": ["United States", "Canada"],
                                      "xValues": ["2017-08-14", "2017-08-15"]}}))
    assert result.labels() == ["United States", "Canada"]
    assert result.rows()[2] == SeriesRow("2017-08-14", "Canada", 42845)


def test_session_average_values_as_numbers_or_objects() -> None:
    result = queries.parse(SessionAverageResult, ok({"data": {
        "series": [[1204.02, {"setId": "abc", "value": 1197.41}]],
        "seriesCollapsed": [[{"setId": "abc", "value": 1200.0}]],
        "seriesMeta": [{"segmentIndex": 0}], "xValues": ["2017-08-14", "2017-08-15"]}}))
    assert [r.value for r in result.rows()] == [1204.02, 1197.41]
    assert isinstance(result.series[0][1], SetValue)
    assert result.totals() == [1200.0]
    assert_strict(result)


def test_segmentation_doc_shape_and_no_wrapper() -> None:
    body = {"series": [[273333, 1], [190351, 2]], "seriesLabels": ["United States", "Germany"],
            "seriesCollapsed": [[{"value": 273333}], [{"value": 190351}]],
            "xValues": ["2014-10-01", "2014-10-02"]}
    for result in (queries.parse(SegmentationResult, ok({"data": body})),
                   queries.parse(SegmentationResult, ok(body))):
        assert result.totals() == [273333, 190351]
        assert result.rows()[3] == SeriesRow("2014-10-02", "Germany", 2)
    compound = queries.parse(SegmentationResult, ok({"data": {"series": [[1]], "xValues": ["d"],
                                               "seriesLabels": [["US", "iOS"]]}}))
    assert compound.labels() == ["US; iOS"]


def test_session_length_composition_realtime() -> None:
    length = queries.parse(SessionLengthResult, ok({"data": {"series": [[0, 120408]],
                                                "xValues": ["0s-60s", "60s-120s"]}}))
    assert length.bins() == [("0s-60s", 0), ("60s-120s", 120408)]
    comp = queries.parse(CompositionResult, ok({"data": {"series": [[69643, 47419]],
                                          "seriesLabels": ["version"],
                                          "xValues": ["1.0", "(none)"]}}))
    assert comp.shares() == [("1.0", 69643), ("(none)", 47419)]
    rt = queries.parse(RealtimeResult, ok({"data": {"xValues": ["15:00", "15:05"],
                                     "seriesLabels": ["Today", "Yesterday"],
                                     "series": [[123, 144], [139, 111]]}}))
    assert rt.rows()[2] == SeriesRow("15:00", "Yesterday", 139)


def test_events_list() -> None:
    result = queries.parse(EventsListResult, ok({"data": [
        {"non_active": False, "value": "Add Content to Cart", "totals": 1505645, "deleted": False,
         "flow_hidden": False, "hidden": False, "display": "Add Content to Cart", "id": 3,
         "timeline_hidden": 0, "totals_delta": -5}]}))
    assert result.names() == ["Add Content to Cart"]
    assert result.events[0].timeline_hidden == 0
    assert_strict(result)


FUNNEL = {"data": [{
    "meta": {"segmentIndex": 0},
    "events": ["Search", "Select", "Play"],
    "cumulativeRaw": [163054, 161670, 157485],
    "cumulative": [1.0, 0.99, 0.96], "stepByStep": [1.0, 0.99, 0.97],
    "medianTransTimes": [0, 166444, 270194], "avgTransTimes": [0, 2175406, 5607243],
    "dayFunnels": {"series": [[125259, 123716, 118636], [126964, 125373, 119986]],
                   "xValues": ["2017-08-14", "2017-08-15"],
                   "formattedXValues": ["Aug 14", "Aug 15"]},
    "dayMedianTransTimes": {"series": [[0, 1, 2]], "xValues": ["2017-08-14"],
                            "formattedXValues": ["Aug 14"]},
    "dayAvgTransTimes": {"series": [[0, 1, 2]], "xValues": ["2017-08-14"],
                         "formattedXValues": ["Aug 14"]}}]}


def test_funnel_data_is_a_list() -> None:
    result = queries.parse(FunnelResult, ok(FUNNEL))
    assert_strict(result)
    steps = result.groups[0].steps()
    assert (steps[2].event, steps[2].users, steps[2].median_ms) == ("Play", 157485, 270194)
    assert result.rows()[1] == ("0", 1, "Select", 161670, 0.99)
    assert result.groups[0].day_funnels and result.groups[0].day_funnels.series[1][2] == 119986


def test_retention_shape() -> None:
    cell = {"count": 12864, "outof": 12864, "incomplete": False}
    result = queries.parse(RetentionResult, ok({"data": {
        "series": [{"dates": ["Aug 15", "Aug 14"],
                    "values": {"Aug 14": [cell, {"count": 9061, "outof": 12864,
                                                 "incomplete": True}],
                               "Aug 15": [{"count": 14720, "outof": 14720,
                                           "incomplete": False}]},
                    "combined": [{**cell, "retainedSetId": None}]}],
        "seriesMeta": [{"segmentIndex": 0, "eventIndex": 0}]}}))
    assert_strict(result)
    assert [r.cohort for r in result.rows()] == ["Aug 15", "Aug 14", "Aug 14"]
    assert result.rows()[2] == ("0", "Aug 14", 1, 9061, 12864, True)
    assert result.combined_rows()[0].retained == 12864


def test_revenue_ltv_gathers_r_n_d() -> None:
    result = queries.parse(RevenueLtvResult, ok({"data": {"seriesLabels": [""], "series": [{
        "dates": ["2021-10-02", "2021-10-01"],
        "values": {"2021-10-01": {"r1d": 9.99, "r2d": 19.98, "r90d": 742.52, "count": 110,
                                  "paid": 37, "total_amount": 781.39}}}]}}))
    assert_strict(result)
    values = result.series[0].values["2021-10-01"]
    assert values.returns == {1: 9.99, 2: 19.98, 90: 742.52} and values.paid == 37
    assert result.rows() == [("", "2021-10-01", 1, 9.99), ("", "2021-10-01", 2, 19.98),
                             ("", "2021-10-01", 90, 742.52)]


def test_user_search_match_and_nomatch() -> None:
    hit = queries.parse(UserSearchResult, ok({"type": "match_amplitude_id", "matches": [
        {"user_id": None, "amplitude_id": 356893043036, "last_device_id": "XIYp6",
         "platform": "Web", "country": "United States", "last_seen": "2022-02-01"}]}))
    assert hit.found and hit.amplitude_ids() == [356893043036]
    assert_strict(hit)
    miss = queries.parse(UserSearchResult, ok({"type": "nomatch", "matches": []}))
    assert not miss.found


def test_user_activity_profile_and_unknown_id() -> None:
    result = queries.parse(UserActivityResult, ok({
        "userData": {"user_id": "myusername", "canonical_amplitude_id": 12345,
                     "merged_amplitude_ids": [11111], "num_events": 142, "usage_time": 2570259,
                     "first_used": "2015-03-14", "revenue": 9.98, "device_ids": ["d1"],
                     "last_location": {"lat": 37.133, "lng": -122.241},
                     "properties": {"gender": "female"}},
        "events": [{"event_type": "Play", "event_time": "2015-04-22 10:00:00.000000",
                    "session_id": 1, "$insert_id": "x", "amplitude_id": 12345}]}))
    assert result.user_data.last_location and result.user_data.last_location.lat == 37.133
    assert result.events[0].insert_id == "x"
    zeroed = queries.parse(UserActivityResult, ok({"userData": {
        "num_sessions": 0, "purchases": 0, "revenue": 0, "merged_amplitude_ids": [],
        "num_events": 0, "canonical_amplitude_id": 1, "user_id": None, "last_location": None,
        "usage_time": 0, "last_device_id": None, "device_ids": []}, "events": []}))
    assert zeroed.user_data.user_id is None and zeroed.events == []
    assert_strict(zeroed)


def test_chart_json_views_and_csv() -> None:
    seg = charts.parse(ok({"data": {"series": [[1, 2]], "xValues": ["a", "b"]}}))
    assert seg.as_series() is not None and seg.as_funnel() is None
    fun = charts.parse(ok(FUNNEL))
    assert fun.as_funnel() is not None and fun.as_series() is None
    assert fun.raw == FUNNEL
    text = "\ufeff\"Date\",\"Users\"\n\"2024-01-01\",\"5\"\n"
    csv = charts.csv_parse(RawResponse(200, {"content-type": "text/csv"}, text.encode()), "c1")
    assert csv.rows() == [["Date", "Users"], ["2024-01-01", "5"]]
    with pytest.raises(NoData):
        charts.csv_parse(RawResponse(404, {}, b""), "c1")


def test_annotation_answers() -> None:
    v2 = annotations.create_parse(ok({"annotation": {
        "date": "2023-09-16", "details": "Added new user properties.", "id": 50079,
        "label": "Version 2.4 Release"}, "success": True}))
    assert (v2.id, v2.date) == (50079, "2023-09-16") and v2.raw["success"] is True
    v3 = annotations.create_parse(ok({"data": {
        "id": 12345, "start": "2025-11-01T07:00:00+00:00", "end": "2025-11-10T07:00:00+01:00",
        "label": "Feature X Release", "details": "x",
        "category": {"id": 45678, "name": "Releases"}, "chart_id": None}}))
    assert v3.category and v3.category.label == "Releases"
    assert_strict(v3)
    one = annotations.parse(ok({"data": {"id": 1, "label": "l"}}))
    assert len(one.annotations) == 1


def test_cohorts_list_doc_example() -> None:
    result = cohorts.parse(ok({"cohorts": [{
        "appId": 123456, "archived": False,
        "definition": {"version": 3, "cohortType": "UNIQUES", "andClauses": []},
        "description": "test description", "finished": True, "id": "id_12345",
        "name": "Test Cohort 1", "owners": ["demo@amplitude.com"], "viewers": [],
        "published": True, "size": 111, "type": "redshift", "lastMod": 1679437294,
        "createdAt": 1679437288, "lastComputed": 1679440233, "hidden": False,
        "metadata": None, "view_count": None, "popularity": None, "last_viewed": None,
        "chart_id": None, "edit_id": None, "is_predictive": False,
        "is_official_content": False, "location_id": None, "shortcut_ids": [],
        "syncMetadata": [{"target": "braze", "frequency": "hourly",
                          "last_successful": "2023-03-21T16:09:58.848454-07:00",
                          "last_failure": None, "params": {"user_id": "x"}}]}]}))
    assert_strict(result)
    cohort = result.by_name("Test Cohort 1")
    assert cohort and cohort.app_id == 123456 and cohort.created_at == 1679437288
    assert cohort.sync_metadata and cohort.sync_metadata[0].target == "braze"


def test_taxonomy_success_and_failures() -> None:
    cats = taxonomy.categories_parse(ok({"success": True, "data": [{"id": 1, "name": "Ads"}]}))
    assert cats.data[0].name == "Ads"
    ev = taxonomy.event_types_parse(ok({"success": True, "data": [
        {"event_type": "Play", "category": {"name": "Media"}, "is_active": True,
         "tags": "a,b"}]}))
    assert ev.data[0].category and ev.data[0].category.name == "Media"
    up = taxonomy.user_properties_parse(ok({"success": True, "data": {
        "user_property": "gp:plan", "type": "string", "deleted": False}}))
    assert up.data[0].user_property == "gp:plan"
    conflict = {"success": False, "errors": [{"message": "Attempted to operate on entity "
                                                         "event_category, id \"4129\", that "
                                                         "does not exist."}]}
    with pytest.raises(InvalidRequest) as err:
        taxonomy.categories_parse(ok(conflict, 409))
    assert err.value.status == 409 and "4129" in str(err.value) and err.value.rule == "conflict"
    with pytest.raises(NoData):
        taxonomy.event_properties_parse(ok({"success": False, "errors": []}, 404))


def test_shape_errors_and_non_json_become_ours() -> None:
    with pytest.raises(APIStatusError, match="unexpected answer shape"):
        queries.parse(UsersResult, ok({"data": {"series": "nope"}}))
    with pytest.raises(APIStatusError, match="not JSON"):
        queries.parse(UsersResult, RawResponse(200, {}, b"<html>"))


def test_profile_answers() -> None:
    body = {"userData": {"recommendations": [{
        "rec_id": "98765", "child_rec_id": "98765", "items": ["cookie"], "is_control": False,
        "recommendation_source": "model", "last_updated": 1608670720}],
        "user_id": "12345", "device_id": "ffff", "amp_props": {"library": "http/1.0"},
        "cohort_ids": None, "propensities": [{"prop": 0.5, "pred_id": "0x1", "prop_type":
                                              "score"}], "propensity": None}}
    profile = parse_profile(ok(body))
    assert profile.user_id == "12345" and profile.raw == body
    assert profile.recommendations and profile.recommendations[0].items == ["cookie"]
    assert_strict(profile)
    with pytest.raises(AuthError) as auth:
        parse_profile(RawResponse(401, {"content-type": "text/plain"}, b"Invalid Api-Key"))
    assert "Invalid Api-Key" in str(auth.value)
    for status in (200, 400):
        with pytest.raises(NoData, match="not seen before"):
            parse_profile(ok({"error": "User id and device id not seen before"}, status))
    with pytest.raises(RateLimited) as limited:
        parse_profile(ok({"error": "Number of requests per minute exceeds system limit. "
                                   "Contact Support if you need this limit raised"}, 200))
    assert "600 requests per minute" in limited.value.limit
