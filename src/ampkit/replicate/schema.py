"""Declared stream schemas: typed columns, and records → Arrow tables where drift never fails.

A stream's schema is a tuple of :class:`Column` (name, type, the source key it is read from).
:func:`records_to_table` turns plain dicts (as Amplitude sent them) into an Arrow table with
exactly those columns plus ``_raw_extra``: a value that does not fit its column, and every key
the schema does not know, is kept there as JSON text instead of failing the sync.  What fits a
column is decided by :mod:`ampkit.export.convert`, the rules the export reader uses too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from pydantic import BaseModel, ConfigDict

from ampkit.export import EXPORT_COLUMNS, EXTRA_COLUMN
from ampkit.export.convert import convert, json_text

ColumnType = Literal["string", "int", "float", "bool", "timestamp", "date", "json"]


class Column(BaseModel):
    """One destination column: its name, its type, and the key it comes from in the source."""

    model_config = ConfigDict(frozen=True)

    name: str
    type: ColumnType
    source: str | None = None
    """The key in the source record (``None``: same as ``name``)."""

    @property
    def key(self) -> str:
        return self.source if self.source is not None else self.name


EXTRA = Column(name=EXTRA_COLUMN, type="json")


def arrow_type(kind: ColumnType) -> Any:
    return {
        "string": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
        "json": pa.large_string(),
    }[kind]


def arrow_schema(columns: Sequence[Column]) -> Any:
    return pa.schema([pa.field(c.name, arrow_type(c.type)) for c in columns])


def column_type_of(arrow: Any) -> ColumnType:
    """The column type a destination should use for an Arrow type (for columns it has not
    declared itself, e.g. a newer ampkit's export schema)."""
    if pa.types.is_timestamp(arrow):
        return "timestamp"
    if pa.types.is_date(arrow):
        return "date"
    if pa.types.is_boolean(arrow):
        return "bool"
    if pa.types.is_integer(arrow):
        return "int"
    if pa.types.is_floating(arrow):
        return "float"
    if pa.types.is_large_string(arrow):
        return "json"
    return "string"


def records_to_table(
    records: Iterable[Mapping[str, Any]], columns: Sequence[Column]
) -> Any:
    """Records as an Arrow table of ``columns`` (which must end with ``_raw_extra``)."""
    declared = [c for c in columns if c.name != EXTRA_COLUMN]
    known = {c.key for c in declared}
    values: dict[str, list[Any]] = {c.name: [] for c in declared}
    extras: list[str | None] = []
    for record in records:
        extra: dict[str, Any] = {k: v for k, v in record.items() if k not in known}
        for column in declared:
            raw = record.get(column.key)
            value, fits = convert(column.type, raw)
            if not fits:
                extra[column.key] = raw
            values[column.name].append(value)
        extras.append(json_text(extra) if extra else None)
    arrays = [pa.array(values[c.name], type=arrow_type(c.type)) for c in declared]
    names = [c.name for c in declared]
    if any(c.name == EXTRA_COLUMN for c in columns):
        arrays.append(pa.array(extras, type=pa.large_string()))
        names.append(EXTRA_COLUMN)
    return pa.Table.from_arrays(arrays, names=names)


_EXPORT_KINDS: dict[str, ColumnType] = {
    "string": "string", "int": "int", "float": "float", "bool": "bool",
    "timestamp": "timestamp", "json": "json", "ids": "json",
}

EVENT_COLUMNS: tuple[Column, ...] = (
    *(Column(name=name, type=_EXPORT_KINDS[kind], source=key)
      for name, key, kind in EXPORT_COLUMNS),
    EXTRA,
)
"""The events stream: every documented export key typed (``$insert_id`` → ``insert_id``,
``$insert_key`` → ``insert_key``, ``$schema`` → ``schema_version``), property maps as JSON."""


__all__ = [
    "EVENT_COLUMNS",
    "EXTRA",
    "Column",
    "ColumnType",
    "arrow_schema",
    "arrow_type",
    "column_type_of",
    "convert",
    "records_to_table",
]
