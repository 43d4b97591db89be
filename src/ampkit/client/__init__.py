"""The two entry points: :class:`Amplitude` (sync) and :class:`AsyncAmplitude` (async).

Both expose the same methods with the same signatures (a test checks it); the sync one sends
from a background thread, the async one from an asyncio task.  The query methods (Dashboard
REST, user search/activity, charts, annotations, cohorts, taxonomy, User Profile, raw requests)
live in :mod:`ampkit.client.queries` and :mod:`ampkit.client.aqueries`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from ampkit.client.aexports import AsyncExports
from ampkit.client.aqueries import AsyncQueries
from ampkit.client.exports import SyncExports
from ampkit.client.queries import SyncQueries
from ampkit.config import Region, Settings, load_settings
from ampkit.core.flow import arun_flow, run_flow, single
from ampkit.core.limits import Limits, QueryBudgets
from ampkit.core.policy import RetryPolicy
from ampkit.core.transport import AsyncTransport, SyncTransport, WaitCallback
from ampkit.errors import ConfigError, InvalidEventError
from ampkit.ingest.batching import DeliveryReport, QueuedEvent, delivery_flow
from ampkit.ingest.endpoints import check_identify, identify_spec
from ampkit.ingest.identify import Identify
from ampkit.ingest.normalize import (
    EventDefaults,
    NormalizeOptions,
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

EventLike = Event | Mapping[str, Any]
Operations = Identify | Mapping[str, Any]


class _Base:
    """Everything that is not I/O: settings, validation, building events."""

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
        self._on_delivered = on_delivered
        self._on_failed = on_failed

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(region={self.settings.region!r}, "
            f"ingest={self.settings.base_for('ingest')!r})"
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

    def _encode(self, events: EventLike | Iterable[EventLike]) -> list[bytes]:
        """Validate and encode; raises before anything is queued if any event is invalid."""
        now = time.time_ns() // 1_000_000
        if isinstance(events, Mapping | Event):
            return [orjson.dumps(normalize_event(events, self.defaults, self.validation,
                                                 index=0, now_ms=now))]
        items = list(events)
        return [
            orjson.dumps(
                normalize_event(e, self.defaults, self.validation, index=i, now_ms=now)
            )
            for i, e in enumerate(items)
        ]

    def _identify_event(
        self,
        properties: Operations,
        user_id: str | None,
        device_id: str | None,
        fields: Mapping[str, Any],
    ) -> dict[str, Any]:
        ops = properties if isinstance(properties, Identify) else Identify(properties)
        return {
            **fields,
            "event_type": "$identify",
            "user_id": user_id,
            "device_id": device_id,
            "user_properties": ops.operations(),
        }

    def _group_event(
        self,
        group_type: str,
        group_value: str,
        properties: Operations,
        user_id: str | None,
        device_id: str | None,
    ) -> dict[str, Any]:
        ops = properties if isinstance(properties, Identify) else Identify(properties)
        return {
            "event_type": "$groupidentify",
            "user_id": user_id,
            "device_id": device_id,
            "groups": {group_type: group_value},
            "group_properties": ops.operations(group=True),
        }

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


class Amplitude(_Base, SyncQueries, SyncExports):
    """Sync client.  Events are validated at once and sent from a background thread.

    >>> amp = Amplitude("API_KEY", base_url="http://127.0.0.1:8787")   # doctest: +SKIP
    >>> amp.track({"event_type": "Signed Up", "user_id": "user-42"})   # doctest: +SKIP
    >>> amp.close()                                                     # doctest: +SKIP
    """

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
    ) -> None:
        super().__init__(
            api_key, secret_key, region=region, base_url=base_url, settings=settings,
            defaults=defaults, sender=sender, validation=validation, retry=retry,
            on_delivered=on_delivered, on_failed=on_failed, on_wait=on_wait,
        )
        self.transport = SyncTransport(self.settings, policy=self.retry, limits=self.limits,
                                       on_wait=on_wait)
        self._sender = BackgroundSender(self.transport, self._core())

    def __enter__(self) -> Amplitude:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def queued(self) -> int:
        """Events accepted but not yet settled (delivered or failed)."""
        return len(self._sender.core.queue)

    def track(self, events: EventLike | Iterable[EventLike]) -> int:
        """Validate and queue one event or many; returns how many were queued."""
        return self._sender.enqueue(self._encode(events))

    def identify(
        self,
        properties: Operations,
        *,
        user_id: str | None = None,
        device_id: str | None = None,
        **fields: Any,
    ) -> int:
        """Queue a ``$identify`` event applying property operations to a user."""
        return self.track(self._identify_event(properties, user_id, device_id, fields))

    def group_identify(
        self,
        group_type: str,
        group_value: str,
        properties: Operations,
        *,
        user_id: str | None = None,
        device_id: str | None = None,
    ) -> int:
        """Set group properties: a queued ``$groupidentify`` event when a user/device id is
        known, otherwise a direct call to the Group Identify API."""
        if not self._has_id(user_id, device_id):
            ops = properties if isinstance(properties, Identify) else Identify(properties)
            self.group_identify_api(
                [{"group_type": group_type, "group_value": group_value,
                  "group_properties": ops.operations(group=True)}]
            )
            return 1
        return self.track(self._group_event(group_type, group_value, properties, user_id,
                                            device_id))

    def revenue(
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
    ) -> int:
        """Queue a revenue event (price × quantity, or revenue; negative for refunds)."""
        return self.track(self._revenue_event(price, quantity, revenue, product_id,
                                              revenue_type, currency, event_type, fields))

    def send(self, events: EventLike | Iterable[EventLike]) -> DeliveryReport:
        """Send now, bypassing the queue, and report what became of every event."""
        payloads = self._encode(events)
        return run_flow(
            delivery_flow(
                self._queued(payloads),
                use_batch=self.sender_options.use_batch,
                min_id_length=self._min_id_length(),
                throttle_delay=self.sender_options.throttle(),
                secrets=self.settings.secrets(),
            ),
            self.transport,
        )

    def identify_api(self, identifications: Sequence[Mapping[str, Any]]) -> None:
        """Call the Identify API (``/identify``) now; not an event, not batched."""
        spec = identify_spec(self._identifications(identifications, group=False))
        check_identify(run_flow(single(spec), self.transport), spec.endpoint,
                       self.settings.secrets())

    def group_identify_api(self, identifications: Sequence[Mapping[str, Any]]) -> None:
        """Call the Group Identify API (``/groupidentify``) now."""
        spec = identify_spec(self._identifications(identifications, group=True), group=True)
        check_identify(run_flow(single(spec), self.transport), spec.endpoint,
                       self.settings.secrets())

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued; ``True`` once all of it is settled."""
        return self._sender.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flush and stop the sender; ``True`` if nothing was left undelivered."""
        try:
            return self._sender.close(timeout)
        finally:
            self.transport.close()


class AsyncAmplitude(_Base, AsyncQueries, AsyncExports):
    """Async client: the same methods as :class:`Amplitude`, awaited.

    >>> async with AsyncAmplitude("API_KEY") as amp:           # doctest: +SKIP
    ...     await amp.track({"event_type": "Opened", "device_id": "device-1"})
    """

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
    ) -> None:
        super().__init__(
            api_key, secret_key, region=region, base_url=base_url, settings=settings,
            defaults=defaults, sender=sender, validation=validation, retry=retry,
            on_delivered=on_delivered, on_failed=on_failed, on_wait=on_wait,
        )
        self.transport = AsyncTransport(self.settings, policy=self.retry, limits=self.limits,
                                        on_wait=on_wait)
        self._sender = AsyncBackgroundSender(self.transport, self._core())

    async def __aenter__(self) -> AsyncAmplitude:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def queued(self) -> int:
        """Events accepted but not yet settled (delivered or failed)."""
        return len(self._sender.core.queue)

    async def track(self, events: EventLike | Iterable[EventLike]) -> int:
        """Validate and queue one event or many; returns how many were queued."""
        return await self._sender.enqueue(self._encode(events))

    async def identify(
        self,
        properties: Operations,
        *,
        user_id: str | None = None,
        device_id: str | None = None,
        **fields: Any,
    ) -> int:
        """Queue a ``$identify`` event applying property operations to a user."""
        return await self.track(self._identify_event(properties, user_id, device_id, fields))

    async def group_identify(
        self,
        group_type: str,
        group_value: str,
        properties: Operations,
        *,
        user_id: str | None = None,
        device_id: str | None = None,
    ) -> int:
        """Set group properties (``$groupidentify`` event, or the Group Identify API)."""
        if not self._has_id(user_id, device_id):
            ops = properties if isinstance(properties, Identify) else Identify(properties)
            await self.group_identify_api(
                [{"group_type": group_type, "group_value": group_value,
                  "group_properties": ops.operations(group=True)}]
            )
            return 1
        return await self.track(self._group_event(group_type, group_value, properties,
                                                  user_id, device_id))

    async def revenue(
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
    ) -> int:
        """Queue a revenue event (price × quantity, or revenue; negative for refunds)."""
        return await self.track(self._revenue_event(price, quantity, revenue, product_id,
                                                    revenue_type, currency, event_type, fields))

    async def send(self, events: EventLike | Iterable[EventLike]) -> DeliveryReport:
        """Send now, bypassing the queue, and report what became of every event."""
        payloads = self._encode(events)
        return await arun_flow(
            delivery_flow(
                self._queued(payloads),
                use_batch=self.sender_options.use_batch,
                min_id_length=self._min_id_length(),
                throttle_delay=self.sender_options.throttle(),
                secrets=self.settings.secrets(),
            ),
            self.transport,
        )

    async def identify_api(self, identifications: Sequence[Mapping[str, Any]]) -> None:
        """Call the Identify API (``/identify``) now; not an event, not batched."""
        spec = identify_spec(self._identifications(identifications, group=False))
        check_identify(await arun_flow(single(spec), self.transport), spec.endpoint,
                       self.settings.secrets())

    async def group_identify_api(self, identifications: Sequence[Mapping[str, Any]]) -> None:
        """Call the Group Identify API (``/groupidentify``) now."""
        spec = identify_spec(self._identifications(identifications, group=True), group=True)
        check_identify(await arun_flow(single(spec), self.transport), spec.endpoint,
                       self.settings.secrets())

    async def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued; ``True`` once all of it is settled."""
        return await self._sender.flush(timeout)

    async def close(self, timeout: float | None = None) -> bool:
        """Flush and stop the sender; ``True`` if nothing was left undelivered."""
        try:
            return await self._sender.close(timeout)
        finally:
            await self.transport.aclose()


__all__ = ["Amplitude", "AsyncAmplitude", "ConfigError"]
