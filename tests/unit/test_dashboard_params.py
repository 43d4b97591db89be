"""Dashboard query models → the exact query-string pairs, and the rules they check."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl

import httpx
import pytest

from ampkit.dashboard import (
    annotations,
    charts,
    cohorts,
    queries,
    taxonomy,
)
from ampkit.dashboard.endpoint import checked
from ampkit.errors import InvalidRequest
from ampkit.models.dashboard import (
    HOURLY,
    AnnotationsQuery,
    ChartQuery,
    CohortDownloadQuery,
    CohortsQuery,
    CompositionQuery,
    CreateAnnotation,
    EventDef,
    EventsListQuery,
    Filter,
    FunnelQuery,
    GroupBy,
    RealtimeQuery,
    RetentionQuery,
    RevenueLtvQuery,
    SegmentationQuery,
    SegmentCondition,
    SessionAverageQuery,
    SessionLengthQuery,
    SessionsPerUserQuery,
    TaxonomyQuery,
    UserActivityQuery,
    UserSearchQuery,
    UsersQuery,
)

D1, D2 = dt.date(2021, 8, 1), dt.date(2021, 8, 31)


def test_users_pairs_and_spec() -> None:
    spec = queries.request(UsersQuery(start="20210101", end=dt.date(2021, 9, 1), interval=30,
                                    group_by="city"))
    assert (spec.method, spec.path, spec.family, spec.auth, spec.limit_class) == (
        "GET", "/api/2/users", "analytics", "basic", "dashboard")
    assert spec.params == (("start", "20210101"), ("end", "20210901"), ("m", "active"),
                           ("i", "30"), ("g", "city"))


def test_new_users_with_segment_and_interval_name() -> None:
    q = UsersQuery(start=D1, end=D2, metric="new", interval="weekly",
                   segment=[SegmentCondition(prop="platform", op="is", values=["iOS"])])
    assert q.params() == (("start", "20210801"), ("end", "20210831"), ("m", "new"), ("i", "7"),
                          ("s", '[{"prop":"platform","op":"is","values":["iOS"]}]'))


def test_dates_from_datetime_and_dashed_strings() -> None:
    q = SessionAverageQuery(start=dt.datetime(2017, 8, 14, 23, 5), end="2017-08-15")
    assert queries.request(q).params == (("start", "20170814"), ("end", "20170815"))
    assert queries.request(q).path == "/api/2/sessions/average"
    p = SessionsPerUserQuery(start=D1, end=D1)
    assert queries.request(p).path == "/api/2/sessions/peruser"


def test_session_length_bins() -> None:
    q = SessionLengthQuery(start=D1, end=D2, bin_unit="minutes", bin_min=0, bin_max=10,
                           bin_size=1)
    assert queries.request(q).params == (
        ("start", "20210801"), ("end", "20210831"),
        ("timeHistogramConfigBinTimeUnit", "minutes"), ("timeHistogramConfigBinMin", "0"),
        ("timeHistogramConfigBinMax", "10"), ("timeHistogramConfigBinSize", "1"))
    with pytest.raises(InvalidRequest) as err, checked():
        SessionLengthQuery(start=D1, end=D2, bin_size=60)
    assert err.value.field == "bin_min"


def test_composition_events_list_realtime() -> None:
    assert queries.request(CompositionQuery(start=D1, end=D1, prop="gp:plan")).params == (
        ("start", "20210801"), ("end", "20210801"), ("p", "gp:plan"))
    assert queries.request(EventsListQuery()).params == ()
    assert queries.request(EventsListQuery()).path == "/api/2/events/list"
    assert queries.request(RealtimeQuery()).params == (("i", "5"),)


def test_segmentation_doc_example() -> None:
    q = SegmentationQuery(
        event=EventDef(event_type="watch_tutorial", group_by=[GroupBy(type="user",
                                                                      value="city")]),
        start=D1, end=D2, interval=30,
        segment=[{"prop": "os", "op": "is", "values": ["(none)"]}],
    )
    assert queries.request(q).params == (
        ("e", '{"event_type":"watch_tutorial","group_by":[{"type":"user","value":"city"}]}'),
        ("start", "20210801"), ("end", "20210831"), ("m", "uniques"), ("i", "30"),
        ("s", '[{"prop":"os","op":"is","values":["(none)"]}]'))


def test_segmentation_every_option() -> None:
    q = SegmentationQuery(
        event="A", second_event=EventDef(event_type="B", filters=[Filter(
            subprop_type="event", subprop_key="EmailVerified", subprop_op="is",
            subprop_value=[True])]),
        start=D1, end=D1, metric="formula", formula="UNIQUES(A)/UNIQUES(B)", user_type="any",
        interval=HOURLY, group_by="country", group_by2="gp:plan", limit=1000, rolling_window=3,
        rolling_average=2,
    )
    assert q.params() == (
        ("e", '{"event_type":"A"}'),
        ("e2", '{"event_type":"B","filters":[{"subprop_type":"event","subprop_key":'
               '"EmailVerified","subprop_op":"is","subprop_value":["true"]}]}'),
        ("start", "20210801"), ("end", "20210801"), ("m", "formula"), ("n", "any"),
        ("i", "-3600000"), ("g", "country"), ("g2", "gp:plan"), ("limit", "1000"),
        ("formula", "UNIQUES(A)/UNIQUES(B)"), ("rollingWindow", "3"), ("rollingAverage", "2"))


def test_json_is_url_encoded_exactly_once_by_httpx() -> None:
    spec = queries.request(SegmentationQuery(event="Play Song", start=D1, end=D1))
    url = httpx.Request("GET", "https://amplitude.com" + spec.path, params=list(spec.params)).url
    assert b"Play%20Song" in url.query or b"Play+Song" in url.query
    assert b"%7B%22event_type%22" in url.query  # {"event_type" encoded once
    assert tuple(parse_qsl(url.query.decode())) == spec.params


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit": 1001}, "limit"),
        ({"limit": 0}, "limit"),
        ({"metric": "sums"}, "metric"),
        ({"metric": "formula"}, "formula"),
        ({"formula": "UNIQUES(A)"}, "formula"),
        ({"group_by2": "city"}, "group_by2"),
        ({"interval": HOURLY, "end": D1 + dt.timedelta(days=7)}, "end"),
        ({"interval": -300000, "end": D1 + dt.timedelta(days=2)}, "end"),
        ({"end": D1 + dt.timedelta(days=365)}, "end"),
        ({"end": D1 - dt.timedelta(days=1)}, "end"),
        ({"interval": 3}, "interval"),
        ({"start": "2021-13-01"}, "start"),
        ({"event": ""}, "event.event_type"),
    ],
)
def test_segmentation_rules_name_field_and_rule(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"event": "A", "start": D1, "end": D1, **kwargs}
    with pytest.raises(InvalidRequest) as err, checked("/api/2/events/segmentation"):
        SegmentationQuery(**args)  # type: ignore[arg-type]
    assert err.value.field == field
    assert err.value.rule
    assert field in str(err.value) and "nothing was sent" in str(err.value)


def test_ranges_at_the_cap_are_accepted() -> None:
    SegmentationQuery(event="A", start=D1, end=D1 + dt.timedelta(days=6), interval="hourly")
    SegmentationQuery(event="A", start=D1, end=D1 + dt.timedelta(days=364))
    UsersQuery(start=D1, end=D1 + dt.timedelta(days=800), interval=30)


def test_segment_condition_rules() -> None:
    with pytest.raises(InvalidRequest) as err, checked():
        UsersQuery(start=D1, end=D1, segment=[{"op": "is", "values": ["x"]}])
    assert err.value.field == "segment.conditions.0.prop"
    with pytest.raises(InvalidRequest) as err, checked():
        SegmentCondition(op=">=", type="event")
    assert err.value.field == "event_type"
    who = SegmentCondition(op=">=", type="event", event_type="signup - end signup", value=0,
                           time_type="forEachInterval", time_value=30)
    assert who.to_json() == {"op": ">=", "type": "event", "event_type": "signup - end signup",
                             "filters": [], "value": 0, "time_type": "forEachInterval",
                             "time_value": 30}


def test_funnel_repeats_e_per_step() -> None:
    q = FunnelQuery(steps=["event_one", "event_two", EventDef(event_type="event_three")],
                    start="20210801", end="20210926", mode="unordered", conversion_window=3,
                    limit=100)
    spec = queries.request(q)
    assert spec.path == "/api/2/funnels"
    assert spec.params == (
        ("e", '{"event_type":"event_one"}'), ("e", '{"event_type":"event_two"}'),
        ("e", '{"event_type":"event_three"}'), ("start", "20210801"), ("end", "20210926"),
        ("mode", "unordered"), ("i", "1"), ("cs", "3"), ("limit", "100"))
    q2 = FunnelQuery(steps=["a", "b"], start=D1, end=D1, user_type="new", group_by="city",
                     conversion_window=dt.timedelta(days=1))
    assert ("cs", "86400") in q2.params() and ("n", "new") in q2.params()
    with pytest.raises(InvalidRequest) as err, checked():
        FunnelQuery(steps=[], start=D1, end=D1)
    assert err.value.field == "steps"


def test_retention_pairs() -> None:
    q = RetentionQuery(start_event="_active", return_event="watch_tutorial", start=D1, end=D2,
                       method="rolling")
    assert queries.request(q).params == (
        ("se", '{"event_type":"_active"}'), ("re", '{"event_type":"watch_tutorial"}'),
        ("start", "20210801"), ("end", "20210831"), ("rm", "rolling"), ("i", "1"))
    b = RetentionQuery(start_event="_new", return_event="_all", start=D1, end=D2,
                       method="bracket", brackets=[(0, 5), (5, 8)], interval=7, group_by="os")
    assert b.params()[4:] == (("rm", "bracket"), ("rb", "[[0,5],[5,8]]"), ("i", "7"),
                              ("g", "os"))
    for kwargs, field in (({"method": "bracket"}, "brackets"),
                          ({"brackets": [(0, 5)]}, "brackets"),
                          ({"method": "bracket", "brackets": [(3, 3)]}, "brackets"),
                          ({"interval": HOURLY}, "interval")):
        with pytest.raises(InvalidRequest) as err, checked():
            RetentionQuery(start_event="a", return_event="b", start=D1, end=D1, **kwargs)
        assert err.value.field == field


def test_revenue_ltv_pairs() -> None:
    q = RevenueLtvQuery(start=D1, end=D2, metric="arppu", interval=30)
    assert queries.request(q).params == (("start", "20210801"), ("end", "20210831"),
                                         ("m", "1"), ("i", "30"))
    assert queries.request(q).path == "/api/2/revenue/ltv"
    assert RevenueLtvQuery(start=D1, end=D1).params()[2] == ("m", "0")


def test_user_search_and_activity_use_the_user_bucket() -> None:
    s = queries.request(UserSearchQuery(user="myusername"))
    assert (s.path, s.params, s.limit_class) == ("/api/2/usersearch", (("user", "myusername"),),
                                                 "user")
    a = queries.request(UserActivityQuery(amplitude_id="12345", offset=1000, limit=500,
                                                direction="earliest"))
    assert (a.path, a.limit_class) == ("/api/2/useractivity", "user")
    assert a.params == (("user", "12345"), ("offset", "1000"), ("limit", "500"),
                        ("direction", "earliest"))
    with pytest.raises(InvalidRequest) as err, checked():
        UserActivityQuery(amplitude_id=1, limit=1001)
    assert err.value.field == "limit"


def test_chart_paths_and_id_check() -> None:
    assert charts.request(ChartQuery(chart_id="abc123")).path == "/api/3/chart/abc123/query"
    assert charts.csv_request(ChartQuery(chart_id="abc123")).path == "/api/3/chart/abc123/csv"
    with pytest.raises(InvalidRequest) as err, checked():
        ChartQuery(chart_id="../admin")
    assert err.value.field == "chart_id"


def test_annotations_v2_and_v3_lists() -> None:
    assert annotations.request(AnnotationsQuery()).path == "/api/2/annotations"
    assert annotations.request(AnnotationsQuery(id=7)).params == (("id", "7"),)
    v3 = annotations.request(AnnotationsQuery(
        api="v3", category="Releases", start=dt.datetime(2025, 11, 1, 7),
        end=dt.datetime(2025, 11, 10, 7, tzinfo=dt.timezone(dt.timedelta(hours=1)))))
    assert v3.path == "/api/3/annotations"
    assert v3.params == (("category", "Releases"), ("start", "2025-11-01T07:00:00+00:00"),
                         ("end", "2025-11-10T07:00:00+01:00"))
    assert annotations.request(AnnotationsQuery(api="v3", id=12345)).path == (
        "/api/3/annotations/12345")
    with pytest.raises(InvalidRequest) as err, checked():
        AnnotationsQuery(category="x")
    assert (err.value.field, err.value.rule) == ("category", "only with api='v3'")
    with pytest.raises(InvalidRequest), checked():
        AnnotationsQuery(api="v3", category="x", chart_id="y")


def test_create_annotation_v2_is_query_params_v3_is_json() -> None:
    v2 = annotations.create_request(CreateAnnotation(
        label="Version 2.4 Release", date="2023-09-16", app_id=153957,
        details="Added new user properties."))
    assert (v2.method, v2.path, v2.content) == ("POST", "/api/2/annotations", None)
    assert v2.params == (("app_id", "153957"), ("date", "2023-09-16"),
                         ("label", "Version 2.4 Release"),
                         ("details", "Added new user properties."))
    v3 = annotations.create_request(CreateAnnotation(
        label="Feature X Release", start=dt.datetime(2025, 11, 1, 7, tzinfo=dt.UTC),
        category="Releases", chart_id="abc"))
    assert (v3.method, v3.path, v3.params) == ("POST", "/api/3/annotations", ())
    assert v3.content == (b'{"label":"Feature X Release","start":"2025-11-01T07:00:00+00:00",'
                          b'"category":"Releases","chart_id":"abc"}')
    assert ("Content-Type", "application/json") in v3.headers
    for kwargs, field in (({}, "date"), ({"date": "2023-09-16"}, "app_id"),
                          ({"date": "2023-09-16", "start": "2023-09-16T00:00:00"}, "date"),
                          ({"start": "2025-11-02T00:00:00", "end": "2025-11-01T00:00:00"},
                           "end")):
        with pytest.raises(InvalidRequest) as err, checked():
            CreateAnnotation(label="x", **kwargs)
        assert err.value.field == field


def test_cohort_specs() -> None:
    assert cohorts.request(CohortsQuery()).params == ()
    assert cohorts.request(CohortsQuery(include_sync_info=True)).params == (
        ("includeSyncInfo", "true"),)
    d = cohorts.download_request(CohortDownloadQuery(cohort_id="5mjbq8w", props=True,
                                                     prop_keys=["city", "gp:plan"]))
    assert d.path == "/api/5/cohorts/request/5mjbq8w"
    assert d.params == (("props", "1"), ("propKeys", "city"), ("propKeys", "gp:plan"))
    assert cohorts.status_request("r/1").path == "/api/5/cohorts/request-status/r%2F1"
    assert cohorts.file_request("r1").path == "/api/5/cohorts/request/r1/file"
    with pytest.raises(InvalidRequest) as err, checked():
        CohortDownloadQuery(cohort_id="c", prop_keys=["city"])
    assert err.value.field == "prop_keys"


def test_taxonomy_specs() -> None:
    cat = taxonomy.categories_request()
    assert (cat.path, cat.limit_class) == ("/api/2/taxonomy/category", "taxonomy")
    ev = taxonomy.event_types_request(TaxonomyQuery(show_deleted=True))
    assert (ev.path, ev.params) == ("/api/2/taxonomy/event", (("showDeleted", "true"),))
    props = taxonomy.event_properties_request(TaxonomyQuery(event_type="Play Song"))
    assert (props.method, props.form) == ("GET", (("event_type", "Play Song"),))
    assert taxonomy.event_properties_request(TaxonomyQuery()).form is None
    assert taxonomy.user_properties_request(TaxonomyQuery()).path == (
        "/api/2/taxonomy/user-property")
