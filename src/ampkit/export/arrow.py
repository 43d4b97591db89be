"""Export archives as Arrow record batches with one declared schema (pyarrow is optional).

Every documented top-level export key (reference §9.3) has a typed column; the three ``$`` keys
are named like the :class:`~ampkit.models.ExportEvent` fields (``insert_id``, ``insert_key``,
``schema_version``).  Timestamps become ``timestamp[us, tz=UTC]``; objects become JSON text;
``amplitude_attribution_ids`` becomes the JSON text of an array whether it came as an array or a
string.  Keys we do not know, and values that do not fit their column (drift), are kept as JSON
text in ``_raw_extra`` (null when there are none) — drift never fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson

from ampkit.errors import ConfigError
from ampkit.export.decode import DEFAULT_MAX_LINE_BYTES, Archive, iter_records

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

Kind = Literal["string", "int", "float", "bool", "timestamp", "json", "ids"]

_MISSING = object()
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EXTRA_COLUMN = "_raw_extra"
DEFAULT_BATCH_SIZE = 50_000

EXPORT_COLUMNS: tuple[tuple[str, str, Kind], ...] = (
    # (column, key in the export line, kind) — in column order
    ("insert_id", "$insert_id", "string"),
    ("insert_key", "$insert_key", "string"),
    ("schema_version", "$schema", "int"),
    ("adid", "adid", "string"),
    ("amplitude_attribution_ids", "amplitude_attribution_ids", "ids"),
    ("amplitude_event_type", "amplitude_event_type", "string"),
    ("amplitude_id", "amplitude_id", "int"),
    ("app", "app", "int"),
    ("city", "city", "string"),
    ("client_event_time", "client_event_time", "timestamp"),
    ("client_upload_time", "client_upload_time", "timestamp"),
    ("country", "country", "string"),
    ("data", "data", "json"),
    ("data_type", "data_type", "string"),
    ("device_brand", "device_brand", "string"),
    ("device_carrier", "device_carrier", "string"),
    ("device_family", "device_family", "string"),
    ("device_id", "device_id", "string"),
    ("device_manufacturer", "device_manufacturer", "string"),
    ("device_model", "device_model", "string"),
    ("device_type", "device_type", "string"),
    ("dma", "dma", "string"),
    ("event_id", "event_id", "int"),
    ("event_properties", "event_properties", "json"),
    ("event_time", "event_time", "timestamp"),
    ("event_type", "event_type", "string"),
    ("followed_an_identify", "followed_an_identify", "bool"),
    ("global_user_properties", "global_user_properties", "json"),
    ("group_properties", "group_properties", "json"),
    ("groups", "groups", "json"),
    ("idfa", "idfa", "string"),
    ("ip_address", "ip_address", "string"),
    ("is_attribution_event", "is_attribution_event", "bool"),
    ("language", "language", "string"),
    ("library", "library", "string"),
    ("location_lat", "location_lat", "float"),
    ("location_lng", "location_lng", "float"),
    ("os_name", "os_name", "string"),
    ("os_version", "os_version", "string"),
    ("partner_id", "partner_id", "string"),
    ("paying", "paying", "bool"),
    ("plan", "plan", "json"),
    ("platform", "platform", "string"),
    ("processed_time", "processed_time", "timestamp"),
    ("region", "region", "string"),
    ("sample_rate", "sample_rate", "float"),
    ("server_received_time", "server_received_time", "timestamp"),
    ("server_upload_time", "server_upload_time", "timestamp"),
    ("session_id", "session_id", "int"),
    ("source_id", "source_id", "string"),
    ("start_version", "start_version", "string"),
    ("user_creation_time", "user_creation_time", "timestamp"),
    ("user_id", "user_id", "string"),
    ("user_properties", "user_properties", "json"),
    ("uuid", "uuid", "string"),
    ("version_name", "version_name", "string"),
)


def _pyarrow() -> Any:
    try:
        import pyarrow  # type: ignore[import-untyped, unused-ignore]
    except ImportError as exc:
        raise ConfigError(
            "Arrow output needs pyarrow: pip install 'ampkit[arrow]'"
        ) from exc
    return pyarrow


def _arrow_type(pa: Any, kind: Kind) -> Any:
    return {
        "string": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "json": pa.large_string(),
        "ids": pa.large_string(),
    }[kind]


def export_arrow_schema() -> pa.Schema:
    """The declared schema of every batch :func:`iter_arrow_batches` yields."""
    pa = _pyarrow()
    fields = [pa.field(col, _arrow_type(pa, kind)) for col, _, kind in EXPORT_COLUMNS]
    fields.append(pa.field(EXTRA_COLUMN, pa.large_string()))
    return pa.schema(fields)


# Converters: a raw JSON value → column value, or _MISSING when it does not fit (drift).


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _to_string(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):  # bool included: a scalar where a string was
        return _json_text(value)
    return _MISSING


def _to_int(value: Any) -> Any:
    if isinstance(value, bool):
        return _MISSING
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else _MISSING
    if isinstance(value, float) and value.is_integer():
        return _to_int(int(value))
    if isinstance(value, str):
        try:
            return _to_int(int(value.strip()))
        except ValueError:
            return _MISSING
    return _MISSING


def _to_float(value: Any) -> Any:
    if isinstance(value, bool):
        return _MISSING
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return _MISSING
        return number if math.isfinite(number) else _MISSING
    return _MISSING


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _to_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    return _MISSING


def parse_timestamp(value: str) -> datetime | None:
    """``YYYY-MM-DD HH:MM:SS[.ffffff]`` (space or ``T``, optional zone) as an aware UTC datetime.

    A value without a zone is UTC.  Returns ``None`` when the text is not a timestamp.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _to_timestamp(value: Any) -> Any:
    if isinstance(value, str):
        moment = parse_timestamp(value)
        if moment is None:
            return _MISSING
        delta = moment - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return _MISSING


def _to_json(value: Any) -> Any:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith(("{", "[")):  # an object that arrived as JSON text
            try:
                return _json_text(orjson.loads(stripped))
            except orjson.JSONDecodeError:
                pass
    return _json_text(value)


def _to_ids(value: Any) -> Any:
    if isinstance(value, list):
        return _json_text(value)
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped:
            return None
        if stripped.startswith("["):
            try:
                parsed = orjson.loads(stripped)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, list):
                return _json_text(parsed)
        return _json_text([value])
    return _MISSING


_CONVERTERS: dict[Kind, Callable[[Any], Any]] = {
    "string": _to_string,
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "timestamp": _to_timestamp,
    "json": _to_json,
    "ids": _to_ids,
}
_KNOWN_KEYS = frozenset(key for _, key, _ in EXPORT_COLUMNS)
_FAST_KINDS = frozenset({"string", "int", "float", "bool", "timestamp"})


def _fast_column(pa: Any, values: list[Any], kind: Kind, arrow_type: Any) -> Any:
    """The column built by pyarrow itself, or ``None`` when some value needs converting.

    pyarrow refuses a value of the wrong type for string and bool columns; int64 and float64
    would truncate ``1.5`` or take ``True`` as 1, so their types are checked here first.
    """
    if kind not in _FAST_KINDS:
        return None
    if kind == "int" and not all(v is None or type(v) is int for v in values):
        return None
    if kind == "float" and not all(v is None or type(v) in (int, float) for v in values):
        return None
    try:
        if kind == "timestamp":
            naive = pa.array(values, type=pa.string()).cast(pa.timestamp("us"))
            return naive.cast(arrow_type)  # a naive export timestamp is UTC
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        return None  # a value of another type, out of range, or an unusual timestamp


def _json_column(values: list[Any]) -> list[Any]:
    dumps = orjson.dumps
    return [
        None if v is None else (dumps(v) if type(v) is not str else _to_json(v)) for v in values
    ]


def records_to_batch(records: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    """Export records (dicts as parsed from the lines) as one record batch of ``schema``."""
    pa = _pyarrow()
    extras: dict[int, dict[str, Any]] = {}
    for index, record in enumerate(records):
        if not _KNOWN_KEYS.issuperset(record):
            extras[index] = {k: v for k, v in record.items() if k not in _KNOWN_KEYS}
    arrays = []
    for (_, key, kind), field in zip(EXPORT_COLUMNS, schema, strict=False):
        values = [record.get(key) for record in records]
        if kind == "json":
            arrays.append(pa.array(_json_column(values), type=field.type))
            continue
        array = _fast_column(pa, values, kind, field.type)
        if array is None:
            convert = _CONVERTERS[kind]
            column: list[Any] = []
            for index, value in enumerate(values):
                converted = None if value is None else convert(value)
                if converted is _MISSING:  # drift: keep the value as it came
                    extras.setdefault(index, {})[key] = value
                    converted = None
                column.append(converted)
            if kind == "timestamp":
                array = pa.array(column, type=pa.int64()).cast(field.type)
            else:
                array = pa.array(column, type=field.type)
        arrays.append(array)
    extra_column = [
        orjson.dumps(extras[i]) if i in extras else None for i in range(len(records))
    ]
    arrays.append(pa.array(extra_column, type=pa.large_string()))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def iter_arrow_batches(
    archive: Archive,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_archive_bytes: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """The archive's events as record batches of at most ``batch_size`` rows.

    Every batch has the schema of :func:`export_arrow_schema`; an empty archive yields nothing.
    Raises :class:`~ampkit.errors.ConfigError` when pyarrow is not installed.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    schema = export_arrow_schema()
    records: list[dict[str, Any]] = []
    for record in iter_records(
        archive, max_line_bytes=max_line_bytes, max_archive_bytes=max_archive_bytes
    ):
        records.append(record)
        if len(records) >= batch_size:
            yield records_to_batch(records, schema)
            records = []
    if records:
        yield records_to_batch(records, schema)


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "EXPORT_COLUMNS",
    "EXTRA_COLUMN",
    "export_arrow_schema",
    "iter_arrow_batches",
    "parse_timestamp",
    "records_to_batch",
]
