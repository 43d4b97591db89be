"""Chart annotations: v2 (``/api/2/annotations``, query parameters, a ``date``) and v3
(``/api/3/annotations``, JSON bodies, ISO ``start``/``end``, categories) — reference §11.

One table serves both: a v2 ``date`` is stored as a v3 ``start`` at midnight UTC, and v2
lists show the ``start`` date.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ampkit.server.catalog import next_id
from ampkit.server.routes.common import error_response, require_project
from ampkit.server.store import Store

_COLUMNS = "id, start_ts, end_ts, label, details, category_id, chart_id"


def _iso(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{field} must be an ISO 8601 timestamp string")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{field}={value!r} is not ISO 8601 (YYYY-MM-DDThh:mm:ss±hh:mm)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.isoformat()


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
            where, args = ("AND id = ?", [int(q["id"])]) if q.get("id", "").isdigit() else ("", [])
            data = [{"id": r[0], "date": r[1][:10], "label": r[3], "details": r[4]}
                    for r in rows(pid, where, args)]
            return JSONResponse({"data": data})
        for field in ("app_id", "date", "label"):
            if not q.get(field):
                return error_response(400, "Invalid annotation", f"{field} is required")
        if q["app_id"] != str(pid):
            return error_response(400, "Invalid annotation",
                                  "app_id does not match the project of the key pair")
        try:
            day = dt.date.fromisoformat(q["date"])
        except ValueError:
            return error_response(400, "Invalid annotation", "date must be YYYY-MM-DD")
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
                                      "category and chart_id cannot be combined")
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
            except ValueError as exc:
                return error_response(400, "Invalid request", str(exc))
            return JSONResponse({"data": found})
        try:
            body = orjson.loads(await request.body())
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            if not isinstance(body.get("label"), str) or not body["label"]:
                raise ValueError("label is required")
            start = _iso(body.get("start"), "start")
            end = _iso(body["end"], "end") if body.get("end") is not None else None
        except (ValueError, orjson.JSONDecodeError) as exc:
            return error_response(400, "Invalid annotation", str(exc))
        cat = None
        if body.get("category") is not None:
            by_name = {v: k for k, v in cats.items()}
            if body["category"] not in by_name:
                return error_response(404, "Category not found", str(body["category"]))
            cat = by_name[body["category"]]
        row = insert(pid, start, end, body["label"], body.get("details"), cat,
                     body.get("chart_id"))
        return JSONResponse({"data": v3(row, cats)})

    async def v3_item(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        pid, raw_id = project.project_id, request.path_params["annotation_id"]
        if not raw_id.isdigit():
            return error_response(400, "Invalid annotation id", raw_id)
        found = rows(pid, "AND id = ?", [int(raw_id)])
        if not found:
            return error_response(404, "Annotation not found", raw_id)
        cats = categories(pid)
        if request.method == "GET":
            return JSONResponse({"data": v3(found[0], cats)})
        if request.method == "DELETE":
            with store.lock:
                store.con.execute("DELETE FROM annotations WHERE project_id = ? AND id = ?",
                                  [pid, int(raw_id)])
            return JSONResponse({"success": True})
        current = v3(found[0], cats)
        try:
            body = orjson.loads(await request.body())
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            start = _iso(body["start"], "start") if "start" in body else current["start"]
            end = (_iso(body["end"], "end") if body.get("end") is not None else None) \
                if "end" in body else current["end"]
        except (ValueError, orjson.JSONDecodeError) as exc:
            return error_response(400, "Invalid annotation", str(exc))
        cat = found[0][5]
        if "category" in body:
            by_name = {v: k for k, v in cats.items()}
            if body["category"] is not None and body["category"] not in by_name:
                return error_response(404, "Category not found", str(body["category"]))
            cat = None if body["category"] is None else by_name[body["category"]]
        row = (int(raw_id), start, end, body.get("label", current["label"]),
               body.get("details", current["details"]), cat,
               body["chart_id"] if "chart_id" in body else current["chart_id"])
        with store.lock:
            store.con.execute(
                "UPDATE annotations SET start_ts = ?, end_ts = ?, label = ?, details = ?, "
                "category_id = ?, chart_id = ? WHERE project_id = ? AND id = ?",
                [*row[1:], pid, int(raw_id)])
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
            return error_response(400, "Invalid category", "category is required")
        if name in cats.values():
            return error_response(409, "Category already exists", name)
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
        if not raw_id.isdigit():
            return error_response(400, "Invalid category id", raw_id)
        cats = categories(pid)
        cid = int(raw_id)
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
        body = orjson.loads(await request.body() or b"{}")
        name = body.get("category") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return error_response(400, "Invalid category", "category is required")
        if name in cats.values() and cats[cid] != name:
            return error_response(409, "Category already exists", name)
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
