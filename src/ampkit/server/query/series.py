"""Turning grouped SQL rows into the Dashboard time-series shape.

``{"data": {"xValues", "series", "seriesCollapsed", "seriesLabels", "seriesMeta"}}``: one
``series`` row per segment/group, one value per ``xValues`` entry (zeros where nothing
happened).  Without a group-by, each segment gives one row labelled by its index (``[0]``,
``seriesMeta: [{"segmentIndex": 0}]``, as real answers are); with a group-by the labels are the
group values, busiest first, and a range without data gives one ``"(none)"`` row of zeros (as
real answers do).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ampkit.server.query.common import NONE_LABEL, number

Key = tuple[Any, ...]


@dataclass
class Grid:
    """Per-key rows over ``n`` buckets plus a per-key collapsed value."""

    n: int
    zero: Any = 0
    rows: dict[Key, list[Any]] = field(default_factory=dict)
    collapsed: dict[Key, Any] = field(default_factory=dict)

    def row(self, key: Key) -> list[Any]:
        found = self.rows.get(key)
        if found is None:
            found = self.rows[key] = [self.zero] * self.n
        return found

    def fill(self, records: Iterable[Sequence[Any]], index: Mapping[Any, int] | None,
             width: int) -> None:
        """Records ``(bucket or None, *key, *values)``; a ``None`` bucket is the collapsed
        value (``GROUPING SETS``).  ``width`` is the key's length; one value is kept as is,
        several as a tuple.  ``index`` maps a bucket to its column (``None``: the bucket is the
        column number)."""
        for rec in records:
            bucket, key = rec[0], tuple(rec[1:1 + width])
            rest = rec[1 + width:]
            value = rest[0] if len(rest) == 1 else tuple(rest)
            if bucket is None:
                self.collapsed[key] = value
                self.row(key)
                continue
            pos = bucket if index is None else index.get(bucket)
            if pos is not None and 0 <= pos < self.n:
                self.row(key)[pos] = value

    def ordered(self, limit: int | None = None,
                score: Callable[[Key], float | None] | None = None) -> list[Key]:
        """Keys, largest collapsed value first (ties by label), at most ``limit``."""
        def default(key: Key) -> float:
            value = self.collapsed.get(key)
            return float(value) if isinstance(value, int | float) else 0.0

        rank = score or default
        keys = sorted(self.rows, key=lambda k: (-(rank(k) or 0.0), [str(p) for p in k]))
        return keys[:limit] if limit is not None else keys


def key_label(key: Key) -> Any:
    """One part → that string; two parts → ``[a, b]``."""
    parts = [NONE_LABEL if p is None else str(p) for p in key]
    return parts[0] if len(parts) == 1 else parts


def time_series(x_values: list[str], rows: list[list[Any]], collapsed: list[list[Any]],
                labels: list[Any], meta: list[Any]) -> dict[str, Any]:
    return {"data": {"xValues": x_values, "series": [[number(v) for v in r] for r in rows],
                     "seriesCollapsed": collapsed, "seriesLabels": labels,
                     "seriesMeta": meta}}


def plain(value: Any) -> list[Any]:
    return [number(value)]
