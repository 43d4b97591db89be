"""What a sync does: a YAML replication file (in the spirit of Sling's) merged with CLI flags.

.. code-block:: yaml

    # credentials: AMPLITUDE_API_KEY / AMPLITUDE_SECRET_KEY (never in this file)
    source:
      timezone: UTC             # the project's time zone (Dashboard dates)
      export_delay_hours: 2     # raw events are exportable ~2 h after their hour closes;
                                # 0 against ampkit serve: also the hour now open (re-read later)
    target: postgresql://me@localhost/analytics?schema=amplitude   # ${VARS} are expanded
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
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ampkit.errors import ConfigError
from ampkit.export import DEFAULT_MAX_LINE_BYTES
from ampkit.replicate.plan import TimeRange, parse_range
from ampkit.replicate.streams import STREAMS, Mode, get_stream

DEFAULT_ANCHOR_DAYS = 30
DEFAULT_WINDOW_HOURS = 24
DEFAULT_MAX_ARCHIVE_BYTES = 5_000_000_000
"""Compressed archive cap (Amplitude itself refuses exports over 4 GB)."""
DEFAULT_MAX_UNCOMPRESSED_BYTES = 100_000_000_000
LtvMetric = Literal["arpu", "arppu", "total", "paying"]
SECRET_KEYS = frozenset({"api_key", "secret_key", "apikey", "secretkey", "password"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StreamConfig(_Strict):
    """Per-stream settings in the file (all optional)."""

    mode: Mode | None = None
    primary_key: list[str] | None = None
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
    anchor_date: dt.date | None = None
    window_hours: int | None = Field(default=None, ge=1, le=365 * 24)
    lookback: int | None = Field(default=None, ge=0)


class SourceConfig(_Strict):
    region: Literal["us", "eu"] | None = None
    base_url: str | None = None
    timezone: str = "UTC"
    export_delay_hours: int = Field(default=2, ge=0, le=48)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as "
                             "Europe/Paris)") from None
        return value


class Limits(_Strict):
    max_line_bytes: int = Field(default=DEFAULT_MAX_LINE_BYTES, ge=1)
    max_archive_bytes: int | None = Field(default=DEFAULT_MAX_ARCHIVE_BYTES, ge=1)
    max_uncompressed_bytes: int | None = Field(default=DEFAULT_MAX_UNCOMPRESSED_BYTES, ge=1)


class ReplicationConfig(_Strict):
    """A replication file."""

    source: SourceConfig = Field(default_factory=SourceConfig)
    target: str | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    streams: dict[str, StreamConfig] | None = None
    spool_dir: Path | None = None
    limits: Limits = Field(default_factory=Limits)

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
    backfill: TimeRange | None = None
    window_hours: int = DEFAULT_WINDOW_HOURS
    window_hours_set: bool = False
    lookback: int = 0
    group_by: str | None = None
    ltv_metric: LtvMetric = "arpu"


class SyncOptions(_Strict):
    """Everything a run needs besides credentials."""

    streams: tuple[StreamOptions, ...]
    target: str | None = None
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
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    _secret_keys(data)
    try:
        return ReplicationConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "file"
        raise ConfigError(f"{path}: {loc}: {first['msg']}") from None


def _mode(name: str, wanted: Mode | None, strict: bool) -> Mode:
    stream = get_stream(name)
    if wanted is None:
        return stream.default_mode
    if wanted not in stream.modes:
        if strict:
            raise ConfigError(f"stream {name!r} supports only {', '.join(stream.modes)}")
        return stream.default_mode
    return wanted


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
    """The file (optional) and the flags as one :class:`SyncOptions`."""
    config = config or ReplicationConfig()
    today = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()
    listed = config.streams if config.streams is not None else {}
    for name in listed:
        get_stream(name)
    if streams:
        names = [get_stream(n.strip()).name for n in streams if n.strip()]
    elif config.streams is not None:
        names = [n for n, c in listed.items() if not c.disabled]
    else:
        names = list(STREAMS)
    order = list(STREAMS)
    names = sorted(dict.fromkeys(names), key=order.index)
    flag_range = parse_range(backfill) if backfill else None
    defaults = config.defaults
    out: list[StreamOptions] = []
    for name in names:
        stream = get_stream(name)
        own = listed.get(name, StreamConfig())
        keys = tuple(own.primary_key) if own.primary_key else stream.primary_key
        for key in keys:
            if stream.column(key) is None:
                raise ConfigError(f"stream {name!r}: primary key column {key!r} does not exist")
        window = own.window_hours or defaults.window_hours
        out.append(StreamOptions(
            name=name,
            mode=_mode(name, mode, strict=False) if mode else _mode(
                name, own.mode or defaults.mode, strict=own.mode is not None),
            primary_key=keys,
            anchor_date=anchor_date or own.anchor_date or defaults.anchor_date
            or today - dt.timedelta(days=DEFAULT_ANCHOR_DAYS),
            backfill=None if stream.kind == "catalog" else (
                flag_range or (parse_range(own.range) if own.range else None)),
            window_hours=window or DEFAULT_WINDOW_HOURS,
            window_hours_set=window is not None,
            lookback=own.lookback if own.lookback is not None else (defaults.lookback or 0),
            group_by=own.group_by,
            ltv_metric=own.ltv_metric or "arpu",
        ))
    return SyncOptions(
        streams=tuple(out),
        target=os.path.expandvars(target or config.target or "") or None,
        timezone=config.source.timezone,
        export_delay_hours=(config.source.export_delay_hours if export_delay_hours is None
                            else export_delay_hours),
        spool_dir=config.spool_dir,
        limits=config.limits,
        region=config.source.region,
        base_url=config.source.base_url,
        now=now,
    )


__all__ = [
    "DEFAULT_ANCHOR_DAYS",
    "DEFAULT_WINDOW_HOURS",
    "Limits",
    "ReplicationConfig",
    "StreamConfig",
    "StreamOptions",
    "SyncOptions",
    "load_config",
    "resolve",
]
