"""``ampkit seed``: send deterministic demo data through the ingestion API."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ampkit.cli.app import app, console, fail, validation_message
from ampkit.client import Amplitude
from ampkit.errors import AmplitudeError
from ampkit.ingest.sender import SenderOptions
from ampkit.seed import SeedSpec, user_events


@app.command()
def seed(
    users: Annotated[int, typer.Option(help="How many users.")] = 1000,
    days: Annotated[int, typer.Option(help="Over how many days.")] = 30,
    end: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (default: yesterday, "
                                            "UTC).")] = None,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same "
                                            "events).")] = 7,
    use_batch: Annotated[bool, typer.Option("--batch/--httpapi",
                                            help="Send to /batch (default) or /2/httpapi."
                                            )] = True,
    api_key: Annotated[str | None, typer.Option(envvar="AMPLITUDE_API_KEY",
                                                help="Project API key.", show_default=False,
                                                )] = None,
    base_url: Annotated[str | None, typer.Option(envvar="AMPLITUDE_BASE_URL",
                                                 help="Where to send (e.g. ampkit serve).",
                                                 )] = None,
) -> None:
    """Generate users, sessions, a sign-up → activation → purchase funnel and revenue, and send
    them (insert ids are deterministic: seeding twice stores each event once)."""
    try:
        spec = SeedSpec(users=users, days=days, seed=seed_value,
                        end=dt.date.fromisoformat(end) if end else None)
    except ValidationError as exc:
        fail(validation_message(exc))
    except ValueError as exc:
        fail(f"--end: {exc}")
    if not api_key:
        fail("no API key: pass --api-key or set AMPLITUDE_API_KEY (the local server's demo "
             "key is ampkit-demo-api-key)")
    delivered, queued, failures = send_seed(spec, api_key, base_url, use_batch)
    if failures:
        fail(f"{len(failures)} batches failed; first: {failures[0]}")
    if delivered < queued:
        fail(f"{queued - delivered} of {queued} events not delivered: still held back (a rate "
             "limit) when the client closed; seeding again sends each event once")
    console.print(f"seeded {spec.users} users over {spec.days} days "
                  f"({spec.first_day()} → {spec.last_day()}): {delivered} events delivered")


def send_seed(spec: SeedSpec, api_key: str, base_url: str | None,
              use_batch: bool) -> tuple[int, int, list[str]]:
    """Generate and send ``spec``'s events with progress bars; (delivered, queued, failure
    reasons)."""
    delivered = 0
    failures: list[str] = []
    lock = threading.Lock()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        made = progress.add_task("users generated", total=spec.users)
        sent = progress.add_task("events delivered", total=None)

        def on_delivered(events: list[dict[str, Any]]) -> None:
            nonlocal delivered
            with lock:
                delivered += len(events)
            progress.update(sent, completed=delivered)

        def on_failed(events: list[dict[str, Any]], reason: str, status: int | None) -> None:
            with lock:
                failures.append(f"{len(events)} events: {reason}")

        queued = 0
        try:
            amp = Amplitude(api_key, base_url=base_url, on_delivered=on_delivered,
                            on_failed=on_failed, sender=SenderOptions(
                                use_batch=use_batch, batch_size=1000, flush_interval=1.0,
                                max_queue_size=50_000))
            with amp:
                for index in range(spec.users):
                    queued += amp.track(user_events(spec, index))
                    progress.update(made, advance=1)
                progress.update(sent, total=queued)
        except AmplitudeError as exc:
            fail(str(exc))
    return delivered, queued, failures
