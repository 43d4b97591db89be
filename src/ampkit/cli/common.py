"""What several commands share: building a client from flags/env, reading events, printing."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.table import Table

from ampkit.cli.app import console, fail, show_wait
from ampkit.client import Amplitude
from ampkit.config import Region
from ampkit.errors import AmplitudeError

ApiKeyOpt = typer.Option(None, "--api-key", envvar="AMPLITUDE_API_KEY", show_default=False,
                         help="Project API key (AMPLITUDE_API_KEY). A flag is visible to other "
                         "local users in `ps`: prefer the variable.")
SecretOpt = typer.Option(None, "--secret-key", envvar="AMPLITUDE_SECRET_KEY",
                         show_default=False, help="Project secret key (AMPLITUDE_SECRET_KEY); "
                         "as a flag, visible in `ps`: prefer the variable.")
BaseUrlOpt = typer.Option(None, "--base-url", envvar="AMPLITUDE_BASE_URL", show_default=False,
                          help="Send every API family here, e.g. ampkit serve's URL.")
RegionOpt = typer.Option(None, "--region", envvar="AMPLITUDE_REGION", show_default=False,
                         help="us or eu.")


def make_client(api_key: str | None, secret_key: str | None, base_url: str | None,
                region: str | None) -> Amplitude:
    if region not in (None, "us", "eu"):
        fail(f"--region must be us or eu, not {region!r}")
    reg: Region | None = region  # type: ignore[assignment]
    try:
        return Amplitude(api_key, secret_key, base_url=base_url, region=reg, on_wait=show_wait)
    except AmplitudeError as exc:
        fail(str(exc))


def parse_value(text: str) -> Any:
    """``42`` → 42, ``true`` → True, ``[1,2]`` → list, anything else stays a string."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def parse_pairs(items: list[str] | None, option: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{option} {item!r}: expected key=value")
        out[key] = parse_value(value)
    return out


def json_objects(text: str | bytes, where: str) -> list[dict[str, Any]]:
    """The objects of a JSON text that is an object or an array of objects (Amplitude's
    ``events`` array, Appsmith's "Events (JSON Array)"); ``where`` names it in errors."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        fail(f"{where}: not JSON ({exc})")
    items = data if isinstance(data, list) else [data]
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            fail(f"{where}: item {i} is not a JSON object")
    return items


def read_json_source(path: Path | None) -> Iterator[dict[str, Any]]:
    """Objects from a JSON file (an object or an array), or from stdin (``-``): JSON lines, or
    one JSON array (stdin that starts with ``[``)."""
    if path is not None and str(path) != "-":
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            fail(f"--file: no such file: {path}")
        yield from json_objects(data, f"--file {path}")
        return
    lines = iter(sys.stdin.buffer)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith(b"["):  # one JSON array, maybe over several lines
            yield from json_objects(line + b"".join(lines), "stdin")
            return
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            fail(f"stdin line {number}: not JSON ({exc})")
        if not isinstance(item, dict):
            fail(f"stdin line {number}: not a JSON object")
        yield item


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, show_lines=False)
    for column in columns:
        t.add_column(column)
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    return t


def show(t: Table) -> None:
    console.print(t)
