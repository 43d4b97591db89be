"""``/_ampkit/*``: read back what the server stored, inject faults, reset — for tests and
for people checking their tracking code.  Basic auth with a project's key pair; bad input is
a 400 in the Dashboard envelope whose ``metadata.details`` names the field."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationError
from pydantic_core import ErrorDetails
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ampkit.server.config import FaultConfig
from ampkit.server.routes.common import (
    BadInput,
    Query,
    backend,
    error_response,
    json_response,
    parse_query,
    require_project,
    rule,
)
from ampkit.server.services import admin

_INTEGER = re.compile(r"-?[0-9]{1,19}")
MAX_PAGE = 100_000
INT64_MAX = 2**63 - 1


def _between(low: int, high: int) -> BeforeValidator:
    def check(raw: Any, field: str) -> int:
        if not (isinstance(raw, str) and _INTEGER.fullmatch(raw) and low <= int(raw) <= high):
            raise BadInput(field, f"{field}: must be an integer from {low} to {high}")
        return int(raw)

    return BeforeValidator(rule(check))


class EventsPage(Query):
    """``GET /_ampkit/events``."""

    limit: Annotated[int, _between(0, MAX_PAGE)] = 1000
    offset: Annotated[int, _between(0, INT64_MAX)] = 0


def _details(err: ErrorDetails) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"


def _bad(exc: BadInput) -> Response:
    return error_response(400, "Invalid request", str(exc))


async def events(request: Request) -> Response:
    project = require_project(request)
    if isinstance(project, Response):
        return project
    try:
        page = parse_query(EventsPage, request.query_params, _details)
    except BadInput as exc:
        return _bad(exc)
    rows = await backend(request).call(admin.events_page, project.project_id, page.limit,
                                       page.offset)
    return json_response(rows)


async def stats(request: Request) -> Response:
    project = require_project(request)
    if isinstance(project, Response):
        return project
    body = await backend(request).call(admin.stats, project.project_id)
    return JSONResponse(body)  # this project's own: another's are not a key pair away


async def user(request: Request) -> Response:
    project = require_project(request)
    if isinstance(project, Response):
        return project
    snap = await backend(request).call(admin.user, project.project_id,
                                       request.path_params["user_id"])
    if snap is None:
        return JSONResponse({"error": "unknown user_id"}, status_code=404)
    return json_response(snap)


async def group(request: Request) -> Response:
    project = require_project(request)
    if isinstance(project, Response):
        return project
    snap = await backend(request).call(admin.group, project.project_id,
                                       request.path_params["group_type"],
                                       request.path_params["group_value"])
    if snap is None:
        return JSONResponse({"error": "unknown group"}, status_code=404)
    return JSONResponse(snap)


def _fault_config(raw: bytes) -> FaultConfig:
    try:
        return FaultConfig.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise BadInput("body", _details(exc.errors()[0])) from None


async def faults(request: Request) -> Response:
    """This project's faults: they apply to its own requests only (the operator's
    server-wide faults come from ``--faults``, the config file or the Python API)."""
    project = require_project(request)
    if isinstance(project, Response):
        return project
    injected = backend(request).faults
    if request.method == "GET":
        return JSONResponse(injected.project(project.project_id).model_dump(mode="json"))
    try:
        config = _fault_config(await request.body())
    except BadInput as exc:
        return _bad(exc)
    injected.set_project(project.project_id, config)
    return JSONResponse(config.model_dump(mode="json"))


async def reset(request: Request) -> Response:
    project = require_project(request)
    if isinstance(project, Response):
        return project
    await backend(request).call(admin.reset, project.project_id)
    backend(request).faults.set_project(project.project_id, FaultConfig())
    return JSONResponse({"reset": project.project_id})
