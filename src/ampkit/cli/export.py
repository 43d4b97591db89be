"""``ampkit export``: raw events for a range of hours into a JSON-lines, Parquet or DuckDB file."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from ampkit.cli.app import app, console, fail
from ampkit.cli.common import ApiKeyOpt, BaseUrlOpt, RegionOpt, SecretOpt, make_client
from ampkit.errors import AmplitudeError
from ampkit.export import (
    ExportProgress,
    iter_arrow_batches,
    iter_events,
    load_duckdb,
    parse_hour,
)
from ampkit.export.duckdb_loader import duckdb_table_ddl, duckdb_transaction, quote_identifier


def _hour(value: str, name: str) -> dt.datetime:
    text = value.strip()
    try:
        if len(text) == 11 and text[8] == "T":
            return parse_hour(text)
        parsed = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        fail(f"--{name} {value!r}: {exc} (use YYYYMMDDTHH or an ISO date/time, UTC)")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed.replace(minute=0, second=0, microsecond=0)


def _into_duckdb(
    archives: Any, out: Path, partial: Path, table: str, memory_limit: str | None = None
) -> int:
    """Every archive into ``table`` of ``out``, all or nothing.

    A new file is filled under a ``.partial`` name and renamed at the end.  An existing file is
    filled through a staging table, moved into ``table`` in one transaction at the end, so an
    interrupted export leaves the file as it was.
    """
    import duckdb

    new = not out.exists()
    partial.unlink(missing_ok=True)
    con = duckdb.connect(str(partial if new else out))
    staging = table if new else f"_ampkit_export_staging_{os.getpid()}"
    count = 0
    done = False
    try:
        for _, path in archives:
            count += load_duckdb(path, con, staging, memory_limit=memory_limit).rows
        if not new:
            with duckdb_transaction(con):
                con.execute(duckdb_table_ddl(table))
                if count:
                    con.execute(f"INSERT INTO {quote_identifier(table)} BY NAME "  # noqa: S608
                                f"SELECT * FROM {staging}")
                con.execute(f"DROP TABLE IF EXISTS {staging}")
        done = True
    finally:
        if not new and not done:
            con.execute(f"DROP TABLE IF EXISTS {staging}")
        con.close()
        if new and (not done or count == 0):
            partial.unlink(missing_ok=True)
    if new and count:
        partial.replace(out)
    return count


@app.command("export")
def export_cmd(
    start: Annotated[str, typer.Option(help="First hour, YYYYMMDDTHH or ISO (UTC).")],
    end: Annotated[str, typer.Option(help="Last hour, inclusive.")],
    out: Annotated[Path, typer.Option(help="FILE.jsonl, FILE.parquet or FILE.duckdb.")],
    table: Annotated[str, typer.Option(help="Table of a .duckdb file (appended to).")] = "events",
    memory_limit: Annotated[str | None, typer.Option(
        help="DuckDB's memory_limit while loading a .duckdb file (e.g. 128MB); default DuckDB's "
             "own, 80% of RAM.")] = None,
    api_key: str | None = ApiKeyOpt,
    secret_key: str | None = SecretOpt,
    base_url: str | None = BaseUrlOpt,
    region: str | None = RegionOpt,
) -> None:
    """Download raw events (Export API) into a file, streamed, with a progress bar."""
    first, last = _hour(start, "start"), _hour(end, "end")
    if last < first:
        fail("--end is before --start")
    kind = out.suffix.lower()
    if kind not in (".jsonl", ".parquet", ".duckdb"):
        fail("--out must end in .jsonl, .parquet or .duckdb")
    if kind == ".duckdb":
        try:
            quote_identifier(table)
        except AmplitudeError as exc:
            fail(f"--table: {exc}")
    elif memory_limit is not None:
        fail("--memory-limit applies to a .duckdb --out only")
    amp = make_client(api_key, secret_key, base_url, region)
    count = 0
    partial = out.with_name(out.name + ".partial")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("hours"), DownloadColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("exporting", total=None)

            def on_progress(p: ExportProgress) -> None:
                progress.update(task, completed=p.hours_done, total=p.hours_total)

            archives = amp.export_archives(first, last, on_progress=on_progress)
            if kind == ".duckdb":
                count = _into_duckdb(archives, out, partial, table, memory_limit)
                if count == 0:
                    console.print("no events in that range (nothing written)")
                    return
                console.print(f"wrote {count} events to {out} (table {table})")
                return
            if kind == ".jsonl":
                with partial.open("wb") as fh:
                    for _, path in archives:
                        for event in iter_events(path):
                            fh.write(orjson.dumps(event.model_dump(by_alias=True,
                                                                   exclude_none=False)))
                            fh.write(b"\n")
                            count += 1
            else:
                try:
                    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
                except ImportError:
                    fail("Parquet output needs pyarrow: pip install 'ampkit[arrow]'")

                writer: Any = None
                try:
                    for _, path in archives:
                        for batch in iter_arrow_batches(path):
                            if writer is None:
                                writer = pq.ParquetWriter(partial, batch.schema)
                            writer.write_batch(batch)
                            count += batch.num_rows
                finally:
                    if writer is not None:
                        writer.close()
    except AmplitudeError as exc:
        partial.unlink(missing_ok=True)
        fail(str(exc))
    finally:
        amp.close()
    if count == 0:
        partial.unlink(missing_ok=True)
        console.print("no events in that range (nothing written)")
        return
    partial.replace(out)
    console.print(f"wrote {count} events to {out}")
