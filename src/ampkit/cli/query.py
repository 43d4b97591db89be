"""``ampkit query ACTION key=value …``: any read-only action from the terminal, as a table,
JSON, CSV, a terminal chart or a PNG."""

from __future__ import annotations

import csv
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from ampkit.actions import ACTION_RETRY, REGISTRY, ActionOutput, SeriesOutput, run_action
from ampkit.cli.app import app, console, fail, show_wait
from ampkit.cli.charts import Series, png_chart, terminal_chart
from ampkit.cli.common import parse_value, print_json, show, table
from ampkit.core.policy import RetryPolicy
from ampkit.models.dashboard import FunnelResult, RetentionResult


def _pivot(out: SeriesOutput) -> tuple[list[str], list[Series]]:
    xs: list[str] = []
    by_label: dict[str, dict[str, float | int | None]] = {}
    for p in out.points:
        if p.x not in xs:
            xs.append(p.x)
        by_label.setdefault(p.label, {})[p.x] = p.value
    series: list[Series] = [(label, [values.get(x) for x in xs])
                            for label, values in by_label.items()]
    return xs, series


def _flat(value: Any) -> str:
    if isinstance(value, dict | list):
        text = orjson.dumps(value).decode()
        return text if len(text) <= 120 else text[:117] + "…"
    return "" if value is None else str(value)


def _pct(value: Any) -> str:
    return "" if not isinstance(value, int | float) else f"{value * 100:.1f}%"


def _special(name: str, out: ActionOutput) -> bool:
    """Funnels and retention read better as their own tables."""
    result = getattr(out, "result", None)
    if isinstance(result, FunnelResult):
        for n, group in enumerate(result.groups):
            rows = [[step, group.cumulative_raw[i] if i < len(group.cumulative_raw) else "",
                     _pct(group.cumulative[i] if i < len(group.cumulative) else None),
                     _pct(group.step_by_step[i] if i < len(group.step_by_step) else None)]
                    for i, step in enumerate(group.events)]
            show(table(f"{name} (group {n})", ["step", "users", "of entrants", "of previous"],
                       rows))
        return True
    if isinstance(result, RetentionResult):
        for n, series in enumerate(result.series):
            width = max((len(v) for v in series.values.values()), default=1)
            header = ["cohort", "users", *(f"day {i}" for i in range(width - 1))]
            rows = []
            for cohort in series.dates:
                cells = series.values.get(cohort, [])
                rows.append([cohort, cells[0].count if cells else "",
                             *(f"{c.count}" + ("*" if c.incomplete else "") for c in cells[1:])])
            show(table(f"{name} (segment {n}; * = not complete yet)", header, rows))
        return True
    return False


def _render_table(name: str, out: ActionOutput) -> None:
    if _special(name, out):
        return
    if isinstance(out, SeriesOutput):
        xs, series = _pivot(out)
        rows = [[x, *(s[1][i] for s in series)] for i, x in enumerate(xs)]
        show(table(name, ["x", *(label for label, _ in series)], rows))
        return
    data = out.model_dump(mode="json", exclude={"success", "error", "code"})
    lists = {k: v for k, v in data.items() if isinstance(v, list) and v
             and all(isinstance(i, dict) for i in v)}
    scalars = {k: v for k, v in data.items() if k not in lists and v is not None}
    if scalars:
        show(table(name, ["field", "value"], [[k, _flat(v)] for k, v in scalars.items()]))
    for key, items in lists.items():
        columns = list(dict.fromkeys(c for item in items for c in item))[:12]
        show(table(key, columns, [[_flat(item.get(c)) for c in columns] for item in items]))


@app.command()
def query(
    action: Annotated[str, typer.Argument(help="A read-only action (see `ampkit actions`).")],
    args: Annotated[list[str] | None, typer.Argument(
        help="Inputs as key=value (JSON values allowed), e.g. start=2024-03-01 "
        "event=Purchase 'steps=[\"Sign Up\",\"Purchase\"]'.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The whole output as JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Time series as CSV (x,label,value).")
                      ] = False,
    chart: Annotated[bool, typer.Option("--chart", help="Draw the time series here.")] = False,
    png: Annotated[Path | None, typer.Option("--png", help="Draw the time series to a PNG file."
                                             )] = None,
) -> None:
    """Run a query action and show its answer."""
    found = REGISTRY.get(action)
    if found is None:
        fail(f"unknown action {action!r}; `ampkit actions` lists them")
    if not found.read_only:
        fail(f"{action} is not a query (it writes); use ampkit track/identify/… or the "
             "Python API")
    arguments: dict[str, Any] = {}
    for item in args or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{item!r}: expected key=value")
        arguments[key] = parse_value(value)
        if isinstance(arguments[key], int | float) and key in ("start", "end"):
            arguments[key] = value  # dates stay text
    # a person at a terminal waits out a rate limit (Amplitude's cost window is 5 minutes)
    retry = replace(ACTION_RETRY, max_rate_limit_wait=RetryPolicy().max_rate_limit_wait)
    out = run_action(action, arguments, retry=retry, on_wait=show_wait)
    if not out.success:
        if as_json:
            print_json(out.model_dump(mode="json"))
            raise typer.Exit(1)
        fail(f"{out.error}" + (f" (HTTP {out.code})" if out.code else ""))
    is_series = isinstance(out, SeriesOutput)
    if (as_csv or chart or png) and not is_series:
        fail(f"{action} does not answer a time series; --csv/--chart/--png need one")
    if as_json:
        print_json(out.model_dump(mode="json"))
    elif as_csv:
        assert isinstance(out, SeriesOutput)
        writer = csv.writer(sys.stdout)
        writer.writerow(["x", "label", "value"])
        for p in out.points:
            writer.writerow([p.x, p.label, "" if p.value is None else p.value])
    elif not chart:
        _render_table(action, out)
    if is_series and (chart or png):
        assert isinstance(out, SeriesOutput)
        xs, series = _pivot(out)
        if chart:
            console.print(terminal_chart(action, xs, series))
        if png is not None:
            try:
                png_chart(png, action, xs, series)
            except RuntimeError as exc:
                fail(str(exc))
            console.print(f"chart written to {png}")
