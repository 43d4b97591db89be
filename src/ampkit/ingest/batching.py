"""Pure batching logic: what goes in a request, and what to do with each answer.

:func:`delivery_flow` is the whole send-a-batch protocol as a generator flow (no I/O):

* 200 with Amplitude's success body → every event delivered (any other 2xx never reaches the
  flow: the transport retries it like a 5xx, see ``RequestSpec.expect``);
* 400 with per-event maps → drop (report) exactly the events named, resend the rest at once;
* 400 naming a request-level problem (bad key, missing field) → raise: nothing can succeed
  (once part of the batch was delivered — a 413's first half — the report keeps that part and
  fails the rest with the error instead);
* 413 → split the batch in halves and send each; a single event still too large is dropped;
* 429 → events over the daily quota are dropped, throttled users/devices are deferred by
  ``throttle_delay`` seconds (each one's events in two halves, one hold apart, so that a
  request never needs more of them than the throttle lets through), the others are resent at
  once.  A hold is not a delivery round: it does not count toward ``max_delivery_rounds``.

5xx, unexpected 2xx, timeouts and broken connections never reach the flow: the transport
retries them by the retry policy, resending the same bytes (so the same insert_ids), and raises
a retryable error once the policy is spent (the background sender then tries the batch again
later, up to ``max_delivery_rounds``, and reports it failed after that).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from ampkit.core.flow import Flow
from ampkit.core.spec import RawResponse
from ampkit.errors import error_for, parse_retry_after
from ampkit.ingest.endpoints import events_spec, parse_error_body, parse_success
from ampkit.models import SuccessSummary


@dataclass(slots=True)
class QueuedEvent:
    """One encoded event waiting to be sent (kept small: a queue holds 100,000 of them)."""

    id: int
    payload: bytes
    not_before: float = 0.0
    attempts: int = 0

    @property
    def size(self) -> int:
        return len(self.payload)

    def event(self) -> dict[str, object]:
        value = orjson.loads(self.payload)
        return value if isinstance(value, dict) else {}


@dataclass
class Failure:
    events: list[QueuedEvent]
    reason: str
    status: int | None = None


@dataclass
class DeliveryReport:
    """What became of a batch."""

    delivered: list[QueuedEvent] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    deferred: list[tuple[QueuedEvent, float]] = field(default_factory=list)
    requests: int = 0
    accepted: list[SuccessSummary] = field(default_factory=list)
    """Amplitude's 200 answers (``events_ingested``, ``payload_size_bytes``,
    ``server_upload_time``), one per request that delivered events."""


def take_batch(
    ready: Sequence[QueuedEvent], max_count: int, max_bytes: int
) -> int:
    """How many of ``ready`` (in order) fit in one request: at least one, if any."""
    total = 0
    overhead = 64
    for n, item in enumerate(ready[:max_count]):
        total += item.size + 1
        if n > 0 and total + overhead > max_bytes:
            return n
    return min(len(ready), max_count)


MIN_HOLD = 0.1
"""Seconds a throttled event waits at the least."""


def _ids_of(event: dict[str, object]) -> tuple[str | None, str | None]:
    user = event.get("user_id")
    device = event.get("device_id")
    return (user if isinstance(user, str) else None, device if isinstance(device, str) else None)


def delivery_flow(
    batch: list[QueuedEvent],
    *,
    use_batch: bool = False,
    min_id_length: int | None = None,
    throttle_delay: float = 30.0,
    secrets: Sequence[str] = (),
) -> Flow[DeliveryReport]:
    """Send ``batch`` and settle every event in it (see the module docstring)."""
    report = DeliveryReport()
    stack: list[list[QueuedEvent]] = [batch] if batch else []
    endpoint = "/batch" if use_batch else "/2/httpapi"
    while stack:
        part = stack.pop()
        raw: RawResponse = yield events_spec(
            [e.payload for e in part], use_batch=use_batch, min_id_length=min_id_length
        )
        report.requests += 1
        if raw.status < 300:
            report.delivered.extend(part)
            summary = parse_success(raw)
            if summary is not None:
                report.accepted.append(summary)
            continue
        if raw.status == 413:
            if len(part) == 1:
                report.failed.append(Failure(part, "payload too large even alone", 413))
            else:
                half = len(part) // 2
                stack.extend([part[half:], part[:half]])
            continue
        body = parse_error_body(raw)
        if raw.status == 400:
            bad = {i for i in body.invalid_indexes() if 0 <= i < len(part)}
            if body.missing_field or not bad:
                err = error_for(raw.status, raw.content, endpoint=endpoint, secrets=secrets)
                if not report.delivered:
                    raise err
                # parts sent before (a 413's halves) were delivered: the report keeps them,
                # and what was still to send fails with this request's error
                for rest in (part, *reversed(stack)):
                    report.failed.append(Failure(rest, str(err), raw.status))
                break
            for i in sorted(bad):
                fields = body.fields_of(i)
                why = (
                    f"{body.error}: {', '.join(fields)}"
                    if fields
                    else f"{body.error or 'rejected'} (device silenced)"
                )
                report.failed.append(Failure([part[i]], why, 400))
            throttled = set(body.throttled_events) - bad
            for i in sorted(throttled):
                if 0 <= i < len(part):
                    report.deferred.append((part[i], throttle_delay))
            rest = [e for i, e in enumerate(part) if i not in bad and i not in throttled]
            if rest:
                stack.append(rest)
            continue
        # 429: per user/device throttling or daily quota; a Retry-After shorter than the
        # throttle delay is the server's own word on when to come back (0.1 s at the least:
        # a server that says 0 on every answer is not sent a request in a tight loop)
        asked = parse_retry_after(raw.headers.get("retry-after"))
        hold = throttle_delay if asked is None else min(throttle_delay, max(MIN_HOLD, asked))
        throttled_idx = {i for i in body.throttled_events if 0 <= i < len(part)}
        if not throttled_idx:
            throttled_idx = set(range(len(part)))
        quota_users = set(body.exceeded_daily_quota_users)
        quota_devices = set(body.exceeded_daily_quota_devices)
        resend: list[QueuedEvent] = []
        held: dict[tuple[str | None, str | None], list[QueuedEvent]] = {}
        for i, item in enumerate(part):
            if i not in throttled_idx:
                resend.append(item)
                continue
            user, device = _ids_of(item.event())
            if (user and user in quota_users) or (device and device in quota_devices):
                report.failed.append(
                    Failure([item], "exceeded daily quota (500,000 events per 24 h)", 429)
                )
            else:
                held.setdefault((user, device), []).append(item)
        # a user's or device's events come back in two halves, one hold apart: more of them
        # than its throttle lets through in one request (900 at 30 EPS) would otherwise be
        # refused whole again after every hold; a half refused again is halved again
        for items in held.values():
            half = (len(items) + 1) // 2
            report.deferred.extend((item, hold if n < half else 2 * hold)
                                   for n, item in enumerate(items))
        if resend:
            stack.append(resend)
    return report
