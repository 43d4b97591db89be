"""The Export API's archive: a ZIP of per-hour gzipped JSON-lines files (reference §9.2).

Events are selected by ``server_upload_time`` hour (UTC by default), ``end`` inclusive; both
hours lie in 1970-01-01 .. 2999-12-31, the date range every read route accepts (see
:mod:`ampkit.server.query.clock`; ``99991231T23`` overflowed the UTC conversion).

DuckDB writes every line (:func:`export_line_sql`, one SQL expression: the line's JSON text),
sorting the window's events a batch at a time; Python only cuts the stream of lines into the
hour files and gzips them (zlib, in a second thread, while DuckDB writes the next lines).  The
archive goes to a spooled temporary file: neither the rows nor the archive are held in memory
whole.  (DuckDB's own ``COPY … (FORMAT JSON, COMPRESSION GZIP)`` was measured too: its gzip
and its order-preserving writer were both slower than this — see ``bench/server_export.py``.)
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import tempfile
import zipfile
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO
from zoneinfo import ZoneInfo

import duckdb
import orjson

from ampkit.server.config import ExportConfig
from ampkit.server.query.clock import FIRST_DAY, LAST_DAY
from ampkit.server.schema import EVENT_COLUMNS, EXPORT_TIMESTAMP

HOUR_FORMAT = re.compile(r"[0-9]{8}T[0-9]{2}")
BATCH_EVENTS = 100_000
"""DuckDB sorts and writes the window's events this many at a time."""
ENTRY_MAX_BYTES = 1 << 30
"""A new ``#n`` file starts once an hour's file holds this many bytes of JSON lines (besides
every ``partition_events`` events): gzip never makes a file larger than its input by more than
a few bytes a block, so an entry stays under the 2 GiB a plain (non-ZIP64) zip entry can hold."""
_GZIP_LEVEL = 3
"""zlib's fastest levels (1–3) compress export lines 1.7 times as fast as level 5 and 2.2 times
as fast as 6 (gzip's default, used before) into files 20% and 24% larger: with DuckDB writing
the lines, compressing is most of the work left.  What level Amplitude uses is not documented;
any level reads the same."""


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


# --- the line: one SQL expression --------------------------------------------------------------

_CONSTANT_KEYS = {
    "$insert_key": "null", "$schema": "null", "amplitude_attribution_ids": "null",
    "amplitude_event_type": "null", "data_type": '"event"', "global_user_properties": "{}",
    "is_attribution_event": "false", "sample_rate": "null", "source_id": "null",
}
"""Keys every line carries with the same value (the real archives' keys ampkit has no data for)."""
_RENAMED = {"project_id": "app", "insert_id": "$insert_id"}
_NOT_EXPORTED = frozenset({"seq", "revenue", "dedup_hash", "extra"})


def _text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _value(name: str, kind: str, how: str) -> str:
    """SQL of a column's JSON text in a line (never NULL)."""
    if how == "ms":
        return f"coalesce('\"' || strftime({name}, '{EXPORT_TIMESTAMP}') || '\"', 'null')"
    if how == "json":  # the stored JSON text as it is; a missing object is {}
        return f"CASE WHEN {name} IS NULL OR {name} = 'null' THEN '{{}}' ELSE {name} END"
    if kind == "DOUBLE":  # NaN and the infinities are no JSON numbers: null, as orjson writes
        return f"CASE WHEN isfinite({name}) THEN to_json({name})::VARCHAR ELSE 'null' END"
    return f"coalesce(to_json({name})::VARCHAR, 'null')"


def _lambda(param: str, body: str) -> str:
    """A DuckDB lambda: ``lambda x: …`` from 1.3 (2.0 refuses the arrow), ``x -> …`` before."""
    major, minor = (int(p) for p in re.findall(r"[0-9]+", duckdb.__version__)[:2])
    return f"lambda {param}: {body}" if (major, minor) >= (1, 3) else f"{param} -> {body}"


_HAS_EXTRA = "extra IS NOT NULL AND extra NOT IN ('', '{}')"
"""SQL: the row carries keys without a column of their own."""


@functools.cache
def export_line_sql(extra: bool = True) -> str:
    """A stored event as its exported line, JSON text, in DuckDB SQL over the ``events`` row:
    what ``orjson.dumps(export_dict(row))`` writes (:func:`ampkit.server.schema.export_dict`,
    the definition), keys sorted as Amplitude writes them.

    Stored JSON columns go into the line as the text stored (orjson's, written at ingestion).
    Spelled differently, the same values: a DOUBLE column (``location_lat``/``lng``) of
    magnitude ≥ 1e16 (DuckDB writes ``10000000000000000.0`` where orjson writes ``1e+16``), and
    such a float among the values of keys without a column (``extra``), which DuckDB parses to
    merge them in among the others — a slower path (list functions per row) that only events
    carrying such keys take.

    ``extra=False``: the expression for rows none of which has such keys (DuckDB binds it in
    half the time of the whole one: 7 ms against 15 for a window of 20 events, which is most
    of what a small export costs)."""
    values = {_RENAMED.get(name, name): _value(name, kind, how)
              for name, kind, how in EVENT_COLUMNS if name not in _NOT_EXPORTED}
    values.update({key: _text(json) for key, json in _CONSTANT_KEYS.items()})
    ordered = sorted(values.items())
    parts: list[str] = []
    for i, (key, sql) in enumerate(ordered):
        parts += [_text(("{" if i == 0 else ",") + orjson.dumps(key).decode() + ":"), sql]
    plain = f"concat({', '.join(parts)}, '}}')"  # one concat: a chain of || copies quadratically
    if not extra:
        return plain
    # keys sent without a column of their own (``extra``) go in among the others; one of the
    # same name replaces it (as export_dict's update does)
    base = "[" + ", ".join(f"{{'k': {_text(key)}, 'v': {sql}}}" for key, sql in ordered) + "]"
    as_map = "CAST(extra::JSON AS MAP(VARCHAR, JSON))"
    kept = f"list_filter({base}, {_lambda('e', f'NOT list_contains(map_keys({as_map}), e.k)')})"
    added = f"list_transform(map_entries({as_map}), " + _lambda(
        "e", "{'k': e.key, 'v': coalesce(e.value::VARCHAR, 'null')}") + ")"
    pairs = _lambda("e", "to_json(e.k)::VARCHAR || ':' || e.v")
    merged = (f"'{{' || array_to_string(list_transform(list_sort(list_concat({kept}, {added})), "
              f"{pairs}), ',') || '}}'")
    return f"CASE WHEN {_HAS_EXTRA} THEN {merged} ELSE {plain} END"


# --- the archive --------------------------------------------------------------------------------

_WINDOW = "project_id = $1 AND server_upload_time >= $2 AND server_upload_time < $3"
_FETCH = 10_000
"""Lines fetched at a time (13 MB of bench lines)."""
_QUEUED = 2
"""Fetched chunks waiting for the gzip thread, at most."""


def build_archive(cur: duckdb.DuckDBPyConnection, config: ExportConfig, project_id: int,
                  window: ExportWindow, *,
                  entry_max_bytes: int = ENTRY_MAX_BYTES) -> IO[bytes] | None:
    """The archive in a temporary file (rewound), or ``None`` when the window holds no event."""
    end = window.end
    cutoff = available_until(config, dt.datetime.now(dt.UTC).replace(tzinfo=None))
    if cutoff is not None and cutoff < end:
        end = cutoff
    if end <= window.start:
        return None
    params = [project_id, window.start, end]
    cur.execute("BEGIN TRANSACTION")  # one snapshot: the hours counted are the lines written
    try:
        counted = cur.execute(
            "SELECT date_trunc('hour', server_upload_time) AS hour, count(*), "  # noqa: S608
            f"bool_or({_HAS_EXTRA}) FROM events "
            f"WHERE {_WINDOW} GROUP BY hour ORDER BY hour", params).fetchall()
        if not counted:
            return None
        hours = [(hour, n) for hour, n, _ in counted]
        extra = any(has_extra for _, _, has_extra in counted)
        # batch bounds: the (server_upload_time, seq) of every BATCH_EVENTS-th event
        bounds = cur.execute(
            "SELECT server_upload_time, seq FROM (SELECT server_upload_time, seq, row_number() "  # noqa: S608
            f"OVER (ORDER BY server_upload_time, seq) AS n FROM events WHERE {_WINDOW}) "
            f"WHERE n % {BATCH_EVENTS} = 0 ORDER BY n", params).fetchall()
        return _write(cur, config, project_id, params, hours, bounds, entry_max_bytes, extra)
    finally:
        cur.execute("ROLLBACK")  # it only read


def _write(cur: duckdb.DuckDBPyConnection, config: ExportConfig, project_id: int,
           window: list[object], hours: list[tuple[dt.datetime, int]],
           bounds: list[tuple[dt.datetime, int]], entry_max_bytes: int, extra: bool,
           ) -> IO[bytes]:
    """DuckDB writes the lines, a batch at a time; a thread gzips them into the archive while
    DuckDB writes the next ones (zlib lets go of the GIL)."""
    out = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115
    gzipper = ThreadPoolExecutor(1, thread_name_prefix="ampkit-export-gzip")
    try:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
            entries = _Entries(zf, project_id, hours, config.partition_events, entry_max_bytes)
            queued: deque[Future[None]] = deque()
            written = 0
            try:
                for sql, params in _batches(window, bounds, extra):
                    cur.execute(sql, params)
                    while rows := cur.fetchmany(_FETCH):
                        data = b"".join([row[0] for row in rows])
                        written += len(data)
                        if written > config.max_bytes:
                            raise ExportTooLarge
                        if len(queued) == _QUEUED:
                            queued.popleft().result()
                        queued.append(gzipper.submit(entries.write, data))
                while queued:
                    queued.popleft().result()
                entries.finish()
            finally:
                gzipper.shutdown(wait=True, cancel_futures=True)  # before the archive closes
                entries.abort()
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def _batches(window: list[object], bounds: list[tuple[dt.datetime, int]], extra: bool,
             ) -> Iterator[tuple[str, list[object]]]:
    """The query of each batch's lines (UTF-8, each ending with a newline), in order: DuckDB sorts a
    batch of rows at a time, not the whole window's."""
    line = export_line_sql(extra)
    for i in range(len(bounds) + 1):
        where, params = _WINDOW, list(window)
        if i > 0:  # after the previous batch's last event
            where += " AND (server_upload_time, seq) > ($4, $5)"
            params += bounds[i - 1]
        if i < len(bounds):  # up to this batch's last event
            n = len(params)
            where += f" AND (server_upload_time, seq) <= (${n + 1}, ${n + 2})"
            params += bounds[i]
        # the subquery sorts the rows, not their lines (20% faster); the lines come as BLOBs,
        # bytes in Python (no UTF-8 decoding and encoding: 25% faster); the SQL is ours
        yield (f"SELECT encode(({line}) || chr(10)) FROM (SELECT * FROM events "  # noqa: S608
               f"WHERE {where} ORDER BY server_upload_time, seq)"), params


class _Entries:
    """Cuts the lines, in order, into the archive's entries: one per hour and ``#n`` part, a
    part closing at ``per_entry`` lines or once it holds ``max_bytes``."""

    def __init__(self, zf: zipfile.ZipFile, project_id: int,
                 hours: list[tuple[dt.datetime, int]], per_entry: int, max_bytes: int) -> None:
        self.zf = zf
        self.project_id = project_id
        self.hours = hours
        self.per_entry = per_entry
        self.max_bytes = max_bytes
        self.next_hour = 0
        self.hour = dt.datetime.min
        self.hour_left = 0
        self.part = 0
        self.stream: IO[bytes] | None = None
        self.gz: zlib._Compress | None = None
        self.lines = 0
        self.bytes = 0

    def write(self, data: bytes) -> None:
        """Writes ``data``: whole lines, each ending with a newline."""
        at, left = 0, data.count(b"\n")
        while at < len(data):
            if self.stream is None:
                self._open()
            assert self.stream is not None
            assert self.gz is not None
            want = min(self.hour_left, self.per_entry - self.lines)
            end, n = _cut(data, at, left, want, self.max_bytes - self.bytes)
            self.stream.write(self.gz.compress(memoryview(data)[at:end]))
            self.lines += n
            self.bytes += end - at
            self.hour_left -= n
            left -= n
            at = end
            if self.hour_left == 0 or self.lines >= self.per_entry or self.bytes >= self.max_bytes:
                self._close()

    def _open(self) -> None:
        if self.hour_left == 0:
            if self.next_hour == len(self.hours):
                raise RuntimeError("the export wrote more lines than it counted events")
            self.hour, self.hour_left = self.hours[self.next_hour]
            self.next_hour += 1
            self.part = 0
        h, pid = self.hour, self.project_id
        name = f"{pid}/{pid}_{h:%Y-%m-%d}_{h.hour}#{self.part}.json.gz"
        # zip's dates run 1980–2107; plain headers: an entry stays under max_bytes (+ one
        # line), so it never needs ZIP64, and readers without it can open it
        stamp = (min(max(h.year, 1980), 2107), h.month, h.day, h.hour, 0, 0)
        self.stream = self.zf.open(zipfile.ZipInfo(name, stamp), "w")
        self.gz = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip's framing
        self.lines = self.bytes = 0

    def _close(self) -> None:
        assert self.stream is not None
        assert self.gz is not None
        self.stream.write(self.gz.flush())
        self.stream.close()
        self.stream = self.gz = None
        self.part += 1

    def finish(self) -> None:
        if self.stream is not None or self.next_hour < len(self.hours):
            raise RuntimeError("the export wrote fewer lines than it counted events")

    def abort(self) -> None:
        """Closes an entry left open by a failure (the archive is dropped)."""
        if self.stream is not None:
            self.stream.close()
            self.stream = self.gz = None


def _cut(data: bytes, at: int, left: int, want: int, room: int) -> tuple[int, int]:
    """Where the lines from ``at`` an entry takes end, and how many they are: ``data`` holds
    ``left`` more lines; the entry takes ``want`` at most, and none starting ``room`` bytes or
    more after ``at`` (its first line always)."""
    if left <= want:
        end, n = len(data), left
    else:
        end, n = at, want
        for _ in range(want):
            end = data.index(b"\n", end) + 1
    if end - at > room:
        end = data.index(b"\n", at + max(room, 1) - 1) + 1
        n = data.count(b"\n", at, end)
    return end, n
