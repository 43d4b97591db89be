"""The server's DuckDB store: events, users, identities and groups, plus the in-memory
indexes that make ingestion fast.  One writer lock; each request commits in one transaction,
so an acknowledged request is on disk (with ``--db``) before its 200 is sent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from ampkit.server.config import ProjectConfig, ServerConfig
from ampkit.server.dedup import CAPACITY, SeenFilter
from ampkit.server.filters import EventFilter, time_column
from ampkit.server.limits import DashboardLimits, ProfileLimits
from ampkit.server.schema import (
    BATCH_COLUMNS,
    DDL,
    EVENT_COLUMNS,
    EXPORT_SELECT,
    MIGRATIONS,
    BadEventRow,
    BadRequestRow,
    EventBatch,
    dedup_hash,
    dedup_key,
    export_dict,
    insert_sql,
)
from ampkit.server.state import DAY_MS, GroupState, ProjectState, UserState
from ampkit.server.throttle import Throttle

FIRST_AMPLITUDE_ID = 100_000_000_001
_EPOCH = dt.datetime(1970, 1, 1)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _ms(value: dt.datetime | None) -> int | None:
    return None if value is None else (value - _EPOCH) // dt.timedelta(milliseconds=1)


def _ts(ms: int | None) -> dt.datetime | None:
    return None if ms is None else _EPOCH + dt.timedelta(milliseconds=ms)


def _where(project_id: int, match: EventFilter) -> tuple[str, list[Any]]:
    clauses, values = match.conditions()
    return " AND ".join(["project_id = ?", *clauses]), [project_id, *values]


class StoreFailure(Exception):
    """The store could not take a request: nothing of it was kept, in the tables or in memory
    (answered 500, so the client resends the same events later)."""


_ARROW_TYPES = {"BIGINT": pa.int64(), "INTEGER": pa.int32(), "UBIGINT": pa.uint64(),
                "VARCHAR": pa.string(), "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_()}


def _from_arrow(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table, sql: str,
                params: list[Any] | None = None) -> None:
    """Run ``sql`` with ``table`` visible as ``name`` (DuckDB reads the Arrow columns as they
    are: no Python value is converted on the way)."""
    con.register(name, table)
    try:
        con.execute(sql, params)
    finally:
        con.unregister(name)


def _joined(batches: list[EventBatch]) -> EventBatch:
    """One project's batches of a group as one (they share the group's time)."""
    if len(batches) == 1:
        return batches[0]
    first = batches[0]
    return EventBatch({name: [v for b in batches for v in b.columns[name]]
                       for name in first.columns}, first.now_ms)


def _owner_only(path: Path) -> None:
    """Event data stays readable by its owner only (a shared machine, reference: issue 13)."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)


class Store:
    """All stored data of all projects of one server."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.path: Path | None = config.db
        target = str(config.db) if config.db is not None else ":memory:"
        if config.db is not None:
            config.db.parent.mkdir(parents=True, exist_ok=True)
        settings: dict[str, str | bool | int | float | list[str]] = (
            {"memory_limit": config.memory_limit} if config.memory_limit else {})
        self.con = duckdb.connect(target, config=settings)
        self._wal = None if config.db is None else config.db.with_name(config.db.name + ".wal")
        if config.db is not None:
            _owner_only(config.db)
        self.lock = threading.RLock()
        self.ingest_waiting: deque[Any] = deque()
        """Ingestion requests checked and waiting for :attr:`lock`: whoever takes it next
        stores every one waiting, in one transaction (``services.ingestion``)."""
        for ddl in (*DDL, *MIGRATIONS):
            self.con.execute(ddl)
        self._insert = insert_sql("_ampkit_batch")
        self.projects_by_key = {p.api_key.get_secret_value(): p for p in config.projects}
        self.projects = {p.project_id: p for p in config.projects}
        self.dedup_window_ms = int(config.limits.dedup_window_days * DAY_MS)
        self.states = {pid: ProjectState(pid) for pid in self.projects}
        self.throttles = {
            (pid, api): Throttle(
                config.throttle,
                config.throttle.httpapi_eps if api == "httpapi" else config.throttle.batch_eps,
            )
            for pid in self.projects
            for api in ("httpapi", "batch")
        }
        self.counters: dict[str, int] = {"requests": 0, "duplicates": 0, "faults_injected": 0,
                                          "rejected": 0, "store_failures": 0}
        """Server-wide, since it started (a project's own are in its state, reset with it);
        only the operator sees these (the Python API), never a project's key."""
        self._seq = 0
        self.next_amplitude_id = FIRST_AMPLITUDE_ID
        self.dashboard_limits = DashboardLimits(config.dashboard_limits)
        self.profile_limits = ProfileLimits(config.profile_limits)
        self.seen = SeenFilter()
        """The deduplication keys stored in the window, as a Bloom filter (:mod:`.dedup`)."""
        self._seen_limit = CAPACITY
        self._load()

    # --- lifecycle -------------------------------------------------------------------------
    def _load(self) -> None:
        """Rebuild the in-memory indexes from the tables (a restarted ``--db`` server)."""
        self._load_counters()
        self._backfill_dedup_hashes()
        self.rebuild_seen()
        for pid in self.projects:
            self.states[pid] = self._load_project(pid)

    def _load_counters(self) -> None:
        row = self.con.execute("SELECT max(seq), max(amplitude_id) FROM events").fetchone()
        # every Amplitude ID ever handed out, merged-away ones too (their events and user
        # rows are gone, and a new user must never get one: it answers as the merged user)
        urow = self.con.execute(
            "SELECT greatest((SELECT max(amplitude_id) FROM users), "
            "(SELECT max(amplitude_id) FROM merges), (SELECT max(merged_into) FROM merges), "
            "(SELECT max(amplitude_id) FROM identities))").fetchone()
        self._seq = (row[0] if row and row[0] is not None else 0)
        top = max(
            (row[1] if row and row[1] is not None else 0),
            (urow[0] if urow and urow[0] is not None else 0),
        )
        self.next_amplitude_id = max(self.next_amplitude_id, FIRST_AMPLITUDE_ID, top + 1)

    def _load_project(self, pid: int) -> ProjectState:
        """One project's users, identities and groups, as the tables hold them."""
        state = ProjectState(pid)
        for _, amp, uid, did, props, fields, first, last, paying in self.con.execute(
            "SELECT * FROM users WHERE project_id = ?", [pid]
        ).fetchall():
            state.users[amp] = UserState(
                pid, amp, uid, did, orjson.loads(props or "{}"), _ms(first), _ms(last),
                bool(paying), orjson.loads(fields or "{}"),
            )
        for kind, key, amp in self.con.execute(
            "SELECT kind, key, amplitude_id FROM identities WHERE project_id = ?", [pid]
        ).fetchall():
            (state.by_user if kind == "u" else state.by_device)[key] = amp
        for gone, into in self.con.execute(
            "SELECT amplitude_id, merged_into FROM merges WHERE project_id = ?", [pid]
        ).fetchall():
            state.merged[gone] = into
        for gtype, gvalue, props in self.con.execute(
            "SELECT group_type, group_value, group_properties FROM groups_state "
            "WHERE project_id = ?", [pid]
        ).fetchall():
            state.groups[(gtype, gvalue)] = GroupState(pid, gtype, gvalue,
                                                       orjson.loads(props or "{}"))
        return state

    def _backfill_dedup_hashes(self) -> None:
        """Events an older ampkit stored have no ``dedup_hash``: hash those still inside the
        deduplication window, so their insert_ids keep counting."""
        horizon = _ts(now_ms() - self.dedup_window_ms)
        rows = self.con.execute(
            "SELECT seq, user_id, device_id, insert_id FROM events WHERE dedup_hash IS NULL "
            "AND insert_id IS NOT NULL AND server_upload_time >= ?", [horizon]).fetchall()
        if not rows:
            return
        with self.transaction() as con:
            con.execute(
                "UPDATE events SET dedup_hash = h.h FROM (SELECT UNNEST($1::BIGINT[]) AS seq, "
                "UNNEST($2::UBIGINT[]) AS h) AS h WHERE events.seq = h.seq",
                [[r[0] for r in rows], [dedup_hash(dedup_key(r[1], r[2], r[3])) for r in rows]])

    def rebuild_seen(self) -> None:
        """Fill :attr:`seen` again from the keys stored inside the deduplication window only
        (keys of older events and of reset projects leave it).  The caller holds the lock."""
        self.seen.clear()
        hashes = self.con.execute(
            "SELECT dedup_hash FROM events WHERE dedup_hash IS NOT NULL "
            "AND server_upload_time >= ?", [_ts(now_ms() - self.dedup_window_ms)],
        ).fetchnumpy()["dedup_hash"]
        self.seen.add(np.asarray(hashes, dtype=np.uint64))
        self._seen_limit = max(CAPACITY, 2 * self.seen.count)

    def recover(self, project_id: int) -> None:
        """After a failed write: forget what memory holds of the project and take it again from
        the tables, which the failed transaction left untouched.  The caller holds the lock."""
        counters = self.states[project_id].counters
        self.states[project_id] = self._load_project(project_id)
        self.states[project_id].counters = counters
        self._load_counters()

    def close(self) -> None:
        with self.lock:
            try:
                if self.path is not None:
                    self.con.execute("CHECKPOINT")
            finally:
                self.con.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for read-only queries, usable from another thread."""
        return self.con.cursor()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction on the writer connection: committed when the block ends, rolled
        back if it raises — or if the commit itself fails."""
        with self.lock:
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield self.con
                self.con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    self.con.execute("ROLLBACK")
                raise
            finally:
                if self._wal is not None:
                    _owner_only(self._wal)

    def next_seq(self) -> int:
        return self._seq + 1

    # --- writes ----------------------------------------------------------------------------
    def recent_insert_ids(
        self, project_id: int, keys: Sequence[tuple[str, str]], hashes: Sequence[int],
        at_ms: int,
    ) -> set[tuple[str, str]]:
        """Which of ``keys`` (:func:`dedup_key`, with their :func:`dedup_hash` in ``hashes``)
        a stored event of the project carries, sent less than the deduplication window (7 days)
        before ``at_ms``.  Only the keys :attr:`seen` may hold are looked up in the table."""
        if not keys:
            return set()
        wanted = np.array(hashes, dtype=np.uint64)
        maybe = self.seen.may_contain(wanted)
        if not maybe.any():
            return set()
        rows = self.con.execute(
            "SELECT user_id, device_id, insert_id FROM events WHERE project_id = ? "
            "AND server_upload_time >= ? AND dedup_hash IN (SELECT UNNEST(?::UBIGINT[]))",
            [project_id, _ts(at_ms - self.dedup_window_ms), wanted[maybe].tolist()],
        ).fetchall()
        found = {dedup_key(uid, did, ins) for uid, did, ins in rows}
        return found & set(keys)  # a hash collision is not a duplicate

    def write(self, project_id: int, batch: EventBatch | None) -> None:
        """Insert a request's event rows and write through the users, identities and groups
        it changed, in one transaction (:meth:`write_many` of one part)."""
        self.write_many([(project_id, batch)])

    def write_many(self, parts: Sequence[tuple[int, EventBatch | None]]) -> None:
        """Insert the event rows of several requests taken together (each part a project and
        the rows built for it, in arrival order) and write through the users, identities and
        groups they changed — all in one transaction, so a group of requests is stored whole
        or not at all, and pays for one statement per table and one commit.

        The caller holds :attr:`lock` (state was changed under it); if this raises, nothing was
        written and the caller must :meth:`recover` each part's project."""
        by_project: dict[int, list[EventBatch]] = {}
        for project_id, batch in parts:
            rows = by_project.setdefault(project_id, [])
            if batch is not None and len(batch):
                rows.append(batch)
        users: list[UserState] = []
        groups: list[GroupState] = []
        ids: list[tuple[int, tuple[str, str], int]] = []
        merges: list[tuple[int, int, int]] = []
        for project_id in by_project:
            touched_users, touched_groups, touched_ids, touched_merges = (
                self.states[project_id].take_touched())
            merges += [(project_id, gone, into) for gone, into in touched_merges]
            users += touched_users
            groups += touched_groups
            ids += [(project_id, key, amp) for key, amp in touched_ids.items()]
        batches = [(pid, _joined(rows)) for pid, rows in by_project.items() if rows]
        with self.transaction() as con:
            for project_id, batch in batches:
                table = pa.table([self._column(values, kind) for values, kind in (
                    (batch.columns[name], kind) for name, kind in BATCH_COLUMNS)],
                    names=[name for name, _ in BATCH_COLUMNS])
                _from_arrow(con, "_ampkit_batch", table, self._insert,
                            [project_id, batch.now_ms])
            for project_id, gone, into in merges:  # after the rows of this very request
                self._write_merge(con, project_id, gone, into)
            if users:
                self._write_users(con, users)
            if ids:
                _from_arrow(con, "_ampkit_ids", pa.table({
                    "project_id": pa.array([i[0] for i in ids], pa.int32()),
                    "kind": pa.array([i[1][0] for i in ids], pa.string()),
                    "key": pa.array([i[1][1] for i in ids], pa.string()),
                    "amplitude_id": pa.array([i[2] for i in ids], pa.int64())}),
                    "INSERT OR REPLACE INTO identities SELECT * FROM _ampkit_ids")
            if groups:
                con.execute(
                    "INSERT OR REPLACE INTO groups_state SELECT UNNEST($1::INTEGER[]), "
                    "UNNEST($2::VARCHAR[]), UNNEST($3::VARCHAR[]), UNNEST($4::VARCHAR[])",
                    [[g.project_id for g in groups], [g.group_type for g in groups],
                     [g.group_value for g in groups],
                     [orjson.dumps(g.group_properties).decode() for g in groups]],
                )
        for _, batch in batches:
            self._seq = max(self._seq, batch.columns["seq"][-1])
            self.seen.add(np.array([h for h in batch.columns["dedup_hash"] if h is not None],
                                   dtype=np.uint64))
        if self.seen.count > self._seen_limit:
            self.rebuild_seen()

    def _column(self, values: list[Any], kind: str) -> pa.Array:
        """One column of a batch as Arrow.  A text column may hold other JSON values where
        nothing checks their type (``start_version``): those are written as DuckDB casts them
        to text, as when the rows were bound as lists."""
        try:
            return pa.array(values, _ARROW_TYPES[kind])
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            if kind != "VARCHAR":
                raise
            return pa.array([v if v is None or isinstance(v, str) else self._as_text(v)
                             for v in values], pa.string())

    def _as_text(self, value: Any) -> str:
        try:
            rows = self.con.execute("SELECT $1::VARCHAR", [value]).fetchall()
        except duckdb.Error:
            rows = []
        return str(rows[0][0]) if rows else orjson.dumps(value).decode()

    @staticmethod
    def _write_merge(con: duckdb.DuckDBPyConnection, project_id: int, gone: int,
                     into: int) -> None:
        """The anonymous user ``gone`` merged into ``into``: its events move to ``into``, its
        row goes, and the merge is kept (for ``merged_amplitude_ids``; an anonymous user is
        never a merge's target, so no earlier merge points to ``gone``)."""
        con.execute("UPDATE events SET amplitude_id = ? WHERE project_id = ? "
                    "AND amplitude_id = ?", [into, project_id, gone])
        con.execute("DELETE FROM users WHERE project_id = ? AND amplitude_id = ?",
                    [project_id, gone])
        con.execute("INSERT OR REPLACE INTO merges VALUES (?, ?, ?)", [project_id, gone, into])

    def _write_users(self, con: duckdb.DuckDBPyConnection, users: list[UserState]) -> None:
        dumps = orjson.dumps
        _from_arrow(con, "_ampkit_users", pa.table({
            "project_id": pa.array([u.project_id for u in users], pa.int32()),
            "amplitude_id": pa.array([u.amplitude_id for u in users], pa.int64()),
            "user_id": pa.array([u.user_id for u in users], pa.string()),
            "device_id": pa.array([u.device_id for u in users], pa.string()),
            "user_properties": pa.array([dumps(u.user_properties).decode() for u in users],
                                        pa.string()),
            "fields": pa.array([dumps(u.fields).decode() for u in users], pa.string()),
            "first_seen": pa.array([u.first_seen_ms for u in users], pa.int64()),
            "last_seen": pa.array([u.last_seen_ms for u in users], pa.int64()),
            "paying": pa.array([u.paying for u in users], pa.bool_()),
        }), "INSERT OR REPLACE INTO users SELECT project_id, amplitude_id, user_id, device_id, "
            "user_properties, fields, epoch_ms(first_seen), epoch_ms(last_seen), paying "
            "FROM _ampkit_users")

    def reset(self, project_id: int) -> None:
        """Forget everything of one project (admin route, tests)."""
        with self.transaction() as con:
            for table in ("events", "users", "identities", "merges", "groups_state", "charts",
                          "bad_events", "bad_requests"):
                con.execute(f"DELETE FROM {table} WHERE project_id = ?",  # noqa: S608 -- a table of ours
                            [project_id])
        with self.lock:
            self.states[project_id] = ProjectState(project_id)
            for (pid, _), throttle in self.throttles.items():
                if pid == project_id:
                    throttle.reset()
            self.dashboard_limits.reset(project_id)
            self.profile_limits.reset(project_id)  # the window is org-wide: only its entries

    def add_project(self, project: ProjectConfig) -> None:
        """Serve one more project from now on (the operator's Python API: the pytest plugin
        gives each test a project of its own).  Its id, API key and secret key must be new to
        this server; with ``--db``, what the file already holds for the id is loaded.

        The lookup tables are replaced, never changed in place, so a request being answered
        meanwhile sees the old tables or the new ones, whole."""
        with self.lock:
            if project.project_id in self.projects:
                raise ValueError(f"project_id: {project.project_id} is already served")
            key, secret = project.api_key.get_secret_value(), project.secret_key.get_secret_value()
            if key in self.projects_by_key:
                raise ValueError("api_key: another project of this server has it")
            if any(p.secret_key.get_secret_value() == secret for p in self.projects.values()):
                raise ValueError("secret_key: another project of this server has it")
            pid = project.project_id
            self.states = {**self.states, pid: self._load_project(pid)}
            self.throttles = {**self.throttles, **{
                (pid, api): Throttle(self.config.throttle, self.config.throttle.httpapi_eps
                                     if api == "httpapi" else self.config.throttle.batch_eps)
                for api in ("httpapi", "batch")}}
            self.projects = {**self.projects, pid: project}
            self.projects_by_key = {**self.projects_by_key, key: project}
            self.config.projects = [*self.config.projects, project]

    def count(self, key: str, n: int, project_id: int) -> None:
        """Add ``n`` to counter ``key``: server-wide and the project's own."""
        self.counters[key] += n
        self.states[project_id].counters[key] += n

    # --- reads -----------------------------------------------------------------------------
    def project_for_basic(self, api_key: str, secret_key: str) -> ProjectConfig | None:
        project = self.projects_by_key.get(api_key)
        if project is None or project.secret_key.get_secret_value() != secret_key:
            return None
        return project

    def project_for_secret(self, secret_key: str) -> ProjectConfig | None:
        for project in self.projects.values():
            if project.secret_key.get_secret_value() == secret_key:
                return project
        return None

    def events_page(self, project_id: int, limit: int, offset: int) -> list[dict[str, Any]]:
        return [event for _, event in self.find_events(project_id, EventFilter(), limit, offset)]

    def find_events(self, project_id: int, match: EventFilter, limit: int, offset: int = 0, *,
                    newest_first: bool = False) -> list[tuple[int, dict[str, Any]]]:
        """The project's events that ``match``, in arrival order (or newest first), each with
        its arrival number (``seq``: the cursor of ``/_ampkit/events``)."""
        where, values = _where(project_id, match)
        rows = self.cursor().execute(
            f"SELECT {EXPORT_SELECT} FROM events WHERE {where} "  # noqa: S608 -- our columns
            f"ORDER BY seq {'DESC' if newest_first else 'ASC'} LIMIT ? OFFSET ?",
            [*values, limit, offset]).fetchall()
        return [(row[0], export_dict(row)) for row in rows]

    def count_by_bucket(self, project_id: int, match: EventFilter,
                        interval: str) -> list[tuple[dt.datetime, str | None, int]]:
        """(bucket start, event type, events) of the events that ``match``, per ``interval``
        (``minute``, ``hour`` or ``day``) of their ``match.time_field``, in time order."""
        unit = {"minute": "minute", "hour": "hour", "day": "day"}[interval]
        where, values = _where(project_id, match)
        return [(bucket, etype, int(n)) for bucket, etype, n in self.cursor().execute(
            f"SELECT date_trunc('{unit}', {time_column(match.time_field)}) AS bucket, "  # noqa: S608 -- ours
            f"event_type, count(*) FROM events WHERE {where} GROUP BY ALL ORDER BY bucket",
            values).fetchall()]

    def count_events(self, project_id: int) -> int:
        row = self.cursor().execute(
            "SELECT count(*) FROM events WHERE project_id = ?", [project_id]
        ).fetchone()
        return int(row[0]) if row else 0

    def user_snapshot(self, project_id: int, user_id: str) -> dict[str, Any] | None:
        with self.lock:
            user = self.states[project_id].user_by_id(user_id)
            if user is None:
                return None
            return {
                "amplitude_id": user.amplitude_id, "user_id": user.user_id,
                "device_id": user.device_id, "user_properties": dict(user.user_properties),
                "fields": dict(user.fields), "paying": user.paying,
                "first_seen": _ts(user.first_seen_ms), "last_seen": _ts(user.last_seen_ms),
            }

    def group_snapshot(self, project_id: int, gtype: str, gvalue: str) -> dict[str, Any] | None:
        with self.lock:
            group = self.states[project_id].groups.get((gtype, gvalue))
            if group is None:
                return None
            return {"group_type": gtype, "group_value": gvalue,
                    "group_properties": dict(group.group_properties)}

    # --- the bad-event bucket (tracking plans, refused requests) ---------------------------
    def record_bad(self, project_id: int, request: BadRequestRow, rows: Sequence[BadEventRow],
                   keep: int) -> None:
        """Add ``rows`` (all from ``request``, stored once) to the project's bucket, keeping
        its newest ``keep`` rows and the requests they name; one transaction."""
        at = _ts(now_ms())
        with self.transaction() as con:
            top = con.execute("SELECT coalesce(max(id), 0) FROM bad_events").fetchone()
            first = (int(top[0]) if top else 0) + 1
            con.execute("INSERT INTO bad_requests VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [project_id, request.request_id, at, request.path, request.size,
                         request.truncated, request.body])
            names = ("kind", "event_type", "insert_id", "rule", "path", "disposition", "event")
            table = pa.table([pa.array(range(first, first + len(rows)), pa.int64()),
                              *(pa.array([getattr(r, n) for r in rows], pa.string())
                                for n in names)], names=["id", *names])
            _from_arrow(con, "_ampkit_bad", table,
                        f"INSERT INTO bad_events SELECT id, ?, ?, {', '.join(names)}, ?, ? "  # noqa: S608 -- our names
                        "FROM _ampkit_bad", [project_id, at, request.request_id, request.path])
            oldest = con.execute(
                "SELECT id FROM bad_events WHERE project_id = ? ORDER BY id DESC LIMIT 1 "
                "OFFSET ?", [project_id, keep]).fetchone()
            if oldest is not None:
                con.execute("DELETE FROM bad_events WHERE project_id = ? AND id <= ?",
                            [project_id, oldest[0]])
                con.execute("DELETE FROM bad_requests WHERE project_id = ? AND request_id NOT "
                            "IN (SELECT request_id FROM bad_events WHERE project_id = ?)",
                            [project_id, project_id])

    def bad_events_page(self, project_id: int, limit: int, offset: int, *,
                        kind: str | None = None, event_type: str | None = None,
                        since: dt.datetime | None = None) -> tuple[list[dict[str, Any]], int]:
        """The project's bad events that match, newest first, and how many match in all
        (``since``: received at or after, UTC)."""
        where: list[str] = ["project_id = ?"]
        values: list[Any] = [project_id]
        for clause, value in (("kind = ?", kind), ("event_type = ?", event_type),
                              ("received_at >= ?", since)):
            if value is not None:
                where.append(clause)
                values.append(value)
        cond = " AND ".join(where)
        cur = self.cursor()
        try:
            total = cur.execute(f"SELECT count(*) FROM bad_events WHERE {cond}",  # noqa: S608 -- our clauses
                                values).fetchone()
            found = cur.execute(
                "SELECT id, received_at, kind, event_type, insert_id, rule, path, disposition, "  # noqa: S608 -- our clauses
                f"event, request_id, request_path FROM bad_events WHERE {cond} "
                "ORDER BY id DESC LIMIT ? OFFSET ?", [*values, limit, offset])
            names = [d[0] for d in found.description]
            rows = [dict(zip(names, row, strict=True)) for row in found.fetchall()]
        finally:
            cur.close()
        return rows, int(total[0]) if total else 0

    def bad_request(self, project_id: int, request_id: str) -> dict[str, Any] | None:
        """A request kept with its bad events (``None``: not kept, or not this project's)."""
        cur = self.cursor()
        try:
            found = cur.execute(
                "SELECT request_id, received_at, path, size, truncated, body FROM bad_requests "
                "WHERE project_id = ? AND request_id = ?", [project_id, request_id])
            names = [d[0] for d in found.description]
            row = found.fetchone()
        finally:
            cur.close()
        return None if row is None else dict(zip(names, row, strict=True))


__all__ = ["EVENT_COLUMNS", "Store", "StoreFailure", "now_ms"]
