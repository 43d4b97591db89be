"""Where synced rows land: DuckDB (default), PostgreSQL, Parquet.

=================================  ==========================================================
target                             destination
=================================  ==========================================================
(none)                             DuckDB file ``./amplitude.duckdb``
``duckdb:///abs/file.duckdb``      DuckDB file (``duckdb://rel.duckdb`` is relative)
``path/file.duckdb``               DuckDB file (any path that is not a directory)
``postgresql://u:p@host/db``       PostgreSQL (``postgres://`` too; ``?schema=`` optional)
``parquet:///abs/dir``             Parquet directory (``parquet://rel/dir`` is relative)
``path/dir/`` or an existing dir   Parquet directory
=================================  ==========================================================
"""

from __future__ import annotations

import os
from pathlib import Path

from ampkit.errors import ConfigError
from ampkit.replicate.destinations.base import Destination, TableSpec, Transaction

DEFAULT_TARGET = "amplitude.duckdb"


def _strip(target: str, scheme: str) -> str:
    rest = target[len(scheme) + 3 :]
    if not rest:
        raise ConfigError(f"target {target!r} has no path")
    return rest


def target_kind(target: str | None) -> str:
    """``duckdb``, ``postgres`` or ``parquet`` for a target string."""
    text = (target or DEFAULT_TARGET).strip()
    scheme, sep, _ = text.partition("://")
    if sep:
        lowered = scheme.lower()
        if lowered in ("postgresql", "postgres"):
            return "postgres"
        if lowered in ("duckdb", "parquet"):
            return lowered
        raise ConfigError(
            f"unsupported target scheme {scheme!r}: use duckdb://, postgresql:// or parquet://"
        )
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        return "parquet"
    return "duckdb"


def open_destination(target: str | None, *, read_only: bool = False) -> Destination:
    """The destination a target names (``read_only`` for dry runs: nothing is created)."""
    text = (target or DEFAULT_TARGET).strip()
    kind = target_kind(text)
    if kind == "postgres":
        from ampkit.replicate.destinations.postgres import PostgresDestination

        return PostgresDestination(text, read_only=read_only)
    path = _strip(text, kind) if "://" in text else text
    if kind == "parquet":
        from ampkit.replicate.destinations.parquet import ParquetDestination

        return ParquetDestination(path, read_only=read_only)
    from ampkit.replicate.destinations.duckdb import DuckDBDestination

    return DuckDBDestination(path, read_only=read_only)


def describe_target(target: str | None) -> str:
    """The target for people: the kind and where, with any password hidden."""
    from ampkit.replicate.destinations.postgres import redact_url

    text = (target or DEFAULT_TARGET).strip()
    return f"{target_kind(text)} {redact_url(text) if '://' in text else text}"


__all__ = [
    "DEFAULT_TARGET",
    "Destination",
    "TableSpec",
    "Transaction",
    "describe_target",
    "open_destination",
    "target_kind",
]
