"""Export archives into a DuckDB table: through ampkit's C decoder, or DuckDB's own JSON reader.

:func:`load_duckdb` gives the same rows as inserting :func:`~ampkit.export.iter_arrow_batches`
into the table.  Where ampkit's C decoder was built (``reader="c"``, the default then), that is
what it does, in one INSERT that pulls small Arrow batches as it goes.  Without it
(``reader="duckdb"``), the gzip entries are copied out of the ZIP (still compressed) and DuckDB
decompresses, parses and converts them in C++, on every core, in one statement.  Lines are
checked as they are converted; a line the SQL does not cover exactly — an unknown or repeated
key, a value that does not fit its column (drift), a timestamp in any other shape than
Amplitude's ``YYYY-MM-DD HH:MM:SS.ffffff`` — is handed to the Python converter of the Arrow
reader (a DuckDB function called for that line only), so ``_raw_extra`` and every column come
out as the Arrow reader makes them.  When DuckDB refuses the archive (a line that is no JSON, a
corrupt entry, a line past ``max_line_bytes``) nothing is kept and the archive is read again by
the Arrow reader, which raises the :class:`~ampkit.errors.ExportDecodeError` naming the entry
and line — or loads it, where DuckDB was stricter than the reader.

One difference remains on DuckDB's path, in value only: the JSON text of object columns is
DuckDB's compact writing, so a number may be spelled differently (``1e20`` as
``100000000000000000000.0``); parsed, both texts are the same value.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict

from ampkit.errors import ConfigError
from ampkit.export.arrow import (
    EXPORT_COLUMNS,
    EXTRA_COLUMN,
    Kind,
    ReadStats,
    export_arrow_schema,
    has_native_decoder,
    read_arrow_batches,
    records_to_batch,
)
from ampkit.export.decode import (
    DEFAULT_MAX_LINE_BYTES,
    Archive,
    _open_zip,
    _sorted_entries,
    corrupt_entry,
    parse_line,
)

_SQL_TYPES: dict[Kind, str] = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "json": "VARCHAR",
    "ids": "VARCHAR",
}
_KEYS = [key for _, key, _ in EXPORT_COLUMNS]
_AMPLITUDE_TIMESTAMP = '"%Y-%m-%d %H:%M:%S.%f"'
"""Amplitude's export timestamps, quotes included (the JSON text of the value)."""
_TIMESTAMP_SHAPE = '"____-__-__ __:__:__.______"'
"""Their shape, which keeps DuckDB's strptime from reading e.g. ``" 3"`` as an hour."""
_COPY_BYTES = 1 << 20
_MAX_OBJECT = 16 * 1024 * 1024
"""DuckDB's buffer for a line: longer lines (up to max_line_bytes) go to the Arrow reader."""
_UDF_IDS = itertools.count(1)
"""Numbers the per-load function names (next() on a count is atomic under the GIL)."""


Reader = Literal["c", "duckdb", "python"]
"""Who decoded the lines: ampkit's C decoder, DuckDB's JSON reader, or the Python converter."""
LOAD_BATCH_ROWS = 8192
"""Rows per Arrow batch on the C decoder's path: small batches keep the reader's memory small."""


class DuckDBLoad(BaseModel):
    """What :func:`load_duckdb` did."""

    model_config = ConfigDict(frozen=True)

    table: str
    rows: int
    """Rows inserted."""
    entries: int
    """Hour files in the archive."""
    exact_rows: int
    """Rows neither the C decoder nor the SQL covered, converted by the Python converter."""
    native: bool
    """False when the Python converter loaded every line (asked for, or after DuckDB's JSON
    reader refused the archive)."""
    reader: Reader
    """Who decoded the lines (``"python"`` also after DuckDB's JSON reader refused them)."""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    """``name`` as a quoted DuckDB identifier; ``schema.table`` is quoted part by part."""
    parts = name.split(".")
    if not name or len(parts) > 3 or any(not part for part in parts):
        raise ConfigError(f"table {name!r}: expected NAME, SCHEMA.NAME or DB.SCHEMA.NAME")
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


def _column_defs(timestamp: str) -> str:
    """``"col" TYPE, …`` for the export columns and ``_raw_extra``."""
    columns = [f'"{col}" {timestamp if kind == "timestamp" else _SQL_TYPES[kind]}'
               for col, _, kind in EXPORT_COLUMNS]
    columns.append(f'"{EXTRA_COLUMN}" VARCHAR')
    return ", ".join(columns)


def duckdb_table_ddl(table: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for the export columns (the Arrow schema's types)."""
    defs = _column_defs(_SQL_TYPES["timestamp"])
    return f"CREATE TABLE IF NOT EXISTS {quote_identifier(table)} ({defs})"


def _fast_value(kind: Kind, v: str) -> tuple[str, str]:
    """(SQL of the column value, SQL true when the raw JSON text ``v`` is not covered).

    ``v`` is the value's JSON text (NULL for null or missing); anything the SQL would convert
    differently from the Python converters is 'not covered' and goes to them instead.
    """
    if kind == "string":  # a JSON string: without a backslash, its text between the quotes
        value = f"CASE WHEN NOT contains({v}, '\\') THEN {v}[2:-2] ELSE {v}->>'$' END"
        return value, f"NOT starts_with({v}, '\"')"
    if kind == "int":  # a plain integer that fits int64: its text round-trips
        return f"TRY_CAST({v} AS BIGINT)", f"TRY_CAST({v} AS BIGINT)::VARCHAR IS DISTINCT FROM {v}"
    if kind == "float":  # a JSON number (not a string, not a bool), finite
        return (f"TRY_CAST({v} AS DOUBLE)",
                f"NOT coalesce(isfinite(TRY_CAST({v} AS DOUBLE)), false)")
    if kind == "bool":
        return (f"CASE {v} WHEN 'true' THEN true WHEN 'false' THEN false END",
                f"{v} NOT IN ('true', 'false')")
    if kind == "timestamp":  # Amplitude's YYYY-MM-DD HH:MM:SS.ffffff, no zone: UTC
        moment = f"try_strptime({v}, {_literal(_AMPLITUDE_TIMESTAMP)})"
        shaped = (f"{v} LIKE {_literal(_TIMESTAMP_SHAPE)} AND NOT contains({v}, '  ') "
                  f"AND NOT contains({v}, '+') AND NOT contains({v}, '--')")
        return f"timezone('UTC', {moment})", f"NOT ({shaped}) OR {moment} IS NULL"
    if kind == "json":  # an object or array as its compact text
        return v, f"{v}[1] NOT IN ('{{', '[')"
    return v, f"{v}[1] <> '['"  # ids: an array


def _udf_struct() -> str:
    """The Python path's row: timestamps naive UTC (made aware in SQL)."""
    return f"STRUCT({_column_defs('TIMESTAMP')})"


def _canonical(order: Sequence[str]) -> str:
    """SQL of the line Amplitude would write from the values ``v0``… in key ``order``."""
    where = {key: i for i, key in enumerate(_KEYS)}
    parts: list[str] = []
    for n, key in enumerate(order):
        parts += [_literal(("{" if n == 0 else ",") + json.dumps(key) + ":"),
                  f"coalesce(v{where[key]}, 'null')"]
    return "concat(" + ", ".join(parts) + ", '}')"


def _select_sql(files: Sequence[str], udf: str, max_line_bytes: int) -> str:
    """One SELECT of every line of ``files`` as a row of the export table."""
    source = (
        "read_ndjson_objects([" + ", ".join(_literal(f) for f in files) + "], "
        f"compression='gzip', maximum_object_size={min(max_line_bytes + 2, _MAX_OBJECT)})"
    )
    keys = "[" + ", ".join(_literal(k) for k in _KEYS) + "]"
    # Amplitude writes every line compact with its keys sorted, followed_an_identify most often
    # left out.  A line equal to the text written back from its own values in that order has
    # exactly those keys, once each: the key test (a second parse) is skipped for it.
    usual = sorted(k for k in _KEYS if k != "followed_an_identify")
    identify = f"v{_KEYS.index('followed_an_identify')}"
    canonical = (f"CASE WHEN {identify} IS NULL THEN {_canonical(usual)} "
                 f"ELSE {_canonical(sorted(_KEYS))} END")
    orders = ", ".join("[" + ", ".join(_literal(k) for k in order) + "]"
                       for order in (usual, sorted(_KEYS)))
    known = (  # a line too long stops the statement: the Arrow reader then names it
        f"CASE WHEN strlen(line) > {max_line_bytes} THEN error('line past max_line_bytes') "
        f"WHEN line = {canonical} THEN true "
        f"WHEN NOT is_object THEN false "
        f"WHEN json_keys(line) IN ({orders}) THEN true "
        f"ELSE list_has_all({keys}, json_keys(line)) "
        f"AND len(json_keys(line)) = len(list_distinct(json_keys(line))) END"
    )
    struct = json.dumps({key: "JSON" for key in _KEYS})
    raw = ", ".join(f"j[{_literal(key)}]::VARCHAR AS v{i}" for i, key in enumerate(_KEYS))
    columns: list[str] = []
    bads: list[str] = []
    for i, (col, _, kind) in enumerate(EXPORT_COLUMNS):
        value, bad = _fast_value(kind, f"v{i}")
        bads.append(f"(v{i} IS NOT NULL AND coalesce({bad}, true))")
        exact = f'x."{col}"'
        if kind == "timestamp":  # the Python path's naive UTC value, made aware
            exact = f"timezone('UTC', {exact})"
        columns.append(f'CASE WHEN exact THEN {exact} ELSE {value} END AS "{col}"')
    columns.append(f'CASE WHEN exact THEN x."{EXTRA_COLUMN}" END AS "{EXTRA_COLUMN}"')
    return (
        f"WITH lines AS (SELECT json::VARCHAR AS line FROM {source}), "  # noqa: S608
        # a valid JSON text starting with { is an object; others (whitespace first…) go to
        # the key test, which sends them to Python
        f"objects AS (SELECT line, starts_with(line, '{{') AS is_object FROM lines), "
        f"parsed AS (SELECT line, is_object, CASE WHEN is_object "
        f"THEN from_json(line, {_literal(struct)}) END AS j FROM objects), "
        f"raw AS (SELECT line, is_object, {raw} FROM parsed), "
        f"checked AS (SELECT *, {known} AS known FROM raw), "
        f"flagged AS (SELECT *, NOT known OR {' OR '.join(bads)} AS exact FROM checked), "
        f"fixed AS (SELECT *, CASE WHEN exact THEN {udf}(line) END AS x FROM flagged) "
        f"SELECT {', '.join(columns)} FROM fixed"
    )


def _sqltype(text: str) -> Any:
    make = getattr(duckdb, "sqltype", None) or duckdb.type  # sqltype: DuckDB 1.4+
    return make(text)


def _exact_row(line: str, schema: Any) -> dict[str, Any]:
    """One line the SQL does not cover, through the Arrow reader's converter."""
    record = parse_line(line.encode())
    batch = records_to_batch([record], schema)
    row: dict[str, Any] = batch.to_pylist()[0]
    for col, _, kind in EXPORT_COLUMNS:
        if kind == "timestamp" and row[col] is not None:
            row[col] = row[col].replace(tzinfo=None)
    return row


def _extract(archive: Archive, directory: str) -> list[str]:
    """The archive's gzip entries copied (still compressed) into ``directory``, in order."""
    files: list[str] = []
    with ExitStack() as stack:
        zf = _open_zip(archive, stack)
        if zf is None:
            return files
        for number, info in enumerate(_sorted_entries(zf)):
            path = os.path.join(directory, f"{number:06d}.json.gz")
            try:
                with zf.open(info) as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst, _COPY_BYTES)
            except (OSError, ValueError, RuntimeError, NotImplementedError) as exc:
                raise corrupt_entry(info.filename, exc) from exc
            files.append(path)
    return files


@contextmanager
def duckdb_transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN … COMMIT on ``con``, ROLLBACK on any error."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _load_arrow(
    archive: Archive, con: duckdb.DuckDBPyConnection, table: str, max_line_bytes: int,
    max_archive_bytes: int | None, native: bool,
) -> tuple[int, ReadStats]:
    """(rows inserted, what the read did): the archive through the Arrow reader, in one
    transaction and one INSERT that pulls the batches as DuckDB needs them (so at most a few
    batches are alive at once)."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    stats = ReadStats()
    failures: list[BaseException] = []

    def batches() -> Iterator[Any]:
        try:
            yield from read_arrow_batches(
                archive, LOAD_BATCH_ROWS, max_line_bytes=max_line_bytes,
                max_archive_bytes=max_archive_bytes, stats=stats, native=native,
            )
        except BaseException as exc:  # DuckDB rewraps it as text: raised again as itself below
            failures.append(exc)
            raise

    reader = pa.RecordBatchReader.from_batches(export_arrow_schema(), batches())
    name = f"ampkit_export_stream_{next(_UDF_IDS)}"
    try:
        with duckdb_transaction(con):
            con.execute(duckdb_table_ddl(table))
            con.register(name, reader)
            try:
                counted = con.execute(
                    f"INSERT INTO {quote_identifier(table)} BY NAME SELECT * FROM {name}"  # noqa: S608
                ).fetchone()
            finally:
                con.unregister(name)
    except (duckdb.Error, pa.ArrowException) as exc:
        if failures:
            raise failures[0] from exc
        raise
    finally:
        reader.close()
    return (int(counted[0]) if counted else 0), stats


def _count_entries(archive: Archive) -> int:
    """The archive's hour files (a file object is left where it was)."""
    where = None if isinstance(archive, str | os.PathLike) else archive.tell()
    with ExitStack() as stack:
        if where is not None:
            stack.callback(archive.seek, where)  # type: ignore[union-attr]
        zf = _open_zip(archive, stack)
        return 0 if zf is None else len(_sorted_entries(zf))


def _load_native(
    con: duckdb.DuckDBPyConnection, table: str, files: list[str], max_line_bytes: int
) -> tuple[int, int] | None:
    """(rows, rows through Python) loaded by DuckDB's reader; None when it refused a file
    (and then nothing was inserted)."""
    exact = [0]
    schemas: list[Any] = []  # pyarrow is imported only when a line needs the Python converter

    def convert(line: str) -> dict[str, Any]:
        exact[0] += 1
        if not schemas:
            schemas.append(export_arrow_schema())
        return _exact_row(line, schemas[0])

    udf = f"ampkit_export_exact_{next(_UDF_IDS)}"
    con.create_function(udf, convert, [_sqltype("VARCHAR")], _sqltype(_udf_struct()))
    try:
        sql = _select_sql(files, udf, max_line_bytes)
        try:
            with duckdb_transaction(con):
                con.execute(duckdb_table_ddl(table))
                inserted = con.execute(f"INSERT INTO {quote_identifier(table)} BY NAME {sql}")
                counted = inserted.fetchone()
        except duckdb.Error:
            return None
    finally:
        con.remove_function(udf)
    return (int(counted[0]) if counted else 0), exact[0]


def _shown_limit(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute("SELECT current_setting('memory_limit')").fetchone()
    return str(row[0]) if row else None


def _restore_limit(con: duckdb.DuckDBPyConnection, shown: str) -> None:
    """Set the memory limit DuckDB showed as ``shown``.

    DuckDB shows the limit cut to 0.1 of its unit ('953.6 MiB' for 1GB), so the exact value is
    lost; half a step more lands within 0.05 of the unit of it and shows the same text again,
    so loads one after the other do not creep the limit down.
    """
    number, _, unit = shown.partition(" ")
    try:
        nudged = f"{float(number) + 0.05:.2f} {unit}"
    except ValueError:
        nudged = shown
    for text in (nudged, shown):
        con.execute(f"SET memory_limit = {_literal(text)}")
        if _shown_limit(con) == shown:
            return


@contextmanager
def _memory_limit(con: duckdb.DuckDBPyConnection, limit: str | None) -> Iterator[None]:
    """DuckDB's ``memory_limit`` set to ``limit`` for the time of the block, then put back."""
    if limit is None:
        yield
        return
    before = _shown_limit(con)
    try:
        con.execute(f"SET memory_limit = {_literal(limit)}")
    except duckdb.Error as exc:
        raise ConfigError(f"memory_limit {limit!r}: {exc}") from exc
    try:
        yield
    finally:
        con.execute("RESET memory_limit")  # the default comes back exactly
        if before is not None and _shown_limit(con) != before:
            _restore_limit(con, before)


def load_duckdb(
    archive: Archive,
    con: duckdb.DuckDBPyConnection,
    table: str = "events",
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_archive_bytes: int | None = None,
    temp_dir: str | os.PathLike[str] | None = None,
    reader: Literal["auto", "c", "duckdb", "python"] = "auto",
    memory_limit: str | None = None,
) -> DuckDBLoad:
    """Append every event of ``archive`` to ``table`` (created if missing), all or nothing.

    The table has the columns of :func:`~ampkit.export.export_arrow_schema` (timestamps as
    ``TIMESTAMP WITH TIME ZONE``, objects as JSON text, ``_raw_extra``); an existing table needs
    at least those columns (matched by name).  The load runs on its own cursor of ``con``, in its
    own transaction, committed when it returns: on any error nothing is inserted, and a
    transaction the caller holds open on ``con`` neither sees nor undoes it.

    ``reader``: ``"auto"`` (the default) is ``"c"`` where ampkit's C decoder was built, else
    ``"duckdb"``.  ``"c"``: the lines are decoded by the C decoder into Arrow batches that one
    INSERT pulls as it goes (the Arrow reader's rows exactly).  ``"duckdb"``: the entries are
    copied, still compressed, into a temporary directory (``temp_dir``, default the system's) and
    DuckDB's JSON reader decodes them; needs no compiler, and ``max_archive_bytes`` makes it
    fall back to ``"python"``.  ``"python"``: the Arrow reader's Python converter only.
    ``memory_limit`` (e.g. ``"128MB"``) sets DuckDB's ``memory_limit`` for the time of the load
    and puts the old value back after — a database-wide setting, which bounds the pages DuckDB
    keeps of the table being filled (by default it keeps them up to 80% of RAM).
    """
    if max_line_bytes < 1:
        raise ValueError("max_line_bytes must be at least 1")
    if reader not in ("auto", "c", "duckdb", "python"):
        raise ConfigError(f"reader {reader!r}: expected auto, c, duckdb or python")
    quote_identifier(table)  # a bad name fails before anything is read
    if reader in ("auto", "c"):
        has_decoder = has_native_decoder()
        if reader == "c" and not has_decoder:
            raise ConfigError(
                "reader 'c': ampkit's C decoder is not built here (installed without a C "
                "compiler, or AMPKIT_EXPORT_DECODER=python is set); use reader='auto'"
            )
        reader = "c" if has_decoder else "duckdb"
    cursor = con.cursor()  # a connection of its own: no transaction of the caller's in the way
    try:
        with _memory_limit(cursor, memory_limit):
            return _load(archive, cursor, table, max_line_bytes, max_archive_bytes, temp_dir,
                         reader)
    finally:
        cursor.close()


def _load(
    archive: Archive, cursor: duckdb.DuckDBPyConnection, table: str, max_line_bytes: int,
    max_archive_bytes: int | None, temp_dir: str | os.PathLike[str] | None, reader: str,
) -> DuckDBLoad:
    if reader == "c" or reader == "python" or max_archive_bytes is not None:
        native = reader == "c"
        entries = _count_entries(archive)
        rows, stats = _load_arrow(
            archive, cursor, table, max_line_bytes, max_archive_bytes, native
        )
        used: Reader = "c" if stats.decoder else "python"
        return DuckDBLoad(table=table, rows=rows, entries=entries,
                          exact_rows=stats.python_rows, native=used == "c", reader=used)
    with tempfile.TemporaryDirectory(prefix="ampkit-export-", dir=temp_dir) as directory:
        files = _extract(archive, directory)
        if not files:
            with duckdb_transaction(cursor):
                cursor.execute(duckdb_table_ddl(table))
            return DuckDBLoad(table=table, rows=0, entries=0, exact_rows=0, native=True,
                              reader="duckdb")
        loaded = _load_native(cursor, table, files, max_line_bytes)
    if loaded is None:  # DuckDB refused the archive: the Arrow reader names the line
        rows, _ = _load_arrow(archive, cursor, table, max_line_bytes, None, False)
        return DuckDBLoad(table=table, rows=rows, entries=len(files), exact_rows=rows,
                          native=False, reader="python")
    rows, exact = loaded
    return DuckDBLoad(table=table, rows=rows, entries=len(files), exact_rows=exact,
                      native=True, reader="duckdb")


def load_duckdb_file(
    archive: Archive, database: str | Path, table: str = "events", **options: Any
) -> DuckDBLoad:
    """:func:`load_duckdb` into a DuckDB database file (created if missing)."""
    con = duckdb.connect(str(database))
    try:
        return load_duckdb(archive, con, table, **options)
    finally:
        con.close()


__all__ = [
    "DuckDBLoad",
    "duckdb_table_ddl",
    "duckdb_transaction",
    "load_duckdb",
    "load_duckdb_file",
]
