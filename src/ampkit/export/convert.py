"""The coercion rules: one raw JSON value → the value of a typed column, or drift.

One set of rules for every reader of Amplitude data: the export's Python path (the lines DuckDB's
reader hands over, :mod:`ampkit.export.duckdb_loader`) and the replication's
:func:`~ampkit.replicate.schema.records_to_table` call the same functions.  A value that does not
fit its column gives :data:`MISSING`; the callers then leave the column null and keep the value,
unchanged, in ``_raw_extra``.  ``None`` (JSON null) always fits, as null.

==========  ============================================================================
kind        fits
==========  ============================================================================
string      a string; a number or boolean becomes its JSON text (``7`` → ``"7"``)
int         an integer in int64; a float with no fraction; a string holding an integer
float       a finite number (not a boolean); a string holding a finite number
bool        a boolean; the integers 0 and 1; the strings true/false, 1/0, yes/no (any case)
timestamp   ISO text (space or ``T``, optional zone, naive = UTC); unix seconds or
            milliseconds (``abs >= 1e11`` is milliseconds); a ``datetime``
date        ``YYYY-MM-DD`` or ``YYYYMMDD`` text (a longer text: its first 10 characters); a date
json        anything, as compact JSON text; a string holding a JSON object or array is parsed
ids         a list (as JSON text); a string holding a JSON array (parsed) or any other
            non-blank string (a one-item array); a blank string is null
==========  ============================================================================

Infinity and NaN never fit a float column: JSON cannot write them back, and Arrow, DuckDB,
Parquet and PostgreSQL would each show them differently.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any, Final, Literal

import orjson

Kind = Literal["string", "int", "float", "bool", "timestamp", "date", "json", "ids"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""What a converter returns for a value that does not fit its column (drift)."""

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MILLISECONDS_FROM = 100_000_000_000
"""A unix time at least this large (in absolute value) is in milliseconds, not seconds."""

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def json_text(value: Any) -> str:
    """Compact JSON text (orjson's writing; keys that are not strings written as text)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:  # nested deeper than orjson writes: the stdlib has no such cap
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def to_string(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):  # bool included: a scalar where a string was
        return json_text(value)
    return MISSING


def to_int(value: Any) -> Any:
    if isinstance(value, bool):
        return MISSING
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else MISSING
    if isinstance(value, float) and value.is_integer():
        return to_int(int(value))
    if isinstance(value, str):
        try:
            return to_int(int(value.strip()))
        except ValueError:
            return MISSING
    return MISSING


def to_float(value: Any) -> Any:
    if isinstance(value, bool):
        return MISSING
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an int past the doubles
            return MISSING
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return MISSING
    else:
        return MISSING
    return number if math.isfinite(number) else MISSING


def to_bool(value: Any) -> Any:
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
    return MISSING


def parse_timestamp(value: str) -> dt.datetime | None:
    """``YYYY-MM-DD HH:MM:SS[.ffffff]`` (space or ``T``, optional zone) as an aware UTC datetime.

    A value without a zone is UTC.  Returns ``None`` when the text is not a timestamp.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01 00:00+01:00 is before year 1 in UTC
        return None


def to_timestamp(value: Any) -> Any:
    """An aware UTC datetime."""
    if isinstance(value, str):
        moment = parse_timestamp(value)
        return MISSING if moment is None else moment
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return MISSING
        seconds = value / 1000 if abs(value) >= MILLISECONDS_FROM else value
        try:
            return dt.datetime.fromtimestamp(seconds, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return MISSING
    return MISSING


def to_date(value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 8 and text.isdigit():
            text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            return MISSING
    return MISSING


def to_json(value: Any) -> Any:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith(("{", "[")):  # an object that arrived as JSON text
            try:
                return json_text(orjson.loads(stripped))
            except orjson.JSONDecodeError:
                pass
    return json_text(value)


def to_ids(value: Any) -> Any:
    if isinstance(value, list):
        return json_text(value)
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
                return json_text(parsed)
        return json_text([value])
    return MISSING


CONVERTERS: dict[Kind, Callable[[Any], Any]] = {
    "string": to_string,
    "int": to_int,
    "float": to_float,
    "bool": to_bool,
    "timestamp": to_timestamp,
    "date": to_date,
    "json": to_json,
    "ids": to_ids,
}


def convert(kind: Kind, value: Any) -> tuple[Any, bool]:
    """``(column value, fits)`` for one raw value; ``None`` always fits (as ``None``)."""
    if value is None:
        return None, True
    out = CONVERTERS[kind](value)
    return (None, False) if out is MISSING else (out, True)


__all__ = [
    "CONVERTERS",
    "MISSING",
    "Kind",
    "convert",
    "json_text",
    "parse_timestamp",
    "to_bool",
    "to_date",
    "to_float",
    "to_ids",
    "to_int",
    "to_json",
    "to_string",
    "to_timestamp",
]
