"""``ampkit sync --target dlt:<destination>``: the sync run as a dlt pipeline, into any dlt
destination, with dlt's credential conventions.

============================================  ===============================================
target                                        what it does
============================================  ===============================================
``dlt:duckdb``                                dlt's DuckDB destination (``<pipeline>.duckdb``)
``dlt:bigquery``, ``dlt:snowflake``, …        any destination dlt knows by name
``dlt:filesystem?bucket_url=s3://b/lake``     Parquet files in a bucket (or ``file:///dir``)
``dlt:filesystem?table_format=delta&…``       Delta tables (``iceberg`` too), merged on the key
============================================  ===============================================

Query options (all optional): ``dataset`` (default: the file's ``object`` schema, else
``amplitude``), ``pipeline`` (dlt's pipeline name, default ``ampkit``: it keeps the local
working state under ``~/.dlt/pipelines``), ``table_format`` (``delta`` or ``iceberg``), and
``bucket_url`` for the filesystem destination.  **Credentials never go in the target**: dlt
reads them from its environment variables (``DESTINATION__BIGQUERY__CREDENTIALS__…``,
``DESTINATION__FILESYSTEM__CREDENTIALS__AWS_ACCESS_KEY_ID`` …) or ``.dlt/secrets.toml``, as
for any dlt pipeline; ``bucket_url`` itself may come from there too
(``DESTINATION__FILESYSTEM__BUCKET_URL``).

In a replication file the same target may be a mapping (:func:`target_from_mapping`), checked
as the string is and kept as it::

    target:
      dlt: {destination: filesystem, table_format: delta, bucket_url: s3://bucket/lake}

Each stream is one ``pipeline.run``: a stream that fails is reported and the others still run;
what a failed stream had read is not loaded, and its state (in dlt's state, saved with the
rows) stays where the last successful load left it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from pydantic import BaseModel, ConfigDict

from ampkit.config import Settings
from ampkit.core.policy import RetryPolicy
from ampkit.errors import ConfigError, UnreachableError, redact
from ampkit.replicate.config import SyncOptions
from ampkit.replicate.plan import StreamPlan
from ampkit.replicate.report import Reporter, StreamResult, SyncResult

PREFIX = "dlt:"
OPTIONS = frozenset({"dataset", "pipeline", "table_format", "bucket_url"})
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SECRETISH = re.compile(r"(key|secret|password|token|credential)", re.IGNORECASE)


def is_dlt_target(target: str | None) -> bool:
    return bool(target) and str(target).strip().lower().startswith(PREFIX)


class DltTarget(BaseModel):
    """A ``dlt:`` target, parsed."""

    model_config = ConfigDict(frozen=True)

    destination: str
    dataset: str | None = None
    pipeline: str = "ampkit"
    table_format: str | None = None
    bucket_url: str | None = None

    @property
    def loader_file_format(self) -> str | None:
        return "parquet" if self.destination == "filesystem" else None


def parse_target(target: str) -> DltTarget:
    """``dlt:<destination>[?option=value&…]`` (a :class:`ConfigError` names what is wrong)."""
    text = target.strip()[len(PREFIX):]
    name, _, query = text.partition("?")
    if not _NAME.match(name):
        raise ConfigError(f"target {target.split('?')[0]!r}: dlt:<destination> names a dlt "
                          "destination (duckdb, postgres, bigquery, filesystem, …)")
    pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False)
    return _checked(name, pairs, lambda key: f"target option {key}")


def target_from_mapping(mapping: Mapping[str, Any]) -> str:
    """The ``target: {dlt: {destination: …, …}}`` form of a replication file as the
    ``dlt:<destination>?…`` string, checked as that string is (``${VARS}`` in values are
    expanded); a :class:`ConfigError` names the key, e.g. ``target.dlt.colour``."""
    if set(mapping) != {"dlt"} or not isinstance(mapping["dlt"], Mapping):
        keys = ", ".join(sorted(map(str, mapping))) or "none"
        raise ConfigError(f"target: a mapping target is {{dlt: {{destination: …, …}}}} "
                          f"(got the key(s) {keys}); any other target is a string")
    values = {str(k): v for k, v in mapping["dlt"].items() if v is not None}
    name = values.pop("destination", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"target.dlt.destination: {name!r} must name a dlt destination "
                          "(duckdb, postgres, bigquery, filesystem, …)")
    for key, value in values.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ConfigError(f"target.dlt.{key}: must be a string, not {type(value).__name__}")
    pairs = [(k, os.path.expandvars(str(v))) for k, v in values.items()]
    parsed = _checked(name, pairs, lambda key: f"target.dlt.{key}")
    query = urlencode({k: v for k, v in parsed.model_dump(exclude={"destination"}).items()
                       if v is not None})
    return f"{PREFIX}{name}?{query}"


def _checked(name: str, pairs: list[tuple[str, str]], where: Callable[[str], str]
             ) -> DltTarget:
    """The options of destination ``name``; ``where(key)`` says where a key was written."""
    values: dict[str, str] = {}
    for key, value in pairs:
        if _SECRETISH.search(key):
            raise ConfigError(f"{where(key)}: credentials do not belong in the target "
                              "— use dlt's environment variables or .dlt/secrets.toml")
        if key not in OPTIONS:
            raise ConfigError(f"{where(key)} is unknown; known: "
                              f"{', '.join(sorted(OPTIONS))}")
        values[key] = value
    fmt = values.get("table_format") or None
    if fmt not in (None, "delta", "iceberg"):
        raise ConfigError(f"{where('table_format')}: {fmt!r} is not one of delta, iceberg")
    if fmt and name != "filesystem":
        raise ConfigError(f"{where('table_format')} needs dlt:filesystem (not dlt:{name})")
    for key in ("dataset", "pipeline"):
        if key in values and not _NAME.match(values[key]):
            raise ConfigError(f"{where(key)}: {values[key]!r} must be lower-case "
                              "letters, digits and _, starting with a letter")
    if "bucket_url" in values and name != "filesystem":
        raise ConfigError(f"{where('bucket_url')} needs dlt:filesystem (not dlt:{name})")
    return DltTarget(destination=name, dataset=values.get("dataset"),
                     pipeline=values.get("pipeline") or "ampkit", table_format=fmt,
                     bucket_url=values.get("bucket_url") or None)


def describe(target: str, schema: str | None = None) -> str:
    parsed = parse_target(target)
    where = f"dlt {parsed.destination}"
    if parsed.bucket_url:
        where += f" {parsed.bucket_url}"
    if parsed.table_format:
        where += f" ({parsed.table_format})"
    return f"{where}, dataset {schema or parsed.dataset or 'amplitude'}"


def _pipeline(parsed: DltTarget, schema: str | None) -> Any:
    from ampkit._extras import require

    require("dlt", "a dlt: target", ("dlt",))
    import dlt

    destination: Any = parsed.destination
    if parsed.bucket_url:
        destination = dlt.destinations.filesystem(bucket_url=parsed.bucket_url)
    return dlt.pipeline(pipeline_name=parsed.pipeline, destination=destination,
                        dataset_name=schema or parsed.dataset or "amplitude")


def plan_dlt(options: SyncOptions, now: dt.datetime) -> SyncResult:
    """The plan from the state this machine's pipeline last kept (no request, no load)."""
    from ampkit.replicate.dlt_source import SOURCE_NAME, STATE_KEY
    from ampkit.replicate.readers.base import Context
    from ampkit.replicate.runner import RUNS
    from ampkit.replicate.state import StreamState
    from ampkit.replicate.streams import get_stream

    target = str(options.target)
    pipe = _pipeline(parse_target(target), options.schema_)
    resources = pipe.state.get("sources", {}).get(SOURCE_NAME, {}).get("resources", {})
    plans: list[StreamPlan] = []
    for opts in options.streams:
        raw = resources.get(opts.table, {}).get(STATE_KEY)
        state = StreamState.model_validate(raw) if raw else None
        stream = get_stream(opts.name)
        ctx = Context(stream=stream, opts=opts, options=options, state=state, now=now)
        plans.append(RUNS[stream.kind](ctx).plan())
    return SyncResult(target=describe(target, options.schema_), dry_run=True, plans=plans)


def run_dlt_sync(
    options: SyncOptions,
    settings: Settings,
    reporter: Reporter,
    retry: RetryPolicy | None,
    now: dt.datetime,
) -> SyncResult:
    """Each stream of ``options`` as one dlt load into the target's destination, one run of
    a pipeline at a time on this machine (a second is :class:`DestinationBusy`)."""
    from ampkit.replicate.destinations.base import lock_file

    target = str(options.target)
    parsed = parse_target(target)
    pipe = _pipeline(parsed, options.schema_)
    # one run of a pipeline at a time: its working folder (state, packages) is this machine's,
    # and two runs at once loaded every event twice into a filesystem destination
    working = Path(pipe.working_dir)
    working.mkdir(parents=True, exist_ok=True)
    held = lock_file(working / ".ampkit-sync.lock", f"dlt pipeline {parsed.pipeline!r}")
    try:
        return _run_streams(pipe, parsed, options, settings, reporter, retry, now, target)
    finally:
        os.close(held)


def _run_streams(pipe: Any, parsed: DltTarget, options: SyncOptions, settings: Settings,
                 reporter: Reporter, retry: RetryPolicy | None, now: dt.datetime,
                 target: str) -> SyncResult:
    from dlt.pipeline.exceptions import PipelineStepFailed

    from ampkit.replicate.dlt_source import amplitude_source

    result = SyncResult(target=describe(target, options.schema_))
    secrets = settings.secrets()
    for opts in options.streams:
        results: dict[str, StreamResult] = {}
        source = amplitude_source(options=options.model_copy(update={"streams": (opts,)}),
                                  settings=settings, retry=retry, reporter=reporter,
                                  table_format=parsed.table_format, now=now, results=results)
        started = time.monotonic()
        try:
            pipe.run(source, loader_file_format=parsed.loader_file_format)
        except PipelineStepFailed as exc:
            cause = _root(exc)
            if isinstance(cause, UnreachableError):
                raise cause from None
            one = results.get(opts.label) or StreamResult(stream=opts.label, mode=opts.mode)
            one.status = "failed"
            text = str(cause) or type(cause).__name__
            one.error = redact(f"{exc.step}: {text}" if cause is exc else text, secrets)
            one.seconds = round(time.monotonic() - started, 3)
            result.streams.append(one)
            continue
        one = results.get(opts.label) or StreamResult(stream=opts.label, mode=opts.mode)
        one.seconds = round(time.monotonic() - started, 3)  # with the load itself
        result.streams.append(one)
    return result


def _root(exc: BaseException) -> BaseException:
    """The exception under dlt's wrappers (what the resource raised, or the loader's)."""
    seen: BaseException = exc
    for _ in range(8):
        inner = getattr(seen, "exception", None) or seen.__cause__
        if not isinstance(inner, BaseException) or inner is seen:
            break
        seen = inner
    return seen


__all__ = ["DltTarget", "describe", "is_dlt_target", "parse_target", "plan_dlt", "run_dlt_sync",
           "target_from_mapping"]
