"""PostgreSQL through psycopg 3: each batch is COPied (CSV written by Arrow, in C++) into a
temporary table, then merged with ``INSERT … ON CONFLICT (key) DO UPDATE``; the state row is
upserted in the same transaction.  A writing sync holds a session advisory lock on the schema
(:func:`lock_key`) until it closes: a second one gets
:class:`~ampkit.replicate.destinations.base.DestinationBusy` naming the holder's backend PID.

Target: ``postgresql://user:password@host:port/db`` (``?schema=name`` picks the schema, default
``public``; every other URL parameter goes to libpq).  Types: text, bigint, double precision,
boolean, timestamptz, date, jsonb.  PostgreSQL cannot store the NUL character: it becomes
U+FFFD in text and JSON values.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, LiteralString
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.csv as pa_csv  # type: ignore[import-untyped, unused-ignore]
from psycopg import sql

from ampkit.errors import ConfigError, redact_urls
from ampkit.replicate.destinations import redact_url
from ampkit.replicate.destinations.base import (
    Destination,
    TableSpec,
    Transaction,
    busy,
    extra_columns,
    translated,
)
from ampkit.replicate.schema import Column, ColumnType
from ampkit.replicate.state import STATE_TABLE, StreamState

PG_TYPES: dict[ColumnType, LiteralString] = {
    "string": "text",
    "int": "bigint",
    "float": "double precision",
    "bool": "boolean",
    "timestamp": "timestamptz",
    "date": "date",
    "json": "jsonb",
}
_CSV = pa_csv.WriteOptions(include_header=False, batch_size=4096)


def split_schema(url: str) -> tuple[str, str]:
    """``(libpq URL, schema)``: ``?schema=`` is ours, not libpq's (the other parameters go to
    libpq percent-encoded, a space as %20: libpq reads no ``+`` as a space)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- read to check: a bad port or IPv6 literal raises here
    except ValueError as exc:
        raise ConfigError(f"target {redact_urls(url)}: not a valid URL ({exc})") from None
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), "public")
    if not schema.strip():  # ?schema= given empty: a slip, not a wish for public
        raise ConfigError("target: ?schema= is empty; name a schema or leave it out (public)")
    rest = urlencode([(k, v) for k, v in query if k != "schema"], quote_via=quote)
    return urlunsplit(parts._replace(query=rest)), schema


def _no_nul(table: Any) -> Any:
    """Replace NUL (and JSON's ``\\u0000``) in text columns: PostgreSQL refuses them."""
    for i, field in enumerate(table.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        column = table.column(i)
        for needle, fix in (("\x00", "\ufffd"), ("\\u0000", "\\ufffd")):
            if pc.any(pc.match_substring(column, needle)).as_py():
                column = pc.replace_substring(column, needle, fix)
        table = table.set_column(i, field, column)
    return table


def lock_key(schema: str) -> int:
    """The advisory lock (a signed 64-bit key) a writing sync holds on ``schema``."""
    digest = hashlib.sha256(f"ampkit-sync:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _index_name(table: str, keys: tuple[str, ...]) -> str:
    digest = hashlib.sha1(",".join(keys).encode()).hexdigest()[:8]  # noqa: S324 - a name
    return f"{table[:40]}__ampkit_key_{digest}"


class _PgTransaction(Transaction):
    def __init__(self, dest: PostgresDestination, spec: TableSpec) -> None:
        super().__init__(spec)
        self.dest = dest
        self.staged: set[tuple[str, ...]] = set()

    def _upsert(self, table: Any) -> None:
        table = _no_nul(table)
        dest, conn = self.dest, self.dest.conn
        dest.add_columns(self.spec.name, extra_columns(table, dest.columns(self.spec.name)))
        names = tuple(table.schema.names)
        stage = sql.Identifier(f"_ampkit_stage_{self.spec.name}"[:60])
        cols = sql.SQL(", ").join(sql.Identifier(n) for n in names)
        target = sql.Identifier(dest.schema, self.spec.name)
        with conn.cursor() as cur:
            if names not in self.staged:
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(stage))
                cur.execute(
                    sql.SQL(
                        "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA"
                    ).format(stage, cols, target)
                )
                self.staged = {names}
            else:
                cur.execute(sql.SQL("TRUNCATE {}").format(stage))
            sink = pa.BufferOutputStream()
            pa_csv.write_csv(table, sink, _CSV)
            copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(stage, cols)
            with cur.copy(copy_sql) as copy:
                copy.write(memoryview(sink.getvalue()))
            keys = sql.SQL(", ").join(sql.Identifier(k) for k in self.spec.primary_key)
            rest = [n for n in names if n not in self.spec.primary_key]
            action = (
                sql.SQL("DO UPDATE SET ")
                + sql.SQL(", ").join(
                    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in rest
                )
                if rest
                else sql.SQL("DO NOTHING")
            )
            cur.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) ").format(
                    target, cols, cols, stage, keys
                )
                + action
            )

    def save_state(self, state: StreamState) -> None:
        stamped = state.stamped()
        with self.dest.conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (stream, state, updated_at) VALUES (%s, %s, %s) "
                    "ON CONFLICT (stream) DO UPDATE SET state = EXCLUDED.state, "
                    "updated_at = EXCLUDED.updated_at"
                ).format(sql.Identifier(self.dest.schema, STATE_TABLE)),
                [self.spec.name, stamped.model_dump_json(), stamped.updated_at],
            )


class PostgresDestination(Destination):
    """``postgresql://…`` (``?schema=`` optional; ``schema`` wins over it)."""

    kind = "postgres"

    def __init__(self, url: str, *, read_only: bool = False, schema: str | None = None) -> None:
        dsn, self.schema = split_schema(url)
        self.schema = schema or self.schema
        where = redact_url(url)
        super().__init__(f"{where} (schema {schema})" if schema else where, read_only=read_only)
        self._columns: dict[str, list[str]] = {}
        try:
            self.conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"cannot connect to {redact_url(url)}: {first}") from None
        if not read_only:
            try:
                with translated(psycopg.Error, "postgres"):
                    self._lock()
                    self._create_state_table()
            except BaseException:
                self.conn.close()
                raise

    def _lock(self) -> None:
        """Hold the schema's advisory lock for this session, or raise DestinationBusy."""
        key = lock_key(self.schema)
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", [key])
            row = cur.fetchone()
            if row is not None and row[0]:
                return
            cur.execute(  # a bigint key is stored as (classid, objid) = (high, low) halves
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND objsubid = 1 AND classid::bigint = %s AND objid::bigint = %s "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF],
            )
            holder = cur.fetchone()
        who = f"PostgreSQL backend PID {holder[0]}" if holder else "another session"
        raise busy(self.description, f"{who} holds its lock on schema {self.schema!r}")

    def _create_state_table(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            cur.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (stream text PRIMARY KEY, state jsonb, "
                    "updated_at timestamptz)"
                ).format(sql.Identifier(self.schema, STATE_TABLE))
            )

    def _exists(self, table: str) -> bool:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
                "AND table_name = %s",
                [self.schema, table],
            )
            return cur.fetchone() is not None

    def read_state(self, stream: str) -> StreamState | None:
        if not self._exists(STATE_TABLE):
            return None
        with self.conn.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT state::text FROM {} WHERE stream = %s").format(
                    sql.Identifier(self.schema, STATE_TABLE)
                ),
                [stream],
            )
            row = cur.fetchone()
        return StreamState.model_validate_json(row[0]) if row else None

    def columns(self, table: str) -> list[str]:
        cached = self._columns.get(table)
        if cached is None:
            with self.conn.cursor() as cur:
                cur.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                    "AND table_name = %s ORDER BY ordinal_position",
                    [self.schema, table],
                )
                cached = self._columns[table] = [r[0] for r in cur.fetchall()]
        return cached

    def add_columns(self, table: str, columns: list[Column]) -> None:
        with self.conn.cursor() as cur:
            for column in columns:
                cur.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} ").format(
                        sql.Identifier(self.schema, table), sql.Identifier(column.name)
                    )
                    + sql.SQL(PG_TYPES[column.type])
                )
                self._columns.setdefault(table, []).append(column.name)

    def prepare(self, spec: TableSpec) -> None:
        with translated(psycopg.Error, "postgres"):
            self._prepare(spec)

    def _prepare(self, spec: TableSpec) -> None:
        target = sql.Identifier(self.schema, spec.name)
        with self.conn.cursor() as cur:
            if not self._exists(spec.name):
                cols = sql.SQL(", ").join(
                    sql.Identifier(c.name) + sql.SQL(" " + PG_TYPES[c.type])
                    for c in spec.columns
                )
                cur.execute(sql.SQL("CREATE TABLE {} ({})").format(target, cols))
                self._columns.pop(spec.name, None)
            else:
                have = set(self.columns(spec.name))
                self.add_columns(spec.name, [c for c in spec.columns if c.name not in have])
            cur.execute(
                sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})").format(
                    sql.Identifier(_index_name(spec.name, spec.primary_key)),
                    target,
                    sql.SQL(", ").join(sql.Identifier(k) for k in spec.primary_key),
                )
            )

    @contextmanager
    def transaction(self, spec: TableSpec, *, replace: bool = False) -> Iterator[Transaction]:
        try:
            with translated(psycopg.Error, "postgres"), self.conn.transaction():
                if replace:
                    with self.conn.cursor() as cur:
                        cur.execute(
                            sql.SQL("DELETE FROM {}").format(sql.Identifier(self.schema, spec.name))
                        )
                yield _PgTransaction(self, spec)
        except BaseException:
            self._columns.pop(spec.name, None)
            raise

    def close(self) -> None:
        """Give the schema's lock back before closing: the server frees a closed session's
        locks only once it has noticed the disconnect, so a sync started right after this one
        could otherwise be told the destination is busy."""
        if not self.read_only and not self.conn.closed:
            with contextlib.suppress(psycopg.Error), self.conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", [lock_key(self.schema)])
        self.conn.close()
        super().close()


__all__ = ["PG_TYPES", "PostgresDestination", "lock_key", "redact_url", "split_schema"]
