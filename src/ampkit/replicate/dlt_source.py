"""ampkit's streams as a `dlt <https://dlthub.com>`_ source: one ``ampkit`` source, one resource
per replication stream, loaded by any dlt destination.

.. code-block:: python

    import dlt
    from ampkit.replicate.dlt_source import amplitude_source

    pipeline = dlt.pipeline("amplitude", destination="duckdb", dataset_name="amplitude")
    pipeline.run(amplitude_source(["events", "active_users"], anchor_date="2024-01-01"))

Each resource runs ampkit's own reader (:mod:`ampkit.replicate.readers`), so what the
``ampkit sync`` targets get, a dlt destination gets too: export windows split on a 400/504 and
the working size remembered, the export delay, the Dashboard query-cost budget (one per source,
shared by its resources), drift kept as JSON text in ``_raw_extra``.  The reader's state (the
hour or day cursor, the remembered window size) lives in the resource's **dlt state**
(``dlt.current.resource_state()["ampkit"]``), so it is saved with the rows of the same load and
restored from the destination like any dlt state.

Write dispositions: an incremental stream **merges** on its primary key (``uuid`` for events),
a full refresh **replaces**, a catalog replaces.  dlt's filesystem destination merges only into
Delta or Iceberg tables; as plain Parquet/JSONL files it appends (ampkit's cursor still reads
each hour once, but a ``lookback`` or an hour read while still open would be stored twice).

The ``events`` resource carries one column the other targets do not: ``event_date`` (the UTC
date of ``event_time``), the partition column of a Delta/Iceberg table and of BigQuery.

Credentials: ``settings=`` / ``api_key=`` and ``secret_key=``, else dlt's configuration
(``SOURCES__AMPKIT__API_KEY`` / ``SOURCES__AMPKIT__SECRET_KEY`` or ``[sources.ampkit]`` in
``.dlt/secrets.toml``), else ``AMPLITUDE_API_KEY`` / ``AMPLITUDE_SECRET_KEY``.

Needs the ``dlt`` extra: ``pip install 'ampkit[dlt]'``.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from ampkit._extras import require

require("dlt", "ampkit.replicate.dlt_source", ("dlt",))

import dlt  # noqa: E402
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]  # noqa: E402
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]  # noqa: E402
from dlt.extract.resource import DltResource  # noqa: E402
from dlt.extract.source import DltSource  # noqa: E402

from ampkit.config import Settings, load_settings  # noqa: E402
from ampkit.core.flow import Driver  # noqa: E402
from ampkit.core.limits import QueryBudgets  # noqa: E402
from ampkit.core.policy import RetryPolicy  # noqa: E402
from ampkit.errors import ConfigError, redact  # noqa: E402
from ampkit.replicate.config import StreamOptions, SyncOptions, resolve  # noqa: E402
from ampkit.replicate.destinations.base import (  # noqa: E402
    Destination,
    TableSpec,
    Transaction,
    as_table,
    dedupe,
)
from ampkit.replicate.readers.base import Context  # noqa: E402
from ampkit.replicate.report import Reporter, StreamResult  # noqa: E402
from ampkit.replicate.source import Source  # noqa: E402
from ampkit.replicate.state import StreamState  # noqa: E402
from ampkit.replicate.streams import Mode, get_stream  # noqa: E402

SOURCE_NAME = "ampkit"
STATE_KEY = "ampkit"
"""The key of ampkit's :class:`~ampkit.replicate.state.StreamState` in each resource's state."""
EVENT_DATE = "event_date"
HANDOFF_SLOTS = 4
"""Arrow batches a reader may hold ready before the extracting dlt pipeline takes them."""


# --- the bridge: a reader writes "transactions", the dlt resource yields them -----------------


@dataclass(frozen=True)
class _Commit:
    state: StreamState
    rows: int


@dataclass(frozen=True)
class _Error:
    error: BaseException


_DONE = object()


class _Stopped(Exception):
    """The dlt side stopped taking batches (its generator was closed)."""


class _Handoff:
    """A bounded queue from the reader thread to the resource generator."""

    def __init__(self) -> None:
        self.items: queue.Queue[object] = queue.Queue(maxsize=HANDOFF_SLOTS)
        self.stop = threading.Event()

    def put(self, item: object) -> None:
        while not self.stop.is_set():
            try:
                self.items.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped


class _Tx(Transaction):
    def __init__(self, spec: TableSpec, handoff: _Handoff) -> None:
        super().__init__(spec)
        self.handoff = handoff
        self.state: StreamState | None = None

    def write(self, table: Any) -> int:
        # each transaction's batches are deduplicated by the destination's merge; within one
        # batch here, as every ampkit destination does
        table = dedupe(as_table(table), self.spec.primary_key)
        if table.num_rows == 0:
            return 0
        self.handoff.put(table)
        self.rows += table.num_rows
        return int(table.num_rows)

    def _upsert(self, table: Any) -> None:  # pragma: no cover - write() is overridden
        raise NotImplementedError

    def save_state(self, state: StreamState) -> None:
        self.state = state


class _Bridge(Destination):
    """What a reader sees as its destination: state from dlt, rows handed to dlt."""

    kind = "dlt"

    def __init__(self, state: StreamState | None, handoff: _Handoff) -> None:
        super().__init__("resource", read_only=False)
        self.state = state
        self.handoff = handoff

    def read_state(self, stream: str) -> StreamState | None:
        return self.state

    def prepare(self, spec: TableSpec) -> None:
        """dlt creates and evolves the table."""

    def transaction(
        self, spec: TableSpec, *, replace: bool = False
    ) -> AbstractContextManager[Transaction]:
        return self._transaction(spec)

    @contextmanager
    def _transaction(self, spec: TableSpec) -> Iterator[Transaction]:
        tx = _Tx(spec, self.handoff)
        yield tx
        if tx.state is not None:
            self.handoff.put(_Commit(tx.state, tx.rows))


# --- the source -------------------------------------------------------------------------------


class _Shared:
    """What the resources of one source share: credentials, clock, cost budgets, results."""

    def __init__(self, options: SyncOptions, settings: Settings, reporter: Reporter,
                 retry: RetryPolicy | None, now: dt.datetime | None) -> None:
        self.options = options
        self.settings = settings
        self.reporter = reporter
        self.retry = retry
        self.fixed_now = now
        self.budgets = QueryBudgets(on_wait=reporter.waiting)
        self.results: dict[str, StreamResult] = {}

    def now(self) -> dt.datetime:
        """The clock of one read: the fixed one, else the time the read starts (a source
        object run again, e.g. by a scheduler, reads up to its own run's time)."""
        return self.fixed_now or dt.datetime.now(dt.UTC)

    def source(self) -> Source:
        src = Source(self.settings, retry=self.retry, on_wait=self.reporter.waiting)
        src.budgets = self.budgets  # one Dashboard cost budget for the whole source
        src.queries = Driver(src.transport, budgets=self.budgets)
        return src


def _with_event_date(table: Any) -> Any:
    """Events with ``event_date``: the UTC date of ``event_time``."""
    day = pc.cast(table["event_time"], pa.date32()) if "event_time" in table.column_names \
        else pa.nulls(table.num_rows, pa.date32())
    return table.append_column(pa.field(EVENT_DATE, pa.date32()), day)


def _read(shared: _Shared, opts: StreamOptions, saved: dict[str, Any]) -> Iterator[Any]:
    """Run one stream's reader in a thread; yield its Arrow tables, and move the resource's
    state at each of its commits (the state dict is dlt's, saved with the load)."""
    from ampkit.replicate.runner import RUNS

    stream = get_stream(opts.name)
    raw = saved.get(STATE_KEY)
    state = StreamState.model_validate(raw) if raw else None
    handoff = _Handoff()
    bridge = _Bridge(state, handoff)
    source = shared.source()
    ctx = Context(stream=stream, opts=opts, options=shared.options, state=state,
                  now=shared.now(), source=source, dest=bridge, reporter=shared.reporter)
    run = RUNS[stream.kind](ctx)
    shared.reporter.stream_started(run.plan())

    def work() -> None:
        try:
            run.execute()
            handoff.put(_DONE)
        except _Stopped:
            return
        except BaseException as exc:  # handed to the generator, raised there
            try:
                handoff.put(_Error(exc))
            except _Stopped:
                return

    thread = threading.Thread(target=work, name=f"ampkit-dlt-{opts.name}", daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.items.get()
            if item is _DONE:
                break
            if isinstance(item, _Error):
                run.result.status = "failed"
                run.result.error = redact(str(item.error) or type(item.error).__name__,
                                          shared.settings.secrets())
                raise item.error
            if isinstance(item, _Commit):
                saved[STATE_KEY] = item.state.stamped().model_dump(mode="json")
                continue
            yield _with_event_date(item) if stream.kind == "export" else item
    finally:
        handoff.stop.set()
        thread.join()
        source.close()
        result = run.finish()
        shared.results[opts.label] = result
        shared.reporter.stream_finished(result)


def _disposition(opts: StreamOptions) -> str:
    stream = get_stream(opts.name)
    if stream.kind == "catalog" or (opts.mode == "full-refresh" and opts.backfill is None):
        return "replace"
    return "merge"


def stream_resource(shared: _Shared, opts: StreamOptions, table_format: str | None = None
                    ) -> DltResource:
    """One stream as a dlt resource (named like its table)."""
    stream = get_stream(opts.name)
    columns: dict[str, Any] = {}
    if stream.kind == "export":
        columns[EVENT_DATE] = {"data_type": "date", "partition": True}
    disposition = _disposition(opts)
    hints: dict[str, Any] = {}
    if disposition == "merge":
        hints["write_disposition"] = {"disposition": "merge", "strategy": "upsert"} \
            if table_format else "merge"
        hints["primary_key"] = list(opts.primary_key)
    else:
        hints["write_disposition"] = "replace"
        hints["primary_key"] = list(opts.primary_key)

    def rows() -> Iterator[Any]:
        saved = dlt.current.resource_state(opts.table)
        yield from _read(shared, opts, saved)

    # dlt.resource's overloads do not take hints built at run time; the values are checked
    # above (the disposition, the key) and by amplitude_source (the table format).  The
    # function, not a generator: dlt calls it at each extract, so one source object runs
    # again (a scheduler's asset built once) and reads on from its saved state
    make: Any = dlt.resource
    resource: DltResource = make(rows, name=opts.table, columns=columns or None,
                                 table_format=table_format, **hints)
    return resource


def amplitude_source(
    streams: Sequence[str] | None = None,
    *,
    options: SyncOptions | None = None,
    mode: Mode | None = None,
    anchor_date: dt.date | str | None = None,
    backfill: str | None = None,
    export_delay_hours: int | None = None,
    settings: Settings | None = None,
    api_key: str | None = None,
    secret_key: str | None = None,
    base_url: str | None = None,
    table_format: str | None = None,
    now: dt.datetime | None = None,
    retry: RetryPolicy | None = None,
    reporter: Reporter | None = None,
    results: dict[str, StreamResult] | None = None,
) -> DltSource:
    """The ``ampkit`` dlt source: one resource per stream (default: every stream).

    ``options`` (a resolved :class:`~ampkit.replicate.config.SyncOptions`, e.g. from a
    replication file) wins over ``streams``/``mode``/``anchor_date``/``backfill``/
    ``export_delay_hours``.  ``table_format`` (``"delta"`` or ``"iceberg"``) makes every resource
    a table of that format in dlt's filesystem destination (merges become upserts).
    ``results``, if given, receives each stream's :class:`StreamResult` by label as it ends.
    """
    if table_format not in (None, "delta", "iceberg"):
        raise ConfigError(f"table_format: {table_format!r} is not one of delta, iceberg")
    if options is None:
        anchor = dt.date.fromisoformat(anchor_date) if isinstance(anchor_date, str) \
            else anchor_date
        options = resolve(streams=list(streams) if streams else None, mode=mode,
                          anchor_date=anchor, backfill=backfill, now=now,
                          export_delay_hours=export_delay_hours)
    settings = settings or _settings(api_key, secret_key, base_url, options)
    settings.require_api_key()
    settings.require_secret_key()
    clock = now or options.now
    if clock is not None:
        clock = clock.replace(tzinfo=dt.UTC) if clock.tzinfo is None \
            else clock.astimezone(dt.UTC)
    shared = _Shared(options, settings, reporter or Reporter(), retry, clock)
    if results is not None:
        shared.results = results
    resources = [stream_resource(shared, o, table_format) for o in options.streams]

    @dlt.source(name=SOURCE_NAME, max_table_nesting=0, root_key=False)
    def ampkit() -> list[DltResource]:
        return resources

    source: DltSource = ampkit()
    return source


def _settings(api_key: str | None, secret_key: str | None, base_url: str | None,
              options: SyncOptions) -> Settings:
    """Explicit arguments, then dlt's ``[sources.ampkit]`` configuration, then the
    ``AMPLITUDE_*`` variables (and the replication file's region/base URL)."""
    api_key = api_key or _configured("api_key")
    secret_key = secret_key or _configured("secret_key")
    base_url = base_url or _configured("base_url")
    if api_key is not None or secret_key is not None or base_url is not None:
        return load_settings(api_key=api_key, secret_key=secret_key,
                             base_url=base_url or options.base_url)
    from ampkit.replicate.runner import settings_for

    return settings_for(options)


def _configured(name: str) -> str | None:
    """``sources.ampkit.<name>`` from dlt's providers (env, ``.dlt/secrets.toml``)."""
    value: object = dlt.secrets.get(f"sources.{SOURCE_NAME}.{name}")
    return str(value) if value else None


__all__ = ["EVENT_DATE", "SOURCE_NAME", "STATE_KEY", "amplitude_source", "stream_resource"]
