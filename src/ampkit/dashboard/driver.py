"""Running query flows: waits, the per-client cost budget, sync and async drivers.

A query flow is ``Generator[RequestSpec | Wait, RawResponse | None, T]``: like a core flow it
yields what to send and receives the answer, and it may also yield :class:`Wait` (a pause, e.g.
between cohort status polls) — the driver sleeps, so flows stay free of I/O and tests drive them
by hand without sleeping.  Before each request the driver charges the client's
:class:`~ampkit.core.limits.QueryBudgets` with the request's §10.2 cost (waiting rather than
provoking a 429).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ampkit.core.limits import QueryBudgets
from ampkit.core.spec import RawResponse, RequestSpec
from ampkit.dashboard.endpoint import kind_of
from ampkit.models.dashboard.cost import params_cost

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Wait:
    """A pause the driver makes before the flow goes on (the flow receives ``None``)."""

    seconds: float


Step = RequestSpec | Wait
QueryFlow = Generator[Step, RawResponse | None, T]


def send(spec: RequestSpec) -> Generator[Step, RawResponse | None, RawResponse]:
    """``raw = yield from send(spec)`` inside a flow."""
    raw = yield spec
    if raw is None:
        raise TypeError(f"the driver sent no answer for {spec.endpoint}")
    return raw


def pause(seconds: float) -> Generator[Step, RawResponse | None, None]:
    """``yield from pause(s)`` inside a flow (no step at all for ``s <= 0``)."""
    if seconds > 0:
        yield Wait(seconds)


def one(spec: RequestSpec, parse: Callable[[RawResponse], T]) -> QueryFlow[T]:
    """The single-request flow."""
    raw = yield from send(spec)
    return parse(raw)


def spec_cost(spec: RequestSpec) -> int:
    """What a request costs in its limit class: the §10.2 query cost for Dashboard requests,
    2 for taxonomy writes, 1 otherwise."""
    if spec.limit_class == "dashboard":
        return params_cost(kind_of(spec.path), spec.params)
    if spec.limit_class == "taxonomy" and spec.method != "GET":
        return 2
    return 1


class SyncSender(Protocol):
    def send(self, spec: RequestSpec) -> RawResponse: ...


class AsyncSender(Protocol):
    async def send(self, spec: RequestSpec) -> RawResponse: ...


class QueryRunner:
    """Drives query flows over a sync transport (anything with ``send(spec)``)."""

    def __init__(
        self,
        transport: SyncSender,
        budgets: QueryBudgets | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.transport = transport
        self.budgets = budgets
        self.sleep = sleep

    def send(self, spec: RequestSpec) -> RawResponse:
        if self.budgets is not None:
            self.budgets.acquire(spec.limit_class, spec_cost(spec))
        return self.transport.send(spec)

    def run(self, flow: QueryFlow[T]) -> T:
        try:
            step = next(flow)
            while True:
                if isinstance(step, Wait):
                    self.sleep(step.seconds)
                    step = flow.send(None)
                else:
                    step = flow.send(self.send(step))
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            flow.close()


class AsyncQueryRunner:
    """The async twin of :class:`QueryRunner`."""

    def __init__(
        self,
        transport: AsyncSender,
        budgets: QueryBudgets | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.transport = transport
        self.budgets = budgets
        self.sleep = sleep

    async def send(self, spec: RequestSpec) -> RawResponse:
        if self.budgets is not None:
            await self.budgets.aacquire(spec.limit_class, spec_cost(spec))
        return await self.transport.send(spec)

    async def run(self, flow: QueryFlow[T]) -> T:
        try:
            step = next(flow)
            while True:
                if isinstance(step, Wait):
                    await self.sleep(step.seconds)
                    step = flow.send(None)
                else:
                    step = flow.send(await self.send(step))
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            flow.close()
