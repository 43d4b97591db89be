"""Chart annotations and their categories (reference §11).

One ``annotations`` table serves v2 and v3: a v2 ``date`` is stored as a v3 ``start`` at
midnight UTC.  ``start``/``end`` are ISO 8601 text with an offset (the routes normalise them);
annotation ids start at 50000, category ids at 6000, per project."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from ampkit.server.catalog import next_id

Connection = duckdb.DuckDBPyConnection
FIRST_ID = 50_000
FIRST_CATEGORY_ID = 6_000


@dataclass(frozen=True)
class Category:
    id: int
    name: str | None


@dataclass(frozen=True)
class Annotation:
    id: int
    start: str
    end: str | None
    label: str
    details: str | None = None
    category: Category | None = None
    chart_id: str | None = None


@dataclass(frozen=True)
class New:
    """A new annotation's fields (``category``: a category's name)."""

    label: str
    start: str
    end: str | None = None
    details: str | None = None
    category: str | None = None
    chart_id: str | None = None


@dataclass(frozen=True)
class Update:
    """A change to an annotation: the fields named in ``given`` take the values here (``None``
    clears ``end``, ``details``, ``category`` and ``chart_id``; ``label`` and ``start`` must
    then be set), the others keep theirs."""

    given: frozenset[str] = field(default_factory=frozenset)
    label: str | None = None
    start: str | None = None
    end: str | None = None
    details: str | None = None
    category: str | None = None
    chart_id: str | None = None


class UnknownCategory(LookupError):
    """No category of the project has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class CategoryExists(ValueError):
    """Another category of the project has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


_SELECT = (
    "SELECT a.id, a.start_ts, a.end_ts, a.label, a.details, a.category_id, c.name, a.chart_id "
    "FROM annotations a LEFT JOIN annotation_categories c "
    "ON c.project_id = a.project_id AND c.id = a.category_id "
    "WHERE a.project_id = ? AND (?::BIGINT IS NULL OR a.id = ?) ORDER BY a.id")


def list_annotations(cur: Connection, project_id: int,
                annotation_id: int | None = None) -> list[Annotation]:
    """The project's annotations in id order (only ``annotation_id``'s when given)."""
    rows = cur.execute(_SELECT, [project_id, annotation_id, annotation_id]).fetchall()
    return [Annotation(aid, start, end, label, details,
                       None if cid is None else Category(cid, name), chart)
            for aid, start, end, label, details, cid, name, chart in rows]


def find(cur: Connection, project_id: int, annotation_id: int) -> Annotation | None:
    found = list_annotations(cur, project_id, annotation_id)
    return found[0] if found else None


def search(cur: Connection, project_id: int, *, category: str | None = None,
           chart_id: str | None = None, start: str | None = None,
           end: str | None = None) -> list[Annotation]:
    """The annotations in ``category`` (a name) or on ``chart_id``, starting at or after
    ``start`` and ending (or, without an end, starting) at or before ``end``."""
    found = list_annotations(cur, project_id)
    if category is not None:
        found = [a for a in found if a.category is not None and a.category.name == category]
    if chart_id is not None:
        found = [a for a in found if a.chart_id == chart_id]
    if start is not None:
        after = dt.datetime.fromisoformat(start)
        found = [a for a in found if dt.datetime.fromisoformat(a.start) >= after]
    if end is not None:
        before = dt.datetime.fromisoformat(end)
        found = [a for a in found if dt.datetime.fromisoformat(a.end or a.start) <= before]
    return found


def _category(con: Connection, project_id: int, name: str) -> Category:
    row = con.execute("SELECT id FROM annotation_categories WHERE project_id = ? AND name = ? "
                      "ORDER BY id LIMIT 1", [project_id, name]).fetchone()
    if row is None:
        raise UnknownCategory(name)
    return Category(row[0], name)


def create(con: Connection, project_id: int, new: New) -> Annotation:
    """The annotation stored (:class:`UnknownCategory` when ``category`` names none)."""
    cat = None if new.category is None else _category(con, project_id, new.category)
    aid = next_id(con, "annotations", project_id, FIRST_ID)
    con.execute("INSERT INTO annotations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [project_id, aid, new.start, new.end, new.label, new.details,
                 None if cat is None else cat.id, new.chart_id])
    return Annotation(aid, new.start, new.end, new.label, new.details, cat, new.chart_id)


def update(con: Connection, project_id: int, annotation_id: int,
           change: Update) -> Annotation | None:
    """The annotation after ``change``, or ``None`` when there is none with this id."""
    current = find(con, project_id, annotation_id)
    if current is None:
        return None
    given = change.given
    cat = current.category
    if "category" in given:
        cat = None if change.category is None else _category(con, project_id, change.category)
    new = Annotation(
        annotation_id,
        change.start if "start" in given and change.start is not None else current.start,
        change.end if "end" in given else current.end,
        change.label if "label" in given and change.label else current.label,
        change.details if "details" in given else current.details,
        cat,
        change.chart_id if "chart_id" in given else current.chart_id)
    con.execute("UPDATE annotations SET start_ts = ?, end_ts = ?, label = ?, details = ?, "
                "category_id = ?, chart_id = ? WHERE project_id = ? AND id = ?",
                [new.start, new.end, new.label, new.details,
                 None if cat is None else cat.id, new.chart_id, project_id, annotation_id])
    return new


def delete(con: Connection, project_id: int, annotation_id: int) -> bool:
    """``False`` when there was no annotation with this id."""
    rows = con.execute("DELETE FROM annotations WHERE project_id = ? AND id = ? RETURNING id",
                       [project_id, annotation_id]).fetchall()
    return bool(rows)


# --- categories ----------------------------------------------------------------------------
def categories(cur: Connection, project_id: int) -> list[Category]:
    rows = cur.execute("SELECT id, name FROM annotation_categories WHERE project_id = ? "
                       "ORDER BY id", [project_id]).fetchall()
    return [Category(cid, name) for cid, name in rows]


def category(cur: Connection, project_id: int, category_id: int) -> Category | None:
    row = cur.execute("SELECT id, name FROM annotation_categories WHERE project_id = ? AND "
                      "id = ?", [project_id, category_id]).fetchone()
    return None if row is None else Category(row[0], row[1])


def _name_taken(con: Connection, project_id: int, name: str, other_than: int | None) -> bool:
    row = con.execute("SELECT count(*) FROM annotation_categories WHERE project_id = ? AND "
                      "name = ? AND id IS DISTINCT FROM ?",
                      [project_id, name, other_than]).fetchone()
    return bool(row and row[0])


def create_category(con: Connection, project_id: int, name: str) -> Category:
    """A new category (:class:`CategoryExists` when the name is taken)."""
    if _name_taken(con, project_id, name, None):
        raise CategoryExists(name)
    cid = next_id(con, "annotation_categories", project_id, FIRST_CATEGORY_ID)
    con.execute("INSERT INTO annotation_categories VALUES (?, ?, ?)", [project_id, cid, name])
    return Category(cid, name)


def rename_category(con: Connection, project_id: int, category_id: int,
                    name: str) -> Category | None:
    """The renamed category, ``None`` when there is none with this id
    (:class:`CategoryExists` when another one has the name)."""
    if category(con, project_id, category_id) is None:
        return None
    if _name_taken(con, project_id, name, category_id):
        raise CategoryExists(name)
    con.execute("UPDATE annotation_categories SET name = ? WHERE project_id = ? AND id = ?",
                [name, project_id, category_id])
    return Category(category_id, name)


def delete_category(con: Connection, project_id: int, category_id: int) -> bool:
    """Delete the category (its annotations lose it); ``False`` when there was none."""
    rows = con.execute("DELETE FROM annotation_categories WHERE project_id = ? AND id = ? "
                       "RETURNING id", [project_id, category_id]).fetchall()
    con.execute("UPDATE annotations SET category_id = NULL WHERE project_id = ? AND "
                "category_id = ?", [project_id, category_id])
    return bool(rows)
