"""ModuleX's Amplitude actions (seed document 001) on top of the endpoint definitions: the seed's
contract for the actions that are Dashboard queries.

ModuleX offers 11 actions; seven of them are Dashboard REST queries, and ampkit declares those
endpoints once (:data:`ampkit.models.endpoints.DEFS`).  Each :class:`QueryContract` here says how
one ModuleX action sits on one definition — nothing else is written per endpoint:

- **input**: the definition's query model (every field, rule and description ampkit has; unknown
  fields refused), with the seed's parameters added where the seed names or types one
  differently — :data:`RENAMES` is the one place a seed name is mapped to a field (and so,
  through the field's :class:`~ampkit.models.wire.Wire`, to Amplitude's parameter), and
  :data:`SEED_TYPES` widens a field's JSON schema to the type the seed documents (``interval``
  is ``"7"`` there, ``7`` here; both are read);
- **output**: the seed's fields at the top level (``series``/``x_values``…, ``matches``/``type``,
  ``events``/``user_data``), filled from the typed answer by the contract's adapter, plus a
  few extras ampkit already gave (``points``, ``names``, ``amplitude_ids``).

The other four ModuleX actions are ingestion and User Profile calls, written with the seed's
models in :mod:`ampkit.actions.ingest` and :mod:`ampkit.actions.users`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator
from pydantic.fields import FieldInfo

from ampkit.actions.base import ActionInput, ActionOutput, PointsOutput, points
from ampkit.models.dashboard import (
    EventDef,
    EventsListResult,
    TimeSeriesResult,
    UserActivityResult,
    UserSearchResult,
)
from ampkit.models.dashboard.common import rule_error
from ampkit.models.dashboard.revenue import LtvValues, RevenueLtvResult
from ampkit.models.dashboard.series import SeriesMeta, label_text, value_of
from ampkit.models.inputs import read_native

JSONSchema = dict[str, Any]


class SeedModel(BaseModel):
    """A nested object of a seed output: exactly the seed's fields (``additionalProperties:
    false`` in its schema)."""

    model_config = ConfigDict(extra="forbid")


# --- input: the seed's names and types, mapped in one place ----------------------------------


def _event_name(value: object) -> str | None:
    """The event type an ``event`` argument names (a name, JSON text, an object, a model)."""
    if isinstance(value, EventDef):
        return value.event_type
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("{"):
            return value
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
    if isinstance(value, Mapping):
        name = value.get("event_type")
        return name if isinstance(name, str) else None
    return None


@dataclass(frozen=True, slots=True)
class Rename:
    """A seed parameter that stands for a query field of another name (and shape)."""

    seed: str
    """The seed's name, a required string (``event_type``)."""
    field: str
    """The query model's field it fills (``event``), which stays accepted, now optional."""
    name_of: Callable[[object], str | None]
    """The seed value a value of the field stands for (to refuse two that disagree)."""
    description: str


RENAMES: Mapping[str, tuple[Rename, ...]] = MappingProxyType({
    "event_segmentation": (Rename(
        "event_type", "event", _event_name,
        "Event type name to analyze (e.g. 'Purchase'; '_active' = any active event, '_all' = "
        "any event). For filters or event group-bys give `event` as well (same event_type)."),),
})
"""Every seed parameter whose name is not the query field's, by action."""

SEED_TYPES: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "user_activity": {"amplitude_id": "string"},
    "event_segmentation": {"interval": "string"},
    "get_active_users": {"interval": "string"},
    "get_revenue": {"metric": "string", "interval": "string"},
})
"""Parameters the seed types otherwise than the query model (JSON type by name): the field
reads both (``"7"`` and ``7``), and its schema says so."""


def _widen(seed_type: str) -> Callable[[JSONSchema], None]:
    """A ``json_schema_extra`` adding ``seed_type`` to a field's schema (``anyOf``)."""

    def widen(schema: JSONSchema) -> None:
        kept = {k: schema.pop(k) for k in ("title", "description", "default") if k in schema}
        inner = dict(schema)
        schema.clear()
        options = inner["anyOf"] if list(inner) == ["anyOf"] else [inner]
        schema.update(anyOf=[{"type": seed_type}, *options], **kept)

    return widen


def _fill(renames: tuple[Rename, ...]) -> Callable[[Any], Any]:
    """The input's before-validator: a seed name fills its field, the field alone fills the
    seed name (ampkit's older calls keep working), both must agree."""

    def fill(data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        out = dict(data)
        for rename in renames:
            seed, given = out.get(rename.seed), out.get(rename.field)
            if given is None and seed is not None:
                out[rename.field] = seed
            elif given is not None:
                named = rename.name_of(given)
                if seed is None and named is not None:
                    out[rename.seed] = named
                elif seed is not None and named is not None and named != seed:
                    raise rule_error(rename.seed, f"is {seed!r} but {rename.field} names "
                                     f"{named!r}; give one event type")
        return out

    return fill


_MEASURING = frozenset({"histogram", "sums", "value_avg"})


def _measured_by_group_by(data: dict[str, Any]) -> dict[str, Any]:
    """ModuleX's event_segmentation names an event type and a ``group_by``, and has no other
    way to say which property ``histogram``, ``sums`` or ``value_avg`` measures: with such a
    metric and a plain event type, its ``group_by`` is that event property (the query's rule
    wants it as the event's ``group_by`` of type event, which ModuleX users cannot give)."""
    by, event = data.get("group_by"), data.get("event")
    if (data.get("metric") in _MEASURING and isinstance(by, str) and by.strip()
            and isinstance(event, str) and not event.lstrip().startswith("{")):
        data = {k: v for k, v in data.items() if k != "group_by"}
        data["event"] = {"event_type": event,
                         "group_by": [{"type": "event", "value": by.strip()}]}
    return data


def seed_input(action: str, base: type[ActionInput]) -> type[ActionInput]:
    """``base`` (a definition's query model as an action input) with the seed's parameters."""
    renames = RENAMES.get(action, ())
    fields: dict[str, Any] = {}
    for rename in renames:
        info = base.model_fields[rename.field]
        annotation: Any = info.annotation
        fields[rename.field] = (annotation | None, FieldInfo.merge_field_infos(
            info, default=None, description=f"{info.description} Optional when "
            f"{rename.seed} is given."))
        fields[rename.seed] = (str, Field(min_length=1, description=rename.description))
    for name, seed_type in SEED_TYPES.get(action, {}).items():
        info = base.model_fields[name]
        fields[name] = (info.annotation, FieldInfo.merge_field_infos(
            info, json_schema_extra=_widen(seed_type)))
    validators: dict[str, Any] = {}
    if renames:  # Amplitude's names (e=…) are read first: they may give the renamed field
        fill = _fill(renames)

        def seed_names(cls: type[BaseModel], data: Any) -> Any:
            filled = fill(read_native(cls, data))
            if action == "event_segmentation" and isinstance(filled, dict):
                filled = _measured_by_group_by(filled)
            return filled

        validators["_seed_names"] = model_validator(mode="before")(seed_names)
    model: type[ActionInput] = create_model(
        base.__name__, __base__=base, __module__=base.__module__, __doc__=base.__doc__,
        __validators__=validators, **fields)
    return model


# --- outputs -----------------------------------------------------------------------------------

Matrix = list[list[int | float | None]]


def _matrix(rows: list[list[Any]] | None) -> Matrix:
    """A series matrix as plain numbers (``{"value": n}`` cells read)."""
    return [[value_of(v) for v in row] for row in rows or []]


def _label(label: object) -> object:
    """A label as JSON, as Amplitude gave it (``{segmentIndex}`` objects in Amplitude's case)."""
    if isinstance(label, SeriesMeta):
        return label.model_dump(mode="json", exclude_none=True, by_alias=False)
    return label


SERIES_HELP = "One row of values per series (group or segment), one value per x value."
X_HELP = "The x values: dates 'YYYY-MM-DD' (or 'HH:mm' for real-time buckets)."


class EventSegmentationOutput(PointsOutput):
    """ModuleX's ``EventSegmentationOutput`` (plus ``points``)."""

    series: list[Any] = Field(default_factory=list, description=SERIES_HELP)
    series_labels: list[Any] = Field(default_factory=list, description=(
        "The label of each series, as Amplitude gives it (0 without a group-by, the group "
        "value with one)."))
    series_collapsed: list[Any] = Field(default_factory=list, description=(
        "Each series' total over the range, as [[n]] rows."))
    x_values: list[str] = Field(default_factory=list, description=X_HELP)


class GetActiveUsersOutput(PointsOutput):
    """ModuleX's ``GetActiveUsersOutput`` (plus ``points``)."""

    series: list[Any] = Field(default_factory=list, description=SERIES_HELP)
    series_meta: list[str] = Field(default_factory=list, description=(
        "The name of each series: the group value with group_by, else the segment's index."))
    x_values: list[str] = Field(default_factory=list, description=X_HELP)


class RealtimeActiveUsersOutput(PointsOutput):
    """ModuleX's ``RealtimeActiveUsersOutput`` (plus ``points``)."""

    series: list[Any] = Field(default_factory=list, description=SERIES_HELP)
    series_labels: list[str] = Field(default_factory=list, description=(
        "The name of each series: 'Today' and 'Yesterday'."))
    x_values: list[str] = Field(default_factory=list, description=(
        "5-minute buckets 'HH:mm' in the project's time zone."))


class ProjectEvent(SeedModel):
    """A single event type listed for the project."""

    value: str | None = Field(default=None, description="The event type's name.")
    display_name: str | None = Field(default=None, description="Its display name.")
    totals: int | None = Field(default=None, description="Times it happened this week.")
    hidden: bool | None = Field(default=None, description="Hidden in charts.")
    deleted: bool | None = Field(default=None, description="Deleted.")


class ListEventsOutput(ActionOutput):
    """ModuleX's ``ListEventsOutput`` (plus ``names``)."""

    events: list[ProjectEvent] = Field(default_factory=list, description=(
        "The project's visible event types with this week's totals."))
    names: list[str] = Field(default_factory=list, description="The event types' names.")


class GetRevenueOutput(ActionOutput):
    """ModuleX's ``GetRevenueOutput``."""

    series: list[Any] = Field(default_factory=list, description=(
        "One object per group: {dates (newest first), values: {date: {r1d … r90d (the metric "
        "N days after the cohort day), count (users), paid (paying users), total_amount}}}."))
    series_labels: list[str] = Field(default_factory=list, description=(
        "The label of each group ('' without a group-by)."))
    x_values: list[str] = Field(default_factory=list, description=(
        "The cohort days 'YYYY-MM-DD', oldest first."))


class UserSearchMatch(SeedModel):
    """A single user-search match entry."""

    amplitude_id: int | None = Field(default=None, description="The user's Amplitude ID.")
    user_id: str | None = Field(default=None, description="The user's id (may be null).")


class UserSearchOutput(ActionOutput):
    """ModuleX's ``UserSearchOutput`` (plus ``amplitude_ids``)."""

    matches: list[UserSearchMatch] = Field(default_factory=list, description="The users found.")
    type: str | None = Field(default=None, description=(
        "How they matched: match_user_or_device_id, match_amplitude_id, match_user_prefix or "
        "nomatch."))
    amplitude_ids: list[int] = Field(default_factory=list, description=(
        "Amplitude IDs of the users found (what user_activity takes)."))


class UserActivityEvent(SeedModel):
    """A single event in a user's activity stream."""

    event_type: str | None = None
    event_time: str | None = Field(default=None, description="UTC, 'YYYY-MM-DD HH:MM:SS.ffffff'.")
    event_properties: dict[str, Any] = Field(default_factory=dict)
    user_properties: dict[str, Any] = Field(default_factory=dict)
    session_id: int | None = Field(default=None, description="Session start in ms (-1: none).")
    platform: str | None = None
    country: str | None = None
    city: str | None = None


class UserData(SeedModel):
    """User metadata returned alongside an activity stream."""

    user_id: str | None = None
    canonical_amplitude_id: int | None = None
    num_events: int | None = None
    num_sessions: int | None = None
    platform: str | None = None
    country: str | None = None


class UserActivityOutput(ActionOutput):
    """ModuleX's ``UserActivityOutput``."""

    events: list[UserActivityEvent] = Field(default_factory=list, description=(
        "One page of the user's events (at most 1,000; page with offset)."))
    user_data: UserData | None = Field(default=None, description="The user's profile.")


# --- adapters: the typed answer → the seed's fields ------------------------------------------


def _series(result: object) -> dict[str, Any]:
    assert isinstance(result, TimeSeriesResult)
    return {"series": _matrix(result.series), "x_values": list(result.x_values),
            "points": points(result)}


def _segmentation(result: object) -> dict[str, Any]:
    assert isinstance(result, TimeSeriesResult)
    return {**_series(result), "series_labels": [_label(x) for x in result.series_labels or []],
            "series_collapsed": _matrix(result.series_collapsed)}


def _users(result: object) -> dict[str, Any]:
    assert isinstance(result, TimeSeriesResult)
    return {**_series(result), "series_meta": result.labels()}


def _realtime(result: object) -> dict[str, Any]:
    assert isinstance(result, TimeSeriesResult)
    return {**_series(result), "series_labels": result.labels()}


def _count(value: float | None) -> int | None:
    return None if value is None else round(value)


def _events_list(result: object) -> dict[str, Any]:
    assert isinstance(result, EventsListResult)
    return {"events": [ProjectEvent(value=e.value, display_name=e.display,
                                    totals=_count(e.totals), hidden=e.hidden, deleted=e.deleted)
                       for e in result.events],
            "names": result.names()}


def _ltv(values: LtvValues) -> dict[str, Any]:
    known = {"count": values.count, "paid": values.paid, "total_amount": values.total_amount}
    days = {f"r{n}d": v for n, v in sorted(values.returns.items())}
    return {**(values.model_extra or {}), **known, **days}


def _revenue(result: object) -> dict[str, Any]:
    assert isinstance(result, RevenueLtvResult)
    labels = result.series_labels or []
    return {
        "series": [{"dates": s.dates, "values": {d: _ltv(v) for d, v in s.values.items()}}
                   for s in result.series],
        "series_labels": [label_text(labels[i], i) if i < len(labels) else str(i)
                          for i in range(len(result.series))],
        "x_values": sorted({d for s in result.series for d in (s.dates or list(s.values))}),
    }


def _user_search(result: object) -> dict[str, Any]:
    assert isinstance(result, UserSearchResult)
    return {"matches": [UserSearchMatch(amplitude_id=m.amplitude_id, user_id=m.user_id)
                        for m in result.matches],
            "type": result.type, "amplitude_ids": result.amplitude_ids()}


def _user_activity(result: object) -> dict[str, Any]:
    assert isinstance(result, UserActivityResult)
    user = result.user_data
    return {
        "events": [UserActivityEvent(
            event_type=e.event_type, event_time=e.event_time,
            event_properties=e.event_properties or {}, user_properties=e.user_properties or {},
            session_id=e.session_id, platform=e.platform, country=e.country, city=e.city)
            for e in result.events],
        "user_data": UserData(user_id=user.user_id,
                              canonical_amplitude_id=user.canonical_amplitude_id,
                              num_events=user.num_events, num_sessions=user.num_sessions,
                              platform=user.platform, country=user.country),
    }


@dataclass(frozen=True, slots=True)
class QueryContract:
    """One ModuleX action over one endpoint definition."""

    action: str
    endpoint: str
    """The definition's name in :data:`~ampkit.models.endpoints.DEFS`."""
    output: type[ActionOutput]
    adapt: Callable[[object], dict[str, Any]]
    """The typed answer → the output's fields."""
    note: str = field(default="")
    """Added to the definition's description (what the seed's contract changes)."""


QUERY_CONTRACTS: tuple[QueryContract, ...] = (
    QueryContract("user_search", "user_search", UserSearchOutput, _user_search),
    QueryContract("user_activity", "user_activity", UserActivityOutput, _user_activity),
    QueryContract("event_segmentation", "segmentation", EventSegmentationOutput, _segmentation,
                  "Give event_type (or event, an object with filters and group-bys)."),
    QueryContract("get_active_users", "users", GetActiveUsersOutput, _users),
    QueryContract("realtime_active_users", "realtime", RealtimeActiveUsersOutput, _realtime),
    QueryContract("list_events", "events_list", ListEventsOutput, _events_list),
    QueryContract("get_revenue", "revenue_ltv", GetRevenueOutput, _revenue,
                  "metric: 0 = ARPU, 1 = ARPPU, 2 = total revenue, 3 = paying users."),
)
"""ModuleX's query actions, in the order of the definitions they sit on."""

__all__ = ["QUERY_CONTRACTS", "RENAMES", "SEED_TYPES", "QueryContract", "seed_input"]
