"""``ampkit serve``: run the local Amplitude-compatible server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from ampkit.cli.app import app, console, fail, validation_message
from ampkit.server import (
    DEMO_API_KEY,
    DEMO_SECRET_KEY,
    ServerConfig,
    StoreOpenError,
    load_server_config,
    parse_fault_spec,
    run_server,
)

DASHBOARD_LIMITS: dict[str, dict[str, Any]] = {
    "amplitude": {},
    "relaxed": {"concurrency": 50, "user_concurrency": 50, "user_per_hour": 36_000,
                "cost_per_5min": 100_000, "cost_per_hour": 10_800_000},
    "off": {"enabled": False},
}
"""``--dashboard-limits``: Amplitude's own (5 concurrent, cost 1,000 per 5 minutes and 108,000
per hour, user search/activity 10 concurrent and 360 an hour), a hundred times those, or none."""


def build_config(
    *, host: str, port: int, db: Path | None, api_key: str | None, secret_key: str | None,
    project_id: int | None, config: Path | None, faults: str | None, no_throttle: bool,
    log_level: str, dashboard_limits: str = "amplitude", memory_limit: str | None = None,
    plan: Path | None = None,
) -> ServerConfig:
    """Flags over the config file over defaults; raises ``ValueError`` with a clear message."""
    if dashboard_limits not in DASHBOARD_LIMITS:
        raise ValueError(f"--dashboard-limits must be one of {', '.join(DASHBOARD_LIMITS)}, "
                         f"not {dashboard_limits!r}")
    overrides: dict[str, Any] = {"host": host, "port": port, "log_level": log_level}
    if db is not None:
        overrides["db"] = db
    if memory_limit:
        overrides["memory_limit"] = memory_limit
    if faults:
        overrides["faults"] = parse_fault_spec(faults).model_dump()
    if plan is not None:
        overrides["plan"] = plan
    try:
        base = load_server_config(config, **overrides) if config else ServerConfig(**overrides)
    except ValidationError as exc:
        raise ValueError(validation_message(exc)) from None
    data = base.model_dump()
    if api_key or secret_key or project_id:
        if config is not None and len(base.projects) > 1:
            raise ValueError("--api-key/--secret-key/--project-id cannot be combined with a "
                             "config file holding several projects")
        if bool(api_key) != bool(secret_key):
            raise ValueError("--api-key and --secret-key go together")
        project = data["projects"][0]
        if api_key and secret_key:
            project["api_key"], project["secret_key"] = api_key, secret_key
        if project_id:
            project["project_id"] = project_id
        data["projects"] = [project]
    else:
        for project in data["projects"]:
            project["api_key"] = project["api_key"].get_secret_value()
            project["secret_key"] = project["secret_key"].get_secret_value()
    if no_throttle:
        data["throttle"]["enabled"] = False
    data["dashboard_limits"].update(DASHBOARD_LIMITS[dashboard_limits])
    try:
        return ServerConfig.model_validate(data)
    except ValidationError as exc:
        raise ValueError(validation_message(exc)) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 = any free port).")] = 8787,
    db: Annotated[Path | None, typer.Option(help="DuckDB file to keep data in (default: "
                                            "in memory).")] = None,
    api_key: Annotated[str | None, typer.Option(
        envvar="AMPKIT_SERVE_API_KEY", show_default=False,
        help="Project API key to accept (AMPKIT_SERVE_API_KEY). A flag is visible to other "
        "local users in `ps`: prefer the variable or --config.")] = None,
    secret_key: Annotated[str | None, typer.Option(
        envvar="AMPKIT_SERVE_SECRET_KEY", show_default=False,
        help="Project secret key (AMPKIT_SERVE_SECRET_KEY); as visible as --api-key.")] = None,
    project_id: Annotated[int | None, typer.Option(help="Project id.")] = None,
    config: Annotated[Path | None, typer.Option(
        help="YAML/JSON file: several projects, throttle, limits, faults.")] = None,
    faults: Annotated[str | None, typer.Option(
        help="Inject faults, e.g. '429=0.05,500=0.05,reset=0.02,delay=0.02,delay_seconds=2,"
        "seed=7'.")] = None,
    no_throttle: Annotated[bool, typer.Option(
        "--no-throttle", help="Disable the per-user/device EPS throttles.")] = False,
    dashboard_limits: Annotated[str, typer.Option(
        help="Dashboard REST limits: amplitude (Amplitude's own: 5 concurrent, cost 1,000 per "
        "5 minutes), relaxed (a hundred times those) or off.")] = "amplitude",
    memory_limit: Annotated[str | None, typer.Option(
        help="DuckDB memory limit, e.g. 512MB (default: DuckDB's, 80% of RAM).")] = None,
    plan: Annotated[Path | None, typer.Option(
        help="Tracking plan (YAML/JSON): events that break it are flagged or refused, as its "
        "policy says, and kept in the bad-event bucket (GET /_ampkit/bad-events).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Run a local Amplitude-compatible server (ingestion, queries, export, profiles)."""
    if config is not None and not config.is_file():
        fail(f"--config: no such file: {config}")
    try:
        cfg = build_config(host=host, port=port, db=db, api_key=api_key, secret_key=secret_key,
                           project_id=project_id, config=config, faults=faults,
                           no_throttle=no_throttle, log_level=log_level,
                           dashboard_limits=dashboard_limits, memory_limit=memory_limit,
                           plan=plan)
    except ValueError as exc:
        fail(str(exc), 2)
    def announce(url: str) -> None:
        console.print(f"[bold]ampkit serve[/] listening on [cyan]{url}[/]  "
                      f"(store: {cfg.db or 'in memory'})")
        for project in cfg.projects:
            console.print(f"  project {project.project_id}")
        if cfg.uses_demo_keys:
            console.print(f"  demo key pair: api key [green]{DEMO_API_KEY}[/], secret key "
                          f"[green]{DEMO_SECRET_KEY}[/]")
        console.print(f"  point a client at it: AMPLITUDE_BASE_URL={url}")
        if cfg.plan is not None:
            console.print(f"  tracking plan [cyan]{plan or config}[/]: {cfg.plan.summary()}; "
                          "bad events: GET /_ampkit/bad-events")
        if cfg.faults.active:
            console.print(f"  [yellow]injecting faults[/]: {cfg.faults.rates}")
        if dashboard_limits != "amplitude":
            console.print(f"  Dashboard limits: {dashboard_limits} (Amplitude's: "
                          "--dashboard-limits amplitude)")
        console.file.flush()

    try:
        run_server(cfg, announce)
    except StoreOpenError as exc:
        fail(str(exc), 2)
    except OSError as exc:
        fail(f"cannot listen on {cfg.host}:{cfg.port}: {exc.strerror or exc}")
