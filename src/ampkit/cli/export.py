"""``ampkit export``: raw events for a range of hours into a JSON-lines, Parquet or DuckDB file.

A thin skin over :func:`ampkit.export.files.write_export`: the options, a progress bar, one line
of outcome.  The file's suffix says what is written; any other suffix is refused up front.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich import filesize
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from ampkit.cli.app import app, console, fail
from ampkit.cli.common import ApiKeyOpt, BaseUrlOpt, RegionOpt, SecretOpt, make_client
from ampkit.errors import AmplitudeError
from ampkit.export import ExportProgress, parse_hour
from ampkit.export.files import OUTPUT_SUFFIXES, output_kind, write_export


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


@app.command("export")
def export_cmd(
    start: Annotated[str, typer.Option(help="First hour, YYYYMMDDTHH or ISO (UTC).")],
    end: Annotated[str, typer.Option(help="Last hour, inclusive.")],
    out: Annotated[Path, typer.Option(
        help=f"The file; its suffix says what is written: {', '.join(OUTPUT_SUFFIXES)}.")],
    table: Annotated[str, typer.Option(
        help="Table of a .duckdb file (an existing one is upserted by uuid).")] = "events",
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
    try:
        kind = output_kind(out)
    except AmplitudeError as exc:
        fail(f"--out {exc}")
    if kind == "duckdb":
        from ampkit.export.duckdb_loader import quote_identifier  # DuckDB: the export extra

        try:
            quote_identifier(table)
        except AmplitudeError as exc:
            fail(f"--table: {exc}")
    elif memory_limit is not None:
        fail("--memory-limit applies to a .duckdb --out only")
    amp = make_client(api_key, secret_key, base_url, region)
    # hours done of the range (the bar), and the archive bytes received so far — counted
    # while a window downloads, not only once it is done (a one-hour window of 1 GB)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("hours"), TextColumn("{task.fields[received]} downloaded"),
               TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("exporting", total=None, received=filesize.decimal(0))

            def on_progress(p: ExportProgress) -> None:
                progress.update(task, completed=p.hours_done, total=p.hours_total,
                                received=filesize.decimal(p.bytes_downloaded))

            archives = amp.export_archives(first, last, on_progress=on_progress)
            count = write_export((path for _, path in archives), out, table=table,
                                 memory_limit=memory_limit)
    except AmplitudeError as exc:
        fail(str(exc))
    finally:
        amp.close()
    if count == 0:
        console.print("no events in that range (nothing written)")
    elif kind == "duckdb":
        console.print(f"wrote {count} events to {out} (table {table}, upserted by uuid)")
    else:
        console.print(f"wrote {count} events to {out}")
