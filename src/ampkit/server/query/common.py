"""What every Dashboard family shares: the request's parameters, SQL fragments with bound
parameters, the request context, and the 400 that names a parameter and a rule.

- Parameters arrive as a multi-map (:class:`QueryParams`): ``e`` and ``s`` may repeat.  They
  are read with the endpoint's query model (:mod:`ampkit.server.query.endpoints`), whose
  problems become a :class:`QueryError` whose ``param`` is the query-string name (``e``,
  ``start``, ``i``…) and whose ``rule`` says what was expected.
- :class:`Sql` is a fragment of SQL text plus its bound arguments, in order.  User strings only
  ever travel as arguments (``?``); the text holds column names and operators chosen by code.
- Dates are ``YYYYMMDD`` (both ends inclusive), in the project's time zone (see
  :mod:`ampkit.server.query.clock`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from ampkit.server.query.clock import Clock

IDENTIFY_EVENTS = ("$identify", "$groupidentify")
"""Stored, but not user activity: they never make a user "active" or "new"."""
NONE_LABEL = "(none)"


class QueryError(Exception):
    """A bad Dashboard parameter: answered 400 with ``param`` and ``rule`` in the envelope
    (``where`` points inside a JSON parameter, e.g. ``.filters[0].subprop_op``).

    ``message`` and ``kind`` replace the envelope's ``message`` ("Invalid parameter <param>")
    and ``type`` (``invalid_request``) where Amplitude is known to answer otherwise; then the
    details are the rule alone, as Amplitude words them."""

    def __init__(self, param: str, rule: str, status: int = 400, where: str = "",
                 message: str | None = None, kind: str | None = None) -> None:
        super().__init__(f"{param}{where}: {rule}")
        self.param = param
        self.rule = rule
        self.status = status
        self.where = where
        self.message = message
        self.kind = kind

    @property
    def details(self) -> str:
        if self.message is not None:
            return self.rule
        return f"{self.param}{self.where}: {self.rule}"


class QueryParams:
    """The query string as ordered ``(name, value)`` pairs (names may repeat)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self.items: list[tuple[str, str]] = list(items)

    def get(self, name: str) -> str | None:
        for key, value in self.items:
            if key == name:
                return value
        return None

    def replace(self, **values: str) -> QueryParams:
        kept = [(k, v) for k, v in self.items if k not in values]
        return QueryParams([*kept, *values.items()])


# --- SQL fragments ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sql:
    """SQL text with its ``?`` arguments in order of appearance."""

    text: str
    args: tuple[Any, ...] = ()

    def __add__(self, other: Sql | str) -> Sql:
        if isinstance(other, str):
            return Sql(self.text + other, self.args)
        return Sql(self.text + other.text, self.args + other.args)

    def __radd__(self, other: str) -> Sql:
        return Sql(other + self.text, self.args)

    def wrap(self) -> Sql:
        return Sql(f"({self.text})", self.args)


def sql(text: str, *args: Any) -> Sql:
    if text.count("?") != len(args):
        raise ValueError(f"{text!r} has {text.count('?')} placeholders for {len(args)} args")
    return Sql(text, args)


def join(parts: Sequence[Sql], sep: str) -> Sql:
    out = Sql("")
    for i, part in enumerate(parts):
        out = out + (sep if i else "") + part
    return out


def all_of(parts: Sequence[Sql]) -> Sql:
    return join([p.wrap() for p in parts], " AND ") if parts else Sql("TRUE")


def any_of(parts: Sequence[Sql]) -> Sql:
    return join([p.wrap() for p in parts], " OR ") if parts else Sql("FALSE")


_SLOT = re.compile(r"\{(\w+)\}")


def template(text: str, **parts: Sql | str) -> Sql:
    """``template("SELECT {a} FROM t WHERE {b}", a=..., b=...)`` — arguments stay in order."""
    if "?" in _SLOT.sub("", text):
        raise ValueError("a template carries no arguments of its own")
    out = Sql("")
    pos = 0
    for match in _SLOT.finditer(text):
        out = out + text[pos:match.start()]
        part = parts[match.group(1)]
        out = out + (part if isinstance(part, Sql) else Sql(part))
        pos = match.end()
    return out + text[pos:]


@dataclass
class Ctx:
    """One request's view of the store: a DuckDB cursor, the project and its clock."""

    cur: duckdb.DuckDBPyConnection
    project_id: int
    clock: Clock
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(
        tzinfo=None))
    """Current UTC time (naive, like the stored timestamps)."""
    _ids: tuple[int, int] | None = None

    def id_range(self) -> tuple[int, int]:
        """The project's smallest and largest stored Amplitude ID (``(0, -1)`` when none);
        exact within the request's read transaction."""
        if self._ids is None:
            row = self.one(sql("SELECT min(amplitude_id), max(amplitude_id) FROM events "
                               "WHERE project_id = ?", self.project_id))
            self._ids = (int(row[0]), int(row[1])) if row and row[0] is not None else (0, -1)
        return self._ids

    def rows(self, query: Sql) -> list[tuple[Any, ...]]:
        return list(self.cur.execute(query.text, list(query.args)).fetchall())

    def one(self, query: Sql) -> tuple[Any, ...] | None:
        row = self.cur.execute(query.text, list(query.args)).fetchone()
        return tuple(row) if row is not None else None


# --- small formatting helpers ----------------------------------------------------------------


def label(value: Any) -> str:
    """A group value as Amplitude shows it: ``(none)`` when unset."""
    if value is None or value == "":
        return NONE_LABEL
    return str(value)


def number(value: Any) -> int | float:
    """A metric cell: ``int`` when whole, else ``float``; ``None``, NaN and ±infinity (a formula
    that overflowed; JSON has no spelling for them) → 0."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    f = float(value)
    if not math.isfinite(f):
        return 0
    return int(f) if f.is_integer() and abs(f) < 2**53 else f


def ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def month_day(day: dt.date) -> str:
    """``"Aug 15"`` (retention ``dates``, funnel ``formattedXValues``)."""
    return f"{day.strftime('%b')} {day.day}"

