"""``ampkit demo``: the whole job, offline, in one command — a local server, demo data, live
events, queries drawn in the terminal, and a sync into ``amplitude.duckdb``."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.rule import Rule

from ampkit.actions import PointsOutput, run_action
from ampkit.cli.app import app, console, fail
from ampkit.cli.charts import png_chart, terminal_chart
from ampkit.cli.query import _pivot, _render_table
from ampkit.cli.seed import send_seed
from ampkit.cli.sync import _Bars, _summary_table
from ampkit.client import Amplitude
from ampkit.errors import AmplitudeError
from ampkit.ingest.identify import Identify
from ampkit.replicate import resolve, run_sync
from ampkit.replicate.config import ReplicationConfig, SourceConfig
from ampkit.seed import SeedSpec
from ampkit.server import (
    DEMO_API_KEY,
    DEMO_SECRET_KEY,
    ProjectConfig,
    ServerConfig,
    ThrottleConfig,
    serve_in_thread,
)

DEMO_STREAMS = ["events", "active_users", "new_users", "average_session_length",
                "events_list", "annotations"]


def _step(title: str) -> None:
    console.print(Rule(f"[bold]{title}"))


@app.command()
def demo(
    users: Annotated[int, typer.Option(help="Demo users to generate.")] = 500,
    days: Annotated[int, typer.Option(help="Days of history.")] = 14,
    target: Annotated[str, typer.Option(help="Where to sync (DuckDB file, postgresql://…, "
                                        "parquet:///dir).")] = "amplitude.duckdb",
    png_dir: Annotated[Path | None, typer.Option(
        "--png-dir", help="Also draw the charts as PNG files in this folder.")] = None,
) -> None:
    """Run everything offline: serve, seed, send, query with charts, sync to DuckDB."""
    config = ServerConfig(port=0, throttle=ThrottleConfig(enabled=False),
                          projects=[ProjectConfig()])
    _step("1. a local Amplitude-compatible server")
    with serve_in_thread(config) as server:
        console.print(f"ampkit serve running at {server.url} (demo key pair)")
        os.environ.update(AMPLITUDE_API_KEY=DEMO_API_KEY, AMPLITUDE_SECRET_KEY=DEMO_SECRET_KEY,
                          AMPLITUDE_BASE_URL=server.url)
        os.environ.pop("AMPLITUDE_REGION", None)
        spec = SeedSpec(users=users, days=days)
        _step(f"2. seed: {users} users over {days} days")
        delivered, queued, failures = send_seed(spec, DEMO_API_KEY, server.url, use_batch=True)
        if failures or delivered < queued:
            fail(f"seeding failed: {failures[0] if failures else 'events held back'}")
        _step("3. live events from the client")
        try:
            with Amplitude() as amp:
                amp.track({"event_type": "Demo Started", "user_id": "user-demo-01",
                           "event_properties": {"source": "ampkit demo"}})
                amp.identify(Identify().set("plan", "pro").add("demos", 1),
                             user_id="user-demo-01")
                amp.revenue(9.99, 1, product_id="sku-pro", user_id="user-demo-01")
                amp.create_annotation("ampkit demo", start=dt.datetime.now(dt.UTC))
        except AmplitudeError as exc:
            fail(str(exc))
        console.print(f"{delivered} seeded + 3 live events stored; one annotation created")
        start, end = spec.first_day().isoformat(), spec.last_day().isoformat()
        _step("4. queries")
        for title, name, args in (
            ("Daily active users", "active_users", {"start": start, "end": end}),
            ("Purchases per platform", "event_segmentation",
             {"event_type": "Purchase", "start": start, "end": end, "metric": "totals",
              "group_by": "platform"}),
        ):
            out = run_action(name, args)
            if not out.success or not isinstance(out, PointsOutput):
                fail(f"{name}: {out.error}")
            xs, series = _pivot(out)
            console.print(terminal_chart(title, xs, series))
            if png_dir is not None:
                png_dir.mkdir(parents=True, exist_ok=True)
                path = png_chart(png_dir / f"{name}.png", title, xs, series)
                console.print(f"  drawn to {path}")
        funnel = run_action("funnel", {"steps": ["Sign Up", "Activate", "Purchase"],
                                       "start": start, "end": end})
        if not funnel.success:
            fail(f"funnel: {funnel.error}")
        _render_table("Sign Up → Activate → Purchase", funnel)
        _step(f"5. sync into {target}")
        # the local server has no export delay: sync up to the current hour
        options = resolve(ReplicationConfig(source=SourceConfig(export_delay_hours=0)),
                          streams=DEMO_STREAMS, target=target,
                          anchor_date=spec.first_day() - dt.timedelta(days=1),
                          now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
        columns = (TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[unit]}"), TextColumn("{task.fields[rows]:,} rows"),
                   TimeElapsedColumn())
        try:
            with Progress(*columns, console=console) as progress:
                result = run_sync(options, reporter=_Bars(progress, False))
        except AmplitudeError as exc:
            fail(str(exc))
        console.print(_summary_table(result))
        failed = result.failures()
        if failed:
            fail(f"{failed[0].stream}: {failed[0].error}")
    if target.endswith(".duckdb") and "://" not in target:
        with duckdb.connect(target, read_only=True) as con:
            row = con.execute("SELECT count(*), count(DISTINCT user_id) FROM events").fetchone()
        if row:
            hint = "SELECT event_type, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC"
            console.print(f"{target}: {row[0]} events of {row[1]} users — try: duckdb "
                          f'{target} "{hint}"')
    console.print("[bold green]demo complete[/] — everything above ran offline against "
                  "ampkit serve")
