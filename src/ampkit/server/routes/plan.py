"""``/_ampkit/bad-events``, ``/_ampkit/bad-requests/{request_id}`` and ``/_ampkit/plan``: the
bad-event bucket and the tracking plan, read back (Basic auth with the project's key pair, as
every ``/_ampkit`` route).  The work is :mod:`ampkit.server.services.plan`.

``GET /_ampkit/bad-events?limit=100&offset=0&kind=&event_type=&since=`` answers
``{"bad_events": [...], "total": n}``, newest first; a bad parameter is a 400 in the Dashboard
envelope whose ``metadata.parameter`` names it and ``metadata.details`` says the rule."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator
from pydantic_core import ErrorDetails
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ampkit.models.plan import BAD_EVENT_KINDS, BadEventKind
from ampkit.models.rules import MAX_STRING_LENGTH
from ampkit.server.config import ProjectConfig
from ampkit.server.routes.common import (
    BadInput,
    Query,
    authed,
    backend,
    bad_input,
    field_of,
    found_or_404,
    instant,
    integer_between,
    parse_query,
    rule,
)
from ampkit.server.services import plan as service

MAX_LIMIT = 10_000
"""As many as the bucket keeps of a project."""


def _kind(raw: Any, field: str) -> BadEventKind:
    for kind in BAD_EVENT_KINDS:
        if raw == kind:
            return kind
    raise BadInput(field, f"{field}: must be one of {', '.join(BAD_EVENT_KINDS)}")


def _event_type(raw: Any, field: str) -> str:
    if isinstance(raw, str) and len(raw) <= MAX_STRING_LENGTH:
        return raw
    raise BadInput(field, f"{field}: must be at most {MAX_STRING_LENGTH} characters")


class BadEventsQuery(Query):
    """``GET /_ampkit/bad-events``."""

    limit: Annotated[int, integer_between(0, MAX_LIMIT)] = 100
    offset: Annotated[int, integer_between(0, 2**63 - 1)] = 0
    kind: Annotated[BadEventKind | None, BeforeValidator(rule(_kind))] = None
    event_type: Annotated[str | None, BeforeValidator(rule(_event_type))] = None
    since: Annotated[dt.datetime | None, instant()] = None


def _describe(err: ErrorDetails) -> str:
    return f"{field_of(err)}: {err['msg']}"


def _model_json(model: BaseModel) -> Response:
    return Response(model.model_dump_json(), media_type="application/json")


@authed
async def bad_events(request: Request, project: ProjectConfig) -> Response:
    with bad_input("Invalid request"):
        query = parse_query(BadEventsQuery, request.query_params, _describe)
    page = await backend(request).call(
        service.bad_events, project.project_id, limit=query.limit, offset=query.offset,
        kind=query.kind, event_type=query.event_type, since=query.since)
    return _model_json(page)


@authed
async def bad_request(request: Request, project: ProjectConfig) -> Response:
    return found_or_404(await backend(request).call(
        service.bad_request, project.project_id, request.path_params["request_id"]),
        "request_id", _model_json)


@authed
async def plan(request: Request, project: ProjectConfig) -> Response:
    """The project's tracking plan (its own, else the server's), or ``{"plan": null}``."""
    return JSONResponse(await backend(request).call(service.plan_document, project.project_id))
