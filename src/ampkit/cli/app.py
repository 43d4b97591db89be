"""The typer application and the pieces every command shares (one-line errors, console).

Commands are imported on demand: ``ampkit --help`` lists them from :data:`COMMANDS` (each one's
one-line help, the first paragraph of its docstring — a test keeps the two equal) without
importing any, and ``ampkit NAME`` imports only NAME's module.  So neither pays for the server,
DuckDB, pyarrow or the MCP SDK unless the command uses them, and a command whose extra is not
installed says which one in one line.
"""

from __future__ import annotations

import os
import select
import sys
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, NoReturn

import typer
import typer.core
import typer.main
from rich.console import Console
from rich.markup import escape
from typer.exceptions import TyperException

from ampkit import _extras
from ampkit.core.files import set_private_umask
from ampkit.errors import AmplitudeError, redact_urls

if TYPE_CHECKING:
    from pydantic import ValidationError
    from typer import _click as click


@dataclass(frozen=True)
class LazyCommand:
    """Where a command is defined, and what ``ampkit --help`` says of it before importing it."""

    module: str
    help: str
    """The first paragraph of the command's docstring (whitespace collapsed)."""
    extras: tuple[str, ...] = ()
    """The extras the command needs beyond ``cli`` (named when a package is missing)."""


COMMANDS: dict[str, LazyCommand] = {
    "serve": LazyCommand(
        "ampkit.cli.serve",
        "Run a local Amplitude-compatible server (ingestion, queries, export, profiles).",
        ("server",)),
    "demo": LazyCommand(
        "ampkit.cli.demo",
        "Run everything offline: serve, seed, send, query with charts, sync to DuckDB.",
        ("server", "sync")),
    "seed": LazyCommand(
        "ampkit.cli.seed",
        "Generate users, sessions, a sign-up → activation → purchase funnel and revenue, and "
        "send them (insert ids are deterministic: seeding twice stores each event once)."),
    "track": LazyCommand(
        "ampkit.cli.send",
        "Send events now: one from flags, or many from a JSON file or stdin JSON lines."),
    "identify": LazyCommand(
        "ampkit.cli.send",
        "Apply user property operations ($set, $setOnce, $add, $append, $unset) to a user."),
    "group-identify": LazyCommand(
        "ampkit.cli.send", "Set group properties through the Group Identify API."),
    "request": LazyCommand(
        "ampkit.cli.request",
        "Send a raw request and print the answer (JSON pretty-printed, else text)."),
    "query": LazyCommand(
        "ampkit.cli.query", "Run a query action and show its answer.", ("charts",)),
    "actions": LazyCommand(
        "ampkit.cli.actions",
        "List the actions: what each does and whether it only reads (each is an MCP tool of "
        "``ampkit mcp``; run one from Python with ``ampkit.actions.run_action``)."),
    "export": LazyCommand(
        "ampkit.cli.export",
        "Download raw events (Export API) into a file, streamed, with a progress bar.",
        ("export",)),
    "sync": LazyCommand(
        "ampkit.cli.sync",
        "Copy Amplitude data into your database: raw events, daily metrics, catalogs. "
        "Credentials: AMPLITUDE_API_KEY, AMPLITUDE_SECRET_KEY (and AMPLITUDE_BASE_URL / "
        "_REGION), or the file's named source connection (env var, $SLING_HOME_DIR/env.yaml).",
        ("sync",)),
    "streams": LazyCommand(
        "ampkit.cli.streams", "List the streams of ``ampkit sync`` (or one stream's columns).",
        ("sync",)),
    "plan": LazyCommand(
        "ampkit.cli.plan",
        "Check a tracking plan in CI (against a server or an export), or pull one from a "
        "project's Taxonomy API.",
        ("plan",)),
    "mcp": LazyCommand(
        "ampkit.cli.mcp",
        "Serve every action as an MCP tool, over stdio (default) or streamable HTTP.",
        ("mcp",)),
}
"""Every command, in the order ``ampkit --help`` lists them."""


_BUILT: dict[str, click.Command] = {}
"""The commands built so far, kept for the process: typer builds a new root group on every run
(``app()`` called again, typer's ``CliRunner``), and building a command reads its function's
signature and type hints — once per command is enough."""
_BUILT_FROM: set[int] = set()
"""The registrations (``id`` of typer's command and group infos) already in :data:`_BUILT`."""
_BUILD_LOCK = threading.Lock()


def _build_registered() -> None:
    """Build the commands registered on :data:`app` since the last call."""
    for info in app.registered_commands:
        if id(info) not in _BUILT_FROM:
            _BUILT_FROM.add(id(info))
            command = typer.main.get_command_from_info(
                info, pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=app.rich_markup_mode)
            if command.name is not None:
                _BUILT.setdefault(command.name, command)
    for group in app.registered_groups:  # a command with subcommands (query)
        if (id(group) not in _BUILT_FROM and group.name is not None
                and group.typer_instance is not None):
            _BUILT_FROM.add(id(group))
            built = typer.main.get_command(group.typer_instance)
            built.name = group.name
            _BUILT.setdefault(group.name, built)


class _Commands(MutableMapping[str, "click.Command"]):
    """A group's commands: every name of :data:`COMMANDS`, its module imported on first look-up.

    Iterating gives the names without importing anything; looking one up imports its module
    (which registers its commands on :data:`app`) and builds it as typer does.
    """

    def __init__(self, built: Mapping[str, click.Command]) -> None:
        self._built = dict(built)

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._built and name in COMMANDS:
            with _BUILD_LOCK:
                if name not in _BUILT:
                    import_module(COMMANDS[name].module)
                    _build_registered()
            if name in _BUILT:
                self._built[name] = _BUILT[name]
        return self._built[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(COMMANDS), **dict.fromkeys(self._built)})

    def __len__(self) -> int:
        return len({*COMMANDS, *self._built})


class LazyGroup(typer.core.TyperGroup):
    """The root group: commands imported on demand, help listed from :data:`COMMANDS`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _Commands(self.commands)
        self._listing = False
        self._resolved = ""  # the command last looked up to run, for the missing-extra message

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # the names only: nothing is imported

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = COMMANDS.get(cmd_name)
        if self._listing and lazy is not None:  # the help's list: no import
            return typer.core.TyperCommand(cmd_name, help=lazy.help)
        self._resolved = cmd_name
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:  # importing the command, or inside it
            module = _extras.optional_module(exc)
            name = ctx.invoked_subcommand or self._resolved
            if module is None or name not in COMMANDS:
                raise
            extras = COMMANDS[name].extras  # all the command needs, when one brings the module
            if not any(module in _extras.EXTRAS[e] for e in extras):
                extras = (_extras.extra_for(module),)
            fail(_extras.message(f"ampkit {name}", module, extras))
        except (typer.Exit, typer.Abort, TyperException):  # typer's own: usage, exit codes
            raise
        except OSError as exc:  # a file or folder given that cannot be read or written
            if isinstance(exc, BrokenPipeError) and _stdout_gone():
                raise  # the reader of our output left (`| head`): click ends quietly, status 1
            fail(_os_message(exc))
        except AmplitudeError as exc:  # a typed error a command did not word itself
            fail(str(exc))
        except Exception as exc:
            if os.environ.get("AMPKIT_DEBUG"):
                raise
            fail(f"unexpected {type(exc).__name__}: {redact_urls(str(exc))} "
                 "(AMPKIT_DEBUG=1 shows where)", 70)


def _stdout_gone() -> bool:
    """Whether standard output is a pipe whose reader has gone away (``| head`` read its
    lines and left): polling its write end then says POLLERR."""
    poll = getattr(select, "poll", None)
    try:
        fd = sys.stdout.fileno()
    except (ValueError, OSError):  # closed, or not a real file
        return True
    if poll is None:  # pragma: no cover - no poll() on this system
        return True
    waiter = poll()
    waiter.register(fd, select.POLLOUT)
    return any(event & select.POLLERR for _, event in waiter.poll(0))


def _os_message(exc: OSError) -> str:
    """``path: reason`` of a failed file operation, in one line."""
    reason = exc.strerror or str(exc)
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    return f"{' → '.join(names)}: {reason}" if names else reason


app = typer.Typer(
    name="ampkit",
    help="Amplitude from code: send events, query, export, replicate, serve agents — and a "
    "local Amplitude-compatible server to do it all offline.",
    cls=LazyGroup,
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
    from ampkit.models.base import error_line  # not for `ampkit --help`: only on an error

    return error_line(exc.errors()[0], "input")


def show_wait(reason: str, seconds: float) -> None:
    """What a command waits for (a rate limit's Retry-After, the query-cost budget), on stderr."""
    err_console.print(f"waiting {seconds:.0f} s: {escape(reason)}", soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line to stderr and exit non-zero (no traceback for user mistakes); a URL
    password in it is masked."""
    err_console.print(f"[bold red]error:[/] {escape(redact_urls(message))}", soft_wrap=True)
    raise typer.Exit(code)


def main() -> None:
    set_private_umask()  # what a command writes (queues, databases, exports) is its owner's
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
