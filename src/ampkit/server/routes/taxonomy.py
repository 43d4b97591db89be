"""Taxonomy API, read side plus categories (reference §14), derived from what was ingested.

Event types, event properties and user properties are the ones seen in stored events (a
tracking plan is not modelled); custom user properties carry Amplitude's ``gp:`` prefix.
Categories can be created, listed, renamed and deleted.  Bodies are form-encoded, even on GET.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ampkit.server.catalog import next_id
from ampkit.server.routes.common import require_project
from ampkit.server.store import Store

BASE = "/api/2/taxonomy"


def _fail(status: int, message: str) -> Response:
    return JSONResponse({"success": False, "errors": [{"message": message}]}, status_code=status)


async def _params(request: Request) -> dict[str, str]:
    params = dict(request.query_params)
    if request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _event_type(name: str) -> dict[str, Any]:
    return {"event_type": name, "category": {"name": None}, "description": None,
            "display_name": None, "is_active": True, "is_hidden_from_dropdowns": False,
            "is_hidden_from_persona_results": False, "is_hidden_from_pathfinder": False,
            "is_hidden_from_timeline": False, "tags": "", "owner": None}


def routes(store: Store) -> list[BaseRoute]:
    def event_types(pid: int) -> list[str]:
        rows = store.cursor().execute(
            "SELECT DISTINCT event_type FROM events WHERE project_id = ? ORDER BY 1",
            [pid]).fetchall()
        return [r[0] for r in rows]

    def json_keys(pid: int, column: str, event_type: str | None) -> list[str]:
        where = " AND event_type = ?" if event_type else ""
        rows = store.cursor().execute(
            f"SELECT DISTINCT unnest(json_keys({column})) AS k FROM events WHERE project_id = ?"
            f"{where} ORDER BY k", [pid, *([event_type] if event_type else [])]).fetchall()
        return [r[0] for r in rows]

    async def events(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        names = event_types(project.project_id)
        wanted = request.path_params.get("event_type")
        if wanted is not None:
            if wanted not in names:
                return _fail(404, f"event type {wanted!r} not found")
            return JSONResponse({"success": True, "data": _event_type(wanted)})
        return JSONResponse({"success": True, "data": [_event_type(n) for n in names]})

    async def event_properties(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        params = await _params(request)
        etype = params.get("event_type")
        keys = json_keys(project.project_id, "event_properties", etype)
        wanted = request.path_params.get("event_property")
        data: list[dict[str, Any]] = [
                {"event_property": k, "event_type": etype, "description": None, "type": "any",
                 "regex": None, "enum_values": None, "is_array_type": False,
                 "is_required": False, "is_hidden": False, "classifications": []}
                for k in keys if wanted is None or k == wanted]
        if wanted is not None:
            return (JSONResponse({"success": True, "data": data[0]}) if data
                    else _fail(404, f"event property {wanted!r} not found"))
        return JSONResponse({"success": True, "data": data})

    async def user_properties(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        keys = [f"gp:{k}" for k in json_keys(project.project_id, "user_properties", None)]
        wanted = request.path_params.get("user_property")
        data: list[dict[str, Any]] = [
                {"user_property": k, "description": None, "type": "any", "enum_values": None,
                 "regex": None, "is_array_type": False, "is_hidden": False,
                 "classifications": [], "deleted": False}
                for k in keys if wanted is None or k == wanted or k == f"gp:{wanted}"]
        if wanted is not None:
            return (JSONResponse({"success": True, "data": data[0]}) if data
                    else _fail(404, f"user property {wanted!r} not found"))
        return JSONResponse({"success": True, "data": data})

    async def categories(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        pid = project.project_id
        rows = store.cursor().execute(
            "SELECT id, name FROM taxonomy_categories WHERE project_id = ? ORDER BY id",
            [pid]).fetchall()
        by_name = {name: cid for cid, name in rows}
        if request.method == "GET":
            wanted = request.path_params.get("category_name")
            if wanted is not None:
                if wanted not in by_name:
                    return _fail(404, f"category {wanted!r} not found")
                return JSONResponse({"success": True,
                                     "data": {"id": by_name[wanted], "name": wanted}})
            return JSONResponse({"success": True,
                                 "data": [{"id": c, "name": n} for c, n in rows]})
        params = await _params(request)
        name = params.get("category_name")
        if not name:
            return _fail(400, "category_name is required")
        if name in by_name:
            return _fail(409, f"category {name!r} already exists")
        with store.lock:
            cid = next_id(store, "taxonomy_categories", pid, 4000)
            store.con.execute("INSERT INTO taxonomy_categories VALUES (?, ?, ?)",
                              [pid, cid, name])
        return JSONResponse({"success": True})

    async def category_item(request: Request) -> Response:
        project = require_project(store, request)
        if isinstance(project, Response):
            return project
        pid, raw = project.project_id, request.path_params["category_name"]
        found = store.cursor().execute(
            "SELECT id FROM taxonomy_categories WHERE project_id = ? AND CAST(id AS VARCHAR) "
            "= ?", [pid, raw]).fetchone()
        if request.method == "GET":
            return await categories(request)
        if found is None:
            return _fail(409, f'Attempted to operate on entity event_category, id "{raw}", '
                              "that does not exist.")
        if request.method == "DELETE":
            with store.lock:
                store.con.execute("DELETE FROM taxonomy_categories WHERE project_id = ? AND "
                                  "id = ?", [pid, found[0]])
            return JSONResponse({"success": True})
        params = await _params(request)
        if not params.get("category_name"):
            return _fail(400, "category_name is required")
        with store.lock:
            store.con.execute("UPDATE taxonomy_categories SET name = ? WHERE project_id = ? "
                              "AND id = ?", [params["category_name"], pid, found[0]])
        return JSONResponse({"success": True})

    return [
        Route(f"{BASE}/event", events, methods=["GET"]),
        Route(f"{BASE}/event/{{event_type:path}}", events, methods=["GET"]),
        Route(f"{BASE}/event-property", event_properties, methods=["GET"]),
        Route(f"{BASE}/event-property/{{event_property:path}}", event_properties,
              methods=["GET"]),
        Route(f"{BASE}/user-property", user_properties, methods=["GET"]),
        Route(f"{BASE}/user-property/{{user_property:path}}", user_properties, methods=["GET"]),
        Route(f"{BASE}/category", categories, methods=["GET", "POST"]),
        Route(f"{BASE}/category/{{category_name}}", category_item,
              methods=["GET", "PUT", "DELETE"]),
    ]
