"""What every stream run shares: its context, its table, and the result counters."""

from __future__ import annotations

import abc
import datetime as dt
import time
from dataclasses import dataclass, field

from ampkit.replicate.config import StreamOptions, SyncOptions
from ampkit.replicate.destinations.base import Destination, TableSpec
from ampkit.replicate.plan import StreamPlan
from ampkit.replicate.report import Reporter, StreamResult
from ampkit.replicate.source import Source
from ampkit.replicate.state import StreamState
from ampkit.replicate.streams import StreamDef


@dataclass
class Context:
    """Everything one stream run needs."""

    stream: StreamDef
    opts: StreamOptions
    options: SyncOptions
    state: StreamState | None
    now: dt.datetime
    source: Source | None = None
    dest: Destination | None = None
    reporter: Reporter = field(default_factory=Reporter)


class StreamRun(abc.ABC):
    """Plans and runs one stream."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.stream = ctx.stream
        self.opts = ctx.opts
        self.result = StreamResult(stream=ctx.opts.label, mode=self.mode_label())
        self._started = time.monotonic()
        self._requests0 = ctx.source.requests if ctx.source else 0
        self._cost0 = ctx.source.cost if ctx.source else 0

    @property
    def incremental(self) -> bool:
        return self.opts.mode == "incremental"

    @property
    def backfill(self) -> bool:
        return self.opts.backfill is not None

    def mode_label(self) -> str:
        return f"{self.opts.mode} (range)" if self.opts.backfill else self.opts.mode

    def table(self) -> TableSpec:
        return TableSpec(
            name=self.opts.table,
            columns=self.stream.columns,
            primary_key=self.opts.primary_key,
            partition_by=self.stream.partition_by,
        )

    @property
    def source(self) -> Source:
        if self.ctx.source is None:
            raise RuntimeError("no source: this is a dry run")
        return self.ctx.source

    @property
    def dest(self) -> Destination:
        if self.ctx.dest is None:
            raise RuntimeError("no destination: this is a dry run")
        return self.ctx.dest

    def base_state(self) -> StreamState:
        """The state this run starts from (a full refresh starts from nothing)."""
        state = self.ctx.state or StreamState()
        if self.opts.mode == "full-refresh" and not self.backfill:
            state = state.model_copy(update={"cursor": None})
        return state.model_copy(update={"mode": self.opts.mode})

    @abc.abstractmethod
    def plan(self) -> StreamPlan:
        """What a run would do, without any request."""

    @abc.abstractmethod
    def execute(self) -> None:
        """Fetch and commit, window by window (fills :attr:`result`)."""

    def finish(self) -> StreamResult:
        """The result with the requests, cost and time spent."""
        if self.ctx.source is not None:
            self.result.requests = self.ctx.source.requests - self._requests0
            cost = self.ctx.source.cost - self._cost0
            self.result.cost = cost if self.stream.kind != "export" else None
        self.result.seconds = round(time.monotonic() - self._started, 3)
        return self.result


__all__ = ["Context", "StreamRun"]
