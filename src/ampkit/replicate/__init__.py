"""Replication: copy Amplitude data into DuckDB, PostgreSQL or Parquet, incrementally.

``run_sync(resolve(streams=["events", "active_users"], target="amplitude.duckdb"))`` — each
stream is declared in :data:`STREAMS`; its state lives in the destination and commits with the
rows of each window, so a run killed at any point resumes without losing or doubling a row.

Needs the ``sync`` extra (pyarrow, PyYAML, and DuckDB or psycopg for those targets).
"""

import ampkit._extras.sync  # noqa: F401  (first: one line naming the extra if it is missing)
from ampkit.replicate.config import (
    ReplicationConfig,
    StreamConfig,
    StreamOptions,
    SyncOptions,
    load_config,
    resolve,
)
from ampkit.replicate.destinations import describe_target, open_destination, target_kind
from ampkit.replicate.destinations.base import (
    Destination,
    DestinationBusy,
    DestinationError,
    TableSpec,
)
from ampkit.replicate.plan import StreamPlan, TimeRange, parse_range
from ampkit.replicate.report import Reporter, StreamResult, SyncFailed, SyncResult
from ampkit.replicate.runner import plan_sync, run_sync
from ampkit.replicate.schema import Column
from ampkit.replicate.state import STATE_TABLE, StreamState
from ampkit.replicate.streams import MODES, STREAMS, StreamDef, get_stream

__all__ = [
    "MODES",
    "STATE_TABLE",
    "STREAMS",
    "Column",
    "Destination",
    "DestinationBusy",
    "DestinationError",
    "ReplicationConfig",
    "Reporter",
    "StreamConfig",
    "StreamDef",
    "StreamOptions",
    "StreamPlan",
    "StreamResult",
    "StreamState",
    "SyncFailed",
    "SyncOptions",
    "SyncResult",
    "TableSpec",
    "TimeRange",
    "describe_target",
    "get_stream",
    "load_config",
    "open_destination",
    "parse_range",
    "plan_sync",
    "resolve",
    "run_sync",
    "target_kind",
]
