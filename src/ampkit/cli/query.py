"""``ampkit query NAME --option value …``: any read-only action from the terminal, as a table,
JSON, CSV, a terminal chart or a PNG.

Each query is its own command with its own ``--help``, built from the action's input model —
for the Dashboard queries, the endpoint's query model (:data:`ampkit.models.endpoints.DEFS`) —
so a new field there is a new option here.  ``key=value`` pairs, the older spelling, still work.
"""

from __future__ import annotations

import csv
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import orjson
import typer

from ampkit.actions import (
    ACTION_RETRY,
    REGISTRY,
    Action,
    ActionOutput,
    PointsOutput,
    run_action,
)
from ampkit.cli.app import app, console, fail, show_wait
from ampkit.cli.charts import Series, png_chart, terminal_chart
from ampkit.cli.common import parse_value, print_json, show, table
from ampkit.core.policy import RetryPolicy
from ampkit.models.dashboard import FunnelResult, RetentionResult
from ampkit.models.inputs import members, native_names


def _pivot(out: PointsOutput) -> tuple[list[str], list[Series]]:
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
    if isinstance(out, PointsOutput):
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


_RESERVED = {"as_json", "as_csv", "chart", "png", "pairs"}
"""Names of the output parameters every query command has (an input field is prefixed if it
would shadow one)."""


def _accepts_text(annotation: Any) -> bool:
    """Whether a field's type takes a plain string (``str``, ``str | EventDef``…)."""
    if annotation is str:
        return True
    origin = get_origin(annotation)
    if origin is Annotated:
        return _accepts_text(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(_accepts_text(a) for a in get_args(annotation))
    return origin is Literal and all(isinstance(a, str) for a in get_args(annotation))


def _list_item(annotation: Any) -> Any | None:
    """The item type of a list field (``list[X]``, ``list[X] | None``), else ``None``."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _list_item(get_args(annotation)[0])
    if origin in (Union, UnionType):
        items = [i for a in get_args(annotation) if (i := _list_item(a)) is not None]
        return items[0] if items else None
    if origin is list:
        return get_args(annotation)[0] if get_args(annotation) else Any
    return None


def _is_bool(annotation: Any) -> bool:
    args = [a for a in get_args(annotation) if a is not type(None)]
    return annotation is bool or (get_origin(annotation) in (Union, UnionType) and args == [bool])


def coerce(annotation: Any, text: str) -> Any:
    """A command-line value for a field of type ``annotation``: JSON where the type needs it
    (numbers, objects, lists), the text as is where the type takes a string — so ``--user 123``
    searches for the user ``"123"`` and ``--event 42`` is the event named ``42`` — unless it
    starts with ``{`` or ``[`` (an event definition, a list)."""
    stripped = text.lstrip()
    if _accepts_text(annotation) and not stripped.startswith(("{", "[")):
        return text
    return parse_value(text)


def coerce_list(item: Any, texts: list[str]) -> Any:
    """The values of a repeated list option: one JSON list given whole, or one item each."""
    if len(texts) == 1 and texts[0].lstrip().startswith("["):
        whole = parse_value(texts[0])
        item_is_sequence = get_origin(item) in (list, tuple)
        if isinstance(whole, list) and not (
                item_is_sequence and not all(isinstance(i, list) for i in whole)):
            return whole
    return [coerce(item, t) for t in texts]


@dataclass(frozen=True)
class Input:
    """One input field as a command-line option."""

    field: str
    param: str
    option: str
    annotation: Any
    list_item: Any | None
    is_bool: bool
    required: bool
    help: str


def inputs_of(action: Action[Any, Any]) -> list[Input]:
    """The options of an action's command: one per input field, ``--field-name``."""
    out = []
    natives: dict[str, list[str]] = {}
    for other, field in native_names(action.input_model).items():
        natives.setdefault(field, []).append(other)
    for name, info in action.input_model.model_fields.items():
        option = "--" + name.replace("_", "-")
        words = (info.description or "").strip()
        if name in natives:
            words += f" Also {' or '.join(n + '=…' for n in natives[name])} (Amplitude's name)."
        choices = _choices(info.annotation)
        if choices:
            words += f" One of: {', '.join(choices)}."
        if info.is_required():
            words += " Required."
        elif not _is_bool(info.annotation):
            default = info.get_default(call_default_factory=True)
            if default not in (None, [], ()):
                words += f" Default: {_shown(default)}."
        out.append(Input(name, ("in_" + name) if name in _RESERVED else name, option,
                         info.annotation, _list_item(info.annotation),
                         _is_bool(info.annotation), info.is_required(), words.strip()))
    return out


def _choices(annotation: Any) -> list[str]:
    return [str(a) for m in members(annotation) if get_origin(m) is Literal for a in get_args(m)]


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value, default=str).decode()


def arguments_of(action: Action[Any, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The action's arguments from a command's options (``None``: not given) and its
    ``key=value`` pairs (the older spelling, still read; a key may be Amplitude's parameter
    name, ``m=totals``); a field given twice is refused."""
    specs = {i.field: i for i in inputs_of(action)}
    out: dict[str, Any] = {}
    for spec in specs.values():
        value = given.get(spec.param)
        if value is None or value == [] or value == ():
            continue
        if spec.is_bool:
            out[spec.field] = value
        elif spec.list_item is not None:
            out[spec.field] = coerce_list(spec.list_item, list(value))
        else:
            out[spec.field] = coerce(spec.annotation, value)
    natives = native_names(action.input_model)
    for pair in given.get("pairs") or []:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            fail(f"{pair!r}: expected --option value or key=value")
        key = natives.get(name, name)  # Amplitude's name for a field (m, i, g, e…)
        if key in out:
            known = specs.get(key)
            fail(f"{key} is given twice ({known.option if known else key} and {name}=…)")
        known = specs.get(key)  # an unknown key is left to the input model to name
        out[key] = (text if known is None else coerce_list(known.list_item, [text])
                    if known.list_item is not None else coerce(known.annotation, text))
    return out


def _run(action: Action[Any, Any], given: dict[str, Any]) -> None:
    name = action.name
    as_json, as_csv, chart, png = (given["as_json"], given["as_csv"], given["chart"],
                                   given["png"])
    arguments = arguments_of(action, given)
    # a person at a terminal waits out a rate limit (Amplitude's cost window is 5 minutes)
    retry = replace(ACTION_RETRY, max_rate_limit_wait=RetryPolicy().max_rate_limit_wait)
    out = run_action(name, arguments, retry=retry, on_wait=show_wait)
    if not out.success:
        if as_json:
            print_json(out.model_dump(mode="json"))
            raise typer.Exit(1)
        fail(f"{out.error}" + (f" (HTTP {out.code})" if out.code else ""))
    is_series = isinstance(out, PointsOutput)
    if (as_csv or chart or png) and not is_series:
        fail(f"{name} does not answer a time series; --csv/--chart/--png need one")
    if as_json:
        print_json(out.model_dump(mode="json"))
    elif as_csv:
        assert isinstance(out, PointsOutput)
        writer = csv.writer(sys.stdout)
        writer.writerow(["x", "label", "value"])
        for p in out.points:
            writer.writerow([p.x, p.label, "" if p.value is None else p.value])
    elif not chart:
        _render_table(name, out)
    if is_series and (chart or png):
        assert isinstance(out, PointsOutput)
        xs, series = _pivot(out)
        if chart:
            console.print(terminal_chart(name, xs, series))
        if png is not None:
            try:
                png_chart(png, name, xs, series)
            except RuntimeError as exc:
                fail(str(exc))
            console.print(f"chart written to {png}")


def _output_params() -> list[inspect.Parameter]:
    kw = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter("pairs", kw, default=None, annotation=Annotated[
            list[str] | None, typer.Argument(
                help="Inputs as key=value, the older spelling of the options (JSON values "
                "allowed), e.g. start=2024-03-01.", show_default=False, metavar="KEY=VALUE")]),
        inspect.Parameter("as_json", kw, default=False, annotation=Annotated[
            bool, typer.Option("--json", help="The whole output as JSON.")]),
        inspect.Parameter("as_csv", kw, default=False, annotation=Annotated[
            bool, typer.Option("--csv", help="Time series as CSV (x,label,value).")]),
        inspect.Parameter("chart", kw, default=False, annotation=Annotated[
            bool, typer.Option("--chart", help="Draw the time series here.")]),
        inspect.Parameter("png", kw, default=None, annotation=Annotated[
            Path | None, typer.Option("--png", help="Draw the time series to a PNG file.",
                                      show_default=False)]),
    ]


def _input_param(spec: Input) -> inspect.Parameter:
    kw = inspect.Parameter.KEYWORD_ONLY
    if spec.is_bool:
        flag = spec.option[2:]
        option: Any = typer.Option(f"--{flag}/--no-{flag}", help=spec.help, show_default=False)
        return inspect.Parameter(spec.param, kw, default=None,
                                 annotation=Annotated[bool | None, option])
    option = typer.Option(spec.option, help=spec.help + (
        " Repeat the option for each item, or give one JSON list." if spec.list_item is not None
        else ""), show_default=False, metavar="LIST" if spec.list_item is not None else "TEXT")
    kind: Any = list[str] | None if spec.list_item is not None else str | None
    return inspect.Parameter(spec.param, kw, default=None, annotation=Annotated[kind, option])


def command_for(action: Action[Any, Any]) -> Callable[..., None]:
    """The function typer turns into ``ampkit query <action>``: one option per input field
    (from the action's input model, so from the endpoint's query model), the output options,
    and ``key=value`` pairs."""
    params = [_input_param(spec) for spec in inputs_of(action)] + _output_params()

    def run(**given: Any) -> None:
        _run(action, given)

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    run.__doc__ = f"{action.title}.\n\n{action.description}"
    run.__name__ = action.name
    return run


query_app = typer.Typer(
    name="query", no_args_is_help=True, rich_markup_mode=None, add_completion=False,
    help="Run a query action and show its answer.\n\n"
    "ampkit query NAME --option value …; `ampkit query NAME --help` lists a query's options.")
for _action in REGISTRY:
    if _action.read_only:
        query_app.command(_action.name, help=f"{_action.title}. {_action.description}",
                          short_help=_action.title)(command_for(_action))
app.add_typer(query_app, name="query")
