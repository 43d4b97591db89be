"""``ampkit streams``: the streams ``ampkit sync`` knows — modes, keys, cursor, grain, schema."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ampkit.cli.app import app, console, fail
from ampkit.cli.common import print_json
from ampkit.errors import ConfigError
from ampkit.replicate import STREAMS, get_stream


@app.command("streams")
def streams_cmd(
    name: Annotated[str | None, typer.Argument(help="Show this stream's schema.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the streams of ``ampkit sync`` (or one stream's columns)."""
    try:
        chosen = [get_stream(name)] if name else list(STREAMS.values())
    except ConfigError as exc:
        fail(str(exc))
    if as_json:
        print_json([s.model_dump(mode="json") for s in chosen])
        return
    if name:
        stream = chosen[0]
        t = Table(title=f"{stream.name} — {stream.description}")
        for col in ("column", "type", "source key", "key"):
            t.add_column(col)
        for c in stream.columns:
            t.add_row(c.name, c.type, c.key if c.key != c.name else "",
                      "pk" if c.name in stream.primary_key else
                      ("cursor" if c.name == stream.cursor else ""))
        console.print(t)
        return
    t = Table(title="streams")
    for col in ("stream", "modes", "primary key", "cursor", "grain", "columns"):
        t.add_column(col, no_wrap=col == "stream")
    for s in chosen:
        t.add_row(s.name, ", ".join(s.modes), ", ".join(s.primary_key), s.cursor or "—",
                  s.grain or "—", str(len(s.columns)))
    console.print(t)
    for s in chosen:
        schema = ", ".join(f"{c.name} {c.type}" for c in s.columns)
        console.print(f"[bold]{s.name}[/] ({s.endpoint}): {schema}", soft_wrap=False)
    console.print("ampkit streams NAME: one stream's columns, source keys and keys.")
