"""Run a sync: open the destination, read each stream's state there, plan, then fetch and
commit window by window.  A failing stream is reported and the others still run; what was
committed stays committed (the next run resumes from it).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable

from ampkit.config import Settings, load_settings
from ampkit.core.policy import RetryPolicy
from ampkit.errors import AmplitudeError, UnreachableError, redact
from ampkit.replicate.config import StreamOptions, SyncOptions
from ampkit.replicate.destinations import Destination, describe_target, open_destination
from ampkit.replicate.dlt_target import is_dlt_target
from ampkit.replicate.plan import StreamPlan
from ampkit.replicate.readers.base import Context, StreamRun
from ampkit.replicate.readers.catalog import CatalogRun
from ampkit.replicate.readers.events import EventsRun
from ampkit.replicate.readers.series import SeriesRun
from ampkit.replicate.report import Reporter, StreamResult, SyncResult
from ampkit.replicate.source import Source
from ampkit.replicate.streams import get_stream

log = logging.getLogger("ampkit.replicate")
RUNS: dict[str, type[StreamRun]] = {"export": EventsRun, "series": SeriesRun,
                                    "catalog": CatalogRun}


def settings_for(options: SyncOptions) -> Settings:
    """Credentials from a named connection (``source: AMPLITUDE``: its secrets, and its
    ``base_url`` over ``AMPLITUDE_BASE_URL``), else from the environment; region/base URL from
    the file only when the environment does not set them."""
    conn = options.source
    if conn is not None and conn.api_key is not None and conn.secret_key is not None:
        return load_settings(api_key=conn.api_key, secret_key=conn.secret_key,
                             base_url=conn.base_url)
    base = load_settings()
    overrides: dict[str, object] = {}
    if base.base_url is None and options.base_url:
        overrides["base_url"] = options.base_url
    if options.region and "AMPLITUDE_REGION" not in os.environ:
        overrides["region"] = options.region
    return load_settings(**overrides) if overrides else base


def _run_for(
    opts: StreamOptions,
    options: SyncOptions,
    now: dt.datetime,
    dest: Destination | None,
    source: Source | None,
    reporter: Reporter,
) -> StreamRun:
    stream = get_stream(opts.name)
    state = dest.read_state(opts.table) if dest is not None else None
    ctx = Context(stream=stream, opts=opts, options=options, state=state, now=now,
                  source=source, dest=dest, reporter=reporter)
    return RUNS[stream.kind](ctx)


def _now(options: SyncOptions) -> dt.datetime:
    now = options.now or dt.datetime.now(dt.UTC)
    return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)


def plan_sync(options: SyncOptions) -> SyncResult:
    """The plan of every stream (windows, requests, cost) — no request is sent and nothing is
    written (the destination, if it exists, is only read for the saved state)."""
    now = _now(options)
    if is_dlt_target(options.target):
        from ampkit.replicate.dlt_target import plan_dlt

        return plan_dlt(options, now)
    reporter = Reporter()
    with open_destination(options.target, read_only=True, schema=options.schema_) as dest:
        plans = [_run_for(o, options, now, dest, None, reporter).plan() for o in options.streams]
    return SyncResult(target=describe_target(options.target, options.schema_), dry_run=True,
                      plans=plans)


def run_sync(
    options: SyncOptions,
    *,
    settings: Settings | None = None,
    reporter: Reporter | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncResult:
    """Sync every stream of ``options`` into its target; see :class:`SyncResult`.

    Rate limits are waited out (``reporter.waiting`` tells for what, ``sleep`` waits); a server
    that cannot be reached at all stops the run at once with
    :class:`~ampkit.errors.UnreachableError` (every other stream would fail the same way).
    """
    settings = settings or settings_for(options)
    settings.require_api_key()
    settings.require_secret_key()
    reporter = reporter or Reporter()
    now = _now(options)
    if is_dlt_target(options.target):  # any dlt destination, through a dlt pipeline
        from ampkit.replicate.dlt_target import run_dlt_sync

        return run_dlt_sync(options, settings, reporter, retry, now)
    result = SyncResult(target=describe_target(options.target, options.schema_))
    source = Source(settings, retry=retry, on_wait=reporter.waiting, sleep=sleep)
    try:
        with open_destination(options.target, schema=options.schema_) as dest:
            for opts in options.streams:
                result.streams.append(_one(opts, options, now, dest, source, reporter))
    finally:
        source.close()
    return result


def _one(
    opts: StreamOptions,
    options: SyncOptions,
    now: dt.datetime,
    dest: Destination,
    source: Source,
    reporter: Reporter,
) -> StreamResult:
    run = _run_for(opts, options, now, dest, source, reporter)
    plan: StreamPlan = run.plan()
    reporter.stream_started(plan)
    try:
        run.execute()
    except UnreachableError:
        raise
    except (AmplitudeError, OSError, ValueError) as exc:
        # database errors arrive as DestinationError; Arrow's as ValueError
        message = redact(str(exc) or type(exc).__name__, source.settings.secrets())
        if not isinstance(exc, AmplitudeError):
            message = f"{type(exc).__name__}: {message}"
        log.info("stream %s failed: %s", opts.name, message)
        run.result.status = "failed"
        run.result.error = message
    result = run.finish()
    reporter.stream_finished(result)
    return result


__all__ = ["RUNS", "plan_sync", "run_sync", "settings_for"]
