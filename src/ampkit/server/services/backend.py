"""What the routes reach of the server: its configuration, projects, limits and faults — and
the store, only by handing a service function to :meth:`Backend.read`, :meth:`Backend.write`,
:meth:`Backend.with_state` or :meth:`Backend.call`, which run it in a worker thread.  So no
DuckDB call and no wait on the store's lock ever happens on the event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

import duckdb
from starlette.concurrency import run_in_threadpool

from ampkit.server.config import ProjectConfig, ServerConfig
from ampkit.server.faults import Faults
from ampkit.server.limits import DashboardLimits, ProfileLimits
from ampkit.server.state import ProjectState
from ampkit.server.store import Store

P = ParamSpec("P")
T = TypeVar("T")
Connection = duckdb.DuckDBPyConnection


class Backend:
    """The objects behind one app (kept in ``app.state.backend``)."""

    def __init__(self, store: Store, faults: Faults) -> None:
        self._store = store
        self.faults = faults

    @property
    def config(self) -> ServerConfig:
        return self._store.config

    @property
    def dashboard_limits(self) -> DashboardLimits:
        return self._store.dashboard_limits

    @property
    def profile_limits(self) -> ProfileLimits:
        return self._store.profile_limits

    # --- projects (in memory, from the configuration) --------------------------------------
    def project_for_key(self, api_key: str) -> ProjectConfig | None:
        return self._store.projects_by_key.get(api_key)

    def project_for_basic(self, api_key: str, secret_key: str) -> ProjectConfig | None:
        return self._store.project_for_basic(api_key, secret_key)

    def project_for_secret(self, secret_key: str) -> ProjectConfig | None:
        return self._store.project_for_secret(secret_key)

    # --- the store, in a worker thread -----------------------------------------------------
    async def read(self, fn: Callable[Concatenate[Connection, P], T],
                   *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(cursor, …)`` on a fresh read cursor (no lock: DuckDB gives it a snapshot)."""
        def work() -> T:
            cur = self._store.cursor()
            try:
                return fn(cur, *args, **kwargs)
            finally:
                cur.close()

        return await run_in_threadpool(work)

    async def write(self, fn: Callable[Concatenate[Connection, P], T],
                    *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(connection, …)`` in one transaction on the writer connection, under the store's
        lock: committed when it returns, rolled back if it raises."""
        def work() -> T:
            with self._store.transaction() as con:
                return fn(con, *args, **kwargs)

        return await run_in_threadpool(work)

    async def with_state(self, project_id: int,
                         fn: Callable[Concatenate[Connection, ProjectState, P], T],
                         *args: P.args, **kwargs: P.kwargs) -> T:
        """Like :meth:`write`, with the project's in-memory state (users, identities) as the
        second argument — read under the same lock that ingestion changes it under."""
        def work() -> T:
            with self._store.transaction() as con:
                return fn(con, self._store.states[project_id], *args, **kwargs)

        return await run_in_threadpool(work)

    async def call(self, fn: Callable[Concatenate[Store, P], T],
                   *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(store, …)``: the services that work on the whole store (ingestion, identify,
        the admin routes), which take its lock themselves."""
        def work() -> T:
            return fn(self._store, *args, **kwargs)

        return await run_in_threadpool(work)
