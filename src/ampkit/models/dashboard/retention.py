"""Retention analysis — ``GET /api/2/retention`` (reference §10.15)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, NamedTuple, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ampkit.models.base import AmpModel
from ampkit.models.dashboard.common import (
    CoarseBuckets,
    EventDef,
    GroupByProperty,
    SegmentedQuery,
    Segments,
    rule_error,
)
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import DashboardResult, Number, SeriesMeta
from ampkit.models.wire import Wire, reading_wire

RetentionMethod = Literal["bracket", "rolling"]
MAX_INTERVALS = 366
"""Largest bracket bound and most brackets, in intervals (``2**31`` overflowed DuckDB's
INTEGER on the local server)."""
Bound = Annotated[int, Field(ge=0, le=MAX_INTERVALS)]


class RetentionQuery(SegmentedQuery):
    """``se``, ``re``, ``start``, ``end``, ``rm``, ``rb``, ``i``, ``s``, ``g``.

    ``method=None`` is n-day retention (Amplitude's default, sent as no ``rm``; ``n-day`` and
    its spellings are read as it, ``unbounded`` as ``rolling``); ``"bracket"`` needs
    ``brackets``: ``[start, end_exclusive)`` day pairs such as ``[(0, 5)]``, each bound 0–366,
    at most 366 brackets.  Read from a query string, brackets without ``rm=bracket`` are
    ignored (as the local server always did); the client refuses them.
    """

    kind: ClassVar[QueryKind] = "retention"

    start_event: Annotated[EventDef, Wire("se", "json", lead=True), Field(description=(
        "What users first did ('_new' = new users, '_active' = any active event; or an "
        "event)."))]
    return_event: Annotated[EventDef, Wire("re", "json", lead=True), Field(description=(
        "What counts as coming back ('_all' = any event, '_active' = any active one)."))]
    method: Annotated[RetentionMethod | None, Wire("rm"), Field(description=(
        "n-day (absent, or 'n-day'): came back on day N exactly; 'rolling': on day N or "
        "later; 'bracket': within each of brackets."))] = None
    brackets: Annotated[list[tuple[Bound, Bound]] | None, Wire("rb", "json"), Field(
        max_length=MAX_INTERVALS, description=(
            "With 'bracket': [start, endExclusive) day pairs, e.g. [[1, 4], [4, 8]]."))] = None
    interval: CoarseBuckets = 1
    segment: Segments
    group_by: GroupByProperty = None

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: object) -> object:
        if value in ("", "n-day", "nday", "n_day", "nDay"):
            return None
        return "rolling" if value == "unbounded" else value

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Self:
        if self.return_event.event_type == "_new":
            raise rule_error("return_event", "_new is only valid as a starting event (se)")
        if self.method == "bracket" and not self.brackets:
            raise rule_error("brackets", "method 'bracket' needs brackets such as "
                                         "[[0,5],[5,10]]")
        if self.brackets and self.method != "bracket" and not reading_wire(info):
            raise rule_error("brackets", "brackets need method='bracket'")
        for lo, hi in self.brackets or ():
            if lo < 0 or hi <= lo:
                raise rule_error("brackets", f"[{lo}, {hi}] must satisfy 0 <= start < end")
        return self


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
