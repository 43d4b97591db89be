"""Properties, filters, event definitions and segments as SQL ``WHERE`` fragments.

Properties
    *User* properties (``g``, segment ``prop``, ``subprop_type: "user"``, ``p``): the built-in
    names map to the event's columns — ``version`` → ``version_name``, ``os`` → ``os_name``,
    ``device`` → ``device_family``, ``device_type``, ``carrier`` → ``device_carrier``,
    ``country``, ``city``, ``region``, ``DMA``/``dma``, ``language``, ``platform``,
    ``start_version``, ``library``, ``paying`` (``"true"``/``"false"``), ``device_id``,
    ``user_id``, ``amplitude_id``, ``ip_address``, ``server_upload_time`` /
    ``event_time`` (``YYYY-MM-DD HH:MM:SS`` text); ``gp:<name>`` (and any other name) reads the
    **event's snapshot** of the user's properties (the ``user_properties`` column, i.e. the
    values as they were when the event happened).  *Event* properties read
    ``event_properties``; ``$revenue`` in a numeric context is the event's revenue amount.
    An unset property is ``(none)``.

Operators (values are strings; several values are OR-ed, except ``set is``)
    ``is`` / ``is not``: equality with any value (``(none)`` matches an unset property; an
    array property matches when any element does); ``contains`` / ``does not contain``:
    case-insensitive substring; ``less`` … ``greater or equal``: numeric when the first value
    is a number, else text order; ``set is`` / ``set is not``: the array, as a set, equals the
    values exactly.  Each negative operator keeps exactly the rows its positive one drops: an
    unset property is ``(none)``, so ``is not X`` and ``does not contain X`` keep the events
    that lack the property (Amplitude counts a missing property as "(none)").

Unknown user properties
    A query that groups by a user property (``g``, ``g2``, composition's ``p``, an event's
    ``group_by`` of type ``user``) that is neither built in nor set on any user of the project
    is answered as Amplitude answers it: ``400 {"error": {"http_code": 400, "type": "invalid",
    "message": "Invalid chart definition", "metadata": {"details": "Invalid user property
    <name>"}}}`` (the body of ``tests/fixtures/airbyte/responses/error_400__invalid_chart_
    definition.json``), not one ``(none)`` group.

Special event types
    ``_all`` every stored event; ``_active`` every event except ``$identify`` and
    ``$groupidentify``; ``revenue_amount`` and ``unverified_revenue`` events that carry revenue;
    ``verified_revenue`` none (the local server verifies no receipts); ``ce:<name>`` the event
    type ``<name>`` (custom events are not modelled).  ``_new`` is a retention starting event
    only (the query models refuse it elsewhere).  Any other event type never stored in the
    project is Amplitude's 400 (:func:`require_known_events`).

Segments (``s``, all conditions must hold)
    Property conditions test each event; ``userdata_cohort`` tests membership of a stored
    cohort (``is`` / ``is not``); a "who performed" condition (``type: "event"``) keeps users
    whose count of that event (with its filters) satisfies ``op value`` — counted over the
    query's date range (``currentInterval``/``forEachInterval``, the latter widened by
    ``time_value`` days before ``start``) or over all time up to ``end`` (``allTime``).
    Users who never did the event count 0, so ``>= 0`` keeps everyone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from ampkit.models.dashboard.common import EventDef, Filter, Segment, SegmentCondition
from ampkit.server.query.common import (
    IDENTIFY_EVENTS,
    NONE_LABEL,
    Ctx,
    QueryError,
    Sql,
    all_of,
    any_of,
    sql,
)

_BUILTIN: dict[str, str] = {
    "version": "version_name", "version_name": "version_name", "os": "os_name",
    "os_name": "os_name", "os_version": "os_version", "device": "device_family",
    "device_family": "device_family", "device_type": "device_type",
    "device_model": "device_type", "device_brand": "device_brand",
    "device_manufacturer": "device_manufacturer", "carrier": "device_carrier",
    "device_carrier": "device_carrier", "country": "country", "city": "city",
    "region": "region", "dma": "dma", "language": "language", "platform": "platform",
    "start_version": "start_version", "library": "library", "device_id": "device_id",
    "user_id": "user_id", "ip_address": "ip_address",
    "amplitude_id": "CAST(amplitude_id AS VARCHAR)",
    "paying": "CASE WHEN paying THEN 'true' ELSE 'false' END",
    "server_upload_time": "strftime(server_upload_time, '%Y-%m-%d %H:%M:%S')",
    "event_time": "strftime(event_time, '%Y-%m-%d %H:%M:%S')",
}
_NUMBER = re.compile(r"^\s*-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")


@dataclass(frozen=True)
class Prop:
    """A property of an event row as SQL: its text, its array (JSON arrays) and its number."""

    text: Sql
    array: Sql | None = None
    numeric: Sql | None = None

    @property
    def number(self) -> Sql:
        return self.numeric if self.numeric is not None else "TRY_CAST(" + self.text + \
            " AS DOUBLE)"

    @property
    def plain(self) -> bool:
        """A plain column (not read out of JSON)."""
        return self.array is None

    @property
    def label(self) -> Sql:
        """The grouping key: the text, ``(none)`` when unset."""
        return "coalesce(" + self.text + sql(", ?)", NONE_LABEL)

    @property
    def elements(self) -> Sql:
        """The value as a list of strings (``[]`` when unset, ``[x]`` for a scalar)."""
        scalar = "CASE WHEN " + self.text + " IS NULL THEN []::VARCHAR[] ELSE [" + \
            self.text + "] END"
        return scalar if self.array is None else "coalesce(" + self.array + ", " + scalar + ")"


def _pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


def json_prop(column: str, key: str) -> Prop:
    path = _pointer(key)
    return Prop(sql(f"json_extract_string({column}, ?)", path),
                sql(f"TRY_CAST(json_extract({column}, ?) AS VARCHAR[])", path))


def user_prop(name: str) -> Prop:
    if name.startswith("gp:"):
        return json_prop("user_properties", name[3:])
    column = _BUILTIN.get(name.lower())
    if column is not None:
        return Prop(Sql(column))
    return json_prop("user_properties", name)


def is_builtin(name: str) -> bool:
    return name.lower() in _BUILTIN


def require_known_user_props(cur: duckdb.DuckDBPyConnection, project_id: int,
                             named: Sequence[tuple[str, str]]) -> None:
    """``named`` are ``(parameter, user property)`` pairs a query groups by; an unknown one is
    Amplitude's ``Invalid chart definition`` 400 (see the module docstring)."""
    for param, name in named:
        if is_builtin(name):
            continue
        path = _pointer(name[3:] if name.startswith("gp:") else name)
        for table in ("users", "events"):  # current values first; then events' snapshots
            found = cur.execute(
                f"SELECT 1 FROM {table} WHERE project_id = ? AND "
                "json_extract(user_properties, ?) IS NOT NULL LIMIT 1",
                [project_id, path]).fetchone()
            if found is not None:
                break
        else:
            raise QueryError(param, f"Invalid user property {name}", message=(
                "Invalid chart definition"), kind="invalid")


def event_prop(name: str) -> Prop:
    prop = json_prop("event_properties", name)
    if name == "$revenue":
        return Prop(prop.text, prop.array, Sql("revenue"))
    return prop


def prop_of(kind: str, name: str) -> Prop:
    return event_prop(name) if kind == "event" else user_prop(name)


def compare(prop: Prop, op: str, values: Sequence[str]) -> Sql:
    """``prop op values`` as SQL (see the module docstring for each operator; the query models
    check the operator and that a comparison has a value)."""
    vals = list(values)
    if op in ("is", "is not"):
        hit = sql("list_contains(?::VARCHAR[], ", vals) + prop.label + ")"
        if prop.array is not None:  # NULL for a scalar or unset property: that is no match
            hit = any_of([hit, "coalesce(list_has_any(" + prop.array
                          + sql(", ?::VARCHAR[]), FALSE)", vals)])
        return hit if op == "is" else "NOT " + hit.wrap()
    if op in ("contains", "does not contain"):
        text = "lower(coalesce(" + prop.text + ", ''))"
        hit = any_of([("contains(" + text + sql(", lower(?))", v)) for v in vals])
        return hit if op == "contains" else "NOT " + hit.wrap()
    if op in ("less", "less or equal", "greater", "greater or equal"):
        symbol = {"less": "<", "less or equal": "<=", "greater": ">",
                  "greater or equal": ">="}[op]
        if _NUMBER.match(vals[0]):
            return prop.number + sql(f" {symbol} ?", float(vals[0]))
        return prop.text + sql(f" {symbol} ?", vals[0])
    if op in ("set is", "set is not"):
        wanted = sorted(set(vals))
        hit = "list_sort(list_distinct(" + prop.elements + sql(")) = ?::VARCHAR[]", wanted)
        return hit if op == "set is" else "NOT " + hit.wrap()
    raise ValueError(f"unknown operator {op!r}")


def filters_sql(filters: Sequence[Filter]) -> list[Sql]:
    return [compare(prop_of(f.subprop_type, f.subprop_key), f.subprop_op, f.subprop_value)
            for f in filters]


def active_events(alias: str = "") -> Sql:
    """An active event ($identify / $groupidentify are not) of the table named ``alias``
    (with its dot, e.g. ``"x."``), or of the query's only table."""
    return sql(f"{alias}event_type NOT IN (?, ?)", *IDENTIFY_EVENTS)


ACTIVE = active_events()


def event_type_sql(event_type: str) -> Sql:
    if event_type == "_all":
        return Sql("TRUE")
    if event_type == "_active":
        return ACTIVE
    if event_type in ("revenue_amount", "unverified_revenue"):
        return Sql("revenue IS NOT NULL")
    if event_type == "verified_revenue":
        return Sql("FALSE")
    name = event_type[3:] if event_type.startswith("ce:") else event_type
    return sql("event_type = ?", name)


def event_sql(event: EventDef) -> Sql:
    """An event definition (type and filters) as a row condition."""
    return all_of([event_type_sql(event.event_type), *filters_sql(event.filters)])


SPECIAL_EVENTS = frozenset({"_all", "_active", "_new", "revenue_amount", "verified_revenue",
                            "unverified_revenue"})


def require_known_events(ctx: Ctx, events: Sequence[tuple[str, EventDef]]) -> None:
    """``events`` are ``(parameter, event)`` pairs; an event type never stored in the project
    is a 400 naming the parameter (Amplitude answers unknown events with 400)."""
    for param, event in events:
        if event.event_type in SPECIAL_EVENTS:
            continue
        event_type = event.event_type.removeprefix("ce:")
        if ctx.one(sql("SELECT 1 FROM events WHERE project_id = ? AND event_type = ? LIMIT 1",
                       ctx.project_id, event_type)) is None:
            raise QueryError(param, f"unknown event type {event_type!r}")


@dataclass(frozen=True)
class Scope:
    """What a segment needs to know about the query: project and UTC range."""

    project_id: int
    lo: dt.datetime
    hi: dt.datetime


_WHO = {">=": ">=", ">": ">", "<=": "<=", "<": "<", "=": "=", "==": "=", "!=": "<>",
        "is": "=", "is not": "<>", "greater or equal": ">=", "greater": ">",
        "less or equal": "<=", "less": "<"}


def _holds(symbol: str, count: float, value: float) -> bool:
    return {">=": count >= value, ">": count > value, "<=": count <= value,
            "<": count < value, "=": count == value, "<>": count != value}[symbol]


def condition_sql(cond: SegmentCondition, scope: Scope) -> Sql:
    if cond.type == "event":
        symbol = _WHO[cond.op]
        value = cond.value or 0
        lo: dt.datetime | None = scope.lo
        if cond.time_type == "allTime":
            lo = None
        elif cond.time_type == "forEachInterval" and cond.time_value:
            lo = scope.lo - dt.timedelta(days=cond.time_value)
        where = [sql("project_id = ?", scope.project_id), sql("event_time < ?", scope.hi),
                 event_type_sql(cond.event_type or ""), *filters_sql(cond.filters or [])]
        if lo is not None:
            where.append(sql("event_time >= ?", lo))
        keep_zero = _holds(symbol, 0, value)
        having = f"count(*) {symbol} ?" if not keep_zero else f"NOT (count(*) {symbol} ?)"
        sub = "SELECT amplitude_id FROM events WHERE " + all_of(where) + \
            sql(f" GROUP BY amplitude_id HAVING {having}", value)
        return ("amplitude_id NOT IN (" if keep_zero else "amplitude_id IN (") + sub + ")"
    assert cond.prop is not None
    assert cond.values is not None
    if cond.prop == "userdata_cohort":
        sub = sql("SELECT amplitude_id FROM cohort_members WHERE project_id = ? AND "
                  "list_contains(?::VARCHAR[], cohort_id)", scope.project_id, cond.values)
        return ("amplitude_id IN (" if cond.op == "is" else "amplitude_id NOT IN (") + sub + ")"
    return compare(user_prop(cond.prop), cond.op, cond.values)


def segment_sql(segment: Segment, scope: Scope) -> Sql:
    """All of a segment's conditions (``TRUE`` for everyone)."""
    return all_of([condition_sql(c, scope) for c in segment.conditions])


def base_where(scope: Scope, lo: dt.datetime | None = None,
               hi: dt.datetime | None = None) -> Sql:
    """``project_id`` and the UTC time range (the scope's unless given)."""
    return sql("project_id = ? AND event_time >= ? AND event_time < ?", scope.project_id,
               lo if lo is not None else scope.lo, hi if hi is not None else scope.hi)
