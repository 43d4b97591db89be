"""Chart annotations: v2 (``/api/2/annotations``, query parameters, a ``date``) and v3
(``/api/3/annotations``, JSON bodies, ISO ``start``/``end``, categories) — reference §11.

One table serves both: a v2 ``date`` is stored as a v3 ``start`` at midnight UTC, and v2
lists show the ``start`` date.

Bad input is a 400 in the Dashboard error envelope whose ``metadata.parameter`` names the field:
ids are whole numbers below 2^63 (ASCII digits), dates and timestamps lie in 1970-01-01 ..
2999-12-31 (the range of every read route, :mod:`ampkit.server.query.clock`), v3 bodies are
JSON objects whose ``label``, ``details``, ``category`` are strings and ``chart_id`` a string
or a number.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ampkit.server.catalog import next_id
from ampkit.server.query.clock import FIRST_DAY, LAST_DAY
from ampkit.server.routes.common import error_response, require_project
from ampkit.server.store import Store

_COLUMNS = "id, start_ts, end_ts, label, details, category_id, chart_id"
_ID = re.compile(r"[0-9]{1,18}")
"""An id: ASCII digits that fit a BIGINT (a 40-digit id overflowed DuckDB: a 500)."""


class BadField(ValueError):
    """A field that breaks a rule: answered 400 naming ``field``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_id(raw: str, field: str) -> int:
    if not _ID.fullmatch(raw):
        raise BadField(field, f"{field} must be a whole number below 2^63 (ASCII digits)")
    return int(raw)


def _in_range(day: dt.date, field: str) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadField(field, f"{field} must lie between {FIRST_DAY} and {LAST_DAY}")


def _iso(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise BadField(field, f"{field} must be an ISO 8601 timestamp string")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadField(field, f"{field}={value!r} is not ISO 8601 "
                              "(YYYY-MM-DDThh:mm:ss±hh:mm)") from None
    _in_range(parsed.date(), field)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.isoformat()


class AnnotationBody(BaseModel):
    """A v3 create (``label`` and ``start`` required) or update (every field optional) body."""

    model_config = ConfigDict(extra="ignore")

    label: str | None = Field(default=None, min_length=1)
    start: str | None = None
    end: str | None = None
    details: str | None = None
    category: str | None = None
    chart_id: str | int | None = None


def parse_body(raw: bytes) -> AnnotationBody:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadField("body", "the body must be JSON") from None
    if not isinstance(data, dict):
        raise BadField("body", "the body must be a JSON object")
    try:
        return AnnotationBody.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "body"
        raise BadField(field, f"{field}: {err['msg']}") from None


def bad(message: str, exc: BadField) -> Response:
    return error_response(400, message, str(exc), parameter=exc.field)


def routes(store: Store) -> list[BaseRoute]:
    def categories(pid: int) -> dict[int, str]:
        rows = store.cursor().execute(
            "SELECT id, name FROM annotation_categories WHERE project_id = ?", [pid]).fetchall()
        return {r[0]: r[1] for r in rows}

    def v3(row: tuple[Any, ...], cats: dict[int, str]) -> dict[str, Any]:
        aid, start, end, label, details, cat, chart = row
        return {"id": aid, "start": start, "end": end, "label": label, "details": details,
                "category": None if cat is None else {"id": cat, "name": cats.get(cat)},
                "chart_id": chart}

    def rows(pid: int, where: str = "", args: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return store.cursor().execute(
            f"SELECT {_COLUMNS} FROM annotations WHERE project_id = ? {where} ORDER BY id",
            [pid, *(args or [])]).fetchall()

    def insert(pid: int, start: str, end: str | None, label: str, details: str | None,
               cat: int | None, chart: str | None) -> tuple[Any, ...]:
        with store.lock:
            aid = next_id(store, "annotations", pid, 50000)
            store.con.execute("INSERT INTO annotations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                              [pid, aid, start, end, label, details, cat, chart])
        return (aid, start, end, label, details, cat, chart)

    async def v2(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        pid, q = project.project_id, request.query_params
        if request.method == "GET":
            where, args = "", []
            if q.get("id"):
                try:
                    where, args = "AND id = ?", [parse_id(q["id"], "id")]
                except BadField as exc:
                    return bad("Invalid request", exc)
            data = [{"id": r[0], "date": r[1][:10], "label": r[3], "details": r[4]}
                    for r in rows(pid, where, args)]
            return JSONResponse({"data": data})
        for field in ("app_id", "date", "label"):
            if not q.get(field):
                return error_response(400, "Invalid annotation", f"{field} is required",
                                      parameter=field)
        if q["app_id"] != str(pid):
            return error_response(400, "Invalid annotation",
                                  "app_id does not match the project of the key pair",
                                  parameter="app_id")
        try:
            try:
                day = dt.date.fromisoformat(q["date"])
            except ValueError:
                raise BadField("date", "date must be YYYY-MM-DD") from None
            _in_range(day, "date")
        except BadField as exc:
            return bad("Invalid annotation", exc)
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).isoformat()
        row = insert(pid, start, None, q["label"], q.get("details"), None, q.get("chart_id"))
        return JSONResponse({"annotation": {"date": day.isoformat(), "details": row[4],
                                            "id": row[0], "label": row[3]}, "success": True})

    async def v3_collection(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        pid = project.project_id
        cats = categories(pid)
        if request.method == "GET":
            q = request.query_params
            if q.get("category") and q.get("chart_id"):
                return error_response(400, "Invalid request",
                                      "category and chart_id cannot be combined",
                                      parameter="chart_id")
            found = [v3(r, cats) for r in rows(pid)]
            if q.get("category"):
                found = [a for a in found if a["category"] and
                         a["category"]["name"] == q["category"]]
            if q.get("chart_id"):
                found = [a for a in found if a["chart_id"] == q["chart_id"]]
            try:
                if q.get("start"):
                    after = _iso(q["start"], "start")
                    found = [a for a in found if dt.datetime.fromisoformat(a["start"]) >=
                             dt.datetime.fromisoformat(after)]
                if q.get("end"):
                    before = dt.datetime.fromisoformat(_iso(q["end"], "end"))
                    found = [a for a in found if dt.datetime.fromisoformat(
                        a["end"] or a["start"]) <= before]
            except BadField as exc:
                return bad("Invalid request", exc)
            return JSONResponse({"data": found})
        try:
            body = parse_body(await request.body())
            if not body.label:
                raise BadField("label", "label is required")
            start = _iso(body.start, "start")
            end = _iso(body.end, "end") if body.end is not None else None
        except BadField as exc:
            return bad("Invalid annotation", exc)
        cat = None
        if body.category is not None:
            by_name = {v: k for k, v in cats.items()}
            if body.category not in by_name:
                return error_response(404, "Category not found", body.category,
                                      parameter="category")
            cat = by_name[body.category]
        chart = None if body.chart_id is None else str(body.chart_id)
        row = insert(pid, start, end, body.label, body.details, cat, chart)
        return JSONResponse({"data": v3(row, cats)})

    async def v3_item(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        pid, raw_id = project.project_id, request.path_params["annotation_id"]
        try:
            aid = parse_id(raw_id, "annotation_id")
        except BadField as exc:
            return bad("Invalid annotation id", exc)
        found = rows(pid, "AND id = ?", [aid])
        if not found:
            return error_response(404, "Annotation not found", raw_id)
        cats = categories(pid)
        if request.method == "GET":
            return JSONResponse({"data": v3(found[0], cats)})
        if request.method == "DELETE":
            with store.lock:
                store.con.execute("DELETE FROM annotations WHERE project_id = ? AND id = ?",
                                  [pid, aid])
            return JSONResponse({"success": True})
        current = v3(found[0], cats)
        try:
            body = parse_body(await request.body())
            given = body.model_fields_set
            if "label" in given and not body.label:
                raise BadField("label", "label must be a non-empty string")
            start = _iso(body.start, "start") if "start" in given else current["start"]
            end = (_iso(body.end, "end") if body.end is not None else None) \
                if "end" in given else current["end"]
        except BadField as exc:
            return bad("Invalid annotation", exc)
        cat = found[0][5]
        if "category" in given:
            by_name = {v: k for k, v in cats.items()}
            if body.category is not None and body.category not in by_name:
                return error_response(404, "Category not found", body.category,
                                      parameter="category")
            cat = None if body.category is None else by_name[body.category]
        chart = current["chart_id"]
        if "chart_id" in given:
            chart = None if body.chart_id is None else str(body.chart_id)
        row = (aid, start, end, body.label if "label" in given else current["label"],
               body.details if "details" in given else current["details"], cat, chart)
        with store.lock:
            store.con.execute(
                "UPDATE annotations SET start_ts = ?, end_ts = ?, label = ?, details = ?, "
                "category_id = ?, chart_id = ? WHERE project_id = ? AND id = ?",
                [*row[1:], pid, aid])
        return JSONResponse({"data": v3(row, cats)})

    async def category_collection(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        pid = project.project_id
        cats = categories(pid)
        if request.method == "GET":
            name = request.query_params.get("category")
            data = [{"id": k, "name": v} for k, v in sorted(cats.items())
                    if name is None or v == name]
            if name is not None and not data:
                return error_response(404, "Category not found", name)
            return JSONResponse({"data": data})
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        name = body.get("category") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return error_response(400, "Invalid category", "category is required",
                                  parameter="category")
        if name in cats.values():
            return error_response(409, "Category already exists", name, parameter="category")
        with store.lock:
            cid = next_id(store, "annotation_categories", pid, 6000)
            store.con.execute("INSERT INTO annotation_categories VALUES (?, ?, ?)",
                              [pid, cid, name])
        return JSONResponse({"data": {"id": cid, "name": name}})

    async def category_item(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        pid, raw_id = project.project_id, request.path_params["category_id"]
        try:
            cid = parse_id(raw_id, "category_id")
        except BadField as exc:
            return bad("Invalid category id", exc)
        cats = categories(pid)
        if cid not in cats:
            return error_response(404, "Category not found", raw_id)
        if request.method == "GET":
            return JSONResponse({"data": {"id": cid, "name": cats[cid]}})
        if request.method == "DELETE":
            with store.lock:
                store.con.execute("DELETE FROM annotation_categories WHERE project_id = ? AND "
                                  "id = ?", [pid, cid])
                store.con.execute("UPDATE annotations SET category_id = NULL WHERE "
                                  "project_id = ? AND category_id = ?", [pid, cid])
            return JSONResponse({"success": True})
        try:
            body = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError:  # was a 500
            body = None
        name = body.get("category") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return error_response(400, "Invalid category", "category is required",
                                  parameter="category")
        if name in cats.values() and cats[cid] != name:
            return error_response(409, "Category already exists", name, parameter="category")
        with store.lock:
            store.con.execute("UPDATE annotation_categories SET name = ? WHERE project_id = ? "
                              "AND id = ?", [name, pid, cid])
        return JSONResponse({"data": {"id": cid, "category": name}})

    return [
        Route("/api/2/annotations", v2, methods=["GET", "POST"]),
        Route("/api/3/annotations", v3_collection, methods=["GET", "POST"]),
        Route("/api/3/annotations/{annotation_id}", v3_item, methods=["GET", "PUT", "DELETE"]),
        Route("/api/3/annotation-categories", category_collection, methods=["GET", "POST"]),
        Route("/api/3/annotation-categories/{category_id}", category_item,
              methods=["GET", "PUT", "DELETE"]),
    ]
