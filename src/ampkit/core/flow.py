"""One flow protocol for every job that takes more than one step, and its two drivers.

A flow is a generator that yields *steps* and receives their outcome, then returns its result;
nothing in a flow does I/O, so it is written once and driven sync or async — and a test drives
it by hand.  The steps:

- a :class:`~ampkit.core.spec.RequestSpec` — send it; the flow receives the
  :class:`~ampkit.core.spec.RawResponse` (the driver charges the request's ``cost`` to the
  client's query-cost budget first, waiting rather than provoking a 429);
- :class:`Download` — send it, its 2xx body streaming into a sink; receives the answer;
- :class:`Wait` — pause (a cohort's status poll, a throttled user); receives ``None``;
- :class:`Emit` — hand an item to whoever iterates the flow (:meth:`Driver.iterate`, a page of
  user activity at a time); receives ``None``;
- :class:`Effect` — a named action of the client that drives the flow (``enqueue`` events on its
  background sender); receives what it returned.

:class:`Driver` drives flows over a :class:`~ampkit.core.transport.SyncTransport`,
:class:`AsyncDriver` over an :class:`~ampkit.core.transport.AsyncTransport` — the only two.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any, TypeVar

from ampkit.core.spec import RawResponse, RequestSpec

if TYPE_CHECKING:
    from ampkit.core.limits import QueryBudgets
    from ampkit.core.transport import AsyncTransport, SyncTransport

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Download:
    """Send ``spec``; a 2xx body goes into ``sink`` (see ``SyncTransport.download``)."""

    spec: RequestSpec
    sink: IO[bytes]
    on_progress: Callable[[int], None] | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """A pause the driver makes before the flow goes on (the flow receives ``None``)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Emit:
    """An item for whoever iterates the flow (the flow receives ``None``)."""

    item: Any


@dataclass(frozen=True, slots=True)
class Effect:
    """A named action of the client driving the flow (the flow receives its result)."""

    name: str
    args: tuple[Any, ...] = ()


Step = RequestSpec | Download | Wait | Emit | Effect
Flow = Generator[Step, Any, T]
_NONE: Mapping[str, Callable[..., Any]] = MappingProxyType({})


def send(spec: RequestSpec) -> Generator[Step, Any, RawResponse]:
    """``raw = yield from send(spec)`` inside a flow."""
    raw = yield spec
    if not isinstance(raw, RawResponse):
        raise TypeError(f"the driver sent no answer for {spec.endpoint}")
    return raw


def pause(seconds: float) -> Generator[Step, Any, None]:
    """``yield from pause(s)`` inside a flow (no step at all for ``s <= 0``)."""
    if seconds > 0:
        yield Wait(seconds)


def one(spec: RequestSpec, parse: Callable[[RawResponse], T]) -> Flow[T]:
    """The single-request flow, its answer parsed."""
    raw = yield from send(spec)
    return parse(raw)


def single(spec: RequestSpec) -> Flow[RawResponse]:
    """The trivial flow: one request, its answer."""
    return (yield from send(spec))


class Driver:
    """Drives flows over a sync transport: ``run`` for the result, ``iterate`` for the items a
    flow emits.  ``effects`` are the client's named actions; ``sleep`` is injectable."""

    def __init__(self, transport: SyncTransport, *, budgets: QueryBudgets | None = None,
                 effects: Mapping[str, Callable[..., Any]] = _NONE,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.transport = transport
        self.budgets = budgets
        self.effects = effects
        self.sleep = sleep

    def send(self, spec: RequestSpec) -> RawResponse:
        if self.budgets is not None:
            self.budgets.acquire(spec.limit_class, spec.cost)
        return self.transport.send(spec)

    def answer(self, step: Step) -> Any:
        """What a step gives back to its flow."""
        if isinstance(step, RequestSpec):
            return self.send(step)
        if isinstance(step, Download):
            if self.budgets is not None:
                self.budgets.acquire(step.spec.limit_class, step.spec.cost)
            return self.transport.download(step.spec, step.sink, on_progress=step.on_progress)
        if isinstance(step, Wait):
            self.sleep(step.seconds)
            return None
        if isinstance(step, Effect):
            return self.effects[step.name](*step.args)
        raise TypeError(f"{type(step).__name__} is not answered here: iterate the flow")

    def run(self, flow: Flow[T]) -> T:
        """The flow's result (a flow run this way must not emit)."""
        try:
            step = next(flow)
            while True:
                step = flow.send(self.answer(step))
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            flow.close()

    def iterate(self, flow: Flow[Any]) -> Iterator[Any]:
        """The items the flow emits, each as soon as it is emitted."""
        try:
            step = next(flow)
            while True:
                if isinstance(step, Emit):
                    yield step.item
                    step = flow.send(None)
                else:
                    step = flow.send(self.answer(step))
        except StopIteration:
            return
        finally:
            flow.close()


class AsyncDriver:
    """The async driver: the same steps, awaited (an effect may be a coroutine function)."""

    def __init__(self, transport: AsyncTransport, *, budgets: QueryBudgets | None = None,
                 effects: Mapping[str, Callable[..., Any]] = _NONE,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.transport = transport
        self.budgets = budgets
        self.effects = effects
        self.sleep = sleep

    async def send(self, spec: RequestSpec) -> RawResponse:
        if self.budgets is not None:
            await self.budgets.aacquire(spec.limit_class, spec.cost)
        return await self.transport.send(spec)

    async def answer(self, step: Step) -> Any:
        if isinstance(step, RequestSpec):
            return await self.send(step)
        if isinstance(step, Download):
            if self.budgets is not None:
                await self.budgets.aacquire(step.spec.limit_class, step.spec.cost)
            return await self.transport.download(step.spec, step.sink,
                                                 on_progress=step.on_progress)
        if isinstance(step, Wait):
            await self.sleep(step.seconds)
            return None
        if isinstance(step, Effect):
            value = self.effects[step.name](*step.args)
            return await value if inspect.isawaitable(value) else value
        raise TypeError(f"{type(step).__name__} is not answered here: iterate the flow")

    async def run(self, flow: Flow[T]) -> T:
        try:
            step = next(flow)
            while True:
                step = flow.send(await self.answer(step))
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            flow.close()

    async def iterate(self, flow: Flow[Any]) -> AsyncIterator[Any]:
        try:
            step = next(flow)
            while True:
                if isinstance(step, Emit):
                    yield step.item
                    step = flow.send(None)
                else:
                    step = flow.send(await self.answer(step))
        except StopIteration:
            return
        finally:
            flow.close()


def run_flow(flow: Flow[T], transport: SyncTransport) -> T:
    """Drive a flow with a sync transport (no budget, no effects)."""
    return Driver(transport).run(flow)


async def arun_flow(flow: Flow[T], transport: AsyncTransport) -> T:
    """Drive a flow with an async transport (no budget, no effects)."""
    return await AsyncDriver(transport).run(flow)


__all__ = ["AsyncDriver", "Download", "Driver", "Effect", "Emit", "Flow", "Step", "Wait",
           "arun_flow", "one", "pause", "run_flow", "send", "single"]
