"""Taxonomy API, read side plus categories (reference §14), derived from what was ingested —
the work is :mod:`ampkit.server.services.taxonomy`.

Event types, event properties and user properties are the ones seen in stored events (a
tracking plan is not modelled); custom user properties carry Amplitude's ``gp:`` prefix.
Categories can be created, listed, renamed and deleted.  Bodies are form-encoded, even on GET;
errors are ``{"success": false, "errors": [{"message"}]}``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ampkit.server.routes.common import backend, require_project
from ampkit.server.services import taxonomy as service

BASE = "/api/2/taxonomy"


class TaxonomyParams(BaseModel):
    """The query string and form body, merged (a form value wins)."""

    model_config = ConfigDict(extra="ignore")

    event_type: str | None = None
    category_name: str | None = None


def _fail(status: int, message: str) -> Response:
    return JSONResponse({"success": False, "errors": [{"message": message}]}, status_code=status)


def _ok(data: Any = None) -> Response:
    return JSONResponse({"success": True} if data is None else {"success": True, "data": data})


async def _params(request: Request) -> TaxonomyParams:
    params: dict[str, Any] = dict(request.query_params)
    if request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return TaxonomyParams.model_validate(params)  # every value is text: it cannot fail


def _event_type(name: str) -> dict[str, Any]:
    return {"event_type": name, "category": {"name": None}, "description": None,
            "display_name": None, "is_active": True, "is_hidden_from_dropdowns": False,
            "is_hidden_from_persona_results": False, "is_hidden_from_pathfinder": False,
            "is_hidden_from_timeline": False, "tags": "", "owner": None}


async def events(request: Request) -> Response:
    """``GET …/event`` and ``GET …/event/{event_type}``."""
    project = require_project(request)
    if isinstance(project, Response):
        return project
    names = await backend(request).read(service.event_types, project.project_id)
    wanted = request.path_params.get("event_type")
    if wanted is not None:
        if wanted not in names:
            return _fail(404, f"event type {wanted!r} not found")
        return _ok(_event_type(wanted))
    return _ok([_event_type(n) for n in names])


async def event_properties(request: Request) -> Response:
    """``GET …/event-property[/{event_property}]`` (``event_type`` narrows them)."""
    project = require_project(request)
    if isinstance(project, Response):
        return project
    etype = (await _params(request)).event_type
    keys = await backend(request).read(service.property_names, project.project_id,
                                       "event_properties", etype)
    wanted = request.path_params.get("event_property")
    data: list[dict[str, Any]] = [
        {"event_property": k, "event_type": etype, "description": None, "type": "any",
         "regex": None, "enum_values": None, "is_array_type": False, "is_required": False,
         "is_hidden": False, "classifications": []}
        for k in keys if wanted is None or k == wanted]
    if wanted is not None:
        return _ok(data[0]) if data else _fail(404, f"event property {wanted!r} not found")
    return _ok(data)


async def user_properties(request: Request) -> Response:
    """``GET …/user-property[/{user_property}]`` (with or without the ``gp:`` prefix)."""
    project = require_project(request)
    if isinstance(project, Response):
        return project
    names = await backend(request).read(service.property_names, project.project_id,
                                        "user_properties")
    keys = [f"gp:{k}" for k in names]
    wanted = request.path_params.get("user_property")
    data: list[dict[str, Any]] = [
        {"user_property": k, "description": None, "type": "any", "enum_values": None,
         "regex": None, "is_array_type": False, "is_hidden": False, "classifications": [],
         "deleted": False}
        for k in keys if wanted is None or k == wanted or k == f"gp:{wanted}"]
    if wanted is not None:
        return _ok(data[0]) if data else _fail(404, f"user property {wanted!r} not found")
    return _ok(data)


async def categories(request: Request) -> Response:
    """``GET``/``POST …/category``, and ``GET …/category/{name}`` (by name)."""
    project = require_project(request)
    if isinstance(project, Response):
        return project
    if request.method == "POST":
        name = (await _params(request)).category_name
        if not name:
            return _fail(400, "category_name is required")
        try:
            await backend(request).write(service.create_category, project.project_id, name)
        except service.CategoryExists:
            return _fail(409, f"category {name!r} already exists")
        return _ok()
    found = await backend(request).read(service.categories, project.project_id)
    wanted = request.path_params.get("category_name")
    if wanted is None:
        return _ok([{"id": c.id, "name": c.name} for c in found])
    match = next((c for c in reversed(found) if c.name == wanted), None)  # the last, as ever
    if match is None:
        return _fail(404, f"category {wanted!r} not found")
    return _ok({"id": match.id, "name": match.name})


def _no_such_id(raw: str) -> Response:
    return _fail(409, f'Attempted to operate on entity event_category, id "{raw}", '
                      "that does not exist.")


async def category_item(request: Request) -> Response:
    """``GET …/category/{name}``; ``PUT`` (rename) and ``DELETE …/category/{id}``."""
    if request.method not in ("PUT", "DELETE"):
        return await categories(request)
    project = require_project(request)
    if isinstance(project, Response):
        return project
    raw = request.path_params["category_name"]
    if request.method == "DELETE":
        found = await backend(request).write(service.delete_category, project.project_id, raw)
        return _ok() if found else _no_such_id(raw)
    name = (await _params(request)).category_name
    if not name:
        return _fail(400, "category_name is required")
    found = await backend(request).write(service.rename_category, project.project_id, raw, name)
    return _ok() if found else _no_such_id(raw)
