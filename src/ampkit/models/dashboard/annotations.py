"""Chart annotations — v2 ``/api/2/annotations`` and v3 ``/api/3/annotations`` (§11).

v2 lists ``{"data": [{id, date, label, details}]}`` and creates with a ``POST`` whose
parameters are all in the **query string**; v3 uses JSON bodies, ISO 8601 ``start``/``end`` with
an offset, and categories.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from ampkit.models.base import AmpModel
from ampkit.models.dashboard.common import DashboardQuery, Params, rule_error
from ampkit.models.dashboard.cost import QueryKind
from ampkit.models.dashboard.series import DashboardResult

AnnotationApi = Literal["v2", "v3"]


def aware(moment: dt.datetime | dt.date) -> dt.datetime:
    """Naive datetimes and plain dates are taken as UTC."""
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime(moment.year, moment.month, moment.day)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def iso(moment: dt.datetime | dt.date) -> str:
    """``YYYY-MM-DDThh:mm:ss±hh:mm`` (hourly granularity is Amplitude's; seconds are kept)."""
    return aware(moment).isoformat(timespec="seconds")


class AnnotationCategory(AmpModel):
    """``{"id", "name"}``; the rename answer and bulk assignment use ``category`` for the name."""

    id: int | None = None
    name: str | None = None
    category: str | None = None

    @property
    def label(self) -> str | None:
        return self.name if self.name is not None else self.category


class Annotation(DashboardResult):
    """An annotation, v2 (``date``) or v3 (``start``/``end``, ``category``, ``chart_id``)."""

    id: int | None = None
    label: str | None = None
    details: str | None = None
    date: str | None = None
    start: str | None = None
    end: str | None = None
    category: AnnotationCategory | None = None
    chart_id: str | int | None = None

    @classmethod
    def unwrap(cls, body: Any) -> Any:
        if isinstance(body, dict) and isinstance(body.get("annotation"), dict):
            return body["annotation"]  # v2 create: {"annotation": {...}, "success": true}
        return super().unwrap(body)


class AnnotationsResult(DashboardResult):
    """``{"data": [annotation, ...]}`` (a single ``{"data": {...}}`` is accepted too)."""

    annotations: list[Annotation] = Field(default_factory=list)

    @classmethod
    def unwrap(cls, body: Any) -> Any:
        data = super().unwrap(body)
        if isinstance(data, dict) and "annotations" not in data:
            data = [data]
        return {"annotations": data} if isinstance(data, list) else data


class AnnotationsQuery(DashboardQuery):
    """List annotations.  v2: optional ``id`` (one annotation).  v3: optional ``category``
    (name), ``chart_id`` (not both), ``start``/``end`` (ISO 8601), or ``id`` (one annotation,
    ``GET /api/3/annotations/{id}``)."""

    kind: ClassVar[QueryKind] = "other"

    api: AnnotationApi = "v2"
    id: int | None = Field(default=None, ge=0)
    category: str | None = None
    chart_id: str | None = None
    start: dt.datetime | dt.date | None = None
    end: dt.datetime | dt.date | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.api == "v2":
            for name in ("category", "chart_id", "start", "end"):
                if getattr(self, name) is not None:
                    raise rule_error(name, "only with api='v3'")
        if self.category is not None and self.chart_id is not None:
            raise rule_error("chart_id", "category and chart_id can't be combined")
        return self

    def params(self) -> Params:
        if self.api == "v2":
            return (("id", str(self.id)),) if self.id is not None else ()
        if self.id is not None:
            return ()
        out: list[tuple[str, str]] = []
        if self.category is not None:
            out.append(("category", self.category))
        if self.chart_id is not None:
            out.append(("chart_id", self.chart_id))
        if self.start is not None:
            out.append(("start", iso(self.start)))
        if self.end is not None:
            out.append(("end", iso(self.end)))
        return tuple(out)


class CreateAnnotation(DashboardQuery):
    """A new annotation.  With ``date`` (and ``app_id``, the project id) it is a v2 create,
    sent as query parameters; with ``start`` (optionally ``end``, ``category``) a v3 create,
    sent as a JSON body.  ``chart_id`` absent = global (all charts of the project)."""

    kind: ClassVar[QueryKind] = "other"

    label: str = Field(min_length=1)
    date: dt.date | None = None
    app_id: int | None = Field(default=None, ge=0)
    start: dt.datetime | dt.date | None = None
    end: dt.datetime | dt.date | None = None
    category: str | None = None
    chart_id: str | None = None
    details: str | None = None

    @field_validator("date", mode="before")
    @classmethod
    def _day(cls, value: object) -> object:
        return value.date() if isinstance(value, dt.datetime) else value

    @property
    def api(self) -> AnnotationApi:
        return "v2" if self.date is not None else "v3"

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if (self.date is None) == (self.start is None):
            raise rule_error("date", "give date (v2) or start (v3), not both")
        if self.date is not None:
            if self.app_id is None:
                raise rule_error("app_id", "a v2 annotation (date) needs app_id")
            for name in ("end", "category"):
                if getattr(self, name) is not None:
                    raise rule_error(name, "only with start (v3)")
        if self.start is not None and self.end is not None and aware(self.end) < aware(self.start):
            raise rule_error("end", "must not be before start")
        return self

    def params(self) -> Params:
        if self.date is None:
            return ()
        out = [("app_id", str(self.app_id)), ("date", self.date.isoformat()),
               ("label", self.label)]
        if self.chart_id is not None:
            out.append(("chart_id", self.chart_id))
        if self.details is not None:
            out.append(("details", self.details))
        return tuple(out)

    def body(self) -> dict[str, Any]:
        """The v3 JSON body."""
        out: dict[str, Any] = {"label": self.label}
        if self.start is not None:
            out["start"] = iso(self.start)
        if self.end is not None:
            out["end"] = iso(self.end)
        for name in ("category", "chart_id", "details"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out
