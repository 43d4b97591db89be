"""Amplitude's ingestion semantics, without I/O: validate a request, then turn its events into
rows and property updates.  The rules are the same ones the client checks before sending
(:mod:`ampkit.models.rules`), applied here the way Amplitude applies them (short ids stripped).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
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
from ampkit.server.schema import EventBatch, dedup_hash, dedup_key
from ampkit.server.state import ProjectState
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
_DATA = {
    (api, updated, first): orjson.dumps({
        "path": PATHS[api], "user_properties_updated": updated, "first_event": first,
        "group_ids": {}, "group_first_event": {},
    }).decode()
    for api in PATHS for updated in (False, True) for first in (False, True)
}
"""The stored ``data`` column of an event: four texts per API, written once."""
_EMPTY = "{}"
_PROPS_REVENUE = frozenset({"$revenue", "$price", "$quantity"})
"""The event properties :func:`_revenue` reads when the event has no revenue keys."""


@dataclass
class Outcome:
    """What to answer, and what to store when the answer is 200."""

    status: int
    body: SuccessSummary | IngestErrorBody
    batch: EventBatch | None = None
    accepted_ids: list[tuple[str | None, str | None]] = field(default_factory=list)
    duplicates: int = 0
    oversized: list[tuple[int, str, int]] = field(default_factory=list)
    """Events whose property update was not applied: (index in the request, the field, the
    size in bytes the properties would have had)."""


def error(status: int, message: str, **fields: Any) -> Outcome:
    return Outcome(status, IngestErrorBody(code=status, error=message, **fields))


def invalid_key_message(api_key: str) -> str:
    """Amplitude echoes the key after a colon (the official SDK matches the prefix)."""
    return f"{ERR_INVALID_API_KEY}: {api_key}"


REMOTE_IP = "$remote"
"""An event's ``ip`` meaning "the address this request came from"."""


@dataclass
class ParsedRequest:
    api_key: str
    events: list[Any]
    min_id_length: int
    body: bytes = b""
    """The request body as received (kept, not copied, for the bad-event bucket)."""
    remote_ip: str | None = None
    """The address the request came from: what an event's ``ip: "$remote"`` stands for."""


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
    return ParsedRequest(api_key, events, min_id_length, body)


def _clean_id(value: Any, min_id_length: int) -> str | None:
    if not isinstance(value, str) or len(value) < min_id_length:
        return None
    if value.strip().lower() in INVALID_ID_VALUES:
        return None
    return value


def check_events(
    request: ParsedRequest, project: ProjectConfig, throttle: Throttle
) -> Outcome | None:
    """Per-event validation and silenced devices: what depends on the request alone, so it
    runs before the store's lock is taken.  ``None`` when all is well."""
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
    if project.silenced_devices:
        silenced = set(project.silenced_devices)
        ids = event_ids(request)
        hit = [i for i, (_, d) in enumerate(ids) if d in silenced]
        if hit:
            return error(400, ERR_SILENCED, eps_threshold=int(throttle.eps),
                         silenced_devices=sorted({ids[i][1] for i in hit if ids[i][1]}),
                         silenced_events=hit)
    return None


def event_ids(request: ParsedRequest) -> list[tuple[str | None, str | None]]:
    """Each event's (user_id, device_id), short and placeholder ids stripped."""
    m = request.min_id_length
    return [(_clean_id(e.get("user_id"), m), _clean_id(e.get("device_id"), m))
            for e in request.events]


def check_limits(
    ids: list[tuple[str | None, str | None]], throttle: Throttle, now_ms: int
) -> Outcome | None:
    """The per-user/device throttles (under the store's lock: they count what was accepted)."""
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


@dataclass
class Prepared:
    """A valid request's events with everything that depends on them alone worked out before
    the store's lock is taken: the ids, the deduplication keys and the columns of their rows
    that no user state enters (properties as JSON text, revenue, device fields, …).

    What depends on the project's state (Amplitude IDs, user properties, first/last seen,
    duplicates) is :meth:`EventBuilder.build`'s, under the lock."""

    request: ParsedRequest
    api: Api
    size: int
    ids: list[tuple[str | None, str | None]]
    keys: list[tuple[str, str] | None]
    columns: dict[str, list[Any]]
    """Columns of the rows, one value per event (duplicates included)."""
    times: list[int | None]
    revenues: list[float | None]
    fields: list[dict[str, Any] | None]
    """The device fields an event sets on its user (``None``: none)."""
    ops: list[Mapping[str, Any] | None]
    """The user property operations to apply (``None``: none, or skipped)."""
    groups: list[Any]
    group_ops: list[Mapping[str, Any] | None]


def prepare(request: ParsedRequest, api: Api, size: int) -> Prepared:
    """The state-free part of the rows of a valid request (see :class:`Prepared`)."""
    events = request.events
    ids = event_ids(request)
    # an empty insert_id names nothing: it is no deduplication key (as none), else every later
    # event of the user or device sent with "" would be dropped as a duplicate of the first
    keys = [None if e.get("insert_id") in (None, "") else dedup_key(u, d, e["insert_id"])
            for e, (u, d) in zip(events, ids, strict=True)]
    present: set[str] = set()
    for e in events:
        present.update(e)
    nulls = [None] * len(events)
    columns: dict[str, list[Any]] = {
        column: [e.get(key) for e in events] if key in present else nulls
        for key, column in _COPY.items()}
    user_field_keys = [k for k in USER_FIELDS if k in present]
    revenue_keys = not present.isdisjoint(_REVENUE)
    if "ip" in present:  # "$remote": the IP of the HTTP request (reference §2.2)
        columns["ip_address"] = [request.remote_ip if ip == REMOTE_IP else ip
                                 for ip in columns["ip_address"]]
    columns["location_lat"] = _floats(columns["location_lat"])
    columns["location_lng"] = _floats(columns["location_lng"])
    columns.update(
        insert_id=[e.get("insert_id") for e in events],
        event_type=[e["event_type"] for e in events],
        session_id=[-1 if e.get("session_id") is None else e["session_id"] for e in events],
        library=[e.get("library") or "http/2.0" for e in events],
        device_type=columns["device_model"],
        device_family=[e.get("device_brand") or e.get("device_manufacturer") for e in events],
        dedup_hash=[None if k is None else dedup_hash(k) for k in keys],
    )
    event_props, revenues, group_props, groups, plans, extras = [], [], [], [], [], []
    fields: list[dict[str, Any] | None] = []
    ops: list[Mapping[str, Any] | None] = []
    group_ops: list[Mapping[str, Any] | None] = []
    times: list[int | None] = []
    dumps = orjson.dumps
    for e in events:
        props = dict(e.get("event_properties") or {})
        revenue = _revenue(e, props) if revenue_keys or not _PROPS_REVENUE.isdisjoint(
            props) else None
        revenues.append(revenue)
        event_props.append(dumps(props).decode() if props else _EMPTY)
        gprops = e.get("group_properties")
        group_props.append(dumps(gprops).decode() if gprops else _EMPTY)
        group = e.get("groups")
        groups.append(group)
        group_ops.append(gprops if isinstance(group, dict) and isinstance(gprops, dict)
                         and gprops else None)
        plan = e.get("plan")
        plans.append(dumps(plan).decode() if plan else _EMPTY)
        extra = None if _HANDLED.issuperset(e) else {
            k: v for k, v in e.items() if k not in _HANDLED}
        extras.append(dumps(extra).decode() if extra else None)
        time = e.get("time")
        times.append(time if isinstance(time, int) else None)
        user_fields = {k: v for k in user_field_keys if (v := e.get(k)) is not None}
        fields.append(user_fields or None)
        user_ops = e.get("user_properties")
        ops.append(user_ops if user_ops and e.get("$skip_user_properties_sync") is not True
                   else None)
    columns.update(event_properties=event_props, revenue=revenues, group_properties=group_props,
                   plan=plans, extra=extras)
    return Prepared(request, api, size, ids, keys, columns, times, revenues, fields, ops,
                    groups, group_ops)


def _floats(values: list[Any]) -> list[Any]:
    """A DOUBLE column's values as floats (JSON integers past 2**53 included)."""
    return [None if v is None else float(v) for v in values]


class EventBuilder:
    """Turns accepted events into stored rows, updating identities and properties."""

    def __init__(self, state: ProjectState, next_amplitude_id: int,
                 max_properties_bytes: int) -> None:
        self.state = state
        self.next_amplitude_id = next_amplitude_id
        self.max_properties_bytes = max_properties_bytes
        self.oversized: list[tuple[int, str, int]] = []
        self._texts: dict[int, tuple[dict[str, Any], str]] = {}
        """id of a properties object → (it, its JSON text); the object is held, so its id
        cannot be reused while the entry lives."""

    def build(
        self, prepared: Prepared, now_ms: int, first_seq: int,
        recent: Callable[[list[tuple[str, str]], list[int]], set[tuple[str, str]]],
    ) -> Outcome:
        """Rows for the events of ``prepared`` that are not duplicates, applying each one to
        the project's state in arrival order.  ``recent`` answers which deduplication keys
        (given with their hashes) the store already holds (one look-up per request)."""
        keys, hashes = prepared.keys, prepared.columns["dedup_hash"]
        present = [(k, hashes[i]) for i, k in enumerate(keys) if k is not None]
        seen = recent([k for k, _ in present], [h for _, h in present])
        keep: list[int] = []
        duplicates = 0
        for i, key in enumerate(keys):
            if key is not None:
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)  # a second copy in the same request is a duplicate too
            keep.append(i)
        columns = prepared.columns
        if len(keep) < len(keys):
            columns = {name: [values[i] for i in keep] for name, values in columns.items()}
        columns.update(self._apply(prepared, keep, now_ms))
        columns["seq"] = list(range(first_seq, first_seq + len(keep)))
        summary = SuccessSummary(events_ingested=len(keys), payload_size_bytes=prepared.size,
                                 server_upload_time=now_ms)
        return Outcome(200, summary, EventBatch(columns, now_ms), prepared.ids, duplicates,
                       self.oversized)

    def _bounded(self, i: int, field: str, before: dict[str, Any], ops: Any) -> dict[str, Any]:
        """``before`` with ``ops`` applied — or ``before`` itself when the result would weigh
        more than :attr:`max_properties_bytes` as JSON (noted in :attr:`oversized`).  The
        JSON text is kept for the row (:meth:`_text`): it is measured once, not twice."""
        after = apply_operations(before, ops)
        text = orjson.dumps(after)
        if len(text) > self.max_properties_bytes:
            self.oversized.append((i, field, len(text)))
            return before
        self._texts[id(after)] = (after, text.decode())
        return after

    def _text(self, props: dict[str, Any]) -> str:
        """``props`` as JSON text, written once per version of a user's properties (a user's
        events that change nothing share one text, as their rows share one value)."""
        known = self._texts.get(id(props))
        if known is not None and known[0] is props:
            return known[1]
        text = orjson.dumps(props).decode()
        self._texts[id(props)] = (props, text)
        return text

    def _apply(self, prepared: Prepared, keep: list[int], now_ms: int) -> dict[str, list[Any]]:
        """Each kept event applied to its user (and groups), in order: the columns of its row
        that come from that state."""
        state = self.state
        resolve, touch, group_of, touch_group = (
            state.resolve, state.touch, state.group, state.touch_group)
        events, ids, times = prepared.request.events, prepared.ids, prepared.times
        revenues, fields, ops = prepared.revenues, prepared.fields, prepared.ops
        groups, group_ops = prepared.groups, prepared.group_ops
        data = {k[1:]: v for k, v in _DATA.items() if k[0] == prepared.api}
        amplitude_ids, creation, paying, user_props, groups_col, data_col, event_times = (
            [], [], [], [], [], [], [])
        dumps = orjson.dumps
        for i in keep:
            user_id, device_id = ids[i]
            user, new = resolve(user_id, device_id, self.next_amplitude_id)
            if new:
                self.next_amplitude_id += 1
            event_ms = times[i]
            if event_ms is None:
                event_ms = now_ms
            first_seen = user.first_seen_ms
            first_event = first_seen is None
            if first_seen is None or event_ms < first_seen:
                user.first_seen_ms = event_ms
            last_seen = user.last_seen_ms
            user.last_seen_ms = event_ms if not last_seen or event_ms > last_seen else last_seen
            touch(user)
            if revenues[i] is not None:
                user.paying = True
            user_fields = fields[i]
            if user_fields is not None:
                user.fields.update(user_fields)
            user_ops = ops[i]
            if user_ops is not None:
                user.user_properties = self._bounded(i, "user_properties",
                                                     user.user_properties, user_ops)
            gprops = group_ops[i]
            group = groups[i]
            if gprops is not None:
                for gtype, gvalue in group.items():
                    for value in gvalue if isinstance(gvalue, list) else [gvalue]:
                        g = group_of(str(gtype), str(value))
                        g.group_properties = self._bounded(i, "group_properties",
                                                           g.group_properties, gprops)
                        touch_group(g)
            if isinstance(group, dict) and events[i]["event_type"] == "$identify":
                # a user-level group (the SDKs' set_group): every later event of the user
                # belongs to it too (Amplitude's Accounts docs)
                user.fields["groups"] = {**user.fields.get("groups", {}), **group}
            member_of = user.fields.get("groups")
            if isinstance(member_of, dict) and member_of:
                group = {**member_of, **(group if isinstance(group, dict) else {})}
            groups_col.append(dumps(group).decode() if group else _EMPTY)
            amplitude_ids.append(user.amplitude_id)
            creation.append(user.first_seen_ms)
            paying.append(True if user.paying else None)
            user_props.append(self._text(user.user_properties))
            data_col.append(data[(user_ops is not None, first_event)])
            event_times.append(event_ms)
        return {"amplitude_id": amplitude_ids, "user_id": [ids[i][0] for i in keep],
                "device_id": [ids[i][1] for i in keep], "event_time": event_times,
                "user_creation_time": creation, "paying": paying,
                "user_properties": user_props, "groups": groups_col, "data": data_col}


def _revenue(event: Mapping[str, Any], props: dict[str, Any]) -> float | None:
    """The event's revenue amount, or ``None`` for an event without revenue.

    Revenue comes two ways, counted the same: top-level ``price``/``quantity``/``revenue`` (the
    HTTP API's fields, copied into ``event_properties`` with ``$`` names), or already in
    ``event_properties`` as ``$price``/``$quantity``/``$revenue`` — what the official SDKs'
    ``Revenue`` objects send (a ``revenue_amount`` event).  Amount = ``price × quantity`` when
    all three top-level fields are sent (the HTTP API's rule: "when all three are sent, price
    × quantity wins"), else ``revenue`` when present, else ``price × quantity`` (quantity 1
    when absent).  The SDKs send ``$quantity`` (1 by default) with every ``$price``, so their
    ``$revenue``, set only when the caller sets it, wins.
    A non-numeric or non-finite amount is no revenue."""
    for key, prop in _REVENUE.items():
        value = event.get(key)
        if value is not None:
            props[prop] = value
    top = event.get("revenue") is not None or event.get("price") is not None
    if top:
        revenue, price, quantity = event.get("revenue"), event.get("price"), event.get("quantity")
    else:
        revenue, price, quantity = props.get("$revenue"), props.get("$price"), props.get(
            "$quantity")
    each, count = _number(price), _number(quantity)
    amount = _number(revenue)
    if top and amount is not None and each is not None and count is not None:
        amount = each * count
        if math.isfinite(amount):
            props["$revenue"] = amount  # the amount the event counts for, as it is shown
    if amount is None:
        if each is None:
            return None
        amount = each * (1.0 if count is None else count)
    return amount if math.isfinite(amount) else None


def _number(value: Any) -> float | None:
    return float(value) if is_number(value) else None


class PropertiesTooLarge(Exception):
    """An Identify API call would make a user's or group's properties weigh more than the
    bound (``limits.max_user_properties_bytes``): the request is refused, nothing applied
    (:func:`identify_sizes`)."""

    def __init__(self, field: str, size: int, limit: int) -> None:
        super().__init__(f"{field} would weigh {size:,} bytes, over "
                         f"limits.max_user_properties_bytes ({limit:,})")


def _within(before: dict[str, Any], ops: Any, field: str, limit: int) -> dict[str, Any]:
    after = apply_operations(before, ops)
    size = len(orjson.dumps(after))
    if size > limit:
        raise PropertiesTooLarge(field, size, limit)
    return after


def identify_sizes(state: ProjectState, items: Sequence[Mapping[str, Any]], group: bool,
                   limit: int, min_id_length: int) -> tuple[int, PropertiesTooLarge] | None:
    """The first of an Identify (or Group Identify) request's items that would make its user's
    or group's properties weigh more than ``limit``, worked out before anything is applied
    (the request is then refused whole and nothing of it is undone): ``(index, error)``."""
    after: dict[tuple[str, str], dict[str, Any]] = {}  # what earlier items made of a target
    for i, item in enumerate(items):
        if group:
            key = ("g", f"{item.get('group_type')}\x00{item.get('group_value')}")
            found = state.groups.get((str(item.get("group_type")), str(item.get("group_value"))))
            before = found.group_properties if found is not None else {}
            ops, field = item.get("group_properties") or {}, "group_properties"
        else:
            user_id = _clean_id(item.get("user_id"), min_id_length)
            device_id = _clean_id(item.get("device_id"), min_id_length)
            amp = (state.by_user.get(user_id) if user_id is not None else None) or (
                state.by_device.get(device_id) if device_id is not None else None)
            key = ("u", str(amp) if amp is not None else f"new:{user_id}:{device_id}")
            known = state.users.get(amp) if amp is not None else None
            before = known.user_properties if known is not None else {}
            ops, field = item.get("user_properties"), "user_properties"
            if not ops:
                continue
        try:
            after[key] = _within(after.get(key, before), ops, field, limit)
        except PropertiesTooLarge as exc:
            return i, exc
    return None


def apply_identification(
    state: ProjectState, ident: Mapping[str, Any], next_amplitude_id: int, min_id_length: int
) -> int:
    """Identify API: properties and fields for a user, no event (their size checked before, by
    :func:`identify_sizes`).  Returns the next free id."""
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
