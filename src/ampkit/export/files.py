"""Export archives into one file: JSON lines, Parquet, or a table of a DuckDB database.

:func:`write_export` picks the writer by the file's suffix (:data:`OUTPUT_SUFFIXES`) and refuses
any other suffix before reading anything.  Every writer is all or nothing: a new file is written
under ``NAME.<random>.partial`` (a file of its own: two runs to one name never share one) and
renamed when complete, and nothing is left behind when there were no events or something
failed; a directory or a missing folder as ``out`` is refused before any download.  An
existing DuckDB file is written through a staging table moved into ``table`` in one
transaction at the end, **upserted by** ``uuid``: an event already in the table is replaced,
so exporting the same hours twice leaves one row per event.

``archives`` is any iterable of archives (paths or seekable file objects), e.g. the paths of
:func:`~ampkit.export.export_archives` — each is read while the next one downloads.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import Any, Literal

import orjson

from ampkit.errors import ConfigError
from ampkit.export.arrow import iter_arrow_batches
from ampkit.export.decode import Archive, iter_events

OutputKind = Literal["jsonl", "parquet", "duckdb"]
OUTPUT_SUFFIXES: dict[str, OutputKind] = {
    ".jsonl": "jsonl",
    ".parquet": "parquet",
    ".duckdb": "duckdb",
}
"""The file suffixes :func:`write_export` writes (case does not matter), and what it writes."""
UPSERT_KEY = "uuid"
"""The column an existing DuckDB table is upserted by (Amplitude's id of an event)."""


def output_kind(out: str | os.PathLike[str]) -> OutputKind:
    """What :func:`write_export` writes to ``out``; an unknown suffix is a ConfigError naming
    the ones it knows."""
    suffix = Path(out).suffix.lower()
    kind = OUTPUT_SUFFIXES.get(suffix)
    if kind is None:
        known = ", ".join(OUTPUT_SUFFIXES)
        what = f"suffix {suffix!r}" if suffix else "no suffix"
        raise ConfigError(f"{os.fspath(out)}: {what}; the export writes {known}")
    return kind


def _partial(out: Path) -> Path:
    """A new, empty file beside ``out`` that no other run uses (``NAME.<random>.partial``,
    made exclusively, owner-only): two exports to one name never write into one file."""
    fd, name = tempfile.mkstemp(prefix=f"{out.name}.", suffix=".partial", dir=out.parent)
    os.close(fd)
    return Path(name)


def _check_out(out: Path) -> None:
    """Refuse an output the writer could never rename its result to, before any download."""
    if out.is_dir():
        raise ConfigError(f"{out}: is a directory; name the file to write")
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: folder {out.parent} does not exist")


def _finish(partial: Path, out: Path, count: int) -> int:
    """Rename the complete ``partial`` to ``out`` (nothing at all for no events)."""
    if count:
        partial.replace(out)
    else:
        partial.unlink(missing_ok=True)
    return count


def write_jsonl(archives: Iterable[Archive], out: str | os.PathLike[str]) -> int:
    """Every event as one JSON line (the :class:`~ampkit.models.ExportEvent` of the line, its
    keys as Amplitude names them); returns the number of events."""
    out = Path(out)
    _check_out(out)
    partial = _partial(out)
    count = 0
    try:
        with partial.open("wb") as fh:
            for archive in archives:
                for event in iter_events(archive):
                    fh.write(orjson.dumps(event.model_dump(by_alias=True, exclude_none=False)))
                    fh.write(b"\n")
                    count += 1
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return _finish(partial, out, count)


def write_parquet(archives: Iterable[Archive], out: str | os.PathLike[str]) -> int:
    """Every event as a row of the export schema (:func:`~ampkit.export.export_arrow_schema`)
    in one Parquet file; returns the number of events."""
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
    except ImportError as exc:
        raise ConfigError("Parquet output needs pyarrow: pip install 'ampkit[arrow]'") from exc
    out = Path(out)
    _check_out(out)
    partial = _partial(out)
    count = 0
    writer: Any = None
    try:
        for archive in archives:
            for batch in iter_arrow_batches(archive):
                if writer is None:
                    writer = pq.ParquetWriter(partial, batch.schema)
                writer.write_batch(batch)
                count += batch.num_rows
        if writer is not None:
            writer.close()
            writer = None
    except BaseException:
        if writer is not None:
            with suppress(Exception):
                writer.close()
        partial.unlink(missing_ok=True)
        raise
    return _finish(partial, out, count)


def write_duckdb(archives: Iterable[Archive], out: str | os.PathLike[str], table: str = "events",
                 *, memory_limit: str | None = None) -> int:
    """Every event into ``table`` of the DuckDB file ``out`` (see
    :func:`~ampkit.export.load_duckdb`); an existing file's table is upserted by ``uuid``.

    ``memory_limit`` bounds DuckDB's memory while loading (e.g. ``"256MB"``).  Returns the number
    of events written (rows replaced included).
    """
    import duckdb

    from ampkit.export.duckdb_loader import (
        check_table,
        duckdb_table_ddl,
        duckdb_transaction,
        load_duckdb,
        memory_limit_set,
        quote_identifier,
    )

    target = quote_identifier(table)
    out = Path(out)
    _check_out(out)
    new = not out.exists()
    partial = _partial(out) if new else out  # a new file is made aside, the existing one used
    if new:
        partial.unlink()  # DuckDB makes its database where no file is (an empty one it refuses)
    try:
        con = duckdb.connect(str(partial))
    except duckdb.Error as exc:  # not a DuckDB file, or one a running process holds
        raise ConfigError(f"{out}: DuckDB cannot open it: {' '.join(str(exc).split())}") \
            from None
    staging_name = f"_ampkit_export_staging_{os.getpid()}"
    staging = quote_identifier(staging_name)
    count = staged = 0
    done = False
    try:
        check_table(con.cursor(), table)  # before the first archive is downloaded
        with memory_limit_set(con.cursor(), memory_limit):
            pass  # a limit DuckDB cannot read ('lots') is refused now, not after a download
        for archive in archives:
            if new and not count:  # a new file's first archive goes straight into its table
                count += load_duckdb(archive, con, table, memory_limit=memory_limit).rows
                continue
            rows = load_duckdb(archive, con, staging_name, memory_limit=memory_limit).rows
            count += rows
            staged += rows
        if staged or not new:
            # one transaction: the table keeps one row per uuid, the last archive's (archives
            # that overlap, or the same hours exported again into an existing file)
            key = f'"{UPSERT_KEY}"'
            with duckdb_transaction(con):
                con.execute(duckdb_table_ddl(table))
                if staged:
                    con.execute(f"DELETE FROM {target} WHERE {key} IN "  # noqa: S608
                                f"(SELECT {key} FROM {staging})")
                    con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {staging} "  # noqa: S608
                                f"QUALIFY {key} IS NULL OR row_number() OVER "
                                f"(PARTITION BY {key} ORDER BY rowid DESC) = 1")
                con.execute(f"DROP TABLE IF EXISTS {staging}")
        done = True
    finally:
        if not done:
            with suppress(duckdb.Error):
                con.execute(f"DROP TABLE IF EXISTS {staging}")
        con.close()
        if new and not done:
            partial.unlink(missing_ok=True)
    return _finish(partial, out, count) if new else count


def write_export(archives: Iterable[Archive], out: str | os.PathLike[str], *,
                 table: str = "events", memory_limit: str | None = None) -> int:
    """The events of ``archives`` into ``out``, written as its suffix says
    (:data:`OUTPUT_SUFFIXES`); returns the number of events (0: nothing was written).

    ``table`` and ``memory_limit`` apply to a DuckDB file only (a ConfigError otherwise).
    """
    kind = output_kind(out)
    if kind != "duckdb" and memory_limit is not None:
        raise ConfigError("memory_limit applies to a DuckDB file only")
    if kind == "jsonl":
        return write_jsonl(archives, out)
    if kind == "parquet":
        return write_parquet(archives, out)
    return write_duckdb(archives, out, table, memory_limit=memory_limit)


__all__ = [
    "OUTPUT_SUFFIXES",
    "UPSERT_KEY",
    "OutputKind",
    "output_kind",
    "write_duckdb",
    "write_export",
    "write_jsonl",
    "write_parquet",
]
