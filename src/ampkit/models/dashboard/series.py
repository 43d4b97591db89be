"""Answer-side shapes shared by the Dashboard families (reference §10.3, §16.8).

:class:`DashboardResult` keeps the raw JSON at ``.raw``; :class:`TimeSeriesResult` is the
``xValues``/``series``/``seriesCollapsed``/``seriesLabels``/``seriesMeta`` shape with its quirks
(labels as strings, numbers, arrays or ``{segmentIndex}`` objects; values as numbers or
``{setId, value}`` objects; ``{"data": ...}`` wrapper or none) and a tidy
:meth:`TimeSeriesResult.rows`.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Self

from pydantic import Field, PrivateAttr

from ampkit.models.base import AmpModel

# --- answers ---------------------------------------------------------------------------------


class DashboardResult(AmpModel):
    """Base of every answer model: unknown fields are kept, and ``raw`` is the JSON body as it
    came (``None`` for models built by hand)."""

    _raw: Any = PrivateAttr(default=None)

    @property
    def raw(self) -> Any:
        return self._raw

    @classmethod
    def unwrap(cls, body: Any) -> Any:
        """The payload of a body: ``{"data": ...}`` → its ``data``; anything else as is."""
        if isinstance(body, dict) and "data" in body:
            return body["data"]
        return body

    @classmethod
    def from_body(cls, body: Any) -> Self:
        """Validate a decoded JSON body (wrapped in ``data`` or not) and keep it as ``raw``."""
        result = cls.model_validate(cls.unwrap(body))
        result._raw = body
        return result


class SetValue(AmpModel):
    """A value written as an object: ``{"setId": ..., "value": n}`` (session averages) or
    ``{"value": n}`` (``seriesCollapsed`` in the docs)."""

    set_id: str | int | None = None
    value: int | float | None = None


class SeriesMeta(AmpModel):
    """``seriesMeta`` entry: ``{"segmentIndex": 0, "eventIndex": 0}``; with a group-by,
    ``groupValue`` names the group (retention's ``seriesMeta``, funnels' ``meta``)."""

    segment_index: int | None = None
    event_index: int | None = None
    group_value: str | int | float | bool | list[Any] | None = None


Number = int | float
SeriesValue = int | float | SetValue | None
Label = str | int | float | bool | None | list[Any] | SeriesMeta


def value_of(value: SeriesValue) -> Number | None:
    """A plain number from a series cell, whatever its spelling."""
    return value.value if isinstance(value, SetValue) else value


def label_text(label: Label, index: int) -> str:
    if isinstance(label, SeriesMeta):
        return str(label.segment_index if label.segment_index is not None else index)
    if isinstance(label, list):
        return "; ".join(str(part) for part in label)
    if label is None:
        return str(index)
    if isinstance(label, bool):
        return "true" if label else "false"
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    return str(label)


class SeriesRow(NamedTuple):
    """One tidy cell of a time series: the x value (usually a date), the row label, the value."""

    x: str
    label: str
    value: Number | None


class TimeSeriesResult(DashboardResult):
    """``{"xValues", "series", "seriesCollapsed", "seriesLabels", "seriesMeta"}`` — one row of
    ``series`` per group/segment, one column per ``xValues`` entry."""

    x_values: list[str] = Field(default_factory=list)
    series: list[list[SeriesValue]] = Field(default_factory=list)
    series_collapsed: list[list[SeriesValue]] | None = None
    series_labels: list[Label] | None = None
    series_meta: list[Label] | None = None

    def labels(self) -> list[str]:
        """One label per ``series`` row: ``seriesLabels`` if given, else ``seriesMeta`` (string
        labels or segment indexes), else the row index."""
        out: list[str] = []
        for i in range(len(self.series)):
            if self.series_labels is not None and i < len(self.series_labels):
                out.append(label_text(self.series_labels[i], i))
            elif self.series_meta is not None and i < len(self.series_meta):
                out.append(label_text(self.series_meta[i], i))
            else:
                out.append(str(i))
        return out

    def values(self, row: int = 0) -> list[Number | None]:
        """Plain numbers of one ``series`` row."""
        return [value_of(v) for v in self.series[row]] if row < len(self.series) else []

    def totals(self) -> list[Number | None]:
        """``seriesCollapsed`` as one plain number per row (``[[{"value": n}]]`` or ``[[n]]``)."""
        return [value_of(r[0]) if r else None for r in self.series_collapsed or []]

    def rows(self) -> list[SeriesRow]:
        """Every cell as ``(x, label, value)``, row by row."""
        out: list[SeriesRow] = []
        for label, row in zip(self.labels(), self.series, strict=False):
            for x, value in zip(self.x_values, row, strict=False):
                out.append(SeriesRow(x, label, value_of(value)))
        return out
