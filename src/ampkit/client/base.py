"""What :class:`~ampkit.client.Amplitude` and :class:`~ampkit.client.AsyncAmplitude` share,
written once: settings, validation, building events, and each ingestion method as a flow
(:mod:`ampkit.core.flow`) whose ``enqueue``/``flush`` effects the client's own background sender
performs — a thread for the sync client, an asyncio task for the async one.  The query methods'
flows are in :mod:`ampkit.client.flows`; ``python -m tools.codegen`` makes both clients' methods
from all of them (``_generated.py``), on :class:`SyncClient` and :class:`AsyncClient`: what
makes the two differ (a :class:`Runtime`, and running a flow or closing, awaited or not).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

import orjson

from ampkit.client.flows import QueryFlows
from ampkit.config import Region, Settings, load_settings
from ampkit.core.flow import AsyncDriver, Driver, Effect, Flow, single
from ampkit.core.limits import Limits, QueryBudgets
from ampkit.core.policy import RetryPolicy
from ampkit.core.transport import AsyncTransport, SyncTransport, WaitCallback
from ampkit.errors import InvalidEventError, redact_urls
from ampkit.ingest.batching import DeliveryReport, QueuedEvent, delivery_flow
from ampkit.ingest.endpoints import check_identify, identify_spec
from ampkit.ingest.identify import Identify
from ampkit.ingest.normalize import (
    EventDefaults,
    NormalizeOptions,
    encode_event,
    normalize_event,
    normalize_identification,
)
from ampkit.ingest.sender import (
    AsyncBackgroundSender,
    BackgroundSender,
    DeliveredCallback,
    FailedCallback,
    SenderCore,
    SenderOptions,
)
from ampkit.models import Event

if TYPE_CHECKING:
    from ampkit.ingest.plan import PlanLike
    from ampkit.models.plan import TrackingPlan

TrackedEvent = Event | Mapping[str, Any]
"""An event to send: an :class:`~ampkit.models.Event` or a plain mapping."""
Operations = Identify | Mapping[str, Any]
T = TypeVar("T")
TransportT = TypeVar("TransportT", bound=SyncTransport | AsyncTransport)
SenderT = TypeVar("SenderT", bound=BackgroundSender | AsyncBackgroundSender)
DriverT = TypeVar("DriverT", bound=Driver | AsyncDriver)


@dataclass(frozen=True)
class Runtime(Generic[TransportT, SenderT, DriverT]):
    """What makes a client sync or async: the transport it sends with, the background sender
    that delivers its queue, and the driver that runs its flows."""

    transport: Callable[..., TransportT]
    sender: Callable[[TransportT, SenderCore], SenderT]
    driver: Callable[..., DriverT]


def _operations(properties: Operations, *, group: bool = False) -> dict[str, Any]:
    """The checked operations object of an :class:`~ampkit.ingest.identify.Identify` or of a
    plain mapping of operations."""
    ops = properties if isinstance(properties, Identify) else Identify(properties)
    return ops.operations(group=group)


def _property_event(
    event_type: str, user_id: str | None, device_id: str | None, **properties: Any
) -> dict[str, Any]:
    """An event that sets properties (``$identify``, ``$groupidentify``)."""
    return {"event_type": event_type, "user_id": user_id, "device_id": device_id, **properties}


class ClientBase(QueryFlows, Generic[TransportT, SenderT, DriverT]):
    """Everything both clients share: settings, validation, building events, and every
    method as a flow (the sync and async methods are generated from these: ``_generated.py``)."""

    _runtime: Runtime[TransportT, SenderT, DriverT]
    transport: TransportT
    _sender: SenderT

    def __init__(
        self,
        api_key: str | None = None,
        secret_key: str | None = None,
        *,
        region: Region | None = None,
        base_url: str | None = None,
        settings: Settings | None = None,
        defaults: EventDefaults | Mapping[str, Any] | None = None,
        sender: SenderOptions | None = None,
        validation: NormalizeOptions | None = None,
        retry: RetryPolicy | None = None,
        on_delivered: DeliveredCallback | None = None,
        on_failed: FailedCallback | None = None,
        on_wait: WaitCallback | None = None,
        plan: PlanLike | None = None,
    ) -> None:
        self.settings = settings or load_settings(
            api_key=api_key, secret_key=secret_key, region=region, base_url=base_url
        )
        self.settings.require_api_key()
        self.defaults = (
            defaults
            if isinstance(defaults, EventDefaults) or defaults is None
            else EventDefaults.model_validate(dict(defaults))
        ) or EventDefaults()
        self.validation = validation or NormalizeOptions()
        self.sender_options = sender or SenderOptions()
        self.retry = retry or RetryPolicy()
        self.limits = Limits()
        self.on_wait = on_wait
        """``on_wait(reason, seconds)``: told before each wait on a rate limit (a 429's
        ``Retry-After``, or the client's own query-cost budget)."""
        self.budgets = QueryBudgets(on_wait=on_wait)
        """Per-client query-cost budgets (Dashboard, user search/activity, taxonomy)."""
        self.plan: TrackingPlan | None = None
        """The tracking plan events are checked against before they are queued (``plan=``: a
        YAML/JSON file, its document or a ``TrackingPlan``; off by default)."""
        if plan is not None:
            from ampkit.ingest.plan import client_plan

            self.plan = client_plan(plan)
        self._on_delivered = on_delivered
        self._on_failed = on_failed
        self._start()

    def _start(self) -> None:
        """Make the transport and the background sender (sync or async: the runtime)."""
        self.transport = self._runtime.transport(self.settings, policy=self.retry,
                                                limits=self.limits, on_wait=self.on_wait)
        self._sender = self._runtime.sender(self.transport, self._core())

    def _runner(self) -> DriverT:
        """The client's driver (stateless: one per transport and sender, made once — a
        ``track`` call runs a flow too)."""
        cached: tuple[Any, Any, DriverT] | None = self.__dict__.get("_driver")
        if cached is None or cached[0] is not self.transport or cached[1] is not self._sender:
            cached = (self.transport, self._sender, self._runtime.driver(
                self.transport, budgets=self.budgets, effects=self._effects()))
            self.__dict__["_driver"] = cached
        return cached[2]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(region={self.settings.region!r}, "
            f"ingest={redact_urls(self.settings.base_for('ingest'))!r})"
        )

    def _core(self) -> SenderCore:
        return SenderCore(
            self.sender_options,
            min_id_length=self._min_id_length(),
            secrets=self.settings.secrets(),
            retry_delay=self.retry.max_delay,
            on_delivered=self._on_delivered,
            on_failed=self._on_failed,
        )

    def _min_id_length(self) -> int | None:
        n = self.validation.min_id_length
        return None if n == 5 else n

    def _encode(self, events: TrackedEvent | Iterable[TrackedEvent]) -> list[bytes]:
        """Validate and encode; raises before anything is queued if any event is invalid.

        Each payload is copied to its size at once: orjson hands out buffers of 4 KB and more,
        and a ``track`` of a list would otherwise hold one per event until all are queued."""
        now = time.time_ns() // 1_000_000
        defaults, validation, dumps = self.defaults, self.validation, orjson.dumps
        if self.plan is not None:
            return self._encode_planned(events, now)
        if events.__class__ is dict or isinstance(events, Mapping | Event):
            one = normalize_event(events, defaults, validation,
                                  index=0, now_ms=now)
            return [encode_event(one, 0)]
        if isinstance(events, str | bytes) or not isinstance(events, Iterable):
            raise InvalidEventError("events", "must be an event (a dict or an Event) or a list "
                                    f"of them, got {type(events).__name__}")
        items = list(events)
        try:
            return [
                bytes(memoryview(dumps(normalize_event(e, defaults, validation, index=i,
                                                       now_ms=now))))
                for i, e in enumerate(items)
            ]
        except TypeError:  # what only the encoder refuses (an integer past 64 bits, a lone
            # surrogate): found and named, event by event — the loop above stays inline, a
            # call per event costs a tenth of encoding
            return [encode_event(normalize_event(e, defaults, validation, index=i, now_ms=now),
                                 i) for i, e in enumerate(items)]

    def _encode_planned(self, events: TrackedEvent | Iterable[TrackedEvent],
                        now: int) -> list[bytes]:
        """:meth:`_encode` with the tracking plan checked on the wire events first."""
        from ampkit.ingest.plan import enforce

        items = [events] if isinstance(events, Mapping | Event) else list(events)
        wire = [normalize_event(e, self.defaults, self.validation, index=i, now_ms=now)
                for i, e in enumerate(items)]
        assert self.plan is not None
        enforce(self.plan, wire)
        return [encode_event(w, i) for i, w in enumerate(wire)]

    def _identify_event(
        self,
        properties: Operations,
        user_id: str | None,
        device_id: str | None,
        fields: Mapping[str, Any],
    ) -> dict[str, Any]:
        return {**fields, **_property_event("$identify", user_id, device_id,
                                            user_properties=_operations(properties))}

    def _group_event(
        self,
        group_type: str,
        group_value: str,
        properties: Operations,
        user_id: str | None,
        device_id: str | None,
    ) -> dict[str, Any]:
        return _property_event("$groupidentify", user_id, device_id,
                               groups={group_type: group_value},
                               group_properties=_operations(properties, group=True))

    def _has_id(self, user_id: str | None, device_id: str | None) -> bool:
        return bool(user_id or device_id or self.defaults.user_id or self.defaults.device_id)

    @staticmethod
    def _revenue_event(
        price: float | None,
        quantity: int,
        revenue: float | None,
        product_id: str | None,
        revenue_type: str | None,
        currency: str | None,
        event_type: str,
        fields: Mapping[str, Any],
    ) -> dict[str, Any]:
        if price is None and revenue is None:
            raise InvalidEventError("price", "revenue needs price (with quantity) or revenue")
        event = {
            **fields,
            "event_type": event_type,
            "price": price,
            "quantity": quantity,
            "revenue": revenue,
            "productId": product_id,
            "revenueType": revenue_type,
            "currency": currency,
        }
        return {k: v for k, v in event.items() if v is not None}

    def _identifications(
        self, identifications: Sequence[Mapping[str, Any]], *, group: bool
    ) -> list[dict[str, Any]]:
        if not identifications:
            raise InvalidEventError("identification", "at least one object is required")
        return [normalize_identification(i, self.validation, group=group) for i in identifications]

    def _queued(self, payloads: list[bytes]) -> list[QueuedEvent]:
        return [QueuedEvent(i, p) for i, p in enumerate(payloads)]

    # --- the ingestion methods, as flows ---------------------------------------------------

    @property
    def queued(self) -> int:
        """Events accepted but not yet settled (delivered or failed)."""
        return len(self._sender.core.queue)

    def _effects(self) -> Mapping[str, Callable[..., Any]]:
        """What a flow's :class:`~ampkit.core.flow.Effect` names (the sender's own methods,
        coroutines on the async client)."""
        return {"enqueue": self._sender.enqueue, "flush": self._sender.flush}

    def _track_flow(self, events: TrackedEvent | Iterable[TrackedEvent]) -> Flow[int]:
        """Validate and queue one event or many; returns how many were queued."""
        queued: int = yield Effect("enqueue", (self._encode(events),))
        return queued

    def _identify_flow(
        self,
        properties: Operations,
        *,
        user_id: str | None = None,
        device_id: str | None = None,
        **fields: Any,
    ) -> Flow[int]:
        """Queue a ``$identify`` event applying property operations to a user."""
        return (yield from self._track_flow(
            self._identify_event(properties, user_id, device_id, fields)))

    def _group_identify_flow(
        self,
        group_type: str,
        group_value: str,
        properties: Operations,
        *,
        user_id: str | None = None,
        device_id: str | None = None,
    ) -> Flow[int]:
        """Set group properties: a queued ``$groupidentify`` event when a user/device id is
        known, otherwise a direct call to the Group Identify API."""
        if not self._has_id(user_id, device_id):
            yield from self._group_identify_api_flow(
                [{"group_type": group_type, "group_value": group_value,
                  "group_properties": _operations(properties, group=True)}])
            return 1
        return (yield from self._track_flow(
            self._group_event(group_type, group_value, properties, user_id, device_id)))

    def _revenue_flow(
        self,
        price: float | None = None,
        quantity: int = 1,
        *,
        revenue: float | None = None,
        product_id: str | None = None,
        revenue_type: str | None = None,
        currency: str | None = None,
        event_type: str = "revenue_amount",
        **fields: Any,
    ) -> Flow[int]:
        """Queue a revenue event (price × quantity, or revenue; negative for refunds)."""
        return (yield from self._track_flow(self._revenue_event(
            price, quantity, revenue, product_id, revenue_type, currency, event_type, fields)))

    def _send_flow(self, events: TrackedEvent | Iterable[TrackedEvent]) -> Flow[DeliveryReport]:
        """Send now, bypassing the queue, and report what became of every event."""
        return (yield from delivery_flow(
            self._queued(self._encode(events)),
            use_batch=self.sender_options.use_batch,
            min_id_length=self._min_id_length(),
            throttle_delay=self.sender_options.throttle(),
            secrets=self.settings.secrets(),
        ))

    def _identify_api_flow(self, identifications: Sequence[Mapping[str, Any]]) -> Flow[str]:
        """Call the Identify API (``/identify``) now (not an event); returns the answer text."""
        spec = identify_spec(self._identifications(identifications, group=False))
        raw = yield from single(spec)
        check_identify(raw, spec.endpoint, self.settings.secrets())
        return raw.text

    def _group_identify_api_flow(
        self, identifications: Sequence[Mapping[str, Any]]
    ) -> Flow[str]:
        """Call the Group Identify API (``/groupidentify``) now; returns the answer text."""
        spec = identify_spec(self._identifications(identifications, group=True), group=True)
        raw = yield from single(spec)
        check_identify(raw, spec.endpoint, self.settings.secrets())
        return raw.text

    def _flush_flow(self, timeout: float | None = None) -> Flow[bool]:
        """Send everything queued; ``True`` once all of it is settled."""
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(
                timeout, int | float) or not 0 <= timeout < float("inf")):
            raise ValueError(f"timeout: seconds (a number ≥ 0) or None, got {timeout!r}")
        settled: bool = yield Effect("flush", (timeout,))
        return settled


class SyncClient(ClientBase[SyncTransport, BackgroundSender, Driver]):
    """The sync client's runtime: a background thread sends, flows run in the caller's thread."""

    _runtime = Runtime(SyncTransport, BackgroundSender, Driver)

    def _run(self, flow: Flow[T]) -> T:
        return self._runner().run(flow)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout: float | None = None) -> bool:
        """Flush and stop the sender; ``True`` if nothing was left undelivered."""
        try:
            return self._sender.close(timeout)
        finally:
            self.transport.close()


class AsyncClient(ClientBase[AsyncTransport, AsyncBackgroundSender, AsyncDriver]):
    """The async client's runtime: an asyncio task sends, flows are awaited."""

    _runtime = Runtime(AsyncTransport, AsyncBackgroundSender, AsyncDriver)

    async def _run(self, flow: Flow[T]) -> T:
        return await self._runner().run(flow)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, timeout: float | None = None) -> bool:
        """Flush and stop the sender; ``True`` if nothing was left undelivered."""
        try:
            return await self._sender.close(timeout)
        finally:
            await self.transport.aclose()


__all__ = ["AsyncClient", "ClientBase", "Operations", "Runtime", "SyncClient", "TrackedEvent"]
