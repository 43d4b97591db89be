"""Retention analysis — ``GET /api/2/retention`` (reference §10.15)."""

from __future__ import annotations

from typing import ClassVar, Literal, NamedTuple, Self

from pydantic import Field, field_validator, model_validator

from ampkit.models.base import AmpModel
from ampkit.models.dashboard.common import (
    CoarseInterval,
    DateRangeQuery,
    EventDef,
    Params,
    Segment,
    compact,
    interval_code,
    rule_error,
    segment_params,
)
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import DashboardResult, Number, SeriesMeta

RetentionMethod = Literal["bracket", "rolling"]


class RetentionQuery(DateRangeQuery):
    """``se``, ``re``, ``start``, ``end``, ``rm``, ``rb``, ``i``, ``s``, ``g``.

    ``method=None`` is n-day retention (Amplitude's default, sent as no ``rm``); ``"bracket"``
    needs ``brackets``: ``[start, end_exclusive)`` day pairs such as ``[(0, 5)]``.
    """

    kind: ClassVar[QueryKind] = "retention"

    start_event: EventDef
    return_event: EventDef
    method: RetentionMethod | None = None
    brackets: list[tuple[int, int]] | None = None
    interval: CoarseInterval = 1
    segment: Segment | None = None
    group_by: str | None = None

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> object:
        return interval_code(value)

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.method == "bracket" and not self.brackets:
            raise rule_error("brackets", "method 'bracket' needs brackets")
        if self.brackets and self.method != "bracket":
            raise rule_error("brackets", "brackets need method='bracket'")
        for lo, hi in self.brackets or ():
            if lo < 0 or hi <= lo:
                raise rule_error("brackets", f"[{lo}, {hi}] must satisfy 0 <= start < end")
        return self

    def params(self) -> Params:
        out: list[tuple[str, str]] = [
            ("se", self.start_event.param()),
            ("re", self.return_event.param()),
            *self.date_params(),
        ]
        if self.method is not None:
            out.append(("rm", self.method))
        if self.brackets:
            out.append(("rb", compact([list(b) for b in self.brackets])))
        out.append(("i", str(self.interval)))
        out += segment_params(self.segment, self.group_by)
        return tuple(out)


class RetentionCell(AmpModel):
    """``{"count", "outof", "incomplete"}`` (+ ``retainedSetId`` in ``combined``)."""

    count: int | float | None = None
    outof: int | float | None = None
    incomplete: bool | None = None
    retained_set_id: str | int | None = None


class RetentionSeries(AmpModel):
    """One segment/group: ``dates`` (formatted like ``"Aug 15"``, descending), ``values`` keyed
    by those dates, ``combined`` over all cohorts.  Index 0 is the cohort size, index N+1 is
    retention N intervals out (current docs)."""

    dates: list[str] = Field(default_factory=list)
    values: dict[str, list[RetentionCell]] = Field(default_factory=dict)
    combined: list[RetentionCell] = Field(default_factory=list)


class RetentionRow(NamedTuple):
    segment: str
    cohort: str
    offset: int
    """0 = cohort size, N+1 = retention N intervals out."""
    retained: Number | None
    outof: Number | None
    incomplete: bool | None


class RetentionResult(DashboardResult):
    """``{"data": {"series": [...], "seriesMeta": [...]}}`` (``seriesMeta`` placement
    unconfirmed)."""

    series: list[RetentionSeries] = Field(default_factory=list)
    series_meta: list[SeriesMeta] | None = None

    def _segment(self, i: int) -> str:
        meta = self.series_meta[i] if self.series_meta and i < len(self.series_meta) else None
        return str(meta.segment_index if meta and meta.segment_index is not None else i)

    def rows(self) -> list[RetentionRow]:
        """Every cell of every cohort as ``(segment, cohort, offset, retained, outof,
        incomplete)``; cohorts in the order of ``dates``."""
        out: list[RetentionRow] = []
        for i, series in enumerate(self.series):
            seg = self._segment(i)
            for cohort in series.dates or list(series.values):
                for j, cell in enumerate(series.values.get(cohort, [])):
                    out.append(
                        RetentionRow(seg, cohort, j, cell.count, cell.outof, cell.incomplete)
                    )
        return out

    def combined_rows(self) -> list[RetentionRow]:
        """The ``combined`` cells, cohort ``"combined"``."""
        return [
            RetentionRow(self._segment(i), "combined", j, c.count, c.outof, c.incomplete)
            for i, s in enumerate(self.series)
            for j, c in enumerate(s.combined)
        ]
