"""A DuckDB file: one table per stream plus ``_ampkit_state``, each window in one transaction.

Rows are upserted by deleting the keys a batch carries and inserting the batch (DuckDB reads
the Arrow data in place, no copy through Python).  Types: VARCHAR, BIGINT, DOUBLE, BOOLEAN,
TIMESTAMPTZ (UTC), DATE and JSON.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from ampkit.core.files import private_duckdb
from ampkit.errors import ConfigError
from ampkit.replicate.destinations.base import (
    CLAIMS,
    Destination,
    TableSpec,
    Transaction,
    busy,
    extra_columns,
    quote_ident,
    translated,
)
from ampkit.replicate.schema import Column, ColumnType
from ampkit.replicate.state import STATE_TABLE, StreamState

_LOCK_HOLDER = re.compile(r"Conflicting lock is held in .*?\(PID (\d+)\)")
"""DuckDB's message when another process has the file open for writing."""

DUCKDB_TYPES: dict[ColumnType, str] = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMPTZ",
    "date": "DATE",
    "json": "JSON",
}
_BATCH_VIEW = "_ampkit_batch"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _DuckTransaction(Transaction):
    def __init__(self, dest: DuckDBDestination, spec: TableSpec, empty: bool) -> None:
        super().__init__(spec)
        self.dest = dest
        self.empty = empty

    def _upsert(self, table: Any) -> None:
        con = self.dest.con
        name = quote_ident(self.spec.name)
        self.dest.add_columns(self.spec.name, extra_columns(table, self.dest.columns(self.spec)))
        con.register(_BATCH_VIEW, table)
        try:
            if not self.empty:
                keys = self.spec.primary_key
                if len(keys) == 1:
                    key = quote_ident(keys[0])
                    con.execute(
                        f"DELETE FROM {name} WHERE {key} IN (SELECT {key} FROM {_BATCH_VIEW})"  # noqa: S608
                    )
                else:
                    match = " AND ".join(
                        f"t.{quote_ident(k)} IS NOT DISTINCT FROM b.{quote_ident(k)}"
                        for k in keys
                    )
                    con.execute(
                        f"DELETE FROM {name} AS t USING {_BATCH_VIEW} AS b WHERE {match}"  # noqa: S608
                    )
            cols = ", ".join(quote_ident(f.name) for f in table.schema)
            con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM {_BATCH_VIEW}")  # noqa: S608
        finally:
            con.unregister(_BATCH_VIEW)
        self.empty = False

    def save_state(self, state: StreamState) -> None:
        stamped = state.stamped()
        self.dest.con.execute(
            f"INSERT OR REPLACE INTO {STATE_TABLE} VALUES (?, ?, ?)",  # noqa: S608
            [self.spec.name, stamped.model_dump_json(), stamped.updated_at],
        )


class DuckDBDestination(Destination):
    """``duckdb:///path/file.duckdb`` (default ``./amplitude.duckdb``); ``schema``: the tables
    and the state go in that schema of the file (default ``main``)."""

    kind = "duckdb"

    def __init__(
        self, path: str | Path, *, read_only: bool = False, schema: str | None = None
    ) -> None:
        self.path = Path(path)
        self.schema = schema
        super().__init__(f"{self.path} (schema {schema})" if schema else self.path,
                         read_only=read_only)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._columns: dict[str, list[str]] = {}
        if read_only and not self.path.exists():
            return  # a dry run against a file that does not exist yet: no state, no file
        if not read_only:
            # DuckDB locks the file against other processes, not against this one's threads
            key = f"duckdb:{self.path.resolve()}"
            CLAIMS.take(key, self.description)
            self._hold(CLAIMS.release, key)
        try:
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(str(self.path), read_only=read_only)
            if not read_only:
                private_duckdb(self.path)  # event data: the owner's alone
            if schema is not None and not self._use_schema(self._con, schema, read_only):
                self._con.close()
                self._con = None  # a dry run and the schema does not exist yet: no state
                return
            if not read_only:
                self._con.execute(
                    f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (stream VARCHAR PRIMARY KEY, "
                    "state JSON, updated_at TIMESTAMPTZ)"
                )
        except duckdb.Error as exc:
            self.close()
            held = _LOCK_HOLDER.search(str(exc))
            if held is not None:
                raise busy(self.description, f"process {held.group(1)}") from None
            raise ConfigError(f"cannot open DuckDB file {self.path}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _use_schema(con: duckdb.DuckDBPyConnection, schema: str, read_only: bool) -> bool:
        """Make ``schema`` the connection's default (created when writing); ``False``: it does
        not exist and this is a read-only open."""
        if read_only:
            row = con.execute("SELECT count(*) FROM information_schema.schemata WHERE "
                              "schema_name = ? AND catalog_name = current_database()",
                              [schema]).fetchone()
            if not (row and row[0]):
                return False
        else:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
        con.execute(f"SET schema = {_literal(schema)}")
        return True

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise ConfigError(f"{self.path} is not open for writing")
        return self._con

    def _exists(self, table: str) -> bool:
        if self._con is None:
            return False
        row = self._con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
            "AND table_schema = current_schema()",
            [table],
        ).fetchone()
        return bool(row and row[0])

    def read_state(self, stream: str) -> StreamState | None:
        if self._con is None or not self._exists(STATE_TABLE):
            return None
        row = self._con.execute(
            f"SELECT state FROM {STATE_TABLE} WHERE stream = ?", [stream]  # noqa: S608
        ).fetchone()
        return StreamState.model_validate_json(row[0]) if row else None

    def columns(self, spec: TableSpec) -> list[str]:
        cached = self._columns.get(spec.name)
        if cached is None:
            rows = self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "AND table_schema = current_schema() ORDER BY ordinal_position",
                [spec.name],
            ).fetchall()
            cached = self._columns[spec.name] = [r[0] for r in rows]
        return cached

    def add_columns(self, table: str, columns: list[Column]) -> None:
        for column in columns:
            self.con.execute(
                f"ALTER TABLE {quote_ident(table)} ADD COLUMN IF NOT EXISTS "
                f"{quote_ident(column.name)} {DUCKDB_TYPES[column.type]}"
            )
            self._columns.setdefault(table, []).append(column.name)

    def prepare(self, spec: TableSpec) -> None:
        with translated(duckdb.Error, f"duckdb {self.path}"):
            self._prepare(spec)

    def _prepare(self, spec: TableSpec) -> None:
        if not self._exists(spec.name):
            cols = ", ".join(
                f"{quote_ident(c.name)} {DUCKDB_TYPES[c.type]}" for c in spec.columns
            )
            self.con.execute(f"CREATE TABLE {quote_ident(spec.name)} ({cols})")
            self._columns.pop(spec.name, None)
            return
        have = set(self.columns(spec))
        self.add_columns(spec.name, [c for c in spec.columns if c.name not in have])

    @contextmanager
    def transaction(self, spec: TableSpec, *, replace: bool = False) -> Iterator[Transaction]:
        con = self.con
        try:
            with translated(duckdb.Error, f"duckdb {self.path}"):
                con.execute("BEGIN TRANSACTION")
                if replace:
                    con.execute(f"DELETE FROM {quote_ident(spec.name)}")  # noqa: S608
                yield _DuckTransaction(self, spec, empty=replace)
                con.execute("COMMIT")
                private_duckdb(self.path)  # a new write-ahead log
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            self._columns.pop(spec.name, None)  # an ALTER may have been rolled back
            raise

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        super().close()


__all__ = ["DUCKDB_TYPES", "DuckDBDestination"]
