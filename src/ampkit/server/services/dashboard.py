"""Dashboard REST queries (reference §10) and saved charts, run on a read cursor: every query
of one request inside one read transaction (one snapshot).  The computers themselves live in
:mod:`ampkit.server.query`."""

from __future__ import annotations

from typing import Any

import duckdb

from ampkit.server.config import ProjectConfig
from ampkit.server.query import charts
from ampkit.server.query.clock import Clock
from ampkit.server.query.common import Ctx, QueryParams
from ampkit.server.query.endpoints import Compute

Connection = duckdb.DuckDBPyConnection


def compute(cur: Connection, project: ProjectConfig, computer: Compute,
            params: QueryParams) -> Any:
    """The computer's answer for the project (it raises ``QueryError`` for a bad parameter)."""
    cur.execute("BEGIN TRANSACTION")  # one snapshot for every query of the request
    try:
        return computer(Ctx(cur, project.project_id, Clock(project.timezone)), params)
    finally:
        cur.execute("ROLLBACK")


def saved_chart(cur: Connection, project_id: int, chart_id: str) -> tuple[str, str] | None:
    """A saved chart's ``(endpoint, params JSON)``, or ``None``."""
    row = cur.execute("SELECT endpoint, params FROM charts WHERE project_id = ? AND "
                      "chart_id = ?", [project_id, chart_id]).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


class UnknownChart(LookupError):
    """The project has no saved chart with this id."""


def chart(cur: Connection, project: ProjectConfig, chart_id: str,
          overrides: QueryParams) -> Any:
    """A saved chart's answer (``overrides`` replace its ``start``/``end``);
    :class:`UnknownChart`."""
    found = saved_chart(cur, project.project_id, chart_id)
    if found is None:
        raise UnknownChart(chart_id)
    path, raw = found

    def run(ctx: Ctx, params: QueryParams) -> Any:
        return charts.run(ctx, path, params, overrides)

    return compute(cur, project, run, charts.stored_params(raw))


def save_chart(con: Connection, project_id: int, chart_id: str, endpoint: str,
               params: QueryParams) -> None:
    con.execute("INSERT OR REPLACE INTO charts VALUES (?, ?, ?, ?)",
                [project_id, chart_id, endpoint, charts.as_json(params)])
