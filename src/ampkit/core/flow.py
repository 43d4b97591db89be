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
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any, Generic, TypeVar, cast

from ampkit.core.spec import RawResponse, RequestSpec

if TYPE_CHECKING:
    from ampkit.core.limits import QueryBudgets
    from ampkit.core.transport import AsyncTransport, SyncTransport

T = TypeVar("T")
TransportT = TypeVar("TransportT")


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


class _Steps(Generic[T]):
    """One flow on its way, the bookkeeping both drivers share: iterating gives the flow's
    steps, sending each ``answer`` (``None`` unless the driver set one) on the way to the next;
    ``result`` is what the flow returned.  Leaving the ``with`` block closes the flow."""

    def __init__(self, flow: Flow[T]) -> None:
        self._flow = flow
        self.answer: Any = None
        self.result: T | None = None

    def __enter__(self) -> _Steps[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self._flow.close()

    def __iter__(self) -> _Steps[T]:
        return self

    def __next__(self) -> Step:
        answer, self.answer = self.answer, None
        try:
            return self._flow.send(answer)  # a generator's first send(None) starts it
        except StopIteration as stop:
            self.result = stop.value
            raise


class _Driver(Generic[TransportT]):
    """What the two drivers share: the transport, the client's budgets and named effects."""

    def __init__(self, transport: TransportT, budgets: QueryBudgets | None,
                 effects: Mapping[str, Callable[..., Any]]) -> None:
        self.transport = transport
        self.budgets = budgets
        self.effects = effects

    def _effect(self, step: Effect) -> Any:
        return self.effects[step.name](*step.args)

    @staticmethod
    def _unanswered(step: Step) -> TypeError:
        return TypeError(f"{type(step).__name__} is not answered here: iterate the flow")


class Driver(_Driver["SyncTransport"]):
    """Drives flows over a sync transport: ``run`` for the result, ``iterate`` for the items a
    flow emits.  ``effects`` are the client's named actions; ``sleep`` is injectable."""

    def __init__(self, transport: SyncTransport, *, budgets: QueryBudgets | None = None,
                 effects: Mapping[str, Callable[..., Any]] = _NONE,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(transport, budgets, effects)
        self.sleep = sleep

    def _charge(self, spec: RequestSpec) -> None:
        """Charge the request's cost to the budget of its limit class (waiting if need be)."""
        if self.budgets is not None:
            self.budgets.acquire(spec.limit_class, spec.cost)

    def send(self, spec: RequestSpec) -> RawResponse:
        self._charge(spec)
        return self.transport.send(spec)

    def answer(self, step: Step) -> Any:
        """What a step gives back to its flow."""
        if step.__class__ is Effect:  # first: every ``track`` is one
            return self._effect(step)
        if isinstance(step, RequestSpec):
            return self.send(step)
        if isinstance(step, Download):
            self._charge(step.spec)
            return self.transport.download(step.spec, step.sink, on_progress=step.on_progress)
        if isinstance(step, Wait):
            self.sleep(step.seconds)
            return None
        if isinstance(step, Effect):
            return self._effect(step)
        raise self._unanswered(step)

    def run(self, flow: Flow[T]) -> T:
        """The flow's result (a flow run this way must not emit)."""
        answer: Any = None  # what _Steps does, inline: a ``track`` call is one run
        try:
            while True:
                answer = self.answer(flow.send(answer))
        except StopIteration as stop:
            return cast(T, stop.value)
        finally:
            flow.close()

    def iterate(self, flow: Flow[Any]) -> Generator[Any, None, None]:
        """The items the flow emits, each as soon as it is emitted."""
        with _Steps(flow) as steps:
            for step in steps:
                if isinstance(step, Emit):
                    yield step.item
                else:
                    steps.answer = self.answer(step)


class AsyncDriver(_Driver["AsyncTransport"]):
    """The async driver: the same steps, awaited (an effect may be a coroutine function)."""

    def __init__(self, transport: AsyncTransport, *, budgets: QueryBudgets | None = None,
                 effects: Mapping[str, Callable[..., Any]] = _NONE,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        super().__init__(transport, budgets, effects)
        self.sleep = sleep

    async def _charge(self, spec: RequestSpec) -> None:
        if self.budgets is not None:
            await self.budgets.aacquire(spec.limit_class, spec.cost)

    async def send(self, spec: RequestSpec) -> RawResponse:
        await self._charge(spec)
        return await self.transport.send(spec)

    async def answer(self, step: Step) -> Any:
        if isinstance(step, RequestSpec):
            return await self.send(step)
        if isinstance(step, Download):
            await self._charge(step.spec)
            return await self.transport.download(step.spec, step.sink,
                                                 on_progress=step.on_progress)
        if isinstance(step, Wait):
            await self.sleep(step.seconds)
            return None
        if isinstance(step, Effect):
            value = self._effect(step)
            return await value if inspect.isawaitable(value) else value
        raise self._unanswered(step)

    async def run(self, flow: Flow[T]) -> T:
        with _Steps(flow) as steps:
            for step in steps:
                steps.answer = await self.answer(step)
        return cast(T, steps.result)

    async def iterate(self, flow: Flow[Any]) -> AsyncGenerator[Any, None]:
        with _Steps(flow) as steps:
            for step in steps:
                if isinstance(step, Emit):
                    yield step.item
                else:
                    steps.answer = await self.answer(step)


def run_flow(flow: Flow[T], transport: SyncTransport) -> T:
    """Drive a flow with a sync transport (no budget, no effects)."""
    return Driver(transport).run(flow)


async def arun_flow(flow: Flow[T], transport: AsyncTransport) -> T:
    """Drive a flow with an async transport (no budget, no effects)."""
    return await AsyncDriver(transport).run(flow)


__all__ = ["AsyncDriver", "Download", "Driver", "Effect", "Emit", "Flow", "Step", "Wait",
           "arun_flow", "one", "pause", "run_flow", "send", "single"]
