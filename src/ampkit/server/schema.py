"""The DuckDB tables of the local server, and how a stored row becomes an exported event.

Top-level event fields get typed columns (queries filter and group on them); property maps
and other objects are JSON text; ingestion keys without a column are kept in ``extra`` so
nothing sent is lost.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

# (column, DuckDB type, how it is passed in: "ms" = epoch ms → TIMESTAMP, "json" = JSON text)
EVENT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("seq", "BIGINT", ""),
    ("project_id", "INTEGER", ""),
    ("uuid", "VARCHAR", ""),
    ("insert_id", "VARCHAR", ""),
    ("amplitude_id", "BIGINT", ""),
    ("user_id", "VARCHAR", ""),
    ("device_id", "VARCHAR", ""),
    ("event_type", "VARCHAR", ""),
    ("event_time", "TIMESTAMP", "ms"),
    ("client_event_time", "TIMESTAMP", "ms"),
    ("client_upload_time", "TIMESTAMP", "ms"),
    ("server_received_time", "TIMESTAMP", "ms"),
    ("server_upload_time", "TIMESTAMP", "ms"),
    ("processed_time", "TIMESTAMP", "ms"),
    ("user_creation_time", "TIMESTAMP", "ms"),
    ("session_id", "BIGINT", ""),
    ("event_id", "BIGINT", ""),
    ("version_name", "VARCHAR", ""),
    ("start_version", "VARCHAR", ""),
    ("platform", "VARCHAR", ""),
    ("os_name", "VARCHAR", ""),
    ("os_version", "VARCHAR", ""),
    ("device_brand", "VARCHAR", ""),
    ("device_manufacturer", "VARCHAR", ""),
    ("device_model", "VARCHAR", ""),
    ("device_type", "VARCHAR", ""),
    ("device_family", "VARCHAR", ""),
    ("device_carrier", "VARCHAR", ""),
    ("country", "VARCHAR", ""),
    ("region", "VARCHAR", ""),
    ("city", "VARCHAR", ""),
    ("dma", "VARCHAR", ""),
    ("language", "VARCHAR", ""),
    ("library", "VARCHAR", ""),
    ("ip_address", "VARCHAR", ""),
    ("idfa", "VARCHAR", ""),
    ("adid", "VARCHAR", ""),
    ("partner_id", "VARCHAR", ""),
    ("location_lat", "DOUBLE", ""),
    ("location_lng", "DOUBLE", ""),
    ("paying", "BOOLEAN", ""),
    ("revenue", "DOUBLE", ""),
    ("event_properties", "VARCHAR", "json"),
    ("user_properties", "VARCHAR", "json"),
    ("group_properties", "VARCHAR", "json"),
    ("groups", "VARCHAR", "json"),
    ("data", "VARCHAR", "json"),
    ("plan", "VARCHAR", "json"),
    ("extra", "VARCHAR", "json"),
    ("dedup_hash", "UBIGINT", ""),
)
"""The ``events`` table.  The last column, ``dedup_hash``, is stored only (never exported): a
64-bit hash of the deduplication key, so that ``insert_id`` look-ups scan 8 bytes a row."""
EVENT_COLUMN_NAMES = tuple(c[0] for c in EVENT_COLUMNS)
EXPORT_COLUMN_NAMES = EVENT_COLUMN_NAMES[:-1]
MIGRATIONS = ("ALTER TABLE events ADD COLUMN IF NOT EXISTS dedup_hash UBIGINT",)
"""Run after :data:`DDL` on a file an older ampkit wrote."""


def dedup_key(user_id: str | None, device_id: str | None, insert_id: str) -> tuple[str, str]:
    """What ``insert_id`` deduplication is keyed on: the device (or, without one, the user) and
    the insert_id (reference §2.6)."""
    return (f"d:{device_id}" if device_id is not None else f"u:{user_id}", insert_id)


def dedup_hash(key: tuple[str, str]) -> int:
    """A stable 64-bit hash of a :func:`dedup_key` (the same in every process and version)."""
    raw = f"{key[0]}\x00{key[1]}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "little")

DDL = (
    "CREATE TABLE IF NOT EXISTS events ("
    + ", ".join(f"{name} {kind}" for name, kind, _ in EVENT_COLUMNS)
    + ")",
    """CREATE TABLE IF NOT EXISTS users (
        project_id INTEGER, amplitude_id BIGINT, user_id VARCHAR, device_id VARCHAR,
        user_properties VARCHAR, fields VARCHAR, first_seen TIMESTAMP, last_seen TIMESTAMP,
        paying BOOLEAN, PRIMARY KEY (project_id, amplitude_id))""",
    """CREATE TABLE IF NOT EXISTS identities (
        project_id INTEGER, kind VARCHAR, key VARCHAR, amplitude_id BIGINT,
        PRIMARY KEY (project_id, kind, key))""",
    # anonymous Amplitude IDs merged into a known user's (their events moved there)
    """CREATE TABLE IF NOT EXISTS merges (
        project_id INTEGER, amplitude_id BIGINT, merged_into BIGINT,
        PRIMARY KEY (project_id, amplitude_id))""",
    """CREATE TABLE IF NOT EXISTS groups_state (
        project_id INTEGER, group_type VARCHAR, group_value VARCHAR, group_properties VARCHAR,
        PRIMARY KEY (project_id, group_type, group_value))""",
    # saved Dashboard charts: a query definition (endpoint path + its parameters as JSON)
    """CREATE TABLE IF NOT EXISTS charts (
        project_id INTEGER, chart_id VARCHAR, endpoint VARCHAR, params JSON,
        PRIMARY KEY (project_id, chart_id))""",
    # the bad-event bucket (tracking plans, refused requests): BadEventRow, BadRequestRow
    """CREATE TABLE IF NOT EXISTS bad_events (
        id BIGINT, project_id INTEGER, received_at TIMESTAMP, kind VARCHAR, event_type VARCHAR,
        insert_id VARCHAR, rule VARCHAR, path VARCHAR, disposition VARCHAR, event VARCHAR,
        request_id VARCHAR, request_path VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS bad_requests (
        project_id INTEGER, request_id VARCHAR, received_at TIMESTAMP, path VARCHAR,
        size BIGINT, truncated BOOLEAN, body VARCHAR, PRIMARY KEY (project_id, request_id))""",
)


@dataclass(frozen=True, slots=True)
class BadEventRow:
    """One row of the bad-event bucket: an event that broke a rule, or a refused request's
    rule (``event`` is the event's JSON text, ``None`` when the rule is the request's)."""

    kind: str
    rule: str
    path: str
    disposition: str
    event_type: str | None = None
    insert_id: str | None = None
    event: str | None = None


@dataclass(frozen=True, slots=True)
class BadRequestRow:
    """The request some :class:`BadEventRow` came in, stored once (``body`` cut at a cap)."""

    request_id: str
    path: str
    size: int
    truncated: bool
    body: str


@dataclass
class EventBatch:
    """The rows of one ingestion request, column by column: a list per name of
    :data:`BATCH_COLUMNS` (timestamps as epoch milliseconds).  The columns every row of a
    request shares (project, upload times) and the uuid are the store's to add."""

    columns: dict[str, list[Any]]
    now_ms: int

    def __len__(self) -> int:
        return len(self.columns["seq"])


_ROW_CONSTANTS = {
    "project_id": "$1::INTEGER",
    "uuid": "uuid()::VARCHAR",  # a random (version 4) UUID per row
    "client_event_time": "epoch_ms(event_time)",
    **{name: "epoch_ms($2::BIGINT)" for name in (
        "client_upload_time", "server_received_time", "server_upload_time", "processed_time")},
}
BATCH_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (name, "BIGINT" if how == "ms" else kind)
    for name, kind, how in EVENT_COLUMNS if name not in _ROW_CONSTANTS)
"""The columns of an :class:`EventBatch` and their DuckDB types (timestamps: epoch ms)."""


def insert_sql(source: str) -> str:
    """``INSERT`` of the rows of a batch registered as ``source`` (parameters: project id,
    the request's time in epoch ms)."""
    parts = []
    for name, _, how in EVENT_COLUMNS:
        if name in _ROW_CONSTANTS:
            parts.append(_ROW_CONSTANTS[name])
        else:
            parts.append(f'epoch_ms("{name}")' if how == "ms" else f'"{name}"')
    return f"INSERT INTO events SELECT {', '.join(parts)} FROM {source}"  # noqa: S608 -- ours


_TIMESTAMPS = frozenset(n for n, _, how in EVENT_COLUMNS if how == "ms")
EXPORT_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"
"""Amplitude's export timestamp format: ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC, no zone)."""
EXPORT_SELECT = ", ".join(
    f"strftime({name}, '{EXPORT_TIMESTAMP}') AS {name}" if name in _TIMESTAMPS else name
    for name in EXPORT_COLUMN_NAMES
)
"""The event columns for :func:`export_dict`, timestamps already written out by DuckDB (a
Python strftime per value took a sixth of an export's time)."""
_JSON = frozenset(n for n, _, how in EVENT_COLUMNS if how == "json")


_OBJECT_KEYS = ("event_properties", "user_properties", "group_properties", "groups", "plan",
                "data")
_DROPPED = ("seq", "revenue")
_JSON_VALUES = tuple(sorted(_JSON - {"extra"}))


def export_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    """A stored row (selected with :data:`EXPORT_SELECT`, which writes the timestamps out) as
    an exported event line."""
    values = dict(zip(EXPORT_COLUMN_NAMES, row, strict=True))
    extra = values.pop("extra")
    values["app"] = values.pop("project_id")
    values["$insert_id"] = values.pop("insert_id")
    for name in _DROPPED:
        del values[name]
    for name in _JSON_VALUES:
        value = values[name]
        if value is not None:
            values[name] = orjson.loads(value)
    out: dict[str, Any] = {
        "$insert_key": None, "$schema": None,
        "amplitude_attribution_ids": None, "amplitude_event_type": None,
        "data_type": "event", "global_user_properties": {}, "is_attribution_event": False,
        "sample_rate": None, "source_id": None,
        **values,
    }
    for key in _OBJECT_KEYS:
        if out.get(key) is None:
            out[key] = {}
    if extra:
        out.update(orjson.loads(extra))
    return dict(sorted(out.items()))  # Amplitude writes each line's keys sorted
