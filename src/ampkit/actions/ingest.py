"""Write actions: send events (many, or one: ModuleX's ``send_event``), identify a user, set
group properties — the last three with ModuleX's contract (seed 001)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ampkit.actions.base import ActionInput, ActionOutput
from ampkit.actions.registry import REGISTRY
from ampkit.client import Amplitude
from ampkit.errors import InvalidEventError
from ampkit.ingest.identify import Identify

Props = dict[str, Any]


class EventIn(BaseModel):
    """One event (the documented keys; other documented keys are accepted as they are)."""

    model_config = ConfigDict(extra="allow")

    event_type: str = Field(min_length=1, description="The event's name, e.g. 'Signed Up'.")
    user_id: str | None = Field(default=None, description="Your id of the user (≥ 5 chars); "
                                "user_id or device_id is required.")
    device_id: str | None = Field(default=None, description="The device's id (≥ 5 chars).")
    time: int | None = Field(default=None, ge=0, description="When it happened, in "
                             "milliseconds since the epoch (default: now).")
    event_properties: Props | None = Field(default=None, description="Properties of the event.")
    user_properties: Props | None = Field(default=None, description="User properties to set "
                                          "(plain values) or operations ({'$set': {...}}).")
    groups: Props | None = Field(default=None, description="Groups of the user, e.g. "
                                 "{'company': 'Acme'}.")
    session_id: int | None = Field(default=None, description="Session start time in ms "
                                   "since the epoch (-1: no session).")
    insert_id: str | None = Field(default=None, description="Unique id for deduplication "
                                  "(default: a new UUID).")
    platform: str | None = Field(default=None, description="e.g. 'iOS', 'Android', 'Web'.")
    app_version: str | None = Field(default=None, description="Version of the app.")
    country: str | None = Field(default=None, description="Country of the user.")
    price: float | None = Field(default=None, description="Revenue: price of one item.")
    quantity: int | None = Field(default=None, description="Revenue: number of items.")
    revenue: float | None = Field(default=None, description="Revenue: total (negative for "
                                  "refunds); default price × quantity.")
    product_id: str | None = Field(default=None, description="Revenue: product id.")
    revenue_type: str | None = Field(default=None, description="Revenue: type, e.g. 'refund'.")
    currency: str | None = Field(default=None, description="Revenue: 3-letter ISO code.")


class SendEventsInput(ActionInput):
    events: list[EventIn] = Field(min_length=1, max_length=2000,
                                  description="The events to send (1 to 2,000).")


class FailedEvent(BaseModel):
    index: int = Field(description="Position of the event in the input list.")
    reason: str = Field(description="Why Amplitude did not take it.")
    status: int | None = Field(default=None, description="HTTP status of the refusal.")


class SendEventsOutput(ActionOutput):
    delivered: int = Field(default=0, description="Events Amplitude accepted.")
    failed: list[FailedEvent] = Field(default_factory=list,
                                      description="Events that were refused, with the reason.")
    deferred: int = Field(default=0, description="Events held back by a throttle (not sent; "
                          "send them again later).")
    requests: int = Field(default=0, description="HTTP requests made.")


@REGISTRY.action("send_events", title="Send events", read_only=False)
def send_events(client: Amplitude, args: SendEventsInput) -> SendEventsOutput:
    """Send events to Amplitude now (HTTP V2 API) and report what became of each one.

    Every event needs event_type and user_id or device_id; it is checked before anything is
    sent, and an invalid event is named by its index. Events get a time and an insert_id when
    they have none, so a retried event is never counted twice; a request too large is split.
    Uses the API key only.
    """
    events = [e.model_dump(exclude_none=True) for e in args.events]
    report = client.send(events)
    failed = [FailedEvent(index=e.id, reason=f.reason, status=f.status)
              for f in report.failed for e in f.events]
    out = SendEventsOutput(delivered=len(report.delivered), failed=sorted(failed,
                           key=lambda f: f.index), deferred=len(report.deferred),
                           requests=report.requests)
    if failed or report.deferred:
        first = out.failed[0] if out.failed else None
        out.success = False
        out.code = first.status if first else 429
        out.error = (f"{len(failed)} of {len(events)} events were refused"
                     + (f" (first: event[{first.index}]: {first.reason})" if first else "")
                     + (f"; {len(report.deferred)} were throttled — send them again in a "
                        "minute" if report.deferred else ""))
    return out


class SendEventInput(EventIn, ActionInput):
    """One event, its keys as arguments (ModuleX's ``send_event``)."""

    model_config = ConfigDict(extra="forbid")

    event_type: str = Field(min_length=1, description="Name of the event (e.g. 'page_view', "
                            "'purchase').")
    language: str | None = Field(default=None, description="Language code (e.g. 'en').")
    ip: str | None = Field(default=None, description="IP address for geo-location ('$remote': "
                           "the request's address).")


class SendEventOutput(ActionOutput):
    """ModuleX's ``SendEventOutput``: Amplitude's answer to the upload (plus ``insert_id``)."""

    events_ingested: int | None = Field(default=None, description="Events Amplitude took.")
    payload_size_bytes: int | None = Field(default=None, description="Size of the upload.")
    server_upload_time: int | None = Field(default=None, description="When Amplitude received "
                                           "it, in milliseconds since the epoch.")
    insert_id: str | None = Field(default=None, description="The event's insert_id (made when "
                                  "not given): send it again with it and it counts once.")


@REGISTRY.action("send_event", title="Send an event", read_only=False)
def send_event(client: Amplitude, args: SendEventInput) -> SendEventOutput:
    """Send one event to Amplitude now (HTTP V2 API) and give Amplitude's answer:
    events_ingested, payload_size_bytes, server_upload_time.

    Needs event_type and user_id or device_id (≥ 5 characters); revenue with price, quantity,
    revenue, product_id, revenue_type. The event gets a time and an insert_id when it has none,
    so sending it again never counts it twice. Uses the API key only.
    """
    try:
        report = client.send([args.model_dump(exclude_none=True)])
    except InvalidEventError as exc:  # named as an argument, not as event[0] of a list
        raise InvalidEventError(exc.field, exc.rule) from None
    sent = report.delivered or [f.events[0] for f in report.failed] or \
        [e for e, _ in report.deferred]
    insert_id = sent[0].event().get("insert_id") if sent else None
    out = SendEventOutput(insert_id=insert_id if isinstance(insert_id, str) else None)
    if report.failed:
        failure = report.failed[0]
        out.success, out.code = False, failure.status
        out.error = f"Amplitude refused the event: {failure.reason}"
    elif report.deferred:
        wait = report.deferred[0][1]
        out.success, out.code = False, 429
        out.error = (f"throttled: Amplitude limits this user or device; send the event again "
                     f"in {wait:g} s (same insert_id)")
    else:
        out.code = 200
        if report.accepted:
            out.events_ingested = sum(a.events_ingested for a in report.accepted)
            out.payload_size_bytes = sum(a.payload_size_bytes for a in report.accepted)
            out.server_upload_time = max(a.server_upload_time for a in report.accepted)
    return out


PROPS_HELP = ("As an object of operations: {'$set': {'plan': 'pro'}, '$setOnce': {...}, "
              "'$add': {'logins': 1}, '$append': {...}, '$prepend': {...}, '$unset': "
              "{'old': '-'}}; plain keys ({'plan': 'pro'}) are $set. A property may appear "
              "under one operation only.")


def _operations(given: Props, field: str, *, group: bool = False) -> dict[str, Any]:
    """The checked operations of ``given`` (plain keys are ``$set``); at least one."""
    if not given:
        raise InvalidEventError(field, "needs at least one property or operation, e.g. "
                                       "{'$set': {'plan': 'pro'}}")
    ops = Identify(given).operations(group=group)
    if not ops:
        raise InvalidEventError(field, "needs at least one property or operation")
    return ops


class IdentifyUserInput(ActionInput):
    user_properties: Props = Field(description="User properties to set. " + PROPS_HELP
                                   + " Users also take $preInsert, $postInsert, $remove and "
                                   "$clearAll ('-', alone).")
    user_id: str | None = Field(default=None, description="User ID (required if no "
                                "device_id).")
    device_id: str | None = Field(default=None, description="Device ID (required if no "
                                  "user_id).")


class IdentifyOutput(ActionOutput):
    """ModuleX's ``IdentifyUserOutput`` / ``GroupIdentifyOutput`` (plus ``operations``)."""

    message: str | None = Field(default=None, description="Amplitude's answer ('success').")
    operations: dict[str, Any] = Field(default_factory=dict,
                                       description="The operations that were sent.")


@REGISTRY.action("identify_user", title="Identify a user", read_only=False)
def identify_user(client: Amplitude, args: IdentifyUserInput) -> IdentifyOutput:
    """Update a user's properties through the Identify API (no event is created).

    Give user_id or device_id and user_properties: operations such as {'$set': {...}},
    '$setOnce', '$add', '$append', '$prepend', '$unset', '$preInsert', '$postInsert',
    '$remove', or '$clearAll' alone; plain keys are set. Uses the API key only.
    """
    ops = _operations(args.user_properties, "user_properties")
    ident = {"user_id": args.user_id, "device_id": args.device_id, "user_properties": ops}
    message = client.identify_api([{k: v for k, v in ident.items() if v is not None}])
    return IdentifyOutput(code=200, message=message, operations=ops)


class GroupIdentifyInput(ActionInput):
    group_type: str = Field(min_length=1, description="Group classification (e.g. "
                            "'company', 'org_id').")
    group_value: str = Field(min_length=1, description="Specific group identifier (e.g. "
                             "'Acme Corp').")
    group_properties: Props = Field(description="Group properties to set. " + PROPS_HELP)


@REGISTRY.action("group_identify", title="Set group properties", read_only=False)
def group_identify(client: Amplitude, args: GroupIdentifyInput) -> IdentifyOutput:
    """Set properties of a group (e.g. a company) through the Group Identify API.

    group_properties takes {'$set': {...}}, '$setOnce', '$add', '$append', '$prepend',
    '$unset' (plain keys are set). Uses the API key only (group analytics must be enabled on
    the project).
    """
    ops = _operations(args.group_properties, "group_properties", group=True)
    message = client.group_identify_api([{"group_type": args.group_type,
                                          "group_value": args.group_value,
                                          "group_properties": ops}])
    return IdentifyOutput(code=200, message=message, operations=ops)
