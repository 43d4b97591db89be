"""Where synced rows land: DuckDB (default), PostgreSQL, Parquet.

=================================  ==========================================================
target                             destination
=================================  ==========================================================
(none)                             DuckDB file ``./amplitude.duckdb``
``duckdb:///abs/file.duckdb``      DuckDB file (``duckdb://rel.duckdb`` is relative)
``path/file.duckdb``               DuckDB file (``.db``, ``.ddb`` too, or an existing file)
``postgresql://u:p@host/db``       PostgreSQL (``postgres://`` too; ``?schema=`` optional)
``parquet:///abs/dir``             Parquet directory (``parquet://rel/dir`` is relative)
``path/dir/`` or an existing dir   Parquet directory
=================================  ==========================================================

Any other path (``out.csv``, ``data``) is refused, naming the spellings above.
"""

from __future__ import annotations

import os
from pathlib import Path

from ampkit._extras import message, missing
from ampkit.errors import ConfigError, redact_urls, remember_url_password
from ampkit.replicate.destinations.base import Destination, TableSpec, Transaction

DEFAULT_TARGET = "amplitude.duckdb"
DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
"""A path target with one of these suffixes (or an existing file) is a DuckDB file; any other
path is refused rather than written as DuckDB under a misleading name (``out.csv``)."""


def _strip(target: str, scheme: str) -> str:
    rest = target[len(scheme) + 3 :]
    if not rest:
        raise ConfigError(f"target {target!r} has no path")
    return rest


def _local_path(path: str, target: str) -> str:
    """A file or folder target as the shell would read it: ``~`` is the home folder (not a
    folder named ``~`` made here); a query (``?x=1``) is refused, not written into the file's
    name."""
    if "?" in path or "#" in path:
        raise ConfigError(f"target {target!r}: a file or folder target takes no query "
                          "(?…) — DuckDB and Parquet targets have no options in the URL")
    return os.path.expanduser(path)


def _is_duckdb_file(path: Path) -> bool:
    """Whether ``path`` starts as a DuckDB database does (``DUCK`` after an 8-byte checksum;
    DuckDB refuses to open an empty file too)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return head[8:12] == b"DUCK"


def target_kind(target: str | None) -> str:
    """``duckdb``, ``postgres`` or ``parquet`` for a target string (a :class:`ConfigError` for
    a path that names none of them)."""
    text = (target or DEFAULT_TARGET).strip()
    remember_url_password(text)  # masked wherever a message quotes it, or a piece of it
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
    if Path(text).suffix.lower() in DUCKDB_SUFFIXES:
        return "duckdb"
    if Path(text).is_file():
        if _is_duckdb_file(Path(text)):
            return "duckdb"
        raise ConfigError(  # DuckDB would read it as an in-memory view, and keep nothing
            f"target {text!r} is a file that is no DuckDB database: name a .duckdb file (it "
            "is made), a Parquet directory ending in /, or postgresql://")
    raise ConfigError(
        f"target {text!r}: a file target ends in .duckdb (or .db, .ddb), a Parquet directory "
        "in /, or name the kind: duckdb://, postgresql://, parquet://")


_DRIVERS = {"duckdb": "duckdb", "postgres": "psycopg", "parquet": "pyarrow"}
"""The package each kind of target needs (all three come with the ``sync`` extra)."""


def open_destination(
    target: str | None, *, read_only: bool = False, schema: str | None = None
) -> Destination:
    """The destination a target names (``read_only`` for dry runs: nothing is created).

    ``schema`` puts every table in that schema (PostgreSQL: instead of the URL's
    ``?schema=``; DuckDB: a schema of the file; Parquet: a sub-directory)."""
    text = (target or DEFAULT_TARGET).strip()
    kind = target_kind(text)
    driver = missing(_DRIVERS[kind])
    if driver is not None:
        raise ConfigError(message(f"a {kind} target", driver, ("sync",)))
    if kind == "postgres":
        from ampkit.replicate.destinations.postgres import PostgresDestination

        return PostgresDestination(text, read_only=read_only, schema=schema)
    path = _local_path(_strip(text, kind) if "://" in text else text, text)
    if kind == "parquet":
        from ampkit.replicate.destinations.parquet import ParquetDestination

        return ParquetDestination(Path(path) / schema if schema else path, read_only=read_only)
    from ampkit.replicate.destinations.duckdb import DuckDBDestination

    return DuckDBDestination(path, read_only=read_only, schema=schema)


def redact_url(url: str) -> str:
    """The URL without its password (in its user part or as a ``password=`` parameter)."""
    return redact_urls(url)


def describe_target(target: str | None, schema: str | None = None) -> str:
    """The target for people: the kind and where, with any password hidden."""
    text = (target or DEFAULT_TARGET).strip()
    where = f"{target_kind(text)} {redact_url(text) if '://' in text else text}"
    return f"{where} (schema {schema})" if schema else where


__all__ = [
    "DEFAULT_TARGET",
    "Destination",
    "TableSpec",
    "Transaction",
    "describe_target",
    "open_destination",
    "redact_url",
    "target_kind",
]
