"""Export archives as Arrow record batches with one declared schema (pyarrow is optional).

Every documented top-level export key (reference §9.3) has a typed column; the three ``$`` keys
are named like the :class:`~ampkit.models.ExportEvent` fields (``insert_id``, ``insert_key``,
``schema_version``).  Timestamps become ``timestamp[us, tz=UTC]``; objects become JSON text;
``amplitude_attribution_ids`` becomes the JSON text of an array whether it came as an array or a
string.  Keys we do not know, and values that do not fit their column (drift), are kept as JSON
text in ``_raw_extra`` (null when there are none) — drift never fails.

How it stays fast: lines are parsed a few hundred at a time, the values of a chunk are transposed
into columns in one C-level pass (records sharing one key order, the normal case), and each
*kind* of column (all string columns together, all timestamps, ...) is converted by one pyarrow
call; the JSON columns are serialised by one ``orjson.dumps`` call and split apart in Arrow.  A
column whose values do not fit (drift) falls back to per-value conversion, for that chunk and
column only.  Chunks are gathered into batches of ``batch_size`` rows, built in a worker thread
one batch ahead of the consumer, so memory is proportional to the batch, never to the archive.

Where ampkit's C extension was built (``_decoder.c``), lines are decoded by it instead, straight
into Arrow buffers; it takes only the lines it converts exactly as the converters here do and
hands every other line to them (:func:`_native_batches`), so the batches are the same.

What fits a column is decided by :mod:`ampkit.export.convert`, the one set of coercion rules the
replication's tables (:mod:`ampkit.replicate.schema`) use too.
"""

from __future__ import annotations

import gc
import os
import struct
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any, Literal

import orjson

from ampkit.errors import ConfigError
from ampkit.export.convert import CONVERTERS, MISSING, json_text, parse_timestamp, to_timestamp
from ampkit.export.convert import Kind as AnyKind
from ampkit.export.decode import (
    DEFAULT_MAX_LINE_BYTES,
    Archive,
    iter_line_blocks,
    parse_lines,
)

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

Kind = Literal["string", "int", "float", "bool", "timestamp", "json", "ids"]

_MISSING = MISSING
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EXTRA_COLUMN = "_raw_extra"
DEFAULT_BATCH_SIZE = 50_000
PARSE_ROWS = 64
"""Lines parsed together: their dicts are emptied into columns while still in the CPU cache."""
CONVERT_ROWS = 1024
"""Rows converted to Arrow together, to amortise the cost of each pyarrow call."""

_KEY_KINDS: dict[str, Kind] = {
    # key in the export line → kind, in column order
    "$insert_id": "string",
    "$insert_key": "string",
    "$schema": "int",
    "adid": "string",
    "amplitude_attribution_ids": "ids",
    "amplitude_event_type": "string",
    "amplitude_id": "int",
    "app": "int",
    "city": "string",
    "client_event_time": "timestamp",
    "client_upload_time": "timestamp",
    "country": "string",
    "data": "json",
    "data_type": "string",
    "device_brand": "string",
    "device_carrier": "string",
    "device_family": "string",
    "device_id": "string",
    "device_manufacturer": "string",
    "device_model": "string",
    "device_type": "string",
    "dma": "string",
    "event_id": "int",
    "event_properties": "json",
    "event_time": "timestamp",
    "event_type": "string",
    "followed_an_identify": "bool",
    "global_user_properties": "json",
    "group_properties": "json",
    "groups": "json",
    "idfa": "string",
    "ip_address": "string",
    "is_attribution_event": "bool",
    "language": "string",
    "library": "string",
    "location_lat": "float",
    "location_lng": "float",
    "os_name": "string",
    "os_version": "string",
    "partner_id": "string",
    "paying": "bool",
    "plan": "json",
    "platform": "string",
    "processed_time": "timestamp",
    "region": "string",
    "sample_rate": "float",
    "server_received_time": "timestamp",
    "server_upload_time": "timestamp",
    "session_id": "int",
    "source_id": "string",
    "start_version": "string",
    "user_creation_time": "timestamp",
    "user_id": "string",
    "user_properties": "json",
    "uuid": "string",
    "version_name": "string",
}
_COLUMN_NAMES = {
    "$insert_id": "insert_id", "$insert_key": "insert_key", "$schema": "schema_version",
}
"""The ``$`` keys' columns, named like the :class:`~ampkit.models.ExportEvent` fields; every
other column is named as its key."""
EXPORT_COLUMNS: tuple[tuple[str, str, Kind], ...] = tuple(
    (_COLUMN_NAMES.get(key, key), key, kind) for key, kind in _KEY_KINDS.items()
)
"""(column, key in the export line, kind), in column order."""


def _pyarrow() -> Any:
    try:
        import pyarrow  # type: ignore[import-untyped, unused-ignore]
    except ImportError as exc:
        raise ConfigError(
            "Arrow output needs pyarrow: pip install 'ampkit[arrow]'"
        ) from exc
    return pyarrow


def arrow_type(kind: AnyKind, pa: Any = None) -> Any:
    """The Arrow type of a column of ``kind``: the export's columns and the replicated tables'
    (:mod:`ampkit.replicate.schema`) alike."""
    pa = pa or _pyarrow()
    return {
        "string": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
        "json": pa.large_string(),
        "ids": pa.large_string(),
    }[kind]


def export_arrow_schema() -> pa.Schema:
    """The declared schema of every batch :func:`iter_arrow_batches` yields."""
    pa = _pyarrow()
    fields = [pa.field(col, arrow_type(kind, pa)) for col, _, kind in EXPORT_COLUMNS]
    fields.append(pa.field(EXTRA_COLUMN, pa.large_string()))
    return pa.schema(fields)


# Converters: a raw JSON value → column value, or _MISSING when it does not fit (drift).  The rules
# are ampkit.export.convert's, shared with the replication's tables; timestamps are taken here as
# microseconds since the epoch (the Arrow builder's unit).


def _to_timestamp(value: Any) -> Any:
    moment = to_timestamp(value)
    if moment is _MISSING:
        return _MISSING
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_CONVERTERS: dict[Kind, Callable[[Any], Any]] = {
    "string": CONVERTERS["string"],
    "int": CONVERTERS["int"],
    "float": CONVERTERS["float"],
    "bool": CONVERTERS["bool"],
    "timestamp": _to_timestamp,
    "json": CONVERTERS["json"],
    "ids": CONVERTERS["ids"],
}
_KEYS = tuple(key for _, key, _ in EXPORT_COLUMNS)
_KINDS = tuple(kind for _, _, kind in EXPORT_COLUMNS)
_KNOWN_KEYS = frozenset(_KEYS)


def _indices(*kinds: Kind) -> tuple[int, ...]:
    return tuple(i for i, kind in enumerate(_KINDS) if kind in kinds)


_STRING_COLS = _indices("string")
_TIMESTAMP_COLS = _indices("timestamp")
_INT_COLS = _indices("int")
_FLOAT_COLS = _indices("float")
_BOOL_COLS = _indices("bool")
_JSON_COLS = _indices("json", "ids")
_NUMBER_TYPES = frozenset({int, float, type(None)})
_SEPARATOR = orjson.Fragment(b"\x00")
"""Written raw between values: orjson escapes every control character it writes itself."""
_PLAIN_TIMESTAMP = (  # year 0000 left out: Arrow reads it, Python's datetime has no year 0
    r"^(?:[1-9]\d{3}|0[1-9]\d{2}|00[1-9]\d|000[1-9])-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?$"
)
_ARROW_ERRORS: tuple[type[BaseException], ...] = (
    OverflowError,
    TypeError,
    ValueError,
)  # pyarrow's ArrowInvalid / ArrowTypeError derive from ValueError / TypeError


class _Layout:
    """Where each column's key sits in one key order, and which keys we do not know."""

    __slots__ = ("positions", "unknown")

    def __init__(self, keys: tuple[str, ...]) -> None:
        where = {key: i for i, key in enumerate(keys)}
        self.positions = [where.get(key, -1) for key in _KEYS]
        self.unknown = [(i, key) for i, key in enumerate(keys) if key not in _KNOWN_KEYS]


class _Converter:
    """Export records → Arrow arrays of the declared schema, one chunk at a time.

    Arrow memory comes from the system allocator: batches are allocated and freed over and over,
    and pyarrow's default (mimalloc) hands pages back to the OS in between, so every batch paid
    for page faults again (measured: 1.5 µs per row more).
    """

    def __init__(self, pa: Any, schema: Any) -> None:
        import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

        self.pa = pa
        self.pc = pc
        self.pool = pa.system_memory_pool()
        self.types = [field.type for field in schema]
        self.string = pa.string()
        self.int64 = pa.int64()
        self.float64 = pa.float64()
        self.bool = pa.bool_()
        self.null = pa.null()
        self.large_string = pa.large_string()
        self.naive = pa.timestamp("us")
        self.utc = pa.timestamp("us", tz="UTC")
        self.layouts: dict[tuple[str, ...], _Layout] = {}

    def array(self, values: Sequence[Any], arrow_type: Any = None) -> Any:
        return self.pa.array(values, type=arrow_type, memory_pool=self.pool)

    def cast(self, array: Any, arrow_type: Any) -> Any:
        return array.cast(arrow_type, memory_pool=self.pool)

    # -- records → columns of Python values --------------------------------------------------

    def columns(
        self, records: list[dict[str, Any]]
    ) -> tuple[list[Sequence[Any]], list[dict[str, Any] | None]]:
        """One sequence of values per column (``None`` where a key is missing), and per row the
        unknown keys (``None`` for a row without any)."""
        n = len(records)
        keys = tuple(records[0])
        if all(map(keys.__eq__, map(tuple, records))):  # one key order: transpose in C
            layout = self.layouts.get(keys)
            if layout is None:
                if len(self.layouts) > 64:
                    self.layouts.clear()
                layout = self.layouts[keys] = _Layout(keys)
            by_position = list(zip(*map(dict.values, records), strict=True))
            missing: tuple[Any, ...] = (None,) * n
            columns: list[Sequence[Any]] = [
                by_position[p] if p >= 0 else missing for p in layout.positions
            ]
            extras: list[dict[str, Any] | None] = [None] * n
            if layout.unknown:
                names = [key for _, key in layout.unknown]
                extras = [
                    dict(zip(names, values, strict=True))
                    for values in zip(*(by_position[p] for p, _ in layout.unknown), strict=True)
                ]
            return columns, extras
        columns = [list(map(dict.get, records, repeat(key, n))) for key in _KEYS]
        extras = [
            None
            if _KNOWN_KEYS.issuperset(record)
            else {k: v for k, v in record.items() if k not in _KNOWN_KEYS}
            for record in records
        ]
        return columns, extras

    # -- whole-column conversions: an array, or None when some value needs converting --------

    def strings(self, values: Sequence[Any]) -> Any:
        try:
            return self.array(values, self.string)
        except _ARROW_ERRORS:
            return None

    def bools(self, values: Sequence[Any]) -> Any:
        try:  # pyarrow refuses 0/1 and text for a bool column, as wanted
            return self.array(values, self.bool)
        except _ARROW_ERRORS:
            return None

    def _inferred(self, values: Sequence[Any]) -> Any:
        try:  # inferred, never typed: int64 would truncate 1.5 and float64 take True as 1.0
            return self.array(values)
        except _ARROW_ERRORS:
            return None

    def ints(self, values: Sequence[Any]) -> Any:
        array = self._inferred(values)
        if array is None:
            return None
        if array.type == self.int64:
            return array
        if array.type == self.null:
            return self.cast(array, self.int64)
        return None

    def floats(self, values: Sequence[Any]) -> Any:
        if not _NUMBER_TYPES.issuperset(map(type, values)):  # inference takes True as 1.0
            return None
        array = self._inferred(values)
        if array is None:
            return None
        if array.type == self.float64:  # infinity and NaN do not fit: one by one
            finite = self.pc.all(self.pc.is_finite(array, memory_pool=self.pool)).as_py()
            return None if finite is False else array
        if array.type == self.int64 or array.type == self.null:
            try:  # safe cast: an int beyond 2**53 is refused, then converted one by one
                return self.cast(array, self.float64)
            except _ARROW_ERRORS:
                return None
        return None

    def timestamps(self, values: Sequence[Any]) -> Any:
        strings = self.strings(values)
        if strings is None:
            return None
        if self.pc.any(self.pc.starts_with(strings, "0000", memory_pool=self.pool)).as_py():
            return None  # Arrow reads year 0, Python's datetime has none: one by one
        try:  # a naive export timestamp is UTC
            return self.cast(self.cast(strings, self.naive), self.utc)
        except _ARROW_ERRORS:
            return None

    def grouped(
        self,
        parts: list[list[Sequence[Any]]],
        indices: tuple[int, ...],
        n: int,
        convert: Callable[[Sequence[Any]], Any],
    ) -> dict[int, Any]:
        """Columns of one kind converted by a single call; {} when some value does not fit."""
        array = convert(_gather(parts, indices))
        if array is None:
            return {}
        return {i: array.slice(j * n, n) for j, i in enumerate(indices)}

    # -- per-column fallbacks -------------------------------------------------------------------

    def slow(self, index: int, values: Sequence[Any], drift: list[tuple[int, int, Any]]) -> Any:
        """Every value through its converter; a value that does not fit is null plus drift."""
        kind = _KINDS[index]
        convert = _CONVERTERS[kind]
        out: list[Any] = []
        for row, value in enumerate(values):
            converted = None if value is None else convert(value)
            if converted is _MISSING:
                drift.append((index, row, value))
                converted = None
            out.append(converted)
        if kind == "timestamp":
            return self.cast(self.array(out, self.int64), self.utc)
        return self.array(out, self.types[index])

    def timestamp_column(
        self, index: int, values: Sequence[Any], drift: list[tuple[int, int, Any]]
    ) -> Any:
        """Plain ``YYYY-MM-DD HH:MM:SS[.ffffff]`` values vectorised, the others one by one."""
        pa, pc, pool = self.pa, self.pc, self.pool
        strings = self.strings(values)
        if strings is None:  # not all text
            return self.slow(index, values, drift)
        plain = pc.match_substring_regex(strings, pattern=_PLAIN_TIMESTAMP, memory_pool=pool)
        try:
            fast = self.cast(
                pc.if_else(plain, strings, pa.scalar(None, type=self.string), memory_pool=pool),
                self.naive,
            )
        except _ARROW_ERRORS:  # matches the pattern yet is no date (month 13): one by one
            return self.slow(index, values, drift)
        odd = pc.fill_null(pc.invert(plain, memory_pool=pool), False)
        rows = pc.indices_nonzero(odd, memory_pool=pool).to_pylist()
        if rows:
            micros: list[int | None] = []
            for row in rows:
                value = _to_timestamp(values[row])
                if value is _MISSING:
                    drift.append((index, row, values[row]))
                    value = None
                micros.append(value)
            replacements = self.cast(self.array(micros, self.int64), self.naive)
            fast = pc.replace_with_mask(fast, odd, replacements, memory_pool=pool)
        return self.cast(fast, self.utc)

    def column(self, index: int, values: Sequence[Any], drift: list[tuple[int, int, Any]]) -> Any:
        kind = _KINDS[index]
        if kind == "timestamp":
            return self.timestamp_column(index, values, drift)
        fast: Callable[[Sequence[Any]], Any] | None = {
            "string": self.strings,
            "int": self.ints,
            "float": self.floats,
            "bool": self.bools,
        }.get(kind)
        array = None if fast is None else fast(values)
        return self.slow(index, values, drift) if array is None else array

    # -- JSON columns -----------------------------------------------------------------------------

    def json_texts(self, values: list[Any]) -> Any:
        """The compact JSON text of every value (``None`` → the text ``null``), one dumps call.

        The values are written as one array with a raw NUL byte between them, which no JSON text
        orjson writes can contain, then split apart by Arrow — no Python object per value.  The
        result has no validity bitmap and offset 0.
        """
        pa = self.pa
        spaced = [_SEPARATOR] * (2 * len(values) - 1)
        spaced[::2] = values
        try:
            blob = orjson.dumps(spaced)
        except orjson.JSONEncodeError:
            return self.array([json_text(v) for v in values], self.large_string)
        inner = pa.Array.from_buffers(  # the blob without its [ ], as one binary value
            pa.large_binary(),
            1,
            [None, pa.py_buffer(struct.pack("<qq", 1, len(blob) - 1)), pa.py_buffer(blob)],
        )
        pieces = self.pc.split_pattern(inner, pattern=",\x00,", memory_pool=self.pool).flatten()
        if len(pieces) != len(values):  # pragma: no cover - a NUL byte is never written
            return self.array([json_text(v) for v in values], self.large_string)
        return pieces.view(self.large_string)

    def json_group(
        self, parts: list[list[Sequence[Any]]], n: int, drift: list[tuple[int, int, Any]]
    ) -> dict[int, Any]:
        """The JSON columns: every value through one dumps call; a column holding a value that
        plain JSON text does not cover (a string, or anything but an array for the ids) goes
        through its converter instead, for this chunk."""
        pa, pc, pool = self.pa, self.pc, self.pool
        texts = self.json_texts(_gather(parts, _JSON_COLS))
        valid = pc.not_equal(texts, "null", memory_pool=pool)
        if valid.false_count:  # None was written as null: make those rows null
            if texts.offset == 0 and texts.null_count == 0:  # the bitmap fits as it is
                texts = pa.Array.from_buffers(
                    self.large_string,
                    len(texts),
                    [valid.buffers()[1], *texts.buffers()[1:]],
                    null_count=valid.false_count,
                )
            else:  # pragma: no cover - json_texts returns neither
                null = pa.scalar(None, type=self.large_string)
                texts = pc.if_else(valid, texts, null, memory_pool=pool)
        odd = pc.starts_with(texts, '"', memory_pool=pool)  # text where JSON was
        out: dict[int, Any] = {}
        for j, i in enumerate(_JSON_COLS):
            array = texts.slice(j * n, n)
            if _KINDS[i] == "ids":  # an array, or nothing
                bad = pc.invert(pc.starts_with(array, "[", memory_pool=pool), memory_pool=pool)
            else:
                bad = odd.slice(j * n, n)
            if pc.any(bad, memory_pool=pool).as_py():
                array = self.slow(i, _gather(parts, (i,)), drift)
            out[i] = array
        return out

    # -- one chunk ------------------------------------------------------------------------------

    def arrays(
        self, parts: list[list[Sequence[Any]]], extras: list[dict[str, Any] | None]
    ) -> list[Any]:
        """Arrays, one per schema field (the last is ``_raw_extra``), for the rows of ``parts``:
        each part is the :meth:`columns` of some records, ``extras`` their unknown keys."""
        n = len(extras)
        drift: list[tuple[int, int, Any]] = []
        done: dict[int, Any] = {}
        done.update(self.grouped(parts, _STRING_COLS, n, self.strings))
        done.update(self.grouped(parts, _TIMESTAMP_COLS, n, self.timestamps))
        done.update(self.grouped(parts, _INT_COLS, n, self.ints))
        done.update(self.grouped(parts, _FLOAT_COLS, n, self.floats))
        done.update(self.grouped(parts, _BOOL_COLS, n, self.bools))
        done.update(self.json_group(parts, n, drift))
        arrays = [
            done[i] if i in done else self.column(i, _gather(parts, (i,)), drift)
            for i in range(len(EXPORT_COLUMNS))
        ]
        if drift:
            drift.sort(key=lambda item: item[0])  # drifted keys in column order, as before
            for index, row, value in drift:
                extra = extras[row]
                if extra is None:
                    extra = extras[row] = {}
                extra[_KEYS[index]] = value
        if any(extras):
            texts = [None if extra is None else json_text(extra) for extra in extras]
            arrays.append(self.array(texts, self.large_string))
        else:
            arrays.append(self.pa.nulls(n, type=self.large_string, memory_pool=self.pool))
        return arrays


def _gather(parts: list[list[Sequence[Any]]], indices: Sequence[int]) -> list[Any]:
    """The values of columns ``indices`` (one after the other) over all parts, as one list."""
    return list(chain.from_iterable(part[i] for i in indices for part in parts))


class _BatchBuilder:
    """Records in, batches out: values are taken out of the records a few dozen at a time
    (while they are still in the CPU cache), converted to Arrow some thousand rows at a time,
    and the arrays gathered per column until a batch is complete."""

    def __init__(self, pa: Any, schema: Any) -> None:
        self.pa = pa
        self.schema = schema
        self.converter = _Converter(pa, schema)
        self.parts: list[list[Sequence[Any]]] = []
        self.extras: list[dict[str, Any] | None] = []
        self.chunks: list[list[Any]] = [[] for _ in schema]
        self.rows = 0  # in the batch, converted or not

    def add(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        columns, extras = self.converter.columns(records)
        self.parts.append(columns)
        self.extras.extend(extras)
        self.rows += len(records)
        if len(self.extras) >= CONVERT_ROWS:
            self.convert()

    def convert(self) -> None:
        if not self.parts:
            return
        arrays = self.converter.arrays(self.parts, self.extras)
        self.parts, self.extras = [], []
        for chunks, array in zip(self.chunks, arrays, strict=True):
            chunks.append(array)

    def add_native(self, decoder: Any) -> None:
        """The rows ``decoder`` (a :class:`_decoder.Decoder`) holds, after those added before."""
        if not decoder.rows:
            return
        self.convert()
        pa, pool = self.pa, self.converter.pool
        rows: int = decoder.rows
        for chunks, arrow_type, (_, nulls, valid, offsets, data) in zip(
            self.chunks, self.converter.types, decoder.take(), strict=False
        ):
            buffers = [None if valid is None else pa.py_buffer(valid)]
            if offsets is not None:
                buffers.append(pa.py_buffer(offsets))
            buffers.append(pa.py_buffer(data))
            chunks.append(pa.Array.from_buffers(arrow_type, rows, buffers, null_count=nulls))
        self.chunks[-1].append(pa.nulls(rows, type=self.converter.large_string, memory_pool=pool))
        self.rows += rows

    def take(self) -> pa.RecordBatch:
        """The gathered rows as one batch; each column's chunks are freed once concatenated."""
        self.convert()
        arrays = []
        for i, chunks in enumerate(self.chunks):
            self.chunks[i] = []
            if len(chunks) == 1:
                arrays.append(chunks[0])
            else:
                arrays.append(self.pa.concat_arrays(chunks, memory_pool=self.converter.pool))
            del chunks
        self.rows = 0
        return self.pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def records_to_batch(
    records: list[dict[str, Any]], schema: pa.Schema | None = None
) -> pa.RecordBatch:
    """Export records (dicts as parsed from the lines) as one record batch of ``schema`` (default
    :func:`export_arrow_schema`)."""
    pa = _pyarrow()
    if schema is None:
        schema = export_arrow_schema()
    if not records:
        empty = [pa.array([], type=field.type) for field in schema]
        return pa.RecordBatch.from_arrays(empty, schema=schema)
    builder = _BatchBuilder(pa, schema)
    for start in range(0, len(records), PARSE_ROWS):
        builder.add(records[start : start + PARSE_ROWS])
    return builder.take()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic GC held off while a block's records are converted.

    Converting allocates a dozen containers per row (the parsed dicts, nested objects, column
    tuples) that live only until the chunk is converted; the collector ran a dozen times per
    chunk over them and took 15% of the time.  Paused per block (a few milliseconds), it still
    gets its turn between blocks, so garbage made meanwhile elsewhere is collected as before.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_DECODER_KINDS: dict[Kind, str] = {
    "string": "STRING",
    "int": "INT",
    "float": "FLOAT",
    "bool": "BOOL",
    "timestamp": "TIMESTAMP",
    "json": "JSON",
    "ids": "IDS",
}


def _decoder_module() -> Any | None:
    """The C extension, or ``None`` when ampkit was installed without it (no compiler at
    install time) or ``AMPKIT_EXPORT_DECODER=python`` is set."""
    if os.environ.get("AMPKIT_EXPORT_DECODER", "").lower() == "python":
        return None
    try:
        from ampkit.export import _decoder  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        return None
    return _decoder


def native_decoder() -> Any | None:
    """A new C decoder for the export columns, or ``None`` without the extension (see
    :func:`_decoder_module`)."""
    module = _decoder_module()
    if module is None:
        return None
    kinds = tuple(getattr(module, _DECODER_KINDS[kind]) for kind in _KINDS)
    return module.Decoder(tuple(key.encode() for key in _KEYS), kinds)


@dataclass
class ReadStats:
    """What a read did, filled in as it goes (for :func:`~ampkit.export.load_duckdb`)."""

    python_rows: int = 0
    """Rows converted by the Python converter (all of them without the C decoder)."""
    decoder: bool = False
    """Whether the C decoder read the lines."""


def has_native_decoder() -> bool:
    """Whether the export readers use ampkit's C decoder here (see :func:`native_decoder`)."""
    return _decoder_module() is not None


def _native_batches(
    decoder: Any,
    builder: _BatchBuilder,
    blocks: Iterator[tuple[str, int, list[bytes]]],
    batch_size: int,
    stop: threading.Event,
    stats: ReadStats,
) -> Iterator[pa.RecordBatch]:
    """The C decoder's loop: lines it does not cover go one by one to the Python converter.

    Lines the decoder flags wait in ``pending`` (up to PARSE_ROWS of them, so a drifting
    archive is still converted in chunks); ``pending`` always holds rows that come before the
    decoder's, and both are handed to the builder in that order.
    """
    module = _decoder_module()
    assert module is not None  # it made ``decoder``
    flagged, full = module.FLAGGED, module.FULL
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        builder.add(pending)
        pending.clear()
        builder.add_native(decoder)

    for entry, first, lines in blocks:
        if stop.is_set():
            return
        done: list[pa.RecordBatch] = []
        at = 0
        with _gc_paused():
            while at < len(lines):
                room = batch_size - builder.rows - len(pending) - decoder.rows
                at, status = decoder.feed(lines, at, room)
                if status == flagged:
                    if decoder.rows:
                        flush()
                    records = parse_lines([lines[at]], entry=entry, first=first + at)
                    stats.python_rows += len(records)
                    pending += records
                    at += 1
                    if len(pending) >= PARSE_ROWS:
                        builder.add(pending)
                        pending.clear()
                # full: batch_size rows, or a string column's 2 GiB of text (int32 offsets)
                if status == full or builder.rows + len(pending) + decoder.rows >= batch_size:
                    flush()
                    done.append(builder.take())
        yield from done
        del done
    flush()
    if builder.rows:
        yield builder.take()


def _batches(
    archive: Archive,
    batch_size: int,
    schema: Any,
    max_line_bytes: int,
    max_archive_bytes: int | None,
    stop: threading.Event,
    stats: ReadStats,
    native: bool,
) -> Iterator[pa.RecordBatch]:
    builder = _BatchBuilder(_pyarrow(), schema)
    step = min(PARSE_ROWS, batch_size)
    blocks = _run_ahead(  # decompression (zlib releases the GIL) overlaps the conversion
        lambda _: iter_line_blocks(
            archive, max_line_bytes=max_line_bytes, max_archive_bytes=max_archive_bytes
        ),
        name="ampkit-export-inflate",
    )
    decoder = native_decoder() if native else None
    stats.decoder = decoder is not None
    try:
        if decoder is not None:
            yield from _native_batches(decoder, builder, blocks, batch_size, stop, stats)
            return
        for entry, first, lines in blocks:
            if stop.is_set():
                return
            done: list[pa.RecordBatch] = []
            with _gc_paused():
                for start in range(0, len(lines), step):
                    records = parse_lines(
                        lines[start : start + step], entry=entry, first=first + start
                    )
                    stats.python_rows += len(records)
                    while records:
                        room = batch_size - builder.rows
                        if len(records) <= room:
                            builder.add(records)
                            records = []
                        else:
                            builder.add(records[:room])
                            records = records[room:]
                        if builder.rows >= batch_size:
                            done.append(builder.take())
            yield from done
            del done
    finally:
        blocks.close()
    if builder.rows:
        yield builder.take()


class _Handoff:
    """One item at a time from a worker thread to the consumer."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.item: Any = None
        self.full = False
        self.finished = False
        self.error: BaseException | None = None
        self.closed = False


def _run_ahead(
    make: Callable[[threading.Event], Iterator[Any]], *, name: str = "ampkit-export-arrow"
) -> Generator[Any, None, None]:
    """The items of ``make(stop)``, computed in a worker thread one item ahead of the consumer.

    While the consumer works on item k (say DuckDB or a Parquet writer, which release the GIL),
    the worker builds item k+1 and then waits: at most two items are alive at once.  The
    worker's exception is raised here after the items before it; closing this generator stops the
    worker (``stop`` is set; the source is expected to check it often) and waits for it.
    """
    hand = _Handoff()
    stop = threading.Event()

    def work() -> None:
        source = make(stop)
        try:
            while True:
                with hand.cond:
                    while hand.full and not hand.closed:
                        hand.cond.wait()
                    if hand.closed:
                        return
                item = next(source, _MISSING)
                if item is _MISSING:
                    return
                with hand.cond:
                    hand.item, hand.full = item, True
                    hand.cond.notify_all()
                del item
        except BaseException as exc:  # handed to the consumer, raised there
            hand.error = exc
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
            with hand.cond:
                hand.finished = True
                hand.cond.notify_all()

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    try:
        while True:
            with hand.cond:
                while not hand.full and not hand.finished:
                    hand.cond.wait()
                if hand.full:
                    item, hand.item, hand.full = hand.item, None, False
                    hand.cond.notify_all()
                elif hand.error is not None:
                    raise hand.error
                else:
                    return
            yield item
            del item
    finally:
        stop.set()
        with hand.cond:
            hand.closed = True
            hand.item = None
            hand.cond.notify_all()
        worker.join()


Reader = Literal["auto", "c", "duckdb", "python"]
"""Who decodes the lines of :func:`iter_arrow_batches`: ampkit's C decoder, DuckDB's JSON reader,
or the Python converter alone; ``"auto"`` is the C decoder where it was built, else Python."""


def iter_arrow_batches(
    archive: Archive,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_archive_bytes: int | None = None,
    reader: Reader = "auto",
    temp_dir: str | os.PathLike[str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """The archive's events as record batches of at most ``batch_size`` rows.

    Every batch has the schema of :func:`export_arrow_schema`; an empty archive yields nothing.
    Raises :class:`~ampkit.errors.ConfigError` when pyarrow is not installed.  The archive is read
    in a worker thread, one batch ahead of the consumer (a file object must not be used elsewhere
    until the iteration ends or is closed); memory stays proportional to ``batch_size``.  Lines
    are decoded by ampkit's C decoder where it was built (see :func:`native_decoder`), the
    others — and every line without it — by the Python converter; the rows are the same.

    ``reader``: ``"auto"`` (the default) as above; ``"c"`` the C decoder (a ConfigError where it
    was not built); ``"python"`` the Python converter alone; ``"duckdb"`` DuckDB's JSON reader
    (:func:`~ampkit.export.duckdb_loader.duckdb_batches`: faster than the Python converter, but
    DuckDB holds some 500 MB for a large archive), which copies the entries into ``temp_dir``.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if max_line_bytes < 1:
        raise ValueError("max_line_bytes must be at least 1")
    if reader not in ("auto", "c", "duckdb", "python"):
        raise ConfigError(f"reader {reader!r}: expected auto, c, duckdb or python")
    if reader == "c" and not has_native_decoder():
        raise ConfigError(
            "reader 'c': ampkit's C decoder is not built here (installed without a C compiler, "
            "or AMPKIT_EXPORT_DECODER=python is set); use reader='auto'"
        )
    if reader == "duckdb":
        _pyarrow()  # a missing pyarrow is named before DuckDB is imported
        from ampkit.export.duckdb_loader import duckdb_batches

        return duckdb_batches(archive, batch_size, max_line_bytes=max_line_bytes,
                              max_archive_bytes=max_archive_bytes, temp_dir=temp_dir)
    return read_arrow_batches(
        archive, batch_size, max_line_bytes=max_line_bytes, max_archive_bytes=max_archive_bytes,
        native=reader != "python",
    )


def read_arrow_batches(
    archive: Archive,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_archive_bytes: int | None = None,
    stats: ReadStats | None = None,
    native: bool = True,
) -> Iterator[pa.RecordBatch]:
    """:func:`iter_arrow_batches`, filling ``stats`` as it reads; ``native=False`` keeps the C
    decoder out (every line through the Python converter)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    schema = export_arrow_schema()
    counts = ReadStats() if stats is None else stats
    yield from _run_ahead(
        lambda stop: _batches(
            archive, batch_size, schema, max_line_bytes, max_archive_bytes, stop, counts, native
        )
    )


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "EXPORT_COLUMNS",
    "EXTRA_COLUMN",
    "ReadStats",
    "Reader",
    "export_arrow_schema",
    "has_native_decoder",
    "iter_arrow_batches",
    "native_decoder",
    "parse_timestamp",
    "read_arrow_batches",
    "records_to_batch",
]
