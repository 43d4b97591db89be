"""Amplitude's ingestion semantics, without I/O: validate a request, then turn its events into
rows and property updates.  The rules are the same ones the client checks before sending
(:mod:`ampkit.models.rules`), applied here the way Amplitude applies them (short ids stripped).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from ampkit.models.ingest import (
    ERR_INVALID_API_KEY,
    ERR_INVALID_EVENT_JSON,
    ERR_INVALID_FIELDS,
    ERR_INVALID_JSON,
    ERR_MISSING_BODY,
    ERR_MISSING_FIELD,
    ERR_SILENCED,
    ERR_TOO_LARGE,
    ERR_TOO_MANY,
    IngestErrorBody,
    SuccessSummary,
)
from ampkit.models.rules import (
    DEFAULT_MIN_ID_LENGTH,
    INVALID_ID_VALUES,
    apply_operations,
    check_event,
    index_violations,
    is_number,
)
from ampkit.server.config import LimitsConfig, ProjectConfig
from ampkit.server.schema import dedup_hash, dedup_key
from ampkit.server.state import ProjectState, UserState
from ampkit.server.throttle import Throttle

Api = Literal["httpapi", "batch"]
PATHS: dict[Api, str] = {"httpapi": "/2/httpapi", "batch": "/batch"}

# ingest key → export/stored column, for plain copies
_COPY = {
    "app_version": "version_name", "platform": "platform", "os_name": "os_name",
    "os_version": "os_version", "device_brand": "device_brand",
    "device_manufacturer": "device_manufacturer", "device_model": "device_model",
    "carrier": "device_carrier", "country": "country", "region": "region", "city": "city",
    "dma": "dma", "language": "language", "library": "library", "ip": "ip_address",
    "idfa": "idfa", "adid": "adid", "partner_id": "partner_id",
    "location_lat": "location_lat", "location_lng": "location_lng",
    "event_id": "event_id", "start_version": "start_version",
}
_REVENUE = {"price": "$price", "quantity": "$quantity", "revenue": "$revenue",
            "productId": "$productId", "revenueType": "$revenueType", "currency": "$currency"}
_HANDLED = frozenset({
    "event_type", "user_id", "device_id", "time", "event_properties", "user_properties",
    "groups", "group_properties", "session_id", "insert_id", "plan", "$skip_user_properties_sync",
    *_COPY, *_REVENUE,
})
USER_FIELDS = ("app_version", "platform", "os_name", "os_version", "device_brand",
               "device_manufacturer", "device_model", "carrier", "country", "region", "city",
               "dma", "language", "start_version")


@dataclass
class Outcome:
    """What to answer, and what to store when the answer is 200."""

    status: int
    body: SuccessSummary | IngestErrorBody
    rows: list[dict[str, Any]] = field(default_factory=list)
    accepted_ids: list[tuple[str | None, str | None]] = field(default_factory=list)
    duplicates: int = 0


def error(status: int, message: str, **fields: Any) -> Outcome:
    return Outcome(status, IngestErrorBody(code=status, error=message, **fields))


def invalid_key_message(api_key: str) -> str:
    """Amplitude echoes the key after a colon (the official SDK matches the prefix)."""
    return f"{ERR_INVALID_API_KEY}: {api_key}"


@dataclass
class ParsedRequest:
    api_key: str
    events: list[Any]
    min_id_length: int


def parse_events_request(
    body: bytes, api: Api, limits: LimitsConfig
) -> ParsedRequest | Outcome:
    """Request-level checks of ``/2/httpapi`` and ``/batch`` (reference §2.1, §2.7, §3.4)."""
    cap = limits.httpapi_max_bytes if api == "httpapi" else limits.batch_max_bytes
    if len(body) > cap:
        return error(413, ERR_TOO_LARGE)
    if not body.strip():
        return error(400, ERR_MISSING_BODY)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return error(400, ERR_INVALID_JSON)
    if not isinstance(data, dict):
        return error(400, ERR_INVALID_JSON)
    api_key = data.get("api_key")
    if api_key is None or api_key == "":
        return error(400, ERR_MISSING_FIELD, missing_field="api_key")
    if not isinstance(api_key, str):
        return error(400, invalid_key_message(str(api_key)))
    events = data.get("events")
    if events is None or events == []:
        return error(400, ERR_MISSING_FIELD, missing_field="events")
    if not isinstance(events, list):
        return error(400, ERR_INVALID_EVENT_JSON)
    if len(events) > limits.max_events_per_request:
        return error(413, ERR_TOO_LARGE)
    min_id_length = DEFAULT_MIN_ID_LENGTH
    options = data.get("options")
    if options is not None:
        value = options.get("min_id_length") if isinstance(options, dict) else "bad"
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                return error(400, ERR_INVALID_JSON, missing_field=None,
                             events_with_invalid_fields={"options.min_id_length": []})
            min_id_length = value
    return ParsedRequest(api_key, events, min_id_length)


def _clean_id(value: Any, min_id_length: int) -> str | None:
    if not isinstance(value, str) or len(value) < min_id_length:
        return None
    if value.strip().lower() in INVALID_ID_VALUES:
        return None
    return value


def check_request(
    request: ParsedRequest, project: ProjectConfig, throttle: Throttle, now_ms: int
) -> Outcome | None:
    """Per-event validation, silenced devices and throttles; ``None`` when all is well."""
    per_event = {}
    for i, event in enumerate(request.events):
        violations = check_event(event, min_id_length=request.min_id_length,
                                 strip_short_ids=True)
        if violations:
            per_event[i] = violations
    if per_event:
        invalid, missing = index_violations(per_event)
        return error(400, ERR_INVALID_FIELDS, events_with_invalid_fields=invalid,
                     events_with_missing_fields=missing)
    ids = [
        (_clean_id(e.get("user_id"), request.min_id_length),
         _clean_id(e.get("device_id"), request.min_id_length))
        for e in request.events
    ]
    if project.silenced_devices:
        silenced = set(project.silenced_devices)
        hit = [i for i, (_, d) in enumerate(ids) if d in silenced]
        if hit:
            return error(400, ERR_SILENCED, eps_threshold=int(throttle.eps),
                         silenced_devices=sorted({ids[i][1] for i in hit if ids[i][1]}),
                         silenced_events=hit)
    verdict = throttle.check(ids, now_ms)
    if verdict.refused:
        return error(
            429, ERR_TOO_MANY, eps_threshold=int(throttle.eps),
            throttled_users=verdict.throttled_users, throttled_devices=verdict.throttled_devices,
            exceeded_daily_quota_users=verdict.quota_users,
            exceeded_daily_quota_devices=verdict.quota_devices,
            throttled_events=[i for i, (u, d) in enumerate(ids) if verdict.hits(u, d)],
        )
    return None


class EventBuilder:
    """Turns accepted events into stored rows, updating identities and properties."""

    def __init__(self, state: ProjectState, next_amplitude_id: int) -> None:
        self.state = state
        self.next_amplitude_id = next_amplitude_id

    def build(
        self, request: ParsedRequest, api: Api, body_size: int, now_ms: int, first_seq: int,
        recent: Callable[[list[tuple[str, str]]], set[tuple[str, str]]],
    ) -> Outcome:
        """Rows for the events of ``request`` that are not duplicates.  ``recent`` answers
        which deduplication keys the store already holds (one look-up per request)."""
        ids = [(_clean_id(e.get("user_id"), request.min_id_length),
                _clean_id(e.get("device_id"), request.min_id_length)) for e in request.events]
        keys = [None if e.get("insert_id") is None else dedup_key(u, d, e["insert_id"])
                for e, (u, d) in zip(request.events, ids, strict=True)]
        seen = recent([k for k in keys if k is not None])
        rows: list[dict[str, Any]] = []
        duplicates = 0
        for event, (user_id, device_id), key in zip(request.events, ids, keys, strict=True):
            if key is not None:
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)  # a second copy in the same request is a duplicate too
            row = self._row(event, user_id, device_id, api, now_ms, first_seq + len(rows))
            row["dedup_hash"] = None if key is None else dedup_hash(key)
            rows.append(row)
        summary = SuccessSummary(events_ingested=len(request.events),
                                 payload_size_bytes=body_size, server_upload_time=now_ms)
        return Outcome(200, summary, rows, ids, duplicates)

    def _row(
        self, event: Mapping[str, Any], user_id: str | None, device_id: str | None, api: Api,
        now_ms: int, seq: int,
    ) -> dict[str, Any]:
        user, new = self.state.resolve(user_id, device_id, self.next_amplitude_id)
        if new:
            self.next_amplitude_id += 1
        time = event.get("time")
        event_ms = time if isinstance(time, int) else now_ms
        first_event = user.first_seen_ms is None
        if first_event or (user.first_seen_ms is not None and event_ms < user.first_seen_ms):
            user.first_seen_ms = event_ms
        user.last_seen_ms = max(user.last_seen_ms or event_ms, event_ms)
        self.state.touch(user)

        props = dict(event.get("event_properties") or {})
        revenue = _revenue(event, props)
        if revenue is not None:
            user.paying = True
        updated = self._user_properties(user, event)
        group_props = event.get("group_properties")
        groups = event.get("groups")
        if isinstance(groups, dict) and isinstance(group_props, dict) and group_props:
            for gtype, gvalue in groups.items():
                for value in gvalue if isinstance(gvalue, list) else [gvalue]:
                    group = self.state.group(str(gtype), str(value))
                    group.group_properties = apply_operations(group.group_properties,
                                                              group_props)
                    self.state.touch_group(group)
        if isinstance(groups, dict) and event["event_type"] == "$identify":
            # a user-level group (the SDKs' set_group): every later event of the user
            # belongs to it too (Amplitude's Accounts docs)
            user.fields["groups"] = {**user.fields.get("groups", {}), **groups}
        member_of = user.fields.get("groups")
        if isinstance(member_of, dict) and member_of:
            groups = {**member_of, **(groups if isinstance(groups, dict) else {})}
        row: dict[str, Any] = {column: event.get(key) for key, column in _COPY.items()}
        brand = event.get("device_brand") or event.get("device_manufacturer")
        extra = {k: v for k, v in event.items() if k not in _HANDLED}
        row.update(
            seq=seq, project_id=self.state.project_id, uuid=str(uuid.uuid4()),
            insert_id=event.get("insert_id"), amplitude_id=user.amplitude_id,
            user_id=user_id, device_id=device_id, event_type=event["event_type"],
            event_time=event_ms, client_event_time=event_ms, client_upload_time=now_ms,
            server_received_time=now_ms, server_upload_time=now_ms, processed_time=now_ms,
            user_creation_time=user.first_seen_ms,
            session_id=-1 if event.get("session_id") is None else event["session_id"],
            library=event.get("library") or "http/2.0",
            device_type=event.get("device_model"), device_family=brand,
            paying=True if user.paying else None, revenue=revenue,
            event_properties=orjson.dumps(props).decode(),
            user_properties=orjson.dumps(user.user_properties).decode(),
            group_properties=orjson.dumps(group_props or {}).decode(),
            groups=orjson.dumps(groups or {}).decode(),
            data=orjson.dumps({
                "path": PATHS[api], "user_properties_updated": updated,
                "first_event": first_event, "group_ids": {}, "group_first_event": {},
            }).decode(),
            plan=orjson.dumps(event.get("plan") or {}).decode(),
            extra=orjson.dumps(extra).decode() if extra else None,
        )
        return row

    def _user_properties(self, user: UserState, event: Mapping[str, Any]) -> bool:
        for key in USER_FIELDS:
            value = event.get(key)
            if value is not None:
                user.fields[key] = value
        ops = event.get("user_properties")
        if not ops or event.get("$skip_user_properties_sync") is True:
            return False
        user.user_properties = apply_operations(user.user_properties, ops)
        return True


def _revenue(event: Mapping[str, Any], props: dict[str, Any]) -> float | None:
    """The event's revenue amount, or ``None`` for an event without revenue.

    Revenue comes two ways, counted the same: top-level ``price``/``quantity``/``revenue`` (the
    HTTP API's fields, copied into ``event_properties`` with ``$`` names), or already in
    ``event_properties`` as ``$price``/``$quantity``/``$revenue`` — what the official SDKs'
    ``Revenue`` objects send (a ``revenue_amount`` event).  Amount = ``revenue`` when present,
    else ``price × quantity`` (quantity 1 when absent).  A non-numeric or non-finite amount
    is no revenue."""
    for key, prop in _REVENUE.items():
        value = event.get(key)
        if value is not None:
            props[prop] = value
    if event.get("revenue") is not None or event.get("price") is not None:
        revenue, price, quantity = event.get("revenue"), event.get("price"), event.get("quantity")
    else:
        revenue, price, quantity = props.get("$revenue"), props.get("$price"), props.get(
            "$quantity")
    amount = _number(revenue)
    if amount is None:
        each = _number(price)
        if each is None:
            return None
        count = _number(quantity)
        amount = each * (1.0 if count is None else count)
    return amount if math.isfinite(amount) else None


def _number(value: Any) -> float | None:
    return float(value) if is_number(value) else None


def apply_identification(
    state: ProjectState, ident: Mapping[str, Any], next_amplitude_id: int, min_id_length: int
) -> int:
    """Identify API: properties and fields for a user, no event.  Returns the next free id."""
    user_id = _clean_id(ident.get("user_id"), min_id_length)
    device_id = _clean_id(ident.get("device_id"), min_id_length)
    user, new = state.resolve(user_id, device_id, next_amplitude_id)
    for key in USER_FIELDS:
        value = ident.get(key)
        if value is not None:
            user.fields[key] = value
    if ident.get("paying") is not None:
        user.fields["paying"] = ident["paying"]
    groups = ident.get("groups")
    if isinstance(groups, dict):
        user.fields["groups"] = {**user.fields.get("groups", {}), **groups}
    ops = ident.get("user_properties")
    if ops:
        user.user_properties = apply_operations(user.user_properties, ops)
    state.touch(user)
    return next_amplitude_id + 1 if new else next_amplitude_id


def apply_group_identification(state: ProjectState, ident: Mapping[str, Any]) -> None:
    group = state.group(str(ident["group_type"]), str(ident["group_value"]))
    group.group_properties = apply_operations(group.group_properties,
                                              ident.get("group_properties") or {})
    state.touch_group(group)
