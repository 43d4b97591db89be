"""The typer application and the pieces every command shares (one-line errors, console)."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from ampkit.core.files import set_private_umask

app = typer.Typer(
    name="ampkit",
    help="Amplitude from code: send events, query, export, replicate, serve agents — and a "
    "local Amplitude-compatible server to do it all offline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(highlight=False)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"ampkit {version('ampkit')}")
        raise typer.Exit()


@app.callback()
def root(
    show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """ampkit: Amplitude from code and from the terminal."""

err_console = Console(stderr=True, highlight=False)


def validation_message(exc: ValidationError) -> str:
    """``field: rule`` of a pydantic error, for a one-line CLI message."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "input"
    return f"{where}: {first['msg']}"


def show_wait(reason: str, seconds: float) -> None:
    """What a command waits for (a rate limit's Retry-After, the query-cost budget), on stderr."""
    err_console.print(f"waiting {seconds:.0f} s: {escape(reason)}", soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line to stderr and exit non-zero (no traceback for user mistakes)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def main() -> None:
    # commands register themselves on import
    from ampkit.cli import (  # noqa: F401
        actions,
        demo,
        export,
        mcp,
        query,
        request,
        seed,
        send,
        serve,
        streams,
        sync,
    )

    set_private_umask()  # what a command writes (queues, databases, exports) is its owner's
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
