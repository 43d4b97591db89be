"""User sessions — ``GET /api/2/sessions/length``, ``/average``, ``/peruser`` (§10.8–10.10).

All three have query-type cost 4.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal, Self, get_args

from pydantic import Field, ValidationInfo, model_validator

from ampkit.models.dashboard.common import DateRangeQuery, rule_error
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import Number, SeriesRow, TimeSeriesResult
from ampkit.models.wire import Wire, reading_wire

BinUnit = Literal["hours", "minutes", "seconds", "days"]
DEFAULT_BINS_MS = (0, 3000, 10000, 30000, 60000, 180000, 600000, 1800000, 3600000, 86400000)
"""Amplitude's default bin edges (ms) when no (or invalid) custom bins are given."""
MAX_BINS = 1000
_BIN_FIELDS = ("bin_unit", "bin_min", "bin_max", "bin_size")


def _number(value: object) -> float:
    try:
        return float(value) if isinstance(value, str | int | float) else math.nan
    except ValueError:
        return math.nan


def _usable_bins(data: dict[str, Any]) -> bool:
    """Whether raw bin values make custom bins: a unit, finite ``0 <= min < max``, a size
    above 0 (default a tenth of the range), at most :data:`MAX_BINS` bins."""
    lo, hi = _number(data.get("bin_min")), _number(data.get("bin_max"))
    size = _number(data["bin_size"]) if data.get("bin_size") is not None else (hi - lo) / 10
    return (data.get("bin_unit") in get_args(BinUnit)
            and all(math.isfinite(v) for v in (lo, hi, size)) and 0 <= lo < hi and size > 0
            and (hi - lo) / size <= MAX_BINS)


class SessionLengthQuery(DateRangeQuery):
    """``start``, ``end`` and optional custom bins (``timeHistogramConfigBin*``).

    Custom bins need ``bin_min``, ``bin_max`` and ``bin_unit``; ``bin_size`` is optional
    (without it Amplitude picks the size; the local server a tenth of the range); at most
    1,000 bins.  Read from a query string, missing or invalid bins are no custom bins
    (Amplitude's default bins come back); the client refuses them.
    """

    kind: ClassVar[QueryKind] = "sessions"

    bin_unit: Annotated[BinUnit | None, Wire("timeHistogramConfigBinTimeUnit"), Field(
        description="Custom bins: their unit (with bin_min and bin_max).")] = None
    bin_min: Annotated[float | None, Wire("timeHistogramConfigBinMin"), Field(
        allow_inf_nan=False, ge=0, description="Custom bins: where the first starts.")] = None
    bin_max: Annotated[float | None, Wire("timeHistogramConfigBinMax"), Field(
        allow_inf_nan=False, gt=0, description="Custom bins: where the last ends.")] = None
    bin_size: Annotated[float | None, Wire("timeHistogramConfigBinSize"), Field(
        allow_inf_nan=False, gt=0, description=(
            "Custom bins: their width (default a tenth of the range)."))] = None

    @model_validator(mode="before")
    @classmethod
    def _lenient_bins(cls, data: object, info: ValidationInfo) -> object:
        if reading_wire(info) and isinstance(data, dict) and not _usable_bins(data):
            return {k: v for k, v in data.items() if k not in _BIN_FIELDS}
        return data

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
            if lo is not None and hi is not None and (hi - lo) / (
                    self.bin_size or (hi - lo) / 10) > MAX_BINS:
                raise rule_error("bin_size", f"at most {MAX_BINS} bins")
        return self


class SessionLengthResult(TimeSeriesResult):
    """One ``series`` row of session counts; ``xValues`` are bins like ``"60s-120s"``."""

    def bins(self) -> list[tuple[str, Number | None]]:
        """``(bin label, sessions)`` pairs."""
        return [(row.x, row.value) for row in self.rows()]


class SessionAverageQuery(DateRangeQuery):
    """``start``, ``end`` only."""

    kind: ClassVar[QueryKind] = "sessions"


class SessionAverageResult(TimeSeriesResult):
    """Average session length in **seconds** per day.  Cells may be plain numbers or
    ``{setId, value}`` objects (both seen in real data); :meth:`rows` gives plain numbers."""

    def lengths(self) -> list[SeriesRow]:
        return self.rows()


class SessionsPerUserQuery(SessionAverageQuery):
    """``start``, ``end`` only."""


class SessionsPerUserResult(TimeSeriesResult):
    """Mean sessions per user per day."""
