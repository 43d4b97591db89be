"""The streams ``ampkit sync`` replicates, declared once: name, modes, primary key, cursor,
grain, endpoint and schema.  ``ampkit streams`` and the tests read :data:`STREAMS`.

* ``events`` — the Export API, one row per exported event; cursor = the **server upload hour**
  (the Export API selects by it; event time would lose late events).
* time series (``active_users`` …) — Dashboard REST, tidy long rows ``(date, segment, value)``;
  cursor = the day.
* catalogs (``events_list``, ``cohorts``, ``annotations``, taxonomy) — full refresh only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from ampkit.errors import ConfigError
from ampkit.replicate.schema import EVENT_COLUMNS, EXTRA, Column, ColumnType

Mode = Literal["full-refresh", "incremental"]
Kind = Literal["export", "series", "catalog"]
Grain = Literal["hour", "day"]
MODES: tuple[Mode, ...] = ("full-refresh", "incremental")


class StreamDef(BaseModel):
    """One stream, as data."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: Kind
    description: str
    endpoint: str
    modes: tuple[Mode, ...]
    primary_key: tuple[str, ...]
    cursor: str | None = None
    grain: Grain | None = None
    columns: tuple[Column, ...]
    partition_by: str | None = None
    """Column whose UTC date names the Parquet partition (``None``: one unpartitioned file)."""

    @property
    def default_mode(self) -> Mode:
        return "incremental" if "incremental" in self.modes else "full-refresh"

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


def _cols(*spec: tuple[str, ColumnType] | tuple[str, ColumnType, str]) -> tuple[Column, ...]:
    out = [Column(name=s[0], type=s[1], source=s[2] if len(s) == 3 else None) for s in spec]
    return (*out, EXTRA)


SERIES_COLUMNS = _cols(("date", "date"), ("segment", "string"), ("value", "float"))
BOTH: tuple[Mode, ...] = ("full-refresh", "incremental")
FULL: tuple[Mode, ...] = ("full-refresh",)


def _series(name: str, endpoint: str, description: str) -> StreamDef:
    return StreamDef(name=name, kind="series", description=description, endpoint=endpoint,
                     modes=BOTH, primary_key=("date", "segment"), cursor="date", grain="day",
                     columns=SERIES_COLUMNS, partition_by="date")


def _catalog(name: str, endpoint: str, description: str, primary_key: tuple[str, ...],
             *columns: tuple[str, ColumnType] | tuple[str, ColumnType, str]) -> StreamDef:
    """A catalog: read whole, full refresh only, not partitioned."""
    return StreamDef(name=name, kind="catalog", description=description, endpoint=endpoint,
                     modes=FULL, primary_key=primary_key, columns=_cols(*columns))


_DECLARED: tuple[StreamDef, ...] = (
    StreamDef(
        name="events", kind="export", endpoint="/api/2/export", modes=BOTH,
        description="Raw events (Export API), one row per event; property maps as JSON.",
        primary_key=("uuid",), cursor="server_upload_time", grain="hour",
        columns=EVENT_COLUMNS, partition_by="server_upload_time",
    ),
    _series("active_users", "/api/2/users?m=active", "Active users per day (and segment)."),
    _series("new_users", "/api/2/users?m=new", "New users per day (and segment)."),
    _series("average_session_length", "/api/2/sessions/average",
            "Average session length per day, in seconds."),
    _series("sessions_per_user", "/api/2/sessions/peruser",
            "Average number of sessions per user per day."),
    StreamDef(
        name="session_length_distribution", kind="series", endpoint="/api/2/sessions/length",
        description="Sessions per length bin, per day (one request per day: the endpoint "
        "sums its whole range).", modes=BOTH, primary_key=("date", "bin"), cursor="date",
        grain="day", columns=_cols(("date", "date"), ("bin", "string"), ("value", "float")),
        partition_by="date",
    ),
    StreamDef(
        name="revenue_ltv", kind="series", endpoint="/api/2/revenue/ltv",
        description="Revenue LTV per cohort day: metric r1d…r90d, count, paid, total_amount.",
        modes=BOTH, primary_key=("date", "segment", "metric"), cursor="date", grain="day",
        columns=_cols(("date", "date"), ("segment", "string"), ("metric", "string"),
                      ("value", "float")),
        partition_by="date",
    ),
    _catalog(
        "events_list", "/api/2/events/list", "Visible event types with this week's totals.",
        ("value",),
        ("value", "string"), ("display", "string"), ("id", "int"), ("name", "string"),
        ("totals", "float"), ("totals_delta", "float"), ("non_active", "bool"),
        ("deleted", "bool"), ("hidden", "bool"), ("flow_hidden", "bool"),
        ("autohidden", "bool"), ("in_waitroom", "bool"), ("clusters_hidden", "bool"),
        ("timeline_hidden", "bool"), ("waitroom_approved", "bool"),
    ),
    _catalog(
        "cohorts", "/api/3/cohorts", "Behavioral cohorts (definitions, sizes, owners).", ("id",),
        ("id", "string"), ("name", "string"), ("description", "string"),
        ("app_id", "int", "appId"), ("archived", "bool"), ("definition", "json"),
        ("finished", "bool"), ("owners", "json"), ("viewers", "json"),
        ("published", "bool"), ("size", "int"), ("type", "string"),
        ("last_mod", "timestamp", "lastMod"), ("created_at", "timestamp", "createdAt"),
        ("last_computed", "timestamp", "lastComputed"), ("hidden", "bool"),
        ("metadata", "json"), ("view_count", "int"), ("popularity", "float"),
        ("last_viewed", "timestamp"), ("chart_id", "string"), ("edit_id", "string"),
        ("is_predictive", "bool"), ("is_official_content", "bool"),
        ("location_id", "string"), ("shortcut_ids", "json"),
        ("sync_metadata", "json", "syncMetadata"),
    ),
    _catalog(
        "annotations", "/api/2/annotations", "Chart annotations (v2 list).", ("id",),
        ("id", "int"), ("date", "date"), ("label", "string"), ("details", "string"),
        ("start", "timestamp"), ("end", "timestamp"), ("category", "json"),
        ("chart_id", "string"),
    ),
    _catalog(
        "taxonomy_event_types", "/api/2/taxonomy/event", "Tracking plan: event types.",
        ("event_type",),
        ("event_type", "string"), ("category", "json"), ("description", "string"),
        ("display_name", "string"), ("is_active", "bool"),
        ("is_hidden_from_dropdowns", "bool"), ("is_hidden_from_persona_results", "bool"),
        ("is_hidden_from_pathfinder", "bool"), ("is_hidden_from_timeline", "bool"),
        ("tags", "json"), ("owner", "string"),
    ),
    _catalog(
        "taxonomy_event_properties", "/api/2/taxonomy/event-property",
        "Tracking plan: event properties (shared ones have an empty event_type).",
        ("event_type", "event_property"),
        ("event_type", "string"), ("event_property", "string"),
        ("description", "string"), ("type", "string"), ("regex", "string"),
        ("enum_values", "json"), ("is_array_type", "bool"), ("is_required", "bool"),
        ("is_hidden", "bool"), ("classifications", "json"),
    ),
    _catalog(
        "taxonomy_user_properties", "/api/2/taxonomy/user-property",
        "Tracking plan: user properties (custom ones with the gp: prefix).",
        ("user_property",),
        ("user_property", "string"), ("description", "string"), ("type", "string"),
        ("regex", "string"), ("enum_values", "json"), ("is_array_type", "bool"),
        ("is_hidden", "bool"), ("classifications", "json"), ("deleted", "bool"),
    ),
)

STREAMS: dict[str, StreamDef] = {s.name: s for s in _DECLARED}
"""Every stream by name, in the order syncs run them."""


ALIASES: dict[str, str] = {"export": "events"}
"""Other tools' names of a stream (Sling's Amplitude connector calls the raw events
``export``; its other stream names are ampkit's)."""


def get_stream(name: str) -> StreamDef:
    """A stream by its name or an alias (``export`` is ``events``)."""
    try:
        return STREAMS[ALIASES.get(name, name)]
    except KeyError:
        known = ", ".join([*STREAMS, *(f"{a} (= {s})" for a, s in ALIASES.items())])
        raise ConfigError(f"unknown stream {name!r}; known streams: {known}") from None


__all__ = ["ALIASES", "MODES", "STREAMS", "Grain", "Kind", "Mode", "StreamDef", "get_stream"]
