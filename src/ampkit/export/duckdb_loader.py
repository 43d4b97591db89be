"""Export archives into a DuckDB table: through ampkit's C decoder, or DuckDB's own JSON reader.

:func:`load_duckdb` gives the same rows as inserting :func:`~ampkit.export.iter_arrow_batches`
into the table.  Where ampkit's C decoder was built (``reader="c"``, the default then), that is
what it does, in one INSERT that pulls small Arrow batches as it goes.

Without it (``reader="duckdb"``), the archive's gzip entries are copied out of the ZIP (still
compressed) into a temporary directory, and one SQL statement reads them all
(:func:`export_select`): DuckDB decompresses and parses the lines on every core
(``read_ndjson_objects``, then ``from_json`` with the export keys as an explicit column list) and
converts each value in SQL.  Only lines written as Amplitude writes them (compact, keys sorted,
every key) are converted in SQL, and only their plain values; any other line — an unknown,
missing or repeated key, other spacing or escapes, a value that does not fit its column (drift),
a timestamp in any other shape than ``YYYY-MM-DD HH:MM:SS.ffffff`` — is handed to the Python
converter of the Arrow reader (a DuckDB function called for that line only), so ``_raw_extra``
and every column come out as the Arrow reader makes them.  The same SQL gives Arrow batches
(:func:`duckdb_batches`, ``iter_arrow_batches(reader="duckdb")``).

When DuckDB refuses the archive (a line that is no JSON object, a line past ``max_line_bytes``,
a corrupt entry, a ``memory_limit`` under the ~200 MB its reader needs) nothing is kept and the
Python converter reads the archive instead: it raises the :class:`~ampkit.errors.ExportDecodeError`
naming the entry and line — or reads it, where DuckDB was stricter (a line over 16 MiB).  Under
``max_archive_bytes`` the entries are first decompressed and counted; an archive over the cap goes
to the Python converter, which names the line that passes it.

Two differences remain on DuckDB's path, in spelling only: the JSON text of object columns is
DuckDB's compact writing, so a number may be spelled differently (``1e20`` as
``100000000000000000000.0``) — parsed, both texts are the same value; and ``max_line_bytes`` is
measured on the line's JSON text (DuckDB drops the blanks around it), where the Python converter
counts them.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
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
    _pyarrow,
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
_TIMESTAMP_FORMAT = '"%Y-%m-%d %H:%M:%S.%f"'
"""Amplitude's export timestamps, quotes included (the JSON text of the value)."""
_COPY_BYTES = 1 << 20
MAX_OBJECT_BYTES = 16 * 1024 * 1024
"""DuckDB's buffer for a line: longer lines (up to max_line_bytes) go to the Python path."""
_NAMES = itertools.count(1)
"""Numbers the per-read function and view names (next() on a count is atomic under the GIL)."""

Reader = Literal["c", "duckdb", "python"]
"""Who read the lines: ampkit's C decoder or DuckDB's JSON reader (each with the Python converter
for the lines it hands over), or the Python converter alone."""
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
    """Who read the lines (``"python"`` also after DuckDB refused them, or under a
    ``max_archive_bytes`` the archive passes)."""


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


# -- the SQL ------------------------------------------------------------------------------------


def _fast_value(kind: Kind, i: int) -> tuple[str, str]:
    """(SQL of the column value, SQL true when the JSON text ``v{i}`` is not covered).

    ``v{i}`` is the value's JSON text as DuckDB writes it back (NULL for null or missing);
    anything the SQL would convert differently from the Python path is 'not covered' and goes to
    it instead.  ``t{i}`` is the value read as a timestamp, ``n{i}`` as an integer.
    """
    v = f"v{i}"
    if kind == "string":  # a JSON string: without a backslash, its text between the quotes
        value = f"CASE WHEN NOT contains({v}, '\\') THEN {v}[2:-2] ELSE {v}->>'$' END"
        return value, f"NOT starts_with({v}, '\"')"
    if kind == "int":  # an integer that fits int64: its text round-trips
        return f"n{i}", f"n{i}::VARCHAR IS DISTINCT FROM {v}"
    if kind == "float":  # a JSON number (not a string, not a bool), finite
        return (f"TRY_CAST({v} AS DOUBLE)",
                f"NOT coalesce(isfinite(TRY_CAST({v} AS DOUBLE)), false)")
    if kind == "bool":
        return (f"CASE {v} WHEN 'true' THEN true WHEN 'false' THEN false END",
                f"{v} NOT IN ('true', 'false')")
    if kind == "timestamp":  # exactly YYYY-MM-DD HH:MM:SS.ffffff (it round-trips), no zone: UTC
        fmt = _literal(_TIMESTAMP_FORMAT)
        return (f"timezone('UTC', t{i})",
                f"t{i} IS NULL OR strftime(t{i}, {fmt}) <> {v} OR starts_with({v}, '\"0000')")
    # json: an object or array as its compact text; ids: an array.  DuckDB's reader also takes
    # NaN and Infinity, which Python refuses: those lines go to Python, to fail there
    odd = f"contains({v}, 'NaN') OR contains({v}, 'Infinity')"
    if kind == "json":
        return v, f"{v}[1] NOT IN ('{{', '[') OR {odd}"
    return v, f"{v}[1] <> '[' OR {odd}"


def _canonical(order: Sequence[str]) -> str:
    """SQL of the line Amplitude would write from the values ``v0``… in key ``order``."""
    where = {key: i for i, key in enumerate(_KEYS)}
    parts: list[str] = []
    for n, key in enumerate(order):
        parts += [_literal(("{" if n == 0 else ",") + json.dumps(key) + ":"),
                  f"coalesce(v{where[key]}, 'null')"]
    return "concat(" + ", ".join(parts) + ", '}')"


def export_select(files: Sequence[str], udf: str, max_line_bytes: int) -> str:
    """One SELECT of every line of the gzip JSON-lines ``files`` as a row of the export table;
    ``udf`` names the function that converts a line through the Python path."""
    source = (
        "read_ndjson_objects([" + ", ".join(_literal(f) for f in files) + "], "
        f"compression='gzip', maximum_object_size={min(max_line_bytes + 2, MAX_OBJECT_BYTES)})"
    )
    # Amplitude writes every line compact with its keys sorted, followed_an_identify most often
    # left out.  A line equal to the text written back from its own values in that order has
    # exactly those keys, once each, and is strict JSON (DuckDB's reader also takes trailing
    # commas, which Python refuses): only such lines are converted in SQL.
    usual = _canonical(sorted(k for k in _KEYS if k != "followed_an_identify"))
    full = _canonical(sorted(_KEYS))
    identify = f"v{_KEYS.index('followed_an_identify')}"
    known = (  # a line too long stops the statement: the Python path then names it
        f"CASE WHEN strlen(line) > {max_line_bytes} THEN error('line past max_line_bytes') "
        f"WHEN j IS NULL THEN false "
        f"WHEN {identify} IS NOT NULL THEN line = {full} "
        f"WHEN line = {usual} THEN true "
        f"ELSE line = {full} END"  # followed_an_identify written as null
    )
    struct = json.dumps({key: "JSON" for key in _KEYS})
    raw = [f"j[{_literal(key)}]::VARCHAR AS v{i}" for i, key in enumerate(_KEYS)]
    typed: list[str] = []
    columns: list[str] = []
    bads: list[str] = []
    fmt = _literal(_TIMESTAMP_FORMAT)
    for i, (col, _, kind) in enumerate(EXPORT_COLUMNS):
        if kind == "timestamp":
            typed.append(f"try_strptime(v{i}, {fmt}) AS t{i}")
        elif kind == "int":
            typed.append(f"TRY_CAST(v{i} AS BIGINT) AS n{i}")
        value, bad = _fast_value(kind, i)
        bads.append(f"(v{i} IS NOT NULL AND coalesce({bad}, true))")
        exact = f'x."{col}"'
        if kind == "timestamp":  # the Python path's naive UTC value, made aware
            exact = f"timezone('UTC', {exact})"
        columns.append(f'CASE WHEN exact THEN {exact} ELSE {value} END AS "{col}"')
    columns.append(f'CASE WHEN exact THEN x."{EXTRA_COLUMN}" END AS "{EXTRA_COLUMN}"')
    return (
        f"WITH lines AS (SELECT json::VARCHAR AS line FROM {source}), "  # noqa: S608
        # a valid JSON text starting with { is an object; others (a list, a string) go to Python
        f"parsed AS (SELECT line, CASE WHEN starts_with(line, '{{') "
        f"THEN from_json(line, {_literal(struct)}) END AS j FROM lines), "
        f"raw AS (SELECT line, j, {', '.join(raw)} FROM parsed), "
        f"typed AS (SELECT *, {', '.join(typed)} FROM raw), "
        f"flagged AS (SELECT *, NOT ({known}) OR {' OR '.join(bads)} AS exact FROM typed), "
        f"fixed AS (SELECT *, CASE WHEN exact THEN {udf}(line) END AS x FROM flagged) "
        f"SELECT {', '.join(columns)} FROM fixed"
    )


def _sqltype(text: str) -> Any:
    make = getattr(duckdb, "sqltype", None) or duckdb.type  # sqltype: DuckDB 1.4+
    return make(text)


def python_rows(lines: Any, schema: Any) -> Any:
    """Lines (an Arrow string array) through the Python converter, as the struct array DuckDB's
    function returns: one struct per line, timestamps naive UTC (SQL makes them aware)."""
    pa = _pyarrow()
    text = lines.to_pylist()
    batch = records_to_batch([parse_line(line.encode()) for line in text], schema)
    columns = [column.cast(pa.timestamp(column.type.unit))
               if pa.types.is_timestamp(column.type) else column for column in batch.columns]
    return pa.StructArray.from_arrays(columns, names=batch.schema.names)


@dataclass
class _Read:
    """One archive prepared for DuckDB: its gzip entries on disk and the Python path's function
    registered on the connection."""

    files: list[str]
    udf: str
    max_line_bytes: int
    exact: list[int] = field(default_factory=lambda: [0])

    @property
    def sql(self) -> str:
        return export_select(self.files, self.udf, self.max_line_bytes)


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


def _within(files: Sequence[str], cap: int) -> bool:
    """Whether the entries hold at most ``cap`` bytes once decompressed (False also for an entry
    that cannot be decompressed: the Python path names it)."""
    total = 0
    for path in files:
        try:
            with gzip.open(path, "rb") as fh:
                while block := fh.read(_COPY_BYTES):
                    total += len(block)
                    if total > cap:
                        return False
        except (OSError, EOFError, ValueError):
            return False
    return True


@contextmanager
def _prepared(
    archive: Archive, con: duckdb.DuckDBPyConnection, max_line_bytes: int,
    max_archive_bytes: int | None, temp_dir: str | os.PathLike[str] | None,
) -> Iterator[_Read | None]:
    """The archive ready for :func:`export_select` on ``con``; ``None`` when it goes to the
    Python path (past ``max_archive_bytes``).  The files and the function last for the block."""
    with tempfile.TemporaryDirectory(prefix="ampkit-export-", dir=temp_dir) as directory:
        files = _extract(archive, directory)
        if max_archive_bytes is not None and not _within(files, max_archive_bytes):
            yield None
            return
        read = _Read(files, f"ampkit_export_exact_{next(_NAMES)}", max_line_bytes)
        schemas: list[Any] = []  # pyarrow is imported only when a line needs the converter

        def convert(lines: Any) -> Any:
            """The lines DuckDB hands over, a vector at a time, through the Python converter."""
            if not schemas:
                schemas.append(export_arrow_schema())
            read.exact[0] += len(lines)
            return python_rows(lines, schemas[0])

        struct = _sqltype(f"STRUCT({_column_defs('TIMESTAMP')})")
        vectorized: Any = "arrow"  # the enum moved between DuckDB releases; the name did not
        con.create_function(read.udf, convert, [_sqltype("VARCHAR")], struct, type=vectorized)
        try:
            yield read
        finally:
            con.remove_function(read.udf)


# -- into a DuckDB table --------------------------------------------------------------------------


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


def _count_entries(archive: Archive) -> int:
    """The archive's hour files (a file object is left where it was)."""
    where = None if isinstance(archive, str | os.PathLike) else archive.tell()
    with ExitStack() as stack:
        if where is not None:
            stack.callback(archive.seek, where)  # type: ignore[union-attr]
        zf = _open_zip(archive, stack)
        return 0 if zf is None else len(_sorted_entries(zf))


def _load_arrow(
    archive: Archive, con: duckdb.DuckDBPyConnection, table: str, max_line_bytes: int,
    max_archive_bytes: int | None, native: bool,
) -> tuple[int, ReadStats]:
    """(rows inserted, what the read did): the archive through the Arrow reader (the C decoder
    when ``native``, else the Python converter), in one transaction and one INSERT that pulls the
    batches as DuckDB needs them (so at most a few batches are alive at once)."""
    pa = _pyarrow()
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
    name = f"ampkit_export_stream_{next(_NAMES)}"
    try:
        with duckdb_transaction(con):
            con.execute(duckdb_table_ddl(table))
            con.register(name, reader)
            try:
                counted = con.execute(
                    f"INSERT INTO {quote_identifier(table)} BY NAME SELECT * FROM {name}"  # noqa: S608
                ).fetchall()
            finally:
                con.unregister(name)
    except (duckdb.Error, pa.ArrowException) as exc:
        if failures:
            raise failures[0] from exc
        raise
    finally:
        reader.close()
    return (int(counted[0][0]) if counted else 0), stats


def _insert_duckdb(
    con: duckdb.DuckDBPyConnection, table: str, read: _Read
) -> int | None:
    """Rows inserted by DuckDB's reader; None when it refused the archive (nothing kept)."""
    try:
        with duckdb_transaction(con):
            con.execute(duckdb_table_ddl(table))
            if not read.files:
                return 0
            counted = con.execute(
                f"INSERT INTO {quote_identifier(table)} BY NAME {read.sql}").fetchall()
    except duckdb.Error:
        return None
    return int(counted[0][0]) if counted else 0


def _shown_limit(con: duckdb.DuckDBPyConnection) -> str | None:
    rows = con.execute("SELECT current_setting('memory_limit')").fetchall()
    return str(rows[0][0]) if rows else None


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
def memory_limit_set(con: duckdb.DuckDBPyConnection, limit: str | None) -> Iterator[None]:
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
    one statement of DuckDB's JSON reader loads them (see the module's notes); needs no compiler.
    ``"python"``: the Python converter only.  ``memory_limit`` (e.g. ``"128MB"``) sets DuckDB's
    ``memory_limit`` for the time of the load and puts the old value back after — a database-wide
    setting, which bounds the pages DuckDB keeps of the table being filled (by default it keeps
    them up to 80% of RAM).  DuckDB's JSON reader needs some 200 MB of it for a large archive: a
    smaller limit makes it refuse, and the Python converter loads the archive instead.
    """
    if max_line_bytes < 1:
        raise ValueError("max_line_bytes must be at least 1")
    if reader not in ("auto", "c", "duckdb", "python"):
        raise ConfigError(f"reader {reader!r}: expected auto, c, duckdb or python")
    quote_identifier(table)  # a bad name fails before anything is read
    if reader in ("auto", "c"):
        built = has_native_decoder()
        if reader == "c" and not built:
            raise ConfigError(
                "reader 'c': ampkit's C decoder is not built here (installed without a C "
                "compiler, or AMPKIT_EXPORT_DECODER=python is set); use reader='auto'"
            )
        reader = "c" if built else "duckdb"
    cursor = con.cursor()  # a connection of its own: no transaction of the caller's in the way
    try:
        check_table(cursor, table)
        with memory_limit_set(cursor, memory_limit):
            return _load(archive, cursor, table, max_line_bytes, max_archive_bytes, temp_dir,
                         reader)
    finally:
        cursor.close()


def check_table(cursor: duckdb.DuckDBPyConnection, table: str) -> None:
    """The table can take the export (made, or already there with the export's columns and
    types), before anything is read: a missing schema, a missing column or another type is a
    ConfigError naming it — not DuckDB's catalog error, or an aborted transaction, after the
    whole download.  Nothing is kept of the check."""
    wanted = {col: _SQL_TYPES[kind] for col, _, kind in EXPORT_COLUMNS}
    wanted[EXTRA_COLUMN] = "VARCHAR"
    cursor.execute("BEGIN TRANSACTION")
    try:
        try:
            cursor.execute(duckdb_table_ddl(table))
            cursor.execute(f"SELECT * FROM {quote_identifier(table)} LIMIT 0")  # noqa: S608
        except duckdb.Error as exc:
            raise ConfigError(f"table {table!r}: {str(exc).splitlines()[0]}") from None
        have = {str(d[0]): str(d[1]) for d in cursor.description or ()}
    finally:
        cursor.execute("ROLLBACK")
    missing = [col for col in wanted if col not in have]
    if missing:
        raise ConfigError(f"table {table!r} lacks the export's column(s) "
                          f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
    for col, sql_type in wanted.items():
        if have[col].upper() != sql_type:
            raise ConfigError(f"table {table!r}: column {col!r} is {have[col]}; the export "
                              f"writes {sql_type}")


def _load(
    archive: Archive, cursor: duckdb.DuckDBPyConnection, table: str, max_line_bytes: int,
    max_archive_bytes: int | None, temp_dir: str | os.PathLike[str] | None, reader: str,
) -> DuckDBLoad:
    def arrow(native: bool, cap: int | None) -> DuckDBLoad:
        entries = _count_entries(archive)
        rows, stats = _load_arrow(archive, cursor, table, max_line_bytes, cap, native)
        used: Reader = "c" if stats.decoder else "python"
        return DuckDBLoad(table=table, rows=rows, entries=entries, exact_rows=stats.python_rows,
                          native=used == "c", reader=used)

    if reader in ("c", "python"):
        return arrow(reader == "c", max_archive_bytes)
    with _prepared(archive, cursor, max_line_bytes, max_archive_bytes, temp_dir) as read:
        if read is None:  # past max_archive_bytes: the Python converter names the line
            return arrow(False, max_archive_bytes)
        rows = _insert_duckdb(cursor, table, read)
        if rows is not None:
            return DuckDBLoad(table=table, rows=rows, entries=len(read.files),
                              exact_rows=read.exact[0], native=True, reader="duckdb")
    # DuckDB refused the archive: the Python converter names the line (or loads it)
    return arrow(False, max_archive_bytes)


def load_duckdb_file(
    archive: Archive, database: str | Path, table: str = "events", **options: Any
) -> DuckDBLoad:
    """:func:`load_duckdb` into a DuckDB database file (created if missing)."""
    con = duckdb.connect(str(database))
    try:
        return load_duckdb(archive, con, table, **options)
    finally:
        con.close()


# -- as Arrow batches ---------------------------------------------------------------------------


def _sized(pa: Any, batches: Iterator[Any], size: int) -> Iterator[Any]:
    """``batches`` cut and joined into batches of ``size`` rows (the last may be smaller)."""
    held: list[Any] = []
    rows = 0
    for batch in batches:
        while batch.num_rows:
            take = min(size - rows, batch.num_rows)
            held.append(batch.slice(0, take))
            batch = batch.slice(take)
            rows += take
            if rows == size:
                yield held[0] if len(held) == 1 else (
                    pa.Table.from_batches(held).combine_chunks().to_batches()[0])
                held, rows = [], 0
    if rows:
        yield held[0] if len(held) == 1 else (
            pa.Table.from_batches(held).combine_chunks().to_batches()[0])


def _python_batches(
    archive: Archive, batch_size: int, max_line_bytes: int, max_archive_bytes: int | None,
    skip: int,
) -> Iterator[Any]:
    """The Python converter's batches, leaving out the first ``skip`` rows (those DuckDB's reader
    handed out already)."""
    pa = _pyarrow()

    def rest() -> Iterator[Any]:
        left = skip
        for batch in read_arrow_batches(archive, batch_size, max_line_bytes=max_line_bytes,
                                        max_archive_bytes=max_archive_bytes, native=False):
            if left >= batch.num_rows:
                left -= batch.num_rows
                continue
            yield batch.slice(left)
            left = 0

    yield from _sized(pa, rest(), batch_size)


def duckdb_batches(
    archive: Archive,
    batch_size: int,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_archive_bytes: int | None = None,
    temp_dir: str | os.PathLike[str] | None = None,
) -> Iterator[Any]:
    """The archive's rows as record batches of the export schema, read by DuckDB's JSON reader
    (an in-memory database of its own) in the archive's order.

    When DuckDB refuses the archive after some batches, the Python converter goes on from the
    first row not handed out yet — and raises the error naming the line, or reads the rest.
    """
    pa = _pyarrow()
    schema = export_arrow_schema()
    done = 0
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        with _prepared(archive, con, max_line_bytes, max_archive_bytes, temp_dir) as read:
            if read is None:
                yield from _python_batches(archive, batch_size, max_line_bytes,
                                           max_archive_bytes, skip=0)
                return
            if not read.files:
                return
            spill = os.path.join(os.path.dirname(read.files[0]), "spill")
            con.execute(f"SET temp_directory = {_literal(spill)}")
            stream: Any = None
            try:
                relation = con.sql(read.sql)
                arrow_reader = getattr(relation, "to_arrow_reader", None)  # DuckDB 1.4+
                if arrow_reader is None:  # pragma: no cover - older DuckDB
                    arrow_reader = relation.fetch_record_batch
                stream = arrow_reader(batch_size)
                for batch in _sized(pa, stream, batch_size):
                    out = pa.RecordBatch.from_arrays(
                        [column.cast(f.type) for column, f in zip(batch.columns, schema,
                                                                  strict=True)],
                        schema=schema)
                    done += out.num_rows
                    yield out
                return
            except (duckdb.Error, pa.ArrowException, OSError):  # pyarrow's IOError status
                pass  # DuckDB refused the archive: the Python path takes over below
            finally:
                if stream is not None:
                    stream.close()  # the query stops here, closed early or not
    finally:
        con.close()
    yield from _python_batches(archive, batch_size, max_line_bytes, max_archive_bytes,
                               skip=done)


__all__ = [
    "MAX_OBJECT_BYTES",
    "DuckDBLoad",
    "Reader",
    "check_table",
    "duckdb_batches",
    "duckdb_table_ddl",
    "duckdb_transaction",
    "export_select",
    "load_duckdb",
    "load_duckdb_file",
    "memory_limit_set",
    "python_rows",
    "quote_identifier",
]
