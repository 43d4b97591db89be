"""``ampkit mcp``: serve every action as an MCP tool (stdio, or streamable HTTP)."""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING, Annotated, cast

import typer

from ampkit.cli.app import app as cli_app
from ampkit.cli.app import err_console, fail
from ampkit.config import load_settings
from ampkit.errors import ConfigError

if TYPE_CHECKING:
    from ampkit.mcp.server import LogLevel

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@cli_app.command("mcp")
def mcp_command(
    http: Annotated[int | None, typer.Option(
        "--http", metavar="PORT", min=1, max=65535,
        help="Serve streamable HTTP on this port (at --path) instead of stdio.")] = None,
    host: Annotated[str, typer.Option(help="With --http: interface to listen on.")
                    ] = "127.0.0.1",
    path: Annotated[str, typer.Option(help="With --http: the endpoint's path.")] = "/mcp",
    log_level: Annotated[str, typer.Option(help="Log level (logs go to stderr).")
                         ] = "warning",
    allow_remote: Annotated[bool, typer.Option(
        "--allow-remote", help="With --http on an interface other than loopback: serve anyway. "
        "The endpoint has no authentication and acts with your keys (sends events, writes "
        "files, resets a local server): put it behind a proxy that authenticates.")] = False,
) -> None:
    """Serve every action as an MCP tool, over stdio (default) or streamable HTTP.

    Credentials come from AMPLITUDE_API_KEY, AMPLITUDE_SECRET_KEY, AMPLITUDE_REGION and
    AMPLITUDE_BASE_URL; tools answer success=false, saying what is missing, until they are set.
    """
    level = log_level.upper()
    if level not in LEVELS:
        fail(f"--log-level: one of {', '.join(lv.lower() for lv in LEVELS)}", 2)
    if not path.startswith("/"):
        fail("--path must start with '/'", 2)
    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(f"{exc} (check the AMPLITUDE_* environment variables)", 2)
    if settings.api_key is None:
        err_console.print("[yellow]warning:[/] AMPLITUDE_API_KEY is not set: every tool will "
                          "answer success=false until it is")
    if http is not None and not allow_remote and not _loopback(host):
        fail(f"--host {host}: the MCP endpoint has no authentication and acts with your keys "
             "(sends events, writes files); anyone who reaches that interface could use it. "
             "Serve on 127.0.0.1, or add --allow-remote behind a proxy that authenticates", 2)
    if http is not None:
        try:  # a port in use is said in one line before anything is announced
            with socket.create_server((host, http)):
                pass
        except OSError as exc:
            fail(f"cannot listen on {host}:{http}: {exc.strerror or exc}")
        err_console.print(f"[bold]ampkit mcp[/] on [cyan]http://{host}:{http}{path}[/] "
                          "(streamable HTTP)")
    from ampkit.mcp import serve  # the MCP SDK is imported only for this command

    try:
        serve(http_port=http, host=host, path=path, log_level=cast("LogLevel", level))
    except OSError as exc:
        fail(f"cannot listen on {host}:{http}: {exc.strerror or exc}")


def _loopback(host: str) -> bool:
    """Whether ``host`` names this machine's loopback interface only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False
