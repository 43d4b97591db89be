"""Contract tests, one per Dashboard endpoint declaration (:data:`ampkit.models.endpoints.DEFS`):
the query model the client writes is what the local server reads, and the server's answer is
what the client's result model reads.

For every definition:

- representative queries (the defaults; every optional field set; the server's extras such as
  several segments) and, property-based, generated ones (hypothesis, bounded and derandomized)
  come back equal from their own query-string pairs: ``from_wire(Model, to_wire(q)) == q``;
- each is sent to a real ``ampkit serve`` (a thread, seeded with a few events) as exactly those
  pairs, is answered 200, and the body parses **strictly** with ``DEF.result.from_body`` —
  strictly: every key of the answer, at every depth, is a field of the result models (they
  keep unknown keys, ``extra="allow"``; here none may be left over);
- the real Amplitude bodies in ``tests/fixtures/airbyte/responses/`` parse strictly with the
  result models of their endpoints.

Generated queries keep to what the seeded project knows (its event types and user
properties; Amplitude answers an unknown one with 400) and avoid empty segments (a single
empty segment is not sent: it reads back as no segment, which computes the same).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from tests.server.conftest import KEY, SECRET, config

from ampkit.models.dashboard.annotations import AnnotationsResult
from ampkit.models.dashboard.common import (
    FILTER_OPS,
    FIRST_DAY,
    HOURLY,
    LAST_DAY,
    REALTIME,
    WHO_OPS,
    DashboardQuery,
    EventDef,
    Filter,
    GroupBy,
    SegmentCondition,
)
from ampkit.models.dashboard.composition import CompositionQuery
from ampkit.models.dashboard.events import EventsListQuery
from ampkit.models.dashboard.funnels import FunnelQuery
from ampkit.models.dashboard.realtime import RealtimeQuery
from ampkit.models.dashboard.retention import RetentionQuery
from ampkit.models.dashboard.revenue import RevenueLtvQuery
from ampkit.models.dashboard.segmentation import PROPERTY_METRICS, SegmentationQuery
from ampkit.models.dashboard.sessions import (
    SessionAverageQuery,
    SessionLengthQuery,
    SessionsPerUserQuery,
)
from ampkit.models.dashboard.user_activity import UserActivityQuery
from ampkit.models.dashboard.user_search import UserSearchQuery
from ampkit.models.dashboard.users import UsersQuery
from ampkit.models.endpoints import BY_PATH, DEFS, DEFS_LIST, EndpointDef
from ampkit.models.wire import from_wire, to_wire, wire_fields
from ampkit.server import serve_in_thread
from ampkit.server.openapi import document
from ampkit.server.query.endpoints import ENDPOINTS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "airbyte" / "responses"
T0 = 1_709_294_400_000  # 2024-03-01 12:00 UTC
HOUR = 3_600_000
D1, D2, D5 = dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 5)
EVENT_TYPES = ("open", "play", "buy")
SPECIAL = ("_active", "_all", "revenue_amount")
USER_PROPS = ("country", "platform", "gp:plan")
EVENT_PROPS = ("n", "kind")
AMPLITUDE_ID = "amplitude_id"  # filled in by the server fixture
EXAMPLES = 25
SERVER_EXAMPLES = 8


def seed_events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for u in range(4):
        for k, etype in enumerate(["open", "play", "buy", "open", "play"]):
            event: dict[str, Any] = {
                "event_type": etype, "user_id": f"user-{u}", "device_id": f"device-{u}",
                "time": T0 + u * 20 * HOUR + k * 90_000, "session_id": T0 + u * 20 * HOUR,
                "platform": ["iOS", "Web"][u % 2], "country": ["US", "FR"][u % 2],
                "event_properties": {"n": k + u, "kind": "ab"[u % 2]},
                "user_properties": {"plan": ["free", "pro"][u % 2]}}
            if etype == "buy":
                event.update(price=2.5, quantity=u + 1, revenue=2.5 * (u + 1))
            out.append(event)
    return out


@pytest.fixture(scope="module")
def server() -> Iterator[httpx.Client]:
    """A client of the seeded server, for the module: one client (httpx builds an SSL context,
    some 20 ms of CPU, for each) and its keep-alive connection for every query."""
    srv = serve_in_thread(config(throttle_enabled=False))
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            r = http.post("/2/httpapi", json={"api_key": KEY, "events": seed_events()})
            assert r.status_code == 200, r.text
        with httpx.Client(base_url=srv.url, auth=(KEY, SECRET), timeout=60) as http:
            yield http
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def amplitude_id(server: httpx.Client) -> int:
    r = server.get("/api/2/usersearch", params={"user": "user-1"})
    ids: list[int] = [m["amplitude_id"] for m in r.json()["matches"]]
    return ids[0]


# --- strictness --------------------------------------------------------------------------------


def unknown_keys(value: Any, where: str = "") -> list[str]:
    """Every key a model kept as an extra (``extra="allow"``), at any depth, with its place."""
    if isinstance(value, BaseModel):
        out = [f"{where}.{key}" for key in value.model_extra or {}]
        for name in type(value).model_fields:
            out += unknown_keys(getattr(value, name), f"{where}.{name}")
        return out
    if isinstance(value, list | tuple):
        return [k for i, item in enumerate(value) for k in unknown_keys(item, f"{where}[{i}]")]
    if isinstance(value, dict):
        return [k for key, item in value.items() for k in unknown_keys(item, f"{where}[{key}]")]
    return []


def strict(definition: EndpointDef | type[Any], body: Any) -> Any:
    """``body`` read with the definition's result model; no key may be left unknown."""
    model = definition.result if isinstance(definition, EndpointDef) else definition
    result = model.from_body(body)
    assert unknown_keys(result) == [], (model.__name__, unknown_keys(result), body)
    return result


def test_strictness_catches_an_unknown_key() -> None:
    body = {"data": {"xValues": ["2024-03-01"], "series": [[1]],
                     "seriesMeta": [{"segmentIndex": 0, "surprise": 1}]}}
    with pytest.raises(AssertionError, match="surprise"):
        strict(DEFS["users"], body)


# --- representative queries ----------------------------------------------------------------------

WHO = SegmentCondition(type="event", event_type="buy", op=">=", value=1,
                       time_type="currentInterval")
WEB = SegmentCondition(prop="platform", op="is", values=["Web"])
MEASURED = EventDef(event_type="open", group_by=[GroupBy(type="event", value="n")])
FILTERED = EventDef(event_type="play", filters=[Filter(
    subprop_type="event", subprop_key="kind", subprop_op="is", subprop_value=["a"])],
    group_by=[GroupBy(type="user", value="platform")])

REPRESENTATIVE: dict[str, list[Callable[[int], DashboardQuery]]] = {
    "users": [
        lambda _: UsersQuery(start=D1, end=D5),
        lambda _: UsersQuery(start=D1, end=D5, metric="new", interval=7, segment=[WEB],
                             group_by="country"),
        lambda _: UsersQuery(start=D1, end=D5, segment=[[WEB], [WHO]]),  # several segments
    ],
    "sessions_length": [
        lambda _: SessionLengthQuery(start=D1, end=D5),
        lambda _: SessionLengthQuery(start=D1, end=D5, bin_unit="minutes", bin_min=0,
                                     bin_max=10, bin_size=2.5),
    ],
    "sessions_average": [lambda _: SessionAverageQuery(start=D1, end=D5)],
    "sessions_per_user": [lambda _: SessionsPerUserQuery(start=D1, end=D5)],
    "composition": [
        lambda _: CompositionQuery(start=D1, end=D5, prop="country"),
        lambda _: CompositionQuery(start=D1, end=D5, prop="gp:plan"),
    ],
    "events_list": [lambda _: EventsListQuery()],
    "segmentation": [
        lambda _: SegmentationQuery(event="open", start=D1, end=D5),
        lambda _: SegmentationQuery(
            event=FILTERED, second_event="buy", start=D1, end=D2, metric="totals",
            user_type="any", interval=HOURLY, segment=[WEB], group_by="country", limit=5,
            rolling_window=2),
        lambda _: SegmentationQuery(
            event="open", second_event="buy", start=D1, end=D5, metric="formula",
            formula="UNIQUES(A)/UNIQUES(B)", user_type="active", interval=7,
            segment=[WHO], group_by="country", group_by2="platform", limit=10,
            rolling_average=2),
        lambda _: SegmentationQuery(event=MEASURED, start=D1, end=D5, metric="sums",
                                    group_by="gp:plan"),
        lambda _: SegmentationQuery(event=MEASURED, start=D1, end=D5, metric="histogram"),
        lambda _: SegmentationQuery(event="_active", start=D1, end=D5, metric="pct_dau",
                                    segment=[[WEB], [WHO]]),
    ],
    "funnels": [
        lambda _: FunnelQuery(steps=["open", "buy"], start=D1, end=D5),
        lambda _: FunnelQuery(steps=["open", FILTERED, "buy"], start=D1, end=D5,
                              mode="unordered", user_type="new", interval=7, segment=[WEB],
                              group_by="country", conversion_window=dt.timedelta(days=2),
                              limit=10),
        lambda _: FunnelQuery(steps=["_active", "buy"], start=D1, end=D5, mode="sequential",
                              user_type="active", segment=[[WEB], [WHO]]),
    ],
    "retention": [
        lambda _: RetentionQuery(start_event="open", return_event="play", start=D1, end=D5),
        lambda _: RetentionQuery(start_event="_new", return_event="_all", start=D1, end=D5,
                                 method="bracket", brackets=[(0, 2), (2, 5)], interval=7,
                                 segment=[WEB], group_by="platform"),
        lambda _: RetentionQuery(start_event=FILTERED, return_event="_active", start=D1,
                                 end=D5, method="rolling", segment=[[WEB], [WHO]]),
    ],
    "realtime": [lambda _: RealtimeQuery(), lambda _: RealtimeQuery(interval=5)],
    "revenue_ltv": [
        lambda _: RevenueLtvQuery(start=D1, end=D5),
        lambda _: RevenueLtvQuery(start=D1, end=D5, metric="arppu", interval=7,
                                  segment=[WEB], group_by="country"),
        lambda _: RevenueLtvQuery(start=D1, end=D5, metric="paying", segment=[[WEB], [WHO]]),
    ],
    "user_search": [
        lambda _: UserSearchQuery(user="user-1"),
        lambda _: UserSearchQuery(user="user-"),
        lambda amp: UserSearchQuery(user=str(amp)),
        lambda _: UserSearchQuery(user="nobody"),
    ],
    "user_activity": [
        lambda amp: UserActivityQuery(amplitude_id=amp),
        lambda amp: UserActivityQuery(amplitude_id=amp, offset=1, limit=2,
                                      direction="earliest"),
        lambda _: UserActivityQuery(amplitude_id=424242),
    ],
}
CASES = [(name, k) for name, makers in REPRESENTATIVE.items() for k in range(len(makers))]


def test_every_definition_has_queries_and_a_computer() -> None:
    assert set(REPRESENTATIVE) == set(DEFS)
    assert set(ENDPOINTS) == set(BY_PATH)
    for definition in DEFS_LIST:
        optional = [n for n, f in definition.query.model_fields.items()
                    if not f.is_required()]
        assert len(REPRESENTATIVE[definition.name]) >= (2 if optional else 1), definition.name


def query_answer(http: httpx.Client, definition: EndpointDef, q: DashboardQuery) -> Any:
    r = http.get(definition.path, params=list(to_wire(q)))
    assert r.status_code == 200, (definition.name, to_wire(q), r.text)
    return r.json()


@pytest.mark.parametrize(("name", "k"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_representative_query_round_trips_and_is_answered(server: httpx.Client,
                                                          amplitude_id: int, name: str,
                                                          k: int) -> None:
    definition = DEFS[name]
    q = REPRESENTATIVE[name][k](amplitude_id)
    assert isinstance(q, definition.query)
    assert from_wire(definition.query, to_wire(q)) == q
    strict(definition, query_answer(server, definition, q))


def test_the_answers_are_the_data() -> None:
    """Guards the representative queries: what they ask is in the seeded events."""
    types = {e["event_type"] for e in seed_events()}
    assert set(EVENT_TYPES) <= types
    assert {e["platform"] for e in seed_events()} == {"iOS", "Web"}


def test_several_segments_answer_one_series_each(server: httpx.Client) -> None:
    q = UsersQuery(start=D1, end=D5, segment=[[WEB], [SegmentCondition(
        prop="platform", op="is", values=["iOS"])]])
    assert [p for p in to_wire(q) if p[0] == "s"] == [
        ("s", '[{"prop":"platform","op":"is","values":["Web"]}]'),
        ("s", '[{"prop":"platform","op":"is","values":["iOS"]}]')]
    result = strict(DEFS["users"], query_answer(server, DEFS["users"], q))
    assert len(result.series) == 2
    web, ios = (sum(v or 0 for v in result.values(row)) for row in (0, 1))
    assert web > 0 and ios > 0


# --- generated queries --------------------------------------------------------------------------


def known_events() -> st.SearchStrategy[str]:
    return st.sampled_from(EVENT_TYPES + SPECIAL)


def filters() -> st.SearchStrategy[Filter]:
    return st.builds(
        Filter, subprop_type=st.sampled_from(["event", "user"]),
        subprop_key=st.sampled_from((*EVENT_PROPS, "platform", "gp:plan")),
        subprop_op=st.sampled_from(FILTER_OPS),
        subprop_value=st.lists(st.sampled_from(["a", "b", "Web", "1", "2.5", "(none)"]),
                               min_size=1, max_size=2))


def group_bys() -> st.SearchStrategy[GroupBy]:
    return st.one_of(st.builds(GroupBy, type=st.just("event"), value=st.sampled_from(EVENT_PROPS)),
                     st.builds(GroupBy, type=st.just("user"), value=st.sampled_from(USER_PROPS)))


def events(group_by: int = 1) -> st.SearchStrategy[EventDef]:
    plain = known_events()
    full = st.builds(EventDef, event_type=known_events(),
                     filters=st.lists(filters(), max_size=2),
                     group_by=st.lists(group_bys(), max_size=group_by))
    return st.one_of(plain.map(lambda t: EventDef(event_type=t)), full)


def conditions() -> st.SearchStrategy[SegmentCondition]:
    prop = st.builds(SegmentCondition, prop=st.sampled_from(USER_PROPS),
                     op=st.sampled_from(FILTER_OPS),
                     values=st.lists(st.sampled_from(["US", "Web", "pro", "1"]), min_size=1,
                                     max_size=2))
    who = st.builds(SegmentCondition, type=st.just("event"), event_type=known_events(),
                    op=st.sampled_from(WHO_OPS), value=st.integers(0, 3),
                    time_type=st.sampled_from(["forEachInterval", "currentInterval", "allTime"]),
                    time_value=st.none() | st.integers(0, 365),
                    filters=st.lists(filters(), max_size=1))
    return prop | who


def segments() -> st.SearchStrategy[list[list[SegmentCondition]]]:
    return st.lists(st.lists(conditions(), min_size=1, max_size=2), max_size=2)


def date_range(wide: bool, longest: int = 7) -> st.SearchStrategy[tuple[dt.date, dt.date]]:
    """Up to ``longest`` days: around the seeded events, or anywhere queries may name."""
    first, last = (FIRST_DAY, LAST_DAY) if wide else (dt.date(2024, 2, 25), dt.date(2024, 3, 6))
    return st.tuples(st.dates(first, last - dt.timedelta(days=longest)),
                     st.integers(0, longest - 1)).map(
        lambda p: (p[0], p[0] + dt.timedelta(days=p[1])))


COARSE = st.sampled_from([1, 7, 30, "daily", "weekly", "monthly"])
INTERVALS = st.sampled_from([1, 7, 30, HOURLY, "weekly", "hourly"])
GROUP = st.none() | st.sampled_from(USER_PROPS)
FORMULAS = ("UNIQUES(A)", "TOTALS(A) / UNIQUES(A)", "UNIQUES(A) - UNIQUES(B)",
            "PROPSUM(A) + 1", "-(AVERAGE(A))*2", "PROPMAX(B)/PROPCOUNT(A)")


@st.composite
def segmentation_kwargs(draw: st.DrawFn) -> dict[str, Any]:
    metric = draw(st.sampled_from(["uniques", "totals", "pct_dau", "average", "histogram",
                                   "sums", "value_avg", "formula"]))
    measured = metric in PROPERTY_METRICS
    event = draw(events()) if not measured else EventDef(
        event_type=draw(known_events()), group_by=[GroupBy(type="event", value="n")])
    out: dict[str, Any] = {"event": event, "metric": metric}
    if metric == "formula":
        out["formula"] = draw(st.sampled_from(FORMULAS))
        out["event"] = EventDef(event_type=draw(known_events()),
                                group_by=[GroupBy(type="event", value="n")])
    if draw(st.booleans()):
        out["second_event"] = EventDef(event_type=draw(known_events()),
                                       group_by=[GroupBy(type="event", value="n")])
    group = draw(GROUP)
    if group:
        out["group_by"] = group
        out["group_by2"] = draw(GROUP)
    if metric != "histogram":
        rolling = draw(st.sampled_from([None, "rolling_window", "rolling_average"]))
        if rolling:
            out[rolling] = draw(st.integers(1, 3))
    optional = {"user_type": st.sampled_from(["any", "active"]), "interval": INTERVALS,
                "segment": segments(), "limit": st.integers(1, 1000)}
    return out | draw(st.fixed_dictionaries({}, optional=optional))


KWARGS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "users": st.fixed_dictionaries({}, optional={
        "metric": st.sampled_from(["active", "new"]), "interval": COARSE,
        "segment": segments(), "group_by": GROUP}),
    "sessions_length": st.one_of(st.just({}), st.fixed_dictionaries({
        "bin_unit": st.sampled_from(["seconds", "minutes", "hours", "days"]),
        "bin_min": st.sampled_from([0, 0.5, 2]), "bin_max": st.sampled_from([3, 10, 60.5])},
        optional={"bin_size": st.sampled_from([0.25, 1, 2.5])})),
    "sessions_average": st.just({}),
    "sessions_per_user": st.just({}),
    "composition": st.fixed_dictionaries({"prop": st.sampled_from(USER_PROPS)}),
    "events_list": st.just({}),
    "segmentation": segmentation_kwargs(),
    "funnels": st.fixed_dictionaries(
        {"steps": st.lists(events(), min_size=1, max_size=3)}, optional={
            "mode": st.sampled_from(["ordered", "unordered", "sequential"]),
            "user_type": st.sampled_from(["new", "active"]), "interval": INTERVALS,
            "segment": segments(), "group_by": GROUP,
            "conversion_window": st.integers(1, 366 * 86_400),
            "limit": st.integers(1, 1000)}),
    "retention": st.fixed_dictionaries(
        {"start_event": events() | st.just(EventDef(event_type="_new")),
         "return_event": events()}, optional={
            "method": st.sampled_from(["rolling", "n-day", "unbounded"]),
            "interval": COARSE, "segment": segments(), "group_by": GROUP})
    | st.fixed_dictionaries(
        {"start_event": events(), "return_event": events(), "method": st.just("bracket"),
         "brackets": st.lists(st.tuples(st.integers(0, 5), st.integers(1, 5)).filter(
             lambda b: b[0] < b[1]), min_size=1, max_size=3)}),
    "realtime": st.just({}),
    "revenue_ltv": st.fixed_dictionaries({}, optional={
        "metric": st.sampled_from([0, 1, 2, 3, "arpu", "arppu", "total", "paying"]),
        "interval": COARSE, "segment": segments(), "group_by": GROUP}),
    "user_search": st.fixed_dictionaries({"user": st.sampled_from(
        ["user-1", "user-", "device-2", "nobody", "1"])}),
    "user_activity": st.fixed_dictionaries({"amplitude_id": st.integers(0, 2**63 - 1)},
                                           optional={"offset": st.integers(0, 2**63 - 1),
                                                     "limit": st.integers(1, 1000),
                                                     "direction": st.sampled_from(
                                                         ["latest", "earliest"])}),
}
DATED = {d.name for d in DEFS_LIST if "start" in d.query.model_fields}


@st.composite
def queries(draw: st.DrawFn, name: str, wide: bool = False) -> DashboardQuery:
    """A valid query of the definition ``name`` (combinations its rules refuse are dropped);
    ``wide``: its dates anywhere in 1970 … 2999, else around the seeded events."""
    definition = DEFS[name]
    kwargs = draw(KWARGS[name])
    if name in DATED:
        start, end = draw(date_range(wide))
        kwargs |= {"start": start, "end": end}
    try:
        return definition.query(**kwargs)
    except ValidationError:
        reject()


def test_generated_queries_cover_every_definition() -> None:
    assert set(KWARGS) == set(DEFS)


@pytest.mark.parametrize("name", list(DEFS))
def test_generated_queries_round_trip(name: str) -> None:
    definition = DEFS[name]

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
    @given(queries(name, wide=True))
    def round_trip(q: DashboardQuery) -> None:
        assert from_wire(definition.query, to_wire(q)) == q

    round_trip()


@pytest.mark.parametrize("name", list(DEFS))
def test_generated_queries_are_answered_as_the_result_model_reads(server: httpx.Client,
                                                                  name: str) -> None:
    definition = DEFS[name]

    @settings(max_examples=SERVER_EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
    @given(queries(name))
    def answered(q: DashboardQuery) -> None:
        strict(definition, query_answer(server, definition, q))

    answered()


def test_realtime_interval_edge_reads() -> None:
    """Realtime's documented ``i=5`` and an absent ``i`` are the same query."""
    assert from_wire(RealtimeQuery, [("i", "5")]) == from_wire(RealtimeQuery, []) == \
        RealtimeQuery()
    q = SegmentationQuery(event="open", start=D1, end=D2, interval=REALTIME)
    assert from_wire(SegmentationQuery, to_wire(q)) == q


def test_every_declared_parameter_is_documented() -> None:
    """The served OpenAPI document lists, per Dashboard path, exactly its query model's wire
    parameters (required ones as required)."""
    doc = document()
    for definition in DEFS_LIST:
        params = {p["name"]: p for p in doc["paths"][definition.path]["get"].get(
            "parameters", ())}
        declared = {wire.name: definition.query.model_fields[name].is_required()
                    for name, wire in wire_fields(definition.query)}
        assert set(params) == set(declared), definition.path
        assert {n: p["required"] for n, p in params.items()} == declared, definition.path


# --- real bodies --------------------------------------------------------------------------------

FIXTURE_MODELS: dict[str, Any] = {"users": DEFS["users"], "sessions_average":
                                  DEFS["sessions_average"], "annotations": AnnotationsResult}


@pytest.mark.parametrize("path", sorted(p.name for p in FIXTURES.glob("*.json")
                                        if "__" in p.name and not p.name.endswith(
                                            ".expected.json") and not p.name.startswith(
                                            "error_")))
def test_real_bodies_parse_strictly_with_their_endpoints_result_models(path: str) -> None:
    model = FIXTURE_MODELS[path.split("__")[0]]
    result = strict(model, json.loads((FIXTURES / path).read_text()))
    assert result.raw is not None
