"""``/_ampkit/*``: read back what the server stored, inject faults, reset — for tests and
for people checking their tracking code.  Basic auth with a project's key pair; bad input is
a 400 in the Dashboard envelope whose ``metadata.details`` names the field."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationError
from pydantic_core import ErrorDetails
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ampkit.server.config import FaultConfig, ProjectConfig
from ampkit.server.routes.common import (
    BadInput,
    Query,
    authed,
    backend,
    bad_input,
    json_response,
    parse_query,
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


def _bad_input() -> AbstractContextManager[None]:
    return bad_input("Invalid request", parameter=False)


@authed
async def events(request: Request, project: ProjectConfig) -> Response:
    with _bad_input():
        page = parse_query(EventsPage, request.query_params, _details)
    rows = await backend(request).call(admin.events_page, project.project_id, page.limit,
                                       page.offset)
    return json_response(rows)


@authed
async def stats(request: Request, project: ProjectConfig) -> Response:
    body = await backend(request).call(admin.stats, project.project_id)
    return JSONResponse(body)  # this project's own: another's are not a key pair away


@authed
async def user(request: Request, project: ProjectConfig) -> Response:
    snap = await backend(request).call(admin.user, project.project_id,
                                       request.path_params["user_id"])
    if snap is None:
        return JSONResponse({"error": "unknown user_id"}, status_code=404)
    return json_response(snap)


@authed
async def group(request: Request, project: ProjectConfig) -> Response:
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


@authed
async def faults(request: Request, project: ProjectConfig) -> Response:
    """``GET``: this project's faults, which apply to its own requests only (the operator's
    server-wide faults come from ``--faults``, the config file or the Python API)."""
    current = backend(request).faults.project(project.project_id)
    return JSONResponse(current.model_dump(mode="json"))


@authed
async def set_faults(request: Request, project: ProjectConfig) -> Response:
    """``POST``: replace this project's faults (see :func:`faults`)."""
    with _bad_input():
        config = _fault_config(await request.body())
    backend(request).faults.set_project(project.project_id, config)
    return JSONResponse(config.model_dump(mode="json"))


@authed
async def reset(request: Request, project: ProjectConfig) -> Response:
    await backend(request).call(admin.reset, project.project_id)
    backend(request).faults.set_project(project.project_id, FaultConfig())
    return JSONResponse({"reset": project.project_id})
