"""``ampkit sync``: replicate streams into DuckDB, PostgreSQL or Parquet, with progress bars
and a summary table; ``--dry-run`` prints the plan instead."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ampkit.cli.app import app, console, err_console, fail, show_wait
from ampkit.cli.common import print_json
from ampkit.errors import AmplitudeError
from ampkit.replicate import (
    Reporter,
    StreamPlan,
    StreamResult,
    SyncResult,
    load_config,
    plan_sync,
    resolve,
    run_sync,
)
from ampkit.replicate.streams import MODES, Mode


class _Bars(Reporter):
    """One progress bar per stream (hours or days committed), rows in the description."""

    def __init__(self, progress: Progress, verbose: bool) -> None:
        self.progress = progress
        self.verbose = verbose
        self.tasks: dict[str, TaskID] = {}
        self.rows: dict[str, int] = {}

    def stream_started(self, plan: StreamPlan) -> None:
        self.rows[plan.stream] = 0
        self.tasks[plan.stream] = self.progress.add_task(
            plan.stream, total=plan.units or None, rows=0, unit=f"{plan.unit}s")

    def advanced(self, stream: str, units: int, rows: int) -> None:
        self.rows[stream] = self.rows.get(stream, 0) + rows
        self.progress.update(self.tasks[stream], advance=units, rows=self.rows[stream])

    def committed(self, stream: str, window: str, rows: int, cursor: str | None) -> None:
        if self.verbose:
            err_console.print(escape(f"committed {stream} {window}: {rows} rows, cursor {cursor}"))
            sys.stderr.flush()

    def note(self, stream: str, message: str) -> None:
        err_console.print(f"{stream}: {escape(message)}")

    def waiting(self, reason: str, seconds: float) -> None:
        show_wait(reason, seconds)

    def stream_finished(self, result: StreamResult) -> None:
        task = self.tasks.get(result.stream)
        if task is not None:
            total = self.progress.tasks[task].total
            if result.status != "failed" and total:
                self.progress.update(task, completed=total)


def _plan_table(result: SyncResult, verbose: bool) -> Table:
    t = Table(title=f"plan → {result.target}")
    for col in ("stream", "mode", "range", "windows", "requests", "cost", "note"):
        t.add_column(col, overflow="fold")
    for p in result.plans:
        span = f"{p.start} → {p.end} ({p.units} {p.unit}s)" if p.start else "—"
        windows = "\n".join(p.windows) if verbose else (
            f"{len(p.windows)}" + (f": {p.windows[0]} … {p.windows[-1]}" if len(p.windows) > 1
                                   else (f": {p.windows[0]}" if p.windows else "")))
        t.add_row(p.stream, p.mode, span, windows, str(p.requests),
                  "—" if p.cost is None else str(p.cost), p.note or "")
    return t


def _summary_table(result: SyncResult) -> Table:
    t = Table(title=f"sync → {result.target}")
    for col in ("stream", "mode", "status", "rows", "requests", "cost", "time", "cursor"):
        t.add_column(col, justify="right" if col in ("rows", "requests", "cost", "time")
                     else "left")
    for s in result.streams:
        status = {"ok": "[green]ok[/]", "failed": "[red]failed[/]"}.get(s.status, s.status)
        t.add_row(s.stream, s.mode, status, f"{s.rows:,}", str(s.requests),
                  "—" if s.cost is None else str(s.cost), f"{s.seconds:.1f}s", s.cursor or "")
    total = sum(s.rows for s in result.streams)
    t.add_row("total", "", "", f"{total:,}", str(sum(s.requests for s in result.streams)),
              str(sum(s.cost or 0 for s in result.streams)),
              f"{sum(s.seconds for s in result.streams):.1f}s", "")
    return t


def _mode(value: str | None) -> Mode | None:
    if value is None:
        return None
    for mode in MODES:
        if value == mode:
            return mode
    fail(f"--mode must be one of {', '.join(MODES)}, not {value!r}")


@app.command("sync")
def sync_cmd(
    streams: Annotated[str | None, typer.Option(
        help="Comma-separated streams (default: the file's, else all). See: ampkit streams.")
    ] = None,
    range_: Annotated[str | None, typer.Option(
        "--range", help="Backfill START,END (dates or YYYYMMDDTHH, UTC, inclusive) without "
        "moving the saved cursor.")] = None,
    target: Annotated[str | None, typer.Option(
        help="duckdb:///file.duckdb (default ./amplitude.duckdb), postgresql://…, "
        "parquet:///dir, a directory, or a connection name (env var or Sling's env.yaml).")
    ] = None,
    config: Annotated[Path | None, typer.Option(
        help="YAML replication file (target, defaults, per-stream mode/keys/range); Sling's "
        "replication files too (source: AMPLITUDE, object: amplitude.{stream_name}).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the plan (windows, requests, cost) and exit.")] = False,
    mode: Annotated[str | None, typer.Option(
        help="full-refresh or incremental, for every stream that supports it.")] = None,
    anchor_date: Annotated[str | None, typer.Option(
        help="First day of the first incremental run, YYYY-MM-DD (default: 30 days ago).")
    ] = None,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Log every committed window to stderr.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    export_delay: Annotated[int | None, typer.Option(
        "--export-delay", min=0, max=48,
        help="Hours an Export API hour takes to become exportable after it closes (default: "
        "the file's, else 2). 0 against ampkit serve: reads up to now, the open hour included "
        "(read again by the next run).")] = None,
) -> None:
    """Copy Amplitude data into your database: raw events, daily metrics, catalogs.
    Credentials: AMPLITUDE_API_KEY, AMPLITUDE_SECRET_KEY (and AMPLITUDE_BASE_URL / _REGION), or
    the file's named source connection (env var, $SLING_HOME_DIR/env.yaml)."""
    try:
        anchor = dt.date.fromisoformat(anchor_date) if anchor_date else None
    except ValueError:
        fail(f"--anchor-date {anchor_date!r}: use YYYY-MM-DD")
    try:
        file = load_config(config) if config is not None else None
        options = resolve(file, streams=streams.split(",") if streams else None,
                          backfill=range_, target=target, mode=_mode(mode), anchor_date=anchor,
                          export_delay_hours=export_delay)
        if dry_run:
            planned = plan_sync(options)
            if as_json:
                print_json(planned.model_dump(mode="json"))
            else:
                console.print(_plan_table(planned, verbose))
            return
        columns = (TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[unit]}"), TextColumn("{task.fields[rows]:,} rows"),
                   TimeElapsedColumn())
        with Progress(*columns, console=err_console if as_json else console,
                      transient=False) as progress:
            result = run_sync(options, reporter=_Bars(progress, verbose))
    except AmplitudeError as exc:
        fail(str(exc))
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        console.print(_summary_table(result))
    failed = result.failures()
    if failed:
        for s in failed[1:]:
            err_console.print(f"[red]{s.stream}:[/] {escape(s.error or '')}", soft_wrap=True)
        fail(f"{failed[0].stream}: {failed[0].error}")
