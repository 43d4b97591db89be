"""Generator flows: multi-request logic written once, driven sync or async.

A flow is ``Generator[RequestSpec, RawResponse, T]``: it yields what to send, receives what came
back, and finally returns its result.  Nothing in a flow does I/O.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, TypeVar

from ampkit.core.spec import RawResponse, RequestSpec

if TYPE_CHECKING:
    from ampkit.core.transport import AsyncTransport, SyncTransport

T = TypeVar("T")
Flow = Generator[RequestSpec, RawResponse, T]


def run_flow(flow: Flow[T], transport: SyncTransport) -> T:
    """Drive a flow with the sync transport."""
    try:
        spec = next(flow)
        while True:
            spec = flow.send(transport.send(spec))
    except StopIteration as stop:
        result: T = stop.value
        return result


async def arun_flow(flow: Flow[T], transport: AsyncTransport) -> T:
    """Drive a flow with the async transport."""
    try:
        spec = next(flow)
        while True:
            spec = flow.send(await transport.send(spec))
    except StopIteration as stop:
        result: T = stop.value
        return result


def single(spec: RequestSpec) -> Flow[RawResponse]:
    """The trivial flow: one request, its answer."""
    response = yield spec
    return response
