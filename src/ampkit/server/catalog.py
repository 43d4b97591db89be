"""Server-side objects that are not events: annotations (v2 and v3), their categories,
cohorts and their members, cohort download requests, taxonomy categories.  Kept in DuckDB
next to the events (so a ``--db`` server keeps them), created on first start."""

from __future__ import annotations

import duckdb

DDL = (
    """CREATE TABLE IF NOT EXISTS annotation_categories (
        project_id INTEGER, id BIGINT, name VARCHAR, PRIMARY KEY (project_id, id))""",
    """CREATE TABLE IF NOT EXISTS annotations (
        project_id INTEGER, id BIGINT, start_ts VARCHAR, end_ts VARCHAR, label VARCHAR,
        details VARCHAR, category_id BIGINT, chart_id VARCHAR, PRIMARY KEY (project_id, id))""",
    """CREATE TABLE IF NOT EXISTS cohorts (
        project_id INTEGER, id VARCHAR, name VARCHAR, description VARCHAR, owner VARCHAR,
        published BOOLEAN, count_group VARCHAR, created_at BIGINT, last_mod BIGINT,
        archived BOOLEAN, PRIMARY KEY (project_id, id))""",
    """CREATE TABLE IF NOT EXISTS cohort_members (
        project_id INTEGER, cohort_id VARCHAR, amplitude_id BIGINT,
        PRIMARY KEY (project_id, cohort_id, amplitude_id))""",
    """CREATE TABLE IF NOT EXISTS cohort_requests (
        project_id INTEGER, request_id VARCHAR, cohort_id VARCHAR, props BOOLEAN,
        prop_keys VARCHAR, polls INTEGER, PRIMARY KEY (project_id, request_id))""",
    """CREATE TABLE IF NOT EXISTS taxonomy_categories (
        project_id INTEGER, id BIGINT, name VARCHAR, PRIMARY KEY (project_id, id))""",
)

TABLES = tuple(ddl.split("EXISTS", 1)[1].split("(", 1)[0].strip() for ddl in DDL)


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables a store does not have yet."""
    for ddl in DDL:
        con.execute(ddl)


def next_id(con: duckdb.DuckDBPyConnection, table: str, project_id: int, start: int = 1) -> int:
    """The next integer id of ``table`` (call inside the writer's transaction: it serialises
    ids)."""
    row = con.execute(
        f"SELECT max(id) FROM {table} WHERE project_id = ?",  # noqa: S608 -- a table of ours
        [project_id]).fetchone()
    return max(start, (row[0] or 0) + 1) if row else start


def clear(con: duckdb.DuckDBPyConnection, project_id: int) -> None:
    """Forget a project's annotations, cohorts and categories (admin reset)."""
    for table in TABLES:
        con.execute(f"DELETE FROM {table} WHERE project_id = ?",  # noqa: S608 -- a table of ours
                    [project_id])
