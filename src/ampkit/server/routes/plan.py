"""``/_ampkit/bad-events``, ``/_ampkit/bad-requests/{request_id}`` and ``/_ampkit/plan``: the
bad-event bucket and the tracking plan, read back (Basic auth with the project's key pair, as
every ``/_ampkit`` route).  The work is :mod:`ampkit.server.services.plan`.

``GET /_ampkit/bad-events?limit=100&offset=0&kind=&event_type=&since=`` answers
``{"bad_events": [...], "total": n}``, newest first; a bad parameter is a 400 in the Dashboard
envelope whose ``metadata.parameter`` names it and ``metadata.details`` says the rule."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import ErrorDetails
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ampkit.models.plan import BAD_EVENT_KINDS, BadEventKind
from ampkit.models.rules import MAX_STRING_LENGTH, MAX_TIME_MS
from ampkit.server.config import ProjectConfig
from ampkit.server.routes.common import (
    BadInput,
    Query,
    authed,
    backend,
    bad_input,
    field_of,
    parse_query,
    rule,
)
from ampkit.server.services import plan as service

MAX_LIMIT = 10_000
"""As many as the bucket keeps of a project."""
_DIGITS = re.compile(r"[0-9]{1,19}")


def _count(low: int, high: int) -> BeforeValidator:
    """An integer parameter from ``low`` to ``high``."""
    def parse(raw: Any, field: str) -> int:
        if isinstance(raw, str) and _DIGITS.fullmatch(raw) and low <= int(raw) <= high:
            return int(raw)
        raise BadInput(field, f"{field}: must be a whole number from {low} to {high}")

    return BeforeValidator(rule(parse))


def _kind(raw: Any, field: str) -> BadEventKind:
    for kind in BAD_EVENT_KINDS:
        if raw == kind:
            return kind
    raise BadInput(field, f"{field}: must be one of {', '.join(BAD_EVENT_KINDS)}")


def _event_type(raw: Any, field: str) -> str:
    if isinstance(raw, str) and len(raw) <= MAX_STRING_LENGTH:
        return raw
    raise BadInput(field, f"{field}: must be at most {MAX_STRING_LENGTH} characters")


def _since(raw: Any, field: str) -> dt.datetime:
    """ISO 8601 (no zone: UTC) or epoch milliseconds, as a naive UTC datetime."""
    text = raw if isinstance(raw, str) else ""
    try:
        if _DIGITS.fullmatch(text) and int(text) <= MAX_TIME_MS:
            return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=int(text))
        when = dt.datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        pass
    else:
        return when if when.tzinfo is None else when.astimezone(dt.UTC).replace(tzinfo=None)
    raise BadInput(field, f"{field}: must be an ISO 8601 time (2024-03-01T12:00:00Z) or "
                          "epoch milliseconds")


class BadEventsQuery(Query):
    """``GET /_ampkit/bad-events``."""

    limit: Annotated[int, _count(0, MAX_LIMIT)] = 100
    offset: Annotated[int, _count(0, 2**63 - 1)] = 0
    kind: Annotated[BadEventKind | None, BeforeValidator(rule(_kind))] = None
    event_type: Annotated[str | None, BeforeValidator(rule(_event_type))] = None
    since: Annotated[dt.datetime | None, BeforeValidator(rule(_since))] = None


def _describe(err: ErrorDetails) -> str:
    return f"{field_of(err)}: {err['msg']}"


@authed
async def bad_events(request: Request, project: ProjectConfig) -> Response:
    with bad_input("Invalid request"):
        query = parse_query(BadEventsQuery, request.query_params, _describe)
    page = await backend(request).call(
        service.bad_events, project.project_id, limit=query.limit, offset=query.offset,
        kind=query.kind, event_type=query.event_type, since=query.since)
    return Response(page.model_dump_json(), media_type="application/json")


@authed
async def bad_request(request: Request, project: ProjectConfig) -> Response:
    found = await backend(request).call(service.bad_request, project.project_id,
                                        request.path_params["request_id"])
    if found is None:
        return JSONResponse({"error": "unknown request_id"}, status_code=404)
    return Response(found.model_dump_json(), media_type="application/json")


@authed
async def plan(request: Request, project: ProjectConfig) -> Response:
    """The project's tracking plan (its own, else the server's), or ``{"plan": null}``."""
    return JSONResponse(await backend(request).call(service.plan_document, project.project_id))
