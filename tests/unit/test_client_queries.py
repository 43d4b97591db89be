"""The query facades: same methods and signatures sync/async, thin calls through the drivers."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from ampkit import Amplitude, AsyncAmplitude, ConfigError, InvalidRequest
from ampkit.client.queries import AsyncQueries, SyncQueries
from ampkit.core.limits import Budget, BudgetWindow, QueryBudgets
from ampkit.core.spec import RawResponse, RequestSpec


def public(cls: type) -> dict[str, Any]:
    return {n: getattr(cls, n) for n in dir(cls)
            if not n.startswith("_") and inspect.isfunction(getattr(cls, n))}


def test_sync_and_async_facades_have_the_same_methods_and_signatures() -> None:
    sync, asy = public(Amplitude), public(AsyncAmplitude)
    assert set(sync) == set(asy)
    for name, fn in sync.items():
        if name != "iter_user_activity":  # an iterator on one side, an async one on the other
            assert inspect.signature(fn) == inspect.signature(asy[name]), name
    for name in public(SyncQueries):
        assert inspect.iscoroutinefunction(asy[name]), name
        assert not inspect.iscoroutinefunction(sync[name]), name


def test_query_methods_are_all_there() -> None:
    expected = {
        "active_users", "new_users", "session_length_distribution", "average_session_length",
        "sessions_per_user", "composition", "events_list", "segmentation", "funnel",
        "retention", "realtime_users", "revenue_ltv", "user_search", "user_activity",
        "iter_user_activity", "chart", "chart_csv", "annotations", "create_annotation",
        "cohorts", "cohort_members", "taxonomy_event_types", "taxonomy_event_properties",
        "taxonomy_user_properties", "taxonomy_categories", "user_profile", "request",
    }
    ingestion = {"track", "identify", "group_identify", "revenue", "send", "identify_api",
                 "group_identify_api", "flush", "close"}
    assert set(public(SyncQueries)) == expected | ingestion == set(public(AsyncQueries))


def test_new_models_are_exported_from_ampkit_models() -> None:
    import ampkit.models
    import ampkit.models.dashboard

    for name in ("EventDef", "Filter", "GroupBy", "Segment", "SegmentCondition",
                 "SegmentationResult", "FunnelResult", "UserProfile", "UserProfileQuery"):
        assert name in ampkit.models.__all__ and hasattr(ampkit.models, name)
    for name in ampkit.models.dashboard.__all__:
        assert hasattr(ampkit.models.dashboard, name)


class Fake:
    def __init__(self, answers: list[RawResponse]) -> None:
        self.answers: Iterator[RawResponse] = iter(answers)
        self.sent: list[RequestSpec] = []

    def send(self, spec: RequestSpec) -> RawResponse:
        self.sent.append(spec)
        return next(self.answers)

    def close(self) -> None:
        pass


class AsyncFake(Fake):
    async def send(self, spec: RequestSpec) -> RawResponse:  # type: ignore[override]
        return Fake.send(self, spec)

    async def aclose(self) -> None:
        pass


def ok(body: Any, status: int = 200) -> RawResponse:
    return RawResponse(status, {}, orjson.dumps(body))


SERIES = {"data": {"series": [[3, 4]], "seriesLabels": ["US"], "xValues": ["2021-08-01",
                                                                         "2021-08-02"]}}


@pytest.fixture
def amp() -> Iterator[Amplitude]:
    client = Amplitude("api-key-1234", "secret-key-5678")
    yield client
    client.close()


def test_sync_facade_sends_the_spec_and_parses(amp: Amplitude) -> None:
    fake = Fake([ok(SERIES)])
    amp.transport = fake  # type: ignore[assignment]
    result = amp.segmentation("Play Song", "20210801", "20210802", group_by="country")
    assert [tuple(r) for r in result.rows()] == [("2021-08-01", "US", 3), ("2021-08-02", "US", 4)]
    spec = fake.sent[0]
    assert spec.path == "/api/2/events/segmentation" and spec.auth == "basic"
    assert ("g", "country") in spec.params


def test_facade_raises_invalid_request_before_sending(amp: Amplitude) -> None:
    fake = Fake([])
    amp.transport = fake  # type: ignore[assignment]
    with pytest.raises(InvalidRequest) as err:
        amp.segmentation("A", "20210801", "20210801", limit=5000)
    assert (err.value.field, err.value.endpoint) == ("limit", "/api/2/events/segmentation")
    with pytest.raises(InvalidRequest) as err:
        amp.iter_user_activity(1, page_size=0)
    assert err.value.field == "limit"
    assert fake.sent == []


def test_query_methods_need_the_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMPLITUDE_SECRET_KEY", raising=False)
    client = Amplitude("api-key-1234")
    try:
        with pytest.raises(ConfigError, match="secret key"):
            client.events_list()
    finally:
        client.close()


def test_facade_waits_on_the_budget_instead_of_a_429(amp: Amplitude) -> None:
    now, slept = [0.0], []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    amp.budgets = QueryBudgets({"dashboard": Budget(
        (BudgetWindow(40, 300, "tiny"),), clock=lambda: now[0], sleep=sleep)})
    amp.transport = Fake([ok(SERIES), ok(SERIES)])  # type: ignore[assignment]
    amp.active_users("20210801", "20210830")  # cost 30
    amp.active_users("20210801", "20210830")  # 60 > 40: waits for the first to age out
    assert slept == [300]


def test_iter_user_activity_and_custom_request(amp: Amplitude) -> None:
    page = ok({"userData": {}, "events": [{"uuid": "a"}, {"uuid": "b"}]})
    amp.transport = Fake([page, ok({"userData": {}, "events": []}),  # type: ignore[assignment]
                          ok({"x": 1})])
    assert [e.uuid for e in amp.iter_user_activity(5, page_size=2)] == ["a", "b"]
    resp = amp.request("GET", "/api/2/anything", params={"a": 1})
    assert resp.data == {"x": 1}


def test_async_facade_mirrors_the_sync_one() -> None:
    async def go() -> tuple[list[str | None], int, int]:
        async with AsyncAmplitude("api-key-1234", "secret-key-5678") as client:
            page = ok({"userData": {}, "events": [{"uuid": "a"}]})
            fake = AsyncFake([ok(SERIES), page, ok({"userData": {"user_id": "u"}})])
            client.transport = fake  # type: ignore[assignment]
            result = await client.active_users("20210801", "20210802", interval="weekly")
            got = [e.uuid async for e in await client.iter_user_activity(5)]
            profile = await client.user_profile("u", amp_props=True)
            assert profile.user_id == "u"
            assert fake.sent[-1].auth == "api_key_header"
            assert ("get_amp_props", "true") in fake.sent[-1].params
            return got, len(result.rows()), len(fake.sent)

    assert asyncio.run(go()) == (["a"], 2, 3)
