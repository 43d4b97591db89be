"""The §10.2 query cost and the client-side budgets that wait instead of provoking 429s."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from ampkit.core.limits import (
    DASHBOARD_COST_WINDOWS,
    Budget,
    BudgetWindow,
    QueryBudgets,
)
from ampkit.dashboard import custom, queries, taxonomy
from ampkit.dashboard.endpoint import Endpoint
from ampkit.errors import RateLimited
from ampkit.models.dashboard import (
    EventDef,
    FunnelQuery,
    GroupBy,
    RetentionQuery,
    SegmentationQuery,
    SessionAverageQuery,
    TaxonomyCategories,
    UserSearchQuery,
    UsersQuery,
    condition_count,
    query_cost,
    type_cost,
)

D1 = dt.date(2021, 8, 1)
D30 = dt.date(2021, 8, 30)


def test_reference_worked_examples() -> None:
    # (a) one segment + one condition "Language = English" + two group-bys → 10 conditions
    assert condition_count(segments=1, conditions=1, group_bys=2) == 10
    # (b) 30-day funnel, that segment/condition/two group-bys, three steps → 30 × 10 × 6
    assert query_cost(30, condition_count(1, 1, 2), type_cost("funnel", events=3)) == 1800


def test_query_type_costs() -> None:
    assert type_cost("segmentation", events=2) == 2
    assert type_cost("segmentation", events=2, event_group_bys=1) == 6
    assert type_cost("funnel", events=4) == 8
    assert type_cost("retention") == 8
    assert type_cost("sessions") == 4
    assert type_cost("other") == 1


def test_costs_from_query_parameters() -> None:
    assert UsersQuery(start=D1, end=D30).cost() == 30  # 30 days × 1 segment × 1
    assert UsersQuery(start=D1, end=D30, group_by="city").cost() == 30 * 5
    assert SessionAverageQuery(start=D1, end=D1).cost() == 4
    seg = SegmentationQuery(
        event=EventDef(event_type="A", group_by=[GroupBy(type="event", value="$price")]),
        second_event="B", start=D1, end=D30,
        segment=[{"prop": "language", "op": "is", "values": ["English"]}], group_by="city",
    )
    # 30 days × (1 + 1 + 4) × (2 events + 4 for one event-level group-by)
    assert seg.cost() == 30 * 6 * 6
    funnel = FunnelQuery(steps=["a", "b", "c"], start=D1, end=D30,
                         segment=[{"prop": "platform", "op": "is", "values": ["iOS"]}],
                         group_by="city")
    assert funnel.cost() == 30 * 6 * 6
    assert RetentionQuery(start_event="_new", return_event="_all", start=D1, end=D1).cost() == 8


def test_spec_cost_matches_query_cost_and_prices_custom_paths() -> None:
    q = FunnelQuery(steps=["a", "b"], start=D1, end=D30)
    assert (queries.request(q)).cost == q.cost() == 30 * 1 * 4
    s = SessionAverageQuery(start=D1, end=D30)
    assert (queries.request(s)).cost == 120
    raw_spec = custom.request("GET", "/api/2/events/segmentation", params={
        "e": '{"event_type":"A"}', "start": "20210801", "end": "20210802"})
    assert (raw_spec).cost == 2
    assert (queries.request(UserSearchQuery(user="x"))).cost == 1
    assert (queries.request(SegmentationQuery(event="A", start=D1, end=D1))).cost == 1
    assert (queries.request(UsersQuery(start=D1, end=D1))).cost == 1
    read = taxonomy.CATEGORIES.spec()
    write = Endpoint("taxonomy_write", "POST", "/api/2/taxonomy/category", TaxonomyCategories,
                     limit_class="taxonomy").spec()
    assert (read.cost, write.cost) == (1, 2)  # a taxonomy write costs 2 of its budget


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def test_budget_waits_until_old_charges_age_out() -> None:
    clock = FakeClock()
    budget = Budget(DASHBOARD_COST_WINDOWS, clock=clock, sleep=clock.sleep)
    assert budget.acquire(600) == 0
    clock.now += 100
    assert budget.acquire(300) == 0
    clock.now += 10
    # 900 spent in the last 5 minutes; 200 more must wait until the 600 ages out (t=1300)
    assert budget.acquire(200) == pytest.approx(190)
    assert clock.slept == [pytest.approx(190)]
    assert budget.spent(DASHBOARD_COST_WINDOWS[0]) == 500


def test_budget_hourly_window_binds() -> None:
    clock = FakeClock()
    windows = (BudgetWindow(10, 60, "small"), BudgetWindow(15, 3600, "hourly (15)"))
    budget = Budget(windows, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        budget.acquire(5)
        clock.now += 61
    wait, window = budget.delay(5)
    assert window is not None and window.name == "hourly (15)"
    assert wait == pytest.approx(3600 - 3 * 61)


def test_oversized_charge_is_admitted_when_the_window_is_empty() -> None:
    clock = FakeClock()
    budget = Budget(DASHBOARD_COST_WINDOWS, clock=clock, sleep=clock.sleep)
    assert budget.acquire(1800) == 0  # alone: Amplitude judges it
    assert budget.acquire(10) == pytest.approx(300)  # next one waits for the window to clear


def test_max_wait_raises_rate_limited_naming_the_limit() -> None:
    clock = FakeClock()
    budget = Budget(DASHBOARD_COST_WINDOWS, clock=clock, sleep=clock.sleep, max_wait=60)
    budget.acquire(1000)
    with pytest.raises(RateLimited) as err:
        budget.acquire(1)
    assert err.value.limit == "query cost per 5 minutes (1,000)"
    assert err.value.retry_after == pytest.approx(300)
    assert "1,000" in str(err.value)
    assert clock.slept == []


def test_query_budgets_by_limit_class_sync_and_async() -> None:
    clock = FakeClock()
    budgets = QueryBudgets(clock=clock, sleep=clock.sleep, asleep=clock.asleep)
    for _ in range(360):
        budgets.acquire("user", 1)
    assert clock.slept == []
    assert asyncio.run(budgets.aacquire("user", 1)) == pytest.approx(3600)
    assert budgets.acquire("ingest", 10**9) == 0  # no budget for that class
    assert budgets.acquire("profile", 1) == 0
