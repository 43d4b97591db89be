"""Write actions: send events, identify a user, set group properties."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ampkit.actions.base import ActionInput, ActionOutput
from ampkit.actions.registry import REGISTRY
from ampkit.client import Amplitude
from ampkit.models.dashboard.common import rule_error

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


class Operations(ActionInput):
    """Property operations; each property may appear under one operation only."""

    set: Props | None = Field(default=None, description="$set: property → value.")
    set_once: Props | None = Field(default=None, description="$setOnce: set only if unset.")
    add: dict[str, int | float] | None = Field(default=None, description="$add: property → number "
                                         "to add (negative to subtract).")
    append: Props | None = Field(default=None, description="$append: add to a list property.")
    prepend: Props | None = Field(default=None, description="$prepend: add to the front.")
    unset: list[str] | None = Field(default=None, description="$unset: properties to remove.")

    def operations(self) -> dict[str, Any]:
        ops = self._given((("set", "$set"), ("set_once", "$setOnce"), ("add", "$add"),
                           ("append", "$append"), ("prepend", "$prepend")))
        if self.unset:
            ops["$unset"] = dict.fromkeys(self.unset, "-")
        return ops

    def _given(self, fields: tuple[tuple[str, str], ...]) -> dict[str, Any]:
        """``{operation: value}`` for each ``(field, operation)`` whose field is not empty."""
        return {op: value for name, op in fields if (value := getattr(self, name))}

    @model_validator(mode="after")
    def _some(self) -> Self:
        if not self.operations() and not getattr(self, "clear_all", False):
            raise rule_error("set", "give at least one operation (set, set_once, add, "
                             "append, prepend, unset…)")
        return self


class IdentifyInput(Operations):
    user_id: str | None = Field(default=None, description="Your id of the user; user_id or "
                                "device_id is required.")
    device_id: str | None = Field(default=None, description="The device's id.")
    pre_insert: Props | None = Field(default=None, description="$preInsert: add to the front "
                                     "of a list if absent.")
    post_insert: Props | None = Field(default=None, description="$postInsert: add to the end "
                                      "of a list if absent.")
    remove: Props | None = Field(default=None, description="$remove: remove a value from a "
                                 "list property.")
    clear_all: bool = Field(default=False, description="$clearAll: remove every user property "
                            "(alone, irreversible).")

    def operations(self) -> dict[str, Any]:
        ops = super().operations() | self._given((("pre_insert", "$preInsert"),
                                                   ("post_insert", "$postInsert"),
                                                   ("remove", "$remove")))
        if self.clear_all:
            ops["$clearAll"] = "-"
        return ops


class IdentifyOutput(ActionOutput):
    operations: dict[str, Any] = Field(default_factory=dict,
                                       description="The operations that were sent.")


@REGISTRY.action("identify_user", title="Identify a user", read_only=False)
def identify_user(client: Amplitude, args: IdentifyInput) -> IdentifyOutput:
    """Update a user's properties through the Identify API (no event is created).

    Give user_id or device_id and one or more operations: set, set_once, add, append, prepend,
    unset, pre_insert, post_insert, remove, or clear_all alone. Uses the API key only.
    """
    ops = args.operations()
    ident = {"user_id": args.user_id, "device_id": args.device_id, "user_properties": ops}
    client.identify_api([{k: v for k, v in ident.items() if v is not None}])
    return IdentifyOutput(operations=ops)


class GroupIdentifyInput(Operations):
    group_type: str = Field(min_length=1, description="The group type, e.g. 'company'.")
    group_value: str = Field(min_length=1, description="The group, e.g. 'Acme'.")


@REGISTRY.action("group_identify", title="Set group properties", read_only=False)
def group_identify(client: Amplitude, args: GroupIdentifyInput) -> IdentifyOutput:
    """Set properties of a group (e.g. a company) through the Group Identify API.

    Operations allowed on groups: set, set_once, add, append, prepend, unset. Uses the API key
    only (group analytics must be enabled on the project).
    """
    ops = args.operations()
    client.group_identify_api([{"group_type": args.group_type,
                                "group_value": args.group_value, "group_properties": ops}])
    return IdentifyOutput(operations=ops)
