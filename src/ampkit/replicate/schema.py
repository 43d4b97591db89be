"""Declared stream schemas: typed columns, and records → Arrow tables where drift never fails.

A stream's schema is a tuple of :class:`Column` (name, type, the source key it is read from).
:func:`records_to_table` turns plain dicts (as Amplitude sent them) into an Arrow table with
exactly those columns plus ``_raw_extra``: a value that does not fit its column, and every key
the schema does not know, is kept there as JSON text instead of failing the sync.  What fits a
column is decided by :mod:`ampkit.export.convert`, the rules the export reader uses too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from pydantic import BaseModel, ConfigDict

from ampkit.export import EXPORT_COLUMNS, EXTRA_COLUMN
from ampkit.export.arrow import arrow_type as export_arrow_type
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
    return export_arrow_type(kind, pa)


def arrow_schema(columns: Sequence[Column]) -> Any:
    return pa.schema([pa.field(c.name, arrow_type(c.type)) for c in columns])


_TYPE_TESTS: tuple[tuple[Callable[[Any], bool], ColumnType], ...] = (
    (pa.types.is_timestamp, "timestamp"),
    (pa.types.is_date, "date"),
    (pa.types.is_boolean, "bool"),
    (pa.types.is_integer, "int"),
    (pa.types.is_floating, "float"),
    (pa.types.is_large_string, "json"),
)


def column_type_of(arrow: Any) -> ColumnType:
    """The column type a destination should use for an Arrow type (for columns it has not
    declared itself, e.g. a newer ampkit's export schema): the first test that holds, else
    ``"string"``."""
    return next((kind for test, kind in _TYPE_TESTS if test(arrow)), "string")


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
