"""Taxonomy (reference §14), derived from what was ingested: the event types, event property
and user property names seen in stored events; and categories (created, listed, renamed,
deleted; ids from 4000, per project)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import duckdb

from ampkit.server.catalog import next_id

Connection = duckdb.DuckDBPyConnection
FIRST_CATEGORY_ID = 4_000
PropertyColumn = Literal["event_properties", "user_properties"]


@dataclass(frozen=True)
class Category:
    id: int
    name: str


class CategoryExists(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def event_types(cur: Connection, project_id: int) -> list[str]:
    rows = cur.execute("SELECT DISTINCT event_type FROM events WHERE project_id = ? ORDER BY 1",
                       [project_id]).fetchall()
    return [r[0] for r in rows]


def property_names(cur: Connection, project_id: int, column: PropertyColumn,
                   event_type: str | None = None) -> list[str]:
    """The keys of ``column`` in the project's events (of ``event_type`` only, when given)."""
    if column not in ("event_properties", "user_properties"):
        raise ValueError(f"not a property column: {column!r}")
    rows = cur.execute(
        f"SELECT DISTINCT unnest(json_keys({column})) AS k FROM events "  # noqa: S608 -- checked name
        "WHERE project_id = ? AND (?::VARCHAR IS NULL OR event_type = ?) ORDER BY k",
        [project_id, event_type or None, event_type or None]).fetchall()
    return [r[0] for r in rows]


def categories(cur: Connection, project_id: int) -> list[Category]:
    rows = cur.execute("SELECT id, name FROM taxonomy_categories WHERE project_id = ? "
                       "ORDER BY id", [project_id]).fetchall()
    return [Category(cid, name) for cid, name in rows]


def create_category(con: Connection, project_id: int, name: str) -> Category:
    """A new category (:class:`CategoryExists` when the name is taken)."""
    if any(c.name == name for c in categories(con, project_id)):
        raise CategoryExists(name)
    cid = next_id(con, "taxonomy_categories", project_id, FIRST_CATEGORY_ID)
    con.execute("INSERT INTO taxonomy_categories VALUES (?, ?, ?)", [project_id, cid, name])
    return Category(cid, name)


def _by_id(con: Connection, project_id: int, category_id: str) -> int | None:
    """The category whose id reads ``category_id`` (ids come as path text)."""
    row = con.execute("SELECT id FROM taxonomy_categories WHERE project_id = ? AND "
                      "CAST(id AS VARCHAR) = ?", [project_id, category_id]).fetchone()
    return None if row is None else int(row[0])


def rename_category(con: Connection, project_id: int, category_id: str, name: str) -> bool:
    """``False`` when no category has this id."""
    cid = _by_id(con, project_id, category_id)
    if cid is None:
        return False
    con.execute("UPDATE taxonomy_categories SET name = ? WHERE project_id = ? AND id = ?",
                [name, project_id, cid])
    return True


def delete_category(con: Connection, project_id: int, category_id: str) -> bool:
    """``False`` when no category has this id."""
    cid = _by_id(con, project_id, category_id)
    if cid is None:
        return False
    con.execute("DELETE FROM taxonomy_categories WHERE project_id = ? AND id = ?",
                [project_id, cid])
    return True
