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
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ampkit.server.config import ProjectConfig
from ampkit.server.routes.common import Refusal, authed, backend
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


def _listing(what: str, wanted: str | None, data: list[dict[str, Any]]) -> Response:
    """All of ``data``; or, ``wanted`` given (``data`` holds its matches), the first match — a
    404 naming ``what`` when there is none."""
    if wanted is None:
        return _ok(data)
    return _ok(data[0]) if data else _fail(404, f"{what} {wanted!r} not found")


async def _params(request: Request) -> TaxonomyParams:
    params: dict[str, Any] = dict(request.query_params)
    if request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        try:
            form = await request.form()
        except HTTPException as exc:  # a multipart body that does not parse
            raise Refusal(_fail(400, f"Invalid request body: {exc.detail}")) from None
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return TaxonomyParams.model_validate(params)  # every value is text: it cannot fail


def _event_type(name: str) -> dict[str, Any]:
    return {"event_type": name, "category": {"name": None}, "description": None,
            "display_name": None, "is_active": True, "is_hidden_from_dropdowns": False,
            "is_hidden_from_persona_results": False, "is_hidden_from_pathfinder": False,
            "is_hidden_from_timeline": False, "tags": "", "owner": None}


@authed
async def events(request: Request, project: ProjectConfig) -> Response:
    """``GET …/event`` and ``GET …/event/{event_type}``."""
    names = await backend(request).read(service.event_types, project.project_id)
    wanted = request.path_params.get("event_type")
    return _listing("event type", wanted,
                    [_event_type(n) for n in names if wanted is None or n == wanted])


@authed
async def event_properties(request: Request, project: ProjectConfig) -> Response:
    """``GET …/event-property[/{event_property}]`` (``event_type`` narrows them)."""
    etype = (await _params(request)).event_type
    keys = await backend(request).read(service.property_names, project.project_id,
                                       "event_properties", etype)
    wanted = request.path_params.get("event_property")
    return _listing("event property", wanted, [
        {"event_property": k, "event_type": etype, "description": None, "type": "any",
         "regex": None, "enum_values": None, "is_array_type": False, "is_required": False,
         "is_hidden": False, "classifications": []}
        for k in keys if wanted is None or k == wanted])


@authed
async def user_properties(request: Request, project: ProjectConfig) -> Response:
    """``GET …/user-property[/{user_property}]`` (with or without the ``gp:`` prefix)."""
    names = await backend(request).read(service.property_names, project.project_id,
                                        "user_properties")
    keys = [f"gp:{k}" for k in names]
    wanted = request.path_params.get("user_property")
    return _listing("user property", wanted, [
        {"user_property": k, "description": None, "type": "any", "enum_values": None,
         "regex": None, "is_array_type": False, "is_hidden": False, "classifications": [],
         "deleted": False}
        for k in keys if wanted is None or k == wanted or k == f"gp:{wanted}"])


@authed
async def categories(request: Request, project: ProjectConfig) -> Response:
    """``GET …/category``, and ``GET …/category/{name}`` (by name)."""
    found = await backend(request).read(service.categories, project.project_id)
    wanted = request.path_params.get("category_name")
    by_name = found if wanted is None else reversed(found)  # the last of a name, as ever
    return _listing("category", wanted, [{"id": c.id, "name": c.name} for c in by_name
                                         if wanted is None or c.name == wanted])


async def _category_name(request: Request) -> str:
    """The ``category_name`` a create or rename gives (a 400 without)."""
    name = (await _params(request)).category_name
    if not name:
        raise Refusal(_fail(400, "category_name is required"))
    return name


@authed
async def create_category(request: Request, project: ProjectConfig) -> Response:
    """``POST …/category``."""
    name = await _category_name(request)
    try:
        await backend(request).write(service.create_category, project.project_id, name)
    except service.CategoryExists:
        return _fail(409, f"category {name!r} already exists")
    return _ok()


def _no_such_id(raw: str) -> Response:
    return _fail(409, f'Attempted to operate on entity event_category, id "{raw}", '
                      "that does not exist.")


@authed
async def rename_category(request: Request, project: ProjectConfig) -> Response:
    """``PUT …/category/{id}``."""
    raw = request.path_params["category_name"]
    name = await _category_name(request)
    found = await backend(request).write(service.rename_category, project.project_id, raw, name)
    return _ok() if found else _no_such_id(raw)


@authed
async def delete_category(request: Request, project: ProjectConfig) -> Response:
    """``DELETE …/category/{id}``."""
    raw = request.path_params["category_name"]
    found = await backend(request).write(service.delete_category, project.project_id, raw)
    return _ok() if found else _no_such_id(raw)
