"""What a sync does: a YAML replication file (in the spirit of Sling's) merged with CLI flags.

.. code-block:: yaml

    # credentials: AMPLITUDE_API_KEY / AMPLITUDE_SECRET_KEY (never in this file)
    source:
      timezone: UTC             # the project's time zone (Dashboard dates)
      export_delay_hours: 2     # raw events are exportable ~2 h after their hour closes;
                                # 0 against ampkit serve: also the hour now open (re-read later)
    target: postgresql://me@localhost/analytics?schema=amplitude   # ${VARS} are expanded
    # or any dlt destination (ampkit.replicate.dlt_target), as dlt:filesystem?… or as:
    # target: {dlt: {destination: filesystem, table_format: delta, bucket_url: s3://b/lake}}
    defaults:
      mode: incremental         # or full-refresh
      anchor_date: 2024-01-01   # first day of the first incremental run (default: 30 days ago)
    streams:
      events:
        window_hours: 24        # export window (halves after a 400/504, grows back)
      active_users:
        group_by: country
      cohorts: {}
      revenue_ltv:
        range: 2024-01-01,2024-03-31   # backfill; the cursor does not move

Flags win over the file: ``--streams`` picks streams, ``--range`` backfills every picked
stream, ``--target`` and ``--mode`` override.

Sling's replication file runs as it is (:mod:`ampkit.replicate.connections` finds its named
connections):

.. code-block:: yaml

    source: AMPLITUDE             # a connection: env var, Sling's env.yaml, AMPLITUDE_* vars
    target: MY_POSTGRES           # a connection too (or a URL / path as above)
    defaults:
      mode: full-refresh
      object: amplitude.{stream_name}   # schema.table; {stream_name} as written below
    streams:
      cohorts:
      export:                     # Sling's name of the events stream
        mode: incremental
        primary_key: [uuid]
        update_key: server_upload_time  # must be the stream's cursor
        source_options:
          range: "2024-01-01,2024-06-30"
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ampkit.errors import ConfigError
from ampkit.export import DEFAULT_MAX_LINE_BYTES
from ampkit.models.base import TimeZoneName, error_line, parse_error_text
from ampkit.replicate.connections import (
    SourceConnection,
    is_connection_name,
    looked_in,
    source_connection,
    target_connection,
)
from ampkit.replicate.plan import TimeRange, parse_range
from ampkit.replicate.streams import STREAMS, Mode, StreamDef, get_stream

DEFAULT_ANCHOR_DAYS = 30
DEFAULT_WINDOW_HOURS = 24
DEFAULT_MAX_ARCHIVE_BYTES = 5_000_000_000
"""Compressed archive cap (Amplitude itself refuses exports over 4 GB)."""
DEFAULT_MAX_UNCOMPRESSED_BYTES = 100_000_000_000
LtvMetric = Literal["arpu", "arppu", "total", "paying"]
SECRET_KEYS = frozenset({"api_key", "secret_key", "apikey", "secretkey", "password"})
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
"""A schema or table name an ``object`` may give (quoted everywhere, but kept plain)."""
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceOptions(_Strict):
    """Sling's ``source_options`` (the ones an Amplitude source has)."""

    range: str | None = None
    """Backfill ``START,END`` (the cursor does not move)."""


class StreamConfig(_Strict):
    """Per-stream settings in the file (all optional)."""

    mode: Mode | None = None
    primary_key: list[str] | None = None
    update_key: str | None = None
    """The cursor column of an incremental stream (Sling's name; ampkit's streams each have
    one: ``server_upload_time`` for events, ``date`` for daily series)."""
    object: str | None = None
    """``schema.table`` or ``table``; ``{stream_name}`` is the stream's name as written."""
    source_options: SourceOptions | None = None
    range: str | None = None
    anchor_date: dt.date | None = None
    window_hours: int | None = Field(default=None, ge=1, le=365 * 24)
    lookback: int | None = Field(default=None, ge=0)
    """Re-read this many units (hours for events, days for daily streams) before the cursor."""
    group_by: str | None = None
    """``g`` for active_users / new_users / revenue_ltv (costs 4 conditions more per day)."""
    ltv_metric: LtvMetric | None = None
    disabled: bool = False


class Defaults(_Strict):
    mode: Mode | None = None
    object: str | None = None
    source_options: SourceOptions | None = None
    anchor_date: dt.date | None = None
    window_hours: int | None = Field(default=None, ge=1, le=365 * 24)
    lookback: int | None = Field(default=None, ge=0)


class SourceConfig(_Strict):
    region: Literal["us", "eu"] | None = None
    base_url: str | None = None
    timezone: TimeZoneName = "UTC"
    export_delay_hours: int = Field(default=2, ge=0, le=48)


class Limits(_Strict):
    max_line_bytes: int = Field(default=DEFAULT_MAX_LINE_BYTES, ge=1)
    max_archive_bytes: int | None = Field(default=DEFAULT_MAX_ARCHIVE_BYTES, ge=1)
    max_uncompressed_bytes: int | None = Field(default=DEFAULT_MAX_UNCOMPRESSED_BYTES, ge=1)


class ReplicationConfig(_Strict):
    """A replication file."""

    source: SourceConfig | str = Field(default_factory=SourceConfig)
    """Settings of the Amplitude side, or the name of a connection (Sling's ``AMPLITUDE``)."""
    target: str | None = None
    """A URL, a path, a connection name or ``dlt:<destination>?…``; in a file also the mapping
    ``{dlt: {destination: …, dataset: …, …}}`` (kept as the equivalent ``dlt:`` string)."""
    defaults: Defaults = Field(default_factory=Defaults)
    streams: dict[str, StreamConfig] | None = None
    spool_dir: Path | None = None
    limits: Limits = Field(default_factory=Limits)

    @field_validator("target", mode="before")
    @classmethod
    def _target_mapping(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        from ampkit.replicate.dlt_target import target_from_mapping

        try:
            return target_from_mapping(value)
        except ConfigError as exc:  # pydantic reports a ValueError with its location
            raise ValueError(str(exc)) from None

    @field_validator("streams", mode="before")
    @classmethod
    def _streams(cls, value: Any) -> Any:
        if isinstance(value, list):  # a plain list of names
            return {str(name): {} for name in value}
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value


class StreamOptions(_Strict):
    """One stream, fully resolved."""

    name: str
    mode: Mode
    primary_key: tuple[str, ...]
    anchor_date: dt.date
    label: str = ""
    """The stream's name as the user wrote it (``export``); results and progress use it."""
    table: str = ""
    """Its table (file, folder) in the destination; default: the stream's name."""

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("name"):
            data = {**data, "label": data.get("label") or data["name"],
                    "table": data.get("table") or data["name"]}
        return data
    backfill: TimeRange | None = None
    window_hours: int = DEFAULT_WINDOW_HOURS
    window_hours_set: bool = False
    lookback: int = 0
    group_by: str | None = None
    ltv_metric: LtvMetric = "arpu"


class SyncOptions(_Strict):
    """Everything a run needs besides credentials."""

    streams: tuple[StreamOptions, ...]
    target: str | None = Field(default=None, repr=False)
    """A URL may hold a database password: never in a repr (``describe_target`` hides it)."""
    schema_: str | None = Field(default=None, alias="schema")
    """Every table in this schema (from ``object: schema.…`` or a connection's ``schema``)."""
    source: SourceConnection | None = None
    """The named Amplitude connection (``source: AMPLITUDE``); ``None``: AMPLITUDE_* variables."""
    timezone: str = "UTC"
    export_delay_hours: int = 2
    spool_dir: Path | None = None
    limits: Limits = Field(default_factory=Limits)
    region: Literal["us", "eu"] | None = None
    base_url: str | None = None
    now: dt.datetime | None = None
    """The clock (tests); default: the current time."""


def _secret_keys(data: Any, where: str = "") -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            if str(key).lower() in SECRET_KEYS:
                raise ConfigError(
                    f"{where}{key}: credentials do not belong in the replication file — set "
                    "AMPLITUDE_API_KEY and AMPLITUDE_SECRET_KEY (and put database passwords in "
                    "${VARS})"
                )
            _secret_keys(value, f"{where}{key}.")


def load_config(path: Path) -> ReplicationConfig:
    """Read a replication file (YAML or JSON)."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"replication file not found: {path}") from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date like 2024-02-30
        raise ConfigError(f"{path}: not valid YAML ({parse_error_text(exc)})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    # a mapping target ({dlt: …}) refuses credential-looking keys itself, pointing to dlt's
    # own places for them
    _secret_keys({k: v for k, v in data.items() if k != "target" or not isinstance(v, dict)})
    try:
        return ReplicationConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {error_line(exc.errors()[0], 'file')}") from None


def _mode(name: str, wanted: Mode | None, strict: bool) -> Mode:
    stream = get_stream(name)
    if wanted is None:
        return stream.default_mode
    if wanted not in stream.modes:
        if strict:
            raise ConfigError(f"stream {name!r} supports only {', '.join(stream.modes)}")
        return stream.default_mode
    return wanted


def _object(template: str, label: str, where: str) -> tuple[str | None, str]:
    """``(schema, table)`` of an ``object`` template for the stream written ``label``."""
    for name in _PLACEHOLDER.findall(template):
        if name != "stream_name":
            raise ConfigError(f"{where}: unknown placeholder {{{name}}} in {template!r} "
                              "(ampkit fills {stream_name})")
    parts = template.replace("{stream_name}", label).split(".")
    if len(parts) > 2 or not all(IDENTIFIER.match(p) for p in parts):
        raise ConfigError(f"{where}: {template!r} must be schema.table or table: letters, "
                          "digits and _, starting with a letter or _, at most 63 each")
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def _update_key(stream: StreamDef, label: str, key: str | None) -> None:
    if key is None or key == stream.cursor:
        return
    where = f"streams.{label}.update_key"
    if stream.cursor is None:
        raise ConfigError(f"{where}: {label} is read whole (full refresh only) and has no "
                          "update key; remove it")
    unit = "the upload hour the Export API selects by" if stream.grain == "hour" else "the day"
    raise ConfigError(f"{where}: {label} is read incrementally by {stream.cursor} ({unit}), "
                      f"not {key!r}")


def _target(text: str) -> tuple[str, str | None]:
    """``(target, default schema)``: a connection name resolved, anything else as given."""
    if not is_connection_name(text) or Path(text).exists():
        return os.path.expandvars(text), None
    conn = target_connection(text)
    if conn is None:
        raise ConfigError(
            f"target {text!r} is neither a connection (looked in {looked_in(text)}) nor a "
            "target: a file ends in .duckdb (or .db, .ddb), a Parquet directory in /, or name "
            "the kind: duckdb://, postgresql://, parquet://")
    return conn.target, conn.schema_


def resolve(
    config: ReplicationConfig | None = None,
    *,
    streams: list[str] | None = None,
    backfill: str | None = None,
    target: str | None = None,
    mode: Mode | None = None,
    anchor_date: dt.date | None = None,
    now: dt.datetime | None = None,
    export_delay_hours: int | None = None,
) -> SyncOptions:
    """The file (optional) and the flags as one :class:`SyncOptions`; named connections
    (``source: AMPLITUDE``, ``target: MY_POSTGRES``) are looked up here."""
    config = config or ReplicationConfig()
    today = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()
    listed = config.streams if config.streams is not None else {}
    seen: dict[str, str] = {}
    for name in listed:
        canonical = get_stream(name).name
        if canonical in seen:
            raise ConfigError(f"streams: {seen[canonical]!r} and {name!r} are the same stream "
                              f"({canonical}); list it once")
        seen[canonical] = name
    if streams:
        labels = [n.strip() for n in streams if n.strip()]
    elif config.streams is not None:
        labels = [n for n, c in listed.items() if not c.disabled]
    else:
        labels = list(STREAMS)
    order = list(STREAMS)
    by_stream = {get_stream(label).name: label for label in reversed(labels)}
    names = sorted(by_stream, key=order.index)
    flag_range = parse_range(backfill) if backfill else None
    defaults = config.defaults
    source = (source_connection(config.source) if isinstance(config.source, str) else None)
    source_config = config.source if isinstance(config.source, SourceConfig) else SourceConfig()
    target_text, schema = _target(target or config.target or "") if (
        target or config.target) else (None, None)
    schemas: set[str] = set()
    tables: dict[str, str] = {}
    out: list[StreamOptions] = []
    for name in names:
        stream = get_stream(name)
        label = by_stream[name]
        own = listed.get(label) or listed.get(seen.get(name, ""), StreamConfig())
        keys = tuple(own.primary_key) if own.primary_key else stream.primary_key
        for key in keys:
            if stream.column(key) is None:
                raise ConfigError(f"stream {label!r}: primary key column {key!r} does not exist")
        lacking = [key for key in stream.primary_key if key not in keys]
        if lacking:  # a key that does not tell the stream's rows apart merges them silently
            raise ConfigError(
                f"stream {label!r}: primary_key {list(keys)} must include the stream's own key "
                f"{list(stream.primary_key)} (without {', '.join(lacking)}, distinct rows would "
                "be merged into one)")
        _update_key(stream, label, own.update_key)
        template = own.object or defaults.object
        table_schema, table = (_object(template, label, f"streams.{label}.object" if own.object
                                       else "defaults.object")
                               if template else (None, stream.name))
        if table_schema is not None:
            schemas.add(table_schema)
        if table in tables:
            raise ConfigError(f"streams {tables[table]!r} and {label!r} both write table "
                              f"{table!r}; give one another object")
        tables[table] = label
        own_range = own.range or (own.source_options.range if own.source_options else None) or (
            defaults.source_options.range if defaults.source_options else None)
        window = own.window_hours or defaults.window_hours
        out.append(StreamOptions(
            name=name,
            label=label,
            table=table,
            mode=_mode(name, mode, strict=False) if mode else _mode(
                name, own.mode or defaults.mode, strict=own.mode is not None),
            primary_key=keys,
            anchor_date=anchor_date or own.anchor_date or defaults.anchor_date
            or (source.anchor_date if source else None)
            or today - dt.timedelta(days=DEFAULT_ANCHOR_DAYS),
            backfill=None if stream.kind == "catalog" else (
                flag_range or (parse_range(own_range) if own_range else None)),
            window_hours=window or DEFAULT_WINDOW_HOURS,
            window_hours_set=window is not None,
            lookback=own.lookback if own.lookback is not None else (defaults.lookback or 0),
            group_by=own.group_by,
            ltv_metric=own.ltv_metric or "arpu",
        ))
    if len(schemas) > 1:
        raise ConfigError(f"object: the streams name {len(schemas)} schemas "
                          f"({', '.join(sorted(schemas))}); ampkit writes one per run — run "
                          "ampkit sync once per schema")
    return SyncOptions(
        streams=tuple(out),
        target=target_text or None,
        schema=next(iter(schemas), None) or schema,
        source=source,
        timezone=source_config.timezone,
        export_delay_hours=(source_config.export_delay_hours if export_delay_hours is None
                            else export_delay_hours),
        spool_dir=config.spool_dir,
        limits=config.limits,
        region=source_config.region,
        base_url=source_config.base_url,
        now=now,
    )


__all__ = [
    "DEFAULT_ANCHOR_DAYS",
    "DEFAULT_WINDOW_HOURS",
    "Limits",
    "ReplicationConfig",
    "SourceOptions",
    "StreamConfig",
    "StreamOptions",
    "SyncOptions",
    "load_config",
    "resolve",
]
