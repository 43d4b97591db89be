"""Saved chart results — ``GET /api/3/chart/{chart_id}/query`` and ``/csv`` (reference §10.6)."""

from __future__ import annotations

import csv
import io
from typing import Any, ClassVar

from pydantic import Field

from ampkit.models.dashboard.common import DashboardQuery, Params
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.funnels import FunnelResult
from ampkit.models.dashboard.retention import RetentionResult
from ampkit.models.dashboard.series import DashboardResult, TimeSeriesResult

ID_PATTERN = r"^[A-Za-z0-9_.\-]+$"


class ChartQuery(DashboardQuery):
    """A saved chart's id (from its URL).  No other documented parameters; the query cost of
    chart results is taken as 1 (unconfirmed)."""

    kind: ClassVar[QueryKind] = "other"

    chart_id: str = Field(min_length=1, max_length=100, pattern=ID_PATTERN)

    def params(self) -> Params:
        return ()


class ChartResult(DashboardResult):
    """A chart's JSON results.  The shape depends on the chart type, so ``data`` is kept as
    JSON; :meth:`as_series`, :meth:`as_funnel` and :meth:`as_retention` give typed views."""

    data: Any = None

    @classmethod
    def unwrap(cls, body: Any) -> Any:
        return {"data": super().unwrap(body)}

    def as_series(self) -> TimeSeriesResult | None:
        """A segmentation-like view when ``data`` has ``series`` and ``xValues``."""
        d = self.data
        rows = d.get("series") if isinstance(d, dict) and "xValues" in d else None
        if isinstance(rows, list) and all(isinstance(row, list) for row in rows):
            return TimeSeriesResult.from_body(d)
        return None

    def as_funnel(self) -> FunnelResult | None:
        d = self.data
        if isinstance(d, list) and d and all(
            isinstance(g, dict) and "cumulativeRaw" in g for g in d
        ):
            return FunnelResult.from_body(d)
        return None

    def as_retention(self) -> RetentionResult | None:
        d = self.data
        series = d.get("series") if isinstance(d, dict) else None
        if isinstance(series, list) and series and all(
            isinstance(s, dict) and "values" in s for s in series
        ):
            return RetentionResult.from_body(d)
        return None


class ChartCsv(DashboardResult):
    """A chart as CSV text (``/csv``; the exact layout is unconfirmed)."""

    chart_id: str
    text: str

    @classmethod
    def from_text(cls, chart_id: str, text: str) -> ChartCsv:
        result = cls(chart_id=chart_id, text=text)
        result._raw = text
        return result

    def rows(self) -> list[list[str]]:
        """Every CSV line as a list of cells (blank lines dropped)."""
        return [row for row in csv.reader(io.StringIO(self.text)) if row]
