"""User sessions — ``GET /api/2/sessions/length``, ``/average``, ``/peruser`` (§10.8–10.10).

All three have query-type cost 4.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from ampkit.models.dashboard.common import DateRangeQuery, Params, rule_error
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import Number, SeriesRow, TimeSeriesResult

BinUnit = Literal["hours", "minutes", "seconds", "days"]
DEFAULT_BINS_MS = (0, 3000, 10000, 30000, 60000, 180000, 600000, 1800000, 3600000, 86400000)
"""Amplitude's default bin edges (ms) when no (or invalid) custom bins are given."""


class SessionLengthQuery(DateRangeQuery):
    """``start``, ``end`` and optional custom bins (``timeHistogramConfigBin*``).

    Custom bins need ``bin_min``, ``bin_max`` and ``bin_unit``; ``bin_size`` is optional
    (without it Amplitude picks the size).
    """

    kind: ClassVar[QueryKind] = "sessions"

    bin_unit: BinUnit | None = None
    bin_min: float | None = Field(default=None, ge=0)
    bin_max: float | None = Field(default=None, gt=0)
    bin_size: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _bins(self) -> Self:
        given = [self.bin_unit, self.bin_min, self.bin_max, self.bin_size]
        if any(v is not None for v in given):
            for name in ("bin_min", "bin_max", "bin_unit"):
                if getattr(self, name) is None:
                    raise rule_error(name, "custom bins need bin_min, bin_max and bin_unit")
            lo, hi = self.bin_min, self.bin_max
            if lo is not None and hi is not None and hi <= lo:
                raise rule_error("bin_max", "must be greater than bin_min")
        return self

    def params(self) -> Params:
        out = list(self.date_params())
        for key, value in (
            ("timeHistogramConfigBinTimeUnit", self.bin_unit),
            ("timeHistogramConfigBinMin", self.bin_min),
            ("timeHistogramConfigBinMax", self.bin_max),
            ("timeHistogramConfigBinSize", self.bin_size),
        ):
            if value is not None:
                text = f"{value:g}" if isinstance(value, float) else str(value)
                out.append((key, text))
        return tuple(out)


class SessionLengthResult(TimeSeriesResult):
    """One ``series`` row of session counts; ``xValues`` are bins like ``"60s-120s"``."""

    def bins(self) -> list[tuple[str, Number | None]]:
        """``(bin label, sessions)`` pairs."""
        return [(row.x, row.value) for row in self.rows()]


class SessionAverageQuery(DateRangeQuery):
    """``start``, ``end`` only."""

    kind: ClassVar[QueryKind] = "sessions"

    def params(self) -> Params:
        return self.date_params()


class SessionAverageResult(TimeSeriesResult):
    """Average session length in **seconds** per day.  Cells may be plain numbers or
    ``{setId, value}`` objects (both seen in real data); :meth:`rows` gives plain numbers."""

    def lengths(self) -> list[SeriesRow]:
        return self.rows()


class SessionsPerUserQuery(SessionAverageQuery):
    """``start``, ``end`` only."""


class SessionsPerUserResult(TimeSeriesResult):
    """Mean sessions per user per day."""
