"""User composition — ``GET /api/2/composition`` (reference §10.11)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from ampkit.models.dashboard.common import DateRangeQuery
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import Number, TimeSeriesResult
from ampkit.models.wire import Wire


class CompositionQuery(DateRangeQuery):
    """``start``, ``end``, ``p`` (a built-in user property or ``gp:<custom>``)."""

    kind: ClassVar[QueryKind] = "other"

    prop: Annotated[str, Wire("p"), Field(min_length=1, description=(
        "The user property, e.g. 'country', 'platform', or 'gp:plan' for a custom one."))]


class CompositionResult(TimeSeriesResult):
    """Here ``xValues`` are the property's **values** (``"(none)"`` when unset) and the single
    ``series`` row holds unique users; ``seriesLabels`` names the property."""

    def shares(self) -> list[tuple[str, Number | None]]:
        """``(property value, users)`` pairs."""
        return list(zip(self.x_values, self.values(0), strict=False))
