"""Multi-request flows and the drivers, driven by hand with fabricated answers (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from ampkit.core.flow import AsyncDriver, Driver, Wait
from ampkit.core.limits import QueryBudgets
from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard import cohorts, custom, queries
from ampkit.dashboard.endpoint import REGISTRY
from ampkit.dashboard.user_activity import (
    ActivityPager,
    all_pages_flow,
    events_flow,
)
from ampkit.errors import APIStatusError, APITimeoutError, InvalidRequest, ServerError
from ampkit.models.dashboard import (
    CohortDownloadQuery,
    UsersQuery,
    UsersResult,
)


def ok(body: Any, status: int = 200) -> RawResponse:
    return RawResponse(status, {"content-type": "application/json"}, orjson.dumps(body))


# --- cohort download: request → poll → file --------------------------------------------


def test_cohort_download_flow_polls_until_done() -> None:
    flow = cohorts.download_flow(CohortDownloadQuery(cohort_id="c1", props=True),
                                 poll_interval=7)
    spec = next(flow)
    assert isinstance(spec, RequestSpec) and spec.path == "/api/5/cohorts/request/c1"
    step = flow.send(ok({"request_id": "r1", "cohort_id": "c1"}, 202))
    assert step == Wait(7)
    step = flow.send(None)
    assert isinstance(step, RequestSpec) and step.path == "/api/5/cohorts/request-status/r1"
    step = flow.send(ok({"request_id": "r1", "cohort_id": "c1",
                         "async_status": "JOB INPROGRESS"}, 202))
    assert step == Wait(7)
    step = flow.send(None)
    assert isinstance(step, RequestSpec) and "request-status" in step.path
    step = flow.send(ok({"request_id": "r1", "cohort_id": "c1",
                         "async_status": "JOB COMPLETED"}))
    assert isinstance(step, RequestSpec) and step.path == "/api/5/cohorts/request/r1/file"
    with pytest.raises(StopIteration) as done:
        flow.send(RawResponse(200, {}, b"amplitude_id,user_id\n1,alice\n2,\n"))
    members = done.value.value
    assert (members.request_id, members.cohort_id) == ("r1", "c1")
    assert members.rows() == [{"amplitude_id": "1", "user_id": "alice"},
                              {"amplitude_id": "2", "user_id": ""}]


def test_cohort_download_gives_up_after_max_wait() -> None:
    flow = cohorts.download_flow(CohortDownloadQuery(cohort_id="c1"), poll_interval=10,
                                 max_wait=20)
    next(flow)
    flow.send(ok({"request_id": "r1", "cohort_id": "c1"}, 202))
    running = ok({"request_id": "r1", "async_status": "JOB INPROGRESS"}, 202)
    flow.send(None)
    assert flow.send(running) == Wait(10)
    flow.send(None)
    with pytest.raises(APITimeoutError, match="still JOB INPROGRESS after 2 polls"):
        flow.send(running)


def test_cohort_download_failure_status_and_missing_request_id() -> None:
    flow = cohorts.download_flow(CohortDownloadQuery(cohort_id="c1"), poll_interval=0)
    next(flow)
    flow.send(ok({"request_id": "r1"}, 202))  # zero interval: no Wait step
    with pytest.raises(APIStatusError, match="JOB FAILED"):
        flow.send(ok({"request_id": "r1", "async_status": "JOB FAILED"}))
    flow2 = cohorts.download_flow(CohortDownloadQuery(cohort_id="c1"))
    next(flow2)
    with pytest.raises(APIStatusError, match="without a request_id"):
        flow2.send(ok({}, 202))


class FakeTransport:
    """Answers specs from a script; records what was sent."""

    def __init__(self, answers: list[RawResponse]) -> None:
        self.answers: Iterator[RawResponse] = iter(answers)
        self.sent: list[RequestSpec] = []

    def send(self, spec: RequestSpec) -> RawResponse:
        self.sent.append(spec)
        return next(self.answers)


class AsyncFakeTransport(FakeTransport):
    async def send(self, spec: RequestSpec) -> RawResponse:  # type: ignore[override]
        return FakeTransport.send(self, spec)


def test_runner_sleeps_on_wait_steps_with_an_injected_sleep() -> None:
    slept: list[float] = []
    transport = FakeTransport([
        ok({"request_id": "r1", "cohort_id": "c1"}, 202),
        ok({"async_status": "JOB INPROGRESS"}, 202),
        ok({"async_status": "JOB COMPLETED"}),
        RawResponse(200, {}, b"amplitude_id\n5\n"),
    ])
    runner = Driver(transport, sleep=slept.append)  # type: ignore[arg-type]
    members = runner.run(cohorts.download_flow(CohortDownloadQuery(cohort_id="c1"),
                                               poll_interval=3))
    assert slept == [3, 3]
    assert members.rows() == [{"amplitude_id": "5"}]
    assert [s.path.rsplit("/", 1)[-1] for s in transport.sent] == ["c1", "r1", "r1", "file"]


def test_async_runner_runs_the_same_flow() -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    transport = AsyncFakeTransport([
        ok({"request_id": "r1"}, 202), ok({"async_status": "JOB COMPLETED"}),
        RawResponse(200, {}, b"amplitude_id\n5\n"),
    ])
    runner = AsyncDriver(transport, sleep=fake_sleep)  # type: ignore[arg-type]
    members = asyncio.run(runner.run(cohorts.download_flow(
        CohortDownloadQuery(cohort_id="c1"), poll_interval=1)))
    assert slept == [1] and members.cohort_id == "c1"


def test_runner_charges_the_budget_with_the_query_cost() -> None:
    charged: list[tuple[str, float]] = []

    class Recorder(QueryBudgets):
        def acquire(self, limit_class: str, cost: float) -> float:
            charged.append((limit_class, cost))
            return 0.0

    transport = FakeTransport([ok({"data": {"series": [[1]], "xValues": ["2021-08-01"]}})])
    q = UsersQuery(start="20210801", end="20210810", group_by="city")
    result = Driver(transport, budgets=Recorder()).run(  # type: ignore[arg-type]
        queries.flow(q, UsersResult))
    assert result.rows()[0].value == 1
    assert charged == [("dashboard", 10 * 5)]


# --- user activity paging ----------------------------------------------------------------


def page(ids: range | list[int], total: int = 2500) -> RawResponse:
    return ok({"userData": {"user_id": "u", "num_events": total},
               "events": [{"uuid": f"e{i}", "event_type": "x"} for i in ids]})


def test_pager_advances_by_events_received_and_drops_overlap() -> None:
    flow = all_pages_flow(ActivityPager(user=42))
    asks: list[tuple[str, ...]] = []
    spec = next(flow)
    answers = [page(range(0, 1001)),  # one more than asked: a session was kept whole
               page(range(999, 2002)),  # overlaps the first page by two events
               page(range(2002, 2500))]  # short page: the end
    result = None
    for answer in answers:
        assert isinstance(spec, RequestSpec)
        asks.append(tuple(v for k, v in spec.params if k in ("offset", "limit")))
        try:
            spec = flow.send(answer)
        except StopIteration as stop:
            result = stop.value
    assert asks == [("0", "1000"), ("1001", "1000"), ("2002", "1000")]
    assert result is not None
    assert [e.uuid for e in result.events] == [f"e{i}" for i in range(2500)]
    assert result.user_data.user_id == "u"


def test_iterator_honours_max_events_and_direction() -> None:
    transport = FakeTransport([page(range(0, 3)), page(range(3, 5))])
    pager = ActivityPager(user=7, direction="earliest", page_size=3, max_events=5)
    got = [e.uuid for e in Driver(transport).iterate(events_flow(pager))]
    assert got == ["e0", "e1", "e2", "e3", "e4"]
    assert [dict(s.params)["limit"] for s in transport.sent] == ["3", "2"]
    assert all(dict(s.params)["direction"] == "earliest" for s in transport.sent)


def test_iterator_stops_on_empty_page_or_nothing_new() -> None:
    transport = FakeTransport([page(range(0, 2)), page(range(0, 2))])  # offset ignored
    got = [e.uuid for e in Driver(transport).iterate(events_flow(ActivityPager(7, page_size=2)))]
    assert got == ["e0", "e1"] and len(transport.sent) == 2
    empty = FakeTransport([page([])])
    assert list(Driver(empty).iterate(events_flow(ActivityPager(7)))) == []


def test_async_iterator() -> None:
    async def collect() -> list[str | None]:
        transport = AsyncFakeTransport([page(range(0, 2)), page(range(2, 3))])
        pager = ActivityPager(user=7, page_size=2)
        return [e.uuid async for e in AsyncDriver(transport).iterate(events_flow(pager))]

    assert asyncio.run(collect()) == ["e0", "e1", "e2"]


def test_transport_errors_reach_the_caller() -> None:
    class Failing:
        def send(self, spec: RequestSpec) -> RawResponse:
            raise ServerError("boom", status=503, endpoint=spec.endpoint)

    with pytest.raises(ServerError):
        Driver(Failing()).run(  # type: ignore[arg-type]
            queries.flow(UsersQuery(start="20210801", end="20210801"),
                                                UsersResult))


# --- custom requests and the registry ------------------------------------------------------


def test_custom_request_spec_and_parse() -> None:
    spec = custom.request("post", "/api/3/annotations", params={"x": [1, 2], "flag": True,
                                                                "none": None},
                          json={"label": "l"})
    assert (spec.method, spec.auth, spec.limit_class) == ("POST", "basic", "dashboard")
    assert spec.params == (("x", "1"), ("x", "2"), ("flag", "true"))
    assert spec.content == b'{"label":"l"}'
    prof = custom.request("GET", "/v1/userprofile", params=[("user_id", "u")], family="profile")
    assert (prof.auth, prof.limit_class, prof.family) == ("api_key_header", "profile", "profile")
    resp = custom.parse(ok({"a": 1}))
    assert (resp.status, resp.data) == (200, {"a": 1})
    assert custom.parse(RawResponse(200, {}, b"a,b\n")).data is None
    for bad in (("FETCH", "/x"), ("GET", "https://evil.example/x"), ("GET", "x")):
        with pytest.raises(InvalidRequest):
            custom.request(*bad)


def test_registry_names_every_endpoint_once() -> None:
    paths = {e.path for e in REGISTRY.values()}
    for path in ("/api/2/users", "/api/2/funnels", "/api/2/retention", "/api/2/usersearch",
                 "/api/3/chart/{chart_id}/csv", "/api/5/cohorts/request/{request_id}/file",
                 "/api/2/taxonomy/event-property", "/api/3/annotations"):
        assert path in paths
    assert all(e.auth == "basic" and e.family == "analytics" for e in REGISTRY.values())
    assert {e.limit_class for e in REGISTRY.values()} == {"dashboard", "user", "taxonomy"}


def test_pager_checks_its_inputs_at_once() -> None:
    with pytest.raises(InvalidRequest) as err:
        ActivityPager(user=1, page_size=5000)
    assert err.value.field == "limit"
    with pytest.raises(InvalidRequest) as err:
        ActivityPager(user=1, max_events=0)
    assert err.value.field == "max_events"
