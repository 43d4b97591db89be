"""The Export API's archive: a ZIP of per-hour gzipped JSON-lines files (reference §9.2).

Events are selected by ``server_upload_time`` hour (UTC by default), ``end`` inclusive; both
hours lie in 1970-01-01 .. 2999-12-31, the date range every read route accepts (see
:mod:`ampkit.server.query.clock`; ``99991231T23`` overflowed the UTC conversion).  The
archive is written to a spooled temporary file while rows stream out of DuckDB, so neither the
rows nor the archive are held in memory whole.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import tempfile
import zipfile
from dataclasses import dataclass
from typing import IO
from zoneinfo import ZoneInfo

import duckdb
import orjson

from ampkit.server.config import ExportConfig
from ampkit.server.query.clock import FIRST_DAY, LAST_DAY
from ampkit.server.schema import EVENT_COLUMN_NAMES, EXPORT_SELECT, export_dict

HOUR_FORMAT = re.compile(r"[0-9]{8}T[0-9]{2}")
_UPLOAD = EVENT_COLUMN_NAMES.index("server_upload_time")
_FETCH = 5000
ENTRY_MAX_BYTES = 1 << 30
"""A new ``#n`` file starts once an hour's file holds this many bytes of JSON lines (besides
every ``partition_events`` events): gzip never makes a file larger than its input by more than
a few bytes a block, so an entry stays under the 2 GiB a plain (non-ZIP64) zip entry can hold."""
_GZIP_LEVEL = 6
"""gzip's own default: level 9 took twice the time for a few percent less (what level
Amplitude uses is not documented; any level reads the same)."""


class ExportRequestError(ValueError):
    """A bad ``start``/``end`` (answered 400 naming ``param``)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


class ExportTooLarge(Exception):
    """The archive would exceed the configured size (answered 400, as Amplitude does)."""


@dataclass(frozen=True)
class ExportWindow:
    start: dt.datetime
    """First hour, naive UTC."""
    end: dt.datetime
    """End of the last hour (exclusive), naive UTC."""


def parse_window(start: str | None, end: str | None, config: ExportConfig) -> ExportWindow:
    hours = []
    for name, value in (("start", start), ("end", end)):
        if not value:
            raise ExportRequestError(name, f"{name} is required (format YYYYMMDDTHH)")
        if not HOUR_FORMAT.fullmatch(value):
            raise ExportRequestError(name, f"{name}={value!r} must look like YYYYMMDDTHH")
        try:
            local = dt.datetime.strptime(value, "%Y%m%dT%H")
        except ValueError:
            raise ExportRequestError(name, f"{name}={value!r} is not a real hour") from None
        if not FIRST_DAY <= local.date() <= LAST_DAY:
            raise ExportRequestError(name, f"{name}={value!r} must be between "
                                     f"{FIRST_DAY:%Y%m%d}T00 and {LAST_DAY:%Y%m%d}T23")
        aware = local.replace(tzinfo=ZoneInfo(config.timezone))
        hours.append(aware.astimezone(dt.UTC).replace(tzinfo=None))
    first, last = hours
    if last < first:
        raise ExportRequestError("end", "end is before start")
    if last - first >= dt.timedelta(days=config.max_days):
        raise ExportRequestError("end", f"the range spans more than {config.max_days} days")
    return ExportWindow(first, last + dt.timedelta(hours=1))


def available_until(config: ExportConfig, now: dt.datetime) -> dt.datetime | None:
    """Hours before this are exportable (data of 20:00–21:00 from 23:00 with a 2 h delay)."""
    if config.delay_hours <= 0:
        return None
    line = now - dt.timedelta(hours=config.delay_hours)
    return line.replace(minute=0, second=0, microsecond=0)


def build_archive(cur: duckdb.DuckDBPyConnection, config: ExportConfig, project_id: int,
                  window: ExportWindow) -> IO[bytes] | None:
    """The archive in a temporary file (rewound), or ``None`` when the window holds no event."""
    end = window.end
    cutoff = available_until(config, dt.datetime.now(dt.UTC).replace(tzinfo=None))
    if cutoff is not None and cutoff < end:
        end = cutoff
    if end <= window.start:
        return None
    cur.execute(
        f"SELECT {EXPORT_SELECT} FROM events WHERE project_id = ? "  # noqa: S608 -- our columns
        "AND server_upload_time >= ? AND server_upload_time < ? ORDER BY server_upload_time, seq",
        [project_id, window.start, end],
    )
    out = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115
    written = 0
    entry_key: tuple[str, int] | None = None
    in_entry = 0
    entry_bytes = 0
    partition = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        stream: IO[bytes] | None = None
        gz: gzip.GzipFile | None = None
        lines: list[bytes] = []

        def flush() -> None:
            if lines:
                assert gz is not None
                gz.write(b"".join(lines))
                lines.clear()

        try:
            while True:
                rows = cur.fetchmany(_FETCH)
                if not rows:
                    break
                for row in rows:
                    uploaded: str = row[_UPLOAD]  # YYYY-MM-DD HH:MM:SS.ffffff
                    hour = uploaded[:13]
                    if entry_key is None or hour != entry_key[0] or (
                        in_entry >= config.partition_events
                        or entry_bytes >= ENTRY_MAX_BYTES
                    ):
                        partition = partition + 1 if entry_key and hour == entry_key[0] else 0
                        flush()
                        if gz is not None and stream is not None:
                            gz.close()
                            stream.close()
                        day, hh = hour[:10], int(hour[11:13])
                        name = f"{project_id}/{project_id}_{day}_{hh}#{partition}.json.gz"
                        stamp = (int(day[:4]), int(day[5:7]), int(day[8:10]), hh, 0, 0)
                        # plain zip headers: an entry stays under ENTRY_MAX_BYTES (+ one
                        # line), so it never needs ZIP64, and readers without it can open it
                        stream = zf.open(zipfile.ZipInfo(name, stamp), "w")
                        gz = gzip.GzipFile(fileobj=stream, mode="wb", mtime=0,
                                           compresslevel=_GZIP_LEVEL)
                        entry_key, in_entry, entry_bytes = (hour, partition), 0, 0
                    line = orjson.dumps(export_dict(row)) + b"\n"
                    written += len(line)
                    entry_bytes += len(line)
                    if written > config.max_bytes:
                        raise ExportTooLarge
                    lines.append(line)
                    in_entry += 1
                flush()
        finally:
            if gz is not None and stream is not None:
                flush()
                gz.close()
                stream.close()
    if entry_key is None:
        out.close()
        return None
    out.seek(0)
    return out
