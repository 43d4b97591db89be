"""The two flow drivers answer the same steps the same way (one sync, one awaited)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ampkit.core.flow import AsyncDriver, Driver, Effect, Emit, Flow, Wait, pause, send
from ampkit.core.spec import RawResponse, RequestSpec

SPEC = RequestSpec("GET", "/x", "analytics", "/x", limit_class="dashboard", cost=7)


class Transport:
    def __init__(self) -> None:
        self.sent: list[RequestSpec] = []

    def send(self, spec: RequestSpec) -> RawResponse:
        self.sent.append(spec)
        return RawResponse(200, {}, b"ok")


class AsyncTransport(Transport):
    async def send(self, spec: RequestSpec) -> RawResponse:  # type: ignore[override]
        return Transport.send(self, spec)


class Budgets:
    def __init__(self) -> None:
        self.charged: list[tuple[str, float]] = []

    def acquire(self, limit_class: str, cost: float) -> float:
        self.charged.append((limit_class, cost))
        return 0.0

    async def aacquire(self, limit_class: str, cost: float) -> float:
        return self.acquire(limit_class, cost)


def job(log: list[str]) -> Flow[str]:
    """A flow with every step but Emit; ``log`` learns whether it was closed."""
    try:
        raw = yield from send(SPEC)
        yield from pause(2)
        told = yield Effect("shout", (raw.text,))
        return f"{told}!"
    finally:
        log.append("closed")


def emitting(log: list[str]) -> Flow[None]:
    try:
        for i in range(3):
            yield Wait(1)
            yield Emit(i)
    finally:
        log.append("closed")


def test_both_drivers_answer_every_step_alike() -> None:
    slept: list[float] = []
    budgets, log = Budgets(), []
    sync = Driver(Transport(), budgets=budgets,  # type: ignore[arg-type]
                  effects={"shout": str.upper}, sleep=slept.append)
    assert sync.run(job(log)) == "OK!"

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    async def shout(text: str) -> str:  # an effect may be a coroutine function
        return text.upper()

    driver = AsyncDriver(AsyncTransport(), budgets=budgets,  # type: ignore[arg-type]
                         effects={"shout": shout}, sleep=asleep)
    assert asyncio.run(driver.run(job(log))) == "OK!"
    assert slept == [2, 2]
    assert budgets.charged == [("dashboard", 7)] * 2
    assert log == ["closed", "closed"]


def test_run_refuses_an_emitting_flow_and_closes_it() -> None:
    log: list[str] = []
    with pytest.raises(TypeError, match="Emit is not answered here"):
        Driver(Transport(), sleep=lambda s: None).run(emitting(log))  # type: ignore[arg-type]
    assert log == ["closed"]

    async def nap(seconds: float) -> None:
        pass

    with pytest.raises(TypeError, match="Emit is not answered here"):
        asyncio.run(AsyncDriver(AsyncTransport(), sleep=nap).run(  # type: ignore[arg-type]
            emitting(log)))
    assert log == ["closed", "closed"]


def test_iterate_hands_out_items_and_closes_the_flow_when_closed() -> None:
    log: list[str] = []
    slept: list[float] = []
    items = Driver(Transport(), sleep=slept.append).iterate(emitting(log))  # type: ignore[arg-type]
    assert next(items) == 0
    assert next(items) == 1
    items.close()
    assert (slept, log) == ([1, 1], ["closed"])

    async def nap(seconds: float) -> None:
        pass

    async def collect() -> list[Any]:
        return [i async for i in AsyncDriver(AsyncTransport(), sleep=nap).iterate(  # type: ignore[arg-type]
            emitting(log))]

    assert asyncio.run(collect()) == [0, 1, 2]
    assert log == ["closed", "closed"]
