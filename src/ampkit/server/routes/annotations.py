"""Chart annotations: v2 (``/api/2/annotations``, query parameters, a ``date``) and v3
(``/api/3/annotations``, JSON bodies, ISO ``start``/``end``, categories) — reference §11;
the work is :mod:`ampkit.server.services.annotations`.

Bad input is a 400 in the Dashboard error envelope whose ``metadata.parameter`` names the field:
ids are whole numbers below 2^63 (ASCII digits), dates and timestamps lie in 1970-01-01 ..
2999-12-31 (the range of every read route, :mod:`ampkit.server.query.clock`), v3 bodies are
JSON objects whose ``label``, ``details``, ``category`` are strings and ``chart_id`` a string
or a number.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo
from pydantic_core import ErrorDetails
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ampkit.server.config import ProjectConfig
from ampkit.server.query.clock import FIRST_DAY, LAST_DAY
from ampkit.server.routes.common import (
    BadInput,
    Endpoint,
    Query,
    authed,
    backend,
    bad_input,
    error_response,
    field_of,
    parse_json,
    parse_query,
    refusing,
    rule,
)
from ampkit.server.services import annotations as service
from ampkit.server.services.annotations import Annotation, Category

_ID = re.compile(r"[0-9]{1,18}")
"""An id: ASCII digits that fit a BIGINT (a 40-digit id overflowed DuckDB: a 500)."""


# --- rules ---------------------------------------------------------------------------------
def parse_id(raw: Any, field: str) -> int:
    if not isinstance(raw, str) or not _ID.fullmatch(raw):
        raise BadInput(field, f"{field} must be a whole number below 2^63 (ASCII digits)")
    return int(raw)


def _in_range(day: dt.date, field: str) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadInput(field, f"{field} must lie between {FIRST_DAY} and {LAST_DAY}")


def iso_time(value: Any, field: str) -> str:
    """An ISO 8601 timestamp in range, with its offset (UTC when it has none)."""
    if not isinstance(value, str):
        raise BadInput(field, f"{field} must be an ISO 8601 timestamp string")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(field, f"{field}={value!r} is not ISO 8601 "
                              "(YYYY-MM-DDThh:mm:ss±hh:mm)") from None
    _in_range(parsed.date(), field)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.isoformat()


def _day(value: str, field: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise BadInput(field, f"{field} must be YYYY-MM-DD") from None
    _in_range(day, field)
    return day


def _required(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadInput(field, f"{field} is required")
    return value


Id = Annotated[int, BeforeValidator(rule(parse_id))]
IsoTime = Annotated[str, AfterValidator(rule(iso_time))]
Required = Annotated[str, BeforeValidator(rule(_required))]


def _details(err: ErrorDetails) -> str:
    """``label: Input should be a valid string``; ``app_id is required``."""
    field = field_of(err)
    return f"{field} is required" if err["type"] == "missing" else f"{field}: {err['msg']}"


# --- request models ------------------------------------------------------------------------
class V2List(Query):
    """``GET /api/2/annotations``."""

    id: Id | None = None


class V2Create(BaseModel):
    """``POST /api/2/annotations`` (query parameters)."""

    app_id: Required
    date: Required
    label: Required
    details: str | None = None
    chart_id: str | None = None


def _not_with_category(value: str | None, info: ValidationInfo) -> str | None:
    if value is not None and info.data.get("category"):
        raise BadInput("chart_id", "category and chart_id cannot be combined")
    return value


class V3List(Query):
    """``GET /api/3/annotations``: filters (``category`` and ``chart_id`` exclude each other)."""

    category: str | None = None
    chart_id: Annotated[str | None, AfterValidator(_not_with_category)] = None
    start: IsoTime | None = None
    end: IsoTime | None = None


def _ordered(start: str | None, end: str | None) -> None:
    """An end given with its start may not come before it."""
    if start is not None and end is not None and (
            dt.datetime.fromisoformat(end) < dt.datetime.fromisoformat(start)):
        raise BadInput("end", f"end={end!r} is before start={start!r}")


class AnnotationBody(BaseModel):
    """A v3 create (``label`` and ``start`` required) or update (every field optional) body."""

    model_config = ConfigDict(extra="ignore")

    label: str | None = Field(default=None, min_length=1)
    start: str | None = None
    end: str | None = None
    details: str | None = None
    category: str | None = None
    chart_id: str | int | None = None

    def create(self) -> service.New:
        """The new annotation's fields: ``label`` and an ISO ``start`` are required."""
        if not self.label:
            raise BadInput("label", "label is required")
        start = iso_time(self.start, "start")
        end = iso_time(self.end, "end") if self.end is not None else None
        _ordered(start, end)
        return service.New(self.label, start, end, self.details, self.category,
                           self._chart_id())

    def update(self) -> service.Update:
        """The fields the body names, checked."""
        given = frozenset(self.model_fields_set)
        if "label" in given and not self.label:
            raise BadInput("label", "label must be a non-empty string")
        start = iso_time(self.start, "start") if "start" in given else None
        end = iso_time(self.end, "end") if "end" in given and self.end is not None else None
        _ordered(start, end)
        return service.Update(given, self.label, start, end, self.details, self.category,
                              self._chart_id())

    def _chart_id(self) -> str | None:
        return None if self.chart_id is None else str(self.chart_id)


class CategoryFilter(BaseModel):
    """``GET /api/3/annotation-categories``: ``category``, a name (given empty, it matches
    none)."""

    model_config = ConfigDict(extra="ignore")

    category: str | None = None


class CategoryBody(BaseModel):
    """``POST``/``PUT`` of an annotation category: ``{"category": name}``."""

    model_config = ConfigDict(extra="ignore")

    category: Required


# --- answers -------------------------------------------------------------------------------
def _category(cat: Category | None) -> dict[str, Any] | None:
    return None if cat is None else {"id": cat.id, "name": cat.name}


def v3(a: Annotation) -> dict[str, Any]:
    return {"id": a.id, "start": a.start, "end": a.end, "label": a.label,
            "details": a.details, "category": _category(a.category), "chart_id": a.chart_id}


def unknown_category(exc: service.UnknownCategory) -> Response:
    return error_response(404, "Category not found", exc.name, parameter="category")


def category_exists(exc: service.CategoryExists) -> Response:
    return error_response(409, "Category already exists", exc.name, parameter="category")


@dataclass(frozen=True)
class _Item:
    """What an item path (``…/{param}``) answers: its bad id, its missing item."""

    param: str
    invalid: str
    missing: str

    def path_id(self, request: Request) -> tuple[int, str]:
        """The id in the path (a 400 when it is not one) and its text."""
        raw: str = request.path_params[self.param]
        with bad_input(self.invalid):
            parsed = parse_id(raw, self.param)
        return parsed, raw

    def not_found(self, raw: str) -> Response:
        return error_response(404, self.missing, raw)

    def deleting(self, delete: Callable[[Any, int, int], bool]) -> Endpoint:
        """The ``DELETE`` handler: ``{"success": true}``, or a 404."""
        @authed
        async def handler(request: Request, project: ProjectConfig) -> Response:
            item, raw = self.path_id(request)
            if not await backend(request).write(delete, project.project_id, item):
                return self.not_found(raw)
            return JSONResponse({"success": True})

        return handler


ANNOTATION = _Item("annotation_id", "Invalid annotation id", "Annotation not found")
CATEGORY = _Item("category_id", "Invalid category id", "Category not found")


# --- handlers: one per path and method -----------------------------------------------------
@authed
async def v2_list(request: Request, project: ProjectConfig) -> Response:
    """``GET /api/2/annotations``."""
    with bad_input("Invalid request"):
        q = parse_query(V2List, request.query_params, _details)
    found = await backend(request).read(service.list_annotations, project.project_id, q.id)
    return JSONResponse({"data": [{"id": a.id, "date": a.start[:10], "label": a.label,
                                   "details": a.details} for a in found]})


@authed
async def v2_create(request: Request, project: ProjectConfig) -> Response:
    """``POST /api/2/annotations``."""
    with bad_input("Invalid annotation"):
        q = parse_query(V2Create, request.query_params, _details)
        if q.app_id != str(project.project_id):
            raise BadInput("app_id", "app_id does not match the project of the key pair")
        day = _day(q.date, "date")
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).isoformat()
    new = service.New(q.label, start, details=q.details, chart_id=q.chart_id)
    made = await backend(request).write(service.create, project.project_id, new)
    return JSONResponse({"annotation": {"date": day.isoformat(), "details": made.details,
                                        "id": made.id, "label": made.label}, "success": True})


@authed
async def v3_list(request: Request, project: ProjectConfig) -> Response:
    """``GET /api/3/annotations``."""
    with bad_input("Invalid request"):
        q = parse_query(V3List, request.query_params, _details)
    found = await backend(request).read(service.search, project.project_id, category=q.category,
                                        chart_id=q.chart_id, start=q.start, end=q.end)
    return JSONResponse({"data": [v3(a) for a in found]})


@authed
async def v3_create(request: Request, project: ProjectConfig) -> Response:
    """``POST /api/3/annotations``."""
    with bad_input("Invalid annotation"):
        new = parse_json(AnnotationBody, await request.body(), _details).create()
    with refusing(service.UnknownCategory, unknown_category):
        made = await backend(request).write(service.create, project.project_id, new)
    return JSONResponse({"data": v3(made)})


def _v3_answer(found: Annotation | None, raw: str) -> Response:
    return ANNOTATION.not_found(raw) if found is None else JSONResponse({"data": v3(found)})


@authed
async def v3_find(request: Request, project: ProjectConfig) -> Response:
    """``GET /api/3/annotations/{annotation_id}``."""
    aid, raw = ANNOTATION.path_id(request)
    return _v3_answer(await backend(request).read(service.find, project.project_id, aid), raw)


@authed
async def v3_update(request: Request, project: ProjectConfig) -> Response:
    """``PUT /api/3/annotations/{annotation_id}``."""
    aid, raw = ANNOTATION.path_id(request)
    with bad_input("Invalid annotation"):
        change = parse_json(AnnotationBody, await request.body(), _details).update()
    with refusing(service.UnknownCategory, unknown_category):
        updated = await backend(request).write(service.update, project.project_id, aid, change)
    return _v3_answer(updated, raw)


v3_delete = ANNOTATION.deleting(service.delete)
"""``DELETE /api/3/annotations/{annotation_id}``."""


def _category_body(raw: bytes) -> str:
    try:
        return parse_json(CategoryBody, raw, _details).category
    except BadInput:
        raise BadInput("category", "category is required") from None


@authed
async def categories(request: Request, project: ProjectConfig) -> Response:
    """``GET /api/3/annotation-categories``."""
    name = parse_query(CategoryFilter, request.query_params, _details).category
    cats = await backend(request).read(service.categories, project.project_id)
    data = [{"id": c.id, "name": c.name} for c in cats if name is None or c.name == name]
    if name is not None and not data:
        return CATEGORY.not_found(name)
    return JSONResponse({"data": data})


@authed
async def create_category(request: Request, project: ProjectConfig) -> Response:
    """``POST /api/3/annotation-categories``."""
    with bad_input("Invalid category"):
        name = _category_body(await request.body())
    with refusing(service.CategoryExists, category_exists):
        made = await backend(request).write(service.create_category, project.project_id, name)
    return JSONResponse({"data": {"id": made.id, "name": made.name}})


@authed
async def find_category(request: Request, project: ProjectConfig) -> Response:
    """``GET /api/3/annotation-categories/{category_id}``."""
    cid, raw = CATEGORY.path_id(request)
    found = await backend(request).read(service.category, project.project_id, cid)
    if found is None:
        return CATEGORY.not_found(raw)
    return JSONResponse({"data": {"id": found.id, "name": found.name}})


@authed
async def rename_category(request: Request, project: ProjectConfig) -> Response:
    """``PUT /api/3/annotation-categories/{category_id}``."""
    cid, raw = CATEGORY.path_id(request)
    with bad_input("Invalid category"):
        name = _category_body(await request.body() or b"{}")
    with refusing(service.CategoryExists, category_exists):
        renamed = await backend(request).write(service.rename_category, project.project_id,
                                               cid, name)
    if renamed is None:
        return CATEGORY.not_found(raw)
    return JSONResponse({"data": {"id": renamed.id, "category": renamed.name}})


delete_category = CATEGORY.deleting(service.delete_category)
"""``DELETE /api/3/annotation-categories/{category_id}``."""
