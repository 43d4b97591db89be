"""``ampkit actions``: the typed actions (also served as MCP tools by ``ampkit mcp``)."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.table import Table

from ampkit.actions import REGISTRY
from ampkit.cli.app import app, console


@app.command("actions")
def list_actions(
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print every action with its input and output JSON schemas.")] = False,
) -> None:
    """List the actions: what each does and whether it only reads (each is an MCP tool of
    ``ampkit mcp``; run one from Python with ``ampkit.actions.run_action``)."""
    if as_json:
        typer.echo(orjson.dumps(REGISTRY.describe(), option=orjson.OPT_INDENT_2).decode())
        return
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("action", style="cyan", no_wrap=True)
    table.add_column("access", no_wrap=True)
    table.add_column("what it does")
    for action in REGISTRY:
        access = "read" if action.read_only else "[yellow]write[/]"
        table.add_row(action.name, access, action.description.split("\n\n")[0].replace("\n", " "))
    console.print(table)
    console.print(f"{len(REGISTRY)} actions; `ampkit actions --json` prints their schemas.")
